"""Voice agents and the users who talk to them, as simpy processes over the packet engine.

A user with `turns` speaks an utterance [s, e), stays silent until the agent's reply has
been heard, pauses, and speaks again. The agent hears the user's audio through the room
like any subscriber: the engine tells this runtime when each frame is played at the agent
(and at the user) through `World.play_listeners`.

One turn, and the stages its latency is split into (they add up exactly):

    e  the user stops speaking
    L  the agent plays the user's last speech frame       user_to_agent = L - e
    E  L + the endpointing silence, with no speech since  endpointing   = E - L
    G  E + STT final + LLM first token + TTS first audio  stt, llm_ttft, tts_ttfa
    P  the user plays the first frame of the reply        agent_to_user = P - G

Turn latency = P - e. Endpointing is evaluated at simulated time, from frames already
played: the agent cannot know a frame is the last until the silence after it has lasted.
Frame times are frame ends: a frame captured at t holds audio of [t - period, t).
"""

from __future__ import annotations

import bisect
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import simpy

from roomsim.results.models import AgentTurnResult, StageStats
from roomsim.scenario.agents import TURN_STAGES, AgentSpec, TurnTaking
from roomsim.sim.metrics import NS
from roomsim.sim.rng import generator
from roomsim.workload.world import AUDIO, World

#: How often the agent looks again while it has heard nothing of an utterance yet (its
#: VAD runs on 20 ms frames; a modelling choice for the polling step).
VAD_STEP_NS = 20_000_000


@dataclass
class Turn:
    """One user turn, filled in as it happens (ns)."""

    start: int
    end: int
    speech_plays: list[int] = field(default_factory=list)  # playout times at the agent
    heard: int = -1  # L
    endpoint: int = -1  # E
    reply: int = -1  # G
    reply_end: int = -1
    played: int = -1  # P
    stages_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class Conversation:
    """An agent and the user it listens to."""

    agent: int
    user: int
    spec: AgentSpec
    turns_spec: TurnTaking
    period_ns: int
    turns: list[Turn] = field(default_factory=list)
    utterance_done: simpy.Event | None = None
    reply_done: simpy.Event | None = None

    @property
    def current(self) -> Turn | None:
        return self.turns[-1] if self.turns else None


class AgentRuntime:
    """All conversations of one run."""

    def __init__(self, world: World) -> None:
        self.world = world
        ids = {p.id: i for i, p in enumerate(world.participants)}
        self.conversations: list[Conversation] = []
        for a, p in enumerate(world.participants):
            spec = p.group.agent
            if spec is None:
                continue
            u = ids[spec.listens_to]
            turns = world.participants[u].group.turns or TurnTaking()
            period = _audio_period_ns(world, u)
            self.conversations.append(Conversation(a, u, spec, turns, period))
        self.lone_users = [i for i, p in enumerate(world.participants)
                           if p.group.turns is not None and i not in {c.user for c in self.conversations}]
        n = len(world.participants)
        self._key_agent_hears = {c.agent * n + c.user: c for c in self.conversations}
        self._key_user_hears = {c.user * n + c.agent: c for c in self.conversations}
        self._keys = np.array(sorted({*self._key_agent_hears, *self._key_user_hears}), dtype=np.int64)
        for i in [*(c.agent for c in self.conversations), *(c.user for c in self.conversations), *self.lone_users]:
            world.schedule_speech(i, 0, 0)  # silent until their first interval
            world.speaking[i] = False
        world.play_listeners.append(self.on_played)

    # -- the engine tells us what was played ----------------------------------------------
    def on_played(self, sub: npt.NDArray[np.int64], source: npt.NDArray[np.int64], kind: npt.NDArray[np.integer],
                  capture: npt.NDArray[np.int64], playout: npt.NDArray[np.int64]) -> None:
        """Frames played somewhere: keep those of the user at its agent and back."""
        n = len(self.world.participants)
        key = sub.astype(np.int64) * n + source
        mine = np.isin(key, self._keys) & (kind == AUDIO)
        for k, c_t, p_t in zip(key[mine].tolist(), capture[mine].tolist(), playout[mine].tolist(), strict=True):
            conv = self._key_agent_hears.get(k)
            if conv is not None:
                turn = conv.current
                if turn is not None and turn.start < c_t and c_t - conv.period_ns < turn.end:
                    bisect.insort(turn.speech_plays, p_t)
                continue
            conv = self._key_user_hears[k]
            turn = conv.current
            if turn is not None and turn.reply >= 0 and turn.reply <= c_t < turn.reply_end \
                    and (turn.played < 0 or p_t < turn.played):
                turn.played = p_t

    # -- processes ------------------------------------------------------------------------
    def start(self) -> None:
        """One process per user and per agent."""
        env = self.world.env
        for conv in self.conversations:
            env.process(self._user(conv.user, conv))
            env.process(self._agent(conv))
        for u in self.lone_users:
            env.process(self._user(u, None))

    def _now_ns(self) -> int:
        return round(self.world.env.now * NS)

    def _user(self, u: int, conv: Conversation | None) -> Generator[simpy.Event, object, None]:
        w = self.world
        spec = w.participants[u].group.turns or TurnTaking()
        rng = generator(w.seed, f"turns:{w.participants[u].id}")
        start = round(spec.first_s * NS)
        while True:
            length = max(self._period_floor(conv), round(spec.utterance.draw_ms(rng) * 1e6))
            end = start + length
            w.schedule_speech(u, start, end)
            if conv is not None:
                conv.turns.append(Turn(start, end))
                conv.utterance_done = w.env.event()
                conv.reply_done = w.env.event()
            yield from self._speak(u, start, end)
            pause_ns = round(spec.pause_after_reply.draw_ms(rng) * 1e6)
            if conv is None:
                start = end + round(spec.reply_timeout_s * NS) + pause_ns
                continue
            assert conv.utterance_done is not None and conv.reply_done is not None
            conv.utterance_done.succeed()
            timeout = w.env.timeout(spec.reply_timeout_s)
            yield conv.reply_done | timeout
            turn = conv.turns[-1]
            if turn.reply_end >= 0:
                # the reply is heard until its end, delayed like its first frame
                back = turn.played - turn.reply if turn.played >= 0 else 0
                yield w.env.timeout(max(0.0, (turn.reply_end + back) / NS - w.env.now))
            start = self._now_ns() + pause_ns

    def _speak(self, i: int, start: int, end: int) -> Generator[simpy.Event, object, None]:
        """Keep `World.speaking` (read by speaker detection) in step with the schedule."""
        w = self.world
        yield w.env.timeout(max(0.0, start / NS - w.env.now))
        w.speaking[i] = True
        yield w.env.timeout(max(0.0, end / NS - w.env.now))
        w.speaking[i] = False

    def _period_floor(self, conv: Conversation | None) -> int:
        return conv.period_ns if conv is not None else 20_000_000

    def _agent(self, conv: Conversation) -> Generator[simpy.Event, object, None]:
        w = self.world
        spec = conv.spec
        name = w.participants[conv.agent].id
        rng = {stage: generator(w.seed, f"agent:{name}:{stage}") for stage in
               ("endpointing", "stt", "llm_ttft", "tts_ttfa", "reply")}
        while True:
            while conv.utterance_done is None:
                yield w.env.timeout(VAD_STEP_NS / NS)
            yield conv.utterance_done
            turn = conv.turns[-1]
            silence = round(spec.endpointing.draw_ms(rng["endpointing"]) * 1e6)
            waited = 0
            while True:  # endpointing: silence long enough after the last speech played
                now = self._now_ns()
                k = bisect.bisect_left(turn.speech_plays, now)
                if k == 0:
                    if waited > round(conv.turns_spec.reply_timeout_s * NS):
                        break
                    waited += VAD_STEP_NS
                    yield w.env.timeout(VAD_STEP_NS / NS)
                    continue
                last = turn.speech_plays[k - 1]
                if now < last + silence:
                    yield w.env.timeout((last + silence) / NS - w.env.now)
                    continue
                turn.heard = last
                turn.endpoint = last + silence
                break
            if turn.endpoint < 0:  # heard nothing of it: no reply
                conv.utterance_done = None
                continue
            stt = spec.stt.draw_ms(rng["stt"])
            llm = spec.llm_ttft.draw_ms(rng["llm_ttft"])
            tts = spec.tts_ttfa.draw_ms(rng["tts_ttfa"])
            turn.reply = turn.endpoint + round((stt + llm + tts) * 1e6)
            turn.reply_end = turn.reply + max(conv.period_ns, round(spec.reply_s.draw_ms(rng["reply"]) * 1e6))
            turn.stages_ms = {"user_to_agent": (turn.heard - turn.end) / 1e6, "endpointing": silence / 1e6,
                              "stt": stt, "llm_ttft": llm, "tts_ttfa": tts}
            w.schedule_speech(conv.agent, turn.reply, turn.reply_end)
            conv.utterance_done = None
            yield from self._speak(conv.agent, turn.reply, turn.reply_end)
            assert conv.reply_done is not None
            conv.reply_done.succeed()

    # -- results --------------------------------------------------------------------------
    def results(self) -> list[AgentTurnResult]:
        """Turns whose user stopped speaking inside the measurement interval."""
        w = self.world
        out = []
        for conv in self.conversations:
            done = [t for t in conv.turns if w.warmup_ns <= t.end < w.end_capture_ns and t.played >= 0]
            missed = sum(1 for t in conv.turns if w.warmup_ns <= t.end < w.end_capture_ns and t.played < 0
                         and t.end + round(conv.turns_spec.reply_timeout_s * NS) < w.end_capture_ns)
            totals = np.array([(t.played - t.end) / 1e6 for t in done])
            stages = {}
            for stage in TURN_STAGES:
                values = np.array([t.stages_ms.get(stage, (t.played - t.reply) / 1e6) for t in done])
                stages[stage] = _stats(values)
            spec = conv.spec
            out.append(AgentTurnResult(
                id=w.participants[conv.agent].id, listens_to=w.participants[conv.user].id,
                user_transport=w.participants[conv.user].group.transport.kind, turns=len(done),
                turn_latency_ms=_stats(totals), stages_ms=stages, budget_ms=spec.budget_ms,
                over_budget_pct=round(100.0 * float(np.mean(totals > spec.budget_ms)), 2) if len(totals) else None,
                turns_without_reply=missed))
        return out


def _stats(values: npt.NDArray[np.float64]) -> StageStats:
    if len(values) == 0:
        return StageStats(mean=None, p50=None, p95=None, p99=None)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return StageStats(mean=round(float(values.mean()), 3), p50=round(float(p50), 3), p95=round(float(p95), 3),
                      p99=round(float(p99), 3))


def _audio_period_ns(world: World, participant: int) -> int:
    """Frame period of a participant's first audio track (20 ms if it has none)."""
    for t, pub in enumerate(world.track_pub):
        if pub == participant and world.track_kind[t] == AUDIO:
            return round(world.streams.period_ns[world.track_streams[t][0]])
    return 20_000_000
