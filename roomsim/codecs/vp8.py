"""VP8 over RTP (RFC 7741): 90 kHz clock; payload descriptor with a 15-bit PictureID
(1 required byte + X byte + 2 PictureID bytes = 4 bytes, as libwebrtc sends it)."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="vp8",
    kind="video",
    clock_rate=90_000,
    payload_header_bytes=4,
    source="RFC 7741 sec. 4.2",
)
