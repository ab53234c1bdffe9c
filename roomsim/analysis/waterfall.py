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

from roomsim.results import AgentTurnResult, RunResult, StageStats  # noqa: E402

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


def turn_waterfalls(cells: Sequence[tuple[str, AgentTurnResult]]) -> Figure:
    """One turn-latency waterfall per (label, agent result), stacked, same x scale."""
    fig, axes = plt.subplots(len(cells), 1, figsize=(7, 2.6 * len(cells)), squeeze=False, sharex=True)
    for ax, (label, agent) in zip(axes[:, 0], cells, strict=True):
        draw_waterfall(ax, _means(agent.stages_ms), TURN_LABELS, f"{label}: agent {agent.id}, {agent.turns} turns",
                       agent.budget_ms)
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write a figure (format from the suffix) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
