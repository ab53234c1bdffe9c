"""The quality gate every command judges a run by, and the one-line verdict it gives.

One gate for `run`, `compare`, `plot`, `report` and `capacity` (the knee in a chart, the
verdict under a table and the capacity search all mean the same limits). A scenario may
carry `gate:`, a sweep file too, and each command takes `--gate-loss/--gate-latency/
--gate-cpu`; what is not given keeps the defaults below.

The verdict names the limit broken and who broke it (the participant with the worst loss
or p95, the busiest node or device), and warns about what usually explains a failure: an
access link offered more than its rate, a device or node past its CPU budget. CPU above
100 % means work asked for more core time than the cores or budget have: the excess
queues (latency) or is dropped (frames dropped for CPU); it is demand, not a measurement
error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roomsim.scenario.gate import QualityGate

if TYPE_CHECKING:
    from roomsim.results.models import RunResult
    from roomsim.scenario.scenario import Scenario


@dataclass(frozen=True)
class Verdict:
    """PASS or FAIL of one run against a gate, why, and what to look at."""

    topology: str
    passed: bool
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    loss_pct: float = 0.0
    latency_p95_ms: float | None = None
    busiest_cpu_pct: float = 0.0

    def line(self) -> str:
        """`sfu: PASS (loss 0.18 % ...)` or `mesh: FAIL: p95 486 ms > 150 ms (worst: ...)`."""
        if self.passed:
            p95 = "-" if self.latency_p95_ms is None else f"{self.latency_p95_ms:.3g} ms"
            return (f"{self.topology}: PASS (loss {self.loss_pct:.2f} %, p95 {p95}, "
                    f"busiest CPU {self.busiest_cpu_pct:.0f} %)")
        return f"{self.topology}: FAIL: " + "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`--json` carries it per run)."""
        return {"passed": self.passed, "verdict": "PASS" if self.passed else "FAIL",
                "reasons": self.reasons, "warnings": self.warnings, "loss_pct": self.loss_pct,
                "latency_p95_ms": self.latency_p95_ms, "busiest_cpu_pct": self.busiest_cpu_pct}


def _beyond(value: float, limit: float) -> str:
    """`value` with enough digits to read as different from `limit` (85.4, not 85)."""
    for digits in range(3, 7):
        shown = f"{value:.{digits}g}"
        if float(shown) != limit:
            return shown
    return f"{value:g}"


def _mbps(kbps: float) -> str:
    return f"{kbps / 1000:.3g} Mbps" if kbps >= 1000 else f"{kbps:.3g} kbps"


def busiest_cpu(run: RunResult) -> tuple[float, str]:
    """The busiest CPU of the run in % of its cores or budget, and whose it is in words."""
    best = (0.0, "")
    for s in run.servers:
        if s.cpu_util_pct > best[0]:
            best = (s.cpu_util_pct, f"node {s.id}: {s.cpu_cores:.3g} of {s.cores:g} cores")
    for p in run.participants:
        if p.client_cpu_budget_cores > 0:
            pct = 100 * p.client_cpu_cores / p.client_cpu_budget_cores
            if pct > best[0]:
                best = (pct, f"{p.id}'s {p.device}: {p.client_cpu_cores:.3g} of its "
                             f"{p.client_cpu_budget_cores:g}-core budget")
    return best


def warnings_of(run: RunResult, networks: dict[str, str] | None = None) -> list[str]:
    """Access links offered more than their rate, and CPUs past their budget (> 100 %)."""
    names = networks or {}
    out: list[str] = []
    for p in run.participants:
        net = f"{names[p.id]} " if p.id in names else ""
        for way, offered, rate in (("uplink", p.uplink_kbps, p.uplink_capacity_kbps),
                                   ("downlink", p.downlink_kbps, p.downlink_capacity_kbps)):
            if rate > 0 and offered > rate:
                out.append(f"{p.id}'s {net}{way} offered {_mbps(offered)} of {_mbps(rate)}")
        if p.client_cpu_budget_cores > 0 and p.client_cpu_cores > p.client_cpu_budget_cores:
            out.append(f"{p.id}'s {p.device} needs {p.client_cpu_cores:.3g} cores of its "
                       f"{p.client_cpu_budget_cores:g}-core budget "
                       f"({100 * p.client_cpu_cores / p.client_cpu_budget_cores:.0f} %: the excess "
                       "queues or drops frames)")
    for s in run.servers:
        if s.cpu_util_pct > 100:
            out.append(f"node {s.id} asked for {s.cpu_util_pct:.0f} % of its {s.cores:g} cores "
                       "(work beyond its cores queues: latency, dropped jobs)")
    return out


def judge(run: RunResult, gate: QualityGate, networks: dict[str, str] | None = None) -> Verdict:
    """Gate one run: room-wide loss and p95 latency, and the busiest CPU (node or device),
    each failure naming the participant or node that is worst on it."""
    loss = run.totals.loss_pct
    p95 = run.totals.latency_ms.p95
    cpu, cpu_owner = busiest_cpu(run)
    people = run.participants
    reasons: list[str] = []
    if loss > gate.loss_pct:
        worst = max(people, key=lambda p: p.loss_pct, default=None)
        who = f" (worst: {worst.id} {worst.loss_pct:.2f} %)" if worst else ""
        reasons.append(f"loss {_beyond(loss, gate.loss_pct)} % > {gate.loss_pct:g} %{who}")
    if p95 is None:
        reasons.append("no media was played (no latency to judge)")
    elif p95 > gate.latency_p95_ms:
        timed = [p for p in people if p.latency_ms.p95 is not None]
        worst = max(timed, key=lambda p: p.latency_ms.p95 or 0.0, default=None)
        who = f" (worst: {worst.id} {worst.latency_ms.p95:.3g} ms)" if worst else ""
        reasons.append(f"latency p95 {_beyond(p95, gate.latency_p95_ms)} ms > {gate.latency_p95_ms:g} ms{who}")
    if cpu > gate.cpu_pct:
        reasons.append(f"CPU {_beyond(cpu, gate.cpu_pct)} % > {gate.cpu_pct:g} % ({cpu_owner})")
    return Verdict(run.topology, not reasons, reasons, warnings_of(run, networks), loss, p95,
                   round(cpu, 3))


def network_names(scenario: Scenario) -> dict[str, str]:
    """Participant id -> the name of its access network (a preset or a `networks:` entry),
    so a warning can say "commuter's 4g uplink"."""
    names: dict[str, str] = {}
    for room in scenario.rooms:
        for group in room.participants:
            spec = group.network
            name = spec if isinstance(spec, str) else (spec.preset or "")
            for pid in group.member_ids():
                if name:
                    names[pid] = name
    return names
