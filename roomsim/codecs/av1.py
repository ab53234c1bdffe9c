"""AV1 over RTP (AOMedia "RTP Payload Format For AV1" v1.0): 90 kHz clock; a 1-byte
aggregation header in every packet."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="av1",
    kind="video",
    clock_rate=90_000,
    payload_header_bytes=1,
    source="AOMedia RTP Payload Format for AV1, sec. 4.4",
)
