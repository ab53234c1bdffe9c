"""The SFU's control plane, run between forwarding ticks: placement and joins, bandwidth
estimates from transport feedback, active speakers, layer allocation, dynacast and probes
(roomsim.sfu.controller), node load reports, and the forwarding tables the tick reads
(per stream for credit, per node and stream for fan-out, plus cascade relay segments).

A base class of SfuTopology (roomsim.topologies.sfu), split from it along the control /
data plane seam; it names the attributes the topology sets up in `start`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sfu.cascade import relay_tree
from roomsim.sfu.plan import INF, ForwardingTable
from roomsim.sim.metrics import NS
from roomsim.topologies.sfu_figures import SfuFigures
from roomsim.transport.feedback import FeedbackBuffer

IntArray = npt.NDArray[np.int64]

#: Bound on how long a packet can still be on its way to a node after its capture: the
#: deepest access queue, RTT and node queue of the presets stay far below (modelling choice).
IN_FLIGHT_GRACE_NS = 3 * NS


class SfuControlPlane(SfuFigures):
    """Control-plane steps of the SFU (see SfuTopology)."""

    credit: ForwardingTable
    feedback: FeedbackBuffer
    capture_streams: IntArray
    traced: list[int]
    stats_ns: int
    next_stats: int
    _busy_at_report: npt.NDArray[np.float64]
    stream_room: IntArray

    # -- control plane -------------------------------------------------------------------------
    def _membership(self, now: int) -> None:
        self.servers.place(now)
        w = self.world
        joined = [int(p) for p in np.flatnonzero(w.present & ~self.control.started)]
        for p in joined:
            self.participant_region[p] = self.region_index.get(
                self.servers.participant_region(p), 0
            )
        self.control.join(now, joined)
        if self.control.allocate(now):
            self._tables(now)
        w = self.world
        pub = np.maximum(w.streams.pub, 0)
        self.capture_streams = np.flatnonzero(self.control.candidates & w.present[pub])
        self._dirty = False

    def _control(self, now: int, capturing: bool) -> None:
        c = self.control
        if c.gcc:
            c.feedback(now, self.feedback)
        c.speakers(now)
        changed = c.allocate(now) if c.wants_dirty or (c.gcc and c.adaptive.any()) else False
        c.dynacast(now)
        if capturing:  # no probing while the run drains (its end depends on the tick)
            c.start_probes(now)
        if changed or c.plan.purge(now) or (not self.credit.exact and not c.plan.unsettled(now)):
            self._tables(now)
        for i in self.traced:
            self.estimate_series.setdefault(i, []).append(round(float(c.bwe.estimate[i]) / 1e3, 1))
        if self.stats_ns and now >= self.next_stats:
            self._report_stats(now)
            self.next_stats = now + self.stats_ns

    def _report_stats(self, now: int) -> None:
        cpus = self.world.cpus
        table = cpus.counters.get("total", "busy_ns")
        busy = np.array([table[pools].sum() for pools in self.servers.node_pools], dtype=np.float64)
        span = max(1, self.stats_ns if now >= self.stats_ns else now)
        load = (busy - self._busy_at_report) / (span * np.array([n.cores for n in self.servers.nodes]))
        self._busy_at_report = busy
        self.servers.report_stats(now, load)

    def _tables(self, now: int) -> None:
        """Rebuild the credit table (by stream) and the fan-out table (by node, stream)."""
        c = self.control
        plan = c.plan
        self.credit = plan.table(now)
        m = self.n_streams
        home = self.servers.home[plan.sub]
        keys, targets, starts, ends = [home * m + plan.stream], [plan.sub], [plan.start], [plan.end]
        if self.cascade:
            extra = self._segment_entries(now)
            for part, values in zip((keys, targets, starts, ends), extra, strict=True):
                part.append(values)
        self.fanout = ForwardingTable(
            len(self.servers.nodes) * m,
            np.concatenate(keys),
            np.concatenate(targets),
            np.concatenate(starts),
            np.concatenate(ends),
            now - IN_FLIGHT_GRACE_NS,
        )

    def _segment_entries(self, now: int) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Cascade: for every stream, the segments of its relay tree towards the nodes whose
        subscribers want it (one entry per segment at the segment's start node)."""
        assert self.regions is not None
        plan = self.control.plan
        srv = self.servers
        m = self.n_streams
        keys, targets = [], []
        by_stream: dict[int, set[int]] = {}
        for s, sub in zip(plan.stream.tolist(), plan.sub.tolist(), strict=True):
            by_stream.setdefault(s, set()).add(int(srv.home[sub]))
        for s, nodes in by_stream.items():
            origin = int(srv._stream_node[s])
            room = int(self.stream_room[s])
            room_nodes = srv.room_region_node[room]
            node_region = {k: srv.nodes[k].region for k in room_nodes.values()}
            needed = sorted({node_region[k] for k in nodes if k != origin and k in node_region})
            if not needed:
                continue
            origin_region = srv.nodes[origin].region
            for start_region, path in relay_tree(self.regions, origin_region, needed, room_nodes):
                first = self.segments.segment(self.regions, path, room_nodes[path[-1]])
                keys.append(room_nodes[start_region] * m + s)
                targets.append(-(first + 1))
        k = np.array(keys, dtype=np.int64)
        return (
            k,
            np.array(targets, dtype=np.int64),
            np.full(len(k), np.iinfo(np.int64).min),
            np.full(len(k), INF, dtype=np.int64),
        )
