"""YAML in, validated Scenario out; every failure becomes one ScenarioError line.

The YAML is read with the safe loader only (a tag that would build Python objects is an
error), duplicate keys are refused rather than silently overwritten, and a validation
error is reported at the YAML line of the offending field.
"""

from __future__ import annotations

import os
import re
import stat
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
# YAML 1.1 (PyYAML) reads `1e6` as a string: only `1.0e6` is a float. YAML 1.2 and every
# JSON reader take both; with strict types a string would be refused, so `1e6` is a float.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789"))


#: Input budgets: a scenario or sweep file is a few kilobytes; these bounds are far above
#: any real one and far below what would exhaust memory or time.
MAX_FILE_BYTES = 4 << 20
MAX_NESTING = 64
MAX_EXPANDED_NODES = 1_000_000


def read_limited(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most `limit` bytes; anything else (missing file,
    directory, device, FIFO, too large, not UTF-8) is a one-line ScenarioError. The file
    is opened without blocking and checked with fstat, so a FIFO never hangs the read."""
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioError("file not found", file=where) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a file", file=where) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", file=where) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError("is a directory, not a file", file=where)
        raise ScenarioError("not a regular file (devices, FIFOs and sockets are refused)", file=where)
    if info.st_size > limit:
        os.close(fd)
        raise ScenarioError(f"file is {info.st_size:,} bytes; at most {limit:,} are read", file=where)
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise ScenarioError(f"file is larger than {limit:,} bytes", file=where)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text (byte {exc.start})", file=where) from None


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Read and parse a YAML file once; return (data, node tree for line lookups)."""
    return parse_yaml(read_limited(path), path)


def parse_yaml(text: str, path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text once (composed, checked against the budgets, then constructed);
    return (data, node tree for line lookups). `path` names the source in errors."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        _check_budget(node, str(path))
        data = loader.construct_document(node) if node is not None else None
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
    except RecursionError:
        raise ScenarioError(f"nested deeper than {MAX_NESTING} levels", file=str(path)) from None
    finally:
        loader.dispose()
    return data, node


def _check_budget(root: yaml.Node | None, where: str) -> None:
    """Refuse nesting deeper than MAX_NESTING, recursive aliases, and aliases that would
    expand to more than MAX_EXPANDED_NODES values (the 'billion laughs' pattern)."""
    if root is None:
        return
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    open_nodes: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_NESTING:
            raise ScenarioError(f"nested deeper than {MAX_NESTING} levels", file=where,
                                line=node.start_mark.line + 1)
        children = _children(node)
        if done:
            open_nodes.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            if size[id(node)] > MAX_EXPANDED_NODES:
                raise ScenarioError(f"aliases expand to more than {MAX_EXPANDED_NODES:,} values",
                                    file=where, line=node.start_mark.line + 1)
            continue
        if id(node) in size:
            continue
        if id(node) in open_nodes:
            raise ScenarioError("recursive alias (a node contains itself)", file=where,
                                line=node.start_mark.line + 1)
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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
        return model.model_validate(data, strict=True, context=context)
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
        if first["type"].endswith("_type") and "input" in first:
            message += f" (got {_kind_of(first['input'])}; types are not converted)"
        raise ScenarioError(message, file=source, field=field_path(loc) or None,
                            line=line_of(node, loc)) from None


def _kind_of(value: Any) -> str:
    """'the string "3"', 'true (a boolean)', 'a list' for a type error message."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"{type(value).__name__} {value!r}"[:60] if isinstance(value, (int, float)) \
        else f"a {type(value).__name__}"


def load_model(model: type[Model], path: Path,
               context_factory: Callable[[Path], dict[str, Any]] | None = None) -> Model:
    """Read and validate a YAML file into `model`."""
    data, node = read_yaml(path)
    context = context_factory(path) if context_factory else None
    return validate(model, data, str(path), node, context)
