"""A chart of what a room's extensions cost: SIP callers, egress recorders/livestreams and
ingress streams, next to an ordinary participant of the same run.

Figures are the run's own `extensions[]` (CPU including the work the engine does not
simulate: compositing, output encode, source decode; bandwidth into and out of the
extension, counting the outside legs of a livestream or an ingress source) and, for
reference, the mean person of the run (`participants[]` of kind person: client CPU,
download and upload). Bars carry gids (`ext-<figure>:<topology>:<id>`).
"""

from __future__ import annotations

from statistics import mean

import numpy as np
from matplotlib.figure import Figure

from roomsim.analysis.deployment import thousands_x
from roomsim.analysis.experiment import Experiment, RunRecord
from roomsim.analysis.style import new_figure, series_style, styled

#: The reference row's name on the chart.
PERSON = "a person (mean)"


def has_extensions(experiment: Experiment) -> bool:
    """Whether a stored run has a SIP caller, an egress or an ingress."""
    return any(r.run is not None and r.run.extensions for r in experiment.records)


def extension_rows(record: RunRecord) -> dict[str, tuple[float, float, float]]:
    """Row name -> (CPU cores, kbps in, kbps out) of one run: each extension, then the
    mean person."""
    assert record.run is not None
    rows = {f"{e.id} ({e.kind})": (e.cpu_cores, e.input_kbps, e.output_kbps)
            for e in record.run.extensions}
    people = [p for p in record.run.participants if p.kind == "person"]
    if people:
        rows[PERSON] = (mean(p.client_cpu_cores for p in people),
                        mean(p.downlink_kbps for p in people),
                        mean(p.uplink_kbps for p in people))
    return rows


@styled
def extensions_figure(experiment: Experiment) -> Figure:
    """CPU, bandwidth in and bandwidth out per extension, one bar per topology."""
    runs = [r for r in experiment.records if r.run is not None and r.run.extensions]
    table = {r.topology: extension_rows(r) for r in runs}
    names = list(dict.fromkeys(name for rows in table.values() for name in rows))
    fig = new_figure(17, 2.4 + 0.5 * len(names) * max(1, len(runs)) + 1.5)
    axes = fig.subplots(1, 3, sharey=True)
    height = 0.8 / max(1, len(runs))
    panels = ("CPU", "Bandwidth in", "Bandwidth out")
    units = ("cores", "kbps (into it)", "kbps (out of it)")
    for index, record in enumerate(runs):
        style = series_style(record.topology, index)
        rows = table[record.topology]
        y = np.arange(len(names)) + (index - (len(runs) - 1) / 2) * height
        for column, ax in enumerate(axes):
            for k, name in enumerate(names):
                if name not in rows:
                    continue
                value = rows[name][column]
                ax.barh(y[k], value, height=height * 0.9, color=style.color,
                        gid=f"ext-{('cpu', 'in', 'out')[column]}:{record.topology}:{name}",
                        label=record.topology if column == 0 and k == 0 else None)
                text = f"{value:,.3g}" if column == 0 else f"{value:,.0f}"
                ax.text(value, y[k], f" {text}", va="center", fontsize=12)
    for ax, title, unit in zip(axes, panels, units, strict=True):
        ax.set_title(title)
        ax.set_xlabel(unit)
        ax.set_xlim(0, (ax.get_xlim()[1] or 1) * 1.3)
        ax.grid(axis="y", visible=False)
        thousands_x(ax)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    fig.legend(loc="outside lower center", ncol=max(1, len(runs)), frameon=False)
    fig.suptitle(f"{experiment.name}: what each extension costs")
    return fig
