"""Teaching diagrams: the room drawn as a graph, one panel per topology, side by side.

Participants sit on a circle per room, the media server (SFU/MCU) in its middle. Every
arrow is one direction of media: its width is the measured bitrate (one scale for all
panels, so widths compare across topologies) and a node's colour is its CPU load (a
client's share of its device budget, a server's share of its cores). Mesh runs count
bytes per link, not per peer pair, so a mesh arrow i -> j is i's measured uplink shared
evenly among its receivers (every copy of a stream is the same size, so that is exact
while receivers stay put).

`animate_topologies` redraws the same panels once per counter window and writes a WebM
(VP9) video with PyAV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import yaml
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from roomsim.analysis.experiment import Experiment
from roomsim.analysis.style import BLACK, chart_style, new_figure, styled, write_bytes_atomic
from roomsim.results.models import RunResult

#: Perceptually uniform and readable with colour-vision deficiencies (Nuñez et al. 2018,
#: "Optimizing colormaps with consideration for color vision deficiency", PLOS ONE).
CPU_COLORMAP = "cividis"
SERVER_PREFIX = "server:"
MAX_WIDTH_PT = 11.0
#: Above this many edges in a panel, edges are drawn as one collection of plain lines
#: (thousands of arrow patches take minutes to draw and read as a grey blur anyway).
MAX_ARROWS = 400
#: Rooms bigger than this are not drawn as graphs at all: nobody can read 200 nodes.
MAX_DIAGRAM_PARTICIPANTS = 200
MIN_WIDTH_PT = 0.6


@dataclass(frozen=True)
class Frame:
    """What one diagram panel shows: kbps per directed edge, CPU % per node, a title."""

    edges: dict[tuple[str, str], float]
    cpu_pct: dict[str, float]
    title: str


def _room_nodes(experiment: Experiment, run: RunResult) -> dict[str, str]:
    """Room id -> the server id hosting it (from the stored scenario, else the first)."""
    if not run.servers:
        return {}
    first = run.servers[0].id
    try:
        raw = yaml.safe_load(experiment.scenario_text) if experiment.scenario_text else {}
    except yaml.YAMLError:
        raw = {}
    raw = raw if isinstance(raw, dict) else {}
    nodes = [n.get("id") for n in raw.get("nodes") or [] if isinstance(n, dict)]
    default = nodes[0] if nodes else first
    known = {s.id for s in run.servers}
    out = {}
    for room in {p.room for p in run.participants}:
        spec = next((r for r in raw.get("rooms") or []
                     if isinstance(r, dict) and r.get("id") == room), {})
        node = spec.get("node") or default
        out[room] = node if node in known else first
    return out


def frame_of(experiment: Experiment, run: RunResult, window: int | None = None) -> Frame:
    """Edge rates and CPU loads of a run: whole-run means, or one window of its series."""
    people = run.participants
    series = run.series
    if window is None:
        up = {p.id: p.uplink_kbps for p in people}
        down = {p.id: p.downlink_kbps for p in people}
        client_cores = {p.id: p.client_cpu_cores for p in people}
        server_cores = {s.id: s.cpu_cores for s in run.servers}
        server_egress = {s.id: s.egress_mbps for s in run.servers}
    else:
        up = {k: v[window] for k, v in series["participant_uplink_kbps"].items()}
        down = {k: v[window] for k, v in series["participant_downlink_kbps"].items()}
        client_cores = {k: v[window] for k, v in series["participant_cpu_cores"].items()}
        server_cores = {k: v[window] for k, v in (series.get("server_cpu_cores") or {}).items()}
        server_egress = {k: v[window] for k, v in (series.get("server_egress_mbps") or {}).items()}
    cpu = {p.id: 100 * client_cores[p.id] / p.client_cpu_budget_cores for p in people}
    cpu.update({SERVER_PREFIX + s.id: 100 * server_cores.get(s.id, 0.0) / s.cores
                for s in run.servers})
    edges: dict[tuple[str, str], float] = {}
    if run.servers:
        node_of = _room_nodes(experiment, run)
        for p in people:
            server = SERVER_PREFIX + node_of[p.room]
            if up[p.id] > 0:
                edges[(p.id, server)] = up[p.id]
            if down[p.id] > 0:
                edges[(server, p.id)] = down[p.id]
    else:
        receivers = {p.id: [q.id for q in people if q.room == p.room and q.id != p.id
                            and down[q.id] > 0] for p in people}
        for p in people:
            if up[p.id] > 0 and receivers[p.id]:
                share = up[p.id] / len(receivers[p.id])
                for q in receivers[p.id]:
                    edges[(p.id, q)] = share
    if run.servers:
        title = (f"{run.topology}: server out {sum(server_egress.values()):,.1f} Mbps, "
                 f"{sum(server_cores.values()):.2f} cores")
    else:
        title = f"{run.topology}: peers send {sum(up.values()) / 1e3:,.1f} Mbps"
    return Frame(edges, cpu, title)


Positions = dict[str, tuple[float, float]]


def layout(experiment: Experiment) -> tuple[Positions, Positions]:
    """One position per participant and server, shared by every panel, and where each
    node's label goes (participants: just outside the ring; servers: under the square)."""
    first = next(r.run for r in experiment.records if r.run is not None)
    rooms: dict[str, list[str]] = {}
    for p in first.participants:
        rooms.setdefault(p.room, []).append(p.id)
    pos: Positions = {}
    label_pos: Positions = {}
    centres: dict[str, tuple[float, float]] = {}
    y = 0.0
    previous = 0.0
    for k, (room, members) in enumerate(rooms.items()):
        radius = max(1.0, len(members) / 8)  # keep neighbours' labels apart in big rooms
        y -= (previous + radius + 1.0) if k else 0.0
        previous = radius
        centre = (0.0, y)
        centres[room] = centre
        ring = nx.circular_layout(members, scale=radius, center=centre)
        for node, xy in ring.items():
            pos[node] = (float(xy[0]), float(xy[1]))
            label_pos[node] = (centre[0] + (xy[0] - centre[0]) * (radius + 0.32) / radius,
                               centre[1] + (xy[1] - centre[1]) * (radius + 0.32) / radius)
    for record in experiment.records:
        if record.run is None or not record.run.servers:
            continue
        hosted: dict[str, list[tuple[float, float]]] = {}
        for room, node in _room_nodes(experiment, record.run).items():
            hosted.setdefault(node, []).append(centres[room])
        for node, points in hosted.items():
            x, y = float(np.mean([p[0] for p in points])), float(np.mean([p[1] for p in points]))
            pos[SERVER_PREFIX + node] = (x, y)
            label_pos[SERVER_PREFIX + node] = (x + 0.2, y - 0.2)
    return pos, label_pos


def _width(kbps: float, top_kbps: float) -> float:
    return MIN_WIDTH_PT + (MAX_WIDTH_PT - MIN_WIDTH_PT) * kbps / top_kbps if top_kbps else 1.0


def draw_panel(ax: Axes, title: str, frame: Frame, pos: Positions, label_pos: Positions | None,
               top_kbps: float) -> None:
    """One topology's graph on `ax` (edge gid `edge:<from>-><to>`, node gid `node:<id>`)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(frame.cpu_pct)
    graph.add_edges_from(frame.edges)
    norm = Normalize(0, 100)
    cmap = colormaps[CPU_COLORMAP]
    edges = list(frame.edges)
    widths = [_width(frame.edges[e], top_kbps) for e in edges]
    if len(edges) <= MAX_ARROWS:
        arrows = nx.draw_networkx_edges(
            graph, pos, edgelist=edges, width=widths, edge_color="#333333", alpha=0.75,
            arrows=True, arrowstyle="-|>", arrowsize=12, connectionstyle="arc3,rad=0.12",
            node_size=700, ax=ax)
        for (a, b), arrow in zip(edges, arrows, strict=True):
            arrow.set_gid(f"edge:{a}->{b}")
    elif edges:  # too many to draw one by one: straight lines in a single collection
        lines = nx.draw_networkx_edges(graph, pos, edgelist=edges, width=widths,
                                       edge_color="#333333", alpha=0.4, arrows=False, ax=ax)
        lines.set_gid("edges")
    for node, load in frame.cpu_pct.items():
        server = node.startswith(SERVER_PREFIX)
        collection = nx.draw_networkx_nodes(
            graph, pos, nodelist=[node], node_color=[cmap(norm(min(load, 100)))],
            node_size=1500 if server else 600, node_shape="s" if server else "o",
            edgecolors=BLACK, linewidths=1.5, ax=ax)
        collection.set_gid(f"node:{node}")
        collection.set_zorder(3)
    if label_pos is not None:
        names = {n: n.removeprefix(SERVER_PREFIX) for n in frame.cpu_pct}
        nx.draw_networkx_labels(graph, {n: label_pos[n] for n in names}, labels=names,
                                font_size=11, ax=ax)
    ax.set_title(title)
    points = list(pos.values()) + list((label_pos or {}).values())
    pad = 0.45
    ax.set_xlim(min(x for x, _ in points) - pad, max(x for x, _ in points) + pad)
    ax.set_ylim(min(y for _, y in points) - pad, max(y for _, y in points) + pad)
    ax.axis("off")  # the figure is sized to the layout's aspect, so rings stay round


def _width_legend(fig: Figure, top_kbps: float) -> None:
    marks = [m for m in (100.0, 1e3, 1e4, 1e5) if m <= top_kbps] or [top_kbps]
    handles = [Line2D([], [], color="#333333", linewidth=_width(m, top_kbps),
                      label=f"{m / 1e3:g} Mbps" if m >= 1000 else f"{m:g} kbps")
               for m in marks[-3:]]
    fig.legend(handles=handles, loc="outside lower left", ncol=len(handles), frameon=False,
               title="arrow width = measured bitrate", title_fontsize=13)


def _colorbar(fig: Figure, axes: Any) -> None:
    mappable = colormaps[CPU_COLORMAP]
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(Normalize(0, 100), mappable), ax=axes,
                       orientation="horizontal", fraction=0.05, shrink=0.5, location="bottom")
    bar.set_label("node colour = CPU load, % of its cores (server) or budget (client)")


def _topology_figure(experiment: Experiment, window: int | None,
                     top_kbps: float | None = None) -> Figure:
    runs = [r.run for r in experiment.records if r.run is not None]
    frames = [frame_of(experiment, run, window) for run in runs]
    top = top_kbps or max((max(f.edges.values(), default=0.0) for f in frames), default=0.0)
    pos, label_pos = layout(experiment)
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    aspect = (max(ys) - min(ys) + 1.7) / (max(xs) - min(xs) + 1.7)
    fig = new_figure(5.2 * len(runs) + 1, 3.2 + 5.2 * aspect)
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    people = len(runs[0].participants)
    for ax, frame in zip(axes, frames, strict=True):
        draw_panel(ax, frame.title, frame, pos, label_pos if people <= 16 else None, top)
    _width_legend(fig, top)
    _colorbar(fig, axes)
    return fig


@styled
def topology_figure(experiment: Experiment) -> Figure:
    """Each topology's room as a graph, side by side, from whole-run means."""
    fig = _topology_figure(experiment, None)
    fig.suptitle(f"{experiment.name}: who sends what to whom")
    return fig


def can_draw(experiment: Experiment) -> bool:
    """True when the runs are small enough to draw as graphs."""
    runs = [r.run for r in experiment.records if r.run is not None]
    return bool(runs) and len(runs[0].participants) <= MAX_DIAGRAM_PARTICIPANTS


def can_animate(experiment: Experiment) -> bool:
    """True when every run kept per-participant series (rooms up to the series limit)."""
    runs = [r.run for r in experiment.records if r.run is not None]
    return bool(runs) and all("participant_uplink_kbps" in r.series for r in runs)


def animate_topologies(experiment: Experiment, path: Path, fps: float = 2.0) -> Path:
    """Write a WebM (VP9) of the diagrams, one frame per counter window of the run."""
    import av  # PyAV: a core dependency (the MCU's real-media mode uses it too)

    runs = [r.run for r in experiment.records if r.run is not None]
    duration = experiment.report.duration_s if experiment.report is not None else 0.0
    width_s = float(runs[0].series.get("window_s", 1.0))
    windows = max(1, math.ceil(duration / width_s))
    top = max(max(frame_of(experiment, run, k).edges.values(), default=0.0)
              for run in runs for k in range(windows))
    images = []
    with chart_style():
        for k in range(windows):
            fig = _topology_figure(experiment, k, top)
            fig.suptitle(f"{experiment.name}: t = {k * width_s:g}-{(k + 1) * width_s:g} s")
            canvas = FigureCanvasAgg(fig)
            canvas.draw()
            rgb = np.asarray(canvas.buffer_rgba())[:, :, :3]
            images.append(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2].copy())

    def write(handle: Any) -> None:
        with av.open(handle, mode="w", format="webm") as container:
            stream = container.add_stream("libvpx-vp9", rate=int(round(fps)))
            stream.height, stream.width = images[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "34", "b": "0", "deadline": "realtime", "cpu-used": "8"}
            for index, image in enumerate(images):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)

    write_bytes_atomic(path, write)
    return path
