"""The latency histogram's integer thresholds bin exactly as its log10 definition."""

from __future__ import annotations

import numpy as np
from numba import njit

from roomsim.sim.kernels import latency_bin, log_latency_bin
from roomsim.sim.metrics import (
    LATENCY_BINS,
    LATENCY_BINS_PER_DECADE,
    LATENCY_FIRST_BIN,
    LATENCY_LOWER_NS,
    LATENCY_MIN_MS,
    bin_edges_ms,
)


@njit(cache=True)
def _mismatches(latencies, lower, first, bins, per_decade, min_ms):  # type: ignore[no-untyped-def]
    bad = 0
    for x in latencies:
        if latency_bin(x, lower, first) != log_latency_bin(x, bins, per_decade, min_ms):
            bad += 1
    return bad


def test_threshold_bins_equal_the_log_formula_around_every_edge_and_at_random() -> None:
    rng = np.random.default_rng(5)
    near_edges = [np.arange(edge - 3000, edge + 3000) for edge in LATENCY_LOWER_NS[1:-1]]
    latencies = np.concatenate([
        *near_edges,
        np.arange(-50, 200_000),  # zero, negatives and the underflow bin
        np.exp(rng.uniform(0, np.log(1e13), 200_000)).astype(np.int64),  # ns to hours
    ])
    assert _mismatches(latencies, LATENCY_LOWER_NS, LATENCY_FIRST_BIN, LATENCY_BINS, LATENCY_BINS_PER_DECADE,
                       LATENCY_MIN_MS) == 0


def test_thresholds_sit_on_the_published_bin_edges() -> None:
    """Bin b (1..) starts at edge b-1 of `bin_edges_ms` (0.1 ms x 10^(k/40)), to the ns."""
    edges_ns = bin_edges_ms() * 1e6
    assert np.all(np.abs(LATENCY_LOWER_NS[1:LATENCY_BINS] - edges_ns) <= 1)
    assert LATENCY_LOWER_NS[1] == 100_000 and LATENCY_LOWER_NS[LATENCY_BINS - 1] == 100_000_000_000
