"""Rooms generated from a RoomSet: sizes, start and stay times drawn from distributions.

Draws come from one generator per room set, keyed by the set's id and the seed (the
`sim.rng` policy), so the same file and seed always give the same rooms, and editing one
set leaves the other sets' rooms unchanged.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from roomsim.scenario.frozen import Frozen
from roomsim.scenario.participants import ParticipantGroup, Room
from roomsim.sim.rng import generator


class Distribution(Frozen):
    """A number drawn per item: fixed `value`; uniform over [low, high]; lognormal with
    `median` and `sigma`; poisson or exponential with `mean`; or one of `values` with
    `weights`. Draws are clamped to [min, max]."""

    kind: Literal["fixed", "uniform", "lognormal", "poisson", "exponential", "choice"] = "fixed"
    value: float | None = None
    low: float | None = None
    high: float | None = None
    median: PositiveFloat | None = None
    sigma: NonNegativeFloat | None = None
    mean: PositiveFloat | None = None
    values: list[float] | None = None
    weights: list[NonNegativeFloat] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_parameters(self) -> Distribution:
        need = {"fixed": ("value",), "uniform": ("low", "high"), "lognormal": ("median", "sigma"),
                "poisson": ("mean",), "exponential": ("mean",), "choice": ("values",)}[self.kind]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} distribution needs {', '.join(missing)}")
        if self.kind == "uniform" and self.high < self.low:  # type: ignore[operator]
            raise ValueError("high must not be below low")
        values = self.values or []
        if self.weights is not None and len(self.weights) != len(values):
            raise ValueError("weights need one entry per value")
        return self


class RoomSet(Frozen):
    """`count` rooms generated from distributions, deterministically by seed: each room has
    `size` participants made from `participant` (its `count` is ignored) plus the fixed
    `extra` groups, all joining at the room's `start_s` (plus their own join_s) and, with
    `stay_s`, leaving that long after. Rooms are named {id}-1 .. {id}-count."""

    id: str = Field(min_length=1)
    count: PositiveInt
    size: Distribution
    participant: ParticipantGroup
    extra: list[ParticipantGroup] = []
    start_s: Distribution = Distribution(kind="fixed", value=0.0)
    stay_s: Distribution | None = None
    node: str | None = None
    seed: int | None = None



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
