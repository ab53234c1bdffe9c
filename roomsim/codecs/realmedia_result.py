"""Pydantic result of a real-media MCU run: cost, speed, quality and latency figures.

Every figure is either measured in the run (CPU per stage, wall time, PSNR/SSIM, bytes)
or computed from the cost profile for the same work (the prediction it is compared
with); nothing is typed in by hand. Timing figures vary between runs; media figures
(bitrates, PSNR, SSIM, speaker changes) are identical for the same room and seed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from roomsim.scenario.frozen import Frozen

Stage = Literal[
    "capture", "publisher_encode", "mcu_decode", "mcu_mix", "mcu_composite", "mcu_encode",
    "mux",
]
Media = Literal["audio", "video"]



class StageCost(Frozen):
    """CPU one pipeline stage took, next to the cost profile's prediction for that work.

    `operations` counts what the profile charges for: frames encoded or decoded, inputs
    mixed, tiles composited. Stages the profile does not model (the synthetic camera,
    the muxer) have no prediction.
    """

    stage: Stage
    media: Media
    operations: int = Field(ge=0)
    measured_cpu_s: float = Field(ge=0)
    predicted_cpu_s: float | None = None

    @property
    def measured_us_per_op(self) -> float:
        """Measured CPU per operation in microseconds."""
        return self.measured_cpu_s * 1e6 / self.operations if self.operations else 0.0


class Speed(Frozen):
    """How fast the whole pipeline ran and where its CPU went.

    `realtime_factor` is simulated seconds per wall second for the media pipeline
    (cameras, publishers, MCU, muxing; the quality analysis afterwards is excluded).
    `mcu_realtime_factor` is simulated seconds per CPU second of the MCU stages alone:
    roughly how many such rooms one core could mix. `codec_cpu_s` is encode + decode
    time; `python_overhead_cpu_s` is pipeline CPU outside every timed stage (loop and
    bookkeeping around PyAV).
    """

    duration_s: float
    pipeline_wall_s: float
    pipeline_cpu_s: float
    realtime_factor: float
    mcu_cpu_s: float
    mcu_realtime_factor: float
    codec_cpu_s: float
    python_overhead_cpu_s: float
    analysis_wall_s: float


class QualityFigures(Frozen):
    """Luma PSNR (dB) and SSIM over the sampled frames: mean and worst."""

    psnr_db: float
    psnr_min_db: float
    ssim: float
    ssim_min: float
    samples: int


class TileQuality(Frozen):
    """What `viewer` sees of `publisher`, through the MCU and as an SFU would deliver it.

    Both are compared with the original camera frame scaled to the tile: `sfu` is the
    publisher's stream decoded untouched and scaled client-side (one generation of
    coding), `mcu` the tile cut from the MCU's re-encoded composite (two generations).
    `generation_loss_db` = sfu PSNR - mcu PSNR.
    """

    viewer: str
    publisher: str
    mcu: QualityFigures
    sfu: QualityFigures
    generation_loss_db: float


class QualitySummary(Frozen):
    """Means over every (viewer, publisher) pair, plus the publishers' full-size decode."""

    mcu_psnr_db: float
    sfu_psnr_db: float
    generation_loss_db: float
    mcu_ssim: float
    sfu_ssim: float
    sfu_full_resolution_psnr_db: float
    sfu_full_resolution_ssim: float


class LatencyBreakdown(Frozen):
    """Delay the MCU adds to one media path, from the per-tick stage times measured.

    A frame waits for the next mix tick (`buffering_*`: half a tick on average, a whole
    tick at worst), then all inputs are decoded, then each output is mixed or composited
    and encoded in turn on one core: the first output leaves after one mix + encode, the
    last after all of them. `codec_delay_ms` is the re-encoder's algorithmic delay
    (measured from its output: Opus look-ahead; zero for lag-free video encoders).
    Medians over ticks; network and jitter buffers are not included.
    """

    tick_ms: float
    buffering_mean_ms: float
    buffering_max_ms: float
    decode_all_inputs_ms: float
    mix_per_output_ms: float
    encode_per_output_ms: float
    codec_delay_ms: float
    total_mean_ms: float
    total_max_ms: float


class SpeakerChange(Frozen):
    """The active speaker became `speaker` at `time_s`."""

    time_s: float
    speaker: str


class RealMediaResult(Frozen):
    """Everything a real-media MCU run measured, and where it wrote the media."""

    room: dict[str, object]
    profile_machine: str
    stages: list[StageCost]
    speed: Speed
    quality: QualitySummary
    tiles: list[TileQuality]
    latency: dict[Media, LatencyBreakdown]
    publisher_video_kbps: dict[str, float]
    output_video_kbps: dict[str, float]
    output_audio_kbps: dict[str, float]
    speaker_changes: list[SpeakerChange]
    outputs: dict[str, str]
