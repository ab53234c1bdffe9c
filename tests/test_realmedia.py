"""The real-media MCU, checked by decoding what each participant receives.

Two short rooms run once for the module: a grid room (VP8 + Opus, 180p cameras into a
360p composite, where each tile is exactly camera-sized so labels can be read back pixel
for pixel) and an active-speaker room (H.264 + G.711, fast talking turns). Every check
decodes the written files; none looks at wall-clock time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from roomsim.codecs import realmedia as realmedia_module
from roomsim.codecs.composite import Tile, grid_tiles, planes, speaker_tiles
from roomsim.codecs.costs import RESOLUTIONS
from roomsim.codecs.realmedia import run_mcu
from roomsim.codecs.realmedia_quality import decode_audio, decode_video_frames, load_result
from roomsim.codecs.realmedia_result import RealMediaResult, StageCost
from roomsim.codecs.realmedia_room import RESULT_FILE, RealMediaRoom
from roomsim.codecs.synthetic import (
    label_origin,
    label_scale,
    participant_yuv,
    render_text,
    tone_hz,
)

GRID_ROOM = RealMediaRoom(
    participants=("p1", "p2", "p3"),
    audio_codec="opus",
    video_codec="vp8",
    video_resolution="180p",
    video_bitrate_bps=160_000,
    output_resolution="360p",
    duration_s=1.5,
    quality_samples=8,
    seed=3,
)

SPEAKER_ROOM = RealMediaRoom(
    participants=("ann", "bo", "cy"),
    audio_codec="g711",
    audio_bitrate_bps=64_000,
    video_codec="h264",
    video_resolution="180p",
    video_bitrate_bps=160_000,
    output_resolution="360p",
    layout="speaker",
    talk_turn_s=0.5,
    duration_s=1.5,
    quality_samples=4,
)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[RealMediaResult, Path]:
    directory = tmp_path_factory.mktemp("grid")
    return run_mcu(GRID_ROOM, directory), directory


@pytest.fixture(scope="module")
def speaker(tmp_path_factory: pytest.TempPathFactory) -> tuple[RealMediaResult, Path]:
    directory = tmp_path_factory.mktemp("speaker")
    return run_mcu(SPEAKER_ROOM, directory), directory


def _tone_levels_db(path: Path, participants: int) -> tuple[list[float], float]:
    """Power at each participant's tone, in dB over the spectrum's median floor."""
    pcm, rate = decode_audio(path)
    x = pcm[int(0.2 * rate):int(1.2 * rate)].astype(np.float64)  # skip codec start-up
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    floor = np.median(spectrum[(freqs > 100) & (freqs < 3800)]) + 1e-9
    levels = []
    for i in range(participants):
        band = (freqs > tone_hz(i) - 15) & (freqs < tone_hz(i) + 15)
        levels.append(float(10 * np.log10(spectrum[band].max() / floor + 1e-12)))
    return levels, float(floor)


@pytest.mark.parametrize("room_name", ["grid", "speaker"])
def test_everyone_hears_everyone_but_themself(
    room_name: str, request: pytest.FixtureRequest
) -> None:
    result, directory = request.getfixturevalue(room_name)
    ids = list(result.room["participants"])  # type: ignore[call-overload]
    for me, participant in enumerate(ids):
        levels, _ = _tone_levels_db(directory / result.outputs[participant], len(ids))
        own = levels[me]
        for other, level in enumerate(levels):
            if other == me:
                continue
            # every other tone stands far out of the codec's noise floor ...
            assert level > 40.0, (participant, other, levels)
            # ... and the viewer's own tone is not in the mix (only codec noise near it)
            assert level > own + 20.0, (participant, other, levels)


def _tile_chroma(packed: np.ndarray, tile: Tile) -> np.ndarray:
    width, height = RESOLUTIONS[GRID_ROOM.output_resolution]
    _, cb, cr = planes(packed, width, height)
    region = (slice(tile.y // 2, (tile.y + tile.height) // 2),
              slice(tile.x // 2, (tile.x + tile.width) // 2))
    return np.array([np.median(cb[region]), np.median(cr[region])])


def _nearest_participant(chroma: np.ndarray, count: int) -> tuple[int, float]:
    distances = [float(np.linalg.norm(chroma - np.array(participant_yuv(i)[1:])))
                 for i in range(count)]
    best = int(np.argmin(distances))
    return best, distances[best]


def _read_label(packed: np.ndarray, tile: Tile, candidates: list[str]) -> str:
    """The candidate label whose 5x7 rendering best matches the tile's bright pixels."""
    width, height = RESOLUTIONS[GRID_ROOM.output_resolution]
    luma = planes(packed, width, height)[0]
    x0, y0 = label_origin(tile.width, tile.height)
    scale = label_scale(tile.height)
    masks = {c: render_text(c, scale) for c in candidates}
    h = max(m.shape[0] for m in masks.values())
    w = max(m.shape[1] for m in masks.values())
    region = luma[tile.y + y0:tile.y + y0 + h, tile.x + x0:tile.x + x0 + w] > 180
    scores = {}
    for candidate, mask in masks.items():
        padded = np.zeros((h, w), bool)
        padded[:mask.shape[0], :mask.shape[1]] = mask
        scores[candidate] = (padded & region).sum() / (padded | region).sum()
    best = max(scores, key=lambda c: scores[c])
    assert scores[best] > 0.6, scores
    return best


def test_each_grid_frame_shows_every_other_publisher(
    grid: tuple[RealMediaResult, Path],
) -> None:
    result, directory = grid
    ids = list(GRID_ROOM.participants)
    width, height = RESOLUTIONS[GRID_ROOM.output_resolution]
    tiles = grid_tiles(len(ids) - 1, width, height)
    # each tile is exactly camera-sized: labels come back at the camera's own scale
    assert (tiles[0].width, tiles[0].height) == RESOLUTIONS[GRID_ROOM.video_resolution]
    for viewer in ids:
        others = [p for p in ids if p != viewer]
        frames = dict(decode_video_frames(directory / result.outputs[viewer], GRID_ROOM.fps))
        assert sorted(frames) == list(range(GRID_ROOM.video_ticks))
        for index in (5, 20, GRID_ROOM.video_ticks - 1):
            for publisher, tile in zip(others, tiles, strict=True):
                found, distance = _nearest_participant(_tile_chroma(frames[index], tile),
                                                       len(ids))
                assert ids[found] == publisher, (viewer, index, publisher)
                assert distance < 10.0
                assert _read_label(frames[index], tile, ids) == publisher


def test_speaker_layout_puts_the_talker_large(
    speaker: tuple[RealMediaResult, Path],
) -> None:
    result, directory = speaker
    ids = list(SPEAKER_ROOM.participants)
    # turns of 0.5 s: ann, then bo, then cy, each detected after smoothing and hold
    assert [c.speaker for c in result.speaker_changes] == ids
    assert [c.time_s for c in result.speaker_changes][1:] == sorted(
        c.time_s for c in result.speaker_changes[1:])
    assert 0.5 < result.speaker_changes[1].time_s < 1.0
    width, height = RESOLUTIONS[SPEAKER_ROOM.output_resolution]
    tiles = speaker_tiles(len(ids) - 1, width, height)
    last = SPEAKER_ROOM.video_ticks - 1  # cy holds the floor by the end
    for viewer in ids:
        frames = dict(decode_video_frames(directory / result.outputs[viewer], SPEAKER_ROOM.fps))
        shown = []
        for tile in tiles:
            found, distance = _nearest_participant(_tile_chroma(frames[last], tile), len(ids))
            assert distance < 12.0
            shown.append(ids[found])
        assert viewer not in shown
        assert sorted(shown) == sorted(p for p in ids if p != viewer)
        if viewer != "cy":
            assert shown[0] == "cy"


@pytest.mark.parametrize("room_name", ["grid", "speaker"])
def test_transcoding_loses_quality_against_the_sfu_path(
    room_name: str, request: pytest.FixtureRequest
) -> None:
    result, _ = request.getfixturevalue(room_name)
    assert result.quality.mcu_psnr_db < result.quality.sfu_psnr_db
    assert result.quality.generation_loss_db > 0.3
    assert result.quality.mcu_ssim < result.quality.sfu_ssim
    assert len(result.tiles) == 6  # 3 viewers x 2 publishers each
    for tile in result.tiles:
        assert tile.viewer != tile.publisher
        assert tile.mcu.psnr_db < tile.sfu.psnr_db
        assert tile.generation_loss_db == pytest.approx(tile.sfu.psnr_db - tile.mcu.psnr_db)
        assert 25.0 < tile.mcu.psnr_db < 60.0  # real lossy coding, not a blank frame


def test_costs_speed_and_latency_are_measured(grid: tuple[RealMediaResult, Path]) -> None:
    result, _ = grid
    n, ticks_a, ticks_v = 3, GRID_ROOM.audio_ticks, GRID_ROOM.video_ticks
    stages: dict[tuple[str, str], StageCost] = {(s.stage, s.media): s for s in result.stages}
    assert all(s.measured_cpu_s > 0 for s in result.stages)
    assert stages[("mcu_mix", "audio")].operations == n * (n - 1) * ticks_a
    assert stages[("mcu_composite", "video")].operations == n * (n - 1) * ticks_v
    assert stages[("mcu_encode", "video")].operations == n * ticks_v
    for key in [("publisher_encode", "video"), ("mcu_decode", "audio"), ("mcu_encode", "audio")]:
        predicted = stages[key].predicted_cpu_s
        assert predicted is not None and predicted > 0
    assert stages[("capture", "video")].predicted_cpu_s is None
    speed = result.speed
    assert speed.duration_s == pytest.approx(1.5)
    assert speed.realtime_factor == pytest.approx(speed.duration_s / speed.pipeline_wall_s)
    assert 0 < speed.codec_cpu_s < speed.pipeline_cpu_s
    audio, video = result.latency["audio"], result.latency["video"]
    assert audio.codec_delay_ms == pytest.approx(6.5)  # Opus look-ahead, 312 samples
    assert video.codec_delay_ms == 0.0
    assert video.buffering_max_ms == pytest.approx(1000 / GRID_ROOM.fps)
    assert audio.total_max_ms > audio.total_mean_ms > audio.buffering_mean_ms
    assert 100 < result.output_video_kbps["p1"] < 700  # 450 kbps target (360p preset)
    assert 20 < result.output_audio_kbps["p1"] < 50  # 32 kbps Opus


def test_result_json_round_trips(grid: tuple[RealMediaResult, Path]) -> None:
    result, directory = grid
    assert load_result(directory) == result
    assert RealMediaResult.model_validate_json(result.model_dump_json()) == result
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["p1.mkv", "p2.mkv", "p3.mkv", RESULT_FILE]  # no temp files left


def test_same_seed_writes_identical_media(
    speaker: tuple[RealMediaResult, Path], tmp_path: Path
) -> None:
    result, directory = speaker
    again = run_mcu(SPEAKER_ROOM, tmp_path)

    def digest(folder: Path, name: str) -> str:
        return hashlib.sha256((folder / name).read_bytes()).hexdigest()

    for participant, name in result.outputs.items():
        assert name == f"{participant}.nut"
        assert digest(directory, name) == digest(tmp_path, name)
    assert again.quality == result.quality
    assert again.tiles == result.tiles
    assert again.speaker_changes == result.speaker_changes
    assert again.output_video_kbps == result.output_video_kbps


@pytest.mark.parametrize(("where", "after"), [("analyse", 0), ("composite", 3)])
def test_an_interrupted_run_leaves_nothing_behind(
    where: str, after: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = getattr(realmedia_module, where)
    calls = []

    def interrupt(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) > after:  # mid-run in the compositor, after it in the analysis
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(realmedia_module, where, interrupt)
    room = RealMediaRoom(participants=("a", "b"), video_resolution="180p",
                         output_resolution="180p", duration_s=0.3, quality_samples=1)
    with pytest.raises(KeyboardInterrupt):
        run_mcu(room, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [
    {"participants": ("solo",)},
    {"participants": ("a", "a")},
    {"participants": ("a", "../b")},
    {"participants": ("a", "b"), "video_codec": "h265"},
    {"participants": ("a", "b"), "layout": "mosaic"},
    {"participants": ("a", "b"), "output_resolution": "4k"},
    {"participants": ("a", "b"), "duration_s": 0},
])
def test_room_rejects_bad_input(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RealMediaRoom(**bad)  # type: ignore[arg-type]
