"""What a chart needs besides results: prices (for cost) and a quality gate (for the knee).

Both can be given on the command line (`roomsim plot --egress-price ...`) or in a sweep file
(`prices:` and `gate:` blocks), and are validated once here. This module stays light (no
matplotlib) because the sweep file's model imports it.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveFloat

from roomsim.frozen import Frozen


class Prices(Frozen):
    """Cloud prices that turn measured egress and busy cores into money.

    Defaults are AWS on-demand list prices in us-east-1 as published in 2024
    (https://aws.amazon.com/ec2/pricing/on-demand/): data transfer out to the internet,
    first 10 TB a month, $0.09 per GB; a c7i.large (2 vCPUs) at $0.08925 an hour, i.e.
    $0.0446 per vCPU-hour. Prices change and differ by provider: pass your own.
    """

    egress_usd_per_gb: NonNegativeFloat = 0.09
    core_hour_usd: NonNegativeFloat = 0.0446


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
