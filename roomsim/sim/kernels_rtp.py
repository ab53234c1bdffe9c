"""Per-packet loop of RTP over UDP links, compiled with numba (`transmit_rtp`).

Fed in time order; state lives in arrays passed in (no clocks, no globals), in the style of
`kernels`. The TCP loop is `kernels_tcp`, playout `kernels_playout`.

* `transmit_rtp`: links as drop-tail FIFOs (rate, propagation delay, exponential delay
  variation that never reorders a path, random loss) whose random losses may be
  repaired the way WebRTC repairs them: NACK/RTX for video (the receiver sees the gap,
  asks once per RTT, the sender resends), RED for audio (RFC 2198: the next packet carries
  the lost frame). Congestion (queue) drops are never repaired: a resend would meet the
  same full queue.
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit
from roomsim.sim.kernels import (
    BYTES,
    DROPPED_BYTES,
    DROPPED_LOSS,
    DROPPED_QUEUE,
    LOST,
    PACKETS,
    PAYLOAD,
    QUEUE_DROP,
    SENT,
    _uniform,
)

RECOVER_NONE, RECOVER_NACK, RECOVER_RED = 0, 1, 2

#: Hop classes of links: a client's uplink, a client's downlink, anything else.
HOP_UP, HOP_DOWN, HOP_OTHER = 0, 1, 2

#: Link roles for the latency-breakdown stamps (see `transmit_rtp`).
ROLE_OTHER, ROLE_UPLINK, ROLE_DOWNLINK, ROLE_NIC_OUT = 0, 1, 2, 3

#: How the rows that crossed are ordered (`transmit_rtp`'s last result): no promise; each
#: link's rows in time order (FIFO, no repair that jumps the line); all rows in time order.
ORDER_NONE, ORDER_PER_LINK, ORDER_TIME = 0, 1, 2

#: RTX packets carry the original sequence number in a 2-byte header (RFC 4588 sec. 4).
RTX_HEADER_BYTES = 2

#: Columns of the repair counters: RTX packets sent, packets repaired.
RTX_SENT, REPAIRED = 0, 1

_RTX_SALT = np.uint64(0x5DEECE66D1234567)
_RED_SALT = np.uint64(0x2545F4914F6CDD1D)
_NS_PER_BIT = 8e9
_INF = np.iinfo(np.int64).max


@njit(cache=True, inline="always")
def _jitter(jitter_ns: float, r: float) -> np.int64:
    """Exponential delay variation, rint(-jitter ln(1 - r)) ns. log(1 - r) is ~2x faster
    than log1p(-r) and within 1e-14 of it (1 - r is exact above 0.5 and within 2^-54
    below), so the two round alike unless the product lies within a hair of a half
    nanosecond: only then is log1p taken."""
    if r > 1.0 - 1e-16:
        r = 1.0 - 1e-16
    y = -jitter_ns * np.log(1.0 - r)
    if abs(y - np.floor(y) - 0.5) <= jitter_ns * 1e-12 + 1e-9:
        y = -jitter_ns * np.log1p(-r)
    return np.int64(np.rint(y))


@njit(cache=True, inline="always")
def _hidden(jitter_ns: float, r: float, slack: np.int64) -> bool:
    """Whether the jitter `_jitter(jitter_ns, r)` surely stays below `slack`, the time until
    the previous packet on the link arrives: the packet then arrives right behind that one
    whatever its jitter, and the logarithm can be skipped (on a busy link most packets are
    held back so; a downlink whose packets arrive closer together than its mean jitter
    too). Uses -ln(1 - r) <= r / sqrt(1 - r) (ln x >= (x - 1) / sqrt(x) for 0 < x <= 1:
    2 ln t - t + 1/t falls from 0 at t = 1), multiplied through by sqrt(1 - r) (a
    division costs more than the rest of the test), with a margin for rounding. Against
    the looser r / (1 - r), the square root cuts the logarithms taken on sfu-50's
    downlinks from ~19 % of their packets to ~5 %."""
    if slack <= 0:
        return False
    if r > 1.0 - 1e-16:
        r = 1.0 - 1e-16
    root = np.sqrt(1.0 - r)
    return bool(jitter_ns * r * (1.0 + 1e-9) + root < slack * root)


@njit(cache=True)
def transmit_rtp(batch, rate_bps, delay_ns, jitter_ns, loss, queue_ns, key, busy_until, last_out, sequence, recover,
                 period_ns, hop, role,
                 next_res, frame_last, holds, ready_t, ready_fseq, max_retries, dropped, counts, repair,
                 fb_row, fb_col, fb_paced, down_delay, up_delay, fb_sub, fb_send, fb_arrive, fb_size, fb_probe,
                 fb_report, fb_n, flow_rtt):  # type: ignore[no-untyped-def]
    """Send packets (in time order) over their links, repairing random losses per the
    stream's `recover` mode.

    `batch` holds PACKET rows, read and written as records (~40 % cheaper than one strided
    array per field). Each packet's fate is SENT, QUEUE_DROP or LOST; per-link counters are
    added into `counts[res, column]`. Splits the batch in the same pass, each part in
    batch order: the rows that crossed move up to the front of `batch`, the others are
    copied, untouched, to `dropped` (room for the whole batch); returns
    (feedback fill level, rows crossed, rows dropped, order), where `order` says how the
    rows that crossed are ordered by their new `t` (ORDER_TIME: all in time order;
    ORDER_PER_LINK: each link's; ORDER_NONE: a repaired packet left a hop out of line), so
    the next stage may skip its order check (a compare per row here against a pass over
    the records there). Splitting in place costs a record
    copy per row behind the first drop, while a split afterwards read the batch again and
    wrote two fresh arrays (their page faults alone cost as much). A packet that crossed
    gets: its arrival at the far end in `t`; the breakdown stamps of its link's `role`
    (crossing a client uplink sets `up_us` and `out_us`, crossing a server NIC-out sets
    `out_us`, in microseconds after `capture`); and, where `next_res` is not empty and it
    has a receiver, the next stage's resource `next_res[sub]` in `res`. One pass, instead of
    one numpy pass per field after the links (at ~700k copies a second those passes cost
    as much as the links). Dropped packets keep every field.

    Transport-wide feedback: where `fb_row` is not empty, every packet to a watched
    receiver (`fb_row[sub]` >= 0) is appended to the feedback columns `fb_*` from row `fb_n`
    on, keyed by the estimator row `fb_row[sub] + fb_col[stream]` (an SFU: one row per
    subscriber, `fb_col` all 0; a mesh: one row per peer connection, the sender's offset
    within the receiver's block): its send time (this link's, or with `fb_paced` when it
    left the sender's pacer, the `enc_us` stamp), arrival (-1 if lost), size, whether it is
    probe padding, and when its report reaches the sender (arrival, or when it would have
    arrived, `down_delay[row]` after sending, plus the return delay `up_delay[row]`);
    the fill level returned stays `fb_n` when nothing is watched.

    (The body of one packet is a one-pass inner loop left by `break`, so that every fate
    reaches the common tail: a helper function per packet would pass ~30 arrays a call,
    ~13x slower.)
    Loss and jitter share one uniform u: lost if u < p, and otherwise (u - p) / (1 - p),
    uniform again and independent of the loss event, sets an exponential extra delay
    with mean = the link's jitter. Then:

    * NACK: the gap is seen when the next packet of the flow arrives (right behind it, or
      one frame later for a frame's last packet); each try costs one round trip and
      one RTX packet with an independent loss draw; after `max_retries` the packet is lost.
      The round trip is the hop's (an SFU terminates NACKs on each side), or, where
      `flow_rtt[flow]` is set, that of the whole path between the flow's sender and
      receiver (a mesh peer connection: the NACK and the resend cross both peers' access
      links and the backbone between them).
    * RED: the lost frame rides in the next frame's packet, one frame period later, unless
      that packet is lost too (an independent draw: exact in distribution for the links'
      independent losses).
    * On a hop before the receiver's downlink, the rest of a frame behind a NACK-repaired
      packet leaves the hop after it (`frame_last[flow, hop]` holds (frame, arrival);
      `holds[link]` counts the open ones, so links without any skip the check), so the
      frame still completes with its marker.
    * On the receiver's downlink the repaired packet keeps its place in line and the time
      the repair arrives goes to `ready_t[flow, fseq & 63]`: the receiver completes the
      frame then (kernels.receive_frames). Packets so reach receivers in time order.
    Repaired packets do not hold back other flows (later frames wait for them at the
    receiver, whose video plays in order), and RTX packets do not occupy the FIFO.
    """
    record = len(fb_row) > 0
    crossed = 0
    timely = True  # every row that crossed arrives no earlier than the one before it
    fifo = True  # every link's rows that crossed arrive in time order
    latest = np.int64(-_INF)
    p_seen = -1.0  # the loss rate whose r_above is cached (links of a stage mostly share one)
    r_above = 1.0  # times u - p: at least r (so a bound on its jitter holds for r too)
    lost = 0
    for i in range(len(batch)):
        row = batch[i]
        sent_at = row.t
        fate = LOST
        arrive = np.int64(-1)
        for _ in range(1):
            q = row.res
            a = row.t
            n = sequence[q]
            sequence[q] = n + 1
            counts[q, PACKETS] += 1
            counts[q, BYTES] += row.size
            counts[q, PAYLOAD] += row.payload
            busy = busy_until[q]
            if busy - a > queue_ns[q]:
                fate = QUEUE_DROP
                counts[q, DROPPED_QUEUE] += 1
                counts[q, DROPPED_BYTES] += row.size
                break
            service = np.int64(np.rint(row.size * _NS_PER_BIT / rate_bps[q]))
            done = (busy if busy > a else a) + service
            busy_until[q] = done
            arrive = done + delay_ns[q]
            p = loss[q]
            j = jitter_ns[q]
            repaired = False
            hold = False
            if p > 0.0 or j > 0.0:
                u = _uniform(key[q], n)
                if u < p:
                    counts[q, DROPPED_LOSS] += 1
                    counts[q, DROPPED_BYTES] += row.size
                    s = row.stream
                    mode = recover[s] if row.fseq >= 0 else RECOVER_NONE  # probe padding is not repaired
                    if mode == RECOVER_RED:
                        v = _uniform(key[q] ^ _RED_SALT, n)
                        if v < p:
                            fate = LOST
                            break
                        arrive += np.int64(period_ns[s]) + _jitter(j, (v - p) / (1.0 - p))
                    elif mode == RECOVER_NACK:
                        detect = arrive + (np.int64(period_ns[s]) if row.marker else np.int64(0))
                        round_trip = 2 * delay_ns[q] + service
                        if len(flow_rtt) > 0 and flow_rtt[row.flow] > 0:
                            round_trip = flow_rtt[row.flow] + service
                        ok = False
                        for k in range(1, max_retries + 1):
                            counts[q, PACKETS] += 1
                            counts[q, BYTES] += row.size + RTX_HEADER_BYTES
                            counts[q, PAYLOAD] += row.payload
                            repair[q, RTX_SENT] += 1
                            v = _uniform(key[q] ^ _RTX_SALT, n * 64 + k)
                            if v >= p:
                                arrive = detect + k * round_trip + _jitter(j, (v - p) / (1.0 - p))
                                ok = True
                                break
                            counts[q, DROPPED_LOSS] += 1
                            counts[q, DROPPED_BYTES] += row.size + RTX_HEADER_BYTES
                        if not ok:
                            fate = LOST
                            break
                    else:
                        fate = LOST
                        break
                    repair[q, REPAIRED] += 1
                    if hop[q] == HOP_DOWN:
                        f = row.flow
                        slot = row.fseq & 63
                        if ready_fseq[f, slot] != row.fseq or ready_t[f, slot] < arrive:
                            ready_fseq[f, slot] = row.fseq
                            ready_t[f, slot] = arrive
                        arrive = done + delay_ns[q]  # keeps its place in line; its frame waits
                    else:
                        repaired = True
                        hold = mode == RECOVER_NACK  # the rest of its frame waits for it
                else:  # the draw r = (u - p) / (1 - p), divided only if its jitter can show
                    if p != p_seen:
                        p_seen = p
                        r_above = (1.0 + 1e-12) / (1.0 - p)
                    if not _hidden(j, (u - p) * r_above, last_out[q] - arrive):
                        arrive += _jitter(j, (u - p) / (1.0 - p))
            if arrive < last_out[q]:
                arrive = last_out[q]  # delay variation on one path never reorders it
            if repaired:  # sent later: what was sent before it may arrive first
                fifo = False
                if hold:
                    f = row.flow
                    h = hop[q]
                    if frame_last[f, h, 0] < 0:
                        holds[q] += 1
                    if frame_last[f, h, 0] != row.fseq or frame_last[f, h, 1] < arrive:
                        frame_last[f, h, 0] = row.fseq
                        frame_last[f, h, 1] = arrive
            else:
                last_out[q] = arrive
                if holds[q] > 0:  # the rest of a frame behind a NACK repair leaves after it
                    f = row.flow
                    h = hop[q]
                    if frame_last[f, h, 0] >= 0:
                        if frame_last[f, h, 0] == row.fseq:
                            if arrive < frame_last[f, h, 1]:
                                arrive = frame_last[f, h, 1]
                                fifo = False
                        else:
                            frame_last[f, h, 0] = -1
                            holds[q] -= 1
            fate = SENT
            if arrive < latest:
                timely = False
            else:
                latest = arrive
            row.t = arrive
            r = role[q]
            if r == ROLE_UPLINK:
                since = (arrive - row.capture) // 1000
                row.up_us = since
                row.out_us = since
            elif r == ROLE_NIC_OUT:
                row.out_us = (arrive - row.capture) // 1000
            if len(next_res) > 0 and row.sub >= 0:
                row.res = next_res[row.sub]
        if record and row.sub >= 0 and fb_row[row.sub] >= 0:
            r = fb_row[row.sub] + fb_col[row.stream]
            if fb_paced:
                sent_at = row.capture + np.int64(row.enc_us) * 1000
            fb_sub[fb_n] = r
            fb_send[fb_n] = sent_at
            fb_arrive[fb_n] = arrive if fate == SENT else -1
            fb_size[fb_n] = row.size
            fb_probe[fb_n] = row.fseq < 0
            fb_report[fb_n] = (arrive if fate == SENT else sent_at + down_delay[r]) + up_delay[r]
            fb_n += 1
        if fate == SENT:
            if crossed != i:
                batch[crossed] = batch[i]
            crossed += 1
        else:
            dropped[lost] = batch[i]
            lost += 1
    order = ORDER_TIME if timely else ORDER_PER_LINK if fifo else ORDER_NONE
    return fb_n, crossed, lost, order
