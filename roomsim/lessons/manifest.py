"""The `lesson.yaml` manifest of a lesson folder (validated like a scenario)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PositiveFloat

from roomsim.scenario.frozen import Frozen
from roomsim.scenario.loader import load_model

MANIFEST = "lesson.yaml"


class Run(Frozen):
    """One roomsim command, run from the lesson folder; `stdout` keeps what it printed."""

    args: list[str] = Field(min_length=1)
    stdout: str | None = None


class Fingerprint(Frozen):
    """A scenario file re-run briefly by the drift check (figures compared to the committed)."""

    file: str
    topologies: list[str] = ["mesh", "mcu", "sfu"]
    duration_s: PositiveFloat | None = None  # default: the scenario's warmup + 1 s


class Lesson(Frozen):
    """What a lesson runs, which charts it shows, and what numbers its README quotes.

    `results` maps an id to what the numbers are read from: an `-o` directory of a run,
    compare or sweep, or a JSON file a command printed. `numbers` maps a name (used in the
    README as <!--n:NAME-->...<!--/n-->) to a query (see roomsim.lessons.quotes)."""

    runs: list[Run] = []
    charts: dict[str, str] = {}
    results: dict[str, str] = {}
    numbers: dict[str, dict[str, Any]] = {}
    fingerprint: list[Fingerprint] = []
    document: str = "README.md"


def load_lesson(folder: Path) -> Lesson:
    """Read a lesson folder's manifest (one-line ScenarioError on bad input)."""
    return load_model(Lesson, folder / MANIFEST)
