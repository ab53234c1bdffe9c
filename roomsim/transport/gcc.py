"""Per-subscriber downlink estimation, as a send-side GCC (libwebrtc goog_cc) run by the SFU.

The SFU stamps every packet it sends a subscriber and learns, from transport-wide
feedback, when each arrived (or that it was lost). Every feedback interval the estimator
bank takes the feedback that has reached the SFU by `now` and updates, per subscriber:

* a delay-based estimate: inter-group delay variation -> trendline slope -> overuse /
  normal / underuse (kernels_gcc.gcc_feedback), driving an AIMD rate controller
  (libwebrtc AimdRateControl, modules/remote_bitrate_estimator/aimd_rate_control.cc:
  decrease to 0.85 x acknowledged rate; increase x1.08 a second while the link capacity
  is unknown, additively near it; never above 1.5 x acknowledged + 10 kbps);
* a loss-based estimate (SendSideBandwidthEstimation, goog_cc/
  send_side_bandwidth_estimation.cc): below 2 % loss +8 % (at most once a second), above
  10 % x (1 - loss / 2) (at most every 300 ms + RTT), computed over at least 20 packets;
* the result of a finished probe (padding sent at a goal rate; its receive rate, taken as
  libwebrtc's ProbeBitrateEstimator does, raises the estimate when higher).

The estimate is min(delay-based, loss-based). The state is numpy columns over all rows,
updated row by row in one compiled pass per feedback instant (kernels_gcc.gcc_update);
`now` is passed in (aiortc's rate.py habit), so the bank runs unchanged at simulated time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sim import headers
from roomsim.sim.kernels_gcc import (
    H_BYTES,
    H_COLUMNS,
    H_LOST,
    H_OVERUSED,
    H_PROBE_BYTES,
    H_PROBE_FIRST,
    H_PROBE_LAST,
    H_PROBE_RUNNING,
    H_RECEIVED,
    HOLD,
    gcc_update,
    new_trend_state,
)
from roomsim.transport.feedback import FeedbackBuffer

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# The rate controllers' constants live with their kernel (kernels_gcc.gcc_update):
# BETA = AimdRateControl kDefaultBackoffFactor; LOW_LOSS / HIGH_LOSS =
# kDefaultLowLossThreshold / kDefaultHighLossThreshold; LOSS_MIN_PACKETS = kLimitNumPackets;
# MIN_BITRATE_BPS = kCongestionControllerMinBitrate.
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
        """Consume the feedback records that reached the sender by `now` (in send order per
        row; `arrive` < 0 = lost) and update the estimates of `active` rows, in one compiled
        pass (kernels_gcc.gcc_update). Returns which rows saw overuse in this batch."""
        window = self._bytes_ring.shape[1]
        feedback.head = gcc_update(  # type: ignore[call-arg]  # numba dispatcher stub
            now_ns, feedback.head, feedback.n, *feedback.pending(), self.hot, self.trend, self.hist, active,
            self._bytes_ring, self._ring_pos, window * self.feedback_ns, self.rtt_ms,
            self.state, self.last_change, self.link_capacity, self.link_deviation, self.acked,
            self.delay_based, self.loss_based, self.estimate, self._loss_expected,
            self._loss_lost, self.last_loss_increase, self.last_loss_decrease,
        )
        self._ring_pos = (self._ring_pos + 1) % window
        return self.hot[:, H_OVERUSED] > 0

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
