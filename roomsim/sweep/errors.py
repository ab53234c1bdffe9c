"""The one error a sweep raises for bad input.

Kept apart from the engine's `ScenarioError` so the sweep package works (and is tested)
before the simulation core lands; the CLI maps both to one stderr line and exit code 2.
"""

from __future__ import annotations


class SweepError(ValueError):
    """Bad sweep input: the message is one line naming the file, the field and the problem."""
