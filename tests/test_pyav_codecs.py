"""The PyAV codec factories: libwebrtc speed choices, realtime behaviour, rate control."""

from __future__ import annotations

import numpy as np
import pytest

from roomsim.codecs.composite import planes
from roomsim.codecs.pyav_codecs import (
    audio_frame_samples,
    create_audio_decoder,
    create_audio_encoder,
    create_video_decoder,
    create_video_encoder,
    make_audio_frame,
    make_video_frame,
    video_encoder_settings,
    vp8_cpu_used,
    vp9_cpu_used,
)
from roomsim.codecs.quality import psnr
from roomsim.codecs.synthetic import VideoSource, speech_like


def test_libvpx_speeds_follow_libwebrtc_by_resolution() -> None:
    # VP8: -4 below CIF (352x288), else -6 (libvpx_vp8_encoder.cc GetCpuSpeed, x86)
    assert vp8_cpu_used(320, 180) == -4
    assert vp8_cpu_used(352, 288) == -6
    assert vp8_cpu_used(1280, 720) == -6
    # VP9: 5 below CIF, 7 from CIF, 9 from 1080p capped at FFmpeg's maximum 8
    assert vp9_cpu_used(320, 180) == 5
    assert vp9_cpu_used(640, 360) == 7
    assert vp9_cpu_used(1920, 1080) == 8


@pytest.mark.parametrize("codec", ["vp8", "vp9", "h264", "av1"])
def test_settings_are_realtime_cbr(codec: str) -> None:
    settings = video_encoder_settings(codec, 640, 360, 30, 450_000)
    options = settings.options
    # CBR: FFmpeg picks it when min = max = target rate
    assert options["minrate"] == options["maxrate"] == "450000"
    if codec in ("vp8", "vp9"):
        assert options["deadline"] == "realtime"
        assert options["lag-in-frames"] == "0"
        assert options["error-resilient"] == "default"
    if codec == "h264":
        assert options["tune"] == "zerolatency"
        assert options["profile"] == "baseline"
    if codec == "av1":
        assert "rtc=1" in options["svtav1-params"]
        assert "lp=1" in options["svtav1-params"]
    with pytest.raises(KeyError):
        video_encoder_settings("h265", 640, 360, 30, 450_000)


@pytest.mark.parametrize("codec", ["vp8", "vp9", "h264", "av1"])
def test_video_round_trip_one_packet_per_frame(codec: str) -> None:
    fps, frames = 30, 15
    source = VideoSource("RT", 1, 320, 180, fps)
    encoder = create_video_encoder(codec, 320, 180, fps, 300_000)
    decoder = create_video_decoder(codec)
    decoded = []
    for i in range(frames):
        packets = encoder.encode(make_video_frame(source.frame(i), i, fps))
        # realtime: no look-ahead, so every frame comes out as soon as it goes in
        assert len(packets) == 1, (codec, i)
        for packet in packets:
            decoded.extend(decoder.decode(packet))
    encoder.encode(None)
    assert len(decoded) == frames
    last = decoded[-1]
    original_y = planes(source.frame(frames - 1), 320, 180)[0]
    decoded_y = planes(last.to_ndarray(), 320, 180)[0]
    assert psnr(original_y, decoded_y) > 30.0


def test_video_encoder_holds_its_bitrate() -> None:
    fps, frames = 30, 90
    source = VideoSource("BR", 2, 640, 360, fps)
    encoder = create_video_encoder("vp8", 640, 360, fps, 450_000)
    size = 0
    for i in range(frames):
        size += sum(p.size for p in encoder.encode(make_video_frame(source.frame(i), i, fps)))
    kbps = size * 8 / (frames / fps) / 1000
    assert 300 < kbps < 600  # CBR at 450 kbps, within the start-up key frame's overshoot


def test_opus_codes_20ms_frames_at_its_bitrate_and_keeps_the_signal() -> None:
    samples, frames = audio_frame_samples("opus"), 100
    assert samples == 960
    pcm = speech_like(48_000, 0, samples * frames)
    encoder = create_audio_encoder("opus", 32_000)
    encoder.open()
    decoder = create_audio_decoder("opus", encoder.extradata)
    size = 0
    out: list[np.ndarray] = []
    for j in range(frames):
        for packet in encoder.encode(make_audio_frame(pcm[j * samples:(j + 1) * samples],
                                                      48_000, j * samples)):
            size += packet.size
            out.extend(f.to_ndarray().reshape(-1) for f in decoder.decode(packet))
    kbps = size * 8 / (frames * 0.02) / 1000
    assert 20 < kbps < 45
    decoded = np.concatenate(out).astype(np.float64)
    # the decoder drops Opus's 312-sample pre-skip: 6.5 ms of look-ahead
    assert decoded.size == samples * frames - 312
    energy_in = np.mean(pcm.astype(np.float64) ** 2)
    energy_out = np.mean(decoded**2)
    assert 0.5 < energy_out / energy_in < 2.0


def test_g711_is_64_kbps_and_nearly_transparent() -> None:
    samples = audio_frame_samples("g711")
    assert samples == 160
    pcm = speech_like(8_000, 0, samples * 10)
    encoder = create_audio_encoder("g711", 64_000)
    decoder = create_audio_decoder("g711")
    out: list[np.ndarray] = []
    for j in range(10):
        for packet in encoder.encode(make_audio_frame(pcm[j * samples:(j + 1) * samples],
                                                      8_000, j * samples)):
            assert packet.size == 160  # one byte per sample: 64 kbps
            out.extend(f.to_ndarray().reshape(-1) for f in decoder.decode(packet))
    decoded = np.concatenate(out)
    assert np.array_equal(decoded.shape, pcm.shape)
    # mu-law keeps ~38 dB SNR on speech levels
    noise = np.mean((decoded.astype(np.float64) - pcm) ** 2)
    assert 10 * np.log10(np.mean(pcm.astype(np.float64) ** 2) / noise) > 30


def test_make_video_frame_copies_the_planes_exactly() -> None:
    for width, height in [(320, 180), (160, 90), (640, 360)]:
        image = VideoSource("X", 0, width, height, 30).frame(3)
        frame = make_video_frame(image, 3, 30)
        assert (frame.width, frame.height) == (width, height)
        assert np.array_equal(frame.to_ndarray(), image)
        assert frame.pts == 3 and frame.time_base is not None
