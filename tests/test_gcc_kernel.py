"""The compiled GCC estimator against a plain-Python TrendlineEstimator, and its feedback
window: the same records give the same estimates to the bit, however the buffer slid."""

from __future__ import annotations

import numpy as np

from roomsim.sim import kernels_gcc as k
from roomsim.transport.feedback import FeedbackBuffer
from roomsim.transport.gcc import GccEstimators


def _records(rows: int, count: int, seed: int) -> tuple[np.ndarray, ...]:
    """Feedback records of `rows` receivers over ~2 s: bursts on queues that fill and drain
    (so every detector state is visited), some losses, reports 20-60 ms after arrival."""
    rng = np.random.default_rng(seed)
    sub = rng.integers(0, rows, count)
    send = np.sort(rng.integers(0, 2_000_000_000, count))
    queue = (np.sin(send / 3e8 + sub) + 1) * 40e6 * rng.random(count)
    arrive = (send + 10_000_000 + queue).astype(np.int64)
    report = arrive + rng.integers(20_000_000, 60_000_000, count)
    arrive[rng.random(count) < 0.02] = -1
    size = rng.integers(100, 1200, count)
    return sub, send, arrive, size, report


def _feed(rows: int, records: tuple[np.ndarray, ...], capacity: int, chunk: int,
          only_due: bool = False) -> GccEstimators:
    """Append the records `chunk` at a time, as a link would, updating every 100 ms. With
    `only_due`, each update instead gets a fresh buffer holding exactly the records due
    by then and not yet given (in append order): what the window must amount to."""
    sub, send, arrive, size, report = records
    gcc = GccEstimators(rows, 100_000_000)
    gcc.start(np.arange(rows), np.full(rows, 1e6), np.full(rows, 50.0))
    buffer = FeedbackBuffer(capacity)
    active = np.ones(rows, dtype=bool)
    given = np.zeros(len(sub), dtype=bool)
    now = 0
    for lo in range(0, len(sub), chunk):
        part = slice(lo, lo + chunk)
        if not only_due:
            _append(buffer, sub[part], send[part], arrive[part], size[part], report[part])
        while now + 100_000_000 <= send[part][-1]:
            now += 100_000_000
            if only_due:
                due = np.flatnonzero(~given[: lo + chunk] & (report[: lo + chunk] <= now))
                given[due] = True
                buffer = FeedbackBuffer(capacity)
                _append(buffer, sub[due], send[due], arrive[due], size[due], report[due])
            gcc.update(now, buffer, active)
    return gcc


def _append(buffer: FeedbackBuffer, *columns: np.ndarray) -> None:
    """Records appended as the link kernel writes them (at `n`, after `reserve`)."""
    m = len(columns[0])
    buffer.reserve(m)
    window = slice(buffer.n, buffer.n + m)
    for name, values in zip(("sub", "send", "arrive", "size", "report"), columns, strict=True):
        getattr(buffer, name)[window] = values
    buffer.probe[window] = False
    buffer.n += m


def _reference_trendline(groups: list[tuple[float, float, float]]) -> tuple[list[float], list[int]]:
    """libwebrtc TrendlineEstimator (Update, Detect, UpdateThreshold) in plain Python, one
    sample at a time: the modified trend's hypothesis after each (recv, send, arrival) ms."""
    n_deltas, first, acc, smoothed, prev_trend = 0.0, -1.0, 0.0, 0.0, 0.0
    time_over, over_count, threshold, last_update, hyp = -1.0, 0.0, k.INITIAL_THRESHOLD, -1.0, k.NORMAL
    xs: list[float] = []  # the ring, in slot order
    ys: list[float] = []
    count = 0
    hyps, slopes = [], []
    w = k.TRENDLINE_WINDOW
    for recv, send, arrival in groups:
        n_deltas = min(n_deltas + 1, 1000)
        first = arrival if first < 0 else first
        acc += recv - send
        smoothed = 0.9 * smoothed + (1 - 0.9) * acc
        slot = count % w
        count += 1
        if len(xs) < w:
            xs.append(arrival - first)
            ys.append(smoothed)
        else:
            xs[slot], ys[slot] = arrival - first, smoothed
        trend = prev_trend
        if len(xs) == w:
            x0 = xs[slot]
            sx = sy = sxx = sxy = 0.0
            for x, y in zip(xs, ys, strict=True):
                sx += x - x0
                sy += y
                sxx += (x - x0) * (x - x0)
                sxy += (x - x0) * y
            den = w * sxx - sx * sx
            if den != 0.0:
                trend = (w * sxy - sx * sy) / den
        slopes.append(trend)
        if n_deltas < 2:
            hyps.append(k.NORMAL)
            continue
        modified = min(n_deltas, 60) * trend * 4.0
        if modified > threshold:
            time_over = send / 2 if time_over == -1.0 else time_over + send
            over_count += 1
            if time_over > 10.0 and over_count > 1 and trend >= prev_trend:
                time_over, over_count, hyp = 0.0, 0, k.OVERUSING
        else:
            time_over, over_count = -1.0, 0
            hyp = k.UNDERUSING if modified < -threshold else k.NORMAL
        prev_trend = trend
        last_update = arrival if last_update < 0 else last_update
        if abs(modified) > threshold + 15.0:
            last_update = arrival
        else:
            gain = 0.039 if abs(modified) < threshold else 0.0087
            threshold += gain * (abs(modified) - threshold) * min(arrival - last_update, 100.0)
            threshold = min(max(threshold, 6.0), 600.0)
            last_update = arrival
        hyps.append(hyp)
    return slopes, hyps


def test_batched_trendline_matches_the_one_at_a_time_estimator() -> None:
    """Rows' trendline updates wait for four to regress side by side: each row's trend,
    threshold and hypothesis are still those of the sample-by-sample estimator, to the bit."""
    rows = 7
    rng = np.random.default_rng(3)
    samples = [[(float(rng.normal(5, 3)), 5.0 + float(rng.random()), 0.0) for _ in range(90)] for _ in range(rows)]
    for row in samples:  # arrival times in ms, increasing
        t = 0.0
        for j, (recv, send, _) in enumerate(row):
            t += recv
            row[j] = (recv, send, t)
    trend, hist = k.new_trend_state(rows)
    hot = np.zeros((rows, k.H_COLUMNS), dtype=np.int64)
    rows_of, send_ms, arrive_ms, slopes = (np.zeros(4, dtype=np.int64), np.zeros(4), np.zeros(4), np.zeros(4))
    order = rng.permutation(np.repeat(np.arange(rows), 90))  # rows interleaved at random
    seen = [0] * rows
    waiting = 0  # as kernels_gcc.gcc_feedback queues them
    for r in order:
        recv, send, arrival = samples[r][seen[r]]
        seen[r] += 1
        if r in rows_of[:waiting]:
            k._detect_batch(trend, hist, hot, rows_of, send_ms, arrive_ms, slopes, waiting)
            waiting = 0
        k._trendline_sample(trend, hist, r, recv, send, arrival)
        rows_of[waiting], send_ms[waiting], arrive_ms[waiting] = r, send, arrival
        waiting += 1
        if waiting == 4:
            k._detect_batch(trend, hist, hot, rows_of, send_ms, arrive_ms, slopes, waiting)
            waiting = 0
    k._detect_batch(trend, hist, hot, rows_of, send_ms, arrive_ms, slopes, waiting)
    hypotheses = set()
    for r in range(rows):
        ref_slopes, ref_hyps = _reference_trendline(samples[r])
        assert trend[r, k.T_PREV_TREND] == ref_slopes[-1]
        assert trend[r, k.T_HYPOTHESIS] == ref_hyps[-1]
        hypotheses.update(ref_hyps)
    assert hypotheses == {k.NORMAL, k.OVERUSING, k.UNDERUSING}  # every branch was taken


def test_estimates_do_not_depend_on_where_the_feedback_window_sits() -> None:
    """A tiny buffer slides and grows many times, a big one never does, and a fresh buffer
    of exactly the due records each time: same estimates, detector state and
    acknowledged rates, to the bit."""
    rows = 12
    records = _records(rows, 20_000, seed=5)
    small = _feed(rows, records, capacity=64, chunk=700)
    big = _feed(rows, records, capacity=1 << 16, chunk=700)
    exact = _feed(rows, records, capacity=64, chunk=700, only_due=True)
    for name in ("estimate", "delay_based", "loss_based", "acked", "trend", "hist", "hot"):
        assert np.array_equal(getattr(small, name), getattr(exact, name), equal_nan=True), name
        assert np.array_equal(getattr(big, name), getattr(exact, name), equal_nan=True), name
    assert np.isfinite(small.estimate).all() and (small.acked > 0).all()
    assert (small.trend[:, k.T_HIST_N] > k.TRENDLINE_WINDOW).all()  # every ring was regressed
