"""The one error type a user should ever see: a one-line message, exit code 2."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


#: C0 and C1 control characters (and DEL), except newline and tab: a scenario's name,
#: ids and description are the user's text, and an escape sequence in them must not
#: drive the terminal they are printed to (clear it, retitle it, fake a prompt).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters shown as \\xNN escapes, safe for a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class ScenarioError(Exception):
    """Bad input: names the file, the field path and what is wrong, on one line."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        self.file = file
        self.field = field
        self.line = line
        self.problem = message
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        parts = [p for p in (where, field, message) if p]
        super().__init__(": ".join(parts).replace("\n", " "))


class FieldError(ValueError):
    """What a model-wide check raises about one field (e.g. a participant's network that
    names nothing in `networks:`): `loc` is the field's path below the model being checked,
    so the loader can name the field and its YAML line instead of the model's first line."""

    def __init__(self, message: str, loc: tuple[int | str, ...]) -> None:
        super().__init__(message)
        self.loc = loc


def unknown_name(value: str, names: Iterable[str], what: str) -> str:
    """`unknown network 'wiffi' (did you mean 'wifi'?); choose from: fiber, cable, ...`"""
    choices = list(names)
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {value!r}{hint}; choose from: {', '.join(choices)}"


def one_line_errors(func: F) -> F:
    """Decorate a command: a ScenarioError becomes 'roomsim: <file:line: field: what>' on
    stderr and exit status 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScenarioError as exc:
            print(f"roomsim: {printable(str(exc))}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
