"""What a run is judged by: the quality gate, and the capacity search that looks for the
largest room passing it."""

from __future__ import annotations

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from roomsim.scenario.frozen import Frozen
from roomsim.scenario.names import TopologyName


class QualityGate(Frozen):
    """Limits a room must stay within; the capacity knee is the first room size breaking one.

    - loss_pct: packets lost end to end, room-wide. 2 % is a modelling choice: about what
      Opus in-band FEC and video NACK/retransmission still hide in practice.
    - latency_p95_ms: 95th percentile capture-to-decode latency. 150 ms is the one-way
      delay up to which ITU-T G.114 (05/2003) finds most applications' quality unaffected.
    - cpu_pct: the busiest CPU in the room (a server's cores or a client's budget). 80 % is
      a modelling choice: the headroom operators keep before a node counts as full.
    """

    loss_pct: PositiveFloat = 2.0
    latency_p95_ms: PositiveFloat = 150.0
    cpu_pct: float = Field(default=80.0, gt=0, le=100)

    def limits(self) -> dict[str, float]:
        """Run-summary figure -> its limit."""
        return {"loss_pct": self.loss_pct, "latency_p95_ms": self.latency_p95_ms,
                "busiest_cpu_pct": self.cpu_pct}

    def overridden(self, loss_pct: float | None = None, latency_p95_ms: float | None = None,
                   cpu_pct: float | None = None) -> QualityGate:
        """This gate with the limits given (e.g. on the command line) replaced."""
        given = {"loss_pct": loss_pct, "latency_p95_ms": latency_p95_ms, "cpu_pct": cpu_pct}
        return QualityGate(**{**self.model_dump(), **{k: v for k, v in given.items() if v is not None}})

    def describe(self) -> str:
        """The limits in words, for headers and logs."""
        return (f"loss <= {self.loss_pct:g} %, p95 <= {self.latency_p95_ms:g} ms, "
                f"CPU <= {self.cpu_pct:g} %")


class CapacitySpec(Frozen):
    """`roomsim capacity`: the largest value of the integer at dotted path `vary` (e.g.
    rooms.0.participants.1.count, room_sets.0.count) in [low, high] whose run passes `gate`."""

    vary: str = Field(min_length=1)
    low: PositiveInt = 1
    high: PositiveInt = 10_000
    gate: QualityGate | None = None  # default: the scenario's `gate:`, else roomsim.results.gate's
    duration_s: PositiveFloat = 10.0
    topology: TopologyName | None = None

    @model_validator(mode="after")
    def _range(self) -> CapacitySpec:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        return self
