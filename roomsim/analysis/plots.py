"""Draw every chart an experiment supports into a directory (PNG + SVG each).

A sweep over room sizes gets scaling curves, the capacity knee and cost against size; a
sweep over another setting at one room size gets its figures against that setting (how a
call sounds, the data plane, load against the gate) and, with regions, the latency per
region pair and traffic between regions; a run or comparison gets the side-by-side bars,
latency CDFs, bandwidth over time, cost per topology and the topology diagrams (and, on
request, the diagrams animated as a video), plus load per node, regions and extensions
when the runs have them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from roomsim.analysis.deployment import has_nodes, has_regions, nodes_figure, regions_figure
from roomsim.analysis.diagram import (
    animate_topologies,
    can_animate,
    can_draw,
    topology_figure,
)
from roomsim.analysis.experiment import Experiment
from roomsim.analysis.extensions import extensions_figure, has_extensions
from roomsim.analysis.runs import (
    bars_figure,
    cost_bars_figure,
    latency_cdf_figure,
    timeseries_figure,
)
from roomsim.analysis.scaling import capacity_figure, cost_scaling_figure, scaling_figure
from roomsim.analysis.setting import (
    DATA_PANELS,
    LOAD_PANELS,
    VOICE_PANELS,
    has_panels,
    is_setting_sweep,
    setting_figure,
)
from roomsim.analysis.settings import Prices, QualityGate
from roomsim.analysis.style import save_figure

CHARTS_DIR = "charts"


@dataclass(frozen=True)
class Chart:
    """One drawn chart: its file stem, a title for pages, and the files written."""

    stem: str
    title: str
    files: tuple[Path, ...]

    @property
    def png(self) -> Path:
        """The PNG file."""
        return next(p for p in self.files if p.suffix == ".png")


@dataclass(frozen=True)
class PlotSettings:
    """Prices and gate to draw with (the sweep file's own when it has them)."""

    prices: Prices
    gate: QualityGate

    @classmethod
    def for_experiment(cls, experiment: Experiment, prices: Prices | None = None,
                       gate: QualityGate | None = None) -> PlotSettings:
        """Explicit settings win, then the sweep file's, then the defaults."""
        return cls(prices or experiment.prices or Prices(),
                   gate or experiment.gate or QualityGate())


def draw_charts(experiment: Experiment, out_dir: Path, settings: PlotSettings,
                animate: bool = False) -> list[Chart]:
    """Write the experiment's charts into out_dir; returns what was written, in page order."""
    charts: list[Chart] = []

    def add(stem: str, title: str, figure: object) -> None:
        charts.append(Chart(stem, title, tuple(save_figure(figure, out_dir, stem))))  # type: ignore[arg-type]

    if experiment.kind == "sweep":
        if is_setting_sweep(experiment):
            if has_panels(experiment, VOICE_PANELS):
                add("voice", "How the call sounds",
                    setting_figure(experiment, VOICE_PANELS, "how the call sounds"))
            if has_panels(experiment, DATA_PANELS):
                add("data", "The data plane", setting_figure(experiment, DATA_PANELS,
                                                             "the data plane"))
            if has_regions(experiment):
                add("regions", "Across regions", regions_figure(experiment))
            add("load", "Load against the quality gate",
                setting_figure(experiment, LOAD_PANELS, "load against the quality gate",
                               settings.gate))
            return charts
        if len(experiment.room_sizes) < 2:
            return charts
        add("scaling", "Bandwidth and CPU as the room grows", scaling_figure(experiment))
        add("capacity", "Where each topology breaks", capacity_figure(experiment, settings.gate))
        add("cost", "Server cost per participant-hour",
            cost_scaling_figure(experiment, settings.prices, settings.gate))
        return charts
    if can_draw(experiment):
        add("topology", "Who sends what to whom", topology_figure(experiment))
    add("bandwidth", "The same room, three ways", bars_figure(experiment))
    add("latency", "Latency distribution", latency_cdf_figure(experiment, settings.gate))
    add("timeseries", "Bandwidth and CPU over time", timeseries_figure(experiment))
    add("cost", "What the server side costs", cost_bars_figure(experiment, settings.prices))
    if has_nodes(experiment):
        add("nodes", "Load per node", nodes_figure(experiment))
    if has_regions(experiment):
        add("regions", "Across regions", regions_figure(experiment))
    if has_extensions(experiment):
        add("extensions", "What each extension costs", extensions_figure(experiment))
    if animate and can_draw(experiment) and can_animate(experiment):
        video = animate_topologies(experiment, out_dir / "topology.webm")
        charts.append(Chart("topology-video", "Who sends what to whom, second by second",
                            (video,)))
    return charts
