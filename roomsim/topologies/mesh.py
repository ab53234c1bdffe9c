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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roomsim.expected import closed_form
from roomsim.sim.packets import Packets, concat, rows
from roomsim.sim.rng import stream_key
from roomsim.sim.stage import Stage
from roomsim.topologies.base import Subscriptions, Topology
from roomsim.topologies.peer_connections import PeerConnections, per_peer_encoders
from roomsim.transport.feedback import FeedbackBuffer
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
        self.rotating = self.options.copy_order == "rotating"
        self.cc: PeerConnections | None = None
        self.next_control = 0
        self._dirty = True

    def start(self) -> None:
        """After the world is frozen: encoders per device, peer connections' controllers."""
        w = self.world
        self.per_peer = per_peer_encoders(w, self.options)
        if self.options.bwe == "gcc":
            self.cc = PeerConnections(w, self.options)
        super().start()

    def replan(self) -> None:
        """Rebuild the peer pairs at the next tick."""
        self._dirty = True

    def _plan(self, now: int) -> None:
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
        if self.cc is not None:
            self.cc.plan(now, st.pub[self.subs.stream], self.subs.sub)

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
            own = self.per_peer[w.streams.pub[frames["stream"]]]
            if own.all():
                packets = self._per_peer_copies(frames, window, measuring)
            elif not own.any():
                packets = self._shared_copies(frames, window, measuring)
            else:
                packets = concat([self._per_peer_copies(rows(frames, own), window, measuring),
                                  self._shared_copies(rows(frames, ~own), window, measuring)])
            packets["res"] = w.uplink[w.streams.pub[packets["stream"]]]
            self.count_addressed(packets)
            if cc is not None:
                packets = cc.pace(packets)
                self.uplinks.push(cc.padding(t0, t1))
            self.uplinks.push(packets)
        up, dropped = self._send(self.uplinks, t1, window, measuring, w.downlink)
        if cc is not None:
            cc.lost_upstream(dropped)
        self.downlinks.push(up)
        feedback = cc.watch() if cc is not None else None
        received, _ = self._send(self.downlinks, t1, window, measuring, self.links.receiver_res, feedback)
        if cc is not None and len(received):
            media = received["fseq"] >= 0
            if not media.all():
                received = rows(received, media)  # probe padding ends at the receiver's transport
        self.clients.push(received)
        self.deliver(self.clients.take(t1), window, measuring)

    def _per_peer_copies(self, frames: np.ndarray, window: int, measuring: bool) -> Packets:
        """One encode per receiver (browser): frames copied per receiver, then encoded at
        that connection's rate."""
        w = self.world
        streams = frames["stream"].astype(np.int64)
        item, sub, rank = self.subs.expand(streams)
        if self.rotating and len(item):
            key = self._copy_rank(streams[item], frames["fseq"][item], rank, self.subs.count[streams[item]])
            order = np.lexsort((key, item))
            item, sub = item[order], sub[order]
        frames = rows(frames, item)
        frames["sub"] = sub
        cc = self.cc
        if cc is None:
            encoded = self.encode(frames, window, measuring)
        else:
            stream = frames["stream"].astype(np.int64)
            conn, work = cc.size_frames(frames)
            encoded = self.encode(frames, window, measuring, work)
            done = encoded["stream"].astype(np.int64)
            done_conn = cc.rows_of(w.streams.pub[done], encoded["sub"].astype(np.int64))
            kept = np.ones(len(frames), dtype=bool)
            if len(encoded) < len(frames):  # which frames the encoders could not take
                kept = np.isin(_frame_id(frames, len(w.streams)), _frame_id(encoded, len(w.streams)))
            cc.observe_encodes(done_conn, done, (encoded["t"] - encoded["capture"]).astype(np.float64),
                               conn[~kept], stream[~kept])
            encoded = cc.ready_order(encoded)
        packets = self.packetize(encoded)
        packets["flow"] = w.down_flow_base[packets["stream"]] + w.local_index[packets["sub"]]
        return packets

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

    def _send(self, stage: Stage, t1: int, window: int, measuring: bool, next_res: np.ndarray,
              feedback: FeedbackBuffer | None = None) -> tuple[Packets, Packets]:
        """A link stage onto its links; media drops damage their frames (padding has none)."""
        batch = stage.take(t1)
        out, dropped = self.links.transmit(stage.name, batch, t1, window, measuring, next_res, feedback)
        if len(dropped):
            media = dropped["fseq"] >= 0
            self.damage.record_drops(dropped if media.all() else rows(dropped, media))
        return out, dropped

    def details(self) -> dict[str, Any]:
        """Per peer connection: estimates, delivered video rate and resolution."""
        return self.cc.details() if self.cc is not None else {}

    def received_pixels(self, i: int) -> float | None:
        """Time-weighted pixels of the video participant i received (None: configured)."""
        return self.cc.received_pixels(i) if self.cc is not None else None

    def expected(self) -> dict[str, Any]:
        """Uplink = own top streams x receivers; downlink = everyone else's top streams."""
        if self._dirty:
            self._plan(0)
        w = self.world
        copies = self.subs.count
        uplink = [(int(s), int(copies[s])) for s in self.sent_streams]
        runs = lambda s: int(copies[s]) if self.per_peer[w.streams.pub[s]] else 1  # noqa: E731
        encode = [(int(s), runs(s)) for s in self.sent_streams]
        receive = list(zip(self.subs.stream.tolist(), self.subs.sub.tolist(), strict=True))
        return closed_form(w, uplink=uplink, receive=receive, encode=encode,
                           server_cpu_cores={}, node_of_room=None)


def _frame_id(frames: np.ndarray, streams: int) -> np.ndarray:
    """A number per (receiver, stream, frame) copy."""
    return (frames["sub"].astype(np.int64) * streams + frames["stream"]) * (1 << 32) + frames["fseq"]
