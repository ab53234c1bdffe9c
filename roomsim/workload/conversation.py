"""Conversational talk-spurts: the people of a room take turns instead of tossing
independent coins.

ITU-T P.59's artificial conversation alternates talk-spurts (mean 1.004 s) with mutual
silences (0.508 s) and short double talk (0.228 s). Here one holder has the floor at a
time: it speaks a spurt (exponential, its `talk_mean_s`); then, with probability `hold_p`,
it keeps the floor and speaks again after a mutual silence (`gap_mean_s`); otherwise the
floor passes to another present participant chosen in proportion to `weight`, after a
mutual silence or, with probability `overlap_p`, starting `min(overlap, spurt)` before the
spurt ends (double talk, `overlap_mean_s`). The newcomer then speaks its own spurt counted
from the end of the previous one. All durations are exponential; the rules are a modelling
choice that reproduces P.59's durations, not its exact state chart.

The process drives `world.speaking`, the flag every topology's capture reads for Opus DTX
and every media node's speaker detector reads for audio levels, so mesh, MCU and SFU runs
see the same conversation. `speech_shares` gives each participant's long-run share of
speaking time for the closed forms.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
import simpy

from roomsim.scenario.media import VoiceActivity
from roomsim.scenario.scenario import Scenario
from roomsim.sim.rng import generator
from roomsim.workload.streams import Participant


class ConversationWorld(Protocol):
    """What a conversation reads and drives: the room's people and their speaking flags.
    The World (roomsim.workload.world) is one; it starts the conversations, so this module
    names only the attributes it uses instead of importing it."""

    @property
    def env(self) -> simpy.Environment: ...
    @property
    def seed(self) -> int: ...
    @property
    def scenario(self) -> Scenario: ...
    @property
    def participants(self) -> Sequence[Participant]: ...
    @property
    def room_members(self) -> Sequence[Sequence[int]]: ...
    @property
    def speaking(self) -> npt.NDArray[np.bool_]: ...
    @property
    def present(self) -> npt.NDArray[np.bool_]: ...


def start_conversations(world: ConversationWorld) -> None:
    """One conversation process per room that has `conversation` voices."""
    for r, members in enumerate(world.room_members):
        talkers = [i for i in members if world.participants[i].group.voice.model == "conversation"]
        if talkers:
            world.speaking[talkers] = False
            world.env.process(_conversation(world, r, talkers))


def _voice(world: ConversationWorld, i: int) -> VoiceActivity:
    return world.participants[i].group.voice


def _pick(rng: np.random.Generator, people: Sequence[int], weights: Sequence[float]) -> int:
    total = float(sum(weights))
    target = rng.random() * total
    for person, weight in zip(people, weights, strict=True):
        target -= weight
        if target < 0:
            return person
    return people[-1]


def _conversation(
    world: ConversationWorld, room: int, talkers: list[int]
) -> Generator[simpy.Event, None, None]:
    env, speaking = world.env, world.speaking
    rng = generator(world.seed, f"conversation:{world.scenario.rooms[room].id}")

    def candidates() -> list[int]:
        return [i for i in talkers if world.present[i] and _voice(world, i).weight > 0]

    holder = -1
    while True:
        present = candidates()
        if not present:
            holder = -1
            yield env.timeout(0.1)
            continue
        if holder not in present:
            holder = _pick(rng, present, [_voice(world, i).weight for i in present])
        voice = _voice(world, holder)
        speaking[holder] = True
        spurt = float(rng.exponential(voice.talk_mean_s))
        others = [i for i in present if i != holder]
        if not others or rng.random() < voice.hold_p:
            yield env.timeout(spurt)
            speaking[holder] = False
            yield env.timeout(float(rng.exponential(voice.gap_mean_s)))
            continue
        successor = _pick(rng, others, [_voice(world, i).weight for i in others])
        if rng.random() < voice.overlap_p:
            overlap = min(float(rng.exponential(voice.overlap_mean_s)), spurt)
            yield env.timeout(spurt - overlap)
            speaking[successor] = True
            yield env.timeout(overlap)
            speaking[holder] = False
        else:
            yield env.timeout(spurt)
            speaking[holder] = False
            yield env.timeout(float(rng.exponential(voice.gap_mean_s)))
        holder = successor


def speech_shares(voices: Sequence[VoiceActivity]) -> list[float]:
    """Long-run share of time each of a room's conversation members speaks (all present).

    The owner of successive spurts is a Markov chain: j keeps the floor with probability
    h_j, else passes to i with probability w_i / (W - w_j). Its stationary law solves to
    pi_i ~ w_i (W - w_i) / (1 - h_i). The time between two spurt ends averages
    sum_j pi_j (T_j + g_j G_j), g_j = h_j + (1 - h_j)(1 - o_j) being the chance the floor
    changes through a mutual silence; i speaks its own spurts (pi_i T_i) plus the double
    talk it starts, sum_{j != i} pi_j P(j->i) o_j E[min(O_j, T_j)].
    """
    weight = np.array([v.weight for v in voices], dtype=np.float64)
    share = np.zeros(len(voices))
    talkers = np.flatnonzero(weight > 0)
    if len(talkers) == 0:
        return share.tolist()
    if len(talkers) == 1:
        v = voices[int(talkers[0])]
        share[talkers[0]] = v.talk_mean_s / (v.talk_mean_s + v.gap_mean_s)
        return share.tolist()
    w = weight[talkers]
    total = w.sum()
    hold = np.array([voices[i].hold_p for i in talkers.tolist()])
    talk = np.array([voices[i].talk_mean_s for i in talkers.tolist()])
    gap = np.array([voices[i].gap_mean_s for i in talkers.tolist()])
    overlap_p = np.array([voices[i].overlap_p for i in talkers.tolist()])
    overlap = np.array([voices[i].overlap_mean_s for i in talkers.tolist()])
    pi = w * (total - w) / (1 - hold)
    pi /= pi.sum()
    through_gap = hold + (1 - hold) * (1 - overlap_p)
    cycle = float(np.sum(pi * (talk + through_gap * gap)))
    started = (1 - hold) * overlap_p * (overlap * talk / (overlap + talk)) / (total - w)
    double_talk = w * (float(np.sum(pi * started)) - pi * started)
    share[talkers] = (pi * talk + double_talk) / cycle
    return share.tolist()


def room_speech_shares(world: ConversationWorld) -> npt.NDArray[np.float64]:
    """Speech share of every participant whose voice is `conversation` (NaN for others),
    computed once per world."""
    cached: npt.NDArray[np.float64] | None = getattr(world, "_conversation_shares", None)
    if cached is None:
        cached = np.full(len(world.participants), np.nan)
        for members in world.room_members:
            talkers = [i for i in members if _voice(world, i).model == "conversation"]
            if talkers:
                cached[talkers] = speech_shares([_voice(world, i) for i in talkers])
        world._conversation_shares = cached  # type: ignore[attr-defined]
    return cached
