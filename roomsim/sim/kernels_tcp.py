"""Per-packet loop of TCP connections, compiled with numba (`tcp_advance`).

Fed in time order; state lives in arrays passed in (no clocks, no globals), in the style of
`kernels`. The RTP loop is `kernels_rtp`, playout `kernels_playout`.

* `tcp_advance`: TCP connections as event loops (new data, ACK arrivals, the
  retransmission timer) run up to a horizon: in-order delivery, retransmission on three
  duplicate ACKs (RFC 5681 fast retransmit, NewReno partial ACKs, RFC 6582) or on the
  retransmission timeout (RFC 6298 estimator; floor as Linux applies it, see below),
  slow start and congestion avoidance, head-of-line blocking. As Linux does: the window
  is cut to beta = 0.7 of cwnd on loss (CUBIC, RFC 9438 sec. 4.6; Linux's default since
  2.6.19) and only grows while the sender is window-limited (tcp_is_cwnd_limited; RFC
  7661), so an application-limited audio stream keeps its initial window; the RTO is
  SRTT + max(4 RTTVAR, TCP_RTO_MIN) (tcp_set_rto/tcp_rtt_estimator, net/ipv4/tcp_input.c).
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit
from roomsim.sim.kernels import (
    BYTES,
    DROPPED_BYTES,
    DROPPED_LOSS,
    DROPPED_QUEUE,
    PACKETS,
    PAYLOAD,
    _uniform,
)
from roomsim.sim.kernels_rtp import _INF, _NS_PER_BIT, _jitter

#: TCP statistics columns per connection.
TCP_RETRANSMITS, TCP_TIMEOUTS, TCP_FAST_RETRANSMITS, TCP_ACKS = range(4)

#: Linux caps the retransmission timeout at TCP_RTO_MAX = 120 s (include/net/tcp.h).
TCP_RTO_MAX_NS = 120_000_000_000
#: CUBIC's multiplicative decrease (RFC 9438 sec. 4.6; Linux tcp_cubic.c beta = 717/1024).
TCP_BETA = 0.7
#: RFC 6298 sec. 2: clock granularity G; Linux counts in jiffies/us, 1 ms is conservative.
TCP_CLOCK_GRANULARITY_NS = 1_000_000

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
