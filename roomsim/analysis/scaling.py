"""Charts over room size (from a sweep): scaling curves, the capacity knee, cost.

Simulated points are the mean over replicate seeds with a 95 % confidence band; the closed
form of the same workload is drawn under them as a wide pale line, so agreement shows as a
halo and disagreement as a gap. Every line carries a gid
(`sim:<series>`, `expected:<series>`, `knee:<series>`, ...) so tests and tools can find it.
"""

from __future__ import annotations

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from roomsim.analysis.aggregate import (
    GATE_LABELS,
    GATE_UNITS,
    Knee,
    Series,
    cost_per_participant_hour,
    knees,
    series,
    series_label,
)
from roomsim.analysis.experiment import Experiment
from roomsim.analysis.settings import Prices, QualityGate
from roomsim.analysis.style import BLACK, new_figure, series_style, styled

#: (figure, closed form, panel title, unit) of the four scaling panels.
SCALING_PANELS = (
    ("mean_uplink_kbps", "expected_mean_uplink_kbps", "Upload per participant", "kbps"),
    ("mean_downlink_kbps", "expected_mean_downlink_kbps", "Download per participant", "kbps"),
    ("server_egress_mbps", "expected_server_egress_mbps", "Media server egress", "Mbps"),
    ("server_cpu_cores", "expected_server_cpu_cores", "Media server CPU", "busy cores"),
)


def _labels(experiment: Experiment) -> list[str]:
    """Series labels in a stable order: topologies first-seen, then the rest."""
    everything = series(experiment, "room_size")
    return list(everything)


def _draw_series(ax: Axes, data: Series, labels: list[str], *, closed_form: bool) -> None:
    for index, label in enumerate(labels):
        points = data.get(label)
        if not points:
            continue
        style = series_style(label, index)
        x = [p.size for p in points]
        if any(p.half_width > 0 for p in points):
            ax.fill_between(x, [p.low for p in points], [p.high for p in points],
                            color=style.color, alpha=0.18, linewidth=0, gid=f"band:{label}")
        ax.plot(x, [p.mean for p in points], color=style.color, marker=style.marker,
                linestyle="-", linewidth=1.8, label=label, gid=f"sim:{label}")
        expected = [(p.size, p.expected) for p in points if p.expected is not None]
        if closed_form and expected:
            # a wide pale line under the points: visible as a halo where they agree
            ax.plot([e[0] for e in expected], [e[1] for e in expected], color=style.color,
                    linewidth=9, alpha=0.28, solid_capstyle="round", zorder=1,
                    gid=f"expected:{label}")


def thousands(ax: Axes) -> None:
    """Y tick labels with thousands separators (60,000 not 60000)."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))


def spaced_ticks(sizes: list[int], slots: int = 14) -> list[int]:
    """Room sizes to label on the x axis: the largest always, others only when at least
    1/slots of the axis away from the previous label (2, 4, 6 ... 64 would collide)."""
    if len(sizes) < 3:
        return sizes
    gap = (sizes[-1] - sizes[0]) / slots
    kept = [sizes[0]]
    for size in sizes[1:-1]:
        if size - kept[-1] >= gap and sizes[-1] - size >= gap:
            kept.append(size)
    return [*kept, sizes[-1]]


def _size_axis(ax: Axes, experiment: Experiment) -> None:
    thousands(ax)
    sizes = experiment.room_sizes
    ax.set_xlabel("participants in the room")
    ax.set_xticks(spaced_ticks(sizes))
    ax.set_ylim(bottom=0)


def _legend(fig: Figure, experiment: Experiment, *, closed_form: bool,
            names: dict[str, str] | None = None) -> None:
    names = names or {}
    handles: list[Artist] = [Line2D([], [], color=series_style(label, i).color,
                                    marker=series_style(label, i).marker, linewidth=1.8,
                                    label=names.get(label, label))
                             for i, label in enumerate(_labels(experiment))]
    if closed_form:
        handles.append(Line2D([], [], color=BLACK, linewidth=9, alpha=0.28,
                              label="closed form (wide pale line)"))
    seeds = max(len({r.seed for r in experiment.records if r.topology == t})
                for t in experiment.topologies)
    if seeds > 1:
        handles.append(Patch(color=BLACK, alpha=0.18, label=f"95 % CI over {seeds} seeds"))
    columns = min(len(handles), 5 if not names else 2)
    fig.legend(handles=handles, loc="outside lower center", ncol=columns, frameon=False)


@styled
def scaling_figure(experiment: Experiment) -> Figure:
    """Per-participant upload/download, server egress and CPU against room size."""
    fig = new_figure(13, 9.5)
    axes = fig.subplots(2, 2)
    labels = _labels(experiment)
    for ax, (metric, expected, title, unit) in zip(axes.flat, SCALING_PANELS, strict=True):
        data = series(experiment, metric, expected)
        _draw_series(ax, data, labels, closed_form=True)
        ax.set_title(title)
        ax.set_ylabel(unit)
        _size_axis(ax, experiment)
        serverless = [t for t in experiment.topologies
                      if not any(label.split(",")[0] == t for label in data)]
        if metric.startswith("server") and serverless:
            ax.text(0.02, 0.97, f"{', '.join(serverless)}: no media server", va="top",
                    transform=ax.transAxes, fontsize=13, color="#444444")
    fig.suptitle(f"{experiment.name}: what each topology costs as the room grows")
    _legend(fig, experiment, closed_form=True)
    return fig


PANEL_TITLES = {"loss_pct": "Packet loss", "latency_p95_ms": "Latency, 95th percentile",
                "busiest_cpu_pct": "Busiest CPU (server or client)"}


def _knee_text(label: str, knee: Knee | None) -> str:
    if knee is None:
        return f"{label}: within every limit at all sizes"
    what = GATE_LABELS[knee.metric]
    return (f"{label}: breaks at {knee.size} ({what} {knee.value:.3g} {GATE_UNITS[knee.metric]} "
            f"> {knee.limit:g})")


@styled
def capacity_figure(experiment: Experiment, gate: QualityGate) -> Figure:
    """Loss, latency p95 and the busiest CPU against room size, with the gate and each
    series' knee: the first room size where any limit breaks."""
    fig = new_figure(15, 7.5)
    axes = fig.subplots(1, 3)
    labels = _labels(experiment)
    found = knees(experiment, gate)
    for ax, (metric, limit) in zip(axes, gate.limits().items(), strict=True):
        _draw_series(ax, series(experiment, metric), labels, closed_form=False)
        ax.axhline(limit, color=BLACK, linestyle=":", linewidth=2, gid=f"gate:{metric}")
        ax.text(0.02, limit, f" limit {limit:g} {GATE_UNITS[metric]}", va="bottom",
                transform=ax.get_yaxis_transform(), fontsize=13)
        for index, label in enumerate(labels):
            knee = found.get(label)
            if knee is None:
                continue
            style = series_style(label, index)
            ax.axvline(knee.size, color=style.color, linestyle=style.linestyle, linewidth=1.6,
                       alpha=0.8, gid=f"knee:{label}")
            if knee.metric == metric:
                ax.plot([knee.size], [knee.value], marker="X", markersize=16, color=style.color,
                        markeredgecolor=BLACK, linestyle="none", gid=f"knee-point:{label}")
        ax.set_title(PANEL_TITLES[metric])
        ax.set_ylabel(GATE_UNITS[metric] if metric != "latency_p95_ms" else "ms (p95)")
        _size_axis(ax, experiment)
        data_max = max((p.high for s in series(experiment, metric).values() for p in s),
                       default=limit)
        ax.set_ylim(0, max(limit, data_max) * 1.15)
    fig.suptitle("Where each topology breaks: the first room size over a limit (X)")
    _legend(fig, experiment, closed_form=False,
            names={label: _knee_text(label, found.get(label)) for label in labels})
    return fig


@styled
def cost_scaling_figure(experiment: Experiment, prices: Prices, gate: QualityGate) -> Figure:
    """Media-server cost per participant-hour against room size; sizes at or past a
    series' knee are drawn hollow (the server was overloaded, so its bill is no guide)."""
    fig = new_figure(11, 7)
    ax = fig.subplots()
    labels = _labels(experiment)
    found = knees(experiment, gate)
    serverless = []
    broken_any = False
    for index, label in enumerate(labels):
        records: dict[int, list[float]] = {}
        has_server = True
        for record in experiment.records:
            if series_label(record, experiment) != label:
                continue
            cost = cost_per_participant_hour(record.figures, prices)
            has_server = has_server and cost.has_server
            records.setdefault(int(record.figures["room_size"]), []).append(cost.total_usd)
        if not has_server:
            serverless.append(label)
            continue
        style = series_style(label, index)
        x = sorted(records)
        y = [sum(records[s]) / len(records[s]) for s in x]
        ax.plot(x, y, color=style.color, marker=style.marker, linestyle=style.linestyle,
                label=label, gid=f"cost:{label}")
        knee = found.get(label)
        if knee is not None:
            past = [(size, value) for size, value in zip(x, y, strict=True) if size >= knee.size]
            broken_any = broken_any or bool(past)
            ax.plot([p[0] for p in past], [p[1] for p in past], marker=style.marker,
                    markersize=11, markerfacecolor="white", markeredgecolor=style.color,
                    markeredgewidth=2, linestyle="none", gid=f"cost-broken:{label}")
    if broken_any:
        ax.plot([], [], marker="o", markerfacecolor="white", markeredgecolor=BLACK,
                linestyle="none", label="hollow: past the quality gate")
    ax.set_title(f"Server cost per participant-hour (egress \\${prices.egress_usd_per_gb:g}/GB, "
                 f"\\${prices.core_hour_usd:g}/core-hour)", fontsize=15)
    ax.set_ylabel("US\\$ per participant-hour")
    _size_axis(ax, experiment)
    if serverless:
        ax.text(0.02, 0.97, f"{', '.join(serverless)}: no media server, \\$0 "
                "(each participant's own uplink carries the copies)", va="top",
                transform=ax.transAxes, fontsize=13, color="#444444")
    fig.legend(loc="outside lower center", ncol=3, frameon=False)
    return fig

