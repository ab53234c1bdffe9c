"""`roomsim capacity`: how big can it get before quality breaks?

A capacity question is a search over simulated runs: take one integer of the scenario (a
room's participant count, a room set's number of rooms, ...), find the largest value in
[low, high] whose run still passes a quality gate (loss, p95 latency, node CPU). Runs
grow the value geometrically from `low` until the gate fails, then bisect between the last
pass and the first failure, so a 1-to-4000 search takes about 2 log2(range) runs. Quality
is assumed to get worse as the value grows (more people never makes a room cheaper); each
probe is reported so a reader can check that.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from roomsim import api
from roomsim.errors import ScenarioError
from roomsim.loader import read_yaml
from roomsim.results import RunResult
from roomsim.scenario import CapacitySpec, QualityGate, Scenario, scenario_from_dict
from roomsim.sweep.paths import PathNotFound, get_path, set_path


@dataclass(frozen=True)
class Probe:
    """One simulated run of the search."""

    value: int
    passed: bool
    loss_pct: float
    latency_p95_ms: float | None
    cpu_util_pct: float
    why: str


def check(run: RunResult, gate: QualityGate) -> Probe:
    """Gate one run: the room-wide loss and p95 latency, and the busiest node's CPU."""
    loss = run.totals.loss_pct
    p95 = run.totals.latency_ms.p95
    cpu = max((s.cpu_util_pct for s in run.servers), default=0.0)
    failed = []
    if loss > gate.loss_pct:
        failed.append(f"loss {loss:.2f} % > {gate.loss_pct}")
    if p95 is None or p95 > gate.latency_p95_ms:
        failed.append(f"p95 {p95} ms > {gate.latency_p95_ms}")
    if cpu > gate.cpu_util_pct:
        failed.append(f"cpu {cpu:.1f} % > {gate.cpu_util_pct}")
    return Probe(0, not failed, loss, p95, cpu, "; ".join(failed) or "ok")


def search(evaluate: Callable[[int], Probe], low: int, high: int) -> tuple[int | None, list[Probe]]:
    """Largest value in [low, high] that passes: geometric growth, then bisection."""
    probes: list[Probe] = []

    def probe(value: int) -> bool:
        result = evaluate(value)
        probes.append(result)
        return result.passed

    if not probe(low):
        return None, probes
    good, bad = low, None
    value = low
    while bad is None and value < high:
        value = min(high, max(value + 1, value * 2))
        if probe(value):
            good = value
        else:
            bad = value
    if bad is None:
        return good, probes
    while bad - good > 1:
        middle = (good + bad) // 2
        if probe(middle):
            good = middle
        else:
            bad = middle
    return good, probes


def find_capacity(
    raw: dict[str, Any],
    spec: CapacitySpec,
    source: str,
    seed: int | None = None,
    progress: Callable[[Probe], None] | None = None,
) -> tuple[int | None, list[Probe]]:
    """Run the search on a raw scenario dict (the `vary` path is set in a copy per run)."""
    try:
        get_path(raw, spec.vary)
    except PathNotFound as error:
        raise ScenarioError(f"capacity.vary: {error}", file=source) from None

    def evaluate(value: int) -> Probe:
        data = copy.deepcopy(raw)
        set_path(data, spec.vary, value)
        scenario: Scenario = scenario_from_dict(data, source)
        duration = max(spec.duration_s, scenario.warmup_s + 1.0)
        try:
            report = api.run(scenario, spec.topology, seed=seed, duration_s=duration)
        except ScenarioError as exc:
            if exc.field != "budget":
                raise
            raise ScenarioError(f"probing {spec.vary} = {value}: {exc.problem} (or search a "
                                "smaller range with --low/--high)", file=source,
                                field="budget") from None
        result = check(report.runs[0], spec.gate)
        result = Probe(
            value,
            result.passed,
            result.loss_pct,
            result.latency_p95_ms,
            result.cpu_util_pct,
            result.why,
        )
        if progress is not None:
            progress(result)
        return result

    return search(evaluate, spec.low, spec.high)


def _spec(raw: dict[str, Any], source: str, overrides: dict[str, Any]) -> CapacitySpec:
    given = dict(raw.get("capacity") or {})
    given.update({k: v for k, v in overrides.items() if v is not None})
    gate = dict(given.get("gate") or {})
    for key in ("loss_pct", "latency_p95_ms", "cpu_util_pct"):
        if overrides.get(key) is not None:
            gate[key] = overrides[key]
    given = {
        k: v for k, v in given.items() if k not in ("loss_pct", "latency_p95_ms", "cpu_util_pct")
    }
    given["gate"] = gate
    if "vary" not in given:
        raise ScenarioError(
            "say what to vary: a `capacity: {vary: ...}` block or --vary", file=source
        )
    from roomsim.loader import validate

    return validate(CapacitySpec, given, f"{source} (capacity)")


def _print_probe(vary: str) -> Callable[[Probe], None]:
    def show(p: Probe) -> None:
        verdict = "pass" if p.passed else "FAIL"
        click.echo(
            f"  {vary} = {p.value:>6}: {verdict}  loss {p.loss_pct:.2f} %  "
            f"p95 {p.latency_p95_ms} ms  cpu {p.cpu_util_pct:.1f} %  ({p.why})"
        )

    return show


@click.command(name="capacity")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--vary",
    default=None,
    help="Dotted path of the integer to search, e.g. rooms.0.participants.1.count.",
)
@click.option("--low", type=int, default=None, help="Smallest value tried (default 1).")
@click.option("--high", type=int, default=None, help="Largest value tried (default 10000).")
@click.option(
    "--duration", "duration_s", type=float, default=None, help="Simulated seconds per run."
)
@click.option("--topology", type=click.Choice(["mesh", "mcu", "sfu"]), default=None)
@click.option("--loss", "loss_pct", type=float, default=None, help="Gate: max loss %.")
@click.option(
    "--p95", "latency_p95_ms", type=float, default=None, help="Gate: max p95 latency, ms."
)
@click.option("--cpu", "cpu_util_pct", type=float, default=None, help="Gate: max node CPU %.")
@click.option("--seed", type=int, default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def capacity_command(scenario: Path, seed: int | None, as_json: bool, **overrides: Any) -> None:
    """Find the largest value of a scenario integer (room size, rooms per node, ...) that
    still passes a quality gate, by search over simulated runs."""
    try:
        raw, _ = read_yaml(scenario)
        if not isinstance(raw, dict):
            raise ScenarioError("expected a mapping of fields at the top level", file=str(scenario))
        spec = _spec(raw, str(scenario), overrides)
        shown = None if as_json else _print_probe(spec.vary)
        if shown is not None:
            click.echo(
                f"searching {spec.vary} in [{spec.low}, {spec.high}] (gate: loss <= "
                f"{spec.gate.loss_pct} %, p95 <= {spec.gate.latency_p95_ms} ms, cpu <= "
                f"{spec.gate.cpu_util_pct} %; {spec.duration_s:g} s per run)"
            )
        best, probes = find_capacity(raw, spec, str(scenario), seed, shown)
    except ScenarioError as exc:
        click.echo(f"roomsim: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "vary": spec.vary,
                    "capacity": best,
                    "gate": spec.gate.model_dump(),
                    "probes": [asdict(p) for p in probes],
                },
                indent=2,
            )
        )
    elif best is None:
        click.echo(f"capacity: even {spec.vary} = {spec.low} fails the gate")
    else:
        click.echo(f"capacity: {spec.vary} = {best} ({len(probes)} runs)")
