"""P2P mesh: every publisher sends its own copy to every other participant.

No server touches media. A publisher's uplink carries one copy of each track per
receiver (N-1 in a full room), and every client decodes N-1 streams; with
`encoder_per_peer` each copy is also encoded separately, as a browser does with one
RTCPeerConnection per peer. There is no simulcast between peers: the top layer is sent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roomsim.expected import closed_form
from roomsim.sim.packets import rows
from roomsim.topologies.base import Subscriptions, Topology
from roomsim.world import World


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
            self.count_addressed(packets)
            self.uplinks.push(packets)
        self.downlinks.push(self.send(self.uplinks, t1, window, measuring, next_res=w.downlink))
        received = self.send(self.downlinks, t1, window, measuring, next_res=self.links.receiver_res)
        self.clients.push(received)
        self.deliver(self.clients.take(t1), window, measuring)

    def expected(self) -> dict[str, Any]:
        """Uplink = own top streams x receivers; downlink = everyone else's top streams."""
        if self._dirty:
            self._plan()
        w = self.world
        copies = self.subs.count
        uplink = [(int(s), int(copies[s])) for s in self.sent_streams]
        runs = (lambda s: int(copies[s])) if self.options.encoder_per_peer else (lambda s: 1)
        encode = [(int(s), runs(s)) for s in self.sent_streams]
        receive = list(zip(self.subs.stream.tolist(), self.subs.sub.tolist(), strict=True))
        return closed_form(w, uplink=uplink, receive=receive, encode=encode,
                           server_cpu_cores={}, node_of_room=None)

