"""Charts of where the media server side runs: the load on each node of a cluster, and what
crosses between regions with one node or with a cascade of one node per region.

Traffic between regions is measured either way, never estimated: a cascade's backbone
links have their own counters (`details.backbone`); with one node, every participant in
another region than the node reaches it over the backbone's path, so that participant's
whole measured upload and download is what travels between the two regions. Latency per
region pair (publisher's region > subscriber's region) is the run's own histogram
percentile (`details.region_pair_latency_ms`). Artists carry gids
(`pair-p50:<series>:<pair>`, `between:<series>:<pair>`, `node-<figure>:<run>:<node>`).
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import numpy as np
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from roomsim.analysis.experiment import Experiment, RunRecord
from roomsim.analysis.scaling import thousands
from roomsim.analysis.setting import (
    is_setting_sweep,
    setting_axis,
    setting_label,
    short_name,
)
from roomsim.analysis.style import (
    BLACK,
    BLUE,
    CYCLE,
    GREEN,
    PURPLE,
    VERMILLION,
    YELLOW,
    SeriesStyle,
    new_figure,
    series_style,
    styled,
)
from roomsim.analysis.summary import REGION_P50, REGION_P95
from roomsim.errors import ScenarioError
from roomsim.scenario.load import scenario_from_dict
from roomsim.scenario.scenario import Scenario
from roomsim.sweep.paths import PathNotFound, set_path


def record_label(experiment: Experiment, record: RunRecord) -> str:
    """How a run is named on these charts: its topology, or in a setting sweep the swept
    value and its series (`cascade=true`, `cascade=true, cores=8`)."""
    if not is_setting_sweep(experiment):
        return record.topology
    axis = setting_axis(experiment)
    assert axis is not None
    value = record.params.get(axis)
    parts = [f"{short_name(axis)}={value if isinstance(value, str) else json.dumps(value)}"]
    series = setting_label(record, experiment)
    if series != record.topology or len(experiment.topologies) > 1:
        parts.append(series)
    return ", ".join(parts)


def _styles(labels: list[str]) -> dict[str, SeriesStyle]:
    return {label: series_style(label, i) for i, label in enumerate(labels)}


def record_scenario(experiment: Experiment, record: RunRecord) -> Scenario | None:
    """The scenario a run ran: the stored one, or a sweep's base with the point's values."""
    try:
        raw = yaml.safe_load(experiment.scenario_text) if experiment.scenario_text else None
    except yaml.YAMLError:
        return None
    if not isinstance(raw, dict):
        return None
    raw = copy.deepcopy(raw)
    try:
        for path, value in record.params.items():
            set_path(raw, path, value)
        return scenario_from_dict(raw)
    except (PathNotFound, ScenarioError):
        return None


#: Region pairs stack in colours the series bars do not use, with hatches for grey print.
PAIR_COLORS = (PURPLE, YELLOW, VERMILLION, BLUE, GREEN)
PAIR_HATCHES = ("", "//", "..", "xx", "\\\\")


def _pair(a: str, b: str) -> str:
    return " - ".join(sorted((a, b)))


def between_regions_mbps(experiment: Experiment, record: RunRecord) -> dict[str, float] | None:
    """Measured Mbps crossing between each pair of regions (`eu - us`), both directions
    summed: the cascade's backbone links, or the traffic of participants whose node is in
    another region. None when the run has no regions."""
    f = record.figures
    if f.get("backbone_mbps") is not None:
        out: dict[str, float] = {}
        for key, value in f.items():
            if key.startswith("backbone_mbps:") and value is not None:
                a, b = key.split(":", 1)[1].split(">")
                out[_pair(a, b)] = out.get(_pair(a, b), 0.0) + float(value)
        return out
    if not any(key.startswith(REGION_P50) for key in f):
        return None
    scenario = record_scenario(experiment, record)
    if scenario is None:
        return None
    people: list[dict[str, Any]] = ([p.model_dump() for p in record.run.participants]
                                    if record.run is not None else list(record.rows))
    traffic = {str(p["id"]): float(p["uplink_kbps"]) + float(p["downlink_kbps"]) for p in people}
    out = {}
    for room in scenario.rooms:
        home = scenario.node_of(room).region
        for group in room.participants:
            region = group.region or home
            if region == home:
                continue
            kbps = sum(traffic.get(pid, 0.0) for pid in group.member_ids())
            out[_pair(region, home)] = out.get(_pair(region, home), 0.0) + kbps / 1000
    return out


def pair_latency(record: RunRecord) -> dict[str, tuple[float, float]]:
    """(p50, p95) ms per region pair `a>b`, in the order the run reported them."""
    out = {}
    for key, value in record.figures.items():
        if key.startswith(REGION_P50) and value is not None:
            pair = key[len(REGION_P50):]
            p95 = record.figures.get(f"{REGION_P95}{pair}")
            out[pair] = (float(value), float(p95) if p95 is not None else float(value))
    return out


def has_regions(experiment: Experiment) -> bool:
    """Whether any run measured latency per region pair."""
    return any(pair_latency(r) for r in experiment.records)


@styled
def regions_figure(experiment: Experiment) -> Figure:
    """Left: capture-to-decode latency per region pair (bar = median, black tick = p95) for
    each run; right: Mbps between regions, stacked by region pair."""
    records = [r for r in experiment.records if pair_latency(r)]
    labels = list(dict.fromkeys(record_label(experiment, r) for r in records))
    first = {label: next(r for r in records if record_label(experiment, r) == label)
             for label in labels}
    pairs = list(dict.fromkeys(p for r in records for p in pair_latency(r)))
    fig = new_figure(17, 7.5)
    left, right = fig.subplots(1, 2, width_ratios=[2.3, 1])
    width = 0.8 / max(1, len(labels))
    styles = _styles(labels)
    for index, label in enumerate(labels):
        style = styles[label]
        latency = pair_latency(first[label])
        x = np.arange(len(pairs)) + (index - (len(labels) - 1) / 2) * width
        p50 = [latency.get(p, (np.nan, np.nan))[0] for p in pairs]
        p95 = [latency.get(p, (np.nan, np.nan))[1] for p in pairs]
        for k, pair in enumerate(pairs):
            if not np.isnan(p50[k]):
                left.bar(x[k], p50[k], width=width * 0.92, color=style.color,
                         gid=f"pair-p50:{label}:{pair}")
                left.plot([x[k] - width * 0.4, x[k] + width * 0.4], [p95[k], p95[k]], color=BLACK,
                          linewidth=3, solid_capstyle="butt", gid=f"pair-p95:{label}:{pair}")
    left.set_xticks(range(len(pairs)), [p.replace(">", " > ") for p in pairs], rotation=35,
                    ha="right")
    left.set_xlabel("publisher's region > subscriber's region")
    left.set_ylabel("ms, capture to decoded")
    left.set_title("Latency per region pair")
    left.set_ylim(bottom=0)
    left.grid(axis="x", visible=False)
    handles = [Line2D([], [], color=styles[label].color, linewidth=10, label=label)
               for label in labels]
    handles.append(Line2D([], [], color=BLACK, linewidth=3, label="95th percentile"))
    left.legend(handles=handles, loc="upper left", frameon=False)

    traffic = {label: between_regions_mbps(experiment, first[label]) for label in labels}
    region_pairs = sorted({p for t in traffic.values() if t for p in t})
    bottoms = np.zeros(len(labels))
    for k, pair in enumerate(region_pairs):
        heights = np.array([(traffic[label] or {}).get(pair, 0.0) for label in labels])
        for i, label in enumerate(labels):
            if heights[i] > 0:
                right.bar(i, heights[i], bottom=bottoms[i], color=PAIR_COLORS[k % len(PAIR_COLORS)],
                          hatch=PAIR_HATCHES[k % len(PAIR_HATCHES)], edgecolor=BLACK, width=0.6,
                          gid=f"between:{label}:{pair}",
                          label=pair if i == next(j for j in range(len(labels))
                                                  if heights[j] > 0) else None)
        bottoms += heights
    for i, label in enumerate(labels):
        if traffic[label] is None:
            right.text(i, 0, "not known", ha="center", va="bottom", fontsize=13)
        else:
            right.text(i, bottoms[i], f"{bottoms[i]:,.1f}", ha="center", va="bottom", fontsize=14)
    right.set_xticks(range(len(labels)), labels)
    right.set_ylabel("Mbps, both directions")
    right.set_title("Traffic between regions")
    right.set_ylim(0, (bottoms.max() if len(bottoms) else 0) * 1.2 or 1)
    right.grid(axis="x", visible=False)
    thousands(right)
    if region_pairs:
        right.legend(title="regions", loc="upper right", frameon=False)
    fig.suptitle(f"{experiment.name}: across regions")
    return fig


def rooms_per_node(record: RunRecord) -> dict[str, int]:
    """Rooms each node hosted, from the run's placement log (a cluster's routing store)."""
    if record.run is None:
        return {}
    final: dict[str, str] = {}
    for entry in record.run.details.get("placement", []) or []:
        with contextlib.suppress(KeyError, TypeError):
            final[str(entry["room"])] = str(entry["node"])
    counts: dict[str, int] = {}
    for node in final.values():
        counts[node] = counts.get(node, 0) + 1
    return counts


def has_nodes(experiment: Experiment) -> bool:
    """Whether a stored run used more than one media server node."""
    return any(r.run is not None and len(r.run.servers) > 1 for r in experiment.records)


def _figure_text(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


@styled
def nodes_figure(experiment: Experiment) -> Figure:
    """Per node of every run with several nodes: rooms placed, CPU and egress (bars over the
    measured interval), and below, each node's CPU second by second for the first such run,
    which shows when placements landed where."""
    runs = [r for r in experiment.records if r.run is not None and len(r.run.servers) > 1]
    nodes = list(dict.fromkeys(s.id for r in runs for s in r.run.servers))  # type: ignore[union-attr]
    fig = new_figure(17, 4.5 + 0.55 * len(nodes) * max(1, len(runs)) + 2.5)
    grid = fig.subplot_mosaic([["rooms", "cpu", "egress"], ["time", "time", "time"]],
                              height_ratios=[0.55 * len(nodes) * max(1, len(runs)) + 1.2, 4.5])
    axes = [grid["rooms"], grid["cpu"], grid["egress"]]
    height = 0.8 / max(1, len(runs))
    panels = (("rooms", "Rooms placed", "rooms"), ("cpu", "CPU", "% of the node's cores"),
              ("egress", "Egress", "Mbps"))
    for index, record in enumerate(runs):
        assert record.run is not None
        style = series_style(record.topology, index)
        servers = {s.id: s for s in record.run.servers}
        rooms = rooms_per_node(record)
        y = np.arange(len(nodes)) + (index - (len(runs) - 1) / 2) * height
        values = {
            "rooms": [float(rooms.get(n, 0)) for n in nodes],
            "cpu": [servers[n].cpu_util_pct if n in servers else 0.0 for n in nodes],
            "egress": [servers[n].egress_mbps if n in servers else 0.0 for n in nodes],
        }
        for ax, (key, _, _) in zip(axes, panels, strict=True):
            for k, node in enumerate(nodes):
                ax.barh(y[k], values[key][k], height=height * 0.9, color=style.color,
                        gid=f"node-{key}:{record.topology}:{node}",
                        label=record.topology if k == 0 and ax is axes[0] else None)
                ax.text(values[key][k], y[k], f" {_figure_text(values[key][k])}", va="center",
                        fontsize=13)
    for ax, (_, title, unit) in zip(axes, panels, strict=True):
        ax.set_title(title)
        ax.set_xlabel(unit)
        ax.set_xlim(0, (ax.get_xlim()[1] or 1) * 1.25)
        ax.set_yticks(range(len(nodes)), nodes if ax is axes[0] else [])
        ax.set_ylim(len(nodes) - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        thousands_x(ax)
    _cpu_over_time(grid["time"], runs[0], experiment)
    if len(runs) > 1:
        fig.legend(loc="outside lower center", ncol=len(runs), frameon=False)
    fig.suptitle(f"{experiment.name}: load per node")
    return fig


def thousands_x(ax: Axes) -> None:
    """X tick labels with thousands separators."""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))


def _cpu_over_time(ax: Axes, record: RunRecord, experiment: Experiment) -> None:
    assert record.run is not None
    series = record.run.series
    width = float(series.get("window_s", 1.0))
    cpu = series.get("server_cpu_cores") or {}
    cores = {s.id: s.cores for s in record.run.servers}
    duration = experiment.report.duration_s if experiment.report is not None else None
    shown = int(np.ceil(duration / width)) if duration else None
    for k, (node, values) in enumerate(cpu.items()):
        busy = np.asarray(values[:shown], dtype=float) / max(cores.get(node, 1.0), 1e-9) * 100
        t = (np.arange(len(busy)) + 0.5) * width
        ax.plot(t, busy, color=CYCLE[k % len(CYCLE)], marker="os^Dv"[k % 5], markersize=6,
                label=node, gid=f"node-time:{record.topology}:{node}")
    warmup = record.run.simulated_s - record.run.measured_s if duration is None else \
        max(0.0, duration - record.run.measured_s)
    if warmup > 0:
        ax.axvspan(0, warmup, color="#999999", alpha=0.2, linewidth=0)
        ax.text(warmup / 2, 0.95, "warm-up (not in the bars)", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=13, color="#444444")
    ax.set_title(f"{record.topology}: each node's CPU, second by second", loc="left")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("% of the node's cores")
    ax.set_xlim(0, duration or None)
    ax.set_ylim(bottom=0)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
