"""VP9 over RTP (RFC 9628): 90 kHz clock; flexible-mode descriptor with a 15-bit picture
ID and one layer-index byte (1 + 2 + 1 = 4 bytes; reference indices add more in SVC)."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="vp9",
    kind="video",
    clock_rate=90_000,
    payload_header_bytes=4,
    source="RFC 9628 sec. 4.2",
)
