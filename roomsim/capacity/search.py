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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click

from roomsim import api
from roomsim.errors import ScenarioError
from roomsim.results.gate import judge
from roomsim.results.models import RunResult
from roomsim.scenario.gate import CapacitySpec, QualityGate
from roomsim.scenario.load import scenario_from_dict
from roomsim.scenario.loader import read_yaml
from roomsim.scenario.scenario import Scenario
from roomsim.sim.jit_cache import announce_compiles
from roomsim.sweep.paths import PathNotFound, get_path, set_path


@dataclass(frozen=True)
class Probe:
    """One simulated run of the search, in the user's units (people per room, rooms)."""

    value: int
    passed: bool
    loss_pct: float
    latency_p95_ms: float | None
    busiest_cpu_pct: float
    why: str
    room_size: int = 0
    rooms_per_node: float = 0.0


def check(run: RunResult, gate: QualityGate) -> Probe:
    """Gate one run with the verdict `run`/`compare` print (roomsim.results.gate.judge)."""
    verdict = judge(run, gate)
    rooms: dict[str, int] = {}
    for p in run.participants:
        rooms[p.room] = rooms.get(p.room, 0) + 1
    return Probe(0, verdict.passed, verdict.loss_pct, verdict.latency_p95_ms,
                 verdict.busiest_cpu_pct, "; ".join(verdict.reasons) or "within the gate",
                 max(rooms.values(), default=0), len(rooms) / max(1, len(run.servers)))


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
        result = replace(check(report.runs[0], spec.gate or scenario.gate or QualityGate()),
                         value=value)
        if progress is not None:
            progress(result)
        return result

    return search(evaluate, spec.low, spec.high)


def with_profile(raw: dict[str, Any], profile: str) -> dict[str, Any]:
    """A copy of the raw scenario with every node on one server profile (a scenario that
    names no nodes gets the default node, on that profile)."""
    data = copy.deepcopy(raw)
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        nodes = data["nodes"] = [{"id": Scenario.model_fields["nodes"].default[0].id}]
    for node in nodes:
        if isinstance(node, dict):
            node["profile"] = profile
    return data


def _cores(raw: dict[str, Any]) -> str:
    """The nodes' core counts, for the per-profile answer ("on 16 cores")."""
    nodes = raw.get("nodes") if isinstance(raw.get("nodes"), list) else None
    default = Scenario.model_fields["nodes"].default[0].cores
    cores = [n.get("cores", default) for n in nodes or [{}] if isinstance(n, dict)]
    return " + ".join(f"{c:g}" for c in cores)


def _spec(raw: dict[str, Any], source: str, overrides: dict[str, Any]) -> CapacitySpec:
    given = dict(raw.get("capacity") or {})
    given.update({k: v for k, v in overrides.items() if v is not None})
    gate_keys = ("loss_pct", "latency_p95_ms", "cpu_pct")
    # The capacity block's gate, else the scenario's, else the default; then the options.
    gate = dict(given.get("gate") or raw.get("gate") or {})
    for key in gate_keys:
        if overrides.get(key) is not None:
            gate[key] = overrides[key]
    given = {k: v for k, v in given.items() if k not in gate_keys}
    given["gate"] = gate
    if "vary" not in given:
        raise ScenarioError(
            "say what to vary: a `capacity: {vary: ...}` block or --vary", file=source
        )
    from roomsim.scenario.loader import validate

    return validate(CapacitySpec, given, f"{source} (capacity)")


def unit_of(vary: str, probe: Probe) -> str:
    """A probe's size in the user's unit: people in the largest room, or rooms per node
    when the search varies a number of rooms (a room set's count)."""
    if vary.startswith("room_sets") and vary.endswith(".count"):
        return f"{probe.rooms_per_node:g} rooms per node"
    return f"rooms of {probe.room_size} people"


def _print_probe(vary: str) -> Callable[[Probe], None]:
    def show(p: Probe) -> None:
        verdict = "pass" if p.passed else "FAIL"
        click.echo(f"  {vary} = {p.value:>6} ({unit_of(vary, p)}): {verdict}: {p.why}")

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
@click.option("--cpu", "cpu_pct", type=float, default=None,
              help="Gate: busiest CPU, % of a node's cores or a device's budget.")
@click.option("--seed", type=int, default=None)
@click.option(
    "--profiles",
    default=None,
    help="Comma-separated server profiles (bundled names or files): one search per profile, "
    "every node on it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def capacity_command(
    scenario: Path, seed: int | None, as_json: bool, profiles: str | None, **overrides: Any
) -> None:
    """Find the largest value of a scenario integer (room size, rooms per node, ...) that
    still passes a quality gate, by search over simulated runs."""
    try:
        raw, _ = read_yaml(scenario)
        if not isinstance(raw, dict):
            raise ScenarioError("expected a mapping of fields at the top level", file=str(scenario))
        spec = _spec(raw, str(scenario), overrides)
        if profiles is not None:
            _per_profile(raw, spec, str(scenario), seed, as_json, profiles.split(","))
            return
        shown = None if as_json else _print_probe(spec.vary)
        if shown is not None:
            click.echo(
                f"searching {spec.vary} in [{spec.low}, {spec.high}] (gate: "
                f"{(spec.gate or QualityGate()).describe()}; {spec.duration_s:g} s per run; "
                "CPU is the busiest node's or device's share of its cores or budget, and "
                "above 100 % the work asked for exceeds them and queues)"
            )
        with announce_compiles(lambda line: click.echo(line, err=True)):
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
                    "gate": (spec.gate or QualityGate()).model_dump(),
                    # the probe at the answer, and the first one above it that failed
                    "at_capacity": next((asdict(p) for p in probes if p.value == best), None),
                    "first_failure": min((asdict(p) for p in probes if not p.passed),
                                         key=lambda p: p["value"], default=None),
                    "probes": [asdict(p) for p in probes],
                },
                indent=2,
            )
        )
    elif best is None:
        click.echo(f"capacity: even {spec.vary} = {spec.low} fails the gate")
    else:
        last = next(p for p in probes if p.value == best)
        click.echo(f"capacity: {unit_of(spec.vary, last)} pass the gate ({spec.vary} = {best}; "
                   f"{len(probes)} runs)")


def _per_profile(
    raw: dict[str, Any], spec: CapacitySpec, source: str, seed: int | None, as_json: bool,
    names: list[str],
) -> None:
    """One capacity search per server profile; answers side by side, in the user's unit."""
    answers: dict[str, Any] = {}
    for name in (n.strip() for n in names):
        if not as_json:
            click.echo(f"profile {name}:")
        shown = None if as_json else _print_probe(spec.vary)
        best, probes = find_capacity(with_profile(raw, name), spec, f"{source} (profile {name})",
                                     seed, shown)
        answers[name] = {"capacity": best,
                         "at_capacity": next((asdict(p) for p in probes if p.value == best), None),
                         "probes": [asdict(p) for p in probes]}
    if as_json:
        click.echo(json.dumps({"vary": spec.vary, "gate": (spec.gate or QualityGate()).model_dump(),
                               "profiles": answers}, indent=2))
        return
    cores = _cores(raw)
    for name, answer in answers.items():
        best = answer["capacity"]
        if best is None:
            told = f"even {spec.vary} = {spec.low} fails the gate"
        else:
            told = f"{unit_of(spec.vary, Probe(**answer['at_capacity']))} ({spec.vary} = {best})"
        click.echo(f"on {cores} cores, {name}: {told} ({len(answer['probes'])} runs)")
