"""Plain-language findings whose every number is read from the experiment's own results.

Nothing here is canned: each sentence is built only when the figures it quotes exist
(a mesh has no server to quote, a sweep without a knee has no break point to name).
"""

from __future__ import annotations

from roomsim.analysis.aggregate import (
    GATE_LABELS,
    GATE_UNITS,
    Knee,
    cost_per_participant_hour,
    knees,
    series,
    series_label,
)
from roomsim.analysis.experiment import Experiment, RunRecord
from roomsim.analysis.settings import Prices, QualityGate
from roomsim.sim.headers import SRTP_AUTH_TAG_BYTES

#: The closed-form gap worth a sentence (below it, simulation and formula simply agree).
NOTABLE_GAP_PCT = 2.0


def num(value: float, digits: int = 3) -> str:
    """A figure to `digits` significant digits with thousands separators (no 1e+03)."""
    if float(value).is_integer():
        return f"{int(value):,}"
    magnitude = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    decimals = max(0, digits - magnitude) if abs(value) >= 1 else digits
    text = f"{value:,.{decimals}f}"
    if abs(value) < 1:
        text = f"{value:.{digits}g}"
    return text


def dollars(value: float) -> str:
    """US dollars: cents to a tenth of a cent, smaller sums to two significant figures."""
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.3f}" if value >= 0.01 else f"${value:.2g}"


def _by_topology(experiment: Experiment) -> dict[str, RunRecord]:
    return {r.topology: r for r in experiment.records}


def _server_sentence(record: RunRecord) -> str | None:
    f = record.figures
    if f.get("server_egress_mbps") is None:
        return None
    what = {"sfu": "forwarded", "mcu": "sent"}.get(record.topology, "sent")
    if f.get("servers", 1) > 1:
        load = (f"on {f['servers']} nodes with {num(f['server_cores'])} cores in all, the "
                f"busiest at {num(f['server_cpu_util_pct'], 2)} %")
    else:
        load = f"{num(f['server_cpu_util_pct'], 2)} % of its {num(f['server_cores'])}"
    return (f"The {record.topology.upper()} {what} {num(f['server_egress_mbps'])} Mbps using "
            f"{num(f['server_cpu_cores'])} cores ({load}); each participant uploaded "
            f"{num(f['mean_uplink_kbps'])} kbps and downloaded "
            f"{num(f['mean_downlink_kbps'])} kbps.")


def _mesh_sentence(record: RunRecord) -> str:
    f = record.figures
    return (f"In the mesh no server touches media: each participant uploaded "
            f"{num(f['mean_uplink_kbps'])} kbps (one copy per peer, closed form "
            f"{num(f['expected_mean_uplink_kbps'])}) and downloaded "
            f"{num(f['mean_downlink_kbps'])} kbps.")


def _contrast(records: dict[str, RunRecord]) -> str | None:
    sfu, mcu = records.get("sfu"), records.get("mcu")
    if sfu is None or mcu is None:
        return None
    s, m = sfu.figures, mcu.figures
    if not s.get("server_cpu_cores") or not m.get("server_egress_mbps"):
        return None
    cpu_ratio = m["server_cpu_cores"] / s["server_cpu_cores"]
    return (f"For the same room the MCU needed {num(cpu_ratio, 2)}x "
            f"the SFU's CPU ({num(m['server_cpu_cores'])} vs {num(s['server_cpu_cores'])} cores) "
            f"while the SFU sent {num(s['server_egress_mbps'] / m['server_egress_mbps'], 2)}x the "
            f"MCU's egress: decoding and re-encoding trades bandwidth for CPU.")


def _latency(records: list[RunRecord]) -> str | None:
    parts = [f"{r.topology} {num(r.figures['latency_p95_ms'])} ms" for r in records
             if r.figures.get("latency_p95_ms") is not None]
    if not parts:
        return None
    return "Latency p95, capture to decoded, over all frames: " + ", ".join(parts) + "."


def _gap(records: list[RunRecord]) -> str | None:
    """The largest relative gap between a simulated bandwidth/CPU figure and its closed form."""
    worst: tuple[float, RunRecord, str] | None = None
    for record in records:
        for metric in ("mean_uplink_kbps", "mean_downlink_kbps", "server_egress_mbps",
                       "server_cpu_cores"):
            sim, exp = record.figures.get(metric), record.figures.get(f"expected_{metric}")
            if sim is None or not exp:
                continue
            gap = 100 * abs(sim - exp) / exp
            if worst is None or gap > worst[0]:
                worst = (gap, record, metric)
    if worst is None:
        return None
    gap, record, metric = worst
    names = {"mean_uplink_kbps": "upload per participant", "mean_downlink_kbps":
             "download per participant", "server_egress_mbps": "server egress",
             "server_cpu_cores": "server CPU"}
    text = (f"Simulation and closed form agree within {num(gap, 2)} % on every bandwidth and "
            f"CPU figure (largest gap: {record.topology} {names[metric]})")
    if gap >= NOTABLE_GAP_PCT:
        text += (f"; closed forms assume lossless links and long-run averages, and that run lost "
                 f"{num(record.figures.get('loss_pct') or 0, 2)} % of its packets")
    return text + "."


def _encryption_sentence(records: list[RunRecord]) -> str | None:
    """What SRTP's per-packet authentication tag and all headers cost on the wire."""
    parts = []
    for record in records:
        f = record.figures
        if f.get("server_egress_pps"):
            tag_mbps = f["server_egress_pps"] * SRTP_AUTH_TAG_BYTES * 8 / 1e6
            share = 100 * tag_mbps / f["server_egress_mbps"]
            parts.append(f"{record.topology} server: {num(f['server_egress_pps'])} packets/s out, "
                         f"{num(tag_mbps)} Mbps of tags ({num(share, 2)} % of its egress)")
        elif f.get("mean_downlink_pps"):
            tag_kbps = f["mean_downlink_pps"] * SRTP_AUTH_TAG_BYTES * 8 / 1e3
            parts.append(f"{record.topology}: {num(tag_kbps)} kbps of tags in each participant's "
                         f"download ({num(100 * tag_kbps / f['mean_downlink_kbps'], 2)} %)")
    if not parts:
        return None
    text = (f"Encryption on the wire: every media packet carries a {SRTP_AUTH_TAG_BYTES}-byte SRTP "
            "authentication tag (RFC 3711) - " + "; ".join(parts) + ".")
    headers = [(r.topology, 100 * (1 - r.figures["mean_downlink_payload_kbps"]
                                   / r.figures["mean_downlink_kbps"]))
               for r in records if r.figures.get("mean_downlink_payload_kbps")
               and r.figures.get("mean_downlink_kbps")]
    if headers:
        text += (" All headers together (IP, UDP, RTP, extensions, SRTP) are "
                 + ", ".join(f"{num(share, 2)} % ({topology})" for topology, share in headers)
                 + " of what a participant downloads.")
    return text


def _cost_sentence(records: list[RunRecord], prices: Prices) -> str | None:
    parts = []
    for record in records:
        cost = cost_per_participant_hour(record.figures, prices)
        if cost.has_server:
            parts.append(f"{record.topology} {dollars(cost.total_usd)} (egress "
                         f"{dollars(cost.egress_usd)}, CPU {dollars(cost.cpu_usd)})")
    if not parts:
        return None
    return (f"At ${prices.egress_usd_per_gb:g}/GB egress and ${prices.core_hour_usd:g} per "
            f"core-hour the media server costs, per participant-hour: " + "; ".join(parts) + ".")


def _gate_sentence(records: list[RunRecord], gate: QualityGate) -> str:
    broken = []
    for record in records:
        for metric, limit in gate.limits().items():
            value = record.figures.get(metric)
            if value is not None and value > limit:
                broken.append(f"{record.topology} ({GATE_LABELS[metric]} {num(value)} "
                              f"{GATE_UNITS[metric]} > {limit:g})")
                break
    if not broken:
        return "Every topology stayed within the quality gate."
    return "Over the quality gate: " + ", ".join(broken) + "."


def explain_runs(experiment: Experiment, prices: Prices, gate: QualityGate) -> list[str]:
    """Findings for a run or comparison of one scenario."""
    records = experiment.records
    people = records[0].figures["participants"]
    out = [f"{people} participants in {records[0].figures['rooms']} room(s), "
           f"{len(records)} topolog{'y' if len(records) == 1 else 'ies'} compared."]
    for record in records:
        sentence = _server_sentence(record) if record.figures.get("server_egress_mbps") \
            is not None else _mesh_sentence(record)
        if sentence:
            out.append(sentence)
    for sentence in (_contrast(_by_topology(experiment)), _latency(records), _gap(records),
                     _encryption_sentence(records), _cost_sentence(records, prices),
                     _gate_sentence(records, gate)):
        if sentence:
            out.append(sentence)
    return out


def explain_sweep(experiment: Experiment, prices: Prices, gate: QualityGate) -> list[str]:
    """Findings for a sweep over room sizes: growth, knees, cost."""
    sizes = experiment.room_sizes
    seeds = len({r.seed for r in experiment.records})
    out = [f"{len(experiment.records)} runs: room sizes {', '.join(str(s) for s in sizes)}; "
           f"{', '.join(experiment.topologies)}; {seeds} seed(s) each."]
    found = knees(experiment, gate)
    ordered = sorted(found.items(), key=lambda kv: (kv[1] is None, kv[1].size if kv[1] else 0))
    for label, knee in ordered:
        if knee is None:
            out.append(f"{label} stayed within every limit up to {sizes[-1]} participants.")
            continue
        before = (f"; at {knee.last_ok} it was still within every limit"
                  if knee.last_ok is not None else "")
        out.append(f"{label} breaks at {knee.size} participants: {GATE_LABELS[knee.metric]} "
                   f"{num(knee.value)} {GATE_UNITS[knee.metric]} over the {knee.limit:g} "
                   f"{GATE_UNITS[knee.metric]} limit{before}.")
    for metric, what, unit in (("server_egress_mbps", "server egress", "Mbps"),
                               ("server_cpu_cores", "server CPU", "cores"),
                               ("mean_uplink_kbps", "upload per participant", "kbps")):
        for label, points in series(experiment, metric).items():
            if len(points) < 2 or points[0].mean <= 0:
                continue
            first, last = points[0], points[-1]
            growth = last.mean / first.mean
            if growth < 1.5:
                continue
            out.append(f"{label}: {what} grew from {num(first.mean)} to {num(last.mean)} {unit} "
                       f"(x{num(growth, 2)}) while the room grew x{num(last.size / first.size, 2)} "
                       f"({first.size} -> {last.size}).")
    out.extend(_sweep_cost(experiment, prices, found))
    return out


def _sweep_cost(experiment: Experiment, prices: Prices, found: dict[str, Knee | None]
                ) -> list[str]:
    """Cost per participant-hour at the largest size every server topology still passes."""
    labels = {id(r): series_label(r, experiment) for r in experiment.records}
    with_server = {labels[id(r)] for r in experiment.records
                   if r.figures.get("server_egress_mbps") is not None}
    passing = [k.last_ok for label, k in found.items()
               if label in with_server and k is not None and k.last_ok is not None]
    size = min(passing) if passing else experiment.room_sizes[-1]
    parts = []
    for label in dict.fromkeys(labels.values()):
        costs = [cost_per_participant_hour(r.figures, prices) for r in experiment.records
                 if labels[id(r)] == label and int(r.figures["room_size"]) == size]
        if costs and costs[0].has_server:
            total = sum(c.total_usd for c in costs) / len(costs)
            parts.append(f"{label} {dollars(total)}")
    if not parts:
        return []
    return [f"Server cost per participant-hour at {size} participants "
            f"(${prices.egress_usd_per_gb:g}/GB, ${prices.core_hour_usd:g}/core-hour): "
            + ", ".join(parts) + "."]


def explain_setting_sweep(experiment: Experiment, gate: QualityGate) -> list[str]:
    """Findings for a sweep over a setting at one room size: how each series' figures move
    from the first setting value to the last, where the gate first breaks, and (with
    regions) what crosses between regions."""
    from roomsim.analysis.deployment import between_regions_mbps, has_regions, record_label
    from roomsim.analysis.setting import (
        DATA_PANELS,
        LOAD_PANELS,
        VOICE_PANELS,
        axis_title,
        axis_values,
        setting_axis,
        setting_knees,
        setting_series,
        shown_value,
    )

    axis = setting_axis(experiment) or ""
    values = axis_values(experiment)
    seeds = len({r.seed for r in experiment.records})
    out = [f"{len(experiment.records)} runs: {axis_title(axis)} = "
           f"{', '.join(shown_value(v) for v in values)}; {seeds} seed(s) each."]
    for metric, title, unit in (*VOICE_PANELS, *DATA_PANELS, *LOAD_PANELS):
        for label, points in setting_series(experiment, metric).items():
            if len(points) < 2:
                continue
            first, last = points[0], points[-1]
            if abs(last.mean - first.mean) <= 0.02 * max(abs(first.mean), abs(last.mean)):
                continue  # unchanged across the sweep: not a finding
            short = unit.split(" (")[0]
            out.append(f"{label}: {title}: {num(first.mean)} {short} at {shown_value(first.value)} "
                       f"-> {num(last.mean)} {short} at {shown_value(last.value)}.")
    for label, knee in setting_knees(experiment, gate).items():
        if knee is None:
            out.append(f"{label} stays within the quality gate at every value.")
        else:
            out.append(f"{label} first breaks the gate at {shown_value(knee.value)}: {GATE_LABELS[knee.metric]} "
                       f"{num(knee.mean)} {GATE_UNITS[knee.metric]} > {knee.limit:g}.")
    if has_regions(experiment):
        parts = []
        for record in experiment.records:
            traffic = between_regions_mbps(experiment, record)
            if traffic is not None:
                parts.append(f"{record_label(experiment, record)} {num(sum(traffic.values()))} Mbps")
        if parts:
            out.append("Traffic between regions, both directions: " + "; ".join(parts) + ".")
    return out


def explain(experiment: Experiment, prices: Prices, gate: QualityGate) -> list[str]:
    """Findings for whatever kind of experiment this is."""
    from roomsim.analysis.setting import is_setting_sweep

    if is_setting_sweep(experiment):
        return explain_setting_sweep(experiment, gate)
    if experiment.kind == "sweep":
        return explain_sweep(experiment, prices, gate)
    return explain_runs(experiment, prices, gate)
