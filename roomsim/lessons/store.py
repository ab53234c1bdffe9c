"""Compact results a lesson commits (results/ID.json), and an Experiment back from them.

An `-o` directory holds far more than the numbers need (per-second series, every sweep
point's rows); the committed form keeps each run's flat figures (run_summary), its swept
values, the sweep's gate and which swept paths are the room size, and, for a single
run or compare, the report without its time series and histograms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from roomsim.analysis.experiment import Experiment, RunRecord, load_experiment
from roomsim.scenario.gate import QualityGate

#: Per-run fields dropped from a committed report: large, and no prose quotes them.
BULKY = ("series", "latency_histogram", "links")
#: Runs with more participants than this keep room-wide figures only (a 300-room cluster's
#: per-participant rows would be megabytes), and details entries above DETAIL_BYTES go.
LISTED_PARTICIPANTS = 100
DETAIL_BYTES = 20_000


def compact(directory: Path) -> dict[str, Any]:
    """The committed form of a run/compare/sweep output directory."""
    experiment = load_experiment(directory)
    stored: dict[str, Any] = {
        "kind": experiment.kind, "name": experiment.name,
        "gate": experiment.gate.model_dump() if experiment.gate else None,
        "size_params": list(experiment.size_params),
        "records": [{"topology": r.topology, "seed": r.seed, "params": r.params,
                     "figures": r.figures} for r in experiment.records],
    }
    if experiment.report is not None:
        report = experiment.report.model_dump(mode="json")
        for run in report["runs"]:
            for key in BULKY:
                run.pop(key, None)
            if len(run["participants"]) > LISTED_PARTICIPANTS:
                run["participants"] = []
                run.pop("expected", None)
            run["details"] = {k: v for k, v in run.get("details", {}).items()
                              if len(json.dumps(v)) <= DETAIL_BYTES}
        stored["report"] = report
        stored["runs"] = report["runs"]  # so json paths read runs[topology=sfu]... directly
    return stored


def experiment_of(stored: dict[str, Any]) -> Experiment:
    """Enough of an Experiment for the aggregate functions (series, knees)."""
    records = [RunRecord(r["topology"], int(r["seed"]), dict(r["params"]), r["figures"])
               for r in stored["records"]]
    gate = QualityGate.model_validate(stored["gate"]) if stored.get("gate") else None
    return Experiment(Path("."), stored["kind"], stored["name"], "", "", records, gate=gate,
                      size_params=tuple(stored.get("size_params", ())))


def dumps(data: Any) -> str:
    """Stable JSON text (sorted keys, a newline at the end): reviewable diffs."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"
