"""The SFU's figures besides the packets: latency per region pair, the closed forms its
measured figures are checked against, and the details a result carries (adaptation,
placement, relays, backbone copies).

A base class of SfuTopology (roomsim.topologies.sfu), split from it so the forwarding tick
reads on its own; it names the attributes the topology sets up in `start` and reads them.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

from roomsim.extensions.node_jobs import NodeJobs
from roomsim.scenario.topology import SfuOptions
from roomsim.sfu.cascade import RegionGraph, Segments
from roomsim.sfu.controller import SfuController
from roomsim.sfu.plan import ForwardingTable
from roomsim.sfu.relays import Relays
from roomsim.sim.metrics import NS, LatencyHistograms, percentile_ms
from roomsim.topologies.base import Topology
from roomsim.topologies.expected import closed_form
from roomsim.topologies.servers import ServerSide
from roomsim.workload.rates import stream_rate

IntArray = npt.NDArray[np.int64]


class SfuFigures(Topology):
    """Closed forms, details and region-pair latency of the SFU (see SfuTopology)."""

    options: SfuOptions
    cascade: bool
    regions: RegionGraph | None
    servers: ServerSide
    relays: Relays | None
    control: SfuController
    extension_jobs: NodeJobs | None
    fanout: ForwardingTable
    segments: Segments
    n_streams: int
    room_of: IntArray
    receive_ns: npt.NDArray[np.float64]
    send_ns: npt.NDArray[np.float64]
    extra_workers: IntArray
    control_ns: int
    estimate_series: dict[int, list[float]]
    backbone_packets: IntArray | None
    origin_packets: IntArray
    pair_latency: LatencyHistograms | None
    participant_region: IntArray
    region_index: dict[str, int]
    _dirty: bool

    @abstractmethod
    def _membership(self, now: int) -> None:
        """Bring the plan up to date with who is present (SfuTopology)."""

    # -- latency per region pair -----------------------------------------------------------------
    def observes_plays(self) -> bool:
        return super().observes_plays() or self.pair_latency is not None

    def observe_plays(
        self, sub: IntArray, stream: npt.NDArray[np.integer], latency: IntArray, captured: IntArray,
        source: IntArray | None = None,
    ) -> None:
        """Besides the play listeners: latency per (publisher region, receiver region)."""
        super().observe_plays(sub, stream, latency, captured, source)
        if self.pair_latency is None:
            return
        w = self.world
        inside = (captured >= w.warmup_ns) & (captured < w.end_capture_ns)
        pub = w.streams.pub[stream[inside]]
        regions = len(self.region_index)
        owner = self.participant_region[pub] * regions + self.participant_region[sub[inside]]
        self.pair_latency.add(owner, w.streams.kind[stream[inside]], latency[inside])

    # -- closed forms and details ---------------------------------------------------------------
    def wire_plan(self) -> tuple[IntArray, IntArray]:
        """Every layer still sent up; the settled (stream, receiver) entries down."""
        if self._dirty:
            self._membership(0)
        receive, sending = self.control.closed_form_plan(as_arrays=True)
        sent = np.asarray(sending, dtype=np.int64)
        return np.stack([sent, np.ones_like(sent)], axis=1), np.asarray(receive, dtype=np.int64).reshape(-1, 2)

    def take_plis(self) -> IntArray:
        """Publishers the controller sent a PLI since the last call."""
        return self.control.publishers.take_plis()

    def expected(self) -> dict[str, Any]:
        """Uplink = every layer still sent (dynacast pauses the unwanted ones); downlink = the
        settled (stream, receiver) entries; node CPU = receive cost x ingress pps + send cost
        x egress pps (see roomsim.topologies.expected for how DTX, last-N and dynacast enter)."""
        if self._dirty:
            self._membership(0)
        w = self.world
        receive, sending = self.control.closed_form_plan()
        sent = [(s, 1) for s in sending]
        figures = closed_form(
            w,
            uplink=sent,
            receive=receive,
            encode=sent,
            server_cpu_cores={},
            node_of_room=None if self.cascade else self.servers.node_ids_of_rooms(),
            mesh=False,
        )
        if self.cascade:
            figures["servers"] = self._cascade_servers(figures)
        index = {node.id: k for k, node in enumerate(self.servers.nodes)}
        for node_id, server in figures["servers"].items():
            server["cpu_cores"] = self._closed_form_cpu(index[node_id], server)
        if self.extension_jobs is not None:
            self._closed_form_extensions(figures, receive, sending)
        figures["totals"]["server_cpu_cores"] = sum(
            v["cpu_cores"] for v in figures["servers"].values()
        )
        return figures

    def _closed_form_extensions(self, figures: dict[str, Any], receive: list[tuple[int, int]],
                                sending: list[int]) -> None:
        """Add each on-node egress/ingress's jobs to its node's cores (and to its own row,
        `extension_node_cpu_cores`, which its measured figure is checked against)."""
        assert self.extension_jobs is not None
        srv = self.servers
        for i, node_cores in self.extension_jobs.expected_cores(receive, list(sending)).items():
            cores = float(node_cores)
            home = int(srv.home[i]) if srv.home[i] >= 0 else max(int(srv.room_node[self.room_of[i]]), 0)
            figures["servers"][srv.nodes[home].id]["cpu_cores"] += cores
            figures["participants"][self.world.participants[i].id]["extension_node_cpu_cores"] = cores

    def _closed_form_cpu(self, k: int, server: dict[str, float]) -> float:
        """Busy cores of node k: every received packet and every sent copy at the profile's
        fixed + per-byte cost (wire bytes), plus the pipe copies of a piped room."""
        receive, send = self.receive_ns[k], self.send_ns[k]
        in_bytes, out_bytes = server["ingress_mbps"] * 1e6 / 8, server["egress_mbps"] * 1e6 / 8
        ns = (receive[0] * server["ingress_pps"] + receive[1] * in_bytes
              + send[0] * server["egress_pps"] + send[1] * out_bytes)
        ns += self.extra_workers[k] * ((receive[0] + send[0]) * server["ingress_pps"]
                                       + (receive[1] + send[1]) * in_bytes)
        return float(ns / 1e9)

    def _cascade_servers(self, figures: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Per node: its participants' up/down traffic plus one copy per relay segment."""
        w = self.world
        out = {
            node.id: {
                "ingress_mbps": 0.0,
                "egress_mbps": 0.0,
                "ingress_pps": 0.0,
                "egress_pps": 0.0,
            }
            for node in self.servers.nodes
        }
        for i, p in enumerate(w.participants):
            home = self.servers.home[i]
            if home < 0:
                continue
            f = figures["participants"][p.id]
            node = out[self.servers.nodes[home].id]
            node["ingress_mbps"] += f["uplink_kbps"] / 1e3
            node["ingress_pps"] += f["uplink_pps"]
            node["egress_mbps"] += f["downlink_kbps"] / 1e3
            node["egress_pps"] += f["downlink_pps"]
        _, _, end_node = self.segments.arrays()
        table = self.fanout
        m = self.n_streams
        for key, target in zip(table.key.tolist(), table.target.tolist(), strict=True):
            if target >= 0:
                continue
            rate = stream_rate(w, key % m)
            start, end = (
                self.servers.nodes[key // m].id,
                self.servers.nodes[end_node[-target - 1]].id,
            )
            out[start]["egress_mbps"] += rate.bps / 1e6
            out[start]["egress_pps"] += rate.pps
            out[end]["ingress_mbps"] += rate.bps / 1e6
            out[end]["ingress_pps"] += rate.pps
        return out

    def details(self) -> dict[str, Any]:
        """SFU figures beyond the common result: adaptation, keyframes, speakers, placement,
        relays and cascading."""
        w = self.world
        out = self.control.summary()
        out["estimate_kbps_series"] = {
            "interval_s": self.control_ns / NS,
            "participants": {w.participants[i].id: v for i, v in self.estimate_series.items()},
        }
        out["placement"] = [
            {"t_s": t, "room": room, "node": node} for t, room, node in self.servers.store.log
        ]
        seconds = (w.end_capture_ns - w.warmup_ns) / NS
        bytes_measured = w.links.counters.get("measured", "bytes")
        if self.relays is not None:
            out["relays"] = self.relays.details(w)
        if self.cascade and self.backbone_packets is not None:
            out["backbone"] = self._backbone_details(bytes_measured, seconds)
        if self.pair_latency is not None:
            out["region_pair_latency_ms"] = self._pair_latency()
        return out

    def _backbone_details(self, measured: IntArray, seconds: float) -> dict[str, Any]:
        """Per backbone link: measured rate, streams carried, and copies of each stream's
        packets relative to the packets its origin node received (1.0 = one copy)."""
        assert self.regions is not None and self.backbone_packets is not None
        links: list[dict[str, Any]] = []
        for (a, b), link in sorted(self.regions.link_of.items()):
            per_stream = self.backbone_packets[link]
            carried = np.flatnonzero(per_stream)
            copies = per_stream[carried] / np.maximum(self.origin_packets[carried], 1)
            links.append(
                {
                    "link": f"{a}>{b}",
                    "mbps": round(float(measured[link]) * 8e-6 / seconds, 4),
                    "streams": len(carried),
                    "max_copies_per_stream": round(float(copies.max()), 4) if len(carried) else 0.0,
                }
            )
        return {"links": links, "total_mbps": round(sum(float(x["mbps"]) for x in links), 4)}

    def _pair_latency(self) -> dict[str, Any]:
        assert self.pair_latency is not None
        names = list(self.region_index)
        regions = len(names)
        out = {}
        for owner in range(regions * regions):
            hist = self.pair_latency.counts[owner].sum(axis=0)
            if hist.sum() == 0:
                continue
            a, b = names[owner // regions], names[owner % regions]
            out[f"{a}>{b}"] = {
                "p50": round(percentile_ms(hist, 50) or 0.0, 3),
                "p95": round(percentile_ms(hist, 95) or 0.0, 3),
                "samples": int(hist.sum()),
            }
        return out
