"""Shortcuts in the per-packet kernels give exactly what their definitions give: latency
bins from integer thresholds (definition: log10), the jitter from log(1 - r) (definition:
log1p(-r)), and the bound that lets a link skip the jitter of a packet held behind the
previous one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from roomsim.sim.kernels import latency_bin, log_latency_bin
from roomsim.sim.kernels_order import stable_argsort
from roomsim.sim.kernels_rtp import _hidden, _jitter
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


@njit(cache=True)
def _jitter_by_definition(jitter_ns, r):  # type: ignore[no-untyped-def]
    if r > 1.0 - 1e-16:
        r = 1.0 - 1e-16
    return np.int64(np.rint(-jitter_ns * np.log1p(-r)))


@njit(cache=True)
def _jitter_mismatches(jitters, draws):  # type: ignore[no-untyped-def]
    bad = 0
    for j in jitters:
        for r in draws:
            exact = _jitter_by_definition(j, r)
            if _jitter(j, r) != exact:
                bad += 1
            for slack in (exact - 1, exact, exact + 1, exact + 2):  # hidden => stays below slack
                if _hidden(j, r, slack) and exact >= slack:
                    bad += 1
    return bad


def test_jitter_shortcuts_equal_the_log1p_definition() -> None:
    rng = np.random.default_rng(11)
    draws = np.concatenate([rng.random(300_000), rng.random(20_000) * 1e-9, 1 - rng.random(20_000) * 1e-12,
                            [0.0, 0.5, 1 - 1e-16, np.nextafter(1.0, 0.0)]])
    jitters = np.array([1e3, 2.5e5, 1e6, 1.5e6, 2e6, 3e6, 4.5e6, 8e6, 1.234567e7, 5e7, 3e8])
    assert _jitter_mismatches(jitters, draws) == 0


@settings(deadline=None)  # the first example may compile the kernel
@given(st.lists(st.integers(min_value=0, max_value=50), max_size=300))
def test_stable_argsort_is_numpys_mergesort(values: list[int]) -> None:
    keys = np.array(values, dtype=np.int64)
    assert stable_argsort(keys).tolist() == np.argsort(keys, kind="mergesort").tolist()
