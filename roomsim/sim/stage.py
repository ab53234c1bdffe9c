"""A stage: the packets on their way to one set of resources.

The engine advances in ticks. A queue must see its arrivals in time order. Where a stage's
queues are each fed by a single upstream FIFO that emits in order (a downlink fed by its
server's NIC, a decoder fed by its downlink), the stage passes its packets straight on,
even those that arrive after the tick. Where queues merge several sources, or a feeder
can emit out of order (a server NIC fed by many uplinks, a mesh downlink fed by many
peers, an uplink fed by parallel encoders), the stage is a `merging` one: in the tick
for [t0, t1) it releases exactly the packets that arrive before t1, each resource's in
time order, and holds the rest. Stages run in pipeline order, so
results do not depend on the tick length, except where packets loop back to an earlier stage
(an SFU cascade's backbone) or a voice switches between ticks (see `scenario.EngineOptions`).
"""

from __future__ import annotations

from roomsim.sim.packets import Packets, QueueOrder, concat, empty_packets, rows


class Stage:
    """Pending packets of one pipeline stage."""

    def __init__(self, name: str, merging: bool = False) -> None:
        self.name = name
        self.merging = merging
        self._parts: list[Packets] = []
        self._held = 0
        self._order = QueueOrder()
        #: the only pending part came with its producer's word that it is in order
        self._vouched = False

    def push(self, batch: Packets, in_order: bool = False) -> None:
        """Queue packets that will reach this stage (at their `t`). `in_order`: the caller
        knows each resource's packets are in time order (so the check can be skipped)."""
        if len(batch):
            self._vouched = in_order and not self._parts
            self._parts.append(batch)
            self._held += len(batch)

    def take(self, t_end: int) -> Packets:
        """Release what this tick must process: everything for a pass-through stage; for
        a merging stage, the packets arriving before t_end, each resource's in time order
        (a vouched batch, and so any subsequence of it, is not checked again)."""
        if not self._parts:
            return empty_packets()
        batch = self._parts[0] if len(self._parts) == 1 else concat(self._parts)
        vouched, self._vouched = self._vouched, False
        if self.merging:
            due = batch["t"] < t_end
            if not due.all():
                later = rows(batch, ~due)
                self._parts, self._held = [later], len(later)
                batch = rows(batch, due)
                return batch if vouched else self._order(batch)
        self._parts, self._held = [], 0
        return batch if vouched else self._order(batch)  # a cheap check; sorts only if a feeder misbehaved

    def __len__(self) -> int:
        return self._held
