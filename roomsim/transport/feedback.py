"""Transport-wide feedback in flight: per watched packet, when it was sent and when (if at
all) it arrived, held until its report reaches the sender.

The sender (an SFU for its subscribers' downlinks, a mesh peer for each of its peer
connections, an MCU for its participants' downlinks) learns a packet's fate one return
delay after the packet's arrival (or after it would have arrived, for a loss); the
estimators at a control instant see exactly the reports that have reached the sender by
then, however the engine batched its ticks. Records are keyed by estimator row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class FeedbackBuffer:
    """Growable columns of feedback records; records [head, n) are pending.

    New records go at `n`; the estimators consume from `head` (see
    kernels_gcc.gcc_feedback), so the pending window moves up through the columns and is
    slid back to the front only when the columns fill.
    """

    sub: npt.NDArray[np.int64]
    send: npt.NDArray[np.int64]
    arrive: npt.NDArray[np.int64]
    size: npt.NDArray[np.int64]
    probe: npt.NDArray[np.bool_]
    report: npt.NDArray[np.int64]

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.head = 0
        self.n = 0
        self._alloc(capacity)
        none = np.zeros(0, dtype=np.int64)
        self.watch(none, none, none, none)

    def _alloc(self, capacity: int) -> None:
        old = getattr(self, "sub", None)
        columns = {
            "sub": np.int64,
            "send": np.int64,
            "arrive": np.int64,
            "size": np.int64,
            "probe": np.bool_,
            "report": np.int64,
        }
        for name, dtype in columns.items():
            fresh: npt.NDArray[np.generic] = np.empty(capacity, dtype=dtype)
            if old is not None:
                fresh[: self.n] = getattr(self, name)[: self.n]
            setattr(self, name, fresh)

    def watch(self, row: IntArray, col: IntArray, down_delay: IntArray, up_delay: IntArray,
              paced: bool = False) -> None:
        """Which receivers report: `row[receiver]` is the first estimator row of a receiver
        (-1: it reports nothing) and `col[stream]` the offset of the stream's sender within
        it. Per estimator row: the forward delay (a loss is reported when the packet would
        have arrived) and the return delay of the report. `paced`: a packet's send time is
        its `enc_us` stamp (when it left the sender's pacer), not its time at the link."""
        self.row, self.col, self.down_delay, self.up_delay = row, col, down_delay, up_delay
        self.paced = paced

    def append(self, row: IntArray, send: IntArray, size: IntArray, report: IntArray) -> None:
        """Record lost packets seen outside the link kernel (dropped before the watched
        link, e.g. on a mesh sender's own uplink): reported missing at `report`."""
        k = len(row)
        self.reserve(k)
        sl = slice(self.n, self.n + k)
        self.sub[sl], self.send[sl], self.size[sl], self.report[sl] = row, send, size, report
        self.arrive[sl] = -1
        self.probe[sl] = False
        self.n += k

    def reserve(self, more: int) -> None:
        """Room for `more` records after `n`: the pending window slides back to the front,
        and the columns double when it would fill more than half of them (so at least
        half the columns' worth of records is appended between two slides)."""
        if self.n + more <= len(self.sub):
            return
        head, pending = self.head, self.n - self.head
        if head > 0:
            for name in ("sub", "send", "arrive", "size", "probe", "report"):
                column = getattr(self, name)
                column[:pending] = column[head : self.n]
            self.head, self.n = 0, pending
        need = pending + more
        if 2 * need > len(self.sub):
            self._alloc(max(need, 2 * len(self.sub)))

    def pending(self) -> tuple[npt.NDArray[np.generic], ...]:
        """The buffer's columns (sub, send, arrive, size, probe, report); their window
        [head, n) is consumed in place by the estimators (`GccEstimators.update`)."""
        return self.sub, self.send, self.arrive, self.size, self.probe, self.report
