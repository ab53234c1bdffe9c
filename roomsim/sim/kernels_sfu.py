"""Compiled inner loops of the SFU's control plane: layer allocation and the delay-based
congestion detector, over every subscriber at once.

Both run at the SFU's control instants (every transport-feedback interval), not per tick,
and both take their state as arrays: nothing here reads a clock (`now` is passed in).
"""

from __future__ import annotations

import numpy as np
from numba import njit

NORMAL, OVERUSING, UNDERUSING = 0, 1, 2

#: libwebrtc goog_cc TrendlineEstimator defaults (modules/congestion_controller/goog_cc/
#: trendline_estimator.cc/.h): window 20 groups, smoothing 0.9, threshold gain 4, initial
#: threshold 12.5, k_up 0.0087, k_down 0.039, overuse time 10 ms, kMinNumDeltas 60,
#: kMaxAdaptOffsetMs 15, threshold clamped to [6, 600], at most 100 ms of adaptation a step.
TRENDLINE_WINDOW = 20
_SMOOTHING = 0.9
_GAIN = 4.0
INITIAL_THRESHOLD = 12.5
_K_UP = 0.0087
_K_DOWN = 0.039
_OVERUSE_MS = 10.0
_MIN_NUM_DELTAS = 60
_MAX_ADAPT_OFFSET = 15.0
_DELTA_COUNTER_MAX = 1000
#: Packets sent within 5 ms form one group (InterArrival kTimestampGroupLengthMs = 5).
GROUP_NS = 5_000_000
#: InterArrival kBurstDeltaThresholdMs = 5 and kMaxBurstDurationMs = 100.
BURST_NS = 5_000_000
MAX_BURST_NS = 100_000_000


@njit(cache=True)
def allocate_layers(sub_ptr, pair_track, pair_cap, budget, track_ptr, point_rate, point_spatial,
                    track_audio, allow_pause, level):  # type: ignore[no-untyped-def]
    """Layers for every (subscriber, track) pair, pairs of one subscriber in priority order.

    Audio is always taken and paid first. Each wanted video track starts at its lowest
    operating point (or, with `allow_pause`, is paused when even that does not fit); then
    tracks are upgraded one point at a time, round-robin in priority order, while the
    total fits the subscriber's budget. `pair_cap` is the highest spatial layer a pair may
    reach (-1: not wanted). Writes `level[pair]` = operating point index within the
    track, or -1.
    """
    for s in range(len(sub_ptr) - 1):
        lo, hi = sub_ptr[s], sub_ptr[s + 1]
        left = budget[s]
        for p in range(lo, hi):
            level[p] = -1
            t = pair_track[p]
            if track_audio[t] and pair_cap[p] >= 0:
                level[p] = 0
                left -= point_rate[track_ptr[t]]
        used = 0.0
        for p in range(lo, hi):
            t = pair_track[p]
            if track_audio[t] or pair_cap[p] < 0:
                continue
            first = point_rate[track_ptr[t]]
            if allow_pause and used + first > left:
                continue
            level[p] = 0
            used += first
        upgraded = True
        while upgraded:
            upgraded = False
            for p in range(lo, hi):
                t = pair_track[p]
                if track_audio[t] or level[p] < 0:
                    continue
                base = track_ptr[t]
                current = base + level[p]
                nxt = current + 1
                while nxt < track_ptr[t + 1] and point_spatial[nxt] > pair_cap[p]:
                    nxt += 1
                if nxt >= track_ptr[t + 1]:
                    continue
                step = point_rate[nxt] - point_rate[current]
                if used + step <= left:
                    level[p] = nxt - base
                    used += step
                    upgraded = True


@njit(cache=True)
def _ring_slope(xs, ys, n, last):  # type: ignore[no-untyped-def]
    """Least-squares slope of n points in a ring (x taken relative to the newest point, so
    sums stay small and exact enough)."""
    x0 = xs[last]
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    sxy = 0.0
    for i in range(n):
        dx = xs[i] - x0
        sx += dx
        sy += ys[i]
        sxx += dx * dx
        sxy += dx * ys[i]
    den = n * sxx - sx * sx
    if den == 0.0:
        return np.nan
    return (n * sxy - sx * sy) / den


@njit(cache=True)
def _trendline(r, recv_delta_ms, send_delta_ms, arrival_ms, num_deltas, first_arrival, accumulated,
               smoothed, hist_x, hist_y, hist_n, prev_trend, time_over, overuse_count, threshold,
               last_update, hypothesis):  # type: ignore[no-untyped-def]
    """TrendlineEstimator::Update + Detect + UpdateThreshold for subscriber r."""
    delta = recv_delta_ms - send_delta_ms
    num_deltas[r] = min(num_deltas[r] + 1, _DELTA_COUNTER_MAX)
    if first_arrival[r] < 0:
        first_arrival[r] = arrival_ms
    accumulated[r] += delta
    smoothed[r] = _SMOOTHING * smoothed[r] + (1 - _SMOOTHING) * accumulated[r]
    window = hist_x.shape[1]
    slot = hist_n[r] % window
    hist_x[r, slot] = arrival_ms - first_arrival[r]
    hist_y[r, slot] = smoothed[r]
    hist_n[r] += 1
    trend = prev_trend[r]
    if hist_n[r] >= window:
        slope = _ring_slope(hist_x[r], hist_y[r], window, slot)
        if not np.isnan(slope):
            trend = slope
    if num_deltas[r] < 2:
        hypothesis[r] = NORMAL
        return
    modified = min(num_deltas[r], _MIN_NUM_DELTAS) * trend * _GAIN
    if modified > threshold[r]:
        if time_over[r] == -1.0:
            time_over[r] = send_delta_ms / 2
        else:
            time_over[r] += send_delta_ms
        overuse_count[r] += 1
        if time_over[r] > _OVERUSE_MS and overuse_count[r] > 1 and trend >= prev_trend[r]:
            time_over[r] = 0.0
            overuse_count[r] = 0
            hypothesis[r] = OVERUSING
    elif modified < -threshold[r]:
        time_over[r] = -1.0
        overuse_count[r] = 0
        hypothesis[r] = UNDERUSING
    else:
        time_over[r] = -1.0
        overuse_count[r] = 0
        hypothesis[r] = NORMAL
    prev_trend[r] = trend
    if last_update[r] < 0:
        last_update[r] = arrival_ms
    if abs(modified) > threshold[r] + _MAX_ADAPT_OFFSET:
        last_update[r] = arrival_ms
        return
    k = _K_DOWN if abs(modified) < threshold[r] else _K_UP
    dt = min(arrival_ms - last_update[r], 100.0)
    threshold[r] += k * (abs(modified) - threshold[r]) * dt
    threshold[r] = min(max(threshold[r], 6.0), 600.0)
    last_update[r] = arrival_ms


@njit(cache=True)
def gcc_feedback(sub, send, arrive, size, probe, group_first, group_first_arrive, group_last_send,
                 group_last_arrive,
                 prev_send, prev_arrive, num_deltas, first_arrival, accumulated, smoothed, hist_x,
                 hist_y, hist_n, prev_trend, time_over, overuse_count, threshold, last_update,
                 hypothesis, overused, received_bytes, received_packets, lost_packets,
                 probe_bytes, probe_first_arrive, probe_last_arrive, probe_running):  # type: ignore[no-untyped-def]
    """Feed transport-feedback records (one subscriber's in send order) to its detector.

    Packets are grouped by send time (5 ms), and a packet arriving within 5 ms of its
    group's last one while its delay shrank (a queue draining in a burst) joins that group
    (InterArrival::BelongsToBurst, at most 100 ms of bursting); each completed group gives one
    (arrival delta, send delta) sample to the trendline. `overused[r]` is set when the
    detector signals overuse at any point of this batch. Also counts received bytes and
    packets, losses, and, once a probe's first padding packet arrived, every byte received
    up to its latest padding packet (the probe's receive rate, media included).
    """
    for i in range(len(sub)):
        r = sub[i]
        if arrive[i] < 0:
            lost_packets[r] += 1
            continue
        received_packets[r] += 1
        received_bytes[r] += size[i]
        if probe_first_arrive[r] >= 0:
            probe_running[r] += size[i]
        if probe[i]:
            if probe_first_arrive[r] < 0:
                probe_first_arrive[r] = arrive[i]
                probe_running[r] = 0
            else:
                probe_bytes[r] = probe_running[r]
            probe_last_arrive[r] = arrive[i]
        if group_first[r] < 0:
            group_first[r] = send[i]
            group_first_arrive[r] = arrive[i]
            group_last_send[r] = send[i]
            group_last_arrive[r] = arrive[i]
            continue
        arrival_delta = arrive[i] - group_last_arrive[r]
        burst = (arrival_delta - (send[i] - group_last_send[r]) < 0 and arrival_delta <= BURST_NS
                 and arrive[i] - group_first_arrive[r] < MAX_BURST_NS)
        if send[i] - group_first[r] <= GROUP_NS or burst:
            if send[i] > group_last_send[r]:
                group_last_send[r] = send[i]
            group_last_arrive[r] = arrive[i]
            continue
        if prev_send[r] >= 0:
            send_delta = (group_last_send[r] - prev_send[r]) / 1e6
            recv_delta = (group_last_arrive[r] - prev_arrive[r]) / 1e6
            _trendline(r, recv_delta, send_delta, group_last_arrive[r] / 1e6, num_deltas,
                       first_arrival, accumulated, smoothed, hist_x, hist_y, hist_n, prev_trend,
                       time_over, overuse_count, threshold, last_update, hypothesis)
            if hypothesis[r] == OVERUSING:
                overused[r] = True
        prev_send[r] = group_last_send[r]
        prev_arrive[r] = group_last_arrive[r]
        group_first[r] = send[i]
        group_first_arrive[r] = arrive[i]
        group_last_send[r] = send[i]
        group_last_arrive[r] = arrive[i]


@njit(cache=True)
def expand_entries(keys, capture, indptr, target, start, end, exact):  # type: ignore[no-untyped-def]
    """Fan items out to the entries of their key whose [start, end) holds the item's
    capture time (every entry when `exact`): returns (item index, target) per copy."""
    total = 0
    for i in range(len(keys)):
        total += indptr[keys[i] + 1] - indptr[keys[i]]
    item_out = np.empty(total, dtype=np.int64)
    target_out = np.empty(total, dtype=np.int64)
    n = 0
    for i in range(len(keys)):
        c = capture[i]
        for j in range(indptr[keys[i]], indptr[keys[i] + 1]):
            if exact or (start[j] <= c and c < end[j]):
                item_out[n] = i
                target_out[n] = target[j]
                n += 1
    return item_out[:n], target_out[:n]


@njit(cache=True)
def address_copies(item, target, stream, t_in, start, cores, ingress_ns, egress_ns, down_flow_base,
                   local_index, t_out, flow_out):  # type: ignore[no-untyped-def]
    """Times and frame-damage flows of a node's copies (items sorted): copy j of a packet
    leaves after receive + (j+1) sends at `cores` x one core's speed, and no sooner than one
    receive + one send after the packet arrived. Local copies get their receiver's flow;
    relay copies get -1 (set by the caller)."""
    previous = -1
    rank = 0
    for c in range(len(item)):
        i = item[c]
        if i != previous:
            rank = 0
            previous = i
        else:
            rank += 1
        spread = np.int64(np.rint((ingress_ns + (rank + 1) * egress_ns) / cores[i]))
        earliest = t_in[i] + ingress_ns + egress_ns
        leave = start[i] + spread
        t_out[c] = leave if leave > earliest else earliest
        r = target[c]
        if r >= 0:
            flow_out[c] = down_flow_base[stream[i]] + local_index[r]
        else:
            flow_out[c] = -1


@njit(cache=True)
def record_feedback(sub, send, sent, out_t, size, fseq, watched, down_delay, up_delay, buf_sub,
                    buf_send, buf_arrive, buf_size, buf_probe, buf_report, n):  # type: ignore[no-untyped-def]
    """Append one downlink batch to the feedback buffer: per packet of a watched subscriber,
    its send time, arrival (-1 if lost), size, whether it was probe padding, and when its
    report reaches the node (arrival, or when it would have arrived, plus the subscriber's
    uplink delay). `out_t` holds the arrivals of the sent packets, in order. Returns the
    new fill level."""
    j = 0
    for i in range(len(sub)):
        arrive = -1
        if sent[i]:
            arrive = out_t[j]
            j += 1
        r = sub[i]
        if not watched[r]:
            continue
        buf_sub[n] = r
        buf_send[n] = send[i]
        buf_arrive[n] = arrive
        buf_size[n] = size[i]
        buf_probe[n] = fseq[i] < 0
        base = arrive if arrive >= 0 else send[i] + down_delay[r]
        buf_report[n] = base + up_delay[r]
        n += 1
    return n


@njit(cache=True)
def take_ready(now, n, buf_sub, buf_send, buf_arrive, buf_size, buf_probe, buf_report, out_sub,
               out_send, out_arrive, out_size, out_probe):  # type: ignore[no-untyped-def]
    """Move the records whose report reached the node by `now` to the outputs (order kept)
    and compact the rest to the front; returns (ready count, records left)."""
    k = 0
    left = 0
    for i in range(n):
        if buf_report[i] <= now:
            out_sub[k] = buf_sub[i]
            out_send[k] = buf_send[i]
            out_arrive[k] = buf_arrive[i]
            out_size[k] = buf_size[i]
            out_probe[k] = buf_probe[i]
            k += 1
        else:
            buf_sub[left] = buf_sub[i]
            buf_send[left] = buf_send[i]
            buf_arrive[left] = buf_arrive[i]
            buf_size[left] = buf_size[i]
            buf_probe[left] = buf_probe[i]
            buf_report[left] = buf_report[i]
            left += 1
    return k, left
