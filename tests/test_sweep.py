"""Sweep engine: expansion, bad input, store, local vs Dask, kill and resume.

The simulation core is replaced by the seeded toy runners of `sweep_toy`, so these tests
check the sweep machinery itself: right points, right seeds, every result filed under the
right key exactly once, identical output whatever ran it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import psutil
import pytest
import sweep_toy
import yaml

from roomsim.sweep.errors import SweepError
from roomsim.sweep.expand import Point, expand
from roomsim.sweep.jobs import plain_rows
from roomsim.sweep.runner import run_sweep
from roomsim.sweep.spec import load_sweep
from roomsim.sweep.store import STORE_FILE, ResultStore

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

BASE: dict[str, Any] = {
    "name": "toy-meeting",
    "duration_s": 10,
    "topology": {"kind": "sfu"},
    "rooms": [
        {
            "id": "r1",
            "participants": [
                {"name": "web", "count": 2,
                 "network": {"uplink_kbps": 2000, "downlink_kbps": 8000}},
                {"name": "agent", "count": 1,
                 "network": {"uplink_kbps": 400, "downlink_kbps": 400}},
            ],
        }
    ],
}

SWEEP = """\
name: toy
base: base.yaml
grid:
  topology.kind: [mesh, sfu, mcu]
zip:
  - rooms.0.participants.0.count: [2, 3]
    duration_s: [20, 30]
seeds: [5, 6]
"""


def write_sweep(directory: Path, body: str = SWEEP, base: dict[str, Any] | None = None) -> Path:
    """A sweep file and its base scenario in `directory`; returns the sweep file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "base.yaml").write_text(yaml.safe_dump(base or BASE, sort_keys=False))
    path = directory / "sweep.yaml"
    path.write_text(body)
    return path


def hand_built(kind: str, count: int, duration: int, seed: int) -> dict[str, Any]:
    """The scenario a point should resolve to, built without the sweep code."""
    raw = json.loads(json.dumps(BASE))
    raw["topology"]["kind"] = kind
    raw["rooms"][0]["participants"][0]["count"] = count
    raw["duration_s"] = duration
    raw["seed"] = seed
    return raw


EXPECTED_ORDER = [
    (kind, count, duration, seed)
    for kind in ("mesh", "sfu", "mcu")
    for count, duration in ((2, 20), (3, 30))
    for seed in (5, 6)
]


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


# --- expansion ----------------------------------------------------------------------------


def test_expansion_is_grid_times_zip_times_seeds_in_file_order(tmp_path: Path) -> None:
    points = expand(load_sweep(write_sweep(tmp_path)))

    assert [p.index for p in points] == list(range(12))
    assert [(p.params["topology.kind"], p.params["rooms.0.participants.0.count"],
             p.params["duration_s"], p.seed) for p in points] == EXPECTED_ORDER
    assert list(points[0].params) == ["topology.kind", "rooms.0.participants.0.count",
                                      "duration_s"]
    for point, (kind, count, duration, seed) in zip(points, EXPECTED_ORDER, strict=True):
        assert point.raw == hand_built(kind, count, duration, seed)


def test_points_are_independent_copies_of_the_base(tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep(tmp_path))
    points = expand(sweep)
    points[0].raw["rooms"][0]["participants"][1]["network"]["uplink_kbps"] = 1
    assert points[1].raw["rooms"][0]["participants"][1]["network"]["uplink_kbps"] == 400
    assert "seed" not in sweep.base_raw


def test_list_index_paths_and_whole_mapping_values(tmp_path: Path) -> None:
    body = """\
base: base.yaml
grid:
  rooms.0.participants.1.network:
    - {uplink_kbps: 100, downlink_kbps: 200}
    - {uplink_kbps: 300, downlink_kbps: 900}
seeds: [1]
"""
    points = expand(load_sweep(write_sweep(tmp_path, body)))
    groups = [p.raw["rooms"][0]["participants"] for p in points]
    assert [g[1]["network"] for g in groups] == [
        {"uplink_kbps": 100, "downlink_kbps": 200}, {"uplink_kbps": 300, "downlink_kbps": 900}
    ]
    assert all(g[0] == BASE["rooms"][0]["participants"][0] for g in groups)


def test_replicates_derive_fixed_distinct_seeds(tmp_path: Path) -> None:
    body = "base: base.yaml\nreplicates: 4\nseed: 7\n"
    seeds = [p.seed for p in expand(load_sweep(write_sweep(tmp_path, body)))]
    # SeedSequence(7) is documented as stable across numpy versions: pin it.
    assert seeds == [2083679832, 3939563265, 4185785210, 142198000]
    other = write_sweep(tmp_path / "other", "base: base.yaml\nreplicates: 4\nseed: 8\n")
    assert not set(seeds) & {p.seed for p in expand(load_sweep(other))}


def test_key_is_sha256_of_canonical_json_whatever_the_key_order(tmp_path: Path) -> None:
    point = expand(load_sweep(write_sweep(tmp_path)))[3]
    canonical = json.dumps(point.raw, sort_keys=True, separators=(",", ":"))
    assert point.key == hashlib.sha256(canonical.encode()).hexdigest()

    reordered = dict(reversed(list(BASE.items())))
    same = expand(load_sweep(write_sweep(tmp_path / "reordered", base=reordered)))
    assert [p.key for p in same] == [p.key for p in expand(load_sweep(tmp_path / "sweep.yaml"))]
    assert len({p.key for p in same}) == 12


BAD_SWEEPS = [
    ("base: base.yaml\ngrid: {topology.knd: [a]}\nseeds: [1]\n",
     ["grid['topology.knd']", "unknown path", "base.yaml", "no field 'knd'"]),
    ("base: base.yaml\nzip: [{rooms.0.participants.5.count: [1]}]\nseeds: [1]\n",
     ["zip[0]['rooms.0.participants.5.count']", "unknown path", "no index 5"]),
    ("base: base.yaml\ngrid: {rooms.first.id: [a]}\nseeds: [1]\n",
     ["grid['rooms.first.id']", "must be an index"]),
    ("base: missing.yaml\nseeds: [1]\n", ["base:", "not found", "missing.yaml"]),
    ("base: base.yaml\n", ["seeds:", "missing"]),
    ("base: base.yaml\nseeds: [1]\nreplicates: 3\nseed: 1\n", ["seeds:", "not both"]),
    ("base: base.yaml\nseeds: [3, 3]\n", ["seeds:", "twice"]),
    ("base: base.yaml\nseeds: [-1]\n", ["seeds[0]:", "greater than or equal to 0"]),
    ("base: base.yaml\nseeds: ['1']\n", ["seeds[0]:", "valid integer"]),
    ("base: base.yaml\nseeds: [1]\nsweeps: 3\n", ["sweeps:", "Extra inputs"]),
    ("base: base.yaml\ngrid: {duration_s: []}\nseeds: [1]\n", ["grid.duration_s:", "at least 1"]),
    ("base: base.yaml\ngrid: {duration_s: [1, 1]}\nseeds: [1]\n", ["grid['duration_s']", "twice"]),
    ("base: base.yaml\nzip: [{duration_s: [1, 2], topology.kind: [sfu]}]\nseeds: [1]\n",
     ["zip[0]:", "equal lengths"]),
    ("base: base.yaml\ngrid: {topology: [{kind: sfu}], topology.kind: [mcu]}\nseeds: [1]\n",
     ["grid['topology.kind']", "overlaps grid['topology']"]),
    ("base: base.yaml\ngrid: {seed: [1, 2]}\nseeds: [1]\n", ["grid['seed']", "seeds"]),
    ("base: base.yaml\nseeds: [1\n", ["invalid YAML", ".yaml:3: "]),
    ("- base.yaml\n", ["top level", "mapping"]),
]


@pytest.mark.parametrize(("body", "fragments"), BAD_SWEEPS)
def test_bad_sweep_file_is_one_line_naming_file_and_field(
    tmp_path: Path, body: str, fragments: list[str]
) -> None:
    path = write_sweep(tmp_path, body)
    with pytest.raises(SweepError) as caught:
        expand(load_sweep(path))
    message = str(caught.value)
    assert "\n" not in message
    assert re.match(rf"{re.escape(str(path))}(:\d+)?: ", message), message  # FILE[:LINE]: ...
    for fragment in fragments:
        assert fragment in message


def test_cli_reports_bad_sweep_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, "base: base.yaml\ngrid: {topology.knd: [a]}\nseeds: [1]\n")
    result = subprocess.run(
        [sys.executable, "-m", "roomsim.sweep", str(path), "-o", str(tmp_path / "out"),
         "--runner", "sweep_toy:toy_runner"],
        capture_output=True, text=True, env=_env(), timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"roomsim: {path}:2: grid['topology.knd']: unknown path")
    assert not (tmp_path / "out").exists()


# --- running, storing, resuming -----------------------------------------------------------


def expected_csv_rows(points: list[Point]) -> list[dict[str, str]]:
    """The CSV rows a correct sweep writes, computed from hand-built scenarios."""
    rows = []
    for point, (kind, count, duration, seed) in zip(points, EXPECTED_ORDER, strict=True):
        for row in plain_rows(sweep_toy.toy_runner(hand_built(kind, count, duration, seed))):
            lead = {"point": str(point.index), "key": point.key, "topology.kind": kind,
                    "rooms.0.participants.0.count": str(count), "duration_s": str(duration),
                    "seed": str(seed)}
            rest = {name: "" if value is None else str(value)
                    for name, value in row.items() if name != "seed"}
            rows.append(lead | rest)
    return rows


def test_local_sweep_writes_every_point_in_point_order(tmp_path: Path) -> None:
    spec = write_sweep(tmp_path)
    summary = run_sweep(spec, tmp_path / "out", runner=sweep_toy.toy_runner, workers=2,
                        progress=False)
    points = expand(load_sweep(spec))

    assert (summary.points, summary.ran, summary.skipped, summary.failed) == (12, 12, 0, ())
    assert read_csv(summary.csv_path) == expected_csv_rows(points)
    assert summary.csv_path.read_text().splitlines()[0] == (
        "point,key,topology.kind,rooms.0.participants.0.count,duration_s,seed,"
        "scenario,topology,participant,uplink_kbps,loss_pct,packets,note"
    )
    with ResultStore(tmp_path / "out") as store:
        assert store.done_keys() == {p.key for p in points}
    for point in points:
        run_dir = tmp_path / "out" / "runs" / point.key
        scenario_text = (run_dir / "scenario.yaml").read_text()
        assert scenario_text.startswith(f"# roomsim {_version()}; sweep point {point.key}")
        assert yaml.safe_load(scenario_text) == point.raw
        result = json.loads((run_dir / "result.json").read_text())
        assert result["seed"] == point.seed and result["roomsim_version"] == _version()
        assert result["rows"] == plain_rows(sweep_toy.toy_runner(point.raw))
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_rerun_skips_finished_points_and_rewrites_the_same_csv(tmp_path: Path) -> None:
    spec = write_sweep(tmp_path)
    first = run_sweep(spec, tmp_path / "out", runner=sweep_toy.toy_runner, workers=2,
                      progress=False)
    before = first.csv_path.read_bytes()
    # a runner that fails everything proves nothing was run again
    second = run_sweep(spec, tmp_path / "out", runner=_always_fails, workers=1, progress=False)
    assert (second.ran, second.skipped, second.failed) == (0, 12, ())
    assert second.csv_path.read_bytes() == before


def _always_fails(raw: dict[str, Any]) -> list[dict[str, Any]]:
    raise AssertionError("a finished point was run again")


def test_failed_points_are_kept_out_and_retried(tmp_path: Path) -> None:
    spec = write_sweep(tmp_path)
    partial = run_sweep(spec, tmp_path / "out", runner=sweep_toy.picky_runner, workers=2,
                        progress=False)
    assert [f.index for f in partial.failed] == [0, 1, 2, 3]
    assert partial.failed[0].error == "RuntimeError: mesh is not supported by this runner"
    assert {row["topology.kind"] for row in read_csv(partial.csv_path)} == {"sfu", "mcu"}

    resumed = run_sweep(spec, tmp_path / "out", runner=sweep_toy.toy_runner, workers=2,
                        progress=False)
    assert (resumed.ran, resumed.skipped, resumed.failed) == (4, 8, ())
    reference = run_sweep(spec, tmp_path / "reference", runner=sweep_toy.toy_runner, workers=2,
                          progress=False)
    assert resumed.csv_path.read_bytes() == reference.csv_path.read_bytes()


def test_a_point_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    point = expand(load_sweep(write_sweep(tmp_path)))[0]
    rows = plain_rows(sweep_toy.toy_runner(point.raw))
    with ResultStore(tmp_path / "out") as store:
        # make the second row's insert fail after the point row is already written
        store._db.execute(
            "CREATE TRIGGER fail_second_row BEFORE INSERT ON rows WHEN NEW.row_index = 1 "
            "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
        with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
            store.record_done(point, rows)
        assert store.done_keys() == set()
        assert store._db.execute("SELECT COUNT(*) FROM points").fetchone() == (0,)
        assert store._db.execute("SELECT COUNT(*) FROM rows").fetchone() == (0,)


def test_two_sweeps_cannot_share_an_output_directory(tmp_path: Path) -> None:
    spec = write_sweep(tmp_path)
    with ResultStore(tmp_path / "out"), pytest.raises(SweepError, match="another sweep"):
        run_sweep(spec, tmp_path / "out", runner=sweep_toy.toy_runner, progress=False)


def test_output_path_that_is_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    spec = write_sweep(tmp_path)
    (tmp_path / "taken").write_text("not a directory")
    with pytest.raises(SweepError, match=r"taken: output: cannot use as output directory"):
        run_sweep(spec, tmp_path / "taken", runner=sweep_toy.toy_runner, progress=False)
    assert (tmp_path / "taken").read_text() == "not a directory"


def test_results_of_another_roomsim_version_are_not_mixed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_sweep(tmp_path, "base: base.yaml\nseeds: [1]\n")
    run_sweep(spec, tmp_path / "out", runner=sweep_toy.toy_runner, workers=1, progress=False)
    monkeypatch.setattr("roomsim.sweep.runner.roomsim_version", lambda: "99.0")
    with pytest.raises(SweepError, match=r"written by roomsim .*this is roomsim 99\.0"):
        run_sweep(spec, tmp_path / "out", runner=sweep_toy.toy_runner, progress=False)


def test_default_runner_checks_every_point_with_the_engine_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the announced API: a point the scenario model rejects stops the sweep early."""

    class ScenarioError(ValueError):
        pass

    def scenario_from_dict(raw: dict[str, Any], source: str = "<dict>") -> dict[str, Any]:
        if raw["rooms"][0]["participants"][0]["count"] > 2:
            raise ScenarioError(f"{source}: rooms[0].participants[0].count: too many")
        return raw

    api = types.ModuleType("roomsim.api")
    api.scenario_from_dict = scenario_from_dict  # type: ignore[attr-defined]
    api.plan = lambda scenario, topologies, **_: None  # type: ignore[attr-defined]  # budget: fits
    errors = types.ModuleType("roomsim.errors")
    errors.ScenarioError = ScenarioError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "roomsim.api", api)
    monkeypatch.setitem(sys.modules, "roomsim.errors", errors)

    spec = write_sweep(tmp_path)
    with pytest.raises(SweepError) as caught:
        run_sweep(spec, tmp_path / "out", progress=False)
    assert str(caught.value).startswith(f"{spec} point 2 ")
    assert str(caught.value).endswith("seed 5: rooms[0].participants[0].count: too many")
    assert not (tmp_path / "out").exists()


# --- Dask -----------------------------------------------------------------------------------


def test_dask_cluster_by_address_gives_the_local_results(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = write_sweep(tmp_path)
    local = run_sweep(spec, tmp_path / "local", runner=sweep_toy.toy_runner, workers=2,
                      progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with distributed.Client(cluster.scheduler_address) as observer, \
                distributed.get_task_stream(observer) as task_stream:
            remote = run_sweep(spec, tmp_path / "dask", runner=sweep_toy.toy_runner,
                               scheduler=cluster.scheduler_address, progress=False)
            cluster_workers = set(observer.scheduler_info()["workers"])
    # the points really ran as tasks on the cluster's worker processes
    assert len(cluster_workers) == 2
    assert len(task_stream.data) == 12
    assert all(task["key"].startswith("execute_job-") for task in task_stream.data)
    assert {task["worker"] for task in task_stream.data} <= cluster_workers

    assert (remote.ran, remote.failed) == (12, ())
    assert remote.csv_path.read_bytes() == local.csv_path.read_bytes()
    local_runs = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.*")
                        if "runs" in p.parts)
    assert len(local_runs) == 24
    for relative in local_runs:
        assert (tmp_path / "dask" / relative).read_bytes() == (
            tmp_path / "local" / relative).read_bytes()


def test_unreachable_scheduler_is_a_one_line_error(tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    spec = write_sweep(tmp_path, "base: base.yaml\nseeds: [1]\n")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(
        SweepError, match=r"^scheduler: cannot connect to tcp://127\.0\.0\.1:9"
    ):
        run_sweep(spec, tmp_path / "out", runner=sweep_toy.toy_runner,
                  scheduler="tcp://127.0.0.1:9", progress=False)


# --- kill and resume ------------------------------------------------------------------------


def _env() -> dict[str, str]:
    """Environment for a child process that can import roomsim and the toy runners."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


def _version() -> str:
    from roomsim.sweep.store import roomsim_version

    return roomsim_version()


def _count_done(store_path: Path) -> int:
    """Finished points as a separate reader sees them (WAL lets it read while the sweep writes)."""
    try:
        with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM points WHERE status='done'").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def _all_exit(processes: list[psutil.Process], within_s: float) -> bool:
    """Wait for processes to end; a zombie counts as ended (reaping it is init's job)."""
    deadline = time.monotonic() + within_s
    while True:
        running = []
        for process in processes:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    running.append(process)
            except psutil.NoSuchProcess:
                pass
        if not running:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_killed_sweep_resumes_with_every_point_exactly_once(tmp_path: Path) -> None:
    spec = write_sweep(tmp_path)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "roomsim.sweep", str(spec), "-o", str(out), "--workers", "2"]
    # its own session, so the cleanup below can take the whole group down if the test fails
    workers: list[psutil.Process] = []
    victim = subprocess.Popen([*command, "--runner", "sweep_toy:sleepy_runner"], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _count_done(out / STORE_FILE) < 3:
            assert victim.poll() is None, victim.stderr.read() if victim.stderr else ""
            assert time.monotonic() < deadline, "the sweep never got going"
            time.sleep(0.02)
        workers = psutil.Process(victim.pid).children(recursive=True)
        assert len(workers) >= 2
        victim.kill()  # SIGKILL to the sweep process only, like `kill -9 <pid>` or the OOM killer
        victim.wait(timeout=30)
        assert _all_exit(workers, within_s=20), "worker processes outlived the sweep"
    finally:
        if victim.poll() is None or not _all_exit(workers, within_s=0):
            os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        if victim.stderr:
            victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL

    points = expand(load_sweep(spec))
    participants = {p.key: p.raw["rooms"][0]["participants"][0]["count"] + 1 for p in points}
    with sqlite3.connect(out / STORE_FILE) as db:
        stored = db.execute("SELECT key, row_count FROM points WHERE status='done'").fetchall()
        row_counts = dict(db.execute("SELECT key, COUNT(*) FROM rows GROUP BY key").fetchall())
    assert 3 <= len(stored) < len(points), "kill the sweep midway, not before or after"
    for key, row_count in stored:  # every stored point is complete, none is half there
        assert row_count == row_counts[key] == participants[key]
    assert set(row_counts) == {key for key, _ in stored}

    resumed = subprocess.run([*command, "--runner", "sweep_toy:toy_runner"], env=_env(),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"12 points, {12 - len(stored)} run, {len(stored)} already done, 0 failed" in (
        resumed.stdout)

    with sqlite3.connect(out / STORE_FILE) as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM points "
                          "WHERE status='done'").fetchone() == (12, 12)
        per_key = dict(db.execute("SELECT key, COUNT(*) FROM rows GROUP BY key").fetchall())
    assert per_key == participants
    reference = run_sweep(spec, tmp_path / "reference", runner=sweep_toy.toy_runner, workers=2,
                          progress=False)
    assert (out / "results.csv").read_bytes() == reference.csv_path.read_bytes()
    assert not list(out.rglob("*.tmp"))
