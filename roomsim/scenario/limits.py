"""The ranges every number in a scenario must lie in, checked on the file as written.

The pydantic models say what type a field has and what is logically required (a rate is
positive, a probability is at most 1); this module says what the engine can use: every
number is finite, and inside a physically meaningful range with its unit in the message.
Without it `duration_s: .inf` validates and never ends, `cores: 1e-300` overflows the CPU
figure and a trace repeating every 2e-9 s loops forever.

Ranges are looked up by the field's name (its last key), first exactly, then by its unit
suffix (`_ms`, `_s`, `_kbps`, ...); a number matching no rule still has to be finite and
within +-1e9. The bounds are generous modelling limits, not recommendations: they keep
arithmetic exact (nanosecond integers, 64-bit counters) and runs finite; how much a valid
scenario would cost to run is a separate check (roomsim.run.budget).

The check runs on the raw YAML mapping (before pydantic), so a bad number is reported at
its own line even inside a sweep's substituted grid value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml

from roomsim.errors import ScenarioError
from roomsim.scenario.loader import field_path, line_of


@dataclass(frozen=True)
class Range:
    """An inclusive range with its unit, and why its bounds are where they are."""

    low: float
    high: float
    unit: str
    why: str = ""

    def describe(self) -> str:
        """'from 1 to 240 fps' (units after both ends, numbers short)."""
        unit = f" {self.unit}" if self.unit else ""
        return f"from {_short(self.low)} to {_short(self.high)}{unit}"


def _short(value: float) -> str:
    """Integers with thousands separators, other numbers short ('1e+300', '0.001')."""
    if abs(value) < 1e15 and value == int(value):
        return f"{int(value):,}"
    return f"{value:g}"


DAY_S = 86_400.0
MINUTE_MS = 60_000.0

#: Largest participant count one group may ask for, and the most rooms one room set may
#: generate: beyond these even validating the scenario (one id per participant) would
#: take seconds and gigabytes; the resource budget usually refuses far earlier.
MAX_GROUP_COUNT = 100_000
MAX_ROOM_SET_COUNT = 10_000
#: The most participants a scenario may expand to before it is even validated.
MAX_PARTICIPANTS = 1_000_000

#: Exact field names.
FIELD_RANGES: dict[str, Range] = {
    "seed": Range(0, 2**63 - 1, "", "non-negative, below 2**63"),
    "count": Range(1, MAX_GROUP_COUNT, "participants"),
    "cores": Range(0.1, 1024, "vCPUs", "a container's CPU share to a large host"),
    "fps": Range(1, 240, "fps", "camera and screen frame rates"),
    "output_fps": Range(1, 240, "fps"),
    "source_fps": Range(1, 240, "fps"),
    "tick_ms": Range(1, 100, "ms", "below 1 ms the engine's per-tick work dominates"),
    "duration_s": Range(1, DAY_S, "s"),
    "drain_s": Range(0.001, 600, "s"),
    "every_s": Range(0.001, DAY_S, "s", "at most one data send per millisecond per sender"),
    "repeat_s": Range(0.01, DAY_S, "s"),
    "stats_interval_s": Range(0.01, 3600, "s"),
    "talk_mean_s": Range(0.02, 3600, "s", "at least one 20 ms audio frame"),
    "pause_mean_s": Range(0.02, 3600, "s", "at least one 20 ms audio frame"),
    "gap_mean_s": Range(0.02, 3600, "s", "at least one 20 ms audio frame"),
    "overlap_mean_s": Range(0.02, 3600, "s", "at least one 20 ms audio frame"),
    "queue_ms": Range(1, MINUTE_MS, "ms"),
    "max_queue_ms": Range(1, MINUTE_MS, "ms"),
    "rtt_ms": Range(0, 10_000, "ms"),
    "jitter_ms": Range(0, 10_000, "ms"),
    "bitrate_kbps": Range(1, 1_000_000, "kbps", "a real-time codec's stream, up to 1 Gbit/s"),
    "audio_bitrate_kbps": Range(1, 1_000_000, "kbps"),
    "output_bitrate_kbps": Range(1, 1_000_000, "kbps"),
    "source_kbps": Range(1, 1_000_000, "kbps"),
    "uplink_kbps": Range(1, 100_000_000, "kbps", "1 kbit/s to 100 Gbit/s"),
    "downlink_kbps": Range(1, 100_000_000, "kbps", "1 kbit/s to 100 Gbit/s"),
    "rate_kbps": Range(1, 100_000_000, "kbps", "1 kbit/s to 100 Gbit/s"),
    "nic_mbps": Range(1, 1_000_000, "Mbit/s"),
    "capacity_mbps": Range(1, 1_000_000, "Mbit/s"),
    "bytes": Range(1, 1 << 30, "bytes", "up to 1 GiB per message"),
    "chunk_bytes": Range(1, 1 << 30, "bytes"),
    "request_bytes": Range(1, 1 << 30, "bytes"),
    "response_bytes": Range(1, 1 << 30, "bytes"),
    "servers": Range(1, 1000, "servers"),
    "last_n": Range(1, 10_000, "speakers"),
    "dupthresh": Range(1, 1000, "packets"),
    "initial_cwnd": Range(1, 10_000, "segments"),
    "max_nack_retries": Range(1, 1000, "retries"),
    "size_factor": Range(1, 100, "x a mean frame"),
    "weight": Range(0, 1e6, ""),
    "sigma": Range(0, 10, ""),
    "price_usd_per_gb": Range(0, 1000, "USD/GB"),
    "low": Range(-1e9, 1e9, ""),
    "high": Range(-1e9, 1e9, ""),
}

#: By unit suffix, for every other field.
SUFFIX_RANGES: dict[str, Range] = {
    "_ms": Range(0, MINUTE_MS, "ms", "up to a minute"),
    "_s": Range(0, DAY_S, "s", "up to a day"),
    "_kbps": Range(1, 100_000_000, "kbps"),
    "_mbps": Range(1, 1_000_000, "Mbit/s"),
    "_pct": Range(0, 100, "%"),
    "_dbov": Range(0, 127, "dBov"),
}

ANY_NUMBER = Range(-1e9, 1e9, "", "a number the engine can hold")


def range_of(key: str) -> Range:
    """The range a field called `key` must lie in."""
    if key in FIELD_RANGES:
        return FIELD_RANGES[key]
    for suffix, rule in SUFFIX_RANGES.items():
        if key.endswith(suffix):
            return rule
    return ANY_NUMBER


def check_numbers(data: Any, source: str, node: yaml.Node | None = None) -> None:
    """Every number in a raw scenario mapping is finite and inside its field's range;
    the first that is not becomes a one-line ScenarioError at its line. Non-numbers are
    left to the models (strict types)."""
    stack: list[tuple[Any, tuple[int | str, ...], str]] = [(data, (), "")]
    while stack:
        value, loc, key = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, (*loc, k), str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*loc, i), key) for i, v in enumerate(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            problem = number_problem(key, value)
            if problem:
                raise ScenarioError(problem, file=source, field=field_path(loc) or None,
                                    line=line_of(node, loc))


def number_problem(key: str, value: float) -> str | None:
    """Why `value` cannot be field `key`, or None if it can."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    rule = range_of(key)
    if rule.low <= value <= rule.high:
        return None
    why = f" ({rule.why})" if rule.why else ""
    return f"{_short(value)} is out of range: must be {rule.describe()}{why}"


def check_flag(flag: str, key: str, value: float) -> None:
    """A command-line override goes through the same range as the field it overrides."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(f"expected a number, got {value!r}", field=flag)
    problem = number_problem(key, value)
    if problem:
        raise ScenarioError(problem, field=flag)


def check_expansion(data: Any, source: str, node: yaml.Node | None = None) -> None:
    """Refuse, before validation builds them, room sets that would generate more
    participants than can be validated (ids are made and checked for every one)."""
    if not isinstance(data, dict):
        return
    total = 0.0
    for room in _list(data.get("rooms")):
        for group in _list(room.get("participants") if isinstance(room, dict) else None):
            count = group.get("count", 1) if isinstance(group, dict) else 1
            total += count if isinstance(count, int) and not isinstance(count, bool) else 1
    for k, spec in enumerate(_list(data.get("room_sets"))):
        if not isinstance(spec, dict):
            continue
        rooms = spec.get("count", 1)
        size = _size_bound(spec.get("size"))
        if isinstance(rooms, int) and not isinstance(rooms, bool):
            if rooms > MAX_ROOM_SET_COUNT:
                raise ScenarioError(
                    f"{rooms:,} rooms is out of range: a room set generates at most "
                    f"{MAX_ROOM_SET_COUNT:,} (split it, or sweep over room counts)",
                    file=source, field=f"room_sets[{k}].count",
                    line=line_of(node, ("room_sets", k, "count")))
            total += rooms * size
        if total > MAX_PARTICIPANTS:
            raise ScenarioError(
                f"room sets would generate ~{total:,.0f} participants; at most "
                f"{MAX_PARTICIPANTS:,} can be validated (bound `size` with `max`, or fewer rooms)",
                file=source, field=f"room_sets[{k}]", line=line_of(node, ("room_sets", k)))
    if total > MAX_PARTICIPANTS:
        raise ScenarioError(f"~{total:,.0f} participants; a scenario holds at most "
                            f"{MAX_PARTICIPANTS:,}", file=source, field="rooms")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _size_bound(dist: Any) -> float:
    """A high estimate of a room-size distribution's largest draw (its `max` if set)."""
    if not isinstance(dist, dict):
        return 1.0
    numbers = {k: v for k, v in dist.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    if "max" in numbers:
        return max(1.0, numbers["max"])
    kind = dist.get("kind", "fixed")
    if kind == "fixed":
        return max(1.0, numbers.get("value", 1.0))
    if kind == "uniform":
        return max(1.0, numbers.get("high", 1.0))
    if kind == "choice":
        values = [v for v in _list(dist.get("values")) if isinstance(v, (int, float))]
        return max([1.0, *values])
    if kind == "lognormal":  # the 1-in-a-billion draw: median x exp(6 sigma)
        return max(1.0, numbers.get("median", 1.0) * math.exp(6 * min(numbers.get("sigma", 0.0), 10)))
    mean = numbers.get("mean", 1.0)
    return max(1.0, mean * 21 if kind == "exponential" else mean + 6 * math.sqrt(mean))
