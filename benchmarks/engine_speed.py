"""Engine speed and memory: simulated seconds per wall second, peak RSS, and scaling.

Each benchmark scenario runs in a fresh process pinned to one core (numba's compile
cache is warmed first, so compile time is not counted). Goals (issue #2): the first four
scenarios at least 10x faster than real time, peak RSS under 500 MB, and wall time growing
no faster than the number of delivered streams; (issue #4) the 3,000-viewer simulcast
livestream and the 100-room cluster, both with per-subscriber bandwidth estimation, at
least 5x.

    python benchmarks/engine_speed.py                 # all six, full durations
    python benchmarks/engine_speed.py --duration 20   # shorter runs
    python benchmarks/engine_speed.py --against f599330 --repeat 3 --duration 20

sfu-50 is also timed as a whole `roomsim run` process (`--process`, on by default when
sfu-50 is among the scenarios): wall and CPU seconds from exec to exit, start-up included
(imports, loading the kernels from numba's cache, building the world, printing the
tables), after one warm-up process. The child may write bytecode into a temporary cache
(PYTHONPYCACHEPREFIX), as an installed package has its bytecode compiled already.

`--against REV` checks REV out into a temporary git worktree and times both builds in
turn (A B A B ...: this tree, then REV, each on its own benchmark files), printing the
per-pair ratio of CPU seconds (this tree / REV): the VM's speed drifts by up to ~25 % over
an hour, and alternating pairs is what keeps a comparison fair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = ["sfu-50", "mesh-8", "mcu-20", "webinar-1000", "livestream-3000", "cluster-100"]
#: The scenario also timed as a whole `roomsim run` process (issue #12: >= 20x real time).
PROCESS_SCENARIO = "sfu-50"

_CHILD = r"""
import json, os, resource, sys, time
os.sched_setaffinity(0, {0})
from roomsim import api
scenario = api.load_scenario(sys.argv[1])
duration = float(sys.argv[2]) if sys.argv[2] != "-" else scenario.duration_s
api.run(scenario, duration_s=1.2)                     # warm numba's cache and imports
start_wall, start_cpu = time.perf_counter(), time.process_time()
report = api.run(scenario, duration_s=duration)
wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
run = report.runs[0]
frames = sum(p.frames_decoded for p in run.participants)
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "sim_s": duration,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "packets": run.totals.packets_sent,
                  "frames_decoded": frames}))
"""


def measure(path: Path, duration: float | None, source: Path | None = None) -> dict[str, float]:
    """Run one scenario in a child process (importing roomsim from `source`, default this
    tree); return its figures."""
    tree = str(source or HERE.parent)
    env = {**os.environ, "PYTHONPATH": tree}
    # run in the tree itself: `python -c` puts the working directory first on sys.path,
    # ahead of PYTHONPATH, so started from another checkout it would import that one
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(duration or "-")],
                         capture_output=True, text=True, check=True, env=env, cwd=tree)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_process(path: Path, duration: float | None, source: Path | None = None) -> dict[str, float]:
    """One `python -m roomsim.cli run PATH` process pinned to one core (importing roomsim
    from `source`, default this tree): its wall and CPU seconds, start-up included."""
    import resource
    import time

    tree = str(source or HERE.parent)
    env = {**os.environ, "PYTHONPATH": tree,
           "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "roomsim-bench-pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-m", "roomsim.cli", "run", str(path)]
    if duration is not None:
        command += ["--duration", str(duration)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=env, cwd=tree,  # -m: cwd first, as -c
                   preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sim = duration if duration is not None else _duration_of(path)
    return {"wall_s": wall, "cpu_s": cpu, "sim_s": sim}


def _duration_of(path: Path) -> float:
    import yaml

    return float(yaml.safe_load(path.read_text())["duration_s"])


def process_line(path: Path, duration: float | None, repeat: int) -> None:
    """The whole-process figure of one scenario: median of `repeat` runs after a warm-up."""
    measure_process(path, 1.0)  # bytecode and compile caches warm
    runs = [measure_process(path, duration) for _ in range(repeat)]
    startup = [measure_process(path, 1.0) for _ in range(repeat)]
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    sim = runs[0]["sim_s"]
    print(f"\n{path.stem} as a whole `roomsim run` process, start-up included (median of {repeat}):")
    print(f"{'sim s':>6} {'wall s':>7} {'x real time':>12} {'cpu s':>6} {'cpu x':>6} "
          f"{'1 s run: wall s':>16} {'cpu s':>6}")
    print(f"{sim:>6.0f} {wall:>7.2f} {sim / wall:>12.1f} {cpu:>6.2f} {sim / cpu:>6.1f} "
          f"{statistics.median(r['wall_s'] for r in startup):>16.2f} "
          f"{statistics.median(r['cpu_s'] for r in startup):>6.2f}", flush=True)


def against(rev: str, names: list[str], duration: float | None, repeat: int, process: bool = True) -> None:
    """This tree against REV, alternating runs; the median per-pair CPU ratio per scenario."""
    with tempfile.TemporaryDirectory(prefix="roomsim-base-") as tmp:
        base = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach", "-q", str(base), rev],
                       check=True)
        try:
            print(f"{'scenario':<14} {'cpu x (this)':>13} {'cpu x (' + rev[:10] + ')':>22} "
                  f"{'ratio this/rev':>15} {'min..max':>13}")
            for name in names:
                ours, theirs = HERE / f"{name}.yaml", base / "benchmarks" / f"{name}.yaml"
                _alternate(name, partial(measure, ours), partial(measure, theirs, source=base), duration, 1.5,
                           repeat)
                if process and name == PROCESS_SCENARIO:
                    _against_process(name, base, duration, repeat)
        finally:
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force", str(base)],
                           check=False)


def _against_process(name: str, base: Path, duration: float | None, repeat: int) -> None:
    """The whole-process row of --against: `roomsim run` CPU seconds, start-up included."""
    _alternate(f"{name} process", partial(measure_process, HERE / f"{name}.yaml"),
               partial(measure_process, base / "benchmarks" / f"{name}.yaml", source=base), duration, 1.0, repeat)


def _alternate(label: str, ours: Callable[[float | None], dict[str, float]],
               theirs: Callable[[float | None], dict[str, float]], duration: float | None, warm_s: float,
               repeat: int) -> None:
    """One --against row: a `warm_s` run of each build (caches warm), then `repeat` pairs
    A B A B; print the median CPU speed of each and the median and range of the per-pair
    CPU ratio."""
    ours(warm_s)
    theirs(warm_s)
    a, b = [], []
    for _ in range(repeat):
        a.append(ours(duration))
        b.append(theirs(duration))
    ratios = [x["cpu_s"] / y["cpu_s"] for x, y in zip(a, b, strict=True)]
    speed = statistics.median(x["sim_s"] / x["cpu_s"] for x in a)
    speed_rev = statistics.median(y["sim_s"] / y["cpu_s"] for y in b)
    print(f"{label:<14} {speed:>13.1f} {speed_rev:>22.1f} {statistics.median(ratios):>15.2f} "
          f"{min(ratios):>6.2f}..{max(ratios):<6.2f}", flush=True)


def scaling(duration: float) -> None:
    """SFU rooms of growing size: wall time per delivered stream should stay flat."""
    import yaml

    print("\nscaling (SFU, audio + 360p, wall time per delivered stream-second):")
    print(f"{'people':>7} {'streams':>8} {'wall s':>8} {'us / stream-s':>14}")
    base = yaml.safe_load((HERE / "sfu-50.yaml").read_text())
    for people in (10, 20, 40, 80):
        base["rooms"][0]["participants"][0]["count"] = people
        base["rooms"][0]["participants"][0]["tracks"][1] = {"kind": "video", "resolution": "360p"}
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"roomsim-scaling-{people}.yaml"
        path.write_text(yaml.safe_dump(base))
        figures = measure(path, duration)
        streams = people * (people - 1) * 2  # audio + video from each to each other
        per = figures["wall_s"] / (streams * duration) * 1e6
        print(f"{people:>7} {streams:>8} {figures['wall_s']:>8.2f} {per:>14.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None, help="override simulated seconds")
    parser.add_argument("--only", nargs="*", default=SCENARIOS)
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--against", metavar="REV", default=None,
                        help="time this tree against git revision REV, alternating runs")
    parser.add_argument("--repeat", type=int, default=3, help="pairs per scenario with --against")
    parser.add_argument("--no-process", action="store_true",
                        help=f"skip timing {PROCESS_SCENARIO} as a whole `roomsim run` process")
    args = parser.parse_args()
    if args.against:
        against(args.against, args.only, args.duration, args.repeat, process=not args.no_process)
        return
    print(f"{'scenario':<14} {'sim s':>6} {'wall s':>7} {'x real time':>12} {'cpu x':>7} "
          f"{'packets/s':>10} {'peak RSS MB':>12}")
    for name in args.only:
        f = measure(HERE / f"{name}.yaml", args.duration)
        print(f"{name:<14} {f['sim_s']:>6.0f} {f['wall_s']:>7.2f} {f['sim_s'] / f['wall_s']:>12.1f} "
              f"{f['sim_s'] / f['cpu_s']:>7.1f} {f['packets'] / f['sim_s']:>10.0f} "
              f"{f['peak_rss_mb']:>12.0f}", flush=True)
    if PROCESS_SCENARIO in args.only and not args.no_process:
        process_line(HERE / f"{PROCESS_SCENARIO}.yaml", args.duration, repeat=args.repeat)
    if not args.no_scaling:
        scaling(args.duration or 20.0)


if __name__ == "__main__":
    main()
