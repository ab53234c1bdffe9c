"""The real-media MCU room: what is mixed (participants, codecs, layout, duration) and the
records a run keeps while it runs (stage clocks, each viewer's output, sampled frames for
the quality analysis afterwards). See roomsim.codecs.realmedia."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.container import OutputContainer

from roomsim.codecs import AUDIO_CODECS, VIDEO_CODECS
from roomsim.codecs.composite import Tile
from roomsim.codecs.costs import RESOLUTIONS
from roomsim.codecs.pyav_codecs import AUDIO_FRAME_S
from roomsim.codecs.video_presets import VIDEO_PRESETS

Layout = Literal["grid", "speaker"]

#: participant ids become file names: keep them to a safe, portable alphabet
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

RESULT_FILE = "result.json"


def media_container(audio_codec: str) -> tuple[str, str]:
    """(FFmpeg muxer, file suffix) for an output: Matroska, or NUT for G.711.

    Matroska carries Opus with any of the video codecs; FFmpeg's Matroska muxer has no
    mapping for mu-law PCM, and QuickTime, which has one, cannot carry VP8. NUT (FFmpeg's
    own container, played by ffplay, mpv and VLC) carries every pair.
    """
    return ("nut", ".nut") if audio_codec == "g711" else ("matroska", ".mkv")


@dataclass(frozen=True)
class RealMediaRoom:
    """One room for the real-media MCU: who is in it and how they publish.

    `output_bitrate_bps` None takes the LiveKit preset bitrate of `output_resolution`.
    `talk_turn_s` is how long each participant talks before the next one (round robin).
    `quality_samples` output frames per viewer are compared with the camera.
    """

    participants: tuple[str, ...]
    audio_codec: str = "opus"
    audio_bitrate_bps: int = 32_000
    video_codec: str = "vp8"
    video_resolution: str = "360p"
    fps: int = 30
    video_bitrate_bps: int = 450_000
    duration_s: float = 10.0
    layout: Layout = "grid"
    output_resolution: str = "360p"
    output_bitrate_bps: int | None = None
    seed: int = 0
    talk_turn_s: float = 2.0
    quality_samples: int = 30

    def __post_init__(self) -> None:
        if len(self.participants) < 2:
            raise ValueError("an MCU room needs at least two participants")
        if len(set(self.participants)) != len(self.participants):
            raise ValueError(f"participant ids must be unique: {self.participants}")
        for participant in self.participants:
            if not SAFE_ID.match(participant):
                raise ValueError(f"participant id {participant!r} is not a safe file name")
        if self.audio_codec not in AUDIO_CODECS:
            raise ValueError(f"unknown audio codec {self.audio_codec!r}")
        if self.video_codec not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {self.video_codec!r}")
        for resolution in (self.video_resolution, self.output_resolution):
            if resolution not in RESOLUTIONS:
                raise ValueError(f"unknown resolution {resolution!r}")
        if self.layout not in ("grid", "speaker"):
            raise ValueError(f"layout must be 'grid' or 'speaker', not {self.layout!r}")
        if self.duration_s <= 0 or self.fps <= 0 or self.quality_samples < 1:
            raise ValueError("duration_s, fps and quality_samples must be positive")

    @property
    def output_video_bitrate_bps(self) -> int:
        """Bitrate of each participant's composite stream."""
        if self.output_bitrate_bps is not None:
            return self.output_bitrate_bps
        return int(VIDEO_PRESETS[self.output_resolution][2] * 1000)

    @property
    def audio_ticks(self) -> int:
        """20 ms audio frames in the run."""
        return round(self.duration_s / AUDIO_FRAME_S)

    @property
    def video_ticks(self) -> int:
        """Video frames in the run."""
        return round(self.duration_s * self.fps)


class StageClock:
    """Accumulates process-CPU nanoseconds per (stage, media) and per-tick blocks."""

    def __init__(self) -> None:
        self.total_ns: dict[tuple[str, str], int] = {}
        self.ticks: dict[tuple[str, str], list[int]] = {}

    @contextmanager
    def measure(self, stage: str, media: str, per_tick: bool = False) -> Iterator[None]:
        start = time.process_time_ns()
        try:
            yield
        finally:
            elapsed = time.process_time_ns() - start
            key = (stage, media)
            self.total_ns[key] = self.total_ns.get(key, 0) + elapsed
            if per_tick:
                self.ticks.setdefault(key, []).append(elapsed)

    def seconds(self, stage: str, media: str) -> float:
        return self.total_ns.get((stage, media), 0) / 1e9

    def median_ms(self, stage: str, media: str) -> float:
        samples = self.ticks.get((stage, media), [])
        return float(np.median(samples)) / 1e6 if samples else 0.0


@dataclass
class McuOutput:
    """One viewer's MCU output: the container being written and its two encoders."""

    participant: str
    temp_path: Path
    final_path: Path
    container: OutputContainer
    audio: av.AudioStream
    video: av.VideoStream
    audio_bytes: int = 0
    video_bytes: int = 0


@dataclass
class Snapshot:
    """What one sampled output frame showed, kept for the quality analysis after the run.

    The decoded publisher frames are kept by reference (decoders hand out refcounted
    buffers), so taking a snapshot costs the pipeline next to nothing.
    """

    frame_index: int
    decoded: dict[str, av.VideoFrame]
    layouts: dict[str, tuple[list[str], list[Tile]]]
