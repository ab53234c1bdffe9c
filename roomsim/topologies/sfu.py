"""SFU: one copy of every layer up; the node forwards one copy per receiver.

The node never decodes media. It pays a per-packet cost on receive and per copy on send
(from the cost profile's `forwarding`, derived from published SFU benchmarks). What each
receiver gets is decided by the control plane (roomsim.sfu.controller): per-subscriber
bandwidth estimates from transport feedback, layouts and last-N from active-speaker
detection, simulcast/SVC layer allocation, keyframe-gated switches and dynacast. Rooms
live on nodes placed through a routing store (roomsim.topologies.placement) and, with cascading, span
one node per region with one copy of each track per backbone hop (roomsim.sfu.cascade).
Participants may reach their node through TURN relays (roomsim.sfu.relays).

Pipeline per tick: capture -> encode -> uplink [-> relay] -> node NIC in -> node CPU (fan
out to local subscribers and relay segments; on-node egress/ingress jobs in the same FIFO,
roomsim.extensions.node_jobs) -> node NIC out -> [backbone -> next node]
[-> relay] -> downlink (recording transport feedback) -> client decode.

The data plane (the tick) is here; the control plane that updates the forwarding tables
between ticks is roomsim.topologies.sfu_control, the closed forms and result details
roomsim.topologies.sfu_figures (base classes of SfuTopology).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.extensions.node_jobs import NodeJobs, on_node
from roomsim.sfu.cascade import RegionGraph, Segments
from roomsim.sfu.controller import PADDING_WIRE_BYTES, SfuController
from roomsim.sfu.relays import Relays
from roomsim.sim.kernels_fanout import (
    IN_NIC_ORDER,
    IN_TIME_ORDER,
    address_copies,
    drop_padding,
    forward_work,
    merge_in_time,
)
from roomsim.sim.kernels_rtp import ORDER_PER_LINK, ORDER_TIME
from roomsim.sim.metrics import NS, LatencyHistograms
from roomsim.sim.packets import PACKET, Packets, concat, empty_packets, rows
from roomsim.topologies.base import FrameDamage
from roomsim.topologies.servers import ServerSide
from roomsim.topologies.sfu_control import IN_FLIGHT_GRACE_NS, SfuControlPlane
from roomsim.transport.feedback import FeedbackBuffer
from roomsim.workload.traces import traced_links
from roomsim.workload.world import AUDIO, World

IntArray = npt.NDArray[np.int64]



class SfuTopology(SfuControlPlane):
    """Selective forwarding through the nodes hosting each room."""

    name = "sfu"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        scenario = world.scenario
        self.options = scenario.topology.sfu
        self.cascade = self.options.cascade
        self.regions = RegionGraph(scenario.regions) if scenario.regions is not None else None
        self.servers = ServerSide(world, cascade=self.cascade)
        if self.cascade and self.regions is not None:
            self.regions.add_links(world.links, world.seed)
        relays = scenario.relays
        wants_relay = relays is not None and (
            relays.share > 0 or any(g.relay for r in scenario.rooms for g in r.participants)
        )
        self.relays = Relays(world, relays) if wants_relay and relays is not None else None
        self.uplinks = self.stage("uplink", merging=True)
        self.relay_up = self.stage("relay-to-node", merging=True)
        self.node_in = self.stage("node-in", merging=True)
        self.node_cpu = self.stage("node-cpu", merging=True)  # probe padding joins here
        self.node_out = self.stage("node-out")
        self.backbone = self.stage("backbone", merging=True)
        self.relay_down = self.stage("relay-to-client", merging=True)
        self.downlinks = self.stage("downlink")
        self.clients = self.stage("client")
        self._dirty = True
        #: egress/ingress work on the nodes' CPU (None when no extension runs on a node)
        self.extension_jobs = NodeJobs(world) if on_node(world) else None
        #: whether this tick's node batch held probe padding (which the downlinks then drop)
        self._forwarded_padding = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        w = self.world
        st = w.streams
        n, m = len(w.participants), len(st)
        self.servers.start(self.regions)
        if self.extension_jobs is not None:
            self.extension_jobs.start(self.servers)
        if self.relays is not None:
            self.control_packets.relay_link = self._control_relay_link
        self.control = SfuController(
            w, self.options, w.scenario.topology.speakers, IN_FLIGHT_GRACE_NS
        )
        profiles = self.servers.profiles
        # per node: ns per packet and per wire byte, received and sent (server profiles)
        self.receive_ns = np.array([[p.receive.fixed_us * 1e3, p.receive.per_byte_us * 1e3]
                                    for p in profiles], dtype=np.float64)
        self.send_ns = np.array([[p.send.fixed_us * 1e3, p.send.per_byte_us * 1e3]
                                 for p in profiles], dtype=np.float64)
        self.extra_workers = np.array([self.servers.extra_workers(k)
                                       for k in range(len(profiles))], dtype=np.int64)
        # the node handles control packets too, at its profile's receive / send cost (as in
        # the closed form); a worker-threaded node's NIC work is booked on its first worker
        control = self.control_packets
        first_pool = np.array([pools[0] for pools in self.servers.node_pools], dtype=np.int64)
        for nic, cost in ((self.servers.nic_in, self.receive_ns), (self.servers.nic_out, self.send_ns)):
            control.cpu_pool[nic] = first_pool
            control.cpu_ns[nic] = cost
        self.node_of_link = np.full(len(w.links.rate_bps), -1, dtype=np.int64)
        self.node_of_link[self.servers.nic_in] = np.arange(len(self.servers.nodes))
        self.node_of_cpu = self.servers.pool_node(len(w.cpus.cores))
        self.room_of = np.array([p.room for p in w.participants], dtype=np.int64)
        self.n_streams = m
        self.segments = Segments()
        region_names = self.regions_list()
        self.region_index = {name: i for i, name in enumerate(region_names)}
        self.segment_flow_base = w.flow_count
        if self.cascade:
            self.damage = FrameDamage(w.flow_count + m * len(region_names))
        self.backbone_packets = (
            np.zeros((len(w.links.rate_bps), m), dtype=np.int64) if self.cascade else None
        )
        self.origin_packets = np.zeros(m, dtype=np.int64)
        self.pair_latency = (
            LatencyHistograms(len(region_names) ** 2) if self.regions is not None else None
        )
        self.participant_region = np.zeros(n, dtype=np.int64)
        self.feedback = FeedbackBuffer()
        self.no_offset = np.zeros(m, dtype=np.int64)  # one estimator row per subscriber
        self.control_ns = self.control.feedback_ns
        self.next_control = 0
        self.stats_ns = round(w.scenario.cluster.stats_interval_s * NS) if w.scenario.cluster else 0
        self.next_stats = 0
        self._busy_at_report = np.zeros(len(self.servers.nodes))
        self.estimate_series: dict[int, list[float]] = {}
        self.traced = self._traced_participants()
        self.stream_room = np.array(
            [w.participants[max(int(p), 0)].room for p in st.pub], dtype=np.int64
        )
        self.relay_fan = np.zeros(0, dtype=np.int64)
        self._node_scratch = np.empty(len(self.servers.nodes), dtype=np.int64)
        self._tables(0)

    def regions_list(self) -> list[str]:
        """Region names (graph order), or the nodes' regions without a graph."""
        if self.regions is not None:
            return list(self.regions.graph.nodes)
        return sorted({node.region for node in self.servers.nodes})

    def _traced_participants(self) -> list[int]:
        """Participants whose access links a trace changes: their estimates are reported."""
        w = self.world
        links = set()
        for trace in w.scenario.traces:
            links.update(traced_links(w.links, trace.link).tolist())
        return [
            i
            for i in range(len(w.participants))
            if int(w.downlink[i]) in links or int(w.uplink[i]) in links
        ][:50]

    def replan(self) -> None:
        """Mark the plan stale; it is rebuilt at the next tick (joins come in bursts)."""
        self._dirty = True

    # -- the tick ------------------------------------------------------------------------------
    def step(self, t0: int, t1: int, capturing: bool) -> None:
        w = self.world
        if self._dirty:
            self._membership(t0)
        if t0 >= self.next_control:
            self._control(t0, capturing)
            self.next_control = t0 + self.control_ns
        window, measuring = self.window(t0)
        if capturing:
            self._capture(t0, t1, window, measuring)
            if self.extension_jobs is not None:
                self.extension_jobs.clocked(t0, t1, self._composited())
        arrived = self.send(self.uplinks, t1, window, measuring)
        if self.relays is not None:
            relayed = self.relays.server[w.streams.pub[arrived["stream"]]] >= 0
            if relayed.any():
                via = rows(arrived, relayed)
                via["res"] = self.relays.to_node[self.relays.server[w.streams.pub[via["stream"]]]]
                self.relay_up.push(via)
                arrived = rows(arrived, ~relayed)
            from_relay = self.send(self.relay_up, t1, window, measuring)
            # the relay strips the TURN framing: plain RTP/UDP again towards the node
            from_relay["size"] = (
                from_relay["payload"] + w.streams.header_bytes[from_relay["stream"]]
            )
            arrived = concat([arrived, from_relay]) if len(from_relay) else arrived
        arrived["res"] = self.servers.nic_in_of(arrived["stream"])
        self.node_in.push(arrived)
        at_node = self.send(self.node_in, t1, window, measuring)
        at_node["res"] = self.servers.pool_for(
            self.node_of_link[at_node["res"]], self.servers.room_of_stream[at_node["stream"]])
        self.node_cpu.push(at_node)
        if capturing:
            self.node_cpu.push(self._padding(t0, t1))
        self.node_out.push(*self._forward(self.node_cpu.take(t1), window, measuring))
        out = self.send(self.node_out, t1, window, measuring, next_res=w.downlink)
        in_order = self.links.order == ORDER_TIME  # then so is every downlink's share of it
        if self.cascade:
            hop = out["sub"] < 0
            if hop.any():
                self._enter_backbone(rows(out, hop))
                out = rows(out, ~hop)
            self._cross_backbone(t1, window, measuring)
        if self.relays is not None:
            relayed = self.relays.server[out["sub"]] >= 0
            if relayed.any():
                via = rows(out, relayed)
                via["size"] += self._framing(via)
                via["res"] = self.relays.to_client[self.relays.server[via["sub"]]]
                self.relay_down.push(via)
                out = rows(out, ~relayed)
            from_relay = self.send(self.relay_down, t1, window, measuring, next_res=w.downlink)
            if len(from_relay):
                out, in_order = concat([out, from_relay]), False
        self.downlinks.push(out, in_order)
        received = self._send_downlinks(t1, window, measuring)
        # a receiver's packets all crossed its own downlink, a FIFO unless a repair jumped it
        self.clients.push(received, self.links.order >= ORDER_PER_LINK)
        self.deliver(self.clients.take(t1), window, measuring)

    def _control_relay_link(self, src: IntArray, dst: IntArray) -> IntArray:
        """The relay link a control packet of a relayed client crosses: towards the node
        (client -> node), towards the client (node -> client); -1 otherwise."""
        assert self.relays is not None
        server = self.relays.server
        up = (src >= 0) & (server[np.maximum(src, 0)] >= 0)
        down = (dst >= 0) & (server[np.maximum(dst, 0)] >= 0)
        out = np.full(len(src), -1, dtype=np.int64)
        out[up] = self.relays.to_node[server[src[up]]]
        out[down] = self.relays.to_client[server[dst[down]]]
        return out

    def _framing(self, packets: Packets) -> npt.NDArray[np.int32]:
        """TURN framing bytes the client <-> relay leg adds to these (plain UDP) packets."""
        assert self.relays is not None
        return self.relays.framing_bytes(packets["size"]).astype(np.int32)

    def _capture(self, t0: int, t1: int, window: int, measuring: bool) -> None:
        w = self.world
        st = w.streams
        c = self.control
        frames = c.publishers.filter(self.capture(t0, t1, self.capture_streams), t0, t1)
        audio = st.kind[frames["stream"]] == AUDIO
        if audio.any():
            pub = st.pub[frames["stream"][audio]]
            loud = w.speaking[pub]
            c.detector.observe(pub[loud], st.period_ns[frames["stream"][audio][loud]])
        if self.extension_jobs is not None:
            self.extension_jobs.encodes(frames)
        packets = self.packetize(self.encode(frames, window, measuring))
        pub = st.pub[packets["stream"]]
        packets["res"] = w.uplink[pub]
        if self.relays is not None:
            relayed = self.relays.server[pub] >= 0
            if relayed.any():
                packets["size"][relayed] += self._framing(rows(packets, relayed))
        self._credit(packets)
        self.uplinks.push(packets)

    def _credit(self, packets: Packets) -> None:
        """Credit every receiver with the packets and frames sent toward it (loss basis;
        audio frames are the loss basis of the E-model MOS)."""
        w = self.world
        table = self.credit
        stream = packets["stream"].astype(np.int64)
        capture = packets["t"] if table.exact else self._captured(packets)
        table.credit(stream, capture, packets["marker"], w.streams.kind[stream] == AUDIO, w.expected_packets,
                     w.expected_frames, w.audio_expected_frames)

    def _captured(self, packets: Packets) -> IntArray:
        """When each packet's frame was captured (frame k of a stream at phase + k x period):
        forwarding windows are in capture time, while a packet's `capture` field holds when
        its frame left the encoder."""
        st = self.world.streams
        s = packets["stream"]
        return st.phase_ns[s] + np.floor(packets["fseq"] * st.period_ns[s]).astype(np.int64)

    def _send_downlinks(self, t1: int, window: int, measuring: bool) -> Packets:
        """Downlinks, recording transport feedback for subscribers the SFU adapts to."""
        w = self.world
        batch = self.downlinks.take(t1)
        c = self.control
        feedback = None
        if c.gcc and c.adaptive.any() and len(batch) > 0:
            feedback = self.feedback
            delays = w.links.delay_ns
            feedback.watch(c.feedback_rows(), self.no_offset, delays[w.downlink], delays[w.uplink])
        out, dropped = self.links.transmit(self.downlinks.name, batch, t1, window, measuring,
                                           self.links.receiver_res, feedback)
        if len(dropped):
            self.damage.record_drops(rows(dropped, dropped["fseq"] >= 0))
        if not (self._forwarded_padding or self.relays is not None):
            return out  # no probe padding left the node this tick, none waits at a relay
        return out[:drop_padding(out)]  # probe padding ends at the client's NIC

    def _forward(self, batch: Packets, window: int, measuring: bool) -> tuple[Packets, bool]:
        """CPU work at the node, one job per received packet: receive it, then send one
        copy per receiver (local subscriber or relay segment). The pool works through a job
        at `cores` times one core's speed (receivers are served in parallel), so copy j
        leaves after receive + (j+1) sends. Probe padding (fseq -1, already addressed) costs
        one send. The per-packet work is two compiled passes over the batch and the table
        (roomsim.sim.kernels_fanout). Returns the copies and whether each NIC-out's are in
        time order."""
        w = self.world
        self._forwarded_padding = False
        if len(batch) == 0:
            if self.extension_jobs is not None:
                none = np.zeros(0, dtype=np.int64)
                self._serve_node(none, none, none, window, measuring)
            return batch, True
        padding = batch["fseq"] < 0
        any_padding = bool(padding.any())
        self._forwarded_padding = any_padding
        pool = batch["res"].astype(np.int64)
        if self.cascade:
            first_hop = ~padding & (batch["flow"] == batch["stream"])
            self.origin_packets += np.bincount(batch["stream"][first_hop], minlength=self.n_streams)
        table, st = self.fanout, w.streams
        # entry windows, checked in capture time (frame k of a stream at phase + k x period)
        windows = (table.start, table.end, table.exact, st.phase_ns, st.period_ns)
        if self.extension_jobs is not None:  # a composite recorder decodes what it gets
            self._decode_on_node(batch, padding)
        receive_ns, send_ns, work, fanned = (np.empty(len(batch), dtype=np.int64) for _ in range(4))
        forward_work(batch, self.node_of_cpu, self.n_streams, table.indptr, *windows, self.receive_ns, self.send_ns,
                     self.extra_workers, receive_ns, send_ns, work, fanned)
        start, ok = self._serve_node(pool, batch["t"], work, window, measuring)
        all_ok = bool(ok.all())
        if not all_ok:
            self.damage.record_drops(rows(batch, ~ok & ~padding))
        markers = np.flatnonzero(batch["marker"] & ok)
        if len(markers):
            batch["damaged"][markers] = self.damage.settle(rows(batch, markers))
        copies = empty_packets(int(fanned.sum() if all_ok else fanned[ok].sum()))
        order = address_copies(batch, ok, self.node_of_cpu, self.n_streams, table.indptr, table.target, *windows,
                               start, w.cpus.cores, receive_ns, send_ns, self.servers.nic_out, w.down_flow_base,
                               w.local_index, copies, self._node_scratch)
        relay = copies["sub"] < 0
        if relay.any():
            step = -copies["sub"][relay].astype(np.int64) - 1
            regions = self.segment_region()[step]
            copies["flow"][relay] = (
                self.segment_flow_base
                + copies["stream"][relay].astype(np.int64) * len(self.region_index)
                + regions
            )
        sent_padding = np.flatnonzero(padding & ok) if any_padding else pool[:0]
        if len(sent_padding) == 0:
            return copies, order >= IN_NIC_ORDER
        pad = rows(batch, sent_padding)
        pad["t"] = np.maximum(
            start[sent_padding]
            + np.rint(send_ns[sent_padding] / w.cpus.cores[pool[sent_padding]]).astype(np.int64),
            pad["t"] + send_ns[sent_padding],
        )
        pad["res"] = self.servers.nic_out[self.node_of_cpu[pool[sent_padding]]]
        # the result is in time order (so per NIC too): the stable sort of copies + padding,
        # which is one merge when the copies already are in time order
        if order == IN_TIME_ORDER:
            pad = rows(pad, np.argsort(pad["t"], kind="stable"))
            merged = empty_packets(len(copies) + len(pad))
            merge_in_time(copies, pad, merged)
            return merged, True
        merged = concat([copies, pad])
        return rows(merged, np.argsort(merged["t"], kind="stable")), True

    def _decode_on_node(self, batch: Packets, padding: npt.NDArray[np.bool_]) -> None:
        """The frames a composite recorder on the node decodes: every copy of a frame's last
        packet the table forwards to it (whether or not the node's CPU then takes it)."""
        assert self.extension_jobs is not None
        keys = self.node_of_cpu[batch["res"]] * self.n_streams + batch["stream"]
        keys[padding] = 0
        capture = batch["t"] if self.fanout.exact else self._captured(batch)
        item, target, _ = self.fanout.expand(keys, capture)
        item, target = item[~padding[item]], target[~padding[item]]
        whole = batch["marker"][item]
        self.extension_jobs.decodes(batch["t"][item[whole]], batch["stream"][item[whole]].astype(np.int64),
                                    target[whole].astype(np.int64))

    def _serve_node(self, pool: IntArray, arrival: IntArray, work: IntArray, window: int,
                    measuring: bool) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Serve this tick's forwarding jobs and the extensions' node jobs in one time-ordered
        FIFO per pool; return the forwarding jobs' (start, accepted)."""
        cpus = self.world.cpus
        jobs = self.extension_jobs
        t, owner, job_work, job_pool = jobs.take() if jobs is not None else (arrival[:0],) * 4
        if jobs is None or len(t) == 0:
            return cpus.serve_fluid(pool, arrival, work, window, measuring)
        n = len(arrival)
        times = np.concatenate([arrival, t])
        order = np.argsort(times, kind="stable")
        start_sorted, ok_sorted = cpus.serve_fluid(
            np.concatenate([pool, job_pool])[order], times[order],
            np.concatenate([work, job_work])[order], window, measuring)
        start = np.empty_like(start_sorted)
        start[order] = start_sorted
        ok = np.empty_like(ok_sorted)
        ok[order] = ok_sorted
        jobs.served(owner, job_work, ok[n:], measuring)
        return start[:n], ok[:n]

    def _composited(self) -> dict[int, list[int]]:
        """Streams each room-composite egress on a node receives now (its tiles and mix
        inputs)."""
        assert self.extension_jobs is not None
        return {i: self.received_streams(i) for i in self.extension_jobs.composite}

    def segment_region(self) -> IntArray:
        """Index of the end region of every relay step."""
        return np.array(
            [self.region_index[r] for r in self.segments.end_region] or [0], dtype=np.int64
        )

    def _padding(self, t0: int, t1: int) -> Packets:
        """Probe padding to send in [t0, t1), addressed and waiting for the node's CPU."""
        sub, times = self.control.padding(t0, t1)
        if len(sub) == 0:
            return empty_packets()
        order = np.argsort(times, kind="stable")
        sub, times = sub[order], times[order]
        packets = np.zeros(len(sub), dtype=PACKET)
        packets["t"] = times
        packets["capture"] = times
        packets["sub"] = sub
        packets["fseq"] = -1
        packets["size"] = PADDING_WIRE_BYTES
        packets["res"] = self.servers.pool_for(self.servers.home[sub], self.room_of[sub])
        return packets

    # -- cascade ----------------------------------------------------------------------------------
    def _enter_backbone(self, hop: Packets) -> None:
        link, _, _ = self.segments.arrays()
        step = -hop["sub"].astype(np.int64) - 1
        hop["res"] = link[step]
        self.backbone.push(hop)

    def _cross_backbone(self, t1: int, window: int, measuring: bool) -> None:
        """Move copies along their segment; at the segment's end they enter its node."""
        crossed = self.send(self.backbone, t1, window, measuring)
        if len(crossed) == 0:
            return
        assert self.backbone_packets is not None
        np.add.at(self.backbone_packets, (crossed["res"], crossed["stream"]), 1)
        link, nxt, end_node = self.segments.arrays()
        step = -crossed["sub"].astype(np.int64) - 1
        onward = nxt[step] >= 0
        if onward.any():
            more = rows(crossed, onward)
            more["sub"] = -(nxt[step[onward]] + 1)
            more["res"] = link[nxt[step[onward]]]
            self.backbone.push(more)
        done = rows(crossed, ~onward)
        if len(done):
            done["res"] = self.servers.nic_in[end_node[step[~onward]]]
            done["sub"] = -1
            self.node_in.push(done)
