"""The `roomsim` command: thin — parse, call the API, print or write.

Bad input of any kind ends in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from roomsim import api, budget
from roomsim.agents.cli import agent_latency_command
from roomsim.analysis.commands import (
    NO_PLOTS_HELP,
    plot_command,
    plots_after_run,
    report_command,
    sweep_with_plots,
)
from roomsim.analysis.experiment import write_scenario_file
from roomsim.analysis.realmedia_text import describe
from roomsim.analysis.table import comparison_table, participants_table
from roomsim.capacity import capacity_command
from roomsim.codecs.calibrate import run_calibrate
from roomsim.errors import ScenarioError, one_line_errors, printable
from roomsim.media_run import run_real_media
from roomsim.outputs import prepare_out_dir
from roomsim.results import Report, write_report
from roomsim.scenario import TOPOLOGIES, Scenario
from roomsim.sweep.cli import sweep_command


def _topology_list(value: str) -> list[str]:
    """Comma-separated names; api.plan refuses unknown ones and an empty list."""
    return [n.strip() for n in value.split(",") if n.strip()]


#: click >= 8.2 raises this (a UsageError) for a group called without arguments.
_HELP_ERRORS: tuple[type[click.ClickException], ...] = tuple(
    getattr(click.exceptions, name) for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name))


class OneLineGroup(click.Group):
    """A click group whose usage errors (unknown option, missing argument, bad flag value)
    are one line on stderr, exit status 2, like every other bad input."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 (click's entry point)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("roomsim: aborted", err=True)
            sys.exit(1)
        except _HELP_ERRORS as exc:  # `roomsim` alone: the help text, as click prints it
            click.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            where = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                where = f"{exc.ctx.command_path}: "
            message = " ".join(exc.format_message().split())
            click.echo(printable(f"roomsim: {where}{message}"), err=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def _emit(report: Report, scenario: Scenario, as_json: bool, out_dir: Path | None, text: str,
          plots: bool = False) -> None:
    if out_dir is not None:
        write_report(report, out_dir)
        write_scenario_file(scenario, out_dir)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        click.echo(printable(text))
        if out_dir is not None:
            click.echo(f"\nwrote {out_dir}/report.json, scenario.yaml, participants.csv, "
                       "servers.csv")
    if out_dir is not None and plots:
        plots_after_run(out_dir, quiet=as_json)


scenario_arg = click.argument("scenario", type=click.Path(path_type=Path))
seed_opt = click.option("--seed", type=int, default=None,
                        help="Root seed, 0 to 2**63-1 (default: the scenario's).")
duration_opt = click.option("--duration", type=float, default=None,
                            help="Simulated seconds, 1 to 86400 (default: the scenario's duration_s).")
force_opt = click.option("--force", is_flag=True,
                         help="Run even if the resource estimate is above the limits "
                              "(ROOMSIM_MAX_MEMORY_GB, ROOMSIM_MAX_WALL_S).")
json_opt = click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document, nothing else.")
class OutDir(click.Path):
    """A directory path for -o; an empty one is a mistake, not the current directory."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path; give a directory (`-o .` for this one)", param, ctx)
        return super().convert(value, param, ctx)


out_opt = click.option("-o", "--out", "out_dir", type=OutDir(path_type=Path, file_okay=False),
                       default=None, help="Write report.json and CSV rows into this directory.")


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(api.ROOMSIM_VERSION, prog_name="roomsim")
def main() -> None:
    """Simulate one realtime room workload through P2P mesh, MCU and SFU."""


@main.command()
@scenario_arg
@click.option("--topology", type=click.Choice(TOPOLOGIES), default=None,
              help="Topology to run (default: the scenario's topology.kind).")
@seed_opt
@duration_opt
@json_opt
@out_opt
@force_opt
@click.option("--real-media", is_flag=True,
              help="MCU only: decode, mix and re-encode real media with PyAV; writes what each "
                   "participant receives, per-stage CPU and PSNR/SSIM into -o DIR.")
@one_line_errors
def run(scenario: Path, topology: str | None, seed: int | None, duration: float | None,
        as_json: bool, out_dir: Path | None, force: bool, real_media: bool) -> None:
    """Run one topology on SCENARIO and print per-participant results."""
    loaded = api.load_scenario(scenario)
    with _naming(scenario):
        api.plan(loaded, [topology or loaded.topology.kind], seed=seed, duration_s=duration,
                 force=force)
        if out_dir is not None:
            prepare_out_dir(out_dir)
        if real_media:
            _run_real_media(loaded, topology, out_dir, duration, seed, as_json)
            return
        report = api.run(loaded, topology, seed=seed, duration_s=duration, force=force)
    result = report.runs[0]
    text = comparison_table(report) + "\n\n" + participants_table(result)
    _emit(report, loaded, as_json, out_dir, text)


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An error about the scenario raised past loading (a refusal, the budget, a trace
    that matches nothing at run time) still names its file; a flag's error does not."""
    try:
        yield
    except ScenarioError as exc:
        if exc.file is None and not (exc.field or "").startswith("--"):
            raise ScenarioError(exc.problem, file=str(path), field=exc.field) from None
        raise


def _run_real_media(scenario: Scenario, topology: str | None, out_dir: Path | None,
                    duration: float | None, seed: int | None, as_json: bool) -> None:
    if (topology or scenario.topology.kind) != "mcu":
        raise ScenarioError("--real-media runs the MCU only: add --topology mcu")
    if out_dir is None:
        raise ScenarioError("--real-media writes media files: give an output directory with -o DIR")
    result = run_real_media(scenario, out_dir, duration, seed)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        click.echo(printable(describe(result)))
        click.echo(f"\nwrote what each participant receives, and result.json, into {out_dir}")


@main.command()
@scenario_arg
@click.option("--topologies", default=",".join(TOPOLOGIES), show_default=True,
              help="Comma-separated topologies to compare.")
@seed_opt
@duration_opt
@json_opt
@out_opt
@force_opt
@click.option("--no-plots", is_flag=True, help=NO_PLOTS_HELP)
@one_line_errors
def compare(scenario: Path, topologies: str, seed: int | None, duration: float | None,
            as_json: bool, out_dir: Path | None, force: bool, no_plots: bool) -> None:
    """Run SCENARIO through several topologies and print them side by side (with -o, also
    draw the charts into DIR/charts)."""
    names = _topology_list(topologies)
    loaded = api.load_scenario(scenario)
    with _naming(scenario):
        api.plan(loaded, names, seed=seed, duration_s=duration, force=force)
        if out_dir is not None:
            prepare_out_dir(out_dir)
        report = api.compare(loaded, names, seed=seed, duration_s=duration, force=force)
    _emit(report, loaded, as_json, out_dir, comparison_table(report), plots=not no_plots)


@main.command()
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("roomsim-costs.json"), show_default=True, help="Profile file to write.")
@click.option("--quick", is_flag=True, help="Fewer frames and sizes: a rough profile in seconds.")
@one_line_errors
def calibrate(output: Path, quick: bool) -> None:
    """Measure codec, mixing and compositing CPU costs on this machine with real PyAV codecs
    and write a cost profile (use it with `costs: PATH` in a scenario)."""
    profile = run_calibrate(output, quick=quick)
    click.echo(f"wrote {output} (measured on {profile.machine.cpu}, PyAV {profile.machine.pyav})")
    for codec, table in profile.video.items():
        cells = ", ".join(f"{res} {cost.encode_us / 1000:.1f}/{cost.decode_us / 1000:.2f} ms"
                          for res, cost in table.items())
        click.echo(f"  {codec} encode/decode per frame: {cells}")
    for codec, cost in profile.audio.items():
        click.echo(f"  {codec} encode/decode per 20 ms frame: {cost.encode_us:.0f}/{cost.decode_us:.0f} us")


@main.command()
@scenario_arg
@one_line_errors
def validate(scenario: Path) -> None:
    """Check SCENARIO without running it."""
    loaded = api.load_scenario(scenario)
    people = sum(g.count for room in loaded.rooms for g in room.participants)
    click.echo(printable(f"{scenario}: ok ({len(loaded.rooms)} room(s), {people} participants, "
                         f"{len(loaded.nodes)} node(s))"))
    estimate = budget.estimate(loaded, TOPOLOGIES, loaded.duration_s)
    click.echo(f"estimate (upper bound): {estimate.line()}")
    with _naming(scenario):  # everything `roomsim run` would refuse before running
        api.plan(loaded, None)


main.add_command(sweep_with_plots(sweep_command), name="sweep")
main.add_command(plot_command)
main.add_command(report_command)
main.add_command(capacity_command, name="capacity")
main.add_command(agent_latency_command, name="agent-latency")


if __name__ == "__main__":
    main()
