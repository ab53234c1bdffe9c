"""P2P mesh: every publisher sends its own copy to every other participant.

No server touches media. A publisher's uplink carries one copy of each track per
receiver (N-1 in a full room), and every client decodes N-1 streams; with
`encoder_per_peer` each copy is also encoded separately, as a browser does with one
RTCPeerConnection per peer. There is no simulcast between peers: the top layer is sent.

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

from roomsim.expected import closed_form
from roomsim.sfu.cascade import RegionGraph
from roomsim.sfu.relays import Relays
from roomsim.sim.frame_sizes import NEVER
from roomsim.sim.packets import Packets, concat, rows
from roomsim.topologies.base import Subscriptions, Topology
from roomsim.world import VIDEO, World


class MeshTopology(Topology):
    """Full mesh of peer connections inside each room."""

    name = "mesh"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.options = world.scenario.topology.mesh
        self.uplinks = self.stage("uplink", merging=True)
        self.downlinks = self.stage("downlink", merging=True)
        self.clients = self.stage("client")
        self._dirty = True
        self._plis: list[int] = []
        self._paths()
        options = world.scenario.relays
        wants = options is not None and (options.share > 0 or any(
            g.relay for r in world.scenario.rooms for g in r.participants))
        #: TURN relays (roomsim.sfu.relays): a pair with a relayed peer goes through one
        self.relays = Relays(world, options) if wants and options is not None else None
        self.relay_stage = self.stage("relay-to-client", merging=True)

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

    def _plan(self) -> None:
        w = self.world
        st = w.streams
        self.sent_streams = np.flatnonzero((st.pub >= 0) & st.top & w.present[np.maximum(st.pub, 0)])
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
        self._keyframes_for_new_peers()
        rtt = np.zeros(max(1, w.flow_count), dtype=np.int64)
        senders = st.pub[self.subs.stream]
        flows = w.down_flow_base[self.subs.stream] + w.local_index[self.subs.sub]
        rtt[flows] = self.pair_rtt_ns(senders, self.subs.sub)
        self.links.flow_rtt = rtt

    def step(self, t0: int, t1: int, capturing: bool) -> None:
        w = self.world
        if self._dirty:
            self._plan()
        window, measuring = self.window(t0)
        if capturing:
            frames = self.capture(t0, t1, self.sent_streams)
            if self.options.encoder_per_peer:
                item, sub, _ = self.subs.expand(frames["stream"].astype(np.int64))
                frames = rows(frames, item)
                frames["sub"] = sub
            packets = self.packetize(self.encode(frames, window, measuring))
            if not self.options.encoder_per_peer:
                packets = self.to_receivers(packets, self.subs)[0]
            else:
                packets["flow"] = w.down_flow_base[packets["stream"]] + w.local_index[packets["sub"]]
            packets["res"] = w.uplink[w.streams.pub[packets["stream"]]]
            if self.relays is not None:
                self._frame_for_relays(packets)
            self.count_addressed(packets)
            self.uplinks.push(packets)
        crossed = self.send(self.uplinks, t1, window, measuring, next_res=w.downlink)
        self.downlinks.push(self._between_peers(crossed, t1, window, measuring))
        received = self.send(self.downlinks, t1, window, measuring, next_res=self.links.receiver_res)
        self.clients.push(received)
        self.deliver(self.clients.take(t1), window, measuring)

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
        """TURN relays of relayed peer pairs: who is relayed, each relay's traffic and cost."""
        if self.relays is None:
            return {}
        return {"relays": self.relays.details(self.world)}

    def start(self) -> None:
        super().start()
        if self.relays is not None:
            self.control_packets.relay_link = self.control_relay_link

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
        copies = self.subs.count
        runs = (lambda s: int(copies[s])) if self.options.encoder_per_peer else (lambda s: 1)
        encode = [(int(s), runs(s)) for s in self.sent_streams]
        return closed_form(self.world, uplink=uplink, receive=receive, encode=encode,
                           server_cpu_cores={}, node_of_room=None)

