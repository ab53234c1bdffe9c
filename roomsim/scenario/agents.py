"""Scenario models for AI agents as participants and for users who talk in turns.

An agent is an ordinary participant (it joins, subscribes, publishes audio) whose
speech is decided by a pipeline: voice-activity endpointing, speech-to-text, an LLM's
time to first token and text-to-speech's time to first audio. Each stage takes a latency
distribution so a scenario can cite the figure it uses; defaults come from
docs/published-benchmarks.md sec. 2.3 (vendor and third-party figures, not standards).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator

from roomsim.scenario.frozen import Frozen

if TYPE_CHECKING:  # numpy only types a parameter: `validate` need not import it
    import numpy as np


class LatencyDist(Frozen):
    """A stage latency in milliseconds: `fixed` at the mean, or `normal` / `lognormal`
    with the given mean and standard deviation (normal draws are floored at 0)."""

    dist: Literal["fixed", "normal", "lognormal"] = "fixed"
    mean_ms: NonNegativeFloat
    sd_ms: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _shape(self) -> LatencyDist:
        if self.dist == "lognormal" and self.mean_ms <= 0:
            raise ValueError("a lognormal latency needs mean_ms > 0")
        return self

    def draw_ms(self, rng: np.random.Generator) -> float:
        """One draw, in ms (the generator is consumed once per draw, whatever the shape)."""
        u = float(rng.standard_normal())
        if self.dist == "fixed" or self.sd_ms == 0:
            return self.mean_ms
        if self.dist == "normal":
            return max(0.0, self.mean_ms + self.sd_ms * u)
        sigma2 = math.log(1 + (self.sd_ms / self.mean_ms) ** 2)
        return float(math.exp(math.log(self.mean_ms) - sigma2 / 2 + math.sqrt(sigma2) * u))


def _fixed(ms: float) -> LatencyDist:
    return LatencyDist(mean_ms=ms)


class Placement(Frozen):
    """Where the agent's process runs, as seen from the media node.

    `datacenter`: its own access network (default preset `datacenter`), plus `backbone_ms`
    one-way across a backbone hop when that datacenter is in another region than the media
    node. `media-node`: on the media server itself (loopback, no network at all). The hop
    is an extra one-way delay on both of the agent's links, so a regions graph can fill it
    in later from the shortest path between the two regions.
    """

    site: Literal["datacenter", "media-node"] = "datacenter"
    region: str | None = None
    backbone_ms: NonNegativeFloat = 0.0


class AgentSpec(Frozen):
    """A voice agent.

    * `listens_to`: the participant whose microphone it subscribes to (same room).
    * `dispatch_ms`: from the room's first participant joining to the agent joining.
      LiveKit states "a max dispatch time under 150 ms" (https://docs.livekit.io/agents/
      server/agent-dispatch.md, vendor claim).
    * `endpointing`: silence after the last speech heard before the turn is declared over.
      LiveKit Agents' default ``minDelay`` is 500 ms ("Minimum time ... since the last
      detected speech before the agent declares the user's turn complete",
      https://docs.livekit.io/reference/agents-js/interfaces/agents.voice.EndpointingOptions.html).
    * `stt`, `llm_ttft`, `tts_ttfa`: final transcript after the endpoint, LLM time to first
      token, TTS time to first audio. Defaults are mid-points of the cascaded-pipeline p50
      ranges in docs/published-benchmarks.md sec. 2.3 (callingscout.ai: STT final 80-150 ms,
      LLM TTFB 200-350 ms, TTS first chunk 150-250 ms; third-party, method unpublished).
    * `reply_s`: how long each spoken reply lasts.
    * `budget_ms`: the turn-latency budget reported against (~500 ms is an industry target,
      not a measured threshold: docs/published-benchmarks.md sec. 2.1).
    """

    listens_to: str = Field(min_length=1)
    dispatch_ms: NonNegativeFloat = 150.0
    placement: Placement = Placement()
    endpointing: LatencyDist = _fixed(500.0)
    stt: LatencyDist = _fixed(115.0)
    llm_ttft: LatencyDist = _fixed(275.0)
    tts_ttfa: LatencyDist = _fixed(200.0)
    reply_s: LatencyDist = _fixed(2500.0)
    budget_ms: PositiveFloat = 500.0


class TurnTaking(Frozen):
    """A user who speaks in turns: an utterance, then silence until the reply has been
    heard, then a pause, and again. Durations in ms (LatencyDist), `first_s` in seconds."""

    first_s: NonNegativeFloat = 3.0
    utterance: LatencyDist = LatencyDist(dist="normal", mean_ms=2000.0, sd_ms=500.0)
    pause_after_reply: LatencyDist = _fixed(700.0)
    reply_timeout_s: PositiveFloat = 10.0


#: The stages of a turn, in order; their durations add up to the turn latency exactly.
TURN_STAGES = ("user_to_agent", "endpointing", "stt", "llm_ttft", "tts_ttfa", "agent_to_user")
