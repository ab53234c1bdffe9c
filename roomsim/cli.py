"""The `roomsim` command: thin — parse, call the API, print or write.

Each command imports what it needs when it runs, so `roomsim --help`, `--version` and
`validate` answer without loading the engine (numba, simpy, matplotlib): the commands
defined elsewhere are listed from a table and imported only when called.

Bad input of any kind ends in one line on stderr and exit status 2, never a traceback;
click's usage errors too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from roomsim.commands.gate_options import gate_options
from roomsim.errors import ScenarioError, one_line_errors, printable

if TYPE_CHECKING:
    from roomsim.results.models import Report
    from roomsim.scenario.gate import QualityGate
    from roomsim.scenario.scenario import Scenario

TOPOLOGIES = ("mesh", "mcu", "sfu")  # roomsim.scenario.names.TOPOLOGIES, without importing it
SHOWN_WARNINGS = 8  # per topology under the table; a 1,000-person room would scroll away


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roomsim")
    except PackageNotFoundError:  # a source tree without an install
        return "0+unknown"


def _sweep() -> click.Command:
    from roomsim.analysis.commands import sweep_with_plots
    from roomsim.sweep.cli import sweep_command

    return sweep_with_plots(sweep_command)


def _plot() -> click.Command:
    from roomsim.analysis.commands import plot_command

    return plot_command


def _report() -> click.Command:
    from roomsim.analysis.commands import report_command

    return report_command


def _capacity() -> click.Command:
    from roomsim.capacity.search import capacity_command

    return capacity_command


def _agent_latency() -> click.Command:
    from roomsim.agents.cli import agent_latency_command

    return agent_latency_command


#: Commands defined in other modules: name -> (one-line help, loader). Listed by --help
#: from here; imported only when run.
LAZY_COMMANDS: dict[str, tuple[str, Callable[[], click.Command]]] = {
    "sweep": ("Run every point of a sweep file (grid x seeds) and draw its charts.", _sweep),
    "plot": ("Draw the charts of stored results (a run, a compare or a sweep).", _plot),
    "report": ("Write one HTML page about stored results: question, findings, charts.", _report),
    "capacity": ("Find the largest room (or rooms per node) that passes the quality gate.",
                 _capacity),
    "agent-latency": ("Turn latency of SCENARIO's voice agents, stage by stage.", _agent_latency),
}


class LazyGroup(click.Group):
    """A group whose listed commands load on first use, and whose usage errors are one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            return LAZY_COMMANDS[cmd_name][1]()
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(60)) for name, cmd in self.commands.items()]
        rows += [(name, text) for name, (text, _) in LAZY_COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.pop("standalone_mode", None)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            path = exc.ctx.command_path.split() if exc.ctx else ["roomsim"]
            command = " ".join(path[1:])  # "compare", or "" for the group itself
            hint = f" (see '{' '.join(['roomsim', *path[1:]])} --help')"
            text = f"roomsim: {command + ': ' if command else ''}{exc.format_message()}{hint}"
            click.echo(printable(text.replace("\n", " ")), err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(printable(f"roomsim: {exc.format_message()}".replace("\n", " ")), err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("roomsim: aborted", err=True)
            sys.exit(1)


def _main_result(value: Any) -> None:
    """standalone_mode=False returns the exit code of --help/--version; pass it on."""
    if isinstance(value, int) and value != 0:
        sys.exit(value)


def _topology_list(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        if name not in TOPOLOGIES:
            raise ScenarioError(f"unknown topology {name!r}; choose from {', '.join(TOPOLOGIES)}",
                                field="--topologies")
    return names


def _progress(as_json: bool) -> Callable[[str, float], AbstractContextManager[Callable[[float], None]]] | None:
    """A tqdm bar per topology in simulated seconds, on a terminal only (not on a pipe,
    not with --json), shown once a run has taken 2 s."""
    if as_json or not sys.stderr.isatty():
        return None
    import time

    from tqdm import tqdm

    started = time.monotonic()

    @contextmanager
    def bar(topology: str, total_s: float) -> Iterator[Callable[[float], None]]:
        # the 2 s count from the command's start: a long compare shows every topology's bar
        delay = max(0.0, 2.0 - (time.monotonic() - started))
        with tqdm(total=round(total_s, 1), desc=f"{topology:>4}", unit="sim s", delay=delay,
                  leave=False, file=sys.stderr, bar_format="{desc}: {bar} {n:.1f}/{total:g} "
                  "simulated s [{elapsed}<{remaining}]") as shown:
            def update(simulated_s: float) -> None:
                shown.update(round(min(simulated_s, total_s), 1) - shown.n)
            yield update

    return bar


def _simulate(scenario: Scenario, source: Path | None, topologies: list[str], seed: int | None,
              duration: float | None, as_json: bool, out_dir: Path | None, force: bool) -> Report:
    """Check everything a run would refuse (flags, topologies, the resource budget, the
    output directory) before simulating, then run with progress and a compile notice."""
    from roomsim import api
    from roomsim.commands.outputs import prepare_out_dir
    from roomsim.sim.jit_cache import announce_compiles

    with _naming(source):
        api.plan(scenario, topologies, seed=seed, duration_s=duration, force=force)
        if out_dir is not None:
            prepare_out_dir(out_dir)
        with announce_compiles(lambda line: click.echo(line, err=True)):
            return api.compare(scenario, topologies, seed=seed, duration_s=duration,
                               progress=_progress(as_json), force=force)


@contextmanager
def _naming(path: Path | None) -> Iterator[None]:
    """An error about the scenario raised past loading (a refusal, the budget, a trace
    that matches nothing at run time) still names its file; a flag's error does not."""
    try:
        yield
    except ScenarioError as exc:
        if path is not None and exc.file is None and not (exc.field or "").startswith("--"):
            raise ScenarioError(exc.problem, file=str(path), field=exc.field) from None
        raise


def _gate(scenario: Scenario, loss: float | None, latency: float | None, cpu: float | None) -> QualityGate:
    from roomsim.scenario.gate import QualityGate

    return (scenario.gate or QualityGate()).overridden(loss, latency, cpu)


def _emit(report: Report, scenario: Scenario, gate: QualityGate, as_json: bool, out_dir: Path | None,
          text: str, plots: bool = False) -> None:
    from roomsim.results.gate import judge, network_names

    networks = network_names(scenario)
    verdicts = [judge(run, gate, networks) for run in report.runs]
    if out_dir is not None:
        from roomsim.analysis.experiment import write_scenario_file
        from roomsim.results.models import write_report

        write_report(report, out_dir)
        write_scenario_file(scenario, out_dir)
    if as_json:
        import json

        data = report.model_dump(mode="json")
        data["gate"] = gate.model_dump()
        for run, verdict in zip(data["runs"], verdicts, strict=True):
            run["verdict"] = verdict.as_dict()
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(printable(text))
        if out_dir is not None:
            click.echo(f"\nwrote {out_dir}/report.json, scenario.yaml, participants.csv, "
                       "servers.csv")
        click.echo(f"\nverdict (gate: {gate.describe()}; CPU is the busiest node's or device's "
                   "share of its cores or budget):")
        for verdict in verdicts:
            click.echo(f"  {verdict.line()}")
            for warning in verdict.warnings[:SHOWN_WARNINGS]:
                click.echo(f"    warning: {warning}")
            if len(verdict.warnings) > SHOWN_WARNINGS:
                click.echo(f"    ... and {len(verdict.warnings) - SHOWN_WARNINGS} more warnings "
                           "(all of them in --json)")
    if out_dir is not None and plots:
        from roomsim.analysis.commands import plots_after_run

        plots_after_run(out_dir, quiet=as_json)


def _scenario_or_calculator(scenario: Path | None, people: int | None, video: str | None,
                            network: str | None, device: str | None) -> Scenario:
    """The scenario file, or (no file) the calculator's scenario from the flags: the same
    mapping `roomsim new` writes, validated the same way."""
    asked = {"people": people, "video": video, "network": network, "device": device}
    given = {k: v for k, v in asked.items() if v is not None}
    if scenario is not None:
        if given:
            flags = ", ".join(f"--{k}" for k in given)
            raise ScenarioError(f"{flags} build a scenario of their own: give a SCENARIO file or "
                                "the flags, not both", file=str(scenario))
        from roomsim.scenario.load import load_scenario

        return load_scenario(scenario)
    if not given:
        raise ScenarioError("give a SCENARIO file, or ask with flags: --people N [--video 720p] "
                            "[--network wifi] [--device laptop]")
    from roomsim.commands.starter import starter_data
    from roomsim.scenario.load import scenario_from_dict

    return scenario_from_dict(starter_data(**given), source="flags")


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


def calculator_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The questions of the calculator mode and of `roomsim new`."""
    from roomsim.commands.starter import VIDEO_CHOICES
    from roomsim.scenario.devices import DEVICE_PRESETS
    from roomsim.scenario.netprofiles import NETWORK_PRESETS

    options = [
        click.option("--people", type=click.IntRange(min=1), default=None,
                     help="Participants in the one room (no SCENARIO file needed)."),
        click.option("--video", type=click.Choice(VIDEO_CHOICES), default=None,
                     help="Camera resolution of each participant, or none (default 720p)."),
        click.option("--network", type=click.Choice(list(NETWORK_PRESETS)), default=None,
                     help="Everyone's access network preset (default wifi)."),
        click.option("--device", type=click.Choice(list(DEVICE_PRESETS)), default=None,
                     help="Everyone's device preset (default laptop)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"roomsim, version {_version()}")  # read only when asked (~50 ms)
        ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
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
@gate_options
@force_opt
@click.option("--real-media", is_flag=True,
              help="MCU only: decode, mix and re-encode real media with PyAV; writes what each "
                   "participant receives, per-stage CPU and PSNR/SSIM into -o DIR.")
@one_line_errors
def run(scenario: Path, topology: str | None, seed: int | None, duration: float | None,
        as_json: bool, out_dir: Path | None, gate_loss: float | None, gate_latency: float | None,
        gate_cpu: float | None, force: bool, real_media: bool) -> None:
    """Run one topology on SCENARIO, print per-participant results and a PASS/FAIL verdict."""
    from roomsim.scenario.load import load_scenario

    loaded = load_scenario(scenario)
    if real_media:
        from roomsim import api
        from roomsim.commands.outputs import prepare_out_dir

        with _naming(scenario):
            api.plan(loaded, [topology or loaded.topology.kind], seed=seed, duration_s=duration,
                     force=force)
            if out_dir is not None:
                prepare_out_dir(out_dir)
            _run_real_media(loaded, topology, out_dir, duration, seed, as_json)
        return
    gate = _gate(loaded, gate_loss, gate_latency, gate_cpu)
    report = _simulate(loaded, scenario, [topology or loaded.topology.kind], seed, duration, as_json,
                       out_dir, force)
    from roomsim.analysis.table import comparison_table, participants_table

    text = comparison_table(report) + "\n\n" + participants_table(report.runs[0])
    _emit(report, loaded, gate, as_json, out_dir, text)


def _run_real_media(scenario: Scenario, topology: str | None, out_dir: Path | None,
                    duration: float | None, seed: int | None, as_json: bool) -> None:
    if (topology or scenario.topology.kind) != "mcu":
        raise ScenarioError("--real-media runs the MCU only: add --topology mcu")
    if out_dir is None:
        raise ScenarioError("--real-media writes media files: give an output directory with -o DIR")
    from roomsim.analysis.realmedia_text import describe
    from roomsim.run.media_run import run_real_media

    result = run_real_media(scenario, out_dir, duration, seed)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        click.echo(printable(describe(result)))
        click.echo(f"\nwrote what each participant receives, and result.json, into {out_dir}")


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@calculator_options
@click.option("--topologies", default=",".join(TOPOLOGIES), show_default=True,
              help="Comma-separated topologies to compare.")
@seed_opt
@duration_opt
@json_opt
@out_opt
@gate_options
@force_opt
@click.option("--no-plots", is_flag=True, help="Do not draw charts into the output directory.")
@one_line_errors
def compare(scenario: Path | None, people: int | None, video: str | None, network: str | None,
            device: str | None, topologies: str, seed: int | None, duration: float | None,
            as_json: bool, out_dir: Path | None, gate_loss: float | None, gate_latency: float | None,
            gate_cpu: float | None, force: bool, no_plots: bool) -> None:
    """Run SCENARIO through several topologies, print them side by side and a PASS/FAIL
    verdict each (with -o, also draw the charts into DIR/charts). Without a file, ask with
    flags: `roomsim compare --people 8 --video 720p --network wifi`."""
    names = _topology_list(topologies)
    loaded = _scenario_or_calculator(scenario, people, video, network, device)
    gate = _gate(loaded, gate_loss, gate_latency, gate_cpu)
    report = _simulate(loaded, scenario, names, seed, duration, as_json, out_dir, force)
    from roomsim.analysis.table import comparison_table

    _emit(report, loaded, gate, as_json, out_dir, comparison_table(report), plots=not no_plots)


@main.command(name="new")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@calculator_options
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@one_line_errors
def new(file: Path, people: int | None, video: str | None, network: str | None,
        device: str | None, force: bool) -> None:
    """Write a commented starter scenario to FILE (one room; the flags fill it in)."""
    from roomsim.commands.starter import DEFAULTS, starter_text

    if file.exists() and not force:
        raise ScenarioError("exists already (add --force to overwrite)", file=str(file))
    asked = {"people": people, "video": video, "network": network, "device": device}
    answers = {**DEFAULTS, **{k: v for k, v in asked.items() if v is not None}}
    try:
        file.write_text(starter_text(**answers, file=str(file)))
    except OSError as exc:
        raise ScenarioError(f"cannot write: {exc.strerror or exc}", file=str(file)) from None
    click.echo(f"wrote {file}: {answers['people']} people, {answers['video']} video, "
               f"{answers['network']}; next: roomsim compare {file}")


@main.command()
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("roomsim-costs.json"), show_default=True, help="Profile file to write.")
@click.option("--quick", is_flag=True, help="Fewer frames and sizes: a rough profile in seconds.")
@one_line_errors
def calibrate(output: Path, quick: bool) -> None:
    """Measure codec, mixing and compositing CPU costs on this machine with real PyAV codecs
    and write a cost profile (use it with `costs: PATH` in a scenario)."""
    from roomsim.codecs.calibrate import run_calibrate

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
    """Check SCENARIO without running it: everything `run` would refuse, and what a run
    would need (an upper bound)."""
    from roomsim import api
    from roomsim.run import budget
    from roomsim.scenario.load import load_scenario

    loaded = load_scenario(scenario)
    people = sum(g.count for room in loaded.rooms for g in room.participants)
    click.echo(printable(f"{scenario}: ok ({len(loaded.rooms)} room(s), {people} participants, "
                         f"{len(loaded.nodes)} node(s))"))
    estimate = budget.estimate(loaded, TOPOLOGIES, loaded.duration_s)
    click.echo(f"estimate (upper bound): {estimate.line()}")
    with _naming(scenario):  # everything `roomsim run` would refuse before running
        api.plan(loaded, None)


def entry() -> None:
    """The console script: click's group, its exit code passed on."""
    _main_result(main(prog_name="roomsim"))


if __name__ == "__main__":
    entry()
