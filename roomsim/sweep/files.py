"""Files a sweep leaves behind, each written whole or not at all.

Every file goes to a temporary sibling, is fsynced, then `os.replace`d over the target: a
reader (or a killed sweep) sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from roomsim.sweep.canonical import canonical_json
from roomsim.sweep.expand import Point

Row = dict[str, Any]
TEMP_SUFFIX = ".tmp"


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (same directory, so `os.replace` is a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def remove_stale_temp_files(out_dir: Path) -> None:
    """Delete temporaries a killed sweep left; safe only while holding the directory lock."""
    for stale in out_dir.rglob(f".*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def run_dir(out_dir: Path, key: str) -> Path:
    """Where one point's provenance lives."""
    return out_dir / "runs" / key


def write_run_files(out_dir: Path, point: Point, rows: Sequence[Row], version: str) -> None:
    """Provenance of one point: the resolved scenario (re-runnable as is) and its result rows.

    No timestamps: the files depend only on scenario, seed and code version, so a rerun, a
    local run and a Dask run write identical bytes.
    """
    directory = run_dir(out_dir, point.key)
    header = f"# roomsim {version}; sweep point {point.key}; seed {point.seed}\n"
    scenario = yaml.safe_dump(point.raw, sort_keys=False, allow_unicode=True)
    atomic_write_text(directory / "scenario.yaml", header + scenario)
    result = {
        "roomsim_version": version,
        "key": point.key,
        "seed": point.seed,
        "params": point.params,
        "rows": list(rows),
    }
    atomic_write_text(directory / "result.json", json.dumps(result, indent=2) + "\n")


def _cell(value: Any) -> str:
    """CSV text of one value: empty for null, canonical JSON for lists and mappings."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return canonical_json(value)
    return str(value)


def csv_text(points: Sequence[Point], rows_by_key: dict[str, list[Row]]) -> str:
    """Rows of the finished points, in point order, led by the sweep's own columns.

    Sweep columns (`point`, `key`, each swept path, `seed`) come first; result columns
    follow in first-seen order, skipping names the sweep columns already carry.
    """
    param_paths = list(points[0].params) if points else []
    lead = ["point", "key", *param_paths, "seed"]
    result_columns: dict[str, None] = {}
    finished = [p for p in points if p.key in rows_by_key]
    for point in finished:
        for row in rows_by_key[point.key]:
            result_columns.update((name, None) for name in row if name not in lead)
    header = lead + list(result_columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for point in finished:
        sweep_cells = [point.index, point.key, *point.params.values(), point.seed]
        for row in rows_by_key[point.key]:
            writer.writerow([_cell(v) for v in sweep_cells]
                            + [_cell(row.get(name)) for name in result_columns])
    return buffer.getvalue()


def export_csv(path: Path, points: Iterable[Point], rows_by_key: dict[str, list[Row]]) -> None:
    """Write the results table atomically."""
    atomic_write_text(path, csv_text(list(points), rows_by_key))
