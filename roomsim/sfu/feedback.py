"""Transport-wide feedback in flight: per downlink packet, when it was sent and when (if at
all) it arrived, held until its report reaches the node.

The node learns a packet's fate one uplink delay after the packet's arrival (or after it
would have arrived, for a loss); the estimators at a control instant see exactly the
reports that have reached the node by then, however the engine batched its ticks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class FeedbackBuffer:
    """Growable columns of pending feedback records."""

    sub: npt.NDArray[np.int64]
    send: npt.NDArray[np.int64]
    arrive: npt.NDArray[np.int64]
    size: npt.NDArray[np.int64]
    probe: npt.NDArray[np.bool_]
    report: npt.NDArray[np.int64]

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.n = 0
        self._alloc(capacity)
        self.watch(np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

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

    def watch(self, watched: npt.NDArray[np.bool_], down_delay: IntArray, up_delay: IntArray) -> None:
        """Which receivers report (per participant), and their downlink and uplink delays
        (a loss is reported when the packet would have arrived, plus the uplink delay)."""
        self.watched, self.down_delay, self.up_delay = watched, down_delay, up_delay

    def reserve(self, more: int) -> None:
        """Room for `more` records."""
        need = self.n + more
        if need > len(self.sub):
            self._alloc(max(need, 2 * len(self.sub)))

    def pending(self) -> tuple[npt.NDArray[np.generic], ...]:
        """The buffer's columns (sub, send, arrive, size, probe, report) and fill level are
        consumed in place by the estimators (`DownlinkEstimators.update`)."""
        return self.sub, self.send, self.arrive, self.size, self.probe, self.report
