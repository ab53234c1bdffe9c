"""H.264 over RTP (RFC 6184), packetization-mode 1: large NAL units are split into FU-A
fragments, each carrying a 1-byte FU indicator and a 1-byte FU header (2 bytes)."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="h264",
    kind="video",
    clock_rate=90_000,
    payload_header_bytes=2,
    source="RFC 6184 sec. 5.8",
)
