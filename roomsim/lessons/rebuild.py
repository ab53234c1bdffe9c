"""Rebuild every lesson from the current code, and check that what is committed is current.

Rebuild (per lesson): delete its output directories (a sweep would otherwise reuse points
an older build ran), run its commands, copy the charts the README shows into `figures/`,
store compact results and a fingerprint in `results/`, and write every quoted number into
the README. Then the top-level README, whose markers name numbers as LESSON/NAME.

Check: every marker's text equals the number the committed results give (exactly: both
come from the same results), every chart is committed, and (unless told not to) each
lesson's fingerprint scenarios, re-run for a few simulated seconds, still give the
committed figures within FINGERPRINT_TOLERANCE, so a code change that moves a lesson's
numbers fails until the lessons are rebuilt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roomsim.errors import ScenarioError
from roomsim.lessons.manifest import MANIFEST, Lesson, load_lesson
from roomsim.lessons.quotes import RESULTS, evaluate, fill, load_results, stale
from roomsim.lessons.store import compact, dumps

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
LESSONS_DIR = PACKAGE_ROOT / "experiments" / "lessons"
FINGERPRINT = "fingerprint"

#: Run figures a fingerprint keeps, each with the absolute slack allowed on top of the
#: relative one (1 %): loss and CPU in percentage points, latency in ms, rates in kbps/Mbps.
FINGERPRINT_FIGURES = {"mean_uplink_kbps": 1.0, "mean_downlink_kbps": 1.0,
                       "server_egress_mbps": 0.01, "server_cpu_cores": 0.001,
                       "mean_client_cpu_cores": 0.001, "loss_pct": 0.05,
                       "latency_p50_ms": 1.0, "latency_p95_ms": 1.0, "busiest_cpu_pct": 0.5}
FINGERPRINT_TOLERANCE = 0.01

Say = Callable[[str], None]


def lesson_folders(lessons_dir: Path = LESSONS_DIR) -> list[Path]:
    """Lesson folders that have a manifest, in order."""
    return sorted(p for p in lessons_dir.iterdir() if (p / MANIFEST).is_file())


def _env() -> dict[str, str]:
    """The environment for the lesson commands: this very roomsim first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    return env


def _run_commands(folder: Path, lesson: Lesson, say: Say) -> None:
    for out in {"out", *lesson.results.values()}:
        target = folder / out
        if target.is_dir():
            shutil.rmtree(target)
        elif target.is_file():
            target.unlink()
    (folder / "out").mkdir()
    for run in lesson.runs:
        say(f"  roomsim {' '.join(run.args)}")
        done = subprocess.run([sys.executable, "-m", "roomsim.cli", *run.args], cwd=folder,
                              capture_output=True, text=True, env=_env())
        if done.returncode != 0:
            raise ScenarioError(f"`roomsim {' '.join(run.args)}` failed: "
                                f"{done.stderr.strip().splitlines()[-1:] or done.returncode}",
                                file=str(folder / MANIFEST))
        if run.stdout:
            path = folder / run.stdout
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(done.stdout, encoding="utf-8")


def _store_results(folder: Path, lesson: Lesson) -> None:
    (folder / RESULTS).mkdir(exist_ok=True)
    for result_id, source in lesson.results.items():
        path = folder / source
        data = compact(path) if path.is_dir() else json.loads(path.read_text(encoding="utf-8"))
        (folder / RESULTS / f"{result_id}.json").write_text(dumps(data), encoding="utf-8")


def _copy_charts(folder: Path, lesson: Lesson) -> None:
    (folder / "figures").mkdir(exist_ok=True)
    for name, source in lesson.charts.items():
        if not (folder / source).is_file():
            raise ScenarioError(f"charts.{name}: the commands drew no {source}", file=str(folder / MANIFEST))
        shutil.copyfile(folder / source, folder / "figures" / name)


def fingerprint(folder: Path, lesson: Lesson) -> dict[str, Any]:
    """Figures of each fingerprint scenario's short runs: scenario -> topology -> figure."""
    from roomsim import api
    from roomsim.analysis.summary import run_summary

    out: dict[str, Any] = {}
    for spec in lesson.fingerprint:
        scenario = api.load_scenario(folder / spec.file)
        duration = spec.duration_s or scenario.warmup_s + 1.0
        report = api.compare(scenario, spec.topologies, duration_s=duration)
        out[spec.file] = {run.topology: {k: run_summary(run).get(k) for k in FINGERPRINT_FIGURES}
                          for run in report.runs}
    return out


def numbers_of(folder: Path, lesson: Lesson) -> dict[str, str]:
    """Each number the lesson defines, as quoted, from its committed results."""
    return {name: shown for name, (_, shown) in evaluate(lesson.numbers, load_results(folder)).items()}


def all_numbers(folders: list[Path]) -> dict[str, str]:
    """Every lesson's numbers, by LESSON/NAME (for documents outside a lesson)."""
    out: dict[str, str] = {}
    for folder in folders:
        for name, shown in numbers_of(folder, load_lesson(folder)).items():
            out[f"{folder.name}/{name}"] = shown
    return out


def _documents(folder: Path, lesson: Lesson, qualified: dict[str, str]) -> tuple[Path, dict[str, str]]:
    return folder / lesson.document, {**qualified, **numbers_of(folder, lesson)}


def rebuild(names: list[str] | None = None, lessons_dir: Path = LESSONS_DIR, say: Say = print,
            only_fill: bool = False) -> None:
    """Rerun the named lessons (default: all), then fill every document's numbers."""
    folders = lesson_folders(lessons_dir)
    for folder in folders:
        if only_fill or (names and folder.name not in names and folder.name[:2] not in names):
            continue
        lesson = load_lesson(folder)
        say(f"{folder.name}:")
        _run_commands(folder, lesson, say)
        _copy_charts(folder, lesson)
        _store_results(folder, lesson)
        if lesson.fingerprint:
            (folder / RESULTS / f"{FINGERPRINT}.json").write_text(dumps(fingerprint(folder, lesson)))
    qualified = all_numbers(folders)
    for folder in folders:
        path, shown = _documents(folder, load_lesson(folder), qualified)
        path.write_text(fill(path.read_text(encoding="utf-8"), shown), encoding="utf-8")
    top = lessons_dir.parents[1] / "README.md"
    if top.is_file():
        top.write_text(fill(top.read_text(encoding="utf-8"), qualified), encoding="utf-8")
        say(f"filled {top.name}")


def _drift(committed: Any, fresh: Any, where: str) -> list[str]:
    out = []
    for scenario, runs in committed.items():
        for topology, figures in runs.items():
            for figure, was in figures.items():
                now = fresh.get(scenario, {}).get(topology, {}).get(figure)
                if was is None or now is None:
                    if was != now:
                        out.append(f"{where}: {scenario} {topology} {figure}: {was} -> {now}")
                    continue
                slack = max(FINGERPRINT_TOLERANCE * abs(was), FINGERPRINT_FIGURES[figure])
                if abs(now - was) > slack:
                    out.append(f"{where}: {scenario} {topology} {figure}: committed {was}, "
                               f"the code now gives {now}")
    return out


def check(lessons_dir: Path = LESSONS_DIR, runs: bool = True) -> list[str]:
    """Everything stale, one line each (empty: lessons and README are current)."""
    problems: list[str] = []
    folders = lesson_folders(lessons_dir)
    try:
        qualified = all_numbers(folders)
    except ScenarioError as exc:
        return [str(exc)]
    for folder in folders:
        lesson = load_lesson(folder)
        path, shown = _documents(folder, lesson, qualified)
        text = path.read_text(encoding="utf-8")
        problems += [f"{folder.name}/{lesson.document}: {p}" for p in stale(text, shown)]
        in_exprs = " ".join(str(q.get("expr", "")) for q in lesson.numbers.values())
        unused = [n for n in lesson.numbers if f"<!--n:{n}-->" not in text
                  and not re.search(rf"\b{re.escape(n)}\b", in_exprs)]
        problems += [f"{folder.name}: number {n} is defined but quoted nowhere" for n in unused]
        problems += [f"{folder.name}: figures/{c} is not committed" for c in lesson.charts
                     if not (folder / "figures" / c).is_file()]
        if runs and lesson.fingerprint:
            committed = json.loads((folder / RESULTS / f"{FINGERPRINT}.json").read_text())
            problems += _drift(committed, fingerprint(folder, lesson), folder.name)
    top = lessons_dir.parents[1] / "README.md"
    if top.is_file():
        problems += [f"README.md: {p}" for p in stale(top.read_text(encoding="utf-8"), qualified)]
    if problems and runs:
        problems.append("rebuild with: python -m roomsim.lessons rebuild")
    return problems
