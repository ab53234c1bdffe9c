"""Rooms generated from a RoomSet: sizes, start and stay times drawn from distributions.

Draws come from one generator per room set, keyed by the set's id and the seed (the
`sim.rng` policy), so the same file and seed always give the same rooms, and editing one
set leaves the other sets' rooms unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from roomsim.scenario.models import Distribution, ParticipantGroup, Room, RoomSet
from roomsim.sim.rng import generator


def draw(dist: Distribution, rng: np.random.Generator) -> float:
    """One draw from a distribution, clamped to its [min, max]."""
    if dist.kind == "fixed":
        value = float(dist.value)  # type: ignore[arg-type]
    elif dist.kind == "uniform":
        value = float(rng.uniform(dist.low, dist.high))  # type: ignore[arg-type]
    elif dist.kind == "lognormal":
        value = float(dist.median) * math.exp(float(dist.sigma) * float(rng.standard_normal()))  # type: ignore[arg-type]
    elif dist.kind == "poisson":
        value = float(rng.poisson(dist.mean))  # type: ignore[arg-type]  # validated: set for poisson
    elif dist.kind == "exponential":
        value = float(rng.exponential(dist.mean))  # type: ignore[arg-type]  # validated: set
    else:
        values = np.asarray(dist.values, dtype=np.float64)
        weights = np.asarray(dist.weights if dist.weights is not None else np.ones(len(values)))
        value = float(values[rng.choice(len(values), p=weights / weights.sum())])
    if dist.min is not None:
        value = max(value, dist.min)
    if dist.max is not None:
        value = min(value, dist.max)
    return value


def generate_rooms(spec: RoomSet, seed: int) -> list[Room]:
    """The rooms of one set; participant ids are {room}.{group id}[-i]."""
    rng = generator(seed, f"room-set:{spec.id}")
    rooms = []
    for k in range(1, spec.count + 1):
        room_id = f"{spec.id}-{k}"
        size = max(1, round(draw(spec.size, rng)))
        start = max(0.0, draw(spec.start_s, rng))
        stay = draw(spec.stay_s, rng) if spec.stay_s is not None else None
        groups = [_member(spec.participant, room_id, size, start, stay)]
        groups += [_member(g, room_id, g.count, start, stay) for g in spec.extra]
        rooms.append(Room(id=room_id, node=spec.node, participants=groups))
    return rooms


def _member(
    group: ParticipantGroup, room_id: str, count: int, start: float, stay: float | None
) -> ParticipantGroup:
    join = start + group.join_s
    leave = group.leave_s + start if group.leave_s is not None else None
    if stay is not None:
        leave = min(leave, start + stay) if leave is not None else start + stay
    if leave is not None and leave <= join:
        leave = join + 1e-3
    return group.model_copy(
        update={"id": f"{room_id}.{group.id}", "count": count, "join_s": join, "leave_s": leave}
    )
