"""A stage: the packets waiting to reach one set of resources, released in time order.

The engine advances in ticks. In the tick for window [t0, t1) every stage releases exactly
the packets that reach it before t1, in pipeline order, so each queue sees its arrivals in
time order and results do not depend on the tick length. Packets that reach a stage later
wait here for a later tick.
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.packets import Packets, empty_packets, sort_by_resource


class Stage:
    """Pending packets of one pipeline stage."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._parts: list[Packets] = []
        self._held = 0

    def push(self, batch: Packets) -> None:
        """Queue packets that will reach this stage (at their `t`)."""
        if len(batch):
            self._parts.append(batch)
            self._held += len(batch)

    def take(self, t_end: int) -> Packets:
        """Release the packets that arrive before t_end, sorted by (resource, time)."""
        if not self._parts:
            return empty_packets()
        batch = self._parts[0] if len(self._parts) == 1 else np.concatenate(self._parts)
        due = batch["t"] < t_end
        if due.all():
            self._parts, self._held = [], 0
            return sort_by_resource(batch)
        later = batch[~due]
        self._parts, self._held = [later], len(later)
        return sort_by_resource(batch[due])

    def __len__(self) -> int:
        return self._held
