"""Expand a sweep into points: every combination of the grid axes, times every seed.

A point carries the fully resolved raw scenario dict, so a job is plain data that pickles
to any worker, and its key is the hash of that dict, so a point is recognised by *what* it
runs rather than by its position in the sweep file (editing the file keeps finished work).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from roomsim.sweep.canonical import content_key
from roomsim.sweep.errors import SweepError
from roomsim.sweep.paths import set_path
from roomsim.sweep.spec import LoadedSweep


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its place in point order, identity, swept values and scenario."""

    index: int
    key: str
    params: dict[str, Any]
    seed: int
    raw: dict[str, Any]


def resolve(base_raw: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    """A deep copy of the base with each dotted path set and the seed written in."""
    raw = copy.deepcopy(base_raw)
    for dotted, value in params.items():
        set_path(raw, dotted, copy.deepcopy(value))
    raw["seed"] = seed
    return raw


def expand(sweep: LoadedSweep) -> list[Point]:
    """All points in a fixed order: grid axes outer-to-inner in file order, seeds innermost."""
    axes = sweep.spec.axes()
    seeds = sweep.spec.seed_list()
    points: list[Point] = []
    seen: dict[str, int] = {}
    for combination in itertools.product(*(axis.values for axis in axes)):
        params: dict[str, Any] = {}
        for axis, values in zip(axes, combination, strict=True):
            params.update(zip(axis.paths, values, strict=True))
        for seed in seeds:
            raw = resolve(sweep.base_raw, params, seed)
            try:
                key = content_key(raw)
            except TypeError as error:
                raise SweepError(f"{sweep.base_path}: top level: {error}") from None
            if key in seen:
                raise SweepError(
                    f"{sweep.path}: grid: points {seen[key]} and {len(points)} resolve to the "
                    "same scenario"
                )
            seen[key] = len(points)
            points.append(Point(len(points), key, dict(params), seed, raw))
    return points
