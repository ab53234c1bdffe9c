"""H.264 over RTP (RFC 6184), packetization-mode 1: large NAL units are split into FU-A
fragments, each carrying a 1-byte FU indicator and a 1-byte FU header (2 bytes; RFC 6184
sec. 5.8, libwebrtc ``kFuAHeaderSize = 2`` in modules/rtp_rtcp/source/rtp_format_h264.cc).
NAL units that fit in one packet go as single NAL unit packets (no extra bytes) or STAP-A
aggregates (1 + 2 bytes per NAL); video frames at call bitrates exceed the ~1,200-byte
payload, so FU-A is the common case."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="h264",
    kind="video",
    clock_rate=90_000,
    payload_header_bytes=2,
    source="RFC 6184 sec. 5.8; libwebrtc rtp_format_h264.cc (kFuAHeaderSize = 2)",
)
