"""Latency-breakdown histograms, compiled with numba: where each played frame's
milliseconds went (encode, uplink, server, downlink, jitter buffer, decode), binned per
receiver and media kind, and the crossings of links that stamp those stages on packets.
Read by roomsim.sim.breakdown; `kernels_playout.play_frames` fills them as it plays.
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit

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
