"""What a chart needs besides results: prices (for cost) and a quality gate (for the knee).

Both can be given on the command line (`roomsim plot --egress-price ...`) or in a sweep file
(`prices:` and `gate:` blocks), and are validated once here. This module stays light (no
matplotlib) because the sweep file's model imports it.
"""

from __future__ import annotations

from pydantic import NonNegativeFloat

from roomsim.results.gate import QualityGate  # the one gate every command shares
from roomsim.scenario.frozen import Frozen


class Prices(Frozen):
    """Cloud prices that turn measured egress and busy cores into money.

    Defaults are AWS on-demand list prices in us-east-1 as published in 2024
    (https://aws.amazon.com/ec2/pricing/on-demand/): data transfer out to the internet,
    first 10 TB a month, $0.09 per GB; a c7i.large (2 vCPUs) at $0.08925 an hour, i.e.
    $0.0446 per vCPU-hour. Prices change and differ by provider: pass your own.
    """

    egress_usd_per_gb: NonNegativeFloat = 0.09
    core_hour_usd: NonNegativeFloat = 0.0446


__all__ = ["Prices", "QualityGate"]
