"""P2P mesh: every publisher sends its own copy to every other participant.

No server touches media. A publisher's uplink carries one copy of each track per
receiver (N-1 in a full room), and every client decodes N-1 streams; with
`encoder_per_peer` (the default on browser devices) each copy is also encoded separately,
as a browser does with one RTCPeerConnection per peer. There is no simulcast between
peers: the top layer is sent.

With `bwe: gcc` (the default) every peer connection runs its own congestion controller,
probes and pacer (`peer_connections`): its encoder follows its estimate, so an uplink too
small for N-1 full-rate copies carries N-1 lower-rate copies instead of overflowing. A
shared encoder (a native app) runs at the lowest estimate among its connections. With
`bwe: off` every copy leaves at its configured bitrate as one burst per frame (the open
loop). Copies of one frame made at the same instant enter the uplink in an order that
rotates frame to frame (`copy_order`), so a drop-tail queue does not always drop the same
receiver's copies.

A mesh is not local: with a `regions` graph, a packet between peers in different regions
also crosses the backbone's shortest path between them (its one-way latency, the figure
the SFU cascade uses, roomsim.sfu.cascade). A lost video packet is repaired over the
whole peer-to-peer round trip (receiver's uplink, backbone, sender's downlink for the
NACK; sender's uplink, backbone, receiver's downlink for the resend), not over one access
link's. A pair with a peer behind a TURN relay (the `relays` block: `share` of
participants drawn per seed, or a group's `relay: true`; the relay model the SFU uses,
roomsim.sfu.relays) goes through that relay: TURN framing on both client legs, the relay's
extra round trip, and the relay's traffic and cost reported as server traffic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from roomsim.sfu.cascade import RegionGraph
from roomsim.sfu.relays import Relays
from roomsim.sim.frame_sizes import NEVER
from roomsim.sim.kernels_mesh import packetize_copies
from roomsim.sim.packets import PACKET, Packets, concat, empty_packets, rows
from roomsim.sim.rng import stream_key
from roomsim.topologies.base import Subscriptions, Topology
from roomsim.topologies.expected import closed_form
from roomsim.topologies.peer_connections import PeerConnections, per_peer_encoders
from roomsim.workload.world import AUDIO, VIDEO, World

_NO_PLIS = np.zeros(0, dtype=np.int64)


class MeshTopology(Topology):
    """Full mesh of peer connections inside each room."""

    name = "mesh"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.options = world.scenario.topology.mesh
        self.uplinks = self.stage("uplink", merging=True)
        self.downlinks = self.stage("downlink", merging=True)
        self.clients = self.stage("client")
        self.rotating = self.options.copy_order == "rotating"
        self.cc: PeerConnections | None = None
        self.next_control = 0
        self._dirty = True
        self._plis: list[int] = []
        self._packet_buffer = empty_packets()
        self._paths()
        options = world.scenario.relays
        wants = options is not None and (options.share > 0 or any(
            g.relay for r in world.scenario.rooms for g in r.participants))
        #: TURN relays (roomsim.sfu.relays): a pair with a relayed peer goes through one
        self.relays = Relays(world, options) if wants and options is not None else None
        self.relay_stage = self.stage("relay-to-client", merging=True)

    def start(self) -> None:
        """After the world is frozen: encoders per device, peer connections' controllers,
        the control packets' relay legs."""
        w = self.world
        self.per_peer = per_peer_encoders(w, self.options)
        self._is_audio = w.streams.kind == AUDIO
        if self.options.bwe == "gcc":
            self.cc = PeerConnections(w, self.options)
        super().start()
        if self.relays is not None:
            self.control_packets.relay_link = self.control_relay_link

    def _paths(self) -> None:
        """Each participant's region and the one-way backbone latency between regions
        (no `regions` graph: everyone is local)."""
        w = self.world
        scenario = w.scenario
        self.region = np.zeros(len(w.participants), dtype=np.int64)
        self.backbone_ns = np.zeros((1, 1), dtype=np.int64)
        if scenario.regions is None:
            return
        graph = RegionGraph(scenario.regions)
        names = sorted(graph.distance)
        for i, p in enumerate(w.participants):
            region = p.group.region or scenario.node_of(scenario.rooms[p.room]).region
            self.region[i] = names.index(region)
        self.backbone_ns = np.array([[graph.latency_ns(a, b) for b in names] for a in names], dtype=np.int64)

    def pair_rtt_ns(self, pub: npt.NDArray[np.int64], sub: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Round trip between two peers: both access links each way plus the backbone."""
        w = self.world
        delay = w.links.delay_ns
        access = delay[w.uplink[pub]] + delay[w.downlink[sub]] + delay[w.uplink[sub]] + delay[w.downlink[pub]]
        rtt = access + 2 * self.backbone_ns[self.region[pub], self.region[sub]]
        if self.relays is not None:
            server = self.pair_relay(pub, sub)
            rtt = rtt + np.where(server >= 0, 2 * delay[self.relays.to_client[np.maximum(server, 0)]], 0)
        return rtt.astype(np.int64)

    def replan(self) -> None:
        """Rebuild the peer pairs at the next tick."""
        self._dirty = True

    def _plan(self, now: int | None = None) -> None:
        w = self.world
        st = w.streams
        self.sent_streams = np.flatnonzero((st.pub >= 0) & st.top & w.present[np.maximum(st.pub, 0)])
        self._all_per_peer = bool(self.per_peer[st.pub[self.sent_streams]].all())
        pairs_stream: list[int] = []
        pairs_sub: list[int] = []
        for s in self.sent_streams:
            pub = int(st.pub[s])
            for sub in w.room_members[w.participants[pub].room]:
                if sub != pub and w.present[sub] and w.participants[sub].group.subscribe:
                    pairs_stream.append(int(s))
                    pairs_sub.append(sub)
        self.subs = Subscriptions(len(st), len(w.participants),
                                  np.array(pairs_stream, dtype=np.int64), np.array(pairs_sub, dtype=np.int64))
        self._dirty = False
        if now is None:
            now = round(w.env.now * 1e9)
        if self.cc is not None:
            self.cc.plan(now, st.pub[self.subs.stream], self.subs.sub)
        self._keyframes_for_new_peers()
        rtt = np.zeros(max(1, w.flow_count), dtype=np.int64)
        flows = w.down_flow_base[self.subs.stream] + w.local_index[self.subs.sub]
        rtt[flows] = self.pair_rtt_ns(st.pub[self.subs.stream], self.subs.sub)
        self.links.flow_rtt = rtt

    def step(self, t0: int, t1: int, capturing: bool) -> None:
        w = self.world
        if self._dirty:
            self._plan(t0)
        window, measuring = self.window(t0)
        cc = self.cc
        if cc is not None and t0 >= self.next_control:
            inside = w.warmup_ns <= t0 < w.end_capture_ns
            cc.control(t0, capturing, cc.feedback_ns / 1e9 if inside else 0.0)
            self.next_control = t0 + cc.feedback_ns
        if capturing:
            frames = self.capture(t0, t1, self.sent_streams)
            fast = self._all_per_peer and self.relays is None
            if fast:
                packets = self._per_peer_copies(frames, window, measuring, address=True)
            else:
                packets = self._copies(frames, window, measuring)
            if cc is not None:
                packets = cc.pace(packets, in_ready_order=fast)
                self.uplinks.push(cc.padding(t0, t1))
            self.uplinks.push(packets)
        up, dropped = self.send_with_drops(self.uplinks, t1, window, measuring, w.downlink)
        if cc is not None:
            cc.lost_upstream(dropped)
        self.downlinks.push(self._between_peers(up, t1, window, measuring))
        feedback = cc.watch() if cc is not None else None
        received, _ = self.send_with_drops(self.downlinks, t1, window, measuring, self.links.receiver_res, feedback)
        if cc is not None and len(received):
            media = received["fseq"] >= 0
            if not media.all():
                received = rows(received, media)  # probe padding ends at the receiver's transport
        self.clients.push(received)
        self.deliver(self.clients.take(t1), window, measuring)

    def _copies(self, frames: np.ndarray, window: int, measuring: bool) -> Packets:
        """Packets of every copy, addressed to their receivers and counted, when some
        publishers encode once for all receivers or some pairs go through a TURN relay."""
        w = self.world
        own = self.per_peer[w.streams.pub[frames["stream"]]]
        if own.all():
            packets = self._per_peer_copies(frames, window, measuring)
        elif not own.any():
            packets = self._shared_copies(frames, window, measuring)
        else:
            packets = concat([self._per_peer_copies(rows(frames, own), window, measuring),
                              self._shared_copies(rows(frames, ~own), window, measuring)])
        packets["res"] = w.uplink[w.streams.pub[packets["stream"]]]
        if self.relays is not None:
            self._frame_for_relays(packets)
        self.count_addressed(packets)
        return packets

    def _per_peer_copies(self, frames: np.ndarray, window: int, measuring: bool, address: bool = False) -> Packets:
        """One encode per receiver (browser): frames copied per receiver, then encoded at
        that connection's rate. With `address`, the packets also get their uplink and are
        counted for their receivers, in the compiled packetizer."""
        w = self.world
        encoded, order = self._encoded_copies(frames, window, measuring)
        if address:
            st = w.streams
            if order is None:
                order = np.arange(len(encoded))
            while True:  # into a buffer kept between ticks (grown when short); returns a copy
                n = packetize_copies(encoded, order, st.mtu_payload, st.header_bytes, w.stream_trailer,
                                     w.down_flow_base, w.local_index, w.uplink, st.pub, self._is_audio,
                                     w.expected_packets, w.expected_frames, w.audio_expected_frames,
                                     self._packet_buffer)
                if n >= 0:  # copied as plain bytes: a structured copy goes field by field, ~10x slower
                    plain = self._packet_buffer[:n].view(f"V{PACKET.itemsize}")
                    return plain.copy().view(PACKET)
                self._packet_buffer = empty_packets(2 * -n)
        packets = self.packetize(encoded if order is None else rows(encoded, order))
        packets["flow"] = w.down_flow_base[packets["stream"]] + w.local_index[packets["sub"]]
        return packets

    def _encoded_copies(self, frames: np.ndarray, window: int, measuring: bool
                        ) -> tuple[np.ndarray, npt.NDArray[np.int64] | None]:
        """Frames copied per receiver and through their connection's encoder (with
        congestion control: sized for it, its usage observed); returns them and the order
        they reach the pacers in (None: as they are)."""
        w = self.world
        cc = self.cc
        if cc is None:
            streams = frames["stream"].astype(np.int64)
            item, sub, rank = self.subs.expand(streams)
            if self.rotating and len(item):
                key = self._copy_rank(streams[item], frames["fseq"][item], rank, self.subs.count[streams[item]])
                order = np.lexsort((key, item))
                item, sub = item[order], sub[order]
            frames = rows(frames, item)
            frames["sub"] = sub
            return self.encode(frames, window, measuring), None
        copies, conn, pool, work_ns = cc.copy_frames(frames, self.subs, self._salt(), self.rotating, self.encode_ns)
        if len(copies) == 0:
            return copies, None
        done, accepted = w.cpus.serve(pool, copies["t"], work_ns, window, measuring)
        encoded = cc.settle_encodes(copies, conn, done, accepted)
        return encoded, cc.ready_order(encoded)

    def _shared_copies(self, frames: np.ndarray, window: int, measuring: bool) -> Packets:
        """One encode for all receivers (a native app), at the lowest rate among its
        connections; the packets are copied per receiver."""
        if self.cc is not None:
            video = self.cc.is_video[frames["stream"]]
            self._scale(frames, video, self._shared_ratio()[frames["stream"]])
        packets = self.packetize(self.encode(frames, window, measuring))
        copies, item, rank = self.to_receivers(packets, self.subs)
        if self.rotating and len(item):
            stream = copies["stream"].astype(np.int64)
            key = self._copy_rank(stream, copies["fseq"], rank, self.subs.count[stream])
            copies = rows(copies, np.lexsort((key, item)))
        return copies

    def _copy_rank(self, stream: np.ndarray, fseq: np.ndarray, rank: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Rotated position of each copy among its frame's copies (deterministic per seed)."""
        salt = self._salt()
        return (rank + fseq.astype(np.int64) + salt[stream]) % np.maximum(count, 1)

    def _salt(self) -> np.ndarray:
        if not hasattr(self, "_salts"):
            w = self.world
            self._salts = np.array([stream_key(w.seed, f"mesh-copy-order:{s}") % (1 << 30)
                                    for s in range(len(w.streams))], dtype=np.int64)
        return self._salts

    def _shared_ratio(self) -> np.ndarray:
        """Per stream: the lowest video ratio among its publisher's connections."""
        assert self.cc is not None
        w = self.world
        ratio = np.ones(len(w.streams))
        subs = self.subs
        if len(subs.stream):
            conn = self.cc.rows_of(w.streams.pub[subs.stream], subs.sub)
            np.minimum.at(ratio, subs.stream, self.cc.ratio[conn])
        return ratio

    @staticmethod
    def _scale(frames: np.ndarray, video: np.ndarray, ratio: np.ndarray) -> None:
        """Video frames sized for their encoder's current target (ratio of the configured rate)."""
        if video.any():
            scaled = np.rint(frames["payload"] * ratio).astype(np.int64)
            frames["payload"] = np.where(video, np.maximum(scaled, 1), frames["payload"])

    def _keyframes_for_new_peers(self) -> None:
        """A new peer connection starts with a keyframe: a publisher already sending asks
        its encoder for one when a receiver joins (the receiver's PLI/FIR; with one shared
        encoder every receiver gets that keyframe). The PLI rides on the publisher's
        downlink."""
        w = self.world
        pairs = set(zip(self.subs.stream.tolist(), self.subs.sub.tolist(), strict=True))
        fresh = pairs - getattr(self, "_pairs", set())
        self._pairs = pairs
        sizes = w.frame_sizes
        now = round(w.env.now * 1e9)
        st = w.streams
        for s in sorted({s for s, _ in fresh}):
            if st.kind[s] == VIDEO and sizes.last_key[s] != NEVER:
                sizes.request_keyframe(s, max(0, math.ceil((now - st.phase_ns[s]) / st.period_ns[s])))
                self._plis.append(int(st.pub[s]))

    def take_plis(self) -> npt.NDArray[np.int64]:
        """Publishers asked for a keyframe by a new peer since the last call."""
        if not self._plis:
            return _NO_PLIS
        out = np.array(self._plis, dtype=np.int64)
        self._plis = []
        return out

    def _between_peers(self, packets: Packets, t1: int, window: int, measuring: bool) -> Packets:
        """From a sender's uplink to the receiver's downlink: through the TURN relay of a
        relayed pair, then over the backbone between their regions."""
        w = self.world
        if self.relays is not None:
            server = self.pair_relay(w.streams.pub[packets["stream"]], packets["sub"])
            via = server >= 0
            if via.any():
                relayed = rows(packets, via)
                relayed["res"] = self.relays.to_client[server[via]]
                self.relay_stage.push(relayed)
                packets = rows(packets, ~via)
            from_relay = self.send(self.relay_stage, t1, window, measuring, next_res=w.downlink)
            packets = concat([packets, from_relay]) if len(from_relay) else packets
        if len(self.backbone_ns) > 1 and len(packets):
            packets["t"] += self.backbone_ns[self.region[w.streams.pub[packets["stream"]]], self.region[packets["sub"]]]
        return packets

    def pair_relay(self, pub: npt.NDArray[np.integer], sub: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """The TURN server a peer pair goes through (the sender's if it is relayed, else the
        receiver's), or -1 for a direct pair."""
        assert self.relays is not None
        server = self.relays.server
        return np.where(server[pub] >= 0, server[pub], server[sub])

    def control_relay_link(self, src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The relay link a control packet between two peers crosses (-1: a direct pair)."""
        assert self.relays is not None
        server = self.pair_relay(src, dst)
        return np.where(server >= 0, self.relays.to_client[np.maximum(server, 0)], -1)

    def _frame_for_relays(self, packets: Packets) -> None:
        """TURN framing on packets of relayed pairs (both legs are client <-> relay)."""
        assert self.relays is not None
        via = self.pair_relay(self.world.streams.pub[packets["stream"]], packets["sub"]) >= 0
        if via.any():
            packets["size"][via] += self.relays.framing_bytes(packets["size"][via]).astype(np.int32)

    def details(self) -> dict[str, Any]:
        """Per peer connection: estimates, delivered video rate and resolution; the TURN
        relays of relayed pairs: who is relayed, each relay's traffic and cost."""
        out = self.cc.details() if self.cc is not None else {}
        if self.relays is not None:
            out["relays"] = self.relays.details(self.world)
        return out

    def received_pixels(self, i: int) -> float | None:
        """Time-weighted pixels of the video participant i received (None: configured)."""
        return self.cc.received_pixels(i) if self.cc is not None else None

    def wire_plan(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each publisher's top streams x receivers up; every (stream, receiver) pair down."""
        if self._dirty:
            self._plan()
        sent = self.sent_streams.astype(np.int64)
        return (np.stack([sent, self.subs.count[sent]], axis=1),
                np.stack([self.subs.stream, self.subs.sub], axis=1))

    def expected(self) -> dict[str, Any]:
        """Uplink = own top streams x receivers; downlink = everyone else's top streams."""
        uplink, receive = (rows_.tolist() for rows_ in self.wire_plan())
        w = self.world
        copies = self.subs.count
        runs = lambda s: int(copies[s]) if self.per_peer[w.streams.pub[s]] else 1  # noqa: E731
        encode = [(int(s), runs(s)) for s in self.sent_streams]
        return closed_form(w, uplink=uplink, receive=receive, encode=encode,
                           server_cpu_cores={}, node_of_room=None)

