"""Dotted paths into a raw scenario dict (`rooms.0.participants.0.count`).

A sweep varies fields of the *raw* YAML dict rather than of the pydantic model, so a grid
can address anything the YAML can say (list items, whole sub-mappings) and the resolved
dict is validated exactly like a hand-written scenario file.
"""

from __future__ import annotations

from typing import Any

Segment = str | int


class PathNotFound(LookupError):
    """A dotted path names something the base scenario does not have."""


def parse_path(dotted: str) -> tuple[str, ...]:
    """Split a dotted path; empty segments (`a..b`, leading dot) are rejected."""
    segments = tuple(dotted.split("."))
    if any(segment == "" for segment in segments):
        raise PathNotFound("it has an empty segment")
    return segments


def _step(container: Any, segment: str, parent: str) -> tuple[Any, Segment]:
    """Resolve one segment against the container it indexes (lists take integers only)."""
    where = f"'{parent}'" if parent else "the top level"
    if isinstance(container, dict):
        if segment not in container:
            raise PathNotFound(f"{where} has no field '{segment}'")
        return container[segment], segment
    if isinstance(container, list):
        if not segment.isdigit():
            raise PathNotFound(f"{where} is a list, so '{segment}' must be an index")
        index = int(segment)
        if index >= len(container):
            raise PathNotFound(f"{where} has {len(container)} items, no index {index}")
        return container[index], index
    raise PathNotFound(f"{where} is a {type(container).__name__}, it has no '{segment}'")


def _walk(raw: dict[str, Any], segments: tuple[str, ...]) -> tuple[Any, Segment]:
    """The container holding the last segment, and that segment resolved to a key or index."""
    container: Any = raw
    for depth, segment in enumerate(segments[:-1]):
        container, _ = _step(container, segment, ".".join(segments[:depth]))
    _, last = _step(container, segments[-1], ".".join(segments[:-1]))
    return container, last


def get_path(raw: dict[str, Any], dotted: str) -> Any:
    """Return the value a dotted path addresses; raises `PathNotFound` if it does not exist."""
    container, last = _walk(raw, parse_path(dotted))
    return container[last]


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Replace the value at an existing dotted path in place (never creates new fields)."""
    container, last = _walk(raw, parse_path(dotted))
    container[last] = value


def overlaps(first: str, second: str) -> bool:
    """True when one path is the other or lies inside it (setting both would be ambiguous)."""
    a, b = parse_path(first), parse_path(second)
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]
