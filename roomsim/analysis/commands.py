"""`roomsim plot`, `roomsim report`, and the chart step of `compare -o` and `sweep`.

Thin like the rest of the CLI: parse options, load the stored results, call the drawing
and page functions, print where the files went. Bad input is one stderr line, exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from roomsim.analysis.settings import Prices
from roomsim.commands.gate_options import gate_options
from roomsim.errors import ScenarioError, one_line_errors

F = TypeVar("F", bound=Callable[..., Any])


def _setting_options(func: F) -> F:
    """Price and quality-gate options shared by `plot` and `report`."""
    money = click.FloatRange(min=0)
    options = [
        click.option("--egress-price", type=money, default=None, metavar="USD_PER_GB",
                     help="Egress price per GB (default: the sweep file's, else $0.09)."),
        click.option("--core-hour-price", type=money, default=None, metavar="USD",
                     help="Price of one busy core for an hour (default: sweep's, else $0.0446)."),
        gate_options,
        click.option("--animate", is_flag=True,
                     help="Also write the topology diagrams as a WebM video (runs only)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(experiment: Any, options: dict[str, float | None]) -> Any:
    from roomsim.analysis.plots import PlotSettings

    base = PlotSettings.for_experiment(experiment)
    prices = {"egress_usd_per_gb": options["egress_price"],
              "core_hour_usd": options["core_hour_price"]}
    given = {k: v for k, v in prices.items() if v is not None}
    return PlotSettings(Prices(**{**base.prices.model_dump(), **given}),
                        base.gate.overridden(options["gate_loss"], options["gate_latency"],
                                             options["gate_cpu"]))


def draw_directory(directory: Path, out_dir: Path | None = None, animate: bool = False,
                   **options: float | None) -> tuple[Any, list[Any], Any]:
    """Load DIR's results and draw its charts; returns (experiment, charts, settings)."""
    from roomsim.analysis.experiment import load_experiment
    from roomsim.analysis.plots import CHARTS_DIR, draw_charts

    experiment = load_experiment(directory)
    settings = _settings(experiment, {k: options.get(k) for k in (
        "egress_price", "core_hour_price", "gate_loss", "gate_latency", "gate_cpu")})
    charts = draw_charts(experiment, out_dir or directory / CHARTS_DIR, settings, animate)
    return experiment, charts, settings


def _listing(charts: list[Any]) -> str:
    return ", ".join(f.name for chart in charts for f in chart.files)


@click.command("plot")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Where to write the charts (default: DIR/charts).")
@_setting_options
@one_line_errors
def plot_command(directory: Path, out_dir: Path | None, animate: bool,
                 **options: float | None) -> None:
    """Draw the charts of stored results: a run's or compare's -o DIR, or a sweep's DIR."""
    experiment, charts, _ = draw_directory(directory, out_dir, animate, **options)
    if not charts:
        raise ScenarioError("nothing to draw: a sweep needs at least two room sizes or two "
                            "values of a setting",
                            file=str(directory))
    where = out_dir or directory / "charts"
    click.echo(f"{experiment.name}: wrote {len(charts)} charts to {where}: {_listing(charts)}")


@click.command("report")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="The HTML file (default: DIR/report.html).")
@_setting_options
@one_line_errors
def report_command(directory: Path, out_file: Path | None, animate: bool,
                   **options: float | None) -> None:
    """Write one self-contained HTML page about the experiment stored in DIRECTORY."""
    from roomsim.analysis.webpage import REPORT_HTML, write_page
    from roomsim.api import ROOMSIM_VERSION

    page = out_file or directory / REPORT_HTML
    experiment, charts, settings = draw_directory(directory, None, animate, **options)
    write_page(experiment, charts, settings, page, ROOMSIM_VERSION)
    click.echo(f"{experiment.name}: wrote {page} ({len(charts)} charts)")


def plots_after_run(out_dir: Path, quiet: bool) -> None:
    """Draw a fresh `-o DIR`'s charts (compare/sweep); a result that cannot be drawn is a
    note on stderr, not a failure of the run that produced it."""
    try:
        _, charts, _ = draw_directory(out_dir)
    except ScenarioError as exc:
        click.echo(f"roomsim: no charts: {exc}", err=True)
        return
    if charts and not quiet:
        click.echo(f"wrote {len(charts)} charts to {out_dir / 'charts'} (roomsim report "
                   f"{out_dir} writes a page)")


NO_PLOTS_HELP = "Do not draw charts into the output directory."


def sweep_with_plots(sweep_command: click.Command) -> click.Command:
    """The sweep command plus a chart step: same options, and --no-plots."""

    def callback(no_plots: bool, **kwargs: Any) -> None:
        assert sweep_command.callback is not None
        sweep_command.callback(**kwargs)  # exits non-zero itself on bad input or failed points
        if not no_plots:
            plots_after_run(kwargs["out_dir"], quiet=False)

    return click.Command(sweep_command.name, callback=callback,
                         params=[*sweep_command.params,
                                 click.Option(["--no-plots"], is_flag=True, help=NO_PLOTS_HELP)],
                         help=(sweep_command.help or "") + " Draws charts into DIR/charts.",
                         short_help=sweep_command.short_help)
