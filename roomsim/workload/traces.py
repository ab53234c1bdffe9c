"""Time-varying network traces: link rate, delay, jitter and loss changed over time.

A link is a row of the link table; a trace is a simpy process that rewrites the row's
columns at the trace's step times, so every topology (and the SFU's bandwidth estimator)
sees capacity, RTT and loss move while a run goes on. Steps take effect at the first tick
boundary at or after their time (the engine moves packets one tick at a time); they are
applied just before that tick, so runs stay independent of the tick length whenever the
step times are multiples of it.
"""

from __future__ import annotations

from collections.abc import Generator
from fnmatch import fnmatchcase

import numpy as np
import numpy.typing as npt
import simpy

from roomsim.errors import ScenarioError
from roomsim.scenario.network import LinkTrace, TraceStep
from roomsim.sim.metrics import NS
from roomsim.sim.resources import LinkTable

#: How long before the tick boundary a step is applied: far below any packet's service
#: time, so the tick at the boundary already sees the new values.
_LEAD_NS = 1_000


def traced_links(links: LinkTable, pattern: str) -> npt.NDArray[np.int64]:
    """Indices of the links whose name matches a glob pattern."""
    return np.array(
        [i for i, name in enumerate(links.names) if fnmatchcase(name, pattern)], dtype=np.int64
    )


def start_traces(
    env: simpy.Environment, links: LinkTable, traces: list[LinkTrace], tick_ns: int, horizon_ns: int
) -> None:
    """Start one replay process per trace; a pattern matching no link is a scenario error."""
    for i, trace in enumerate(traces):
        matched = traced_links(links, trace.link)
        if len(matched) == 0:
            raise ScenarioError(
                f"no link matches {trace.link!r} (links are named like {links.names[0]!r})",
                field=f"traces[{i}].link",
            )
        env.process(_replay(env, links, matched, trace, tick_ns, horizon_ns))


def apply_step(links: LinkTable, rows: npt.NDArray[np.int64], step: TraceStep) -> None:
    """Set the columns a step names on the given links."""
    if step.rate_kbps is not None:
        links.rate_bps[rows] = step.rate_kbps * 1e3
    if step.delay_ms is not None:
        links.delay_ns[rows] = round(step.delay_ms * 1e6)
    if step.jitter_ms is not None:
        links.jitter_ns[rows] = step.jitter_ms * 1e6
    if step.loss_pct is not None:
        links.loss[rows] = step.loss_pct / 100


def _replay(
    env: simpy.Environment,
    links: LinkTable,
    rows: npt.NDArray[np.int64],
    trace: LinkTrace,
    tick_ns: int,
    horizon_ns: int,
) -> Generator[simpy.Event, None, None]:
    cycle = 0
    while True:
        for step in trace.steps:
            at = (cycle * (trace.repeat_s or 0.0) + step.at_s) * NS
            at_ns = -(-round(at) // tick_ns) * tick_ns
            if at_ns >= horizon_ns:
                return
            wait = (at_ns - _LEAD_NS) / NS - env.now
            if wait > 0:
                yield env.timeout(wait)
            apply_step(links, rows, step)
        if trace.repeat_s is None:
            return
        cycle += 1
