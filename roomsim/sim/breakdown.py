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

from roomsim.sim.kernels_stages import STAGE_BINS, breakdown_into, stage_bin_edges_ms, stage_percentiles

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


_UPPER_MS = stage_bin_edges_ms()


def stage_percentiles_ms(histograms: npt.NDArray[np.integer], qs: tuple[float, ...] = (50, 95, 99)
                         ) -> npt.NDArray[np.float64]:
    """Percentiles (ms) of stage histograms (rows of the last axis): 0.1 ms resolution up
    to 100 ms, 1 ms up to 10 s; 0 for a stage that took no time; NaN when empty.
    Returns shape histograms.shape[:-1] + (len(qs),)."""
    flat = histograms.reshape(-1, histograms.shape[-1])
    out = np.empty((len(flat), len(qs)))
    stage_percentiles(flat, np.asarray(qs, dtype=np.float64), _UPPER_MS, out)
    return out.reshape(*histograms.shape[:-1], len(qs))


class StageBreakdown:
    """Stage durations of every played frame: sums per receiver and kind (means), and
    linearly binned histograms per kind for the whole run (percentiles). Histograms per
    receiver would be six scattered counter updates a frame into a large table; the run's
    table stays in cache, and a receiver's own latency percentiles are in its results."""

    def __init__(self, participants: int) -> None:
        self.stages = len(STAGES)
        self.hist = np.zeros((2, self.stages, STAGE_BINS), dtype=np.int64)
        self.sum_ns = np.zeros((participants, 2, self.stages), dtype=np.int64)
        self.count = np.zeros((participants, 2), dtype=np.int64)

    def add(self, sub: npt.NDArray[np.int64], kind: npt.NDArray[np.integer], stages: npt.NDArray[np.int64]) -> None:
        """Count the stage durations of frames played by `sub` (one compiled pass)."""
        if len(sub):
            breakdown_into(self.hist, self.sum_ns, self.count, sub, kind, stages)

    def state(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(hist, sums, counts) for playout (`kernels_playout.play_frames`), which counts the
        frames played straight from their packets."""
        return self.hist, self.sum_ns, self.count

    def receiver_means(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """(means [receiver, kind, stage] ms, frames [receiver, kind])."""
        return self.sum_ns / np.maximum(self.count, 1)[..., None] / 1e6, self.count

    def run_summary(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """(means [kind, stage] ms, percentiles [kind, stage, (p50, p95, p99)] ms, frames [kind])."""
        count = self.count.sum(axis=0)
        means = self.sum_ns.sum(axis=0) / np.maximum(count, 1)[:, None] / 1e6
        return means, stage_percentiles_ms(self.hist), count
