"""The `roomsim agent-latency SCENARIO` command (mounted by roomsim/cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from roomsim import api
from roomsim.agents.report import agent_latency_text, run_matrix
from roomsim.errors import ScenarioError
from roomsim.scenario.names import TOPOLOGIES
from roomsim.sim.jit_cache import announce_compiles

TRANSPORTS = ("webrtc", "websocket")


def _names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            raise ScenarioError(f"unknown value {name!r}; choose from {', '.join(allowed)}", field=option)
    return names


@click.command("agent-latency")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--topologies", default=",".join(TOPOLOGIES), show_default=True, help="Comma-separated topologies.")
@click.option("--transports", default=",".join(TRANSPORTS), show_default=True,
              help="Transports to give the turn-taking users, one run each.")
@click.option("--seed", type=int, default=None, help="Root seed (default: the scenario's).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Simulated seconds (default: the scenario's duration_s).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document, nothing else.")
@click.option("--chart", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the turn-latency waterfalls to this image file (e.g. turns.png).")
def agent_latency_command(scenario: Path, topologies: str, transports: str, seed: int | None,
                          duration: float | None, as_json: bool, chart: Path | None) -> None:
    """Turn latency of SCENARIO's voice agents, stage by stage, per topology and transport."""
    try:
        loaded = api.load_scenario(scenario)
        with announce_compiles(lambda line: click.echo(line, err=True)):
            cells, notes = run_matrix(loaded, _names(topologies, TOPOLOGIES, "--topologies"),
                                      _names(transports, TRANSPORTS, "--transports"), seed=seed,
                                      duration_s=duration)
    except ScenarioError as exc:
        click.echo(f"roomsim: {exc}", err=True)
        sys.exit(2)
    if chart is not None:
        from roomsim.analysis.waterfall import save, turn_waterfalls

        try:
            save(turn_waterfalls([(c.label, c.agent) for c in cells]), chart)
        except (OSError, ValueError) as exc:
            click.echo(f"roomsim: {chart}: cannot write the chart: {exc}", err=True)
            sys.exit(2)
    if as_json:
        click.echo(json.dumps({"scenario": loaded.name, "notes": notes, "runs": [
            {"topology": c.topology, "transport": c.transport, "agent": c.agent.model_dump()} for c in cells]},
            indent=2))
        return
    click.echo(agent_latency_text(loaded, cells, notes))
