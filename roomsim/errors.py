"""The one error type a user should ever see: a one-line message, exit code 2."""

from __future__ import annotations


class ScenarioError(Exception):
    """Bad input: names the file, the field path and what is wrong, on one line."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        self.file = file
        self.field = field
        self.line = line
        where = file or ""
        if file and line:
            where = f"{file}:{line}"
        parts = [p for p in (where, field, message) if p]
        super().__init__(": ".join(parts).replace("\n", " "))
