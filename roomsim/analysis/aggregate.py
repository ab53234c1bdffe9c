"""From runs to curves: replicate seeds pooled per room size, the capacity knee, and cost.

Everything here is plain arithmetic on `Experiment` records, kept apart from drawing so
the tests can check a chart's numbers against the same functions a report quotes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean, stdev

from roomsim.analysis.experiment import Experiment, RunRecord
from roomsim.analysis.settings import Prices, QualityGate

#: Two-sided 95 % Student t quantiles t(0.975, df) for df = 1..30 (NIST/SEMATECH
#: e-Handbook of Statistical Methods, sec. 1.3.6.7.2, "Critical values of the Student's t
#: distribution"); beyond 30 degrees of freedom the normal 1.96 is within 2 %.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    """t(0.975, df): the half-width multiplier of a 95 % confidence interval."""
    return T_975[df - 1] if df <= len(T_975) else 1.96


def ci_half_width(values: Sequence[float]) -> float:
    """Half-width of the 95 % confidence interval of the mean of `values` (0 with fewer
    than two)."""
    if len(values) < 2:
        return 0.0
    return t_quantile(len(values) - 1) * stdev(values) / math.sqrt(len(values))


class Replicated:
    """A chart point measured once per replicate seed (`values`): the mean the line passes
    through and its confidence band."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean over seeds (what the line passes through)."""
        return mean(self.values)

    @property
    def half_width(self) -> float:
        """Half-width of the 95 % confidence interval of the mean (0 with one seed)."""
        return ci_half_width(self.values)

    @property
    def low(self) -> float:
        """Lower edge of the confidence band; cut at zero when no replicate is negative
        (loss, latency, bitrate, CPU cannot be below zero, though mean - t*s/sqrt(n) can)."""
        edge = self.mean - self.half_width
        return max(0.0, edge) if min(self.values) >= 0 else edge

    @property
    def high(self) -> float:
        """Upper edge of the confidence band."""
        return self.mean + self.half_width


@dataclass(frozen=True)
class SeriesPoint(Replicated):
    """One room size of one series: the value of each replicate seed and the closed form."""

    size: int
    values: tuple[float, ...]
    expected: float | None


Series = dict[str, list[SeriesPoint]]


def series_label(record: RunRecord, experiment: Experiment) -> str:
    """The topology, plus each swept value that is not tied to the room size."""
    extra = [f"{name.split('.')[-1]}={json.dumps(record.params[name], default=str)}"
             for name in sorted(record.params) if name not in experiment.size_params]
    return ", ".join([record.topology, *extra])


def series(experiment: Experiment, metric: str, expected: str | None = None) -> Series:
    """Per series label, the points of `metric` by ascending room size (None values skipped)."""
    grouped: dict[str, dict[int, list[RunRecord]]] = {}
    for record in experiment.records:
        if record.figures.get(metric) is None:
            continue
        label = series_label(record, experiment)
        size = int(record.figures["room_size"])
        grouped.setdefault(label, {}).setdefault(size, []).append(record)
    out: Series = {}
    for label, by_size in grouped.items():
        points = []
        for size in sorted(by_size):
            records = by_size[size]
            closed = [r.figures.get(expected) for r in records] if expected else []
            closed_values = [float(x) for x in closed if x is not None]
            points.append(SeriesPoint(size, tuple(float(r.figures[metric]) for r in records),
                                      mean(closed_values) if closed_values else None))
        out[label] = points
    return out


@dataclass(frozen=True)
class Knee:
    """Where a series first breaks the quality gate."""

    size: int  # first room size whose mean breaks a limit
    metric: str  # which run figure broke it
    value: float  # its mean there
    limit: float
    last_ok: int | None  # the largest room size before it that kept every limit


GATE_LABELS = {"loss_pct": "loss", "latency_p95_ms": "latency p95", "busiest_cpu_pct": "CPU"}
GATE_UNITS = {"loss_pct": "%", "latency_p95_ms": "ms", "busiest_cpu_pct": "%"}


def knees(experiment: Experiment, gate: QualityGate) -> dict[str, Knee | None]:
    """For each series, the first room size (ascending) where a gate limit is broken."""
    limits = gate.limits()
    by_metric = {metric: series(experiment, metric) for metric in limits}
    labels = list(dict.fromkeys(label for s in by_metric.values() for label in s))
    found: dict[str, Knee | None] = {}
    for label in labels:
        sizes = sorted({p.size for s in by_metric.values() for p in s.get(label, [])})
        found[label] = None
        last_ok = None
        for size in sizes:
            broken = None
            for metric, limit in limits.items():
                point = next((p for p in by_metric[metric].get(label, []) if p.size == size), None)
                if point is not None and point.mean > limit:
                    broken = Knee(size, metric, point.mean, limit, last_ok)
                    break
            if broken is not None:
                found[label] = broken
                break
            last_ok = size
    return found


@dataclass(frozen=True)
class Cost:
    """Media-server cost of one run per participant-hour, in US dollars."""

    egress_usd: float
    cpu_usd: float
    has_server: bool

    @property
    def total_usd(self) -> float:
        """Egress plus CPU."""
        return self.egress_usd + self.cpu_usd


def cost_per_participant_hour(figures: dict[str, object], prices: Prices) -> Cost:
    """Server egress (GB an hour x price) plus busy cores (x price per core-hour), shared by
    the run's participants. A mesh has no media server, so its server cost is zero: the
    bandwidth is paid for in each participant's own uplink instead."""
    people = max(1, int(figures["participants"]))  # type: ignore[call-overload]
    egress = figures.get("server_egress_mbps")
    cores = figures.get("server_cpu_cores")
    if egress is None or cores is None:
        return Cost(0.0, 0.0, has_server=False)
    gb_per_hour = float(egress) * 1e6 / 8 * 3600 / 1e9  # type: ignore[arg-type]
    return Cost(gb_per_hour * prices.egress_usd_per_gb / people,
                float(cores) * prices.core_hour_usd / people, has_server=True)  # type: ignore[arg-type]
