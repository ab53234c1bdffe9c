"""`roomsim agent-latency`: the turn-latency breakdown of every voice agent, for each
topology and each user transport, and a plain-words reading computed from the figures.

The same scenario is run once per (topology, transport): the transport of every user who
talks in turns is set to each transport in turn, everything else stays as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from roomsim import api
from roomsim.analysis.table import render
from roomsim.errors import ScenarioError
from roomsim.results.models import AgentTurnResult
from roomsim.scenario.agents import TURN_STAGES
from roomsim.scenario.load import scenario_from_dict
from roomsim.scenario.scenario import Scenario

STAGE_LABELS = {
    "user_to_agent": "user -> agent audio",
    "endpointing": "endpointing silence",
    "stt": "speech-to-text final",
    "llm_ttft": "LLM first token",
    "tts_ttfa": "TTS first audio",
    "agent_to_user": "agent -> user audio",
}
NETWORK_STAGES = ("user_to_agent", "agent_to_user")


@dataclass(frozen=True)
class Cell:
    """One agent's turns in one (topology, transport) run."""

    topology: str
    transport: str
    agent: AgentTurnResult

    @property
    def label(self) -> str:
        return f"{self.topology}/{self.transport}"


def with_user_transport(scenario: Scenario, transport: str) -> Scenario:
    """The scenario with every turn-taking user on `transport`."""
    raw = scenario.model_dump(mode="json", exclude_unset=False)
    for room in raw["rooms"]:
        for group in room["participants"]:
            if group.get("turns") is not None:
                group["transport"] = {**group["transport"], "kind": transport}
    return scenario_from_dict(raw, source=scenario.name)


def run_matrix(scenario: Scenario, topologies: Sequence[str], transports: Sequence[str], *,
               seed: int | None = None, duration_s: float | None = None) -> tuple[list[Cell], list[str]]:
    """Run every (topology, transport); returns the cells and notes on skipped runs."""
    if not any(g.agent is not None for room in scenario.rooms for g in room.participants):
        raise ScenarioError("no participant of kind agent: nothing to measure", field="rooms")
    e2ee = any(g.e2ee for room in scenario.rooms for g in room.participants)
    cells: list[Cell] = []
    notes: list[str] = []
    for topology in topologies:
        if topology == "mcu" and e2ee:
            notes.append("mcu skipped: end-to-end encrypted media cannot be mixed by a server")
            continue
        for transport in transports:
            variant = with_user_transport(scenario, transport)
            report = api.run(variant, topology, seed=seed, duration_s=duration_s)
            cells.extend(Cell(topology, transport, a) for a in report.runs[0].agents)
    return cells, notes


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def breakdown_table(cells: Sequence[Cell]) -> str:
    """Mean ms per stage (means add up to the mean turn), then the turn's percentiles."""
    rows: list[tuple[str, list[str]]] = []
    for stage in TURN_STAGES:
        rows.append((STAGE_LABELS[stage], [_ms(c.agent.stages_ms[stage].mean) for c in cells]))
    rows.append(("= turn latency, mean", [_ms(c.agent.turn_latency_ms.mean) for c in cells]))
    rows.append(("  turn latency, p50", [_ms(c.agent.turn_latency_ms.p50) for c in cells]))
    rows.append(("  turn latency, p95", [_ms(c.agent.turn_latency_ms.p95) for c in cells]))
    rows.append(("  over budget, % of turns", [_ms(c.agent.over_budget_pct) for c in cells]))
    rows.append(("  turns measured", [str(c.agent.turns) for c in cells]))
    return render(["stage, ms (mean)", *(c.label for c in cells)], rows)


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole > 0 else "-"


def reading(cells: Sequence[Cell]) -> list[str]:
    """Plain-words findings, every one computed from the figures in the table."""
    lines: list[str] = []
    measured = [c for c in cells if c.agent.turn_latency_ms.mean is not None]
    for c in measured:
        stages = {s: c.agent.stages_ms[s].mean or 0.0 for s in TURN_STAGES}
        total = c.agent.turn_latency_ms.mean or 0.0
        ranked = sorted(stages, key=lambda s: stages[s], reverse=True)
        first, second = ranked[0], ranked[1]
        network = sum(stages[s] for s in NETWORK_STAGES)
        budget = c.agent.budget_ms
        lines.append(
            f"{c.label}: a turn takes {total:,.0f} ms on average; the largest stage is the "
            f"{STAGE_LABELS[first]} ({stages[first]:,.0f} ms, {_share(stages[first], total)}), then the "
            f"{STAGE_LABELS[second]} ({stages[second]:,.0f} ms, {_share(stages[second], total)}); moving "
            f"audio both ways costs {network:,.0f} ms ({_share(network, total)}); "
            f"{c.agent.over_budget_pct:.0f} % of turns exceed the {budget:,.0f} ms budget.")
    if len(measured) > 1:
        best = min(measured, key=lambda c: c.agent.turn_latency_ms.mean or 0.0)
        worst = max(measured, key=lambda c: c.agent.turn_latency_ms.mean or 0.0)
        gap = (worst.agent.turn_latency_ms.mean or 0.0) - (best.agent.turn_latency_ms.mean or 0.0)
        lines.append(f"Fastest: {best.label}; slowest: {worst.label}, {gap:,.0f} ms more a turn.")
        for topology in dict.fromkeys(c.topology for c in measured):
            pair = {c.transport: c for c in measured if c.topology == topology}
            if "webrtc" in pair and "websocket" in pair:
                delta = (pair["websocket"].agent.turn_latency_ms.mean or 0.0) \
                    - (pair["webrtc"].agent.turn_latency_ms.mean or 0.0)
                tail = (pair["websocket"].agent.turn_latency_ms.p95 or 0.0) \
                    - (pair["webrtc"].agent.turn_latency_ms.p95 or 0.0)
                word = "adds" if delta >= 0 else "saves"
                lines.append(f"In {topology}, WebSocket/TCP instead of WebRTC {word} {abs(delta):,.0f} ms a turn on "
                             f"average and {tail:+,.0f} ms at p95.")
    return lines


def agent_latency_text(scenario: Scenario, cells: Sequence[Cell], notes: Sequence[str]) -> str:
    """The command's whole output."""
    agents = sorted({c.agent.id for c in cells})
    parts = [f"{scenario.name}: turn latency = user stops speaking -> agent audio starts playing at the user"]
    for agent in agents:
        mine = [c for c in cells if c.agent.id == agent]
        parts.append(f"\nagent {agent} (listens to {mine[0].agent.listens_to})\n")
        parts.append(breakdown_table(mine))
        parts.append("")
        parts.extend(reading(mine))
    parts.extend(f"note: {n}" for n in notes)
    return "\n".join(parts)
