"""What happens to packets on a link, per transport, plus the latency-breakdown stamps.

Every link stage of every topology goes through `LinkTransports.transmit`:

* links of `websocket` participants are TCP connections (`tcp.TcpConnections`): nothing
  is lost, late segments hold back everything behind them;
* every other link is UDP: `kernels_rtp.transmit_rtp` sends it, and repairs random
  losses per stream (NACK/RTX for video of `webrtc` publishers with `nack`, RED for audio
  with `audio_redundancy: red`); everything else lost stays lost.

After a link, packets are stamped for the latency breakdown: crossing a client uplink
sets `up_us` and `out_us` (the packet has reached the server side; without a server, as in
a mesh, it is already on its way to the receiver), crossing a server's NIC-out sets
`out_us` (it has left the node).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.scenario.participants import ParticipantGroup
from roomsim.sim.kernels import LINK_COUNTERS
from roomsim.sim.kernels_rtp import (
    HOP_DOWN,
    HOP_OTHER,
    HOP_UP,
    ORDER_NONE,
    ORDER_TIME,
    RECOVER_NACK,
    RECOVER_NONE,
    RECOVER_RED,
    ROLE_DOWNLINK,
    ROLE_NIC_OUT,
    ROLE_UPLINK,
    transmit_rtp,
)
from roomsim.sim.kernels_stages import stamp_crossings
from roomsim.sim.packets import Packets, concat, empty_packets, rows
from roomsim.transport.feedback import FeedbackBuffer
from roomsim.transport.tcp import TcpConnections
from roomsim.workload.world import AUDIO, World

#: `transmit(next_res=None)`: no next resource
_NO_NEXT = np.zeros(0, dtype=np.int64)
#: `transmit(feedback=None)`: nobody watched
_NO_FEEDBACK = FeedbackBuffer(capacity=0)


def recover_mode(group: ParticipantGroup, kind: int) -> int:
    """How a stream's random losses are repaired on UDP hops."""
    options = group.transport.webrtc
    if group.transport.kind != "webrtc":
        return RECOVER_NONE
    if kind == AUDIO:
        return RECOVER_RED if options.audio_redundancy == "red" else RECOVER_NONE
    return RECOVER_NACK if options.nack else RECOVER_NONE


class LinkTransports:
    """Per-link transport behaviour of one run (built after the world is frozen)."""

    def __init__(self, world: World, nic_out: npt.NDArray[np.int64] | None) -> None:
        self.world = world
        n_links = len(world.links.rate_bps)
        self.role = np.zeros(n_links, dtype=np.int8)
        self.role[world.uplink] = ROLE_UPLINK
        self.role[world.downlink] = ROLE_DOWNLINK
        if nic_out is not None:
            self.role[nic_out] = ROLE_NIC_OUT
        self.hop = np.full(n_links, HOP_OTHER, dtype=np.int64)
        self.hop[world.uplink] = HOP_UP
        self.hop[world.downlink] = HOP_DOWN
        st = world.streams
        self.recover = np.zeros(len(st), dtype=np.int64)
        self.max_retries = 10
        for s, spec in enumerate(st.specs):
            person = spec.pub if spec.pub >= 0 else spec.owner
            group = world.participants[person].group
            self.recover[s] = recover_mode(group, spec.kind)
            self.max_retries = max(self.max_retries, group.transport.webrtc.max_nack_retries)
        #: per (flow, hop): the frame of the last repaired packet and its arrival
        self.frame_last = np.full((max(1, world.flow_count), 3, 2), -1, dtype=np.int64)
        self.holds = np.zeros(n_links, dtype=np.int64)
        #: per (flow, frame & 63): when a frame repaired on the receiver's downlink is complete
        self.ready_t = np.zeros((max(1, world.flow_count), 64), dtype=np.int64)
        self.ready_fseq = np.full((max(1, world.flow_count), 64), -1, dtype=np.int64)
        self.tcp_link = np.zeros(n_links, dtype=bool)
        links, c2s, rto, cwnd, dup = [], [], [], [], []
        for i, p in enumerate(world.participants):
            if p.group.transport.kind != "websocket":
                continue
            ws = p.group.transport.websocket
            for link, upward in ((int(world.uplink[i]), True), (int(world.downlink[i]), False)):
                links.append(link)
                c2s.append(upward)
                rto.append(round(ws.min_rto_ms * 1e6))
                cwnd.append(ws.initial_cwnd)
                dup.append(ws.dupthresh)
        self.tcp_link[links] = True
        self.any_tcp = bool(links)
        self.tcp = TcpConnections(world, links, c2s, rto, cwnd, dup)
        self.repair = np.zeros((n_links, 2), dtype=np.int64)
        #: per flow: the NACK round trip where it spans the whole path (a mesh sets it;
        #: empty: each hop's own round trip)
        self.flow_rtt = np.zeros(0, dtype=np.int64)
        #: a receiver's client resource (its decoder stage) is its own index
        self.receiver_res = np.arange(len(world.participants), dtype=np.int64)
        #: room for the rows a batch drops, kept between calls (grown to the largest batch)
        self._dropped = empty_packets()
        #: how the arrived rows of the last `transmit` are ordered by `t` (kernels_rtp.ORDER_*)
        self.order = ORDER_NONE

    def in_flight(self) -> int:
        """Packets held inside TCP connections."""
        return self.tcp.in_flight() if self.any_tcp else 0

    def transmit(self, stage: str, batch: Packets, t1: int, window: int, measuring: bool,
                 next_res: npt.NDArray[np.int64] | None = None, feedback: FeedbackBuffer | None = None
                 ) -> tuple[Packets, Packets]:
        """Send a stage's batch over its links; return (arrived, dropped).
        The arrived rows start with those that crossed a UDP link, in batch order (TCP
        deliveries, which may stem from earlier batches, follow). The batch is consumed: the
        arrived rows may be a view of it. Arrived rows carry their arrival in `t`, the
        breakdown stamps and, with `next_res` (indexed by receiver), the next stage's
        resource in `res` (rows without a receiver keep theirs). With `feedback`, every UDP
        packet to a watched receiver is recorded there as it is sent (transport-wide
        feedback). `order` then says how the arrived rows are ordered (a next stage fed only
        by them may skip its check)."""
        if not self.any_tcp:
            if len(batch) == 0:
                self.order = ORDER_TIME
                return batch, batch
            return self._udp(batch, window, measuring, next_res, feedback)
        on_tcp = self.tcp_link[batch["res"]] if len(batch) else np.zeros(0, dtype=bool)
        udp = batch if not on_tcp.any() else rows(batch, ~on_tcp)
        self.order = ORDER_TIME
        out, dropped = self._udp(udp, window, measuring, next_res, feedback) if len(udp) else (udp, udp)
        tcp_out = self.tcp.advance(stage, rows(batch, on_tcp) if on_tcp.any() else empty_packets(), t1, window,
                                   measuring)
        if len(tcp_out):
            stamp_crossings(self.role, tcp_out["res"], tcp_out["t"], tcp_out["capture"], tcp_out["up_us"],
                            tcp_out["out_us"], ROLE_UPLINK, ROLE_NIC_OUT)
            if next_res is not None:
                sub = tcp_out["sub"]
                tcp_out["res"] = np.where(sub >= 0, next_res[np.maximum(sub, 0)], tcp_out["res"])
            out = concat([out, tcp_out]) if len(out) else tcp_out
            self.order = ORDER_NONE  # TCP deliveries make no promise
        return out, dropped

    def _udp(self, batch: Packets, window: int, measuring: bool, next_res: npt.NDArray[np.int64] | None,
             feedback: FeedbackBuffer | None) -> tuple[Packets, Packets]:
        """UDP links: FIFO, loss, jitter, RTP repair, stamps, next resource and the split
        into (arrived, dropped) in one compiled pass; arrived is the front of `batch`."""
        table = self.world.links
        n = len(batch)
        if len(self._dropped) < n:
            self._dropped = empty_packets(max(n, 2 * len(self._dropped)))
        counts = table.counters.pending(LINK_COUNTERS, window, measuring)
        fb = _NO_FEEDBACK
        if feedback is not None:
            feedback.reserve(n)
            fb = feedback
        filled, crossed, lost, self.order = transmit_rtp(  # type: ignore[call-arg]  # numba dispatcher stub
            batch, table.rate_bps, table.delay_ns, table.jitter_ns, table.loss, table.queue_ns, table.key,
            table.busy_until, table.last_out, table.sequence, self.recover, self.world.streams.period_ns, self.hop,
            self.role, _NO_NEXT if next_res is None else next_res, self.frame_last, self.holds,
            self.ready_t, self.ready_fseq, self.max_retries, self._dropped, counts, self.repair, fb.row, fb.col,
            fb.paced, fb.down_delay, fb.up_delay, *fb.pending(), fb.n, self.flow_rtt)
        if feedback is not None:
            feedback.n = filled
        if crossed == n:
            return batch, batch[:0]
        return batch[:crossed], self._dropped[:lost].copy()
