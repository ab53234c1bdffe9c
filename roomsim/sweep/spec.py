"""The sweep file: which base scenario, which fields vary, which seeds.

```yaml
name: mesh-vs-sfu                      # optional
base: ../scenarios/meeting.yaml         # relative to this file
grid:                                   # every combination of these ...
  topology.kind: [mesh, sfu, mcu]
zip:                                    # ... times each group, whose lists move in step
  - rooms.0.participants.0.count: [4, 8, 16]
    duration_s: [60, 30, 15]
seeds: [1, 2, 3]                        # or: replicates: 10 + seed: 7
description: Where does each topology break?   # optional: the question, for reports
prices: {egress_usd_per_gb: 0.05, core_hour_usd: 0.04}   # optional: for cost charts
gate: {loss_pct: 2, latency_p95_ms: 150, cpu_pct: 80}     # optional: for the capacity knee
```

Validation happens once, here, into frozen objects the expander trusts; every problem is
reported as one line naming the sweep file, the field and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import ConfigDict, Field, StrictInt, ValidationError

from roomsim.analysis.settings import Prices
from roomsim.scenario.frozen import Frozen
from roomsim.scenario.gate import QualityGate
from roomsim.scenario.loader import located, parse_field_path
from roomsim.sweep.canonical import canonical_json
from roomsim.sweep.errors import SweepError
from roomsim.sweep.paths import PathNotFound, get_path, overlaps, parse_path

Values = Annotated[list[Any], Field(min_length=1)]
Seed = Annotated[StrictInt, Field(ge=0)]


class SweepSpec(Frozen):
    """The sweep file as written; cross-field rules are checked by `load_sweep`."""

    model_config = ConfigDict(populate_by_name=True)  # merged with the base: frozen, extra="forbid"

    name: str | None = None
    description: str | None = None
    base: str = Field(min_length=1)
    grid: dict[str, Values] = Field(default_factory=dict)
    zip_groups: list[Annotated[dict[str, Values], Field(min_length=1)]] = Field(
        default_factory=list, alias="zip"
    )
    seeds: Annotated[list[Seed], Field(min_length=1)] | None = None
    replicates: Annotated[StrictInt, Field(ge=1)] | None = None
    seed: Seed | None = None
    prices: Prices | None = None
    gate: QualityGate | None = None

    def axes(self) -> list[Axis]:
        """Grid paths first (file order), then zip groups: the product's outer-to-inner order."""
        axes = [Axis((path,), tuple((value,) for value in values))
                for path, values in self.grid.items()]
        for group in self.zip_groups:
            axes.append(Axis(tuple(group), tuple(zip(*group.values(), strict=True))))
        return axes

    def seed_list(self) -> list[int]:
        """Explicit seeds, or `replicates` seeds drawn from `SeedSequence(seed)`.

        SeedSequence is numpy's documented, version-stable way to derive independent seeds,
        the same policy the engine uses for its per-participant streams.
        """
        if self.seeds is not None:
            return list(self.seeds)
        assert self.replicates is not None and self.seed is not None  # enforced by load_sweep
        state = np.random.SeedSequence(self.seed).generate_state(self.replicates)
        return [int(value) for value in state]


@dataclass(frozen=True)
class Axis:
    """One dimension of the product: paths that change together and their aligned values."""

    paths: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class LoadedSweep:
    """A validated sweep file together with the raw base scenario it varies."""

    path: Path
    text: str
    spec: SweepSpec
    base_path: Path
    base_text: str
    base_raw: dict[str, Any]


def _format_loc(loc: tuple[str | int, ...]) -> str:
    """`('zip', 0, 'a.b', 1)` -> `zip[0]['a.b'][1]`: dotted keys stay readable and unambiguous."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif "." in part:
            text += f"['{part}']"
        else:
            text += f".{part}" if text else part
    return text or "top level"


def _named_paths(spec: SweepSpec) -> list[tuple[str, str]]:
    """Every swept path with the field name an error message should point at."""
    named = [(f"grid['{path}']", path) for path in spec.grid]
    for index, group in enumerate(spec.zip_groups):
        named += [(f"zip[{index}]['{path}']", path) for path in group]
    return named


def _semantic_problems(spec: SweepSpec) -> list[tuple[str, str]]:
    """Rules pydantic cannot express per field, as (field, what is wrong) pairs."""
    problems: list[tuple[str, str]] = []
    if spec.seeds is not None and (spec.replicates is not None or spec.seed is not None):
        problems.append(("seeds", "give either `seeds` or `replicates` + `seed`, not both"))
    elif spec.seeds is None and (spec.replicates is None or spec.seed is None):
        problems.append(("seeds", "missing: give `seeds: [...]` or `replicates: N` with `seed: S`"))
    if spec.seeds is not None and len(set(spec.seeds)) != len(spec.seeds):
        problems.append(("seeds", "a seed appears twice"))

    named = _named_paths(spec)
    for index, group in enumerate(spec.zip_groups):
        lengths = {len(values) for values in group.values()}
        if len(lengths) > 1:
            what = f"lists must have equal lengths, got {sorted(lengths)}"
            problems.append((f"zip[{index}]", what))
    checked: list[tuple[str, str]] = []
    for field, path in named:
        try:
            segments = parse_path(path)
        except PathNotFound as error:
            problems.append((field, f"bad path: {error}"))
            continue
        if segments[0] == "seed":
            problems.append((field, "the seed is swept with `seeds` or `replicates`, not the grid"))
        for other_field, other in checked:
            if overlaps(path, other):
                problems.append((field, f"overlaps {other_field}; each field may vary once"))
        checked.append((field, path))

    value_lists = [(f"grid['{p}']", v) for p, v in spec.grid.items()]
    value_lists += [(f"zip[{i}]", list(zip(*g.values(), strict=False)))
                    for i, g in enumerate(spec.zip_groups)]
    for field, values in value_lists:
        try:
            canonical = [canonical_json(value) for value in values]
        except TypeError as error:
            problems.append((field, str(error)))
            continue
        if len(set(canonical)) != len(canonical):
            problems.append((field, "a value appears twice (it would run the same point twice)"))
    return problems


#: Most points one sweep may expand to (grid x zip x seeds): each point is a full run.
MAX_POINTS = 10_000


def point_count(spec: SweepSpec) -> int:
    """How many points the sweep expands to, computed without expanding it."""
    count = len(spec.seeds) if spec.seeds is not None else spec.replicates or 1
    for axis in spec.axes():
        count *= len(axis.values)
    return count


def _size_problems(spec: SweepSpec) -> list[tuple[str, str]]:
    """A point count above MAX_POINTS, or replicate seeds that collide (they are 32-bit)."""
    points = point_count(spec)
    if points > MAX_POINTS:
        return [("grid", f"expands to {points:,} points, over the limit of {MAX_POINTS:,}; "
                 "sweep fewer values, fewer seeds, or split the sweep")]
    if spec.replicates is not None and len(set(spec.seed_list())) < spec.replicates:
        return [("replicates", f"{spec.replicates:,} seeds drawn from seed {spec.seed} collide "
                 "(they are 32-bit); use fewer replicates or list `seeds`")]
    return []


def _read_yaml(path: Path, what: str) -> tuple[str, Any]:
    """Read and parse a YAML file once with the scenario loader's rules (regular file, size
    limit, duplicate keys refused, nesting and alias budgets); every failure is one
    `SweepError` line."""
    from roomsim.errors import ScenarioError
    from roomsim.scenario.loader import parse_yaml, read_limited

    try:
        text = read_limited(path)
        data, _ = parse_yaml(text, path)
    except ScenarioError as error:
        if error.line:
            raise SweepError(f"{path}:{error.line}: invalid YAML: {error.problem}") from None
        raise SweepError(f"{path}: cannot read {what}: {error.problem}") from None
    return text, data


def load_sweep(path: Path | str) -> LoadedSweep:
    """Load and check a sweep file and its base scenario; raises `SweepError` (one line)."""
    path = Path(path)
    text, raw = _read_yaml(path, "sweep file")
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: top level: expected a mapping of sweep fields")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as error:
        errors = error.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        where = located(str(path), text, tuple(first["loc"]))
        raise SweepError(f"{where}: {_format_loc(first['loc'])}: {first['msg']}{more}") from None
    problems = _semantic_problems(spec) or _size_problems(spec)
    if problems:
        field, what = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        where = located(str(path), text, parse_field_path(field))
        raise SweepError(f"{where}: {field}: {what}{more}")

    base_path = path.parent / spec.base
    if not base_path.is_file():
        raise SweepError(f"{path}: base: scenario file not found: {base_path}")
    base_text, base_raw = _read_yaml(base_path, "base scenario")
    if not isinstance(base_raw, dict):
        raise SweepError(f"{base_path}: top level: expected a mapping of scenario fields")
    for field, dotted in _named_paths(spec):
        try:
            get_path(base_raw, dotted)
        except PathNotFound as error:
            where = located(str(path), text, parse_field_path(field))
            raise SweepError(
                f"{where}: {field}: unknown path in base scenario {base_path}: {error}"
            ) from None
    return LoadedSweep(path, text, spec, base_path, base_text, base_raw)
