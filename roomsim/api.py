"""The public Python API; the CLI is a thin layer over it, so notebooks get the same runs.

    from roomsim import api
    scenario = api.load_scenario("experiments/meeting-8.yaml")
    report = api.compare(scenario)
    rows = api.result_rows(report)        # -> pandas.DataFrame(rows)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from roomsim.errors import ScenarioError
from roomsim.results.models import Report, RunResult, server_rows
from roomsim.run import budget
from roomsim.run.budget import Estimate
from roomsim.run.runtimes import refuse
from roomsim.scenario.limits import check_flag
from roomsim.scenario.load import load_scenario, scenario_from_dict
from roomsim.scenario.names import TOPOLOGIES
from roomsim.scenario.scenario import Scenario

try:
    ROOMSIM_VERSION = version("roomsim")
except PackageNotFoundError:  # running from a source tree without an install
    ROOMSIM_VERSION = "0+unknown"


def run(scenario: Scenario, topology: str | None = None, *, seed: int | None = None,
        duration_s: float | None = None, force: bool = False) -> Report:
    """Run one topology (default: the scenario's own) and return a one-run Report."""
    return compare(scenario, [topology or scenario.topology.kind], seed=seed, duration_s=duration_s,
                   force=force)


def plan(scenario: Scenario, topologies: Iterable[str] | None = TOPOLOGIES, *, seed: int | None = None,
         duration_s: float | None = None, force: bool = False, forcible: bool = True
         ) -> tuple[tuple[str, ...], int, float, Estimate]:
    """Check what a compare would run, before anything is allocated: topology names, seed
    and duration overrides through the scenario's own ranges (roomsim.scenario.limits), and the
    resource budget (roomsim.run.budget; `force` skips its refusal); topologies None = the
    scenario's own; `forcible`: the caller offers --force (a sweep does not). Raises
    ScenarioError."""
    names = tuple(topologies) if topologies is not None else (scenario.topology.kind,)
    if not names:
        raise ScenarioError(f"give at least one topology ({', '.join(TOPOLOGIES)})",
                            field="--topologies")
    for name in names:
        if name not in TOPOLOGIES:
            raise ScenarioError(f"unknown topology {name!r}; choose from {', '.join(TOPOLOGIES)}",
                                field="--topologies")
    seed = scenario.seed if seed is None else seed
    duration = scenario.duration_s if duration_s is None else duration_s
    for name in names:
        refuse(scenario, name)
    check_flag("--seed", "seed", seed)
    check_flag("--duration", "duration_s", duration)
    return names, seed, duration, budget.check(scenario, names, duration, force=force,
                                                    forcible=forcible)


#: progress(topology, simulated seconds in all) -> a context whose value is told the
#: simulated seconds reached as the run goes (the CLI draws a bar with it).
Progress = Callable[[str, float], AbstractContextManager[Callable[[float], None]]]


def compare(scenario: Scenario, topologies: Iterable[str] = TOPOLOGIES, *, seed: int | None = None,
            duration_s: float | None = None, progress: Progress | None = None,
            force: bool = False) -> Report:
    """Run the same workload through each topology (after `plan`'s checks)."""
    names, seed, duration, _ = plan(scenario, topologies, seed=seed, duration_s=duration_s,
                                    force=force)
    runs: list[RunResult] = []
    for name in names:
        if progress is None:
            runs.append(_simulate(scenario, name, seed, duration))
            continue
        with progress(name, duration) as tell:
            runs.append(_simulate(scenario, name, seed, duration, tell))
    return Report(roomsim_version=ROOMSIM_VERSION, scenario=scenario.name, seed=seed,
                  duration_s=duration, runs=runs)


def result_rows(report: Report) -> list[dict[str, object]]:
    """Flat rows, one per participant per run (scenario, seed and topology columns), each
    with its run's room-wide figures as `run_*` columns (server egress, CPU, loss, ...)."""
    from roomsim.analysis.summary import rows_with_run_figures

    return rows_with_run_figures(report)


__all__ = ["ROOMSIM_VERSION", "Report", "compare", "load_scenario", "plan", "result_rows", "run",
           "scenario_from_dict", "server_rows"]


def _simulate(*args: Any) -> RunResult:
    """roomsim.run.runner.simulate, imported on the first run: the engine (numba, its
    kernels) is what `validate` and `plan` must not pay for (issue #11: validate in 0.5 s)."""
    from roomsim.run.runner import simulate

    return simulate(*args)
