"""Opus (RFC 6716) over RTP (RFC 7587): 48 kHz RTP clock, no payload descriptor."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="opus",
    kind="audio",
    clock_rate=48_000,
    payload_header_bytes=0,
    sample_rate=48_000,
    # 32 kbps: the libwebrtc default for mono Opus speech (kOpusBitrateFbBps = 32000,
    # modules/audio_coding/codecs/opus/audio_encoder_opus.cc).
    default_bitrate_kbps=32.0,
    # With DTX an Opus encoder emits a 1-byte-TOC comfort-noise frame every 400 ms of
    # silence (RFC 6716 sec. 2.1.9 / libopus DTX: one frame per 400 ms while silent).
    dtx_frame_bytes=1,
    dtx_interval_ms=400.0,
    source="RFC 6716, RFC 7587",
)
