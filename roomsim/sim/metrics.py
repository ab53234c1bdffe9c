"""Streaming counters: fixed-size windows and log-binned histograms, never per-packet lists.

Memory is set by the number of links, participants and windows, not by how many packets
flow, so a run's footprint stays flat as its duration grows.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from roomsim.sim.kernels import latency_bin_tables, latency_into

NS = 1_000_000_000

#: Latency histogram: 40 log-spaced bins a decade from 0.1 ms to 100 s (bin width ~5.9 %).
LATENCY_BINS_PER_DECADE = 40
LATENCY_MIN_MS = 0.1
LATENCY_DECADES = 6
LATENCY_BINS = LATENCY_BINS_PER_DECADE * LATENCY_DECADES + 2  # + underflow, overflow
#: Integer bin thresholds (ns) and the octave lookup that replace a logarithm per sample.
LATENCY_LOWER_NS, LATENCY_FIRST_BIN = latency_bin_tables(LATENCY_BINS, LATENCY_BINS_PER_DECADE, LATENCY_MIN_MS)


def latency_bin(latency_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Histogram bin of each latency (0 = underflow, last = overflow)."""
    ms = np.maximum(latency_ns, 1) / 1e6
    position = np.floor(np.log10(ms / LATENCY_MIN_MS) * LATENCY_BINS_PER_DECADE).astype(np.int64)
    return np.clip(position + 1, 0, LATENCY_BINS - 1)


_EDGES_MS = LATENCY_MIN_MS * 10.0 ** (
    np.arange(LATENCY_BINS_PER_DECADE * LATENCY_DECADES + 1) / LATENCY_BINS_PER_DECADE)


def bin_edges_ms() -> npt.NDArray[np.float64]:
    """Edges of the regular bins (bin i, 1..LATENCY_BINS-2, spans edges[i-1]..edges[i]), ms."""
    return _EDGES_MS


def percentile_ms(histogram: npt.NDArray[np.int64], q: float) -> float | None:
    """The q-th percentile (0-100) of a latency histogram, log-interpolated in its bin."""
    return percentiles_ms(histogram, (q,))[0]


def percentiles_ms(histogram: npt.NDArray[np.int64], qs: tuple[float, ...]) -> list[float | None]:
    """`percentile_ms` for several q over one cumulative sum."""
    return percentiles_rows_ms(histogram[None, :], qs)[0]


def percentiles_rows_ms(histograms: npt.NDArray[np.int64], qs: tuple[float, ...]) -> list[list[float | None]]:
    """`percentile_ms` for several q of every row of a (rows, bins) table, in one pass over
    the table (results report p50/p95/p99 of thousands of histograms). The arithmetic is
    that of one histogram at a time, element by element, so each figure is the same float."""
    rows = len(histograms)
    cumulative = np.cumsum(histograms, axis=1)
    total = cumulative[:, -1]
    empty = (total == 0).tolist()
    edges = bin_edges_ms()
    columns: list[list[float]] = []
    for q in qs:
        target = q / 100.0 * total
        # searchsorted(side="left") of each row: how many running sums lie below the target
        index = np.minimum((cumulative < target[:, None]).sum(axis=1), LATENCY_BINS - 1)
        inner = np.clip(index, 1, LATENCY_BINS - 2)
        before = cumulative[np.arange(rows), inner - 1]
        inside = histograms[np.arange(rows), inner]
        fraction = np.zeros(rows)
        np.divide(target - before, inside, out=fraction, where=inside != 0)
        low, high = edges[inner - 1], edges[inner]
        ratio = high / low
        column = []
        for r, k in enumerate(index.tolist()):
            if k == 0:
                column.append(float(edges[0]))
            elif k >= LATENCY_BINS - 1:
                column.append(float(edges[-1]))
            else:  # numpy scalars, as one histogram's own loop computed it
                column.append(float(low[r] * ratio[r] ** fraction[r]))
        columns.append(column)
    return [[None] * len(qs) if empty[r] else [c[r] for c in columns] for r in range(rows)]


class LatencyHistograms:
    """One latency histogram per (owner, media kind); owners are participants or pairs."""

    def __init__(self, owners: int, kinds: int = 2) -> None:
        self.kinds = kinds
        self.counts = np.zeros((owners, kinds, LATENCY_BINS), dtype=np.int64)

    def state(self) -> tuple[npt.NDArray[np.int64], int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(cells flattened, kinds, bin thresholds, octave table) for compiled passes that
        count samples themselves (`kernels_playout.play_frames`)."""
        return self.counts.reshape(-1), self.kinds, LATENCY_LOWER_NS, LATENCY_FIRST_BIN

    def add(self, owner: npt.NDArray[np.integer], kind: npt.NDArray[np.integer],
            latency_ns: npt.NDArray[np.int64]) -> None:
        """Count one sample per element."""
        if len(latency_ns) == 0:
            return
        latency_into(self.counts.reshape(-1), owner, kind, latency_ns, self.kinds, LATENCY_LOWER_NS,
                     LATENCY_FIRST_BIN)


class Windows:
    """Time windows for rate counters: one column per window of `width_ns`.

    The width is at least one second and grows for long runs so that at most
    `max_windows` columns exist: bounded memory for any duration.
    """

    def __init__(self, horizon_ns: int, tick_ns: int, max_windows: int = 720) -> None:
        width = max(NS, math.ceil(horizon_ns / max_windows / NS) * NS)
        width = math.ceil(width / tick_ns) * tick_ns  # a tick never straddles two windows
        self.width_ns = width
        self.count = math.ceil(horizon_ns / width) + 1

    def index(self, t_ns: int) -> int:
        """Window holding time t."""
        return min(t_ns // self.width_ns, self.count - 1)

    def span(self, start_ns: int, end_ns: int) -> tuple[int, int]:
        """First and one-past-last window fully inside [start, end)."""
        first = -(-start_ns // self.width_ns)
        last = end_ns // self.width_ns
        return first, max(first, last)
