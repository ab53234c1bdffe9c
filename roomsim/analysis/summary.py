"""One flat record of figures per run: what charts, reports and sweep tables are drawn from.

A run read from `report.json` and a sweep point read from its stored rows give the same
record, so every chart works on both. Simulated figures sit next to their closed forms
(`expected_*`); a figure that does not exist for a topology (a mesh has no media server)
is None, never zero, so a chart leaves it out instead of drawing a false point.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from roomsim.results import Report, RunResult, participant_rows

#: Column prefix of the run figures repeated on every sweep row.
RUN_PREFIX = "run_"

Summary = dict[str, Any]


def _mean(values: list[float]) -> float | None:
    return round(mean(values), 4) if values else None


def _expected_servers(run: RunResult, key: str) -> float | None:
    servers = run.expected.get("servers") or {}
    return round(sum(float(s[key]) for s in servers.values()), 5) if servers else None


def _servers(run: RunResult, key: str) -> float | None:
    return round(sum(float(getattr(s, key)) for s in run.servers), 5) if run.servers else None


def run_summary(run: RunResult) -> Summary:
    """Room-wide figures of one run (means are over participants, server figures summed)."""
    people = run.participants
    rooms: dict[str, int] = {}
    for p in people:
        rooms[p.room] = rooms.get(p.room, 0) + 1
    client_util = [100 * p.client_cpu_cores / p.client_cpu_budget_cores for p in people
                   if p.client_cpu_budget_cores > 0]
    server_util = [s.cpu_util_pct for s in run.servers]
    busiest = max(client_util + server_util, default=None)
    return {
        "topology": run.topology,
        "participants": len(people),
        "rooms": len(rooms),
        "room_size": max(rooms.values(), default=0),
        "mean_uplink_kbps": _mean([p.uplink_kbps for p in people]),
        "expected_mean_uplink_kbps": _mean([p.expected_uplink_kbps for p in people]),
        "mean_downlink_kbps": _mean([p.downlink_kbps for p in people]),
        "expected_mean_downlink_kbps": _mean([p.expected_downlink_kbps for p in people]),
        "mean_downlink_payload_kbps": _mean([p.downlink_payload_kbps for p in people]),
        "mean_downlink_pps": _mean([p.downlink_pps for p in people]),
        "mean_client_cpu_cores": _mean([p.client_cpu_cores for p in people]),
        "expected_mean_client_cpu_cores": _mean([p.expected_client_cpu_cores for p in people]),
        "servers": len(run.servers),
        "server_cores": _servers(run, "cores"),
        "server_ingress_mbps": _servers(run, "ingress_mbps"),
        "expected_server_ingress_mbps": _expected_servers(run, "ingress_mbps"),
        "server_egress_mbps": _servers(run, "egress_mbps"),
        "expected_server_egress_mbps": _expected_servers(run, "egress_mbps"),
        "server_egress_pps": _servers(run, "egress_pps"),
        "server_cpu_cores": _servers(run, "cpu_cores"),
        "expected_server_cpu_cores": _expected_servers(run, "cpu_cores"),
        "server_cpu_util_pct": round(max(server_util), 3) if server_util else None,
        "client_cpu_util_pct": round(max(client_util), 3) if client_util else None,
        "busiest_cpu_pct": None if busiest is None else round(busiest, 3),
        "loss_pct": run.totals.loss_pct,
        "latency_p50_ms": run.totals.latency_ms.p50,
        "latency_p95_ms": run.totals.latency_ms.p95,
        "latency_p99_ms": run.totals.latency_ms.p99,
    }


def summary_from_row(row: dict[str, Any]) -> Summary | None:
    """The run figures carried by one sweep row, or None if the row has none."""
    found = {k[len(RUN_PREFIX):]: v for k, v in row.items() if k.startswith(RUN_PREFIX)}
    if "room_size" not in found:
        return None
    found.setdefault("topology", row.get("topology"))
    return found


def rows_with_run_figures(report: Report) -> list[dict[str, Any]]:
    """Participant rows, each carrying its run's room-wide figures as `run_*` columns.

    A sweep stores rows only; repeating the run figures on every row lets its CSV (or a
    DataFrame of it) draw scaling curves without going back to the simulation.
    """
    rows = participant_rows(report)  # run by run, participants in order
    figures = [run_summary(run) for run in report.runs for _ in run.participants]
    for row, run_figures in zip(rows, figures, strict=True):
        row.update({f"{RUN_PREFIX}{k}": v for k, v in run_figures.items() if k != "topology"})
    return rows
