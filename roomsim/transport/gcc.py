"""Per-subscriber downlink estimation, as a send-side GCC (libwebrtc goog_cc) run by the SFU.

The SFU stamps every packet it sends a subscriber and learns, from transport-wide
feedback, when each arrived (or that it was lost). Every feedback interval the estimator
bank takes the feedback that has reached the SFU by `now` and updates, per subscriber:

* a delay-based estimate: inter-group delay variation -> trendline slope -> overuse /
  normal / underuse (kernels_sfu.gcc_feedback), driving an AIMD rate controller
  (libwebrtc AimdRateControl, modules/remote_bitrate_estimator/aimd_rate_control.cc:
  decrease to 0.85 x acknowledged rate; increase x1.08 a second while the link capacity
  is unknown, additively near it; never above 1.5 x acknowledged + 10 kbps);
* a loss-based estimate (SendSideBandwidthEstimation, goog_cc/
  send_side_bandwidth_estimation.cc): below 2 % loss +8 % (at most once a second), above
  10 % x (1 - loss / 2) (at most every 300 ms + RTT), computed over at least 20 packets;
* the result of a finished probe (padding sent at a goal rate; its receive rate, taken as
  libwebrtc's ProbeBitrateEstimator does, raises the estimate when higher).

The estimate is min(delay-based, loss-based). Everything is a numpy column over all
participants; `now` is passed in (aiortc's rate.py habit), so the bank runs unchanged at
simulated time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sim import headers
from roomsim.sim.kernels_sfu import (
    H_BYTES,
    H_COLUMNS,
    H_LOST,
    H_OVERUSED,
    H_PROBE_BYTES,
    H_PROBE_FIRST,
    H_PROBE_LAST,
    H_PROBE_RUNNING,
    H_RECEIVED,
    NORMAL,
    OVERUSING,
    T_HYPOTHESIS,
    UNDERUSING,
    gcc_feedback,
    new_trend_state,
)
from roomsim.transport.feedback import FeedbackBuffer

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOLD, INCREASE = 0, 1
BETA = 0.85  # AimdRateControl kDefaultBackoffFactor
LOW_LOSS, HIGH_LOSS = 0.02, 0.10  # kDefaultLowLossThreshold / kDefaultHighLossThreshold
LOSS_MIN_PACKETS = 20  # kLimitNumPackets
MIN_BITRATE_BPS = 5_000.0  # kCongestionControllerMinBitrate
#: Acknowledged rate: bytes received over the last 500 ms of feedback (libwebrtc's
#: acknowledged-bitrate estimator starts from a 500 ms window, kInitialRateWindowMs).
ACKED_WINDOW_NS = 500_000_000
#: A padding-only RTP packet as Pion/LiveKit send for probing: 255 bytes of RTP padding
#: (the padding length is one byte), with the usual video headers around it.
PADDING_PAYLOAD_BYTES = 255
PADDING_WIRE_BYTES = (
    headers.IPV4_HEADER_BYTES
    + headers.UDP_HEADER_BYTES
    + headers.RTP_HEADER_BYTES
    + headers.SRTP_AUTH_TAG_BYTES
    + headers.VIDEO_HEADER_EXTENSION_BYTES
    + PADDING_PAYLOAD_BYTES
)


class GccEstimators:
    """GCC state for every participant's downlink; only `active` rows are updated."""

    def __init__(self, n: int, feedback_ns: int) -> None:
        self.n = n
        self.feedback_ns = feedback_ns
        self.estimate = np.full(n, np.inf)
        self.delay_based = np.full(n, np.inf)
        self.loss_based = np.full(n, np.inf)
        self.acked = np.zeros(n)
        self.rtt_ms = np.full(n, 100.0)
        self.state = np.full(n, HOLD, dtype=np.int64)
        self.last_change = np.full(n, -1, dtype=np.int64)
        self.last_loss_increase = np.full(n, -1, dtype=np.int64)
        self.last_loss_decrease = np.full(n, -1, dtype=np.int64)
        self.link_capacity = np.full(n, np.nan)  # LinkCapacityEstimator, kbps
        self.link_deviation = np.full(n, 0.4)
        window = max(1, round(ACKED_WINDOW_NS / feedback_ns))
        self._bytes_ring = np.zeros((n, window))
        self._ring_pos = 0
        self._loss_expected = np.zeros(n, dtype=np.int64)
        self._loss_lost = np.zeros(n, dtype=np.int64)
        self.hot = np.full((n, H_COLUMNS), -1, dtype=np.int64)
        self.hot[:, [H_BYTES, H_RECEIVED, H_LOST, H_PROBE_BYTES, H_PROBE_RUNNING, H_OVERUSED]] = 0
        self.trend, self.hist = new_trend_state(n)

    @property
    def hypothesis(self) -> npt.NDArray[np.int64]:
        """Detector state per subscriber: NORMAL, OVERUSING or UNDERUSING."""
        return self.trend[:, T_HYPOTHESIS].astype(np.int64)

    def start(self, who: IntArray, estimate_bps: FloatArray, rtt_ms: FloatArray) -> None:
        """Begin estimating for newly joined subscribers from a start-up probe's figure."""
        self.estimate[who] = estimate_bps
        self.delay_based[who] = estimate_bps
        self.loss_based[who] = estimate_bps
        self.acked[who] = 0.0
        self.rtt_ms[who] = rtt_ms

    def update(
        self, now_ns: int, feedback: FeedbackBuffer, active: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Consume the feedback records that reached the SFU by `now` (in send order per
        subscriber; `arrive` < 0 = lost) and update the estimates of `active` rows.
        Returns which rows saw overuse in this batch."""
        hot = self.hot
        hot[:, [H_BYTES, H_RECEIVED, H_LOST, H_OVERUSED]] = 0
        feedback.n = gcc_feedback(  # type: ignore[call-arg]  # numba dispatcher stub
            now_ns, feedback.n, *feedback.pending(), hot, self.trend, self.hist
        )
        received_bytes, received, lost = hot[:, H_BYTES], hot[:, H_RECEIVED], hot[:, H_LOST]
        overused = hot[:, H_OVERUSED] > 0
        self._bytes_ring[:, self._ring_pos] = received_bytes
        self._ring_pos = (self._ring_pos + 1) % self._bytes_ring.shape[1]
        self.acked = (
            self._bytes_ring.sum(axis=1) * 8e9 / (self._bytes_ring.shape[1] * self.feedback_ns)
        )
        self._delay_based(now_ns, active)
        self._loss_based(now_ns, received + lost, lost, active)
        self.estimate = np.where(
            active, np.minimum(self.delay_based, self.loss_based), self.estimate
        )
        return overused

    # -- delay-based rate control ---------------------------------------------------------
    def _delay_based(self, now_ns: int, active: npt.NDArray[np.bool_]) -> None:
        hyp = self.hypothesis
        est = self.delay_based
        acked = self.acked
        since = np.where(self.last_change < 0, np.inf, (now_ns - self.last_change) / 1e9)
        start_increase = active & (hyp == NORMAL) & (self.state == HOLD)
        self.state[start_increase] = INCREASE
        self.last_change[start_increase] = now_ns
        since[start_increase] = 0.0
        self.state[active & (hyp == UNDERUSING)] = HOLD
        # Decrease: on overuse, when enough time passed since the last change (RTT clamped to
        # [10, 200] ms) or throughput fell below half the estimate (TimeToReduceFurther).
        reduce_after = np.clip(self.rtt_ms, 10, 200) / 1e3
        decrease = active & (hyp == OVERUSING) & ((since >= reduce_after) | (acked < 0.5 * est))
        if decrease.any():
            self._decrease(np.flatnonzero(decrease), now_ns)
        increase = active & (hyp == NORMAL) & (self.state == INCREASE)
        if increase.any():
            self._increase(np.flatnonzero(increase), now_ns, since)

    def _decrease(self, who: IntArray, now_ns: int) -> None:
        acked = self.acked[who]
        current = self.delay_based[who]
        capacity = self.link_capacity[who]
        lower = capacity - 3 * np.sqrt(self.link_deviation[who] * capacity)
        reset = ~np.isnan(capacity) & (acked / 1e3 < lower)
        capacity[reset] = np.nan
        target = BETA * acked
        use_capacity = (target > current) & ~np.isnan(capacity)
        target[use_capacity] = BETA * capacity[use_capacity] * 1e3
        self.delay_based[who] = np.maximum(
            np.where(target < current, target, current), MIN_BITRATE_BPS
        )
        # LinkCapacityEstimator::OnOveruseDetected: EWMA (alpha 0.05) of the acked kbps.
        sample = acked / 1e3
        fresh = np.isnan(capacity)
        capacity = np.where(fresh, sample, 0.95 * capacity + 0.05 * sample)
        norm = np.maximum(capacity, 1.0)
        deviation = 0.95 * self.link_deviation[who] + 0.05 * (capacity - sample) ** 2 / norm
        self.link_deviation[who] = np.clip(deviation, 0.4, 2.5)
        self.link_capacity[who] = capacity
        self.state[who] = HOLD
        self.last_change[who] = now_ns

    def _increase(self, who: IntArray, now_ns: int, since: FloatArray) -> None:
        acked = self.acked[who]
        current = self.delay_based[who]
        capacity = self.link_capacity[who]
        upper = capacity + 3 * np.sqrt(self.link_deviation[who] * capacity)
        reset = ~np.isnan(capacity) & (acked / 1e3 > upper)
        self.link_capacity[who[reset]] = np.nan
        capacity = self.link_capacity[who]
        dt = since[who]
        limit = 1.5 * acked + 10_000.0
        multiplicative = np.maximum(current * (1.08 ** np.minimum(dt, 1.0) - 1.0), 1000.0)
        # Near the link's capacity: about one packet per response time (RTT + 100 ms, x2).
        frame = current / 30 / 8
        packet = frame / np.maximum(1.0, np.ceil(frame / 1200))
        additive = np.maximum(4000.0, packet * 8 / (2 * (self.rtt_ms[who] + 100) / 1e3)) * dt
        raised = current + np.where(np.isnan(capacity), multiplicative, additive)
        self.delay_based[who] = np.where(current < limit, np.minimum(raised, limit), current)
        self.last_change[who] = now_ns

    # -- loss-based -----------------------------------------------------------------------
    def _loss_based(
        self, now_ns: int, expected: IntArray, lost: IntArray, active: npt.NDArray[np.bool_]
    ) -> None:
        self._loss_expected += expected
        self._loss_lost += lost
        ready = active & (self._loss_expected >= LOSS_MIN_PACKETS)
        loss = np.where(ready, self._loss_lost / np.maximum(self._loss_expected, 1), 0.0)
        est = self.loss_based
        low = (
            ready
            & (loss < LOW_LOSS)
            & ((self.last_loss_increase < 0) | (now_ns - self.last_loss_increase >= 1_000_000_000))
        )
        est[low] = 1.08 * est[low] + 1000.0
        self.last_loss_increase[low] = now_ns
        decrease_every = (300 + self.rtt_ms) * 1e6
        high = (
            ready
            & (loss > HIGH_LOSS)
            & ((self.last_loss_decrease < 0) | (now_ns - self.last_loss_decrease >= decrease_every))
        )
        est[high] = est[high] * (1 - 0.5 * loss[high])
        self.last_loss_decrease[high] = now_ns
        self._loss_expected[ready] = 0
        self._loss_lost[ready] = 0
        # The loss-based estimate never exceeds the delay-based one (CapBitrateToThresholds).
        np.minimum(est, self.delay_based, out=est, where=active)
        np.maximum(est, MIN_BITRATE_BPS, out=est, where=active)

    # -- probing --------------------------------------------------------------------------
    def begin_probe(self, who: IntArray) -> None:
        """Reset the probe counters of subscribers about to be probed."""
        self.hot[np.ix_(who, np.array([H_PROBE_FIRST, H_PROBE_LAST]))] = -1
        self.hot[np.ix_(who, np.array([H_PROBE_BYTES, H_PROBE_RUNNING]))] = 0

    def probe_rate(self, who: IntArray) -> FloatArray:
        """Receive rate (bps) from the first to the latest padding packet, media included."""
        span = (self.hot[who, H_PROBE_LAST] - self.hot[who, H_PROBE_FIRST]).astype(np.float64)
        return np.where(span > 0, self.hot[who, H_PROBE_BYTES] * 8e9 / np.maximum(span, 1.0), 0.0)

    def raise_to(self, who: IntArray, bps: FloatArray, now_ns: int) -> None:
        """A successful probe: the estimate becomes at least the probed rate (SetEstimate)."""
        higher = bps > self.estimate[who]
        who, bps = who[higher], bps[higher]
        self.delay_based[who] = bps
        self.loss_based[who] = bps
        self.estimate[who] = bps
        self.last_change[who] = now_ns


def padding_times(
    who: IntArray, start: IntArray, end: IntArray, bps: FloatArray, t0: int, t1: int
) -> tuple[IntArray, IntArray]:
    """Probe padding packets of rows `who` sent in [t0, t1): (row, send time), each row's
    padding evenly spaced at `bps[row]` from `start[row]` until `end[row]`."""
    rows_out, times = [], []
    for r in who:
        spacing = PADDING_WIRE_BYTES * 8e9 / bps[r]
        begin = int(start[r])
        first = max(0, int(np.ceil((t0 - begin) / spacing)))
        last = int(np.ceil((min(t1, int(end[r])) - begin) / spacing))
        if last > first:
            k = np.arange(first, last)
            times.append(begin + np.floor(k * spacing).astype(np.int64))
            rows_out.append(np.full(len(k), r, dtype=np.int64))
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)  # noqa: E731
    return cat(rows_out), cat(times)
