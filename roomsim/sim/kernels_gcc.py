"""Compiled send-side bandwidth estimation (libwebrtc goog_cc), over every estimator row
at once: the delay-based congestion detector fed by transport-wide feedback (inter-arrival
groups, trendline, overuse detector) and the AIMD and loss-based rate controllers.

Run at the senders' control instants (every transport-feedback interval), not per tick,
by roomsim.transport.gcc for the SFU's subscribers, the MCU's participants and the mesh's
peer connections. State lives in arrays passed in; nothing here reads a clock (`now` is
passed in).
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit

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


@njit(cache=True, inline="always")
def _slope(n, sx, sy, sxx, sxy):  # type: ignore[no-untyped-def]
    """Least-squares slope of n points from their sums (NaN if their x all coincide)."""
    den = n * sxx - sx * sx
    if den == 0.0:
        return np.nan
    return (n * sxy - sx * sy) / den


@njit(cache=True)
def _ring_slopes(trend, hist, rows, k, out):  # type: ignore[no-untyped-def]
    """out[j] = least-squares slope of the points in row rows[j]'s ring, j < k, NaN while
    the ring is not full. x is taken relative to the newest point (so sums stay small and
    exact enough) and summed in slot order.

    Each slope is four chains of 20 dependent additions, so one at a time the adder's
    latency sets the pace (~40 ns); four rings are summed in one loop, each with its own
    sums in the same order (the same bits), so their chains overlap."""
    n = hist.shape[2]
    if k == 4:
        r0, r1, r2, r3 = rows[0], rows[1], rows[2], rows[3]
        x0 = hist[r0, 0, (np.int64(trend[r0, T_HIST_N]) - 1) % n]
        x1 = hist[r1, 0, (np.int64(trend[r1, T_HIST_N]) - 1) % n]
        x2 = hist[r2, 0, (np.int64(trend[r2, T_HIST_N]) - 1) % n]
        x3 = hist[r3, 0, (np.int64(trend[r3, T_HIST_N]) - 1) % n]
        sx0 = sy0 = sxx0 = sxy0 = 0.0
        sx1 = sy1 = sxx1 = sxy1 = 0.0
        sx2 = sy2 = sxx2 = sxy2 = 0.0
        sx3 = sy3 = sxx3 = sxy3 = 0.0
        for i in range(n):
            d0 = hist[r0, 0, i] - x0
            d1 = hist[r1, 0, i] - x1
            d2 = hist[r2, 0, i] - x2
            d3 = hist[r3, 0, i] - x3
            y0 = hist[r0, 1, i]
            y1 = hist[r1, 1, i]
            y2 = hist[r2, 1, i]
            y3 = hist[r3, 1, i]
            sx0 += d0
            sx1 += d1
            sx2 += d2
            sx3 += d3
            sy0 += y0
            sy1 += y1
            sy2 += y2
            sy3 += y3
            sxx0 += d0 * d0
            sxx1 += d1 * d1
            sxx2 += d2 * d2
            sxx3 += d3 * d3
            sxy0 += d0 * y0
            sxy1 += d1 * y1
            sxy2 += d2 * y2
            sxy3 += d3 * y3
        out[0] = _slope(n, sx0, sy0, sxx0, sxy0)
        out[1] = _slope(n, sx1, sy1, sxx1, sxy1)
        out[2] = _slope(n, sx2, sy2, sxx2, sxy2)
        out[3] = _slope(n, sx3, sy3, sxx3, sxy3)
    else:
        for j in range(k):
            r = rows[j]
            x = hist[r, 0, (np.int64(trend[r, T_HIST_N]) - 1) % n]
            sx = sy = sxx = sxy = 0.0
            for i in range(n):
                d = hist[r, 0, i] - x
                sx += d
                sy += hist[r, 1, i]
                sxx += d * d
                sxy += d * hist[r, 1, i]
            out[j] = _slope(n, sx, sy, sxx, sxy)
    for j in range(k):
        if trend[rows[j], T_HIST_N] < n:
            out[j] = np.nan


@njit(cache=True)
def _trendline_sample(trend, hist, r, recv_delta_ms, send_delta_ms, arrival_ms):  # type: ignore[no-untyped-def]
    """TrendlineEstimator::Update up to the regression, on row r: count the delta,
    accumulate and smooth the delay, and put the point into the row's ring."""
    delta = recv_delta_ms - send_delta_ms
    trend[r, T_NUM_DELTAS] = min(trend[r, T_NUM_DELTAS] + 1, _DELTA_COUNTER_MAX)
    if trend[r, T_FIRST_ARRIVAL] < 0:
        trend[r, T_FIRST_ARRIVAL] = arrival_ms
    trend[r, T_ACCUMULATED] += delta
    trend[r, T_SMOOTHED] = _SMOOTHING * trend[r, T_SMOOTHED] + (1 - _SMOOTHING) * trend[r, T_ACCUMULATED]
    window = hist.shape[2]
    count = np.int64(trend[r, T_HIST_N])
    slot = count % window
    hist[r, 0, slot] = arrival_ms - trend[r, T_FIRST_ARRIVAL]
    hist[r, 1, slot] = trend[r, T_SMOOTHED]
    trend[r, T_HIST_N] = count + 1


@njit(cache=True)
def _trendline_detect(t, r, slope, send_delta_ms, arrival_ms):  # type: ignore[no-untyped-def]
    """The rest of TrendlineEstimator::Update (Detect + UpdateThreshold) on row r of the
    state `t`, given the slope of the row's ring after its latest point (NaN: none yet)."""
    trend = t[r, T_PREV_TREND]
    if not np.isnan(slope):
        trend = slope
    if t[r, T_NUM_DELTAS] < 2:
        t[r, T_HYPOTHESIS] = NORMAL
        return
    modified = min(t[r, T_NUM_DELTAS], _MIN_NUM_DELTAS) * trend * _GAIN
    threshold = t[r, T_THRESHOLD]
    if modified > threshold:
        if t[r, T_TIME_OVER] == -1.0:
            t[r, T_TIME_OVER] = send_delta_ms / 2
        else:
            t[r, T_TIME_OVER] += send_delta_ms
        t[r, T_OVERUSE_COUNT] += 1
        if t[r, T_TIME_OVER] > _OVERUSE_MS and t[r, T_OVERUSE_COUNT] > 1 and trend >= t[r, T_PREV_TREND]:
            t[r, T_TIME_OVER] = 0.0
            t[r, T_OVERUSE_COUNT] = 0
            t[r, T_HYPOTHESIS] = OVERUSING
    elif modified < -threshold:
        t[r, T_TIME_OVER] = -1.0
        t[r, T_OVERUSE_COUNT] = 0
        t[r, T_HYPOTHESIS] = UNDERUSING
    else:
        t[r, T_TIME_OVER] = -1.0
        t[r, T_OVERUSE_COUNT] = 0
        t[r, T_HYPOTHESIS] = NORMAL
    t[r, T_PREV_TREND] = trend
    if t[r, T_LAST_UPDATE] < 0:
        t[r, T_LAST_UPDATE] = arrival_ms
    if abs(modified) > threshold + _MAX_ADAPT_OFFSET:
        t[r, T_LAST_UPDATE] = arrival_ms
        return
    k = _K_DOWN if abs(modified) < threshold else _K_UP
    dt = min(arrival_ms - t[r, T_LAST_UPDATE], 100.0)
    threshold += k * (abs(modified) - threshold) * dt
    t[r, T_THRESHOLD] = min(max(threshold, 6.0), 600.0)
    t[r, T_LAST_UPDATE] = arrival_ms


#: Trendline updates waiting for their slope: four rings are regressed at once (`_ring_slopes`).
_BATCH = 4


@njit(cache=True)
def _detect_batch(trend, hist, hot, rows, send_ms, arrive_ms, slopes, k):  # type: ignore[no-untyped-def]
    """Finish the trendline updates of the k waiting rows: slopes, then detection; flag
    the rows that now overuse."""
    _ring_slopes(trend, hist, rows, k, slopes)
    for j in range(k):
        r = rows[j]
        _trendline_detect(trend, r, slopes[j], send_ms[j], arrive_ms[j])
        if trend[r, T_HYPOTHESIS] == OVERUSING:
            hot[r, H_OVERUSED] = 1


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
def gcc_feedback(now, head, n, sub, send, arrive, size, probe, report, hot, trend, hist):  # type: ignore[no-untyped-def]
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

    Records [head, n) of the buffer are pending; those whose report reached the sender by
    `now` are consumed in buffer order. The newest records mostly still wait (in the
    3,000-viewer livestream ~60 % of the pending ones, most of them sent after `now`), so
    only the records up to the last due one are visited, their waiting ones moved up
    against the untouched rest; returns where the pending records now start. (Moving
    every waiting record to the front at every call cost ~15 % of the estimator's time.)

    A completed group's trendline update waits until four rows have one (or the row
    gets another): their regressions then run side by side (`_ring_slopes`).
    """
    waiting = np.empty(_BATCH, dtype=np.int64)
    send_ms = np.empty(_BATCH)
    arrive_ms = np.empty(_BATCH)
    slopes = np.empty(_BATCH)
    k = 0
    end = n
    while end > head and report[end - 1] > now:
        end -= 1
    left = head
    for i in range(head, end):
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
            arrival_ms = hot[r, H_GROUP_LAST_ARRIVE] / 1e6
            for j in range(k):
                if waiting[j] == r:  # a row's detection needs its previous one done
                    _detect_batch(trend, hist, hot, waiting, send_ms, arrive_ms, slopes, k)
                    k = 0
                    break
            _trendline_sample(trend, hist, r, recv_delta, send_delta, arrival_ms)
            waiting[k] = r
            send_ms[k] = send_delta
            arrive_ms[k] = arrival_ms
            k += 1
            if k == _BATCH:
                _detect_batch(trend, hist, hot, waiting, send_ms, arrive_ms, slopes, k)
                k = 0
        hot[r, H_PREV_SEND] = hot[r, H_GROUP_LAST_SEND]
        hot[r, H_PREV_ARRIVE] = hot[r, H_GROUP_LAST_ARRIVE]
        hot[r, H_GROUP_FIRST] = sent
        hot[r, H_GROUP_FIRST_ARRIVE] = a
        hot[r, H_GROUP_LAST_SEND] = sent
        hot[r, H_GROUP_LAST_ARRIVE] = a
    _detect_batch(trend, hist, hot, waiting, send_ms, arrive_ms, slopes, k)
    shift = end - left  # the waiting ones join the rest: moved up, the last first
    for i in range(left - 1, head - 1, -1):
        sub[i + shift] = sub[i]
        send[i + shift] = send[i]
        arrive[i + shift] = arrive[i]
        size[i + shift] = size[i]
        probe[i + shift] = probe[i]
        report[i + shift] = report[i]
    return head + shift


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
def gcc_update(now, head, n, sub, send, arrive, size, probe, report, hot, trend, hist, active,
               ring, ring_pos, window_ns, rtt_ms, state, last_change, capacity, deviation,
               acked, delay_based, loss_based, estimate, loss_expected, loss_lost,
               last_loss_increase, last_loss_decrease):  # type: ignore[no-untyped-def]
    """One feedback instant of every estimator row: consume the feedback that reached the
    sender by `now` (gcc_feedback), then per row the acknowledged rate over the ring of
    the last `ring.shape[1]` intervals' received bytes, the delay-based AIMD controller
    and the loss-based estimate of `active` rows, and their estimate = min of the two.

    The arithmetic is, operation for operation, that of transport.gcc's former numpy
    columns (so results are unchanged to the bit); rows are independent, so one pass per
    row replaces a dozen passes over all rows. Returns where the pending feedback records
    now start (gcc_feedback).
    """
    for r in range(hot.shape[0]):
        hot[r, H_BYTES] = 0
        hot[r, H_RECEIVED] = 0
        hot[r, H_LOST] = 0
        hot[r, H_OVERUSED] = 0
    head = gcc_feedback(now, head, n, sub, send, arrive, size, probe, report, hot, trend, hist)
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
    return head
