"""The two kinds of queueing resource: links and CPU pools, as tables of numpy columns.

A link is a one-way pipe: a drop-tail FIFO of rate C, then propagation delay, delay
variation (jitter) and random loss. A CPU pool is a set of cores serving work items in
FIFO order; it is modelled as one fluid server of rate `cores` (so a backlog drains `cores`
times faster than on one core) with each item taking at least its own work time (an item
runs on one core). Both keep streaming counters: whole run, measurement interval, windows.
The per-packet loops live in `kernels`; batches are handed over in time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from roomsim.sim.kernels import serve_pools
from roomsim.sim.metrics import Windows


@dataclass
class Counters:
    """Per-resource totals for the whole run, for the measurement interval, and per window.

    Per-packet kernels count into a pending table (`pending`) that is added to the totals
    only when the window or the measurement flag changes, or before a read: one add a
    second instead of one per counter, stage and tick (thousands of resources each).
    Only the counters named in `per_window` keep a column per window (the results draw
    those over time): a (windows x resources) table is the largest a counter has, ~3 MB a
    counter for 6,000 links over a minute.
    """

    size: int
    windows: int
    per_window: tuple[str, ...] = ()
    total: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    measured: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    series: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    _pending: dict[tuple[str, ...], npt.NDArray[np.int64]] = field(default_factory=dict)
    _pending_at: tuple[int, bool] | None = None

    def add(self, name: str, counts: npt.NDArray[np.int64], window: int, measuring: bool) -> None:
        """Accumulate one tick's per-resource counts."""
        if name not in self.total:
            self.total[name] = np.zeros(self.size, dtype=np.int64)
            self.measured[name] = np.zeros(self.size, dtype=np.int64)
            if name in self.per_window:
                # window-major, so one tick's counts land in one contiguous row
                self.series[name] = np.zeros((self.windows, self.size), dtype=np.int64)
        self.total[name] += counts
        if measuring:
            self.measured[name] += counts
        if name in self.per_window:
            self.series[name][window] += counts

    def pending(self, names: tuple[str, ...], window: int, measuring: bool) -> npt.NDArray[np.int64]:
        """A (resource, counter) table to count into for `names` in this window; the same
        table until it is flushed into the totals."""
        if self._pending_at != (window, measuring):
            self.flush()
            self._pending_at = (window, measuring)
        table = self._pending.get(names)
        if table is None:
            table = self._pending[names] = np.zeros((self.size, len(names)), dtype=np.int64)
        return table

    def flush(self) -> None:
        """Add the pending counts to the totals of the window they were counted in."""
        if self._pending_at is None:
            return
        window, measuring = self._pending_at
        self._pending_at = None
        for names, table in self._pending.items():
            for column, name in enumerate(names):
                self.add(name, table[:, column], window, measuring)
            table[:] = 0

    def get(self, kind: str, name: str) -> npt.NDArray[np.int64]:
        """`kind` is "total", "measured" or "series"; absent counters read as zero."""
        if kind == "series" and name not in self.per_window:
            raise KeyError(f"counter {name!r} is not kept per window (per_window={self.per_window})")
        self.flush()
        table: dict[str, npt.NDArray[np.int64]] = getattr(self, kind)
        if name in table:
            return table[name].T if kind == "series" else table[name]
        shape = (self.size, self.windows) if kind == "series" else (self.size,)
        return np.zeros(shape, dtype=np.int64)


class LinkTable:
    """All links of a run. Columns are filled by `add` while building, then frozen."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._rows: list[tuple[float, int, float, float, int, int]] = []

    def add(self, name: str, rate_bps: float, delay_ns: int, jitter_ns: float, loss: float,
            queue_ns: int, key: int) -> int:
        """Register a link; returns its index."""
        self.names.append(name)
        self._rows.append((rate_bps, delay_ns, jitter_ns, loss, queue_ns, key))
        return len(self.names) - 1

    def freeze(self, windows: Windows) -> None:
        """Turn the rows into numpy columns and zero the state and counters."""
        rows_ = self._rows or [(1.0, 0, 0.0, 0.0, 0, 0)]
        rate, delay, jitter, loss, queue, key = zip(*rows_, strict=True)
        self.rate_bps = np.array(rate, dtype=np.float64)
        self.delay_ns = np.array(delay, dtype=np.int64)
        self.jitter_ns = np.array(jitter, dtype=np.float64)
        self.loss = np.array(loss, dtype=np.float64)
        self.queue_ns = np.array(queue, dtype=np.int64)
        self.key = np.array(key, dtype=np.uint64)
        n = len(self.rate_bps)
        self.busy_until = np.zeros(n, dtype=np.int64)
        self.last_out = np.zeros(n, dtype=np.int64)
        self.sequence = np.zeros(n, dtype=np.int64)
        self.counters = Counters(n, windows.count, per_window=("bytes",))

    def delivered(self, kind: str = "total") -> npt.NDArray[np.int64]:
        """Packets that crossed each link: sent minus both kinds of drop."""
        c = self.counters
        return c.get(kind, "packets") - c.get(kind, "dropped_queue") - c.get(kind, "dropped_loss")


#: Counter columns of CPU pools.
CPU_COUNTERS = ("busy_ns", "jobs", "dropped")


class CpuTable:
    """All CPU pools of a run (server nodes, client encoders and decoders)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._rows: list[tuple[float, int]] = []

    def add(self, name: str, cores: float, queue_ns: int) -> int:
        """Register a pool of `cores` whose items may wait at most `queue_ns`."""
        self.names.append(name)
        self._rows.append((cores, queue_ns))
        return len(self.names) - 1

    def freeze(self, windows: Windows) -> None:
        """Turn the rows into numpy columns and zero the state and counters."""
        rows_ = self._rows or [(1.0, 0)]
        cores, queue = zip(*rows_, strict=True)
        self.cores = np.array(cores, dtype=np.float64)
        self.queue_ns = np.array(queue, dtype=np.int64)
        self.busy_until = np.zeros(len(self.cores), dtype=np.int64)
        self.counters = Counters(len(self.cores), windows.count, per_window=("busy_ns",))

    def serve(self, pool: npt.NDArray[np.integer], arrival: npt.NDArray[np.int64],
              work_ns: npt.NDArray[np.int64], window: int, measuring: bool
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Serve work items (in time order); return (done time, accepted).
        An item is done when the pool has worked through it, and no sooner than its own
        work time after it arrived (one item runs on one core)."""
        start, accepted = self.serve_fluid(pool, arrival, work_ns, window, measuring)
        service = np.rint(work_ns / self.cores[pool]).astype(np.int64)
        return np.maximum(start + np.maximum(service, 1), arrival + work_ns), accepted

    def serve_fluid(self, pool: npt.NDArray[np.integer], arrival: npt.NDArray[np.int64],
                    work_ns: npt.NDArray[np.int64], window: int, measuring: bool
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """FIFO through the pools' fluid servers; return (start of service, accepted)."""
        n = len(arrival)
        start = np.zeros(n, dtype=np.int64)
        accepted = np.zeros(n, dtype=bool)
        busy, jobs, dropped = self.pending(window, measuring)
        serve_pools(pool, arrival, work_ns.astype(np.int64), self.cores, self.queue_ns,
                    self.busy_until, start, accepted, busy, jobs, dropped)
        return start, accepted

    def pending(self, window: int, measuring: bool) -> tuple[npt.NDArray[np.int64], ...]:
        """Where kernels count busy core-ns, jobs and drops per pool in this window."""
        table = self.counters.pending(CPU_COUNTERS, window, measuring)
        return table[:, 0], table[:, 1], table[:, 2]
