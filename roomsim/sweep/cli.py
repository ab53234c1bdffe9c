"""`sweep` command: thin on purpose (parse -> run_sweep -> print); mounts in any click group."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from roomsim.errors import printable
from roomsim.sweep.errors import SweepError
from roomsim.sweep.jobs import Runner
from roomsim.sweep.runner import run_sweep

SHOWN_FAILURES = 5


def load_runner(spec: str) -> Runner:
    """Import a `module:function` runner, so a sweep can drive something other than the engine."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise SweepError(f"--runner: expected MODULE:FUNCTION, got '{spec}'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SweepError(f"--runner: cannot import module '{module_name}': {error}") from None
    runner = getattr(module, function_name, None)
    if not callable(runner):
        raise SweepError(f"--runner: '{module_name}' has no function '{function_name}'")
    return runner  # type: ignore[no-any-return]


@click.command(name="sweep")
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output directory: store, per-run files, results.csv. Rerun to resume.")
@click.option("--workers", type=int, default=None,
              help="Local worker processes (default: usable cores).")
@click.option("--scheduler", default=None,
              help="Dask scheduler address (e.g. tcp://10.0.0.5:8786) to run the points on. "
                   "Trust it fully: a Dask scheduler and its workers execute arbitrary code "
                   "(pickled functions), so connecting to an untrusted scheduler, or exposing "
                   "yours beyond a private network without TLS, hands out code execution.")
@click.option("--runner", "runner_spec", default=None, metavar="MODULE:FUNCTION",
              help="Custom point runner: raw scenario dict -> list of row dicts. Imports "
                   "MODULE with your Python path: it runs that module's code with your "
                   "permissions, so name only code you trust.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on a terminal.")
def sweep_command(
    sweep_file: Path,
    out_dir: Path,
    workers: int | None,
    scheduler: str | None,
    runner_spec: str | None,
    progress: bool,
) -> None:
    """Run every point of SWEEP_FILE (grid x seeds), skipping points already done in -o."""
    try:
        runner = load_runner(runner_spec) if runner_spec else None
        summary = run_sweep(sweep_file, out_dir, runner=runner, workers=workers,
                            scheduler=scheduler, progress=progress)
    except SweepError as error:
        click.echo(printable(f"roomsim: {error}"), err=True)
        sys.exit(2)
    click.echo(
        f"{summary.name}: {summary.points} points, {summary.ran} run, "
        f"{summary.skipped} already done, {len(summary.failed)} failed -> {summary.csv_path}"
    )
    for failure in summary.failed[:SHOWN_FAILURES]:
        click.echo(printable(f"roomsim: {sweep_file}: point {failure.index} ({failure.key[:12]}): "
                             f"{failure.error}"), err=True)
    if len(summary.failed) > SHOWN_FAILURES:
        click.echo(f"roomsim: ... and {len(summary.failed) - SHOWN_FAILURES} more failed points "
                   f"(tracebacks in {summary.out_dir / 'sweep.sqlite'})", err=True)
    if summary.failed:
        sys.exit(1)
