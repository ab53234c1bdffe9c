"""Read stored results back: a run's `-o DIR` (report.json) or a sweep's output directory.

Either way the result is an `Experiment`: one `RunRecord` per run (topology, seed, swept
values and the flat figures of `summary`), plus what a page needs to say what was asked
(name, description, the scenario or sweep text). Charts and reports never rerun anything.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from roomsim.analysis.settings import Prices, QualityGate
from roomsim.analysis.summary import Summary, run_summary, summary_from_row
from roomsim.errors import ScenarioError
from roomsim.results.models import Report, RunResult, write_atomic
from roomsim.scenario.scenario import Scenario

REPORT_FILE = "report.json"
SCENARIO_FILE = "scenario.yaml"
SWEEP_CSV = "results.csv"
SWEEP_STORE = "sweep.sqlite"


@dataclass(frozen=True)
class RunRecord:
    """One run: which topology and seed, the swept values, and its figures."""

    topology: str
    seed: int
    params: dict[str, Any]
    figures: Summary
    run: RunResult | None = None  # the full result, when the directory holds it
    #: A sweep point's participant rows (`participant_rows` columns), as stored.
    rows: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Experiment:
    """Everything stored about one experiment that charts and reports draw from."""

    directory: Path
    kind: Literal["report", "sweep"]
    name: str
    description: str
    scenario_text: str
    records: list[RunRecord]
    sweep_text: str = ""
    report: Report | None = None
    prices: Prices | None = None
    gate: QualityGate | None = None
    size_params: tuple[str, ...] = field(default=())

    @property
    def topologies(self) -> list[str]:
        """Topologies in first-seen order."""
        return list(dict.fromkeys(r.topology for r in self.records))

    @property
    def room_sizes(self) -> list[int]:
        """Distinct room sizes, ascending."""
        return sorted({int(r.figures["room_size"]) for r in self.records})


def _error(directory: Path, message: str) -> ScenarioError:
    return ScenarioError(message, file=str(directory))


def load_experiment(directory: Path | str) -> Experiment:
    """Load the results stored in `directory`; raises ScenarioError (one line) if there are none."""
    directory = Path(directory)
    if not directory.exists():
        raise _error(directory, "no such directory")
    if not directory.is_dir():
        raise _error(directory, "not a directory")
    if (directory / REPORT_FILE).is_file():
        return _load_report_dir(directory)
    if (directory / SWEEP_CSV).is_file():
        return _load_sweep_dir(directory)
    raise _error(directory, f"no results here (expected {REPORT_FILE} from `roomsim compare -o` "
                            f"or {SWEEP_CSV} from `roomsim sweep`)")


def _load_report_dir(directory: Path) -> Experiment:
    path = directory / REPORT_FILE
    try:
        report = Report.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, f"cannot read: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "top level"
        raise _error(path, f"not a roomsim report: {where}: {first['msg']}") from None
    if not report.runs:
        raise _error(path, "the report holds no runs")
    scenario_text = ""
    description = ""
    gate = None
    scenario_path = directory / SCENARIO_FILE
    if scenario_path.is_file():
        scenario_text = scenario_path.read_text(encoding="utf-8")
        with contextlib.suppress(yaml.YAMLError, ValidationError):
            raw = yaml.safe_load(scenario_text)
            if isinstance(raw, dict):
                description = str(raw.get("description") or "")
                # the scenario's own gate: the one its run's verdict was judged by
                gate = QualityGate.model_validate(raw["gate"]) if raw.get("gate") else None
    records = [RunRecord(run.topology, report.seed, {}, run_summary(run), run)
               for run in report.runs]
    return Experiment(directory, "report", report.scenario, " ".join(description.split()),
                      scenario_text, records, report=report, gate=gate)


def _sweep_keys(path: Path) -> list[str]:
    """Point keys of the sweep's current results table, in point order."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "key" not in reader.fieldnames:
                raise _error(path, "not a roomsim sweep table (no `key` column)")
            return list(dict.fromkeys(row["key"] for row in reader))
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, f"cannot read: {exc}") from None


def _manifest(directory: Path) -> tuple[str, str]:
    """(sweep text, base scenario text) of the latest manifest entry, or empty strings."""
    store = directory / SWEEP_STORE
    if not store.is_file():
        return "", ""
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT sweep_text, base_text FROM manifest ORDER BY id DESC LIMIT 1"
                             ).fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return "", ""
    return (row[0], row[1]) if row else ("", "")


def _sweep_settings(sweep_text: str) -> tuple[dict[str, Any], Prices | None, QualityGate | None]:
    """The sweep file's own name/description, prices and gate (already validated when it ran)."""
    try:
        raw = yaml.safe_load(sweep_text) if sweep_text else {}
    except yaml.YAMLError:
        raw = {}
    raw = raw if isinstance(raw, dict) else {}
    try:
        prices = Prices.model_validate(raw["prices"]) if raw.get("prices") else None
        gate = QualityGate.model_validate(raw["gate"]) if raw.get("gate") else None
    except ValidationError:
        prices = gate = None
    return raw, prices, gate


def _load_sweep_dir(directory: Path) -> Experiment:
    keys = _sweep_keys(directory / SWEEP_CSV)
    records: list[RunRecord] = []
    for key in keys:
        path = directory / "runs" / key / "result.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _error(path, f"cannot read sweep point: {exc}") from None
        rows = stored.get("rows") or []
        figures = summary_from_row(rows[0]) if rows else None
        if figures is None:
            raise _error(path, "rows carry no run figures (run_* columns); "
                               "was it swept with a custom --runner?")
        records.append(RunRecord(str(figures["topology"]), int(stored["seed"]),
                                 dict(stored.get("params") or {}), figures, rows=tuple(rows)))
    if not records:
        raise _error(directory / SWEEP_CSV, "no finished sweep points yet")
    sweep_text, base_text = _manifest(directory)
    raw, prices, gate = _sweep_settings(sweep_text)
    base = {}
    with contextlib.suppress(yaml.YAMLError):
        loaded = yaml.safe_load(base_text) if base_text else {}
        base = loaded if isinstance(loaded, dict) else {}
    name = str(raw.get("name") or base.get("name") or directory.name)
    description = str(raw.get("description") or base.get("description") or "")
    return Experiment(directory, "sweep", name, " ".join(description.split()), base_text,
                      records, sweep_text=sweep_text, prices=prices, gate=gate,
                      size_params=_size_params(records))


def _size_params(records: list[RunRecord]) -> tuple[str, ...]:
    """Swept paths that the room size (with the topology) determines: the size axis itself,
    and anything zipped with it. The other swept paths split the curves into series."""
    names = sorted({name for r in records for name in r.params})
    found = []
    for name in names:
        seen: dict[tuple[str, int], str] = {}
        determined = True
        for r in records:
            where = (r.topology, int(r.figures["room_size"]))
            value = json.dumps(r.params.get(name), sort_keys=True, default=str)
            if seen.setdefault(where, value) != value:
                determined = False
                break
        if determined:
            found.append(name)
    return tuple(found)


def write_scenario_file(scenario: Scenario, out_dir: Path) -> Path:
    """Save the validated scenario next to a run's report, so pages can say what was run."""
    path = out_dir / SCENARIO_FILE
    text = yaml.safe_dump(scenario.model_dump(mode="json", exclude_unset=True),
                          sort_keys=False, allow_unicode=True, width=100)
    write_atomic(path, text)
    return path
