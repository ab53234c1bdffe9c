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
def allocate_layers(
    sub_ptr,
    pair_track,
    pair_cap,
    budget,
    track_ptr,
    point_rate,
    point_spatial,
    track_audio,
    allow_pause,
    level,
):  # type: ignore[no-untyped-def]
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


#: Columns of the per-subscriber trendline state `trend` (float64, one row each).
(
    T_NUM_DELTAS,
    T_FIRST_ARRIVAL,
    T_ACCUMULATED,
    T_SMOOTHED,
    T_HIST_N,
    T_PREV_TREND,
    T_TIME_OVER,
    T_OVERUSE_COUNT,
    T_THRESHOLD,
    T_LAST_UPDATE,
    T_HYPOTHESIS,
    T_COLUMNS,
) = range(12)


def new_trend_state(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh trendline state for n subscribers: (state rows, history rings of (x, y))."""
    trend = np.zeros((n, T_COLUMNS))
    trend[:, T_FIRST_ARRIVAL] = -1.0
    trend[:, T_TIME_OVER] = -1.0
    trend[:, T_THRESHOLD] = INITIAL_THRESHOLD
    trend[:, T_LAST_UPDATE] = -1.0
    trend[:, T_HYPOTHESIS] = NORMAL
    return trend, np.zeros((n, 2, TRENDLINE_WINDOW))


@njit(cache=True)
def _ring_slope(xs, ys, last):  # type: ignore[no-untyped-def]
    """Least-squares slope of the points in a full ring (x taken relative to the newest
    point, so sums stay small and exact enough)."""
    n = len(xs)
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
def _trendline(t, hist, recv_delta_ms, send_delta_ms, arrival_ms):  # type: ignore[no-untyped-def]
    """TrendlineEstimator::Update + Detect + UpdateThreshold on one subscriber's row."""
    delta = recv_delta_ms - send_delta_ms
    t[T_NUM_DELTAS] = min(t[T_NUM_DELTAS] + 1, _DELTA_COUNTER_MAX)
    if t[T_FIRST_ARRIVAL] < 0:
        t[T_FIRST_ARRIVAL] = arrival_ms
    t[T_ACCUMULATED] += delta
    t[T_SMOOTHED] = _SMOOTHING * t[T_SMOOTHED] + (1 - _SMOOTHING) * t[T_ACCUMULATED]
    window = hist.shape[1]
    count = np.int64(t[T_HIST_N])
    slot = count % window
    hist[0, slot] = arrival_ms - t[T_FIRST_ARRIVAL]
    hist[1, slot] = t[T_SMOOTHED]
    t[T_HIST_N] = count + 1
    trend = t[T_PREV_TREND]
    if count + 1 >= window:
        slope = _ring_slope(hist[0], hist[1], slot)
        if not np.isnan(slope):
            trend = slope
    if t[T_NUM_DELTAS] < 2:
        t[T_HYPOTHESIS] = NORMAL
        return
    modified = min(t[T_NUM_DELTAS], _MIN_NUM_DELTAS) * trend * _GAIN
    threshold = t[T_THRESHOLD]
    if modified > threshold:
        if t[T_TIME_OVER] == -1.0:
            t[T_TIME_OVER] = send_delta_ms / 2
        else:
            t[T_TIME_OVER] += send_delta_ms
        t[T_OVERUSE_COUNT] += 1
        if t[T_TIME_OVER] > _OVERUSE_MS and t[T_OVERUSE_COUNT] > 1 and trend >= t[T_PREV_TREND]:
            t[T_TIME_OVER] = 0.0
            t[T_OVERUSE_COUNT] = 0
            t[T_HYPOTHESIS] = OVERUSING
    elif modified < -threshold:
        t[T_TIME_OVER] = -1.0
        t[T_OVERUSE_COUNT] = 0
        t[T_HYPOTHESIS] = UNDERUSING
    else:
        t[T_TIME_OVER] = -1.0
        t[T_OVERUSE_COUNT] = 0
        t[T_HYPOTHESIS] = NORMAL
    t[T_PREV_TREND] = trend
    if t[T_LAST_UPDATE] < 0:
        t[T_LAST_UPDATE] = arrival_ms
    if abs(modified) > threshold + _MAX_ADAPT_OFFSET:
        t[T_LAST_UPDATE] = arrival_ms
        return
    k = _K_DOWN if abs(modified) < threshold else _K_UP
    dt = min(arrival_ms - t[T_LAST_UPDATE], 100.0)
    threshold += k * (abs(modified) - threshold) * dt
    t[T_THRESHOLD] = min(max(threshold, 6.0), 600.0)
    t[T_LAST_UPDATE] = arrival_ms


#: Columns of the per-subscriber packet state `hot` (one row per subscriber, so one feedback
#: record touches one or two cache lines).
(
    H_GROUP_FIRST,
    H_GROUP_FIRST_ARRIVE,
    H_GROUP_LAST_SEND,
    H_GROUP_LAST_ARRIVE,
    H_PREV_SEND,
    H_PREV_ARRIVE,
    H_BYTES,
    H_RECEIVED,
    H_LOST,
    H_PROBE_FIRST,
    H_PROBE_LAST,
    H_PROBE_BYTES,
    H_PROBE_RUNNING,
    H_OVERUSED,
    H_COLUMNS,
) = range(15)


@njit(cache=True)
def gcc_feedback(now, n, sub, send, arrive, size, probe, report, hot, trend, hist):  # type: ignore[no-untyped-def]
    """Feed transport-feedback records (one subscriber's in send order) to its detector.

    Packets are grouped by send time (5 ms), and a packet arriving within 5 ms of its
    group's last one while its delay shrank (a queue draining in a burst) joins that group
    (InterArrival::BelongsToBurst, at most 100 ms of bursting); each completed group gives one
    (arrival delta, send delta) sample to the trendline. Per subscriber, `hot` counts
    received bytes and packets and losses, flags overuse seen in this batch, and, once a
    probe's first padding packet arrived, every byte received up to its latest padding
    packet (the probe's receive rate, media included).

    State is indexed as hot[r, column], not through a row view: a view per record costs a
    reference count each (~20 %).

    Only the first `n` records of the buffer are pending; those whose report reached the
    node by `now` are consumed in order, the others are moved to the front. Returns how
    many remain.
    """
    left = 0
    for i in range(n):
        if report[i] > now:
            sub[left] = sub[i]
            send[left] = send[i]
            arrive[left] = arrive[i]
            size[left] = size[i]
            probe[left] = probe[i]
            report[left] = report[i]
            left += 1
            continue
        r = sub[i]
        a = arrive[i]
        if a < 0:
            hot[r, H_LOST] += 1
            continue
        hot[r, H_RECEIVED] += 1
        hot[r, H_BYTES] += size[i]
        if hot[r, H_PROBE_FIRST] >= 0:
            hot[r, H_PROBE_RUNNING] += size[i]
        if probe[i]:
            if hot[r, H_PROBE_FIRST] < 0:
                hot[r, H_PROBE_FIRST] = a
                hot[r, H_PROBE_RUNNING] = 0
            else:
                hot[r, H_PROBE_BYTES] = hot[r, H_PROBE_RUNNING]
            hot[r, H_PROBE_LAST] = a
        sent = send[i]
        if hot[r, H_GROUP_FIRST] < 0:
            hot[r, H_GROUP_FIRST] = sent
            hot[r, H_GROUP_FIRST_ARRIVE] = a
            hot[r, H_GROUP_LAST_SEND] = sent
            hot[r, H_GROUP_LAST_ARRIVE] = a
            continue
        arrival_delta = a - hot[r, H_GROUP_LAST_ARRIVE]
        burst = (
            arrival_delta - (sent - hot[r, H_GROUP_LAST_SEND]) < 0
            and arrival_delta <= BURST_NS
            and a - hot[r, H_GROUP_FIRST_ARRIVE] < MAX_BURST_NS
        )
        if sent - hot[r, H_GROUP_FIRST] <= GROUP_NS or burst:
            if sent > hot[r, H_GROUP_LAST_SEND]:
                hot[r, H_GROUP_LAST_SEND] = sent
            hot[r, H_GROUP_LAST_ARRIVE] = a
            continue
        if hot[r, H_PREV_SEND] >= 0:
            send_delta = (hot[r, H_GROUP_LAST_SEND] - hot[r, H_PREV_SEND]) / 1e6
            recv_delta = (hot[r, H_GROUP_LAST_ARRIVE] - hot[r, H_PREV_ARRIVE]) / 1e6
            _trendline(trend[r], hist[r], recv_delta, send_delta, hot[r, H_GROUP_LAST_ARRIVE] / 1e6)
            if trend[r, T_HYPOTHESIS] == OVERUSING:
                hot[r, H_OVERUSED] = 1
        hot[r, H_PREV_SEND] = hot[r, H_GROUP_LAST_SEND]
        hot[r, H_PREV_ARRIVE] = hot[r, H_GROUP_LAST_ARRIVE]
        hot[r, H_GROUP_FIRST] = sent
        hot[r, H_GROUP_FIRST_ARRIVE] = a
        hot[r, H_GROUP_LAST_SEND] = sent
        hot[r, H_GROUP_LAST_ARRIVE] = a
    return left



#: AIMD and loss-based rate control (the constants transport.gcc documents with their
#: libwebrtc sources: AimdRateControl, SendSideBandwidthEstimation, LinkCapacityEstimator).
HOLD, INCREASE = 0, 1
BETA = 0.85
LOW_LOSS, HIGH_LOSS = 0.02, 0.10
LOSS_MIN_PACKETS = 20
MIN_BITRATE_BPS = 5_000.0


@njit(cache=True)
def _np_max(a, b):  # type: ignore[no-untyped-def]
    """np.maximum on two floats: NaN if either is NaN."""
    if a != a or b != b:
        return np.nan
    return a if a >= b else b


@njit(cache=True)
def _np_min(a, b):  # type: ignore[no-untyped-def]
    """np.minimum on two floats: NaN if either is NaN."""
    if a != a or b != b:
        return np.nan
    return a if a <= b else b


@njit(cache=True)
def gcc_update(now, n, sub, send, arrive, size, probe, report, hot, trend, hist, active,
               ring, ring_pos, window_ns, rtt_ms, state, last_change, capacity, deviation,
               acked, delay_based, loss_based, estimate, loss_expected, loss_lost,
               last_loss_increase, last_loss_decrease):  # type: ignore[no-untyped-def]
    """One feedback instant of every estimator row: consume the feedback that reached the
    sender by `now` (gcc_feedback), then per row the acknowledged rate over the ring of
    the last `ring.shape[1]` intervals' received bytes, the delay-based AIMD controller
    and the loss-based estimate of `active` rows, and their estimate = min of the two.

    The arithmetic is, operation for operation, that of transport.gcc's former numpy
    columns (so results are unchanged to the bit); rows are independent, so one pass per
    row replaces a dozen passes over all rows. Returns how many feedback records remain.
    """
    for r in range(hot.shape[0]):
        hot[r, H_BYTES] = 0
        hot[r, H_RECEIVED] = 0
        hot[r, H_LOST] = 0
        hot[r, H_OVERUSED] = 0
    left = gcc_feedback(now, n, sub, send, arrive, size, probe, report, hot, trend, hist)
    width = ring.shape[1]
    for r in range(hot.shape[0]):
        ring[r, ring_pos] = hot[r, H_BYTES]
        total = 0.0
        for k in range(width):
            total += ring[r, k]
        acked[r] = total * 8e9 / window_ns
        loss_expected[r] += hot[r, H_RECEIVED] + hot[r, H_LOST]
        loss_lost[r] += hot[r, H_LOST]
        if not active[r]:
            continue
        a = acked[r]
        # -- delay-based (AimdRateControl) --
        hyp = trend[r, T_HYPOTHESIS]
        since = np.inf if last_change[r] < 0 else (now - last_change[r]) / 1e9
        if hyp == NORMAL and state[r] == HOLD:
            state[r] = INCREASE
            last_change[r] = now
            since = 0.0
        if hyp == UNDERUSING:
            state[r] = HOLD
        reduce_after = min(max(rtt_ms[r], 10.0), 200.0) / 1e3
        current = delay_based[r]
        # Decrease on overuse once enough time passed since the last change (RTT clamped
        # to [10, 200] ms) or throughput fell below half the estimate (TimeToReduceFurther).
        if hyp == OVERUSING and (since >= reduce_after or a < 0.5 * current):
            cap = capacity[r]
            if cap == cap and a / 1e3 < cap - 3 * np.sqrt(deviation[r] * cap):
                cap = np.nan
            target = BETA * a
            if target > current and cap == cap:
                target = BETA * cap * 1e3
            delay_based[r] = _np_max(target if target < current else current, MIN_BITRATE_BPS)
            # LinkCapacityEstimator::OnOveruseDetected: EWMA (alpha 0.05) of the acked kbps.
            sample = a / 1e3
            cap = sample if cap != cap else 0.95 * cap + 0.05 * sample
            norm = _np_max(cap, 1.0)
            d = cap - sample
            dev = 0.95 * deviation[r] + 0.05 * (d * d) / norm
            deviation[r] = _np_min(_np_max(dev, 0.4), 2.5)
            capacity[r] = cap
            state[r] = HOLD
            last_change[r] = now
        elif hyp == NORMAL and state[r] == INCREASE:
            cap = capacity[r]
            if cap == cap and a / 1e3 > cap + 3 * np.sqrt(deviation[r] * cap):
                capacity[r] = np.nan
                cap = np.nan
            limit = 1.5 * a + 10_000.0
            if cap != cap:
                step = _np_max(current * (1.08 ** _np_min(since, 1.0) - 1.0), 1000.0)
            else:  # near the link's capacity: about a packet per response time (RTT + 100 ms, x2)
                frame = current / 30 / 8
                packet = frame / _np_max(1.0, np.ceil(frame / 1200))
                step = _np_max(4000.0, packet * 8 / (2 * (rtt_ms[r] + 100) / 1e3)) * since
            if current < limit:
                delay_based[r] = _np_min(current + step, limit)
            last_change[r] = now
        # -- loss-based (SendSideBandwidthEstimation) --
        est = loss_based[r]
        if loss_expected[r] >= LOSS_MIN_PACKETS:
            loss = loss_lost[r] / max(loss_expected[r], 1)
            if loss < LOW_LOSS and (last_loss_increase[r] < 0 or now - last_loss_increase[r] >= 1_000_000_000):
                est = 1.08 * est + 1000.0
                last_loss_increase[r] = now
            if loss > HIGH_LOSS and (last_loss_decrease[r] < 0
                                     or now - last_loss_decrease[r] >= (300 + rtt_ms[r]) * 1e6):
                est = est * (1 - 0.5 * loss)
                last_loss_decrease[r] = now
            loss_expected[r] = 0
            loss_lost[r] = 0
        # never above the delay-based estimate (CapBitrateToThresholds), never below the floor
        est = _np_max(_np_min(est, delay_based[r]), MIN_BITRATE_BPS)
        loss_based[r] = est
        estimate[r] = _np_min(delay_based[r], est)
    return left
