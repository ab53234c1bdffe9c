"""Charts stay legible: log-axis labels never overlap, confidence bands of quantities that
cannot be negative stop at zero, and the report page says whether it needs its folder."""

from __future__ import annotations

import itertools

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from roomsim.analysis.aggregate import SeriesPoint, ci_half_width
from roomsim.analysis.experiment import Experiment
from roomsim.analysis.runs import latency_cdf_figure
from roomsim.analysis.settings import QualityGate
from roomsim.analysis.style import log_axis_labels, new_figure, styled
from tests.test_charts import compared  # noqa: F401  (the module-scoped fixture)


def _overlaps(fig: Figure) -> list[tuple[str, str]]:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    clashes = []
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
                  if t.get_visible() and t.get_text()]
        lo, hi = ax.get_xlim()
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels
                 if lo <= t.get_position()[0] <= hi]
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
            if box_a.overlaps(box_b):
                clashes.append((a, b))
    return clashes


@pytest.mark.parametrize("span", [(40.0, 75.0), (20.0, 400.0), (8.0, 3000.0), (1.0, 1e5)])
def test_log_axis_labels_never_overlap(span: tuple[float, float]) -> None:
    @styled  # the charts' own large type
    def draw() -> Figure:
        fig = new_figure(7, 5)
        ax = fig.subplots()
        ax.plot(span, [0, 1])
        ax.set_xscale("log")
        ax.set_xlim(*span)
        log_axis_labels(ax.xaxis)
        assert _overlaps(fig) == []
        return fig

    ax = draw().axes[0]
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(shown) >= 2, shown  # still labelled


def test_latency_cdf_labels_do_not_overlap(compared: Experiment) -> None:  # noqa: F811
    assert _overlaps(latency_cdf_figure(compared, QualityGate())) == []


def test_band_of_a_non_negative_quantity_stops_at_zero() -> None:
    values = (0.0, 0.0, 3.0)  # mean 1, half-width 4.3 * 1.73 / 1.73 = 4.3
    point = SeriesPoint(size=2, values=values, expected=None)
    assert point.mean - ci_half_width(values) < 0
    assert point.low == 0.0 and point.high == pytest.approx(1.0 + ci_half_width(values))
    signed = SeriesPoint(size=2, values=(-1.0, 0.0, 3.0), expected=None)
    assert signed.low == pytest.approx(signed.mean - ci_half_width(signed.values))
