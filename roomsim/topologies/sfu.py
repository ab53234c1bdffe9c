"""SFU: one copy of every layer up; the node forwards one copy per receiver.

The node never decodes media. It pays a per-packet cost on receive and per copy on send
(from the cost profile's `forwarding`, derived from published SFU benchmarks), and picks
for each receiver the simulcast layer of each video track that fits its downlink.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roomsim.expected import closed_form, stream_rate
from roomsim.sim.packets import Packets, rows
from roomsim.topologies.base import Subscriptions, Topology
from roomsim.topologies.servers import ServerSide
from roomsim.world import AUDIO, World


class SfuTopology(Topology):
    """Selective forwarding through one node per room."""

    name = "sfu"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.options = world.scenario.topology.sfu
        self.servers = ServerSide(world)
        self.uplinks = self.stage("uplink", merging=True)
        self.node_in = self.stage("node-in", merging=True)
        self.node_cpu = self.stage("node-cpu")
        self.node_out = self.stage("node-out")
        self.downlinks = self.stage("downlink")
        self.clients = self.stage("client")
        self._dirty = True

    def start(self) -> None:
        super().start()
        self.servers.start()
        self.rate_bps = [stream_rate(self.world, s).bps for s in range(len(self.world.streams))]
        fwd = self.world.costs.forwarding
        self.ingress_ns = round(fwd.ingress_us_per_packet * 1e3)
        self.egress_ns = round(fwd.egress_us_per_packet * 1e3)

    # -- planning ---------------------------------------------------------------------
    def replan(self) -> None:
        """Mark the plan stale; it is rebuilt once at the next tick (joins come in bursts)."""
        self._dirty = True

    def _plan(self) -> None:
        w = self.world
        st = w.streams
        self.sent_streams = np.flatnonzero(
            (st.pub >= 0) & w.present[np.maximum(st.pub, 0)] & (self.options.simulcast | st.top))
        pairs_stream: list[int] = []
        pairs_sub: list[int] = []
        for members in w.room_members:
            present = [p for p in members if w.present[p]]
            for sub in present:
                if not w.participants[sub].group.subscribe:
                    continue
                for s in self.choose_layers(sub, [p for p in present if p != sub]):
                    pairs_stream.append(s)
                    pairs_sub.append(sub)
        self.subs = Subscriptions(len(st), len(w.participants),
                                  np.array(pairs_stream, dtype=np.int64), np.array(pairs_sub, dtype=np.int64))
        self._dirty = False

    def choose_layers(self, sub: int, publishers: list[int]) -> list[int]:
        """Streams `sub` receives: every audio track, and per video track the highest
        layers that fit `headroom` x downlink, upgraded round-robin from the lowest."""
        w = self.world
        budget = self.options.headroom * w.networks[sub].downlink_kbps * 1e3
        chosen: list[int] = []
        video: list[list[int]] = []
        publishing = set(publishers)
        for t, pub in enumerate(w.track_pub):
            if pub not in publishing:
                continue
            layers = w.track_streams[t] if self.options.simulcast else w.track_streams[t][-1:]
            if w.track_kind[t] == AUDIO:
                chosen.append(layers[0])
                budget -= self.rate_bps[layers[0]]
            else:
                video.append(layers)
        level = [0] * len(video)
        used = sum(self.rate_bps[layers[0]] for layers in video)
        upgraded = True
        while upgraded:
            upgraded = False
            for i, layers in enumerate(video):
                if level[i] + 1 < len(layers):
                    step = self.rate_bps[layers[level[i] + 1]] - self.rate_bps[layers[level[i]]]
                    if used + step <= budget:
                        level[i] += 1
                        used += step
                        upgraded = True
        return chosen + [layers[level[i]] for i, layers in enumerate(video)]

    # -- the tick -----------------------------------------------------------------------
    def step(self, t0: int, t1: int, capturing: bool) -> None:
        w = self.world
        if self._dirty:
            self._plan()
        window, measuring = self.window(t0)
        if capturing:
            frames = self.encode(self.capture(t0, t1, self.sent_streams), window, measuring)
            packets = self.packetize(frames)
            packets["res"] = w.uplink[w.streams.pub[packets["stream"]]]
            self.count_offered(packets, self.subs)
            self.uplinks.push(packets)
        arrived = self.send(self.uplinks, t1, window, measuring)
        arrived["res"] = self.servers.nic_in_of(arrived["stream"])
        self.node_in.push(arrived)
        at_cpu = self.send(self.node_in, t1, window, measuring)
        at_cpu["res"] = self.servers.cpu_of(at_cpu["stream"])
        self.node_cpu.push(at_cpu)
        self.node_out.push(self._forward(self.node_cpu.take(t1), window, measuring))
        out = self.send(self.node_out, t1, window, measuring)
        out["res"] = w.downlink[out["sub"]]
        self.downlinks.push(out)
        received = self.send(self.downlinks, t1, window, measuring)
        received["res"] = received["sub"]
        self.clients.push(received)
        self.deliver(self.clients.take(t1), window, measuring)

    def _forward(self, batch: Packets, window: int, measuring: bool) -> Packets:
        """CPU work at the node, one job per received packet: receive it, then send one
        copy per receiver. The pool works through a job at `cores` times one core's speed
        (receivers are served in parallel), so copy j leaves after receive + (j+1) sends."""
        w = self.world
        if len(batch) == 0:
            return batch
        stream = batch["stream"]
        receivers = self.subs.count[stream]
        pool = batch["res"].astype(np.int64)
        work = self.ingress_ns + receivers * self.egress_ns
        start, ok = w.cpus.serve_fluid(pool, batch["t"], work, window, measuring)
        self.damage.record_drops(rows(batch, ~ok))
        batch, start, pool = rows(batch, ok), start[ok], pool[ok]
        markers = batch["marker"]
        if markers.any():
            batch["damaged"][markers] = self.damage.settle(rows(batch, markers))
        copies, item, rank = self.to_receivers(batch, self.subs)
        cores = w.cpus.cores[pool[item]]
        spread = np.rint((self.ingress_ns + (rank + 1) * self.egress_ns) / cores).astype(np.int64)
        copies["t"] = np.maximum(start[item] + spread,
                                 copies["t"] + self.ingress_ns + self.egress_ns)
        copies["res"] = self.servers.nic_out_of(copies["stream"])
        return copies

    # -- closed forms -------------------------------------------------------------------
    def expected(self) -> dict[str, Any]:
        """Uplink = every sent layer once; downlink = received layers; node CPU = receive
        cost x ingress pps + send cost x egress pps."""
        if self._dirty:
            self._plan()
        w = self.world
        nodes = [w.scenario.node_of(room).id for room in w.scenario.rooms]
        sent = [(int(s), 1) for s in self.sent_streams]
        figures = closed_form(w, uplink=sent, receive=list(zip(self.subs.stream.tolist(),
                              self.subs.sub.tolist(), strict=True)), encode=sent,
                              server_cpu_cores={}, node_of_room=nodes)
        for server in figures["servers"].values():
            server["cpu_cores"] = (server["ingress_pps"] * self.ingress_ns
                                   + server["egress_pps"] * self.egress_ns) / 1e9
        figures["totals"]["server_cpu_cores"] = sum(v["cpu_cores"] for v in figures["servers"].values())
        return figures
