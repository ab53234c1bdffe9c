"""The `--gate-loss/--gate-latency/--gate-cpu` options every command that judges runs takes
(`run`, `compare`, `plot`, `report`). Only click here: `roomsim --help` stays light."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def gate_options(func: F) -> F:
    """Add the three gate options (None when not given: the scenario's or default gate)."""
    options = [
        click.option("--gate-loss", type=click.FloatRange(min=0, min_open=True), default=None,
                     metavar="PCT", help="Quality gate: most packet loss, % (default 2)."),
        click.option("--gate-latency", type=click.FloatRange(min=0, min_open=True), default=None,
                     metavar="MS", help="Quality gate: highest latency p95, ms (default 150)."),
        click.option("--gate-cpu", type=click.FloatRange(min=0, min_open=True, max=100),
                     default=None, metavar="PCT",
                     help="Quality gate: busiest CPU, % of cores or budget (default 80)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func
