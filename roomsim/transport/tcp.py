"""WebSocket media over TCP: one connection per access link of a `websocket` participant.

The uplink connection runs from the client to the server it talks to (the media node,
or, in a mesh, a relay: browsers cannot open TCP to each other; TURN over TCP/TLS is the
real-world equivalent); the downlink connection runs back. Every media frame is one
WebSocket message in one TLS record; messages that queue together (behind a full
congestion window, or behind a retransmission) share TCP segments up to the MSS, as a
byte stream does. The per-packet work is `kernels_tcp.tcp_advance`; this class keeps the
segments a connection still needs (unacknowledged or not yet delivered) between ticks.

Send and receive buffering: data waits in the sender while the congestion window is
full, and in the receiver while a hole ahead of it is being retransmitted. Nagle is off
(WebSocket servers and browsers set TCP_NODELAY) and the application reads as soon as
data is in order. The send buffer is not bounded (an audio stream never fills Linux's
autotuned buffer); a modelling choice.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sim import headers
from roomsim.sim.headers import TCP_ACK_BYTES, TCP_MSS, TCP_TLS_OVERHEAD
from roomsim.sim.kernels import LINK_COUNTERS
from roomsim.sim.kernels_tcp import tcp_advance
from roomsim.sim.packets import Packets, concat, empty_packets, rows
from roomsim.workload.world import World

_STATS = ("retransmits", "timeouts", "fast_retransmits", "acks")


def websocket_wire_bytes(payload: npt.NDArray[np.int64], client_to_server: npt.NDArray[np.bool_]
                         ) -> npt.NDArray[np.int64]:
    """Bytes on the wire of one media frame as a WebSocket binary message: RFC 6455 frame
    header (2 bytes, +2 for 126+ byte payloads, +4 masking key client-to-server) inside a
    TLS record inside a TCP segment."""
    ws = (headers.WEBSOCKET_FRAME_HEADER_BYTES
          + np.where(payload >= 126, headers.WEBSOCKET_EXTENDED_LENGTH_16_BYTES, 0)
          + np.where(client_to_server, headers.WEBSOCKET_MASK_KEY_BYTES, 0))
    return payload + ws + TCP_TLS_OVERHEAD


class TcpConnections:
    """TCP state of every websocket access link, and the segments still in play."""

    def __init__(self, world: World, links: list[int], client_to_server: list[bool],
                 min_rto_ns: list[int], initial_cwnd: list[int], dupthresh: list[int]) -> None:
        self.world = world
        table = world.links
        n = len(links)
        self.conn_of_link = np.full(len(table.rate_bps), -1, dtype=np.int64)
        self.conn_of_link[links] = np.arange(n)
        self.link = np.array(links, dtype=np.int64)
        self.client_to_server = np.array(client_to_server, dtype=bool)
        delay = table.delay_ns[self.link].astype(np.float64)
        mss_time = TCP_MSS * 8e9 / table.rate_bps[self.link]
        # The handshake (TCP, TLS, WebSocket upgrade) has measured the path: RFC 6298 sec. 2.2.
        self.srtt = 2 * delay + mss_time
        self.rttvar = self.srtt / 2
        self.min_rto = np.array(min_rto_ns, dtype=np.int64)
        self.rto = (self.srtt + np.maximum(4 * self.rttvar, self.min_rto)).astype(np.int64)
        self.ack_delay = table.delay_ns[self.link].astype(np.int64)
        self.cwnd = np.array(initial_cwnd, dtype=np.float64)
        self.ssthresh = np.full(n, 1e12)
        self.dupthresh = np.array(dupthresh, dtype=np.int64)
        self.una, self.nxt, self.rcv, self.next_seq = (np.zeros(n, dtype=np.int64) for _ in range(4))
        self.last_deliver, self.now, self.dupacks, self.recover = (np.zeros(n, dtype=np.int64) for _ in range(4))
        self.deadline = np.full(n, -1, dtype=np.int64)
        self.inrec = np.zeros(n, dtype=bool)
        self.flight = np.zeros(n)  # bytes sent, not yet acknowledged
        self.stats = np.zeros((n, len(_STATS)), dtype=np.int64)
        # per connection, a ring of transmissions whose ACK is on its way: ACK time, segment,
        # send time, whether it was a retransmission
        self.r_ack = np.zeros((n, 0), dtype=np.int64)
        self.r_seq = np.zeros((n, 0), dtype=np.int64)
        self.r_sent = np.zeros((n, 0), dtype=np.int64)
        self.r_retx = np.zeros((n, 0), dtype=bool)
        self.r_head = np.zeros(n, dtype=np.int64)
        self.r_len = np.zeros(n, dtype=np.int64)
        self._ring(64)
        self.held = empty_packets()
        self.seg = {name: np.zeros(0, dtype=np.int64) for name in
                    ("conn", "seq", "write", "size", "arrival", "xmits", "deliver")}
        self.seg_out = np.zeros(0, dtype=bool)
        self.stage_conns: dict[str, set[int]] = {}

    def _ring(self, capacity: int, keep: bool = False) -> None:
        """(Re)allocate the in-flight ACK rings, unrolled to start at slot 0."""
        n = len(self.link)
        fresh = {"r_ack": np.zeros((n, capacity), dtype=np.int64), "r_seq": np.zeros((n, capacity), dtype=np.int64),
                 "r_sent": np.zeros((n, capacity), dtype=np.int64),
                 "r_retx": np.zeros((n, capacity), dtype=bool)}
        if keep:
            old = self.r_ack.shape[1]
            for c in range(n):
                idx = (self.r_head[c] + np.arange(self.r_len[c])) % old
                for name, array in fresh.items():
                    array[c, :len(idx)] = getattr(self, name)[c, idx]
            self.r_head = np.zeros(n, dtype=np.int64)
        else:
            self.r_len = np.zeros(n, dtype=np.int64)
            self.r_head = np.zeros(n, dtype=np.int64)
        self.r_ack, self.r_seq, self.r_sent, self.r_retx = (fresh["r_ack"], fresh["r_seq"], fresh["r_sent"],
                                                            fresh["r_retx"])

    def in_flight(self) -> int:
        """Segments written but not yet delivered to the far application."""
        return int(np.count_nonzero(self.seg["deliver"] < 0))

    def advance(self, stage: str, new: Packets, t1: int, window: int, measuring: bool) -> Packets:
        """Write `new` rows (media frames reaching their TCP link, in time order per link),
        run the stage's connections up to t1, and return the rows delivered in order at
        the far end (`t` = delivery time; may lie beyond t1)."""
        conns = self.conn_of_link[new["res"]] if len(new) else np.zeros(0, dtype=np.int64)
        active_set = self.stage_conns.setdefault(stage, set())
        active_set.update(np.unique(conns).tolist())
        if not active_set:
            return empty_packets()
        active = np.array(sorted(active_set), dtype=np.int64)
        self._append(new, conns)
        seg = self.seg
        count = self.next_seq - self.una
        base = np.searchsorted(seg["conn"], np.arange(len(self.link)))
        need = int((self.r_len + 3 * count).max()) + 8
        if need > self.r_ack.shape[1]:
            self._ring(max(need, 2 * self.r_ack.shape[1]), keep=True)
        table = self.world.links
        counts = table.counters.pending(LINK_COUNTERS, window, measuring)
        payload = self.held["payload"].astype(np.int64)
        tcp_advance(t1, active, self.link, base, count, self.una, self.nxt, self.rcv, self.last_deliver, self.now,
                    self.cwnd, self.ssthresh, self.srtt, self.rttvar, self.rto, self.deadline, self.dupacks,
                    self.inrec, self.recover, self.min_rto, self.ack_delay, self.dupthresh, self.flight, self.r_ack,
                    self.r_seq, self.r_sent, self.r_retx, self.r_head, self.r_len, seg["write"], seg["size"], payload,
                    seg["arrival"], seg["xmits"], seg["deliver"], TCP_ACK_BYTES, TCP_MSS, table.rate_bps,
                    table.delay_ns, table.jitter_ns, table.loss, table.queue_ns, table.key, table.busy_until,
                    table.last_out, table.sequence, counts, self.stats)
        newly = (seg["deliver"] >= 0) & ~self.seg_out
        out = rows(self.held, newly)
        out["t"] = seg["deliver"][newly]
        self.seg_out |= newly
        keep = seg["seq"] >= self.una[seg["conn"]]
        if not keep.all():
            self.held = rows(self.held, keep)
            self.seg = {name: array[keep] for name, array in seg.items()}
            self.seg_out = self.seg_out[keep]
        return out

    def _append(self, new: Packets, conns: npt.NDArray[np.int64]) -> None:
        """Give new writes their sequence numbers and merge them into the held table,
        ordered by (connection, sequence)."""
        if len(new) == 0:
            return
        order = np.argsort(conns, kind="stable")
        conns_sorted = conns[order]
        per_conn = np.bincount(conns, minlength=len(self.link))
        starts = np.cumsum(per_conn) - per_conn
        rank = np.arange(len(order)) - starts[conns_sorted]
        seq = np.empty(len(new), dtype=np.int64)
        seq[order] = self.next_seq[conns_sorted] + rank
        self.next_seq += per_conn
        payload = new["payload"].astype(np.int64)
        size = websocket_wire_bytes(payload, self.client_to_server[conns])
        fresh = {"conn": conns, "seq": seq, "write": new["t"].astype(np.int64), "size": size,
                 "arrival": np.full(len(new), -1, dtype=np.int64), "xmits": np.zeros(len(new), dtype=np.int64),
                 "deliver": np.full(len(new), -1, dtype=np.int64)}
        merged = {name: np.concatenate([self.seg[name], fresh[name]]) for name in fresh}
        held = concat([self.held, new]) if len(self.held) else new.copy()
        out_flags = np.concatenate([self.seg_out, np.zeros(len(new), dtype=bool)])
        order = np.lexsort((merged["seq"], merged["conn"]))
        self.seg = {name: array[order] for name, array in merged.items()}
        self.held = rows(held, order)
        self.seg_out = out_flags[order]

    def statistics(self) -> dict[str, npt.NDArray[np.int64]]:
        """Per-connection totals: retransmits, timeouts, fast retransmits, ACKs."""
        return {name: self.stats[:, k] for k, name in enumerate(_STATS)}
