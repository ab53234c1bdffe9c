"""The one error type a user should ever see: a one-line message, exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


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


def one_line_errors(func: F) -> F:
    """Decorate a command: a ScenarioError becomes 'roomsim: <file:line: field: what>' on
    stderr and exit status 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ScenarioError as exc:
            print(f"roomsim: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
