"""Charts of one scenario run through several topologies (a `roomsim compare -o DIR`).

Bars compare the topologies on the same room (closed forms as black bars across the
simulated bars); latency CDFs come from the run's log-binned histograms; time series from
its per-window counters; cost from measured egress and busy cores. Artists carry gids
(`sim:<topology>`, `expected:<topology>`, `cdf:<topology>:<kind>`, ...) for tests and tools.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from roomsim.analysis.aggregate import cost_per_participant_hour
from roomsim.analysis.experiment import Experiment, RunRecord
from roomsim.analysis.scaling import SCALING_PANELS, thousands
from roomsim.analysis.settings import Prices, QualityGate
from roomsim.analysis.style import (
    BLACK,
    ORANGE,
    SKY,
    SeriesStyle,
    log_axis_labels,
    new_figure,
    series_style,
    styled,
)
from roomsim.errors import ScenarioError
from roomsim.results.models import LatencyHistogram
from roomsim.scenario.load import scenario_from_dict


def usd(value: float) -> str:
    """Dollars to three significant figures, escaped for matplotlib text."""
    return f"\\${value:.3g}" if value < 1 else f"\\${value:,.2f}"


def _value_label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


@styled
def bars_figure(experiment: Experiment) -> Figure:
    """Upload/download per participant, server egress and CPU: one bar per topology."""
    fig = new_figure(13, 9.5)
    axes = fig.subplots(2, 2)
    records = experiment.records
    names = [r.topology for r in records]
    for ax, (metric, expected, title, unit) in zip(axes.flat, SCALING_PANELS, strict=True):
        for index, record in enumerate(records):
            value = record.figures.get(metric)
            style = series_style(record.topology, index)
            if value is None:
                ax.text(index, 0.04, "no media\nserver", ha="center", va="bottom", fontsize=13,
                        color="#444444", transform=ax.get_xaxis_transform())
                continue
            bar = ax.bar(index, value, color=style.color, width=0.6, gid=f"sim:{record.topology}")
            ax.bar_label(bar, labels=[_value_label(float(value))], padding=8, fontsize=13)
            closed = record.figures.get(expected)
            if closed is not None:
                ax.plot([index - 0.36, index + 0.36], [closed, closed], color=BLACK,
                        linewidth=3.5, solid_capstyle="butt", gid=f"expected:{record.topology}")
        ax.set_xticks(range(len(records)), names)
        ax.set_xlim(-0.6, len(records) - 0.4)
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_ylim(0, _top(records, metric, expected) * 1.22 or 1)
        thousands(ax)
        ax.grid(axis="x", visible=False)
    fig.suptitle(f"{experiment.name}: the same room, three ways")
    fig.legend(handles=[Line2D([], [], color=BLACK, linewidth=3.5,
                               label="closed form for the same workload")],
               loc="outside lower center", frameon=False)
    return fig


def _top(records: list[RunRecord], metric: str, expected: str) -> float:
    values = [float(r.figures[k]) for r in records for k in (metric, expected)
              if r.figures.get(k) is not None]
    return max(values, default=0.0)


def cdf_points(histogram: list[int], bins_per_decade: int, min_ms: float
               ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(latency ms, share of samples at or below it) at the histogram's bin edges, from
    the lower edge of the first used bin (share 0) to the upper edge of the last."""
    counts = np.asarray(histogram, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return np.empty(0), np.empty(0)
    regular = len(counts) - 2
    # upper edge of bin i: bin 0 is underflow (< min_ms), the last bin is overflow
    upper = min_ms * 10.0 ** (np.arange(len(counts)) / bins_per_decade)
    upper[-1] = min_ms * 10.0 ** (regular / bins_per_decade)
    used = np.flatnonzero(counts)
    first, last = int(used[0]), int(used[-1])
    lower_edge = min_ms * 10.0 ** ((first - 1) / bins_per_decade) if first > 0 else min_ms / 10
    x = np.concatenate([[lower_edge], upper[first:last + 1]])
    y = np.concatenate([[0.0], np.cumsum(counts)[first:last + 1] / total])
    return x, y


@styled
def latency_cdf_figure(experiment: Experiment, gate: QualityGate) -> Figure:
    """Capture-to-decode latency CDF per topology, audio and video side by side."""
    fig = new_figure(14, 6.5)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, ("audio", "video"), strict=True):
        for index, record in enumerate(experiment.records):
            histogram = _histogram(record)
            if histogram is None:
                continue
            x, y = cdf_points(getattr(histogram, kind), histogram.bins_per_decade,
                              histogram.min_ms)
            if len(x) == 0:
                continue
            style = series_style(record.topology, index)
            ax.plot(x, y * 100, color=style.color, linestyle=style.linestyle,
                    label=record.topology, gid=f"cdf:{record.topology}:{kind}")
        ax.axvline(gate.latency_p95_ms, color=BLACK, linestyle=":", linewidth=2)
        ax.axhline(95, color="#777777", linestyle=":", linewidth=1.5)
        ax.text(gate.latency_p95_ms, 3, f" {gate.latency_p95_ms:g} ms", fontsize=13)
        ax.set_xscale("log")
        ax.set_xlabel("latency, capture to decoded (ms, log scale)")
        ax.set_title(f"{kind.capitalize()} frames")
        ax.set_ylim(0, 101)
    for ax in axes:
        log_axis_labels(ax.xaxis)  # after plotting: the labels depend on the range drawn
    axes[0].set_ylabel("% of frames at or below")
    axes[0].legend(loc="upper left", frameon=False)
    fig.suptitle(f"{experiment.name}: latency distribution (dotted: 95th percentile and "
                 f"{gate.latency_p95_ms:g} ms)", fontsize=17)
    return fig


def _histogram(record: RunRecord) -> LatencyHistogram | None:
    return record.run.latency_histogram if record.run is not None else None


def _duration(experiment: Experiment) -> float:
    return experiment.report.duration_s if experiment.report is not None else 0.0


@styled
def timeseries_figure(experiment: Experiment) -> Figure:
    """Server egress, server CPU and mean client bandwidth per window, over the run."""
    fig = new_figure(13, 10)
    axes = fig.subplots(3, 1, sharex=True)
    duration = _duration(experiment)
    for index, record in enumerate(experiment.records):
        if record.run is None:
            continue
        series = record.run.series
        width = float(series.get("window_s", 1.0))
        style = series_style(record.topology, index)
        shown = max(1, int(np.ceil(duration / width)))

        def draw(ax: Axes, values: Any, gid: str, linestyle: str = style.linestyle,
                 label: str = record.topology, style: SeriesStyle = style,
                 width: float = width, shown: int = shown) -> None:
            t = (np.arange(min(shown, len(values))) + 0.5) * width
            ax.plot(t, values[:shown], color=style.color, linestyle=linestyle,
                    marker=style.marker, markersize=5, label=label, gid=gid)

        egress = series.get("server_egress_mbps") or {}
        cpu = series.get("server_cpu_cores") or {}
        if egress:
            draw(axes[0], np.sum([egress[k] for k in egress], axis=0), f"egress:{record.topology}")
        if cpu:
            draw(axes[1], np.sum([cpu[k] for k in cpu], axis=0), f"cpu:{record.topology}")
        if series.get("mean_downlink_kbps"):
            draw(axes[2], np.asarray(series["mean_downlink_kbps"]), f"down:{record.topology}",
                 linestyle="-", label=f"{record.topology} download")
            draw(axes[2], np.asarray(series["mean_uplink_kbps"]), f"up:{record.topology}",
                 linestyle=":", label=f"{record.topology} upload")
    titles = ("Media server egress", "Media server CPU", "Per participant (mean)")
    units = ("Mbps", "busy cores", "kbps")
    warmup = _warmup(experiment)
    for ax, title, unit in zip(axes, titles, units, strict=True):
        ax.set_title(title, loc="left")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        thousands(ax)
        if warmup > 0:
            ax.axvspan(0, warmup, color="#999999", alpha=0.2, linewidth=0)
    axes[0].text(warmup / 2, 0.5, "warm-up", transform=axes[0].get_xaxis_transform(),
                 ha="center", fontsize=12, rotation=90, color="#444444")
    for t, what in presence_events(experiment):
        for ax in axes:
            ax.axvline(t, color="#555555", linestyle=":", linewidth=1.5, gid=f"event:{what}")
        axes[0].text(t, 1.01, what, transform=axes[0].get_xaxis_transform(), va="bottom",
                     ha="center", fontsize=12, color="#333333")
    for ax in axes:
        if ax.lines:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=12)
    axes[2].set_xlabel("simulated time (s)")
    axes[2].set_xlim(0, duration or None)
    fig.suptitle(f"{experiment.name}: bandwidth and CPU over time")
    return fig


def presence_events(experiment: Experiment) -> list[tuple[float, str]]:
    """(time, "<group> joins"/"<group> leaves") from the stored scenario, for time charts."""
    try:
        raw = yaml.safe_load(experiment.scenario_text) if experiment.scenario_text else None
        scenario = scenario_from_dict(raw) if isinstance(raw, dict) else None
    except (yaml.YAMLError, ScenarioError):
        return []
    if scenario is None:
        return []
    events = []
    for room in scenario.rooms:
        for group in room.participants:
            if group.join_s > 0:
                events.append((group.join_s, f"{group.id} joins"))
            if group.leave_s is not None:
                events.append((group.leave_s, f"{group.id} leaves"))
    return sorted(events)


def _warmup(experiment: Experiment) -> float:
    if experiment.report is None or not experiment.records:
        return 0.0
    run = experiment.records[0].run
    return max(0.0, experiment.report.duration_s - run.measured_s) if run is not None else 0.0


@styled
def cost_bars_figure(experiment: Experiment, prices: Prices) -> Figure:
    """Server cost per participant-hour per topology, split into egress and CPU."""
    fig = new_figure(11, 5.5)
    ax = fig.subplots()
    names = [r.topology for r in experiment.records]
    costs = [cost_per_participant_hour(r.figures, prices) for r in experiment.records]
    y = np.arange(len(names))
    ax.barh(y, [c.egress_usd for c in costs], color=SKY, hatch="//", edgecolor=BLACK,
            label=f"egress (\\${prices.egress_usd_per_gb:g}/GB)", gid="cost-egress")
    ax.barh(y, [c.cpu_usd for c in costs], left=[c.egress_usd for c in costs], color=ORANGE,
            edgecolor=BLACK, label=f"CPU (\\${prices.core_hour_usd:g}/core-hour)", gid="cost-cpu")
    top = max((c.total_usd for c in costs), default=0.0) or 1.0
    for i, cost in enumerate(costs):
        text = (f"  {usd(cost.total_usd)}  (egress {usd(cost.egress_usd)} + CPU "
                f"{usd(cost.cpu_usd)})" if cost.has_server else "  no media server: \\$0")
        ax.text(cost.total_usd, i, text, va="center", fontsize=14)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.9)
    ax.set_xlabel("US\\$ per participant-hour (media server only)")
    ax.grid(axis="y", visible=False)
    fig.legend(loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(f"{experiment.name}: what the server side costs")
    return fig
