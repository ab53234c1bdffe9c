"""G.711 mu-law (PCMU, RFC 3551 payload type 0): 8 kHz, 8 bits a sample, 64 kbps."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="g711",
    kind="audio",
    clock_rate=8_000,
    payload_header_bytes=0,
    sample_rate=8_000,
    default_bitrate_kbps=64.0,  # 8000 samples/s x 8 bits (ITU-T G.711)
    source="ITU-T G.711, RFC 3551 sec. 4.5.14",
)
