"""The lessons and the README quote only numbers the tool produced, and they are current.

`python -m roomsim.lessons check` in test form: every <!--n:NAME--> marker's text equals
the number the committed results give, every chart is committed, and each lesson's
fingerprint scenarios, re-run for a few simulated seconds, still give the committed
figures (within roomsim.lessons.rebuild.FINGERPRINT_TOLERANCE): a code change that moves a
lesson fails here until `python -m roomsim.lessons rebuild` is run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from roomsim.lessons.quotes import MARKER
from roomsim.lessons.rebuild import LESSONS_DIR, check, lesson_folders

ROOT = LESSONS_DIR.parents[1]


def test_every_quoted_number_is_what_the_committed_results_give() -> None:
    assert check(runs=False) == []


def test_the_committed_results_are_what_the_code_produces_now() -> None:
    assert check(runs=True) == []


def test_every_lesson_has_a_manifest_and_quotes_numbers_or_none() -> None:
    names = [p.name for p in lesson_folders()]
    assert names == sorted(p.name for p in LESSONS_DIR.iterdir() if p.is_dir() and p.name[:2].isdigit())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(MARKER.findall(readme)) >= 18  # the WebSocket-vs-WebRTC table, filled


@pytest.fixture()
def copied(tmp_path: Path) -> Path:
    """A copy of the lessons and the README to edit (the check never writes)."""
    lessons = tmp_path / "experiments" / "lessons"
    shutil.copytree(LESSONS_DIR, lessons, ignore=shutil.ignore_patterns("out"))
    shutil.copyfile(ROOT / "README.md", tmp_path / "README.md")
    return lessons


def _edit_first_number(path: Path) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8")
    match = next(m for m in MARKER.finditer(text) if any(c.isdigit() for c in m.group(2)))
    edited = match.group(2).replace(next(c for c in match.group(2) if c.isdigit()),
                                    "9" if match.group(2)[0] != "9" else "8", 1)
    path.write_text(text[:match.start(2)] + edited + text[match.end(2):], encoding="utf-8")
    return match.group(1), edited


def test_the_check_fails_on_a_deliberately_edited_lesson_number(copied: Path) -> None:
    assert check(copied, runs=False) == []
    name, edited = _edit_first_number(copied / "02-mesh-mcu-sfu-as-rooms-grow" / "README.md")
    problems = check(copied, runs=False)
    assert len(problems) == 1 and f"{name}: the text says {edited!r}" in problems[0]


def test_the_check_fails_on_an_edited_readme_number(copied: Path) -> None:
    name, edited = _edit_first_number(copied.parents[1] / "README.md")
    problems = check(copied, runs=False)
    assert problems == [f"README.md: {name}: the text says {edited!r}, the results give "
                        f"{problems[0].split('the results give ')[1]}"]


def test_the_check_fails_when_committed_results_change(copied: Path) -> None:
    path = copied / "04-webrtc-vs-websocket-for-voice" / "results" / "sweep.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"audio_latency_p99_ms": ', '"audio_latency_p99_ms": 1', 1))
    assert any("p99" in p for p in check(copied, runs=False))
