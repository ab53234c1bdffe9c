"""Charts of a sweep that keeps the room size and varies a setting: loss, transport, round
trip, reliable or lossy data, rooms per node, cascading on or off.

The x axis is the first swept setting whose values are numbers (drawn to scale), else the
first swept setting (drawn as categories in file order); every other swept setting (and
the topology, when more than one ran) splits the points into series. Points are the mean
over replicate seeds with a 95 % confidence band, as in the scaling curves. Panels come in
sets: how a call sounds (`VOICE_PANELS`), the data plane (`DATA_PANELS`) and the load
against the quality gate (`LOAD_PANELS`); a set is drawn only when the runs carry its
figures. Lines carry gids (`setting:<metric>:<series>`) so tests can read them back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from roomsim.analysis.aggregate import GATE_LABELS, GATE_UNITS, Replicated
from roomsim.analysis.experiment import Experiment, RunRecord
from roomsim.analysis.scaling import thousands
from roomsim.analysis.settings import QualityGate
from roomsim.analysis.style import (
    BLACK,
    CYCLE,
    TOPOLOGY_STYLES,
    SeriesStyle,
    new_figure,
    styled,
)

#: (run figure, panel title, y-axis unit) per panel.
Panel = tuple[str, str, str]

VOICE_PANELS: tuple[Panel, ...] = (
    ("audio_latency_p50_ms", "Mouth to ear, median", "ms"),
    ("audio_latency_p99_ms", "Mouth to ear, 99th percentile", "ms"),
    ("audio_loss_pct", "Audio never played (lost or late)", "% of frames"),
    ("audio_mos", "Call quality (E-model)", "MOS (1-5)"),
)
DATA_PANELS: tuple[Panel, ...] = (
    ("data_message_p50_ms", "Data message, median", "ms, sent to received"),
    ("data_message_p99_ms", "Data message, 99th percentile", "ms"),
    ("data_lost_pct", "Data messages never delivered (mesh)", "% of deliveries"),
    ("data_wire_kbps", "Data sent by participants", "kbps on the wire, all uplinks"),
    ("rpc_rtt_p50_ms", "RPC round trip, median", "ms"),
    ("rpc_rtt_p99_ms", "RPC round trip, 99th percentile", "ms"),
    ("attribute_p99_ms", "Attribute update, 99th percentile", "ms"),
    ("metadata_p99_ms", "Room metadata, 99th percentile", "ms"),
)
LOAD_PANELS: tuple[Panel, ...] = (
    ("server_egress_mbps", "Media server egress", "Mbps"),
    ("busiest_cpu_pct", "Busiest CPU (server or client)", "%"),
    ("loss_pct", "Packet loss", "%"),
    ("latency_p95_ms", "Latency, 95th percentile", "ms (p95)"),
)


def is_setting_sweep(experiment: Experiment) -> bool:
    """A sweep at one room size that varies something else."""
    return (experiment.kind == "sweep" and len(experiment.room_sizes) < 2
            and setting_axis(experiment) is not None)


def _varying(experiment: Experiment) -> list[str]:
    """Swept paths that take more than one value, in the order the sweep lists them."""
    names = list(dict.fromkeys(name for r in experiment.records for name in r.params))
    return [name for name in names
            if len({_key(r.params.get(name)) for r in experiment.records}) > 1]


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def setting_axis(experiment: Experiment) -> str | None:
    """The swept path drawn on the x axis: the first numeric one, else the first one."""
    varying = _varying(experiment)
    for name in varying:
        if all(_numeric(r.params.get(name)) for r in experiment.records):
            return name
    return varying[0] if varying else None


def short_name(path: str) -> str:
    """`rooms.0.participants.0.network.loss_pct` -> `loss_pct`."""
    return path.split(".")[-1]


#: Axis titles for scenario fields a sweep commonly varies (units as in the YAML).
AXIS_TITLES = {
    "loss_pct": "random loss on each access link (%)",
    "rtt_ms": "round trip to the server (ms)",
    "jitter_ms": "jitter (ms)",
    "count": "count",
    "cascade": "cascade (one node per region)",
    "reliable": "reliable data channel",
    "transport": "transport",
    "bitrate_kbps": "bitrate (kbps)",
    "cores": "cores per node",
}


def axis_title(path: str) -> str:
    """What the x axis shows, in words when the field is a common one."""
    name = short_name(path)
    return AXIS_TITLES.get(name, name)


def shown_value(value: Any) -> str:
    """A swept value as the YAML would write it (`true`, `0.5`, `websocket`)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _series_values(record: RunRecord, experiment: Experiment) -> list[tuple[str, str]]:
    """(name, shown value) of what splits runs into series: the topology when more than one
    ran, then every swept path other than the x axis."""
    axis = setting_axis(experiment)
    by_topology = len(experiment.topologies) > 1 and axis != "topology.kind"
    parts = [("topology", record.topology)] if by_topology else []
    return parts + [(short_name(name), shown_value(record.params.get(name)))
                    for name in _varying(experiment) if name not in (axis, "topology.kind")]


def setting_label(record: RunRecord, experiment: Experiment) -> str:
    """The series a run belongs to: the other swept values (and the topology when more
    than one ran), e.g. `transport=websocket, rtt_ms=100`."""
    parts = [value if name == "topology" else f"{name}={value}"
             for name, value in _series_values(record, experiment)]
    return ", ".join(parts) or record.topology


_LINES = (("-", "o"), ("--", "s"), (":", "D"), ("-.", "^"))


def series_styles(experiment: Experiment) -> dict[str, SeriesStyle]:
    """A style per series that reads: the colour follows the first thing that splits the
    series (a topology keeps its own colour), the line style and marker the second."""
    values: dict[str, list[tuple[str, str]]] = {}
    for record in experiment.records:
        values.setdefault(setting_label(record, experiment), _series_values(record, experiment))
    firsts = list(dict.fromkeys(v[0] for v in values.values() if v))
    seconds = list(dict.fromkeys(v[1] for v in values.values() if len(v) > 1))
    out = {}
    for label, parts in values.items():
        if not parts:
            out[label] = TOPOLOGY_STYLES.get(label, SeriesStyle(CYCLE[0], "o", "-"))
            continue
        first = parts[0]
        known = TOPOLOGY_STYLES.get(first[1]) if first[0] == "topology" else None
        color = known.color if known else CYCLE[firsts.index(first) % len(CYCLE)]
        line, marker = _LINES[(seconds.index(parts[1]) if len(parts) > 1
                               else firsts.index(first)) % len(_LINES)]
        out[label] = SeriesStyle(color, marker, line)
    return out


@dataclass(frozen=True)
class SettingPoint(Replicated):
    """One setting value of one series: where it sits on the x axis, and the value of each
    replicate seed."""

    value: Any
    position: float
    values: tuple[float, ...]


def axis_values(experiment: Experiment) -> list[Any]:
    """The x axis's values: ascending numbers, or categories in first-seen order."""
    axis = setting_axis(experiment)
    if axis is None:
        return []
    seen = list({_key(r.params.get(axis)): r.params.get(axis) for r in experiment.records}.values())
    return sorted(seen) if all(_numeric(v) for v in seen) else seen


def _position(experiment: Experiment, value: Any) -> float:
    values = axis_values(experiment)
    if all(_numeric(v) for v in values):
        return float(value)
    return float([_key(v) for v in values].index(_key(value)))


def setting_series(experiment: Experiment, metric: str) -> dict[str, list[SettingPoint]]:
    """Per series label, the points of `metric` along the x axis (None values skipped)."""
    axis = setting_axis(experiment)
    grouped: dict[str, dict[str, list[float]]] = {}
    values: dict[str, Any] = {}
    for record in experiment.records:
        figure = record.figures.get(metric)
        if axis is None or figure is None:
            continue
        value = record.params.get(axis)
        values[_key(value)] = value
        grouped.setdefault(setting_label(record, experiment), {}).setdefault(
            _key(value), []).append(float(figure))
    out: dict[str, list[SettingPoint]] = {}
    for label, by_value in grouped.items():
        points = [SettingPoint(values[k], _position(experiment, values[k]), tuple(v))
                  for k, v in by_value.items()]
        out[label] = sorted(points, key=lambda p: p.position)
    return out


def has_panels(experiment: Experiment, panels: tuple[Panel, ...]) -> bool:
    """Whether any run carries any figure of this panel set."""
    return any(r.figures.get(metric) is not None for r in experiment.records
               for metric, _, _ in panels)


def _labels(experiment: Experiment) -> list[str]:
    return list(dict.fromkeys(setting_label(r, experiment) for r in experiment.records))


@dataclass(frozen=True)
class SettingKnee:
    """The first setting value (along the x axis) at which a series breaks the gate."""

    value: Any
    metric: str
    mean: float
    limit: float


def setting_knees(experiment: Experiment, gate: QualityGate) -> dict[str, SettingKnee | None]:
    """Per series, the first x value whose mean breaks a gate limit (None: never)."""
    by_metric = {metric: setting_series(experiment, metric) for metric in gate.limits()}
    found: dict[str, SettingKnee | None] = {}
    for label in _labels(experiment):
        found[label] = None
        positions = sorted({p.position for s in by_metric.values() for p in s.get(label, [])})
        for position in positions:
            for metric, limit in gate.limits().items():
                point = next((p for p in by_metric[metric].get(label, [])
                              if p.position == position), None)
                if point is not None and point.mean > limit:
                    found[label] = SettingKnee(point.value, metric, point.mean, limit)
                    break
            if found[label] is not None:
                break
    return found


@styled
def setting_figure(experiment: Experiment, panels: tuple[Panel, ...], title: str,
                   gate: QualityGate | None = None) -> Figure:
    """One panel per figure of `panels` against the swept setting, a line per series; with
    a gate, its limits as dotted lines and each series' first break as an X."""
    columns = 2  # two wide panels a row read on a projector and in a README alike
    rows = math.ceil(len(panels) / columns)
    fig = new_figure(6.5 * columns, 4.6 * rows + 1.6)
    axes = fig.subplots(rows, columns, squeeze=False)
    labels = _labels(experiment)
    styles = series_styles(experiment)
    values = axis_values(experiment)
    numeric = all(_numeric(v) for v in values)
    limits = gate.limits() if gate is not None else {}
    knees = setting_knees(experiment, gate) if gate is not None else {}
    for ax, (metric, panel_title, unit) in zip(axes.flat, panels, strict=False):
        data = setting_series(experiment, metric)
        top = 0.0
        for label in labels:
            points = data.get(label)
            if not points:
                continue
            style = styles[label]
            x = [p.position for p in points]
            if any(p.half_width > 0 for p in points):
                ax.fill_between(x, [p.low for p in points],
                                [p.high for p in points], color=style.color,
                                alpha=0.18, linewidth=0, gid=f"band:{metric}:{label}")
            ax.plot(x, [p.mean for p in points], color=style.color, marker=style.marker,
                    linestyle=style.linestyle, linewidth=2.2, label=label,
                    gid=f"setting:{metric}:{label}")
            top = max(top, *(p.mean + p.half_width for p in points))
            knee = knees.get(label)
            if knee is not None and knee.metric == metric:
                ax.plot([_position(experiment, knee.value)], [knee.mean], marker="X",
                        markersize=16, color=style.color, markeredgecolor=BLACK,
                        linestyle="none", gid=f"knee:{label}")
        if metric in limits:
            limit = limits[metric]
            ax.axhline(limit, color=BLACK, linestyle=":", linewidth=2, gid=f"gate:{metric}")
            ax.text(0.02, limit, f" limit {limit:g} {GATE_UNITS[metric]}", va="bottom",
                    transform=ax.get_yaxis_transform(), fontsize=13)
            top = max(top, limit)
        if not data:
            ax.text(0.5, 0.5, "not measured in these runs", ha="center", va="center",
                    transform=ax.transAxes, fontsize=13, color="#444444")
        ax.set_title(panel_title)
        ax.set_ylabel(unit)
        ax.set_xlabel(axis_title(setting_axis(experiment) or ""))
        if numeric:
            ax.set_xticks([float(v) for v in values], [shown_value(v) for v in values])
        else:
            ax.set_xticks(range(len(values)), [shown_value(v) for v in values])
            ax.set_xlim(-0.4, len(values) - 0.6)
        ax.set_ylim(0, top * 1.15 or 1.0)
        thousands(ax)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"{experiment.name}: {title}")
    _legend(fig, experiment, labels, styles, knees)
    return fig


def _legend(fig: Figure, experiment: Experiment, labels: list[str],
            styles: dict[str, SeriesStyle], knees: dict[str, SettingKnee | None]) -> None:
    names = {}
    for label, knee in knees.items():
        if knee is not None:
            names[label] = (f"{label}: breaks at {shown_value(knee.value)} ({GATE_LABELS[knee.metric]}"
                            f" {knee.mean:.3g} {GATE_UNITS[knee.metric]})")
        else:
            names[label] = f"{label}: within the gate throughout"
    handles: list[Artist] = []
    for label in labels:
        style = styles[label]
        handles.append(Line2D([], [], color=style.color, marker=style.marker,
                              linestyle=style.linestyle,  # type: ignore[arg-type]
                              linewidth=2.2, label=names.get(label, label)))
    seeds = max(len({r.seed for r in experiment.records if setting_label(r, experiment) == label})
                for label in labels) if labels else 0
    if seeds > 1:
        handles.append(Patch(color=BLACK, alpha=0.18, label=f"95 % CI over {seeds} seeds"))
    longest = max((len(str(h.get_label())) for h in handles), default=0)
    fig.legend(handles=handles, loc="outside lower center",
               ncol=max(1, min(len(handles), 3 if longest < 40 else 2 if longest < 60 else 1)),
               frameon=False)
