"""Run a sweep: expand it, skip what the store already holds, run the rest, export the CSV.

The parent process owns every write (store, provenance files, CSV); workers only compute.
Results arrive in completion order and are filed by key, and the CSV is written in point
order, so the output is the same whatever ran the jobs, in whatever order, over however
many interrupted attempts.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from roomsim.sweep.backends import available_cores, dask_results, local_results
from roomsim.sweep.errors import SweepError
from roomsim.sweep.expand import Point, expand
from roomsim.sweep.files import export_csv, write_run_files
from roomsim.sweep.jobs import Job, Runner, default_runner
from roomsim.sweep.spec import load_sweep
from roomsim.sweep.store import ResultStore, roomsim_version

__all__ = ["FailedPoint", "SweepSummary", "check_with_engine", "default_runner", "run_sweep"]

RESULTS_CSV = "results.csv"


@dataclass(frozen=True)
class FailedPoint:
    """A point whose runner raised; it stays out of the CSV and is retried on the next run."""

    index: int
    key: str
    error: str


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep invocation did, for the CLI to print and for callers to check."""

    name: str
    out_dir: Path
    csv_path: Path
    points: int
    ran: int
    skipped: int
    failed: tuple[FailedPoint, ...]

    @property
    def ok(self) -> bool:
        """True when every point of the sweep has results."""
        return not self.failed


def check_with_engine(points: Sequence[Point], sweep_path: Path) -> None:
    """Validate every resolved scenario with the engine's model before any job starts.

    A grid value the scenario model rejects (a negative count, an unknown topology) is bad
    input: it is reported at once, naming the sweep file and the point, instead of surfacing
    later as a failed job.
    """
    from roomsim.api import plan, scenario_from_dict
    from roomsim.errors import ScenarioError

    for point in points:
        source = f"{sweep_path} point {point.index} {json.dumps(point.params)} seed {point.seed}"
        try:
            scenario = scenario_from_dict(point.raw, source=source)
            try:  # the point's own run: its flags and resource budget (api.plan)
                plan(scenario, None, forcible=False)
            except ScenarioError as error:
                raise ScenarioError(error.problem, file=source, field=error.field) from None
        except ScenarioError as error:
            raise SweepError(str(error)) from None


def run_sweep(
    spec_path: Path | str,
    out_dir: Path | str,
    *,
    runner: Runner | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> SweepSummary:
    """Run every point of the sweep at `spec_path` not already finished in `out_dir`.

    `runner` maps a resolved raw scenario to result rows; it must be a module-level function
    so it pickles to workers. Without one, the simulation core runs each point (and checks
    all of them first). `workers` local processes run the jobs (default: the usable cores),
    unless `scheduler` names a Dask scheduler, which then owns the workers.
    Raises `SweepError` (one line) for bad input.
    """
    sweep = load_sweep(spec_path)
    points = expand(sweep)
    if workers is not None and workers < 1:
        raise SweepError(f"workers: must be at least 1, got {workers}")
    if workers is not None and scheduler is not None:
        raise SweepError("workers: not used with a scheduler (the cluster owns its workers)")
    if runner is None:
        check_with_engine(points, sweep.path)
        runner = default_runner
    out_dir = Path(out_dir)
    version = roomsim_version()
    failed: list[FailedPoint] = []
    with ResultStore(out_dir) as store:
        store.record_manifest(sweep, version)
        done = store.done_keys()
        todo = {point.key: point for point in points if point.key not in done}
        jobs: list[Job] = [{"key": point.key, "raw": point.raw} for point in todo.values()]
        if jobs:
            if scheduler is not None:
                results = dask_results(jobs, runner, scheduler)
            else:
                results = local_results(jobs, runner, min(workers or available_cores(), len(jobs)))
            bar = tqdm(
                total=len(jobs),
                desc=sweep.spec.name or sweep.path.stem,
                unit="point",
                file=sys.stderr,
                disable=not (progress and sys.stderr.isatty()),
            )
            with contextlib.closing(results), bar:
                for result in results:
                    point = todo[result["key"]]
                    if result["error"] is not None:
                        store.record_failed(point, result["detail"] or result["error"])
                        failed.append(FailedPoint(point.index, point.key, result["error"]))
                    else:
                        write_run_files(out_dir, point, result["rows"], version)
                        store.record_done(point, result["rows"])
                    bar.update(1)
        csv_path = out_dir / RESULTS_CSV
        export_csv(csv_path, points, store.rows_by_key(point.key for point in points))
    return SweepSummary(
        name=sweep.spec.name or sweep.path.stem,
        out_dir=out_dir,
        csv_path=csv_path,
        points=len(points),
        ran=len(jobs),
        skipped=len(points) - len(jobs),
        failed=tuple(sorted(failed, key=lambda failure: failure.index)),
    )
