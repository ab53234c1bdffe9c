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

from roomsim.codecs.realmedia import RealMediaRoom, run_mcu  # noqa: E402
from roomsim.codecs.realmedia_result import RealMediaResult  # noqa: E402
from roomsim.codecs.video_presets import VIDEO_PRESETS  # noqa: E402

GOAL_REALTIME_FACTOR = 2.0


def pin_to_one_core() -> str:
    """Run on CPU 0 only, where the platform allows it."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
        return "pinned to CPU 0"
    return "not pinned (no sched_setaffinity on this platform)"


def report(result: RealMediaResult, pinning: str) -> None:
    """Print the benchmark's figures."""
    speed = result.speed
    room = result.room
    print(f"room: {len(room['participants'])} participants, {room['video_codec']} "  # type: ignore[arg-type]
          f"{room['video_resolution']}@{room['fps']} -> {room['output_resolution']} "
          f"{room['layout']}, {room['audio_codec']}, {speed.duration_s:.1f} s; {pinning}")
    verdict = "met" if speed.realtime_factor >= GOAL_REALTIME_FACTOR else "NOT met"
    print(f"pipeline: {speed.duration_s:.2f} simulated s in {speed.pipeline_wall_s:.2f} wall s"
          f" = {speed.realtime_factor:.2f}x real time (goal >= {GOAL_REALTIME_FACTOR:.0f}x:"
          f" {verdict})")
    print(f"MCU stages alone: {speed.mcu_cpu_s:.2f} CPU s = {speed.mcu_realtime_factor:.2f}x"
          " real time on one core")
    print(f"CPU: pipeline {speed.pipeline_cpu_s:.2f} s, codecs (encode+decode) "
          f"{speed.codec_cpu_s:.2f} s = {100 * speed.codec_cpu_s / speed.pipeline_cpu_s:.1f} %,"
          f" Python outside timed stages {speed.python_overhead_cpu_s:.3f} s = "
          f"{100 * speed.python_overhead_cpu_s / speed.pipeline_cpu_s:.1f} %")
    print()
    print(f"{'stage':<18}{'media':<7}{'ops':>7}{'CPU s':>9}{'share':>8}"
          f"{'us/op':>10}{'profile us/op':>15}{'measured/profile':>18}")
    for stage in result.stages:
        per_op = stage.measured_us_per_op
        share = 100 * stage.measured_cpu_s / speed.pipeline_cpu_s
        if stage.predicted_cpu_s:
            predicted = stage.predicted_cpu_s * 1e6 / stage.operations
            ratio = f"{stage.measured_cpu_s / stage.predicted_cpu_s:.2f}"
            predicted_text = f"{predicted:.1f}"
        else:
            predicted_text, ratio = "-", "-"
        print(f"{stage.stage:<18}{stage.media:<7}{stage.operations:>7}"
              f"{stage.measured_cpu_s:>9.3f}{share:>7.1f}%{per_op:>10.1f}"
              f"{predicted_text:>15}{ratio:>18}")
    q = result.quality
    print()
    print(f"quality (luma, per tile vs camera): MCU {q.mcu_psnr_db:.2f} dB / SSIM "
          f"{q.mcu_ssim:.4f}; SFU {q.sfu_psnr_db:.2f} dB / SSIM {q.sfu_ssim:.4f}; "
          f"generation loss {q.generation_loss_db:.2f} dB")
    print(f"SFU at full camera resolution: {q.sfu_full_resolution_psnr_db:.2f} dB / SSIM "
          f"{q.sfu_full_resolution_ssim:.4f}")
    for media, lat in result.latency.items():
        print(f"added latency {media}: mean {lat.total_mean_ms:.1f} ms, worst "
              f"{lat.total_max_ms:.1f} ms (buffering {lat.buffering_mean_ms:.1f}/"
              f"{lat.buffering_max_ms:.1f}, decode all {lat.decode_all_inputs_ms:.2f}, mix "
              f"{lat.mix_per_output_ms:.2f} + encode {lat.encode_per_output_ms:.2f} per "
              f"output, codec delay {lat.codec_delay_ms:.1f})")
    kbps = result.output_video_kbps
    print(f"output video kbps: {', '.join(f'{p} {v:.0f}' for p, v in kbps.items())}")


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
