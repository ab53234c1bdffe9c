"""YAML in, validated Scenario out; every failure becomes one ScenarioError line.

The YAML is read with the safe loader only (a tag that would build Python objects is an
error), duplicate keys are refused rather than silently overwritten, and a validation
error is reported at the YAML line of the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from roomsim.errors import FieldError, ScenarioError

Model = TypeVar("Model", bound=BaseModel)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file; return (data, node tree for line lookups)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a YAML file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read: {exc}", file=str(path)) from None
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "malformed YAML"
        if "could not determine a constructor" in problem:
            tag = problem.split("'")[1] if "'" in problem else "?"
            tag = tag.replace("tag:yaml.org,2002:", "!!")
            problem = f"YAML tag {tag} is not allowed (tags that build objects are refused)"
        raise ScenarioError(problem, file=str(path), line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"malformed YAML: {exc}", file=str(path)) from None
    return data, node


def field_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic location -> dotted path with [i] for list items: rooms[0].participants[2].count"""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def data_loc(data: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Keep only the parts of a pydantic location that address the input data; drops the
    branch labels pydantic adds for unions (e.g. 'str', 'NetworkSpec', a tag value)."""
    kept: list[int | str] = []
    node = data
    for part in loc:
        if _addresses(node, part):
            node = node[part]
            kept.append(part)
    return tuple(kept)


def _addresses(node: Any, part: int | str) -> bool:
    """Whether `part` is a key of a mapping node or an index of a list node."""
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """YAML line of the deepest node on `loc` (pydantic's union tags are skipped)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                continue
            key = next(k for k, _ in node.value if getattr(k, "value", None) == part)
            node, line = match[0], key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


def parse_field_path(text: str) -> tuple[int | str, ...]:
    """`grid['a.b']`, `zip[0].x` or `rooms[0].participants` -> the location tuple."""
    return tuple(int(i) if i else (q or n) for n, q, i in
                 re.findall(r"([A-Za-z_][\w-]*)|\['([^']*)'\]|\[(\d+)\]", text))


def located(file: str, text: str, loc: tuple[int | str, ...]) -> str:
    """`FILE:LINE` of the field at `loc` in YAML `text` (just FILE when it cannot be found)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return file
    line = line_of(node, loc) if node is not None else None
    return f"{file}:{line}" if line else file


def validate(model: type[Model], data: Any, source: str, node: yaml.Node | None = None,
             context: dict[str, Any] | None = None) -> Model:
    """Validate data into `model`; the first error becomes a one-line ScenarioError."""
    if not isinstance(data, dict):
        raise ScenarioError("expected a mapping of fields at the top level", file=source)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors()
        # A union reports one error per branch; the deepest is the one about the user's value.
        first = max(errors, key=lambda e: len(data_loc(data, tuple(e["loc"]))))
        loc = data_loc(data, tuple(first["loc"]))
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):  # a model-wide check that names its field
            loc = data_loc(data, (*first["loc"], *cause.loc))
        if first["type"] == "missing":
            loc = (*loc, first["loc"][-1])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        message = message.removeprefix("Value error, ")
        raise ScenarioError(message, file=source, field=field_path(loc) or None,
                            line=line_of(node, loc)) from None


def load_model(model: type[Model], path: Path,
               context_factory: Callable[[Path], dict[str, Any]] | None = None) -> Model:
    """Read and validate a YAML file into `model`."""
    data, node = read_yaml(path)
    context = context_factory(path) if context_factory else None
    return validate(model, data, str(path), node, context)
