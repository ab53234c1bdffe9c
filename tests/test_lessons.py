"""Every lesson in experiments/lessons/ is runnable as written: its scenario files validate
(through `roomsim validate`), its sweep files load and every point they expand to is a
valid scenario, its README shows only figures that are committed, and the lessons table
lists it. Nothing is simulated here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from roomsim.cli import main
from roomsim.lessons.manifest import MANIFEST
from roomsim.scenario.load import scenario_from_dict
from roomsim.sweep.expand import expand
from roomsim.sweep.spec import load_sweep

LESSONS = Path(__file__).resolve().parent.parent / "experiments" / "lessons"
FOLDERS = sorted(p for p in LESSONS.iterdir() if p.is_dir() and re.match(r"\d\d-", p.name))


def _is_sweep(path: Path) -> bool:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return isinstance(raw, dict) and "base" in raw


def test_there_are_lessons_one_to_eight() -> None:
    assert [p.name[:2] for p in FOLDERS] == [f"{k:02d}" for k in range(1, 9)]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_scenarios_validate_and_sweeps_expand(folder: Path) -> None:
    files = sorted(p for p in folder.glob("*.yaml") if p.name != MANIFEST)  # lesson.yaml: the rebuild's
    assert files, f"{folder.name} has no scenario or sweep file"
    for path in files:
        if _is_sweep(path):
            sweep = load_sweep(path)
            points = expand(sweep)
            assert points
            for point in points:
                scenario_from_dict(point.raw, f"{path} point {point.index}")
        else:
            result = CliRunner().invoke(main, ["validate", str(path)])
            assert result.exit_code == 0, result.output
            assert ": ok (" in result.output


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_readme_shows_committed_figures_and_says_how_to_run(folder: Path) -> None:
    readme = (folder / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images, f"{folder.name}: the README shows no chart"
    for image in images:
        assert image.startswith("figures/") and image.endswith(".png")
        assert (folder / image).is_file(), f"{folder.name}: {image} is not committed"
    assert re.search(r"^roomsim ", readme, re.MULTILINE), f"{folder.name}: no command to run"
    commands = re.findall(r"^roomsim \S+ (\S+\.yaml)", readme, re.MULTILINE)
    for name in commands:
        assert (folder / name).is_file(), f"{folder.name}: the README runs {name}, which is missing"


def test_the_lessons_table_lists_every_lesson() -> None:
    table = (LESSONS / "README.md").read_text(encoding="utf-8")
    for folder in FOLDERS:
        assert f"[{folder.name}]({folder.name}/)" in table
