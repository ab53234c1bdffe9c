"""The two kinds of queueing resource: links and CPU pools, as tables of numpy columns.

A link is a one-way pipe: a drop-tail FIFO of rate C, then propagation delay, delay
variation (jitter) and random loss. A CPU pool is a set of cores serving work items in
FIFO order; it is modelled as one fluid server of rate `cores` (so a backlog drains `cores`
times faster than on one core) with each item taking at least its own work time (an item
runs on one core). Both keep streaming counters for a measurement interval and per window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from roomsim.sim.fifo import fifo_serve, segmented_running_max
from roomsim.sim.metrics import NS, Windows
from roomsim.sim.packets import Packets
from roomsim.sim.rng import uniform

_LOSS_DRAW = 1
_JITTER_DRAW = 2


@dataclass
class Counters:
    """Per-resource totals for the whole run, for the measurement interval, and per window."""

    size: int
    windows: int
    total: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    measured: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    series: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)

    def add(self, name: str, index: npt.NDArray[np.integer], weights: npt.NDArray[np.integer] | None,
            window: int, measuring: bool) -> None:
        """Accumulate `weights` (or 1 each) per resource index."""
        if len(index) == 0:
            return
        counts = np.bincount(index, weights=weights, minlength=self.size)
        counts = np.rint(counts).astype(np.int64) if weights is not None else counts
        if name not in self.total:
            self.total[name] = np.zeros(self.size, dtype=np.int64)
            self.measured[name] = np.zeros(self.size, dtype=np.int64)
            self.series[name] = np.zeros((self.size, self.windows), dtype=np.int64)
        self.total[name] += counts
        if measuring:
            self.measured[name] += counts
        self.series[name][:, window] += counts

    def get(self, kind: str, name: str) -> npt.NDArray[np.int64]:
        """`kind` is "total", "measured" or "series"; absent counters read as zero."""
        table: dict[str, npt.NDArray[np.int64]] = getattr(self, kind)
        if name in table:
            return table[name]
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
        rows = self._rows or [(1.0, 0, 0.0, 0.0, 0, 0)]
        rate, delay, jitter, loss, queue, key = zip(*rows, strict=True)
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
        self.counters = Counters(n, windows.count)

    def transmit(self, batch: Packets, window: int, measuring: bool) -> tuple[Packets, Packets]:
        """Send a batch sorted by (link, arrival); return (arrived downstream, dropped).

        Arrived packets carry `t` = time they reach the far end. Offered bytes count as
        sent; drops are split into queue overflow and random loss, so that on every link
        sent = delivered + dropped.
        """
        link = batch["res"]
        size = batch["size"].astype(np.int64)
        service = np.rint(size * (8 * NS) / self.rate_bps[link]).astype(np.int64)
        departure, queued = fifo_serve(link, batch["t"], service, self.busy_until, self.queue_ns)
        rank = np.arange(len(batch)) - np.searchsorted(link, link, side="left")
        counter = self.sequence[link] + rank
        self.sequence += np.bincount(link, minlength=len(self.sequence))
        lossy = self.loss[link] > 0
        lost = np.zeros(len(batch), dtype=bool)
        if lossy.any():
            draw = uniform(self.key[link], counter, _LOSS_DRAW)
            lost = queued & lossy & (draw < self.loss[link])
        arrive = departure + self.delay_ns[link]
        jittery = self.jitter_ns[link] > 0
        if jittery.any():
            draw = uniform(self.key[link], counter, _JITTER_DRAW)
            extra = -self.jitter_ns[link] * np.log1p(-draw)  # exponential, mean = jitter
            arrive = arrive + np.where(jittery, np.rint(extra).astype(np.int64), 0)
        delivered = queued & ~lost
        kept = np.flatnonzero(delivered)
        arrive_kept = segmented_running_max(link[kept], arrive[kept], self.last_out)
        if len(kept):
            ends = np.append(np.flatnonzero(link[kept][1:] != link[kept][:-1]), len(kept) - 1)
            self.last_out[link[kept][ends]] = arrive_kept[ends]
        self._count(batch, size, queued, lost, window, measuring)
        out = batch[kept]
        out["t"] = arrive_kept
        return out, batch[~delivered]

    def _count(self, batch: Packets, size: npt.NDArray[np.int64], queued: npt.NDArray[np.bool_],
               lost: npt.NDArray[np.bool_], window: int, measuring: bool) -> None:
        link = batch["res"]
        c = self.counters
        c.add("packets", link, None, window, measuring)
        c.add("bytes", link, size, window, measuring)
        c.add("payload_bytes", link, batch["payload"], window, measuring)
        if not queued.all():
            c.add("dropped_queue", link[~queued], None, window, measuring)
        if lost.any():
            c.add("dropped_loss", link[lost], None, window, measuring)
        delivered = queued & ~lost
        c.add("delivered", link[delivered], None, window, measuring)


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
        rows = self._rows or [(1.0, 0)]
        cores, queue = zip(*rows, strict=True)
        self.cores = np.array(cores, dtype=np.float64)
        self.queue_ns = np.array(queue, dtype=np.int64)
        self.busy_until = np.zeros(len(self.cores), dtype=np.int64)
        self.counters = Counters(len(self.cores), windows.count)

    def serve(self, pool: npt.NDArray[np.integer], arrival: npt.NDArray[np.int64],
              work_ns: npt.NDArray[np.int64], window: int, measuring: bool
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Serve work items sorted by (pool, arrival); return (done time, accepted)."""
        service = np.maximum(1, np.rint(work_ns / self.cores[pool])).astype(np.int64)
        fluid_done, accepted = fifo_serve(pool, arrival, service, self.busy_until, self.queue_ns)
        done = np.maximum(fluid_done, arrival + work_ns)
        c = self.counters
        c.add("jobs", pool[accepted], None, window, measuring)
        c.add("busy_ns", pool[accepted], work_ns[accepted], window, measuring)
        if not accepted.all():
            c.add("dropped", pool[~accepted], None, window, measuring)
        return done, accepted
