"""What runs on a worker: one point's raw scenario in, flat result rows out.

Jobs and results are plain dicts so they pickle to a local process or a Dask worker alike.
This module stays light (no tqdm, no Dask, no engine import until a job runs) because every
worker process imports it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, TypedDict

Row = dict[str, Any]
Runner = Callable[[dict[str, Any]], list[Row]]
Scalar = str | int | float | bool | None


class Job(TypedDict):
    """One point to run: its key (to file the result) and its resolved raw scenario."""

    key: str
    raw: dict[str, Any]


class JobResult(TypedDict):
    """Rows of a finished job, or a one-line error plus the traceback for the store."""

    key: str
    rows: list[Row]
    error: str | None
    detail: str | None


def default_runner(raw: dict[str, Any]) -> list[Row]:
    """Run one scenario with the simulation core and flatten its report into rows.

    The engine is imported here, not at module level, so the sweep machinery (and its
    tests) does not depend on the engine being importable.
    """
    from roomsim.api import result_rows, run, scenario_from_dict

    return result_rows(run(scenario_from_dict(raw)))


def _plain(value: Any, where: str) -> Scalar:
    """A row value as a JSON scalar; numpy scalars are unwrapped so JSON and CSV can take them."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        unwrapped = item()
        if isinstance(unwrapped, str | bool | int | float):
            return unwrapped
    raise TypeError(f"{where}: value of type {type(value).__name__} is not a scalar")


def plain_rows(rows: Any) -> list[Row]:
    """Check a runner's output is a list of flat rows and return it as plain Python data."""
    if not isinstance(rows, list):
        raise TypeError(f"runner returned {type(rows).__name__}, expected a list of row dicts")
    checked: list[Row] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(name, str) for name in row):
            raise TypeError(f"row {index}: expected a dict with string column names")
        checked.append({name: _plain(value, f"row {index} column '{name}'")
                        for name, value in row.items()})
    return checked


def execute_job(job: Job, runner: Runner) -> JobResult:
    """Run one job; an exception becomes part of the result so one bad point stops nothing."""
    try:
        rows = plain_rows(runner(job["raw"]))
    except Exception as error:
        summary = f"{type(error).__name__}: {error}".splitlines()[0]
        return {"key": job["key"], "rows": [], "error": summary, "detail": traceback.format_exc()}
    return {"key": job["key"], "rows": rows, "error": None, "detail": None}
