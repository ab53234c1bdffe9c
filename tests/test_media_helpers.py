"""Synthetic sources, quality metrics, MCU layout/mixing and speaker detection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from roomsim.codecs.composite import grid_tiles, mix, speaker_tiles
from roomsim.codecs.quality import PSNR_IDENTICAL_DB, psnr, ssim
from roomsim.codecs.speaker import ActiveSpeakerDetector, level_dbov
from roomsim.codecs.synthetic import (
    MURMUR_DBFS,
    TALK_DBFS,
    AudioSource,
    VideoSource,
    participant_yuv,
    render_text,
    talker_at,
    tone_hz,
)

# --- synthetic sources -------------------------------------------------------------


def test_font_renders_distinct_glyphs_at_scale() -> None:
    mask = render_text("P1", 3)
    assert mask.shape == (7 * 3, (5 + 1 + 5) * 3)
    glyphs = {c: render_text(c).tobytes() for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_."}
    assert len(set(glyphs.values())) == len(glyphs)
    assert np.array_equal(render_text("ab"), render_text("AB"))
    assert render_text("?").any()  # unknown characters draw a box, not nothing


def test_participants_get_distinct_colours_and_tones() -> None:
    colours = [np.array(participant_yuv(i)[1:]) for i in range(12)]
    for a, b in itertools.combinations(colours, 2):
        assert np.linalg.norm(a - b) > 8  # chroma distance in 8-bit Cb/Cr steps
    tones = [tone_hz(i) for i in range(56)]
    assert len(set(tones)) == 56
    assert max(tones) < 3400  # fits G.711's band
    with pytest.raises(ValueError):
        tone_hz(40, sample_rate=2000)


def test_video_source_is_deterministic_moving_and_labelled() -> None:
    source = VideoSource("A1", 0, 320, 180, 30, seed=7)
    again = VideoSource("A1", 0, 320, 180, 30, seed=7)
    assert np.array_equal(source.frame(10), again.frame(10))
    assert not np.array_equal(source.frame(10), source.frame(11))  # it moves
    other_seed = VideoSource("A1", 0, 320, 180, 30, seed=8)
    assert not np.array_equal(source.frame(10), other_seed.frame(10))
    luma = source.frame(0)[:180]
    assert (luma == 235).sum() == render_text("A1", 3).sum()  # the label's ink, exactly
    with pytest.raises(ValueError):
        VideoSource("odd", 0, 321, 180, 30)


def test_audio_source_takes_turns_at_its_own_frequency() -> None:
    sample_rate, turn = 48_000, 1.0
    sources = [AudioSource(i, 3, sample_rate, turn) for i in range(3)]
    assert talker_at(0.5, 3, turn) == 0 and talker_at(1.5, 3, turn) == 1
    first_turn = [level_dbov(s.samples(0, sample_rate // 2)) for s in sources]
    assert first_turn[0] > first_turn[1] + 10
    # sine RMS is peak - 3 dB; the envelope averages ~0.8 of peak: within 3 dB of target
    assert first_turn[0] == pytest.approx(TALK_DBFS - 3, abs=3)
    assert first_turn[1] == pytest.approx(MURMUR_DBFS - 3, abs=3)
    chunked = np.concatenate([sources[0].samples(k * 960, 960) for k in range(5)])
    assert np.array_equal(chunked, sources[0].samples(0, 4800))  # chunking never matters
    x = sources[1].samples(0, sample_rate).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x))
    assert np.argmax(spectrum) == pytest.approx(tone_hz(1), abs=1)  # 1 Hz bins


# --- quality metrics ---------------------------------------------------------------


def _naive_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM straight from the paper's definition, window by window (slow, for checking)."""
    offsets = np.arange(11) - 5
    g = np.exp(-(offsets**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a = x[i:i + 11, j:j + 11].astype(np.float64)
            b = y[i:i + 11, j:j + 11].astype(np.float64)
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = (w * a * a).sum() - ma * ma, (w * b * b).sum() - mb * mb
            cov = (w * a * b).sum() - ma * mb
            values.append(((2 * ma * mb + c1) * (2 * cov + c2))
                          / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_matches_the_definition_and_orders_distortion() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (24, 30)).astype(np.uint8)
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255).astype(np.uint8)
    assert ssim(x, y) == pytest.approx(_naive_ssim(x, y), abs=1e-9)
    assert ssim(x, x) == pytest.approx(1.0)
    worse = np.clip(x + rng.normal(0, 60, x.shape), 0, 255).astype(np.uint8)
    assert ssim(x, worse) < ssim(x, y) < 1.0
    with pytest.raises(ValueError):
        ssim(x[:5], y[:5])


def test_psnr_figures() -> None:
    x = np.full((16, 16), 100, np.uint8)
    assert psnr(x, x) == PSNR_IDENTICAL_DB
    y = x.copy()
    y[0, 0] = 116  # one error of 16 among 256 pixels: MSE = 1
    assert psnr(x, y) == pytest.approx(10 * np.log10(255**2))
    with pytest.raises(ValueError):
        psnr(x, y[:8])


# --- MCU layout and mixing ---------------------------------------------------------


@pytest.mark.parametrize("count", range(1, 10))
@pytest.mark.parametrize("layout", [grid_tiles, speaker_tiles])
def test_tiles_fit_do_not_overlap_and_are_even(count: int, layout: object) -> None:
    assert callable(layout)
    tiles = layout(count, 640, 360)
    assert len(tiles) == count
    canvas = np.zeros((360, 640), int)
    for t in tiles:
        assert min(t.x, t.y, t.width, t.height) >= 0
        assert t.x % 2 == t.y % 2 == t.width % 2 == t.height % 2 == 0
        assert t.x + t.width <= 640 and t.y + t.height <= 360
        assert t.width * 9 == pytest.approx(t.height * 16, abs=40)  # 16:9 kept
        canvas[t.y:t.y + t.height, t.x:t.x + t.width] += 1
    assert canvas.max() == 1


def test_speaker_tile_is_the_big_one() -> None:
    tiles = speaker_tiles(4, 640, 360)
    assert all(tiles[0].width > t.width * 2 for t in tiles[1:])


def test_mix_sums_and_clips() -> None:
    a = np.array([1000, 30000, -30000, 5], np.int16)
    b = np.array([2000, 10000, -10000, -5], np.int16)
    assert mix([a, b], 4).tolist() == [3000, 32767, -32768, 0]
    assert mix([], 3).tolist() == [0, 0, 0]
    assert mix([a[:2]], 4).tolist() == [1000, 30000, 0, 0]


# --- active speaker ----------------------------------------------------------------


def test_speaker_switches_after_margin_and_hold() -> None:
    detector = ActiveSpeakerDetector(time_constant_s=0.1, switch_margin_db=3.0, hold_s=0.5)
    t = 0.0
    for _ in range(20):  # a talks for 0.4 s
        detector.update(t, {"a": -15.0, "b": -40.0})
        t += 0.02
    assert detector.speaker == "a"
    changed_at = None
    for _ in range(50):  # then b talks
        detector.update(t, {"a": -40.0, "b": -15.0})
        if changed_at is None and detector.speaker == "b":
            changed_at = t
        t += 0.02
    assert changed_at is not None
    assert changed_at >= 0.5  # a held the floor for hold_s
    assert detector.speaker_for("b") == "a"  # the talker sees the loudest other
    assert detector.speaker_for("a") == "b"
    assert level_dbov(np.zeros(10, np.int16)) == -127.0
    assert level_dbov(np.full(10, 32767, np.int16)) == pytest.approx(0.0, abs=0.01)
