"""Waterfall charts of latency: each stage a bar that starts where the previous one ended,
so the last bar ends at the total and a reader sees at once where the milliseconds go.

Bars are stage means (means add up to the mean total; percentiles do not). Two sources:
a run's media latency breakdown (`RunResult.latency_breakdown_ms`, per participant or
room-wide) and a voice agent's turn (`AgentTurnResult.stages_ms`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from roomsim.analysis.style import (  # noqa: E402
    BLACK,
    BLUE,
    ORANGE,
    PURPLE,
    SKY,
    VERMILLION,
    YELLOW,
    chart_style,
    new_figure,
    styled,
)
from roomsim.results.models import AgentTurnResult, RunResult, StageStats  # noqa: E402

MEDIA_LABELS = {"capture_encode": "capture + encode", "uplink": "uplink", "node": "node processing",
                "downlink": "downlink", "jitter_buffer": "jitter buffer", "decode": "decode"}
TURN_LABELS = {"user_to_agent": "user -> agent audio", "endpointing": "endpointing", "stt": "speech-to-text",
               "llm_ttft": "LLM first token", "tts_ttfa": "TTS first audio", "agent_to_user": "agent -> user audio"}


def draw_waterfall(ax: Axes, stages: Mapping[str, float], labels: Mapping[str, str] | None = None,
                   title: str = "", budget_ms: float | None = None) -> None:
    """Draw one waterfall on `ax`: stages top to bottom, then the total."""
    names = list(stages)
    values = [max(0.0, float(stages[n])) for n in names]
    starts = [sum(values[:k]) for k in range(len(values))]
    total = sum(values)
    rows = [(labels or {}).get(n, n) for n in names] + ["total"]
    colors = plt.get_cmap("tab10")
    for k, (start, value) in enumerate(zip(starts, values, strict=True)):
        ax.barh(k, value, left=start, color=colors(k % 10))
        ax.text(start + value + total * 0.01, k, f"{value:,.0f}", va="center", fontsize=8)
    ax.barh(len(values), total, color="0.3")
    ax.text(total * 1.01, len(values), f"{total:,.0f} ms", va="center", fontsize=8, fontweight="bold")
    if budget_ms is not None:
        ax.axvline(budget_ms, color="red", linestyle="--", linewidth=1, label=f"budget {budget_ms:,.0f} ms")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.set_yticks(range(len(rows)), rows)
    ax.invert_yaxis()
    ax.set_xlabel("ms (stage means)")
    ax.set_xlim(0, max(total, budget_ms or 0.0) * 1.18 or 1.0)
    ax.set_title(title, fontsize=10)


def _means(stages: Mapping[str, StageStats]) -> dict[str, float]:
    return {name: s.mean or 0.0 for name, s in stages.items()}


def media_waterfall(run: RunResult, kind: str = "audio", participant: str | None = None) -> Figure:
    """Capture-to-playout of one media kind, room-wide or for one receiver."""
    if participant is None:
        stages = run.latency_breakdown_ms.get(kind, {})
        who = "all receivers"
    else:
        found = next(p for p in run.participants if p.id == participant)
        stages = found.latency_breakdown_ms.get(kind, {})
        who = participant
    fig, ax = plt.subplots(figsize=(7, 3.2))
    draw_waterfall(ax, _means(stages), MEDIA_LABELS, f"{run.topology}: {kind} capture to playout, {who}")
    fig.tight_layout()
    return fig


#: Okabe-Ito colours per turn stage: the two network legs in blues, the AI stages warm.
TURN_COLORS = {"user_to_agent": SKY, "endpointing": YELLOW, "stt": ORANGE, "llm_ttft": VERMILLION,
               "tts_ttfa": PURPLE, "agent_to_user": BLUE}


def turn_rows(cells: Sequence[tuple[str, AgentTurnResult]]) -> dict[str, list[tuple[str, AgentTurnResult]]]:
    """The cells grouped by agent (one panel each), in first-seen order."""
    grouped: dict[str, list[tuple[str, AgentTurnResult]]] = {}
    for label, agent in cells:
        grouped.setdefault(agent.id, []).append((label, agent))
    return grouped


@styled
def turn_waterfalls(cells: Sequence[tuple[str, AgentTurnResult]]) -> Figure:
    """One panel per agent, one row per (label, agent result): the turn's stage means laid
    end to end (each starts where the one before ended, so the row ends at the mean turn
    latency), the budget as a dashed line, and the turn's p95 and share over budget."""
    grouped = turn_rows(cells)
    rows = sum(len(v) for v in grouped.values())
    fig = new_figure(15, 2.2 + 0.62 * rows + 1.3 * len(grouped))
    axes = fig.subplots(len(grouped), 1, squeeze=False, sharex=True,
                        height_ratios=[len(v) for v in grouped.values()])[:, 0]
    longest = max((sum(max(0.0, s.mean or 0.0) for s in a.stages_ms.values()) for _, a in cells),
                  default=0.0)
    budget = max((a.budget_ms for _, a in cells), default=0.0)
    for ax, (agent_id, mine) in zip(axes, grouped.items(), strict=True):
        for row, (label, agent) in enumerate(mine):
            start = 0.0
            for stage, color in TURN_COLORS.items():
                value = max(0.0, agent.stages_ms[stage].mean or 0.0) if stage in agent.stages_ms else 0.0
                ax.barh(row, value, left=start, color=color, edgecolor="white", height=0.72,
                        gid=f"turn:{agent_id}:{label}:{stage}")
                if value >= 45:
                    ax.text(start + value / 2, row, f"{value:,.0f}", ha="center", va="center",
                            fontsize=12, color="white" if color in (BLUE, VERMILLION, PURPLE) else "black")
                start += value
            over = "-" if agent.over_budget_pct is None else f"{agent.over_budget_pct:.0f} %"
            p95 = agent.turn_latency_ms.p95
            ax.text(start + longest * 0.01, row, f"{start:,.0f} ms  (p95 {p95:,.0f}; {over} over)"
                    if p95 is not None else f"{start:,.0f} ms", va="center", fontsize=13,
                    fontweight="bold")
        ax.axvline(mine[0][1].budget_ms, color=BLACK, linestyle="--", linewidth=2,
                   gid=f"budget:{agent_id}")
        ax.text(mine[0][1].budget_ms, -0.62, f" budget {mine[0][1].budget_ms:,.0f} ms", fontsize=13,
                va="bottom")
        ax.set_yticks(range(len(mine)), [label for label, _ in mine])
        ax.set_ylim(len(mine) - 0.4, -0.75)
        ax.set_title(f"{agent_id}, listening to {mine[0][1].listens_to}: "
                     f"{mine[0][1].turns} turns a run", loc="left", fontsize=16)
        ax.grid(axis="y", visible=False)
    axes[-1].set_xlabel("ms from the user's last word to the agent's first audio at the user (stage means)")
    axes[-1].set_xlim(0, max(longest, budget) * 1.38 or 1.0)
    handles = [Patch(color=c, label=TURN_LABELS[s]) for s, c in TURN_COLORS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=6, frameon=False, fontsize=12)
    fig.suptitle("Voice agent turn latency, stage by stage")
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write a figure (format from the suffix) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with chart_style():
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
