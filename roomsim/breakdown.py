"""Where the milliseconds go: a latency breakdown of every played media frame.

Each frame's capture-to-playout latency is split into six stages that add up to it
exactly, from stamps the packets carry (`enc_us`, `up_us`, `out_us`, see
roomsim/sim/packets.py) and the receiver's own times:

    capture_encode  capture -> encoded (client encoder queue + encode)
    uplink          -> crossed the publisher's uplink (queue, serialization, propagation,
                       jitter, repair)
    node            -> left the server (forwarding, or the MCU's decode, jitter buffer,
                       mix and encode; zero in a mesh)
    downlink        -> the frame's last packet reached the receiver
    jitter_buffer   -> played out (waiting for the playout deadline)
    decode          decode (and its queue) on the receiver

The receiver decodes a frame when it completes and the decoded frame waits for its
playout slot; NetEq decodes at playout instead, which moves the (sub-millisecond) decode
inside the wait without changing the sum.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sim.metrics import LATENCY_BINS, LatencyHistograms, bin_edges_ms

STAGES = ("capture_encode", "uplink", "node", "downlink", "jitter_buffer", "decode")
KINDS = ("audio", "video")


def stage_durations(capture: npt.NDArray[np.int64], enc_us: npt.NDArray[np.integer],
                    up_us: npt.NDArray[np.integer], out_us: npt.NDArray[np.integer],
                    arrival: npt.NDArray[np.int64], done: npt.NDArray[np.int64],
                    playout: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """(frames, 6) stage durations in ns, in `STAGES` order; rows sum to playout - capture."""
    enc = enc_us.astype(np.int64) * 1000
    up = up_us.astype(np.int64) * 1000
    out = out_us.astype(np.int64) * 1000
    return np.stack([enc, up - enc, out - up, arrival - capture - out, playout - done, done - arrival], axis=1)


def percentile_or_zero(histogram: npt.NDArray[np.int64], q: float) -> float | None:
    """Percentile of a log-binned histogram in ms, 0 when it falls below the first bin
    (stages that take no time, like `node` in a mesh)."""
    total = int(histogram.sum())
    if total == 0:
        return None
    cumulative = np.cumsum(histogram)
    index = int(np.searchsorted(cumulative, q / 100.0 * total, side="left"))
    if index == 0:
        return 0.0
    edges = bin_edges_ms()
    if index >= LATENCY_BINS - 1:
        return float(edges[-1])
    before = cumulative[index - 1]
    fraction = (q / 100.0 * total - before) / histogram[index]
    low, high = edges[index - 1], edges[index]
    return float(low * (high / low) ** fraction)


class StageBreakdown:
    """Per-receiver, per-kind histograms and sums of each stage's duration."""

    def __init__(self, participants: int) -> None:
        self.stages = len(STAGES)
        self.hist = LatencyHistograms(participants * self.stages)
        self.sum_ns = np.zeros((participants, 2, self.stages))
        self.count = np.zeros((participants, 2), dtype=np.int64)

    def add(self, sub: npt.NDArray[np.int64], kind: npt.NDArray[np.integer], stages: npt.NDArray[np.int64]) -> None:
        """Count the stage durations of frames played by `sub`."""
        if len(sub) == 0:
            return
        clipped = np.maximum(stages, 0)
        for k in range(self.stages):
            self.hist.add(sub * self.stages + k, kind, clipped[:, k])
        np.add.at(self.sum_ns, (sub, kind), clipped.astype(np.float64))
        np.add.at(self.count, (sub, kind), 1)

    def histogram(self, participants: npt.ArrayLike, kind: int, stage: int) -> npt.NDArray[np.int64]:
        """Summed histogram of one stage over some receivers."""
        owners = np.asarray(participants, dtype=np.int64) * self.stages + stage
        return self.hist.counts[owners, kind].sum(axis=0)

    def mean_ms(self, participants: npt.ArrayLike, kind: int) -> npt.NDArray[np.float64] | None:
        """Mean of each stage over some receivers' frames (means add up to the mean total)."""
        idx = np.asarray(participants, dtype=np.int64)
        count = int(self.count[idx, kind].sum())
        if count == 0:
            return None
        return self.sum_ns[idx, kind].sum(axis=0) / count / 1e6
