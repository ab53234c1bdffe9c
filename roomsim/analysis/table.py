"""Plain-text tables for the terminal: the side-by-side comparison and per-run detail."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from statistics import mean

from roomsim.results.models import ParticipantResult, Report, RunResult


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _sim_vs(simulated: float, expected: float | None, digits: int = 1) -> str:
    """'simulated (expected)' so a reader sees both figures side by side."""
    if expected is None:
        return _fmt(simulated, digits)
    return f"{_fmt(simulated, digits)} ({_fmt(expected, digits)})"


def _avg(run: RunResult, get: Callable[[ParticipantResult], float | None]) -> float | None:
    values = [v for v in (get(p) for p in run.participants) if v is not None]
    return mean(values) if values else None


def _server_sum(run: RunResult, key: str) -> float | None:
    values = [getattr(s, key) for s in run.servers]
    if not values or None in values:  # no servers, or a report older than the field
        return None
    return sum(values)


def _expected_server_sum(run: RunResult, key: str) -> float | None:
    servers = run.expected.get("servers", {})
    if not servers or any(key not in s for s in servers.values()):
        return None  # no closed form for this figure (carried load depends on the run)
    return sum(float(s[key]) for s in servers.values())


def comparison_rows(runs: Sequence[RunResult]) -> list[tuple[str, list[str]]]:
    """Rows of (label, one cell per run); cells show 'simulated (closed form)'."""
    rows: list[tuple[str, list[str]]] = []

    def add(label: str, cell: Callable[[RunResult], str]) -> None:
        rows.append((label, [cell(run) for run in runs]))

    def per_participant(key: str, digits: int = 1) -> Callable[[RunResult], str]:
        def cell(run: RunResult) -> str:
            sim = _avg(run, lambda p: getattr(p, key))
            exp = _avg(run, lambda p: getattr(p, f"expected_{key}"))
            return _sim_vs(sim or 0.0, exp, digits)
        return cell

    def carried(get: Callable[[ParticipantResult], float | None]) -> Callable[[RunResult], str]:
        return lambda run: _fmt(_avg(run, get))

    def server(key: str, digits: int = 1) -> Callable[[RunResult], str]:
        def cell(run: RunResult) -> str:
            sim = _server_sum(run, key)
            return "-" if sim is None else _sim_vs(sim, _expected_server_sum(run, key), digits)
        return cell

    add("upload offered / participant, kbps", per_participant("uplink_kbps"))
    add("upload carried / participant, kbps", carried(lambda p: p.uplink_carried_kbps))
    add("download offered / participant, kbps", per_participant("downlink_kbps"))
    add("download carried / participant, kbps", carried(lambda p: p.downlink_carried_kbps))
    add("client CPU / participant, cores", per_participant("client_cpu_cores", 3))
    add("server ingress offered, Mbps", server("ingress_mbps"))
    add("server ingress carried, Mbps", server("ingress_carried_mbps"))
    add("server egress offered, Mbps", server("egress_mbps"))
    add("server egress carried, Mbps", server("egress_carried_mbps"))
    add("server ingress, packets/s", server("ingress_pps", 0))
    add("server egress, packets/s", server("egress_pps", 0))
    add("server CPU, cores", server("cpu_cores", 3))
    add("server CPU utilisation, %", lambda r: _fmt(
        mean(s.cpu_util_pct for s in r.servers) if r.servers else None))
    for kind in ("audio", "video"):
        for q in ("p50", "p95", "p99"):
            add(f"{kind} latency {q}, ms", _latency_cell(kind, q))
    add("packet loss, %", lambda r: _fmt(r.totals.loss_pct, 2))
    add("frames dropped for CPU",
        lambda r: _fmt(sum(p.frames_dropped_cpu for p in r.participants), 0))
    add("server CPU jobs dropped", server("cpu_dropped_jobs", 0))
    return rows


def _latency_cell(kind: str, q: str) -> Callable[[RunResult], str]:
    """Mean over participants of one latency percentile of one media kind."""
    def cell(run: RunResult) -> str:
        return _fmt(_avg(run, lambda p: getattr(getattr(p, f"{kind}_latency_ms"), q)))
    return cell


def render(header: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Aligned text table."""
    widths = [max(len(header[0]), *(len(label) for label, _ in rows))]
    for col in range(1, len(header)):
        widths.append(max(len(header[col]), *(len(cells[col - 1]) for _, cells in rows)))
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(
        zip(header, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for label, cells in rows:
        lines.append("  ".join([label.ljust(widths[0]), *(c.rjust(w) for c, w in zip(
            cells, widths[1:], strict=True))]))
    return "\n".join(lines)


def comparison_table(report: Report) -> str:
    """The side-by-side table `roomsim compare` prints."""
    runs = report.runs
    title = (f"{report.scenario}: {runs[0].totals.participants} participants, "
             f"{report.duration_s:g} s simulated (measured over the last "
             f"{runs[0].measured_s:g} s), seed {report.seed}\n"
             "figures: simulated (closed form); per-participant figures are means")
    return title + "\n\n" + render(["", *(r.topology for r in runs)], comparison_rows(runs))


def participants_table(run: RunResult) -> str:
    """One row per participant, for `roomsim run`."""
    header = ["participant", "up kbps", "down kbps", "CPU cores", "p50 ms", "p99 ms", "loss %",
              "CPU drops"]
    rows = [(p.id, [_sim_vs(p.uplink_kbps, p.expected_uplink_kbps),
                    _sim_vs(p.downlink_kbps, p.expected_downlink_kbps),
                    f"{p.client_cpu_cores:.3f}/{p.client_cpu_budget_cores:g}",
                    _fmt(p.latency_ms.p50), _fmt(p.latency_ms.p99), _fmt(p.loss_pct, 2),
                    str(p.frames_dropped_cpu)]) for p in run.participants]
    return render(header, rows)
