"""Benchmark: the real-media MCU on one core, 4 participants at 360p30 with Opus, ~10 s.

Prints how many simulated seconds the pipeline gets through per wall second (goal: at
least 2x real time), the MCU stages alone per CPU second, and how the CPU divides between
codec work and the Python around it, stage by stage next to the cost profile's prediction.
Pins itself to CPU 0 (as `taskset -c 0` would) and limits math libraries to one thread, so
the figures are one core's. A benchmark prints figures; nothing here is asserted.

    PYTHONPATH=. python benchmarks/realmedia_mcu.py [--duration 10] [--participants 4]
        [--codec vp8] [--resolution 360p] [--layout grid] [--keep DIR]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before numpy is imported

import argparse  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from roomsim.analysis.realmedia_text import describe  # noqa: E402
from roomsim.codecs.realmedia import run_mcu  # noqa: E402
from roomsim.codecs.realmedia_result import RealMediaResult  # noqa: E402
from roomsim.codecs.realmedia_room import RealMediaRoom  # noqa: E402
from roomsim.codecs.video_presets import VIDEO_PRESETS  # noqa: E402

GOAL_REALTIME_FACTOR = 2.0


def pin_to_one_core() -> str:
    """Run on CPU 0 only, where the platform allows it."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
        return "pinned to CPU 0"
    return "not pinned (no sched_setaffinity on this platform)"


def report(result: RealMediaResult, pinning: str) -> None:
    """Print the benchmark's figures and whether the MCU met its goal."""
    print(describe(result, f"; {pinning}"))
    mcu = result.speed.mcu_realtime_factor
    verdict = "met" if mcu >= GOAL_REALTIME_FACTOR else "NOT met"
    print(f"\ngoal: the MCU (decode, mix, composite, encode for {len(result.room['participants'])} "  # type: ignore[arg-type]
          f"participants) >= {GOAL_REALTIME_FACTOR:.0f}x real time on one core: {mcu:.2f}x, {verdict}"
          f" (the publishers' own encoding, which feeds it, adds "
          f"{result.speed.pipeline_cpu_s - result.speed.mcu_cpu_s:.2f} CPU s)")


def main() -> None:
    """Parse arguments, run the room, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--participants", type=int, default=4)
    parser.add_argument("--codec", default="vp8")
    parser.add_argument("--resolution", default="360p")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--layout", default="grid", choices=["grid", "speaker"])
    parser.add_argument("--keep", type=Path, help="write the media here instead of a temp dir")
    args = parser.parse_args()
    pinning = pin_to_one_core()
    room = RealMediaRoom(
        participants=tuple(f"P{i + 1}" for i in range(args.participants)),
        video_codec=args.codec,
        video_resolution=args.resolution,
        output_resolution=args.resolution,
        video_bitrate_bps=int(VIDEO_PRESETS[args.resolution][2] * 1000),
        fps=args.fps,
        duration_s=args.duration,
        layout=args.layout,
    )
    if args.keep:
        result = run_mcu(room, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="roomsim-mcu-") as directory:
            result = run_mcu(room, Path(directory))
    report(result, pinning)


if __name__ == "__main__":
    main()
