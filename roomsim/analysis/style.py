"""One look for every chart: large type for projectors, a colour-blind-safe palette, files
written whole.

Colours are the Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2008;
https://jfly.uni-koeln.de/color/), safe for the common colour-vision deficiencies. Each
topology also has its own marker and line style, so a chart still reads printed in grey.
Figures are built with `matplotlib.figure.Figure` and the Agg canvas, never pyplot: no
global state, no display needed, safe in worker processes.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: no display is ever needed

from matplotlib.figure import Figure  # noqa: E402

F = TypeVar("F", bound=Callable[..., Any])

#: Okabe-Ito colours.
VERMILLION, BLUE, GREEN = "#D55E00", "#0072B2", "#009E73"
ORANGE, SKY, PURPLE, YELLOW, BLACK = "#E69F00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"
#: Colours for series that are not one of the three topologies.
CYCLE = (ORANGE, SKY, PURPLE, BLACK, VERMILLION, BLUE, GREEN)

#: Pixels per inch of PNGs: an 11-inch-wide figure is 1320 px, sharp on a 1080p projector.
PNG_DPI = 120


@dataclass(frozen=True)
class SeriesStyle:
    """How one topology (or series) is drawn."""

    color: str
    marker: str
    linestyle: str


TOPOLOGY_STYLES = {
    "mesh": SeriesStyle(VERMILLION, "o", "-"),
    "mcu": SeriesStyle(BLUE, "s", "--"),
    "sfu": SeriesStyle(GREEN, "^", "-."),
}
_EXTRA_MARKERS = ("D", "v", "P", "X", "h", "*", "<")

#: Large type: the smallest text on a chart is 13 pt at 1320 px wide.
RC: dict[str, Any] = {
    "font.size": 15,
    "axes.titlesize": 17,
    "axes.titleweight": "bold",
    "axes.labelsize": 15,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "legend.fontsize": 13,
    "figure.titlesize": 19,
    "figure.titleweight": "bold",
    "lines.linewidth": 2.5,
    "lines.markersize": 9,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "roomsim",  # same figure, same SVG bytes
    "svg.fonttype": "path",
}


def series_style(label: str, index: int) -> SeriesStyle:
    """A topology's own style, or the index-th extra style for other series."""
    topology = label.split(",")[0].strip()
    base = TOPOLOGY_STYLES.get(topology)
    if base is not None and "," not in label:
        return base
    if base is not None:
        return SeriesStyle(base.color, _EXTRA_MARKERS[index % len(_EXTRA_MARKERS)],
                           ("-", "--", "-.", ":")[index % 4])
    return SeriesStyle(CYCLE[index % len(CYCLE)], _EXTRA_MARKERS[index % len(_EXTRA_MARKERS)],
                       ("-", "--", "-.", ":")[index % 4])


@contextlib.contextmanager
def chart_style() -> Iterator[None]:
    """Apply the house style to figures created inside the block."""
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        yield


def styled(func: F) -> F:
    """Build a chart inside `chart_style()`."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with chart_style():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float = 11.0, height: float = 7.0, **kwargs: Any) -> Figure:
    """A figure with constrained layout (titles and labels never overlap)."""
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def write_bytes_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """Create `path` through a temporary sibling renamed over it: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_figure(fig: Figure, directory: Path, stem: str) -> list[Path]:
    """Write `stem`.png and `stem`.svg into `directory`; returns both paths."""
    paths = []
    with chart_style():
        for fmt in ("png", "svg"):
            path = directory / f"{stem}.{fmt}"

            def write(handle: Any, fmt: str = fmt) -> None:
                fig.savefig(handle, format=fmt, dpi=PNG_DPI, metadata=_metadata(fmt))

            write_bytes_atomic(path, write)
            paths.append(path)
    return paths


def _metadata(fmt: str) -> dict[str, Any]:
    """No creation dates in files, so the same results give the same bytes."""
    return {"Date": None} if fmt == "svg" else {"Software": None}


def log_axis_labels(axis: Any) -> None:
    """Tick labels of a log axis that never overlap: plain numbers at 1-2-5 per decade over
    up to two and a half decades, at the decades only beyond that, and no labels on the
    minor ticks (matplotlib labels those too when the range is short, and they collide)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = sorted(axis.get_view_interval())
    decades = math.log10(high / low) if low > 0 else 3.0
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))
    axis.set_minor_formatter(NullFormatter())
