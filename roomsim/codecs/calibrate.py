"""Measure the CPU cost of every media operation with real codecs, on this machine.

`calibrate()` runs the encoders and decoders of `pyav_codecs` (single-threaded, realtime
settings) and the MCU's own mix and composite code on synthetic media, and returns a
`CostProfile`. The figures are process CPU time (`time.process_time_ns`), not wall time:
a busy machine slows the wall clock but not the work, and the process clock also counts
codec-internal threads (SVT-AV1 runs its pipeline on its own threads even with lp=1),
which a per-thread clock would miss.

Each figure is the median, over chunks of a few consecutive frames, of the chunk's CPU
time divided by its frames, after a warm-up that lets the first key frame and the rate
controller settle. Timing whole chunks rather than single calls keeps asynchronous codec
work inside the interval that caused it; the median discards chunks hit by a preemption or
a periodic key decision.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.video.codeccontext import VideoCodecContext

from roomsim.codecs import AUDIO_CODECS, VIDEO_CODECS, get_codec
from roomsim.codecs.composite import composite, grid_tiles, mix
from roomsim.codecs.costs import (
    RESOLUTIONS,
    CostProfile,
    FrameCost,
    MachineInfo,
    save_profile,
)
from roomsim.codecs.forwarding import FORWARDING_COST
from roomsim.codecs.pyav_codecs import (
    audio_frame_samples,
    create_audio_decoder,
    create_audio_encoder,
    create_video_decoder,
    create_video_encoder,
    make_audio_frame,
    make_video_frame,
)
from roomsim.codecs.synthetic import VideoSource, speech_like
from roomsim.codecs.video_presets import VIDEO_PRESETS

#: resolutions a full calibration measures (the engine pixel-scales the others)
FULL_RESOLUTIONS: tuple[str, ...] = ("180p", "360p", "720p", "1080p")
QUICK_RESOLUTIONS: tuple[str, ...] = ("180p", "360p")

#: every video measurement runs at this frame rate (bits per frame follow bitrate / fps)
CALIBRATION_FPS = 30

#: audio bitrates: libwebrtc's mono Opus default, and G.711's fixed rate
AUDIO_BITRATES_BPS: dict[str, int] = {"opus": 32_000, "g711": 64_000}

#: inputs per mix when timing the audio mixer; the figure is reported per input
MIX_INPUTS = 4
#: the composite is timed on a 2x2 grid of sources at the output resolution
COMPOSITE_TILES = 4


@dataclass(frozen=True)
class Plan:
    """How much to measure: frames per figure, warm-up, and chunk sizes."""

    video_warmup: int
    video_frames: dict[str, int]  # measured frames per resolution (default key "*")
    video_chunk: int
    audio_warmup: int
    audio_frames: int
    audio_chunk: int
    mix_chunks: int
    mix_chunk: int
    composite_frames: int
    composite_chunk: int

    def frames_for(self, resolution: str) -> int:
        """Measured frames at `resolution`: fewer for large frames, which cost more each."""
        return self.video_frames.get(resolution, self.video_frames["*"])


FULL_PLAN = Plan(
    video_warmup=15,
    video_frames={"180p": 150, "360p": 120, "720p": 90, "1080p": 60, "*": 90},
    video_chunk=5,
    audio_warmup=50,
    audio_frames=500,
    audio_chunk=25,
    mix_chunks=40,
    mix_chunk=100,
    composite_frames=60,
    composite_chunk=5,
)

QUICK_PLAN = Plan(
    video_warmup=5,
    video_frames={"*": 30},
    video_chunk=5,
    audio_warmup=25,
    audio_frames=250,
    audio_chunk=25,
    mix_chunks=20,
    mix_chunk=50,
    composite_frames=30,
    composite_chunk=5,
)


def median_per_item_us(chunk_ns: Sequence[int], items_per_chunk: int) -> float:
    """Median over chunks of CPU microseconds per item (never zero: the clock is coarse
    on some systems, so a chunk that read 0 ns counts as 1 ns)."""
    return statistics.median(max(ns, 1) / items_per_chunk / 1000.0 for ns in chunk_ns)


def _time_chunks(run_chunk: Callable[[int], None], chunks: int) -> list[int]:
    """Process-CPU nanoseconds of `run_chunk(i)` for i in range(chunks)."""
    timings = []
    for i in range(chunks):
        start = time.process_time_ns()
        run_chunk(i)
        timings.append(time.process_time_ns() - start)
    return timings


def _time_decode_chunks(decoder: AudioCodecContext | VideoCodecContext, packets: Sequence[av.Packet],
                        warmup: int, chunk: int) -> list[int]:
    """Process-CPU nanoseconds of decoding `packets` in chunks of `chunk`, after decoding
    the first `warmup` of them untimed."""
    for packet in packets[:warmup]:
        decoder.decode(packet)
    to_decode = packets[warmup:]

    def decode_chunk(i: int) -> None:
        for packet in to_decode[i * chunk:(i + 1) * chunk]:
            decoder.decode(packet)

    return _time_chunks(decode_chunk, len(to_decode) // chunk)


def measure_audio_codec(codec: str, plan: Plan) -> FrameCost:
    """Encode and decode cost of one 20 ms mono frame of a speech-like signal."""
    sample_rate = get_codec(codec).sample_rate
    samples = audio_frame_samples(codec)
    total = plan.audio_warmup + plan.audio_frames
    pcm = speech_like(sample_rate, 0, samples * total)
    frames = [make_audio_frame(pcm[i * samples:(i + 1) * samples], sample_rate, i * samples)
              for i in range(total)]
    encoder = create_audio_encoder(codec, AUDIO_BITRATES_BPS[codec])
    packets: list[av.Packet] = []
    for frame in frames[:plan.audio_warmup]:
        packets.extend(encoder.encode(frame))
    measured = frames[plan.audio_warmup:]
    chunk = plan.audio_chunk

    def encode_chunk(i: int) -> None:
        for frame in measured[i * chunk:(i + 1) * chunk]:
            packets.extend(encoder.encode(frame))

    encode_ns = _time_chunks(encode_chunk, len(measured) // chunk)
    packets.extend(encoder.encode(None))

    decoder = create_audio_decoder(codec, encoder.extradata)
    decode_ns = _time_decode_chunks(decoder, packets, plan.audio_warmup, chunk)
    return FrameCost(encode_us=median_per_item_us(encode_ns, chunk),
                     decode_us=median_per_item_us(decode_ns, chunk))


def measure_video_codec(codec: str, resolution: str, plan: Plan) -> FrameCost:
    """Encode and decode cost of one frame of moving test-card video at a LiveKit bitrate."""
    width, height = RESOLUTIONS[resolution]
    bitrate_bps = int(VIDEO_PRESETS[resolution][2] * 1000)
    fps = CALIBRATION_FPS
    source = VideoSource("CAL", 0, width, height, fps)
    encoder = create_video_encoder(codec, width, height, fps, bitrate_bps)
    packets: list[av.Packet] = []
    for i in range(plan.video_warmup):
        packets.extend(encoder.encode(make_video_frame(source.frame(i), i, fps)))
    chunk = plan.video_chunk
    chunks = plan.frames_for(resolution) // chunk
    encode_ns = []
    for c in range(chunks):
        # frames are generated outside the timed interval: the camera is not the codec
        first = plan.video_warmup + c * chunk
        frames = [make_video_frame(source.frame(i), i, fps) for i in range(first, first + chunk)]
        start = time.process_time_ns()
        for frame in frames:
            packets.extend(encoder.encode(frame))
        encode_ns.append(time.process_time_ns() - start)
    packets.extend(encoder.encode(None))

    decoder = create_video_decoder(codec)
    decode_ns = _time_decode_chunks(decoder, packets, plan.video_warmup, chunk)
    return FrameCost(encode_us=median_per_item_us(encode_ns, chunk),
                     decode_us=median_per_item_us(decode_ns, chunk))


def measure_audio_mix(plan: Plan) -> float:
    """Cost of adding one decoded 20 ms 48 kHz frame into a mix (int32 sum + clip).

    Timed as whole `MIX_INPUTS`-input mixes (the MCU's `composite.mix`) and divided by
    the inputs, so the accumulator set-up and the final clip are shared among them.
    """
    samples = audio_frame_samples("opus")
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-8000, 8000, samples, dtype=np.int16) for _ in range(MIX_INPUTS)]
    chunk = plan.mix_chunk

    def mix_chunk(_: int) -> None:
        for _ in range(chunk):
            mix(inputs, samples)

    mix_chunk(0)  # warm-up: first-call allocations
    timings = _time_chunks(mix_chunk, plan.mix_chunks)
    return median_per_item_us(timings, chunk * MIX_INPUTS)


def measure_composite(resolution: str, plan: Plan) -> float:
    """Cost per tile of scaling decoded frames into a 2x2 grid and placing them.

    Sources are frames at the output resolution (a 720p output composes 720p
    publishers), each scaled to a quarter-size tile: the MCU's `composite.composite`
    plus wrapping the canvas as an encoder input frame, as the MCU does per output.
    """
    width, height = RESOLUTIONS[resolution]
    sources = [VideoSource(f"T{i}", i, width, height, CALIBRATION_FPS)
               for i in range(COMPOSITE_TILES)]
    frames = [[make_video_frame(s.frame(k), k, CALIBRATION_FPS) for s in sources]
              for k in range(plan.composite_chunk)]
    tiles = grid_tiles(COMPOSITE_TILES, width, height)
    composite(frames[0], tiles, width, height)  # warm-up: swscale context set-up
    chunk = plan.composite_chunk

    def composite_chunk(_: int) -> None:
        for k in range(chunk):
            # wrapping the canvas as a frame for the encoder is part of compositing
            make_video_frame(composite(frames[k], tiles, width, height), k, CALIBRATION_FPS)

    timings = _time_chunks(composite_chunk, plan.composite_frames // chunk)
    return median_per_item_us(timings, chunk * COMPOSITE_TILES)


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or the platform's answer elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def machine_info(notes: str = "") -> MachineInfo:
    """Where and with which libraries this process measures."""
    ffmpeg = ", ".join(f"{lib} {'.'.join(map(str, version))}"
                       for lib, version in sorted(av.library_versions.items()))
    return MachineInfo(
        cpu=f"{cpu_model()} ({os.cpu_count()} logical CPUs)",
        platform=platform.platform(),
        python=platform.python_version(),
        pyav=av.__version__,
        ffmpeg=ffmpeg,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        notes=notes,
    )


def _median_cost(measure: Callable[[], FrameCost], repeats: int) -> FrameCost:
    """Median encode and decode figure over `repeats` independent measurements."""
    costs = [measure() for _ in range(repeats)]
    return FrameCost(encode_us=statistics.median(c.encode_us for c in costs),
                     decode_us=statistics.median(c.decode_us for c in costs))


def _median_of(measure: Callable[[], float], repeats: int) -> float:
    return statistics.median(measure() for _ in range(repeats))


def calibrate(
    quick: bool = False,
    codecs: list[str] | None = None,
    resolutions: list[str] | None = None,
    notes: str = "",
    repeats: int = 1,
) -> CostProfile:
    """Measure every codec (or the named ones) at every resolution and build a profile.

    `quick` measures fewer frames and, unless `resolutions` is given, only 180p and 360p:
    a few seconds instead of a few minutes, for tests and smoke runs. `repeats` > 1
    measures each figure that many times in a row (fresh codecs each time) and keeps the
    median, which damps bursts of load from other processes on a shared machine.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    plan = QUICK_PLAN if quick else FULL_PLAN
    chosen = list(codecs) if codecs is not None else [*AUDIO_CODECS, *VIDEO_CODECS]
    unknown = [c for c in chosen if c not in AUDIO_CODECS and c not in VIDEO_CODECS]
    if unknown:
        raise KeyError(f"unknown codec(s) {unknown}; known: {[*AUDIO_CODECS, *VIDEO_CODECS]}")
    sizes = list(resolutions) if resolutions is not None else list(
        QUICK_RESOLUTIONS if quick else FULL_RESOLUTIONS)
    bad_sizes = [r for r in sizes if r not in RESOLUTIONS or r not in VIDEO_PRESETS]
    if bad_sizes:
        raise KeyError(f"unknown resolution(s) {bad_sizes}; known: {list(RESOLUTIONS)}")

    load_before = _load_average()
    audio = {c: _median_cost(partial(measure_audio_codec, c, plan), repeats)
             for c in chosen if c in AUDIO_CODECS}
    video = {c: {r: _median_cost(partial(measure_video_codec, c, r, plan), repeats)
                 for r in sizes}
             for c in chosen if c in VIDEO_CODECS}
    mode = "quick" if quick else "full"
    method = (
        f"{mode} calibration: process CPU time, single-threaded codecs with libwebrtc "
        f"realtime settings (roomsim.codecs.pyav_codecs), video at {CALIBRATION_FPS} fps "
        "and LiveKit preset bitrates, Opus 32 kbps / G.711 64 kbps; medians of per-frame "
        f"cost over chunks after warm-up, median of {repeats} repeat(s); mix per input "
        f"of a {MIX_INPUTS}-input mix; composite per tile of a 2x2 grid."
    )
    mix_us = _median_of(partial(measure_audio_mix, plan), repeats)
    composite_us = {r: _median_of(partial(measure_composite, r, plan), repeats) for r in sizes}
    # CPU time is robust to other load but not immune (shared caches, SMT siblings,
    # frequency): record how busy the machine was so a reader can judge.
    load = f"1-min load average {load_before} before, {_load_average()} after."
    return CostProfile(
        machine=machine_info(f"{notes} {method} {load}".strip()),
        audio=audio,
        video=video,
        audio_mix_us_per_input=mix_us,
        video_composite_us_per_tile=composite_us,
        forwarding=FORWARDING_COST,
        sources=[
            "codec, mix and composite costs: measured by roomsim.codecs.calibrate on the "
            "machine named in `machine`",
            f"forwarding: {FORWARDING_COST.source}",
        ],
    )


def run_calibrate(output: Path, quick: bool, notes: str = "", repeats: int = 1) -> CostProfile:
    """Body of `roomsim calibrate`: measure, then write the profile atomically."""
    profile = calibrate(quick=quick, notes=notes, repeats=repeats)
    save_profile(profile, output)
    return profile


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m roomsim.codecs.calibrate -o PROFILE.json [--quick] [--repeats N]
    [--notes TEXT]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--notes", default="")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    profile = run_calibrate(args.output, args.quick, args.notes, args.repeats)
    print(f"wrote {args.output} ({profile.machine.cpu}, {profile.machine.measured_at})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
