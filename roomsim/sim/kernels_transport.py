"""Per-packet loops of the transports and of playout, compiled with numba.

Three kernels, each fed in time order and holding its state in arrays passed in (no
clocks, no globals), in the style of `kernels`:

* `transmit_rtp`: links as drop-tail FIFOs (rate, propagation delay, exponential delay
  variation that never reorders a path, random loss) whose random losses may be
  repaired the way WebRTC repairs them: NACK/RTX for video (the receiver sees the gap,
  asks once per RTT, the sender resends), RED for audio (RFC 2198: the next packet carries
  the lost frame). Congestion (queue) drops are never repaired: a resend would meet the
  same full queue.
* `tcp_advance`: TCP connections as event loops (new data, ACK arrivals, the
  retransmission timer) run up to a horizon: in-order delivery, retransmission on three
  duplicate ACKs (RFC 5681 fast retransmit, NewReno partial ACKs, RFC 6582) or on the
  retransmission timeout (RFC 6298 estimator; floor as Linux applies it, see below),
  slow start and congestion avoidance, head-of-line blocking. As Linux does: the window
  is cut to beta = 0.7 of cwnd on loss (CUBIC, RFC 9438 sec. 4.6; Linux's default since
  2.6.19) and only grows while the sender is window-limited (tcp_is_cwnd_limited; RFC
  7661), so an application-limited audio stream keeps its initial window; the RTO is
  SRTT + max(4 RTTVAR, TCP_RTO_MIN) (tcp_set_rto/tcp_rtt_estimator, net/ipv4/tcp_input.c).
* `play_frames`: the receiver's jitter buffer. Audio follows NetEq's delay manager
  (libwebrtc modules/audio_coding/neteq): the delay of each packet relative to the fastest
  packet of the last 2 s is histogrammed in 20 ms buckets (the maximum of every 500 ms
  interval, forget factor 0.983, start weight 2), and the target delay is the bucket of
  the 0.95 quantile, 80 ms before the first estimate (delay_manager.h/.cc,
  underrun_optimizer.cc, histogram.cc, packet_arrival_history.cc). A frame plays at
  capture + fastest transit + target; an RTP frame that arrives after that is discarded
  (concealed), a TCP frame is played late (nothing was lost, the player catches up).
  Video plays in order as soon as it is decoded (a later frame waits for the frame it
  references).
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
    latency_bin,
)

RECOVER_NONE, RECOVER_NACK, RECOVER_RED = 0, 1, 2

#: Hop classes of links: a client's uplink, a client's downlink, anything else.
HOP_UP, HOP_DOWN, HOP_OTHER = 0, 1, 2

#: Link roles for the latency-breakdown stamps (see `transmit_rtp`).
ROLE_OTHER, ROLE_UPLINK, ROLE_DOWNLINK, ROLE_NIC_OUT = 0, 1, 2, 3

#: RTX packets carry the original sequence number in a 2-byte header (RFC 4588 sec. 4).
RTX_HEADER_BYTES = 2

#: Columns of the repair counters: RTX packets sent, packets repaired.
RTX_SENT, REPAIRED = 0, 1

#: TCP statistics columns per connection.
TCP_RETRANSMITS, TCP_TIMEOUTS, TCP_FAST_RETRANSMITS, TCP_ACKS = range(4)

#: Linux caps the retransmission timeout at TCP_RTO_MAX = 120 s (include/net/tcp.h).
TCP_RTO_MAX_NS = 120_000_000_000
#: CUBIC's multiplicative decrease (RFC 9438 sec. 4.6; Linux tcp_cubic.c beta = 717/1024).
TCP_BETA = 0.7
#: RFC 6298 sec. 2: clock granularity G; Linux counts in jiffies/us, 1 ms is conservative.
TCP_CLOCK_GRANULARITY_NS = 1_000_000

#: NetEq delay manager constants (libwebrtc, see module docstring).
NETEQ_BUCKETS = 100
NETEQ_BUCKET_NS = 20_000_000
NETEQ_START_DELAY_NS = 80_000_000
NETEQ_RESAMPLE_NS = 500_000_000
NETEQ_HISTORY_NS = 2_000_000_000
NETEQ_BLOCK_NS = 500_000_000
NETEQ_HISTORY_BLOCKS = NETEQ_HISTORY_NS // NETEQ_BLOCK_NS + 1
NETEQ_FORGET = 0.983
NETEQ_START_FORGET_WEIGHT = 2.0
NETEQ_QUANTILE = 0.95

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
    held back so). Uses -ln(1 - r) <= r / (1 - r), with a margin for rounding."""
    if slack <= 0:
        return False
    if r > 1.0 - 1e-16:
        r = 1.0 - 1e-16
    return bool(jitter_ns * r / (1.0 - r) * (1.0 + 1e-9) + 1.0 < slack)


@njit(cache=True)
def transmit_rtp(batch, rate_bps, delay_ns, jitter_ns, loss, queue_ns, key, busy_until, last_out, sequence, recover,
                 period_ns, hop, role,
                 next_res, frame_last, holds, ready_t, ready_fseq, max_retries, status, counts, repair, fb_row,
                 fb_col, fb_paced, down_delay, up_delay, fb_sub, fb_send, fb_arrive, fb_size, fb_probe, fb_report,
                 fb_n, flow_rtt):  # type: ignore[no-untyped-def]
    """Send packets (in time order) over their links, repairing random losses per the
    stream's `recover` mode.

    `batch` holds PACKET rows, read and written as records (~40 % cheaper than one strided
    array per field). Writes each packet's fate to `status` (SENT, QUEUE_DROP or LOST);
    adds per-link counters into `counts[res, column]`. A packet that crossed gets, in
    place: its arrival at the far end in `t`; the breakdown stamps of its link's `role`
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
    arrived, `down_delay[row]` after sending, plus the return delay `up_delay[row]`).
    Returns the new fill level (`fb_n` when nothing is watched).

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
                else:
                    r = (u - p) / (1.0 - p)
                    if not _hidden(j, r, last_out[q] - arrive):
                        arrive += _jitter(j, r)
            if arrive < last_out[q]:
                arrive = last_out[q]  # delay variation on one path never reorders it
            if repaired:  # sent later: what was sent before it may arrive first
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
                        else:
                            frame_last[f, h, 0] = -1
                            holds[q] -= 1
            fate = SENT
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
        status[i] = fate
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
    return fb_n


@njit(cache=True)
def split_sent(batch, status, out, dropped):  # type: ignore[no-untyped-def]
    """Split a batch (PACKET rows) after its links, in batch order: rows that crossed
    (`status` SENT) to `out`, the others to `dropped`.
    Two loops: with both record copies in one loop numba's copies run ~8x slower."""
    n = 0
    for i in range(len(batch)):
        if status[i] == SENT:
            out[n] = batch[i]
            n += 1
    m = 0
    for i in range(len(batch)):
        if status[i] != SENT:
            dropped[m] = batch[i]
            m += 1


@njit(cache=True)
def _tcp_xmit(q, when, size, payload, rate_bps, delay_ns, jitter_ns, loss, queue_ns, key, busy_until, last_out,
              sequence, counts):  # type: ignore[no-untyped-def]
    """One TCP segment onto its link: arrival at the far end, or -1 if dropped."""
    n = sequence[q]
    sequence[q] = n + 1
    counts[q, PACKETS] += 1
    counts[q, BYTES] += size
    counts[q, PAYLOAD] += payload
    busy = busy_until[q]
    if busy - when > queue_ns[q]:
        counts[q, DROPPED_QUEUE] += 1
        counts[q, DROPPED_BYTES] += size
        return np.int64(-1)
    done = (busy if busy > when else when) + np.int64(np.rint(size * _NS_PER_BIT / rate_bps[q]))
    busy_until[q] = done
    arrive = done + delay_ns[q]
    p = loss[q]
    j = jitter_ns[q]
    if p > 0.0 or j > 0.0:
        u = _uniform(key[q], n)
        if u < p:
            counts[q, DROPPED_LOSS] += 1
            counts[q, DROPPED_BYTES] += size
            return np.int64(-1)
        arrive += _jitter(j, (u - p) / (1.0 - p))
    if arrive < last_out[q]:
        arrive = last_out[q]
    last_out[q] = arrive
    return arrive


@njit(cache=True)
def _tcp_send(c, q, lo, hi, end, now, retx, only_written, base, first, s_write, s_size, s_payload, s_arrival,
              s_xmits, s_deliver, c_rcv, c_last_deliver, c_ack_delay, r_ack, r_seq, r_sent, r_retx, r_head, r_len,
              header, mss, rate_bps, delay_ns, jitter_ns, loss, queue_ns, key, busy_until, last_out, sequence,
              counts):  # type: ignore[no-untyped-def]
    """Send one segment carrying messages lo, lo+1, ... (below hi; written by `now` when
    `only_written`) up to the MSS: a byte stream packs queued messages together under one
    IP/TCP header. Notes the arrival, queues the ACK, delivers what is now in order.
    Returns (messages sent, wire bytes)."""
    k = lo
    body = 0
    payload = 0
    while k < hi:
        j = base + k - first
        if only_written and s_write[j] > now:
            break
        part = s_size[j] - header
        if k > lo and body + part > mss:
            break
        body += part
        payload += s_payload[j]
        k += 1
    if k == lo:
        return 0, 0
    arrive = _tcp_xmit(q, now, body + header, payload, rate_bps, delay_ns, jitter_ns, loss, queue_ns, key,
                       busy_until, last_out, sequence, counts)
    for m in range(lo, k):
        s_xmits[base + m - first] += 1
    if arrive >= 0:
        for m in range(lo, k):
            j = base + m - first
            if s_arrival[j] < 0 or arrive < s_arrival[j]:
                s_arrival[j] = arrive
        cap = r_ack.shape[1]
        slot = (r_head[c] + r_len[c]) % cap
        r_ack[c, slot] = arrive + c_ack_delay[c]
        r_seq[c, slot] = k - 1
        r_sent[c, slot] = now
        r_retx[c, slot] = retx
        r_len[c] += 1
        while c_rcv[c] < end:
            j = base + c_rcv[c] - first
            if s_arrival[j] < 0:
                break
            d = s_arrival[j] if s_arrival[j] > c_last_deliver[c] else c_last_deliver[c]
            s_deliver[j] = d
            c_last_deliver[c] = d
            c_rcv[c] += 1
    return k - lo, body + header


@njit(cache=True)
def tcp_advance(horizon, active, c_link, c_base, c_count, c_una, c_nxt, c_rcv, c_last_deliver, c_now, c_cwnd,
                c_ssthresh, c_srtt, c_rttvar, c_rto, c_deadline, c_dupacks, c_inrec, c_recover, c_min_rto,
                c_ack_delay, c_dupthresh, c_flight, r_ack, r_seq, r_sent, r_retx, r_head, r_len, s_write, s_size,
                s_payload, s_arrival, s_xmits, s_deliver, header, mss, rate_bps, delay_ns, jitter_ns, loss, queue_ns,
                key, busy_until, last_out, sequence, counts, stats):  # type: ignore[no-untyped-def]
    """Run the `active` connections' events that happen before `horizon`, in time order.

    Connection c holds messages c_una[c] .. c_una[c] + c_count[c] - 1 at table rows
    c_base[c] + (seq - c_una[c]); `s_size` is each message's wire size with its own
    IP/TCP `header`; `c_flight` the bytes sent and not yet acknowledged. Events: send new
    data (when written and the congestion window, in MSS-sized segments, allows), an ACK
    reaching the sender (one per arriving segment, cumulative, one link delay after the
    arrival; ACKs are not lost and do not queue: a modelling choice), the retransmission
    timer. Writes `s_deliver` (in-order delivery time at the receiver) as soon as it is
    known, which may be beyond the horizon.
    """
    cap = r_ack.shape[1]
    for c in active:
        q = c_link[c]
        now = c_now[c]
        first = c_una[c]
        base = c_base[c]
        end = first + c_count[c]
        while True:
            t_ack = r_ack[c, r_head[c]] if r_len[c] > 0 else _INF
            t_rto = c_deadline[c] if c_deadline[c] >= 0 else _INF
            t_send = _INF
            nxt = c_nxt[c]
            if nxt < end and c_flight[c] / mss < c_cwnd[c]:
                w = s_write[base + nxt - first]
                t_send = w if w > now else now
            tau = min(t_ack, min(t_rto, t_send))
            if tau >= horizon:
                break
            now = tau
            if tau == t_ack:
                h = r_head[c]
                seq = r_seq[c, h]
                sent = r_sent[c, h]
                retx = r_retx[c, h]
                r_head[c] = (h + 1) % cap
                r_len[c] -= 1
                stats[c, TCP_ACKS] += 1
                at_receiver = tau - c_ack_delay[c]
                una = c_una[c]
                ackno = una
                acked_bytes = 0
                while ackno < end:
                    j = base + ackno - first
                    if s_arrival[j] < 0 or s_arrival[j] > at_receiver:
                        break
                    if ackno < c_nxt[c]:
                        acked_bytes += s_size[j] - header
                    ackno += 1
                if ackno > una:
                    if not retx:  # Karn's algorithm: no samples from retransmissions
                        sample = float(tau - sent)
                        if c_srtt[c] <= 0.0:
                            c_srtt[c] = sample
                            c_rttvar[c] = sample / 2
                        else:
                            c_rttvar[c] = 0.75 * c_rttvar[c] + 0.25 * abs(c_srtt[c] - sample)
                            c_srtt[c] = 0.875 * c_srtt[c] + 0.125 * sample
                        variance = max(float(TCP_CLOCK_GRANULARITY_NS), 4.0 * c_rttvar[c], float(c_min_rto[c]))
                        c_rto[c] = min(np.int64(c_srtt[c] + variance), TCP_RTO_MAX_NS)
                    window_limited = c_flight[c] / mss >= c_cwnd[c] - 1.0
                    acked = acked_bytes / mss
                    c_flight[c] = max(0.0, c_flight[c] - acked_bytes)
                    c_una[c] = ackno
                    c_dupacks[c] = 0
                    if c_inrec[c]:
                        if ackno > c_recover[c]:
                            c_inrec[c] = False
                            c_cwnd[c] = c_ssthresh[c]
                        elif ackno < c_nxt[c]:  # NewReno partial ACK: the next hole goes now
                            _tcp_send(c, q, ackno, c_nxt[c], end, tau, True, False, base, first, s_write, s_size,
                                      s_payload, s_arrival, s_xmits, s_deliver, c_rcv, c_last_deliver, c_ack_delay,
                                      r_ack, r_seq, r_sent, r_retx, r_head, r_len, header, mss, rate_bps, delay_ns,
                                      jitter_ns, loss, queue_ns, key, busy_until, last_out, sequence, counts)
                            stats[c, TCP_RETRANSMITS] += 1
                    elif window_limited and c_cwnd[c] < c_ssthresh[c]:
                        c_cwnd[c] += acked
                    elif window_limited:
                        c_cwnd[c] += acked / c_cwnd[c]
                    c_deadline[c] = tau + c_rto[c] if c_una[c] < c_nxt[c] else -1
                elif c_una[c] < c_nxt[c] and seq > una:
                    c_dupacks[c] += 1
                    if c_dupacks[c] == c_dupthresh[c] and not c_inrec[c]:
                        c_ssthresh[c] = max(TCP_BETA * c_cwnd[c], 2.0)
                        c_cwnd[c] = c_ssthresh[c]
                        c_inrec[c] = True
                        c_recover[c] = c_nxt[c] - 1
                        _tcp_send(c, q, una, c_nxt[c], end, tau, True, False, base, first, s_write, s_size,
                                  s_payload, s_arrival, s_xmits, s_deliver, c_rcv, c_last_deliver, c_ack_delay,
                                  r_ack, r_seq, r_sent, r_retx, r_head, r_len, header, mss, rate_bps, delay_ns,
                                  jitter_ns, loss, queue_ns, key, busy_until, last_out, sequence, counts)
                        stats[c, TCP_RETRANSMITS] += 1
                        stats[c, TCP_FAST_RETRANSMITS] += 1
            elif tau == t_rto:
                una = c_una[c]
                if una < c_nxt[c]:
                    c_ssthresh[c] = max(TCP_BETA * c_cwnd[c], 2.0)
                    c_cwnd[c] = 1.0
                    c_rto[c] = min(2 * c_rto[c], TCP_RTO_MAX_NS)  # RFC 6298 sec. 5.5 back-off
                    c_inrec[c] = True
                    c_recover[c] = c_nxt[c] - 1
                    c_dupacks[c] = 0
                    _tcp_send(c, q, una, c_nxt[c], end, tau, True, False, base, first, s_write, s_size, s_payload,
                              s_arrival, s_xmits, s_deliver, c_rcv, c_last_deliver, c_ack_delay, r_ack, r_seq,
                              r_sent, r_retx, r_head, r_len, header, mss, rate_bps, delay_ns, jitter_ns, loss,
                              queue_ns, key, busy_until, last_out, sequence, counts)
                    stats[c, TCP_RETRANSMITS] += 1
                    stats[c, TCP_TIMEOUTS] += 1
                    c_deadline[c] = tau + c_rto[c]
                else:
                    c_deadline[c] = -1
            else:
                sent_n, sent_bytes = _tcp_send(c, q, nxt, end, end, tau, False, True, base, first, s_write, s_size,
                                               s_payload, s_arrival, s_xmits, s_deliver, c_rcv, c_last_deliver,
                                               c_ack_delay, r_ack, r_seq, r_sent, r_retx, r_head, r_len, header, mss,
                                               rate_bps, delay_ns, jitter_ns, loss, queue_ns, key, busy_until,
                                               last_out, sequence, counts)
                c_nxt[c] = nxt + sent_n
                c_flight[c] += sent_bytes - header
                if c_deadline[c] < 0:
                    c_deadline[c] = tau + c_rto[c]
        c_now[c] = now


@njit(cache=True)
def _neteq_add(hist, b, bucket, adds, forget):  # type: ignore[no-untyped-def]
    """NetEq Histogram::Add: forget, add, and move the forget factor toward its base."""
    ff = forget[b]
    for k in range(hist.shape[1]):
        hist[b, k] *= ff
    hist[b, bucket] += 1.0 - ff
    adds[b] += 1
    ramp = 1.0 - NETEQ_START_FORGET_WEIGHT / (adds[b] + 1)
    forget[b] = min(NETEQ_FORGET, max(0.0, ramp))


@njit(cache=True)
def _neteq_quantile(hist, b):  # type: ignore[no-untyped-def]
    """NetEq Histogram::Quantile: the first bucket whose tail probability is <= 1 - q."""
    tail = 1.0 - hist[b, 0]
    index = 0
    while tail > 1.0 - NETEQ_QUANTILE and index < hist.shape[1] - 1:
        index += 1
        tail -= hist[b, index]
    return index


@njit(cache=True)
def play_frames(batch, arrival, done, stream_audio, stream_kind, jb_of_flow, discard_late, hist, forget, adds,
                iv_start, iv_max, target, min_target, max_target, blk_start, blk_min, blk_head, video_last,
                audio_played, audio_late, video_played, record, first, end, stage_hist, stage_sums, stage_counts,
                cells, kinds, lower, first_bin, playout):  # type: ignore[no-untyped-def]
    """Play out the frames that packets completed (`done` >= 0: decode completion; `batch`:
    PACKET rows, read as records, in time order per receiver; `arrival`: when each frame
    was complete) and record them, in one pass over the batch.

    `playout` gets each frame's playout time, -1 when a late RTP audio frame is discarded
    (and for packets that complete no frame). Audio frames played and discarded and video
    frames played are counted per receiver. With `record`, a played frame captured in
    [first, end) goes into the stage breakdown (`stage_*`, stages as
    `breakdown.stage_durations`) and the latency histogram (`cells` [receiver, kind, bin]
    flattened, bins as `kernels.latency_bin`). One pass, with no copies of the decoded
    frames between playout and recording: at ~500k frames a second (a webinar) those
    copies cost more than the work.

    The fastest transit of the last 2 s (NetEq's PacketArrivalHistory) is kept as minima of
    500 ms blocks of media time: the current block and the four before it, so the window
    spans 2-2.5 s (a memory-saving approximation: 5 numbers a buffer, not one per packet).
    """
    blocks = blk_min.shape[1]
    bins = len(lower) - 1
    for i in range(len(batch)):
        row = batch[i]
        playout[i] = -1
        if done[i] < 0:
            continue
        r = row.sub
        f = row.flow
        s = row.stream
        b = jb_of_flow[f]
        c = row.capture
        if not stream_audio[s]:
            video_played[r] += 1
        if not stream_audio[s] or b < 0:
            p = done[i] if done[i] > video_last[f] else video_last[f]
            video_last[f] = p
            playout[i] = p
        else:
            a = arrival[i]
            transit = a - c
            if blk_start[b] < 0 or c >= blk_start[b] + blocks * NETEQ_BLOCK_NS:
                blk_start[b] = c if blk_start[b] < 0 else c - (c - blk_start[b]) % NETEQ_BLOCK_NS
                for k in range(blocks):
                    blk_min[b, k] = _INF
            while c >= blk_start[b] + NETEQ_BLOCK_NS:
                blk_head[b] = (blk_head[b] + 1) % blocks
                blk_min[b, blk_head[b]] = _INF
                blk_start[b] += NETEQ_BLOCK_NS
            if transit < blk_min[b, blk_head[b]]:
                blk_min[b, blk_head[b]] = transit
            fastest = blk_min[b, 0]
            for k in range(1, blocks):
                if blk_min[b, k] < fastest:
                    fastest = blk_min[b, k]
            relative = transit - fastest
            deadline = c + fastest + target[b]
            if a > deadline and discard_late[r]:
                late = True
                audio_late[r] += 1
            else:
                late = False
                playout[i] = deadline if deadline > done[i] else done[i]
                audio_played[r] += 1
            # NetEq UnderrunOptimizer::Update with a 500 ms resample interval
            if iv_start[b] < 0:
                iv_start[b] = a
            elif a - iv_start[b] > NETEQ_RESAMPLE_NS:
                bucket = iv_max[b] // NETEQ_BUCKET_NS
                if bucket < NETEQ_BUCKETS:  # NetEq registers delays up to 2,000 ms only
                    _neteq_add(hist, b, bucket, adds, forget)
                t = (1 + _neteq_quantile(hist, b)) * NETEQ_BUCKET_NS
                target[b] = min(max(t, min_target[b]), max_target[b])
                iv_start[b] = a
                iv_max[b] = 0
            if relative > iv_max[b]:
                iv_max[b] = relative
            if late:
                continue
        if not record or c < first or c >= end:
            continue
        k = stream_kind[s]
        stage_counts[r, k] += 1
        enc = np.int64(row.enc_us) * 1000
        up = np.int64(row.up_us) * 1000
        out = np.int64(row.out_us) * 1000
        _stage_into(stage_hist, stage_sums, r, k, 0, enc)
        _stage_into(stage_hist, stage_sums, r, k, 1, up - enc)
        _stage_into(stage_hist, stage_sums, r, k, 2, out - up)
        _stage_into(stage_hist, stage_sums, r, k, 3, arrival[i] - c - out)
        _stage_into(stage_hist, stage_sums, r, k, 4, playout[i] - done[i])
        _stage_into(stage_hist, stage_sums, r, k, 5, done[i] - arrival[i])
        cells[(r * kinds + k) * bins + latency_bin(playout[i] - c, lower, first_bin)] += 1


#: Stage histograms: bin 0 holds exact zeros; then 0.1 ms bins up to 100 ms, 1 ms bins up
#: to 10 s, and one bin above. Linear bins need a division, not a logarithm, per value.
STAGE_FINE_NS, STAGE_FINE_BINS = 100_000, 1000
STAGE_COARSE_NS, STAGE_COARSE_BINS = 1_000_000, 9900
STAGE_BINS = 1 + STAGE_FINE_BINS + STAGE_COARSE_BINS + 1


@njit(cache=True, inline="always")
def _stage_into(hist, sums, r, k, s, v):  # type: ignore[no-untyped-def]
    if v < 0:
        v = 0
    sums[r, k, s] += v
    if v == 0:
        b = 0
    elif v < STAGE_FINE_NS * STAGE_FINE_BINS:
        b = 1 + v // STAGE_FINE_NS
    else:
        b = min(1 + STAGE_FINE_BINS + (v - STAGE_FINE_NS * STAGE_FINE_BINS) // STAGE_COARSE_NS, STAGE_BINS - 1)
    hist[k, s, b] += 1


def stage_bin_edges_ms() -> np.ndarray:
    """Upper edges (ms) of the stage histogram bins (the last bin is open)."""
    fine = np.arange(1, STAGE_FINE_BINS + 1) * STAGE_FINE_NS / 1e6
    coarse = fine[-1] + np.arange(1, STAGE_COARSE_BINS + 1) * STAGE_COARSE_NS / 1e6
    return np.concatenate([[0.0], fine, coarse, [np.inf]])


@njit(cache=True)
def stage_percentiles(hist, qs, upper, out):  # type: ignore[no-untyped-def]
    """Percentiles (ms) of each row of a stage histogram (bins as `_stage_into`, upper
    edges `upper`), linearly interpolated in the bin; NaN for an empty row."""
    bins = hist.shape[1]
    for i in range(hist.shape[0]):
        total = 0.0
        for b in range(bins):
            total += hist[i, b]
        for j in range(len(qs)):
            if total == 0:
                out[i, j] = np.nan
                continue
            target = qs[j] / 100.0 * total
            cumulative = 0.0
            index = 0
            while index < bins - 1 and cumulative + hist[i, index] < target:
                cumulative += hist[i, index]
                index += 1
            if index == 0:
                out[i, j] = 0.0
            elif index == bins - 1:
                out[i, j] = upper[bins - 2]
            else:
                low = upper[index - 1]
                fraction = (target - cumulative) / hist[i, index] if hist[i, index] > 0 else 0.0
                out[i, j] = low + (upper[index] - low) * fraction


@njit(cache=True)
def breakdown_into(hist, sums, counts, sub, kind, stages):  # type: ignore[no-untyped-def]
    """Count each frame's stage durations (ns, rows of `stages`) into the run's stage
    histograms hist[kind, stage, bin] and the receiver's sums[receiver, kind, stage]."""
    for i in range(len(sub)):
        counts[sub[i], kind[i]] += 1
        for s in range(stages.shape[1]):
            _stage_into(hist, sums, sub[i], kind[i], s, stages[i, s])


@njit(cache=True)
def stamp_crossings(role, res, t, capture, up_us, out_us, uplink_role, nic_out_role):  # type: ignore[no-untyped-def]
    """Breakdown stamps in one pass: crossing an uplink sets up_us and out_us, crossing a
    server NIC-out sets out_us (microseconds after capture)."""
    for i in range(len(res)):
        r = role[res[i]]
        if r == uplink_role:
            since = (t[i] - capture[i]) // 1000
            up_us[i] = since
            out_us[i] = since
        elif r == nic_out_role:
            out_us[i] = (t[i] - capture[i]) // 1000


@njit(cache=True)
def stable_argsort(keys):  # type: ignore[no-untyped-def]
    """The permutation np.argsort(keys, kind="mergesort") gives (ties keep their order),
    by a bottom-up merge sort. Written out because numba compiles its own argsort for
    mergesort in ~5 s on a first run, most of a first `compare`'s compile time."""
    n = len(keys)
    perm = np.arange(n)
    spare = np.empty(n, dtype=np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j = lo, mid
            for k in range(lo, hi):
                if i < mid and (j >= hi or keys[perm[i]] <= keys[perm[j]]):
                    spare[k] = perm[i]
                    i += 1
                else:
                    spare[k] = perm[j]
                    j += 1
        perm, spare = spare, perm
        width *= 2
    return perm


@njit(cache=True)
def order_by_resource(res, t, resources):  # type: ignore[no-untyped-def]
    """A permutation putting each resource's items in time order, stably: a counting sort
    by resource, then each resource's run sorted on time, by insertion when it is nearly
    ordered (a few repaired packets out of place: linear) and by merge sort otherwise
    (several sources interleaved). Items of different resources need no mutual order."""
    n = len(res)
    start = np.zeros(resources + 1, dtype=np.int64)
    for i in range(n):
        start[res[i] + 1] += 1
    for r in range(resources):
        start[r + 1] += start[r]
    fill = start.copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        r = res[i]
        order[fill[r]] = i
        fill[r] += 1
    for r in range(resources):
        lo, hi = start[r], start[r + 1]
        descents = 0
        for k in range(lo + 1, hi):
            if t[order[k]] < t[order[k - 1]]:
                descents += 1
        if descents == 0:
            continue
        if descents > 16:
            run = order[lo:hi].copy()
            keys = np.empty(hi - lo, dtype=np.int64)
            for k in range(hi - lo):
                keys[k] = t[run[k]]
            perm = stable_argsort(keys)
            for k in range(hi - lo):
                order[lo + k] = run[perm[k]]
            continue
        for k in range(lo + 1, hi):
            item = order[k]
            j = k - 1
            while j >= lo and t[order[j]] > t[item]:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = item
    return order
