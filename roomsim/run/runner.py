"""Build a World, run a topology through the tick loop, and read the counters out."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from roomsim.errors import ScenarioError
from roomsim.results.models import (
    LatencyHistogram,
    LinkResult,
    ParticipantResult,
    Percentiles,
    RunResult,
    ServerResult,
    Totals,
)
from roomsim.results.report_extras import participants_extras, run_extras
from roomsim.run.runtimes import attach, refuse
from roomsim.scenario.scenario import Scenario
from roomsim.sim.allocator import keep_freed_memory
from roomsim.sim.engine import run_ticks
from roomsim.sim.metrics import LATENCY_BINS_PER_DECADE, LATENCY_MIN_MS, NS, percentiles_rows_ms
from roomsim.sim.resources import Counters
from roomsim.topologies.base import Topology
from roomsim.topologies.registry import TOPOLOGY_CLASSES
from roomsim.workload.world import AUDIO, VIDEO, World


def simulate(scenario: Scenario, topology: str, seed: int, duration_s: float,
             on_tick: Callable[[float], None] | None = None) -> RunResult:
    """Run one topology on a scenario and return its results (`on_tick` is told the
    simulated seconds reached after every tick)."""
    if topology not in TOPOLOGY_CLASSES:
        raise ScenarioError(f"unknown topology {topology!r}; choose from {', '.join(TOPOLOGY_CLASSES)}",
                            field="topology")
    refuse(scenario, topology)
    keep_freed_memory()
    with _older_objects_set_aside():
        world = World(scenario, seed, duration_s)
        model = TOPOLOGY_CLASSES[topology](world)
        world.freeze()
        model.start()
        attach(world, model)
        world.start_processes()
        try:
            end_ns = run_ticks(world.env, world.tick_ns, world.end_capture_ns, world.horizon_ns,
                               model.tick, model.in_flight, on_tick)
            with _collector_paused():
                return collect(world, model, end_ns)
        finally:
            _release(world, model)


@contextmanager
def _older_objects_set_aside() -> Iterator[None]:
    """Every object that exists before the run (modules, pydantic schemas, the scenario,
    a previous run's results) is moved out of the cyclic collector's reach while the run
    lasts (`gc.freeze`), and handed back after. Building a world allocates enough objects
    to start full collections, and each scanned those ~10^5 old objects again (~0.14 s a
    run, 8 % of a 10 s cluster-100 run); none of them becomes garbage because of the run."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _release(*parts: object) -> None:
    """Drop everything the world and the topology hold once the results are read. simpy's
    processes, the topology's parts and their callbacks all point back at the world, so
    without this a finished run's tables (tens of MB for thousands of participants) stay
    until Python's cycle collector next runs a full pass, and the next run of the process
    (the next topology of a compare, the next point of a sweep) is built beside them."""
    for part in parts:
        vars(part).clear()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while results are built: tens of thousands of
    result objects (a 3,000-viewer run) would start a full collection over every object
    of the process several times, ~40 % of building them; they hold no reference cycles
    to reclaim. The previous setting is restored."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _percentiles_of(histograms: np.ndarray, raw: list[list[float | None]] | None = None) -> list[dict[str, Any]]:
    """Latency percentiles (rounded ms) and sample count of each row of a (rows, bins) table
    (`raw`: its unrounded p50, p95, p99 when already computed)."""
    samples = histograms.sum(axis=1).tolist()
    raw = percentiles_rows_ms(histograms, (50, 95, 99)) if raw is None else raw
    return [{"p50": _round(p50), "p95": _round(p95), "p99": _round(p99), "samples": count}
            for (p50, p95, p99), count in zip(raw, samples, strict=True)]


def _percentiles(histogram: np.ndarray) -> Percentiles:
    return Percentiles(**_percentiles_of(histogram[None, :])[0])


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 4) if whole > 0 else 0.0


def _pct_rows(part: np.ndarray, whole: np.ndarray) -> list[float]:
    """`_pct` of integer counts, element by element: 100 part / whole in float64 rounded as
    numpy rounds its own floats (`round` of a numpy float is numpy's rounding), 0 where
    nothing was owed."""
    share = np.zeros(len(whole))
    owed = whole > 0
    share[owed] = np.round(100.0 * part[owed] / whole[owed], 4)
    return share.tolist()


def _round_all(values: list[Any], digits: int) -> list[float]:
    """`round(v, digits)` of each value, keeping how each type rounds: numpy floats with
    numpy's rounding (in one call), Python floats with Python's."""
    if values and all(type(v) is np.float64 for v in values):
        return np.round(np.array(values), digits).tolist()  # type: ignore[no-any-return]
    return [float(round(v, digits)) for v in values]


def _participants(world: World, model: Topology, seconds: float, expected: dict[str, Any]
                  ) -> Iterator[dict[str, Any]]:
    """Every participant's result fields, computed column by column over all participants
    (each figure the same float the per-participant arithmetic gave), one participant's
    fields at a time (so they are validated and dropped one by one)."""
    links, cpus = world.links.counters, world.cpus.counters
    up, down = world.uplink, world.downlink
    columns: dict[str, list[Any]] = {}
    for field, name, scale, digits in (("kbps", "bytes", 8e-3, 3), ("payload_kbps", "payload_bytes", 8e-3, 3),
                                       ("pps", "packets", 1.0, 3)):
        measured = links.get("measured", name)
        for side, index in (("uplink", up), ("downlink", down)):
            columns[f"{side}_{field}"] = [round(x, digits) for x in (measured[index] * scale / seconds).tolist()]
    crossed = links.get("measured", "bytes") - links.get("measured", "dropped_bytes")
    for side, index in (("uplink", up), ("downlink", down)):
        columns[f"{side}_carried_kbps"] = [round(x / 1e3, 3) for x in
                                           (crossed[index].astype(np.float64) * 8 / seconds).tolist()]
    busy = cpus.get("measured", "busy_ns")
    cpu = (busy[world.encoder] + busy[world.decoder]) / NS / seconds
    columns["client_cpu_cores"] = [round(x, 5) for x in cpu.tolist()]
    counts = world.latency.counts
    audio = percentiles_rows_ms(counts[:, AUDIO], (50, 95, 99))
    columns["latency_ms"] = _percentiles_of(counts.sum(axis=1))
    columns["audio_latency_ms"] = _percentiles_of(counts[:, AUDIO], audio)
    columns["video_latency_ms"] = _percentiles_of(counts[:, VIDEO])
    columns["loss_pct"] = _pct_rows(world.expected_packets - world.received_packets, world.expected_packets)
    columns["frame_loss_pct"] = _pct_rows(world.expected_frames - world.frames_decoded, world.expected_frames)
    total = links.get("total", "packets")
    dropped = links.get("total", "dropped_queue") + links.get("total", "dropped_loss")
    columns["uplink_loss_pct"] = _pct_rows(dropped[up], total[up])
    columns["frames_decoded"] = world.frames_decoded.tolist()
    columns["frames_dropped_cpu"] = world.frames_dropped_cpu.tolist()
    wants = [expected["participants"][p.id] for p in world.participants]
    for field, key, digits in (("expected_uplink_kbps", "uplink_kbps", 3),
                               ("expected_downlink_kbps", "downlink_kbps", 3),
                               ("expected_client_cpu_cores", "client_cpu_cores", 5)):
        columns[field] = _round_all([want[key] for want in wants], digits)
    extras = participants_extras(world, model, [p50 for p50, _, _ in audio])
    for i, (p, more) in enumerate(zip(world.participants, extras, strict=True)):
        row = {name: column[i] for name, column in columns.items()}
        row.update(id=p.id, room=world.scenario.rooms[p.room].id, device=p.group.device,
                   uplink_capacity_kbps=world.networks[i].uplink_kbps,
                   downlink_capacity_kbps=world.networks[i].downlink_kbps,
                   client_cpu_budget_cores=p.budget_cores, **more)
        yield row


def collect(world: World, model: Topology, end_ns: int) -> RunResult:
    """Turn counters into the result model (rates over the measurement interval)."""
    seconds = (world.end_capture_ns - world.warmup_ns) / NS
    links = world.links.counters
    expected = model.expected()
    participants = [ParticipantResult.model_validate(row) for row in _participants(world, model, seconds, expected)]
    servers = _servers(world, model, seconds)
    delivered = world.links.delivered().tolist()
    sent_packets = links.get("total", "packets").tolist()
    dropped_queue = links.get("total", "dropped_queue").tolist()
    dropped_loss = links.get("total", "dropped_loss").tolist()
    sent_bytes = links.get("total", "bytes").tolist()
    link_results = [LinkResult(name=name, sent_packets=sent_packets[j], delivered_packets=delivered[j],
                               dropped_queue=dropped_queue[j], dropped_loss=dropped_loss[j], sent_bytes=sent_bytes[j])
                    for j, name in enumerate(world.links.names)]
    sent = sum(sent_packets[:len(link_results)])
    crossed = sum(delivered[:len(link_results)])
    totals = Totals(
        participants=len(participants),
        uplink_mbps=round(sum(p.uplink_kbps for p in participants) / 1e3, 4),
        downlink_mbps=round(sum(p.downlink_kbps for p in participants) / 1e3, 4),
        server_ingress_mbps=round(sum(s.ingress_mbps for s in servers), 4),
        server_egress_mbps=round(sum(s.egress_mbps for s in servers), 4),
        server_cpu_cores=round(sum(s.cpu_cores for s in servers), 5),
        client_cpu_cores=round(sum(p.client_cpu_cores for p in participants), 5),
        packets_sent=sent, packets_delivered=crossed, packets_dropped=sent - crossed,
        latency_ms=_percentiles(world.latency.counts.sum(axis=(0, 1))),
        loss_pct=_pct(int(world.expected_packets.sum() - world.received_packets.sum()),
                      int(world.expected_packets.sum())))
    return RunResult(topology=model.name, measured_s=seconds, simulated_s=end_ns / NS,
                     participants=participants, servers=servers, links=link_results, totals=totals,
                     expected=_rounded(expected), series=_series(world, model),  # type: ignore[arg-type]
                     latency_histogram=_latency_histogram(world),
                     details=_rounded(getattr(model, "details", dict)()),  # type: ignore[arg-type]
                     **run_extras(world, model))


def _latency_histogram(world: World) -> LatencyHistogram:
    """The run's latency samples per media kind, summed over receivers (for CDF charts)."""
    kinds = world.latency.counts.sum(axis=0)
    return LatencyHistogram(bins_per_decade=LATENCY_BINS_PER_DECADE, min_ms=LATENCY_MIN_MS,
                            audio=kinds[AUDIO].tolist(), video=kinds[VIDEO].tolist())


def _servers(world: World, model: Topology, seconds: float) -> list[ServerResult]:
    servers = getattr(model, "servers", None)
    if servers is None:
        return _relay_servers(world, getattr(model, "relays", None), seconds)
    links, cpus = world.links.counters, world.cpus.counters
    out = []
    for k, node in enumerate(servers.nodes):
        nic_in, nic_out, cpu = int(servers.nic_in[k]), int(servers.nic_out[k]), servers.node_pools[k]
        cores = float(cpus.get("measured", "busy_ns")[cpu].sum()) / NS / seconds
        out.append(ServerResult(
            id=node.id, region=node.region, cores=node.cores,
            ingress_mbps=round(float(links.get("measured", "bytes")[nic_in]) * 8e-6 / seconds, 4),
            egress_mbps=round(float(links.get("measured", "bytes")[nic_out]) * 8e-6 / seconds, 4),
            ingress_pps=round(float(links.get("measured", "packets")[nic_in]) / seconds, 3),
            egress_pps=round(float(links.get("measured", "packets")[nic_out]) / seconds, 3),
            cpu_cores=round(cores, 5), cpu_util_pct=round(100 * cores / node.cores, 3),
            cpu_dropped_jobs=int(cpus.get("total", "dropped")[cpu].sum()),
            nic_dropped_packets=int(links.get("total", "dropped_queue")[nic_in]
                                    + links.get("total", "dropped_queue")[nic_out]),
            ingress_carried_mbps=round(_carried_bits(links, nic_in, seconds) / 1e6, 4),
            egress_carried_mbps=round(_carried_bits(links, nic_out, seconds) / 1e6, 4)))
    return out


def _carried_bits(links: Counters, index: int, seconds: float) -> float:
    """Bits per second a link carried in the measurement window: offered bytes less the
    bytes it dropped (queue overflow, random loss)."""
    crossed = links.get("measured", "bytes")[index] - links.get("measured", "dropped_bytes")[index]
    return float(crossed) * 8 / seconds


def _relay_servers(world: World, relays: Any, seconds: float) -> list[ServerResult]:
    """A mesh's TURN relays as servers: what they forward between relayed peers (the relay
    receives and sends the same packets; no media CPU is modelled on a relay)."""
    if relays is None:
        return []
    links = world.links.counters
    out = []
    for k, link in enumerate(int(x) for x in relays.to_client):
        mbps = round(float(links.get("measured", "bytes")[link]) * 8e-6 / seconds, 4)
        pps = round(float(links.get("measured", "packets")[link]) / seconds, 3)
        out.append(ServerResult(id=f"turn-{k + 1}", region="relay", cores=0.0, ingress_mbps=mbps, egress_mbps=mbps,
                                ingress_pps=pps, egress_pps=pps, cpu_cores=0.0, cpu_util_pct=0.0, cpu_dropped_jobs=0,
                                nic_dropped_packets=int(links.get("total", "dropped_queue")[link])))
    return out


#: Rooms up to this size also get one series per participant (topology animations need
#: them); larger runs keep only the room-wide means, so a report stays a few MB at most.
PARTICIPANT_SERIES_MAX = 64


def _series(world: World, model: Topology) -> dict[str, object]:
    """Per-window server egress and CPU and client bandwidth, for charts over time."""
    width = world.windows.width_ns / NS
    used = int(np.ceil(world.horizon_ns / world.windows.width_ns))
    out: dict[str, object] = {"window_s": width, "server_egress_mbps": {}, "server_cpu_cores": {}}
    out.update(_client_series(world, width, used))
    servers = getattr(model, "servers", None)
    if servers is not None:
        egress = world.links.counters.get("series", "bytes")
        busy = world.cpus.counters.get("series", "busy_ns")
        for k, node in enumerate(servers.nodes):
            out["server_egress_mbps"][node.id] = [  # type: ignore[index]
                round(float(x) * 8e-6 / width, 4) for x in egress[servers.nic_out[k], :used]]
            out["server_cpu_cores"][node.id] = [  # type: ignore[index]
                round(float(x) / NS / width, 5)
                for x in busy[servers.node_pools[k], :used].sum(axis=0)]
    return out


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, np.floating):
        return round(float(value), 5)
    return value


def _client_series(world: World, width: float, used: int) -> dict[str, object]:
    """Client uplink/downlink kbps and CPU cores per window: means over all participants,
    and one series per participant in rooms small enough to draw."""
    link_bytes = world.links.counters.get("series", "bytes")
    busy = world.cpus.counters.get("series", "busy_ns")
    up = link_bytes[world.uplink, :used] * 8e-3 / width
    down = link_bytes[world.downlink, :used] * 8e-3 / width
    cpu = (busy[world.encoder, :used] + busy[world.decoder, :used]) / NS / width
    out: dict[str, object] = {
        "mean_uplink_kbps": [round(float(x), 3) for x in up.mean(axis=0)],
        "mean_downlink_kbps": [round(float(x), 3) for x in down.mean(axis=0)]}
    if len(world.participants) <= PARTICIPANT_SERIES_MAX:
        ids = [p.id for p in world.participants]
        for name, table, digits in (("participant_uplink_kbps", up, 3),
                                    ("participant_downlink_kbps", down, 3),
                                    ("participant_cpu_cores", cpu, 5)):
            out[name] = {pid: [round(float(x), digits) for x in row]
                         for pid, row in zip(ids, table, strict=True)}
    return out
