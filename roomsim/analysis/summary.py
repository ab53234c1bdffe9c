"""One flat record of figures per run: what charts, reports and sweep tables are drawn from.

A run read from `report.json` and a sweep point read from its stored rows give the same
record, so every chart works on both. Simulated figures sit next to their closed forms
(`expected_*`); a figure that does not exist for a topology (a mesh has no media server)
is None, never zero, so a chart leaves it out instead of drawing a false point.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

import numpy as np

from roomsim.results.models import Percentiles, Report, RunResult, participant_rows
from roomsim.sim.metrics import percentile_ms

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
        # the picture each viewer got (time-weighted pixels of the video received): what a
        # closed-loop sender gives up instead of dropping packets
        "mean_video_pixels": _mean([p.quality.video_pixels for p in people
                                    if p.quality is not None and p.quality.video_pixels is not None]),
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
        **_voice(run),
        **_data_plane(run),
        **_regions(run),
    }


#: Prefixes of the per-region-pair latency figures: `region_p50_ms:eu>us` (publisher's
#: region > subscriber's region), from the run's `details.region_pair_latency_ms`.
REGION_P50, REGION_P95 = "region_p50_ms:", "region_p95_ms:"


def _voice(run: RunResult) -> Summary:
    """Audio as listeners hear it: capture-to-playout percentiles over every played audio
    frame of the run (the same log-binned histogram the run's totals are read from), and
    the E-model figures of `participants[].quality`, averaged over the listeners."""
    histogram = run.latency_histogram
    audio = np.asarray(histogram.audio, dtype=np.int64) if histogram is not None else None
    heard = [p.quality for p in run.participants
             if p.quality is not None and p.quality.audio_mos is not None]

    def pct(q: float) -> float | None:
        value = percentile_ms(audio, q) if audio is not None else None
        return None if value is None else round(value, 3)

    return {
        "audio_latency_p50_ms": pct(50),
        "audio_latency_p99_ms": pct(99),
        "audio_loss_pct": _mean([q.audio_loss_pct for q in heard]),
        "audio_mos": _mean([float(q.audio_mos) for q in heard if q.audio_mos is not None]),
    }


def _data_plane(run: RunResult) -> Summary:
    """Room-wide data plane: wire rate, message/RPC/attribute/metadata latencies, and the
    share of data messages that never arrived (lossy channels drop them for good)."""
    data = run.data_plane
    if data is None or data.messages_sent == 0:
        return dict.fromkeys(("data_wire_kbps", "data_message_p50_ms", "data_message_p99_ms",
                              "data_lost_pct", "rpc_rtt_p50_ms", "rpc_rtt_p99_ms",
                              "attribute_p99_ms", "metadata_p99_ms"))
    arrived_or_lost = data.deliveries + data.lost

    def at(stats: Percentiles, name: str) -> float | None:
        return getattr(stats, name) if stats.samples else None

    return {
        "data_wire_kbps": data.wire_kbps,
        "data_message_p50_ms": at(data.message_latency_ms, "p50"),
        "data_message_p99_ms": at(data.message_latency_ms, "p99"),
        # Mesh runs only: through a node (SFU/MCU) the engine counts a lossy message as lost
        # only on a recipient's downlink; one lost on the sender's uplink, before the node
        # fans it out, is counted for nobody (roomsim/dataplane/engine.py `_fly`), so the
        # share would be understated.
        "data_lost_pct": (round(100 * data.lost / arrived_or_lost, 4)
                          if arrived_or_lost and run.topology == "mesh" else None),
        "rpc_rtt_p50_ms": at(data.rpc_rtt_ms, "p50"),
        "rpc_rtt_p99_ms": at(data.rpc_rtt_ms, "p99"),
        "attribute_p99_ms": at(data.attribute_latency_ms, "p99"),
        "metadata_p99_ms": at(data.metadata_latency_ms, "p99"),
    }


def _regions(run: RunResult) -> Summary:
    """Across regions (SFU runs with a `regions` graph): the measured backbone rate of a
    cascade, and capture-to-decode p50/p95 per (publisher region > subscriber region)."""
    out: Summary = {}
    backbone = run.details.get("backbone")
    if isinstance(backbone, dict) and "total_mbps" in backbone:
        out["backbone_mbps"] = backbone["total_mbps"]
        for link in backbone.get("links", []):
            out[f"backbone_mbps:{link['link']}"] = link["mbps"]
    pairs = run.details.get("region_pair_latency_ms")
    if isinstance(pairs, dict):
        for pair, stats in pairs.items():
            out[f"{REGION_P50}{pair}"] = stats.get("p50")
            out[f"{REGION_P95}{pair}"] = stats.get("p95")
    return out


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
