"""The command line: the JSON contract, written files, and one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import room

ROOMSIM = [sys.executable, "-m", "roomsim.cli"]


def write(tmp_path: Path, data: object, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def roomsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOMSIM, *args], capture_output=True, text=True, timeout=300)


def test_compare_json_follows_the_contract(tmp_path: Path) -> None:
    path = write(tmp_path, room(3, [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]))
    done = roomsim("compare", str(path), "--json", "--duration", "3")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # nothing but one JSON document on stdout
    assert {"roomsim_version", "scenario", "seed", "duration_s", "runs"} <= doc.keys()
    assert [r["topology"] for r in doc["runs"]] == ["mesh", "mcu", "sfu"]
    run = doc["runs"][2]
    participant = run["participants"][0]
    for key in ("id", "room", "uplink_kbps", "downlink_kbps", "uplink_payload_kbps",
                "downlink_payload_kbps", "client_cpu_cores", "latency_ms", "loss_pct"):
        assert key in participant
    assert set(participant["latency_ms"]) >= {"p50", "p95", "p99"}
    server = run["servers"][0]
    for key in ("id", "ingress_mbps", "egress_mbps", "ingress_pps", "egress_pps", "cpu_cores",
                "cpu_util_pct"):
        assert key in server
    assert {"totals", "expected"} <= run.keys()
    assert participant["uplink_payload_kbps"] < participant["uplink_kbps"]


def test_run_writes_report_files(tmp_path: Path) -> None:
    path = write(tmp_path, room(2, [{"kind": "audio"}]))
    out = tmp_path / "out"
    done = roomsim("run", str(path), "--topology", "mesh", "-o", str(out), "--duration", "3")
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["runs"][0]["topology"] == "mesh"
    rows = (out / "participants.csv").read_text().splitlines()
    assert rows[0].startswith("scenario,seed,topology,id") and len(rows) == 3
    assert "mesh" in done.stdout


def test_validate_ok(tmp_path: Path) -> None:
    done = roomsim("validate", str(write(tmp_path, room(4, []))))
    assert done.returncode == 0 and "4 participants" in done.stdout


BAD = {
    "unknown key": ("name: x\nrooms: [{id: r, participants: [{id: a, colour: red}]}]\n",
                    "rooms[0].participants[0].colour: unknown field"),
    "negative rate": ("name: x\nrooms: [{id: r, participants: [{id: a, network: "
                      "{preset: wifi, uplink_kbps: -1}}]}]\n",
                      "rooms[0].participants[0].network.uplink_kbps"),
    "malformed yaml": ("name: x\nrooms: [\n", "s.yaml:3"),
    "object tag": ("name: !!python/object/apply:os.system [echo hi]\nrooms: []\n",
                   "YAML tag !!python/object/apply:os.system is not allowed"),
    "duplicate key": ("name: x\nname: y\nrooms: []\n", "duplicate key 'name'"),
    "unknown preset": ("name: x\nrooms: [{id: r, participants: [{id: a, network: moon}]}]\n",
                       "unknown network 'moon'"),
    "wrong type": ("name: x\nduration_s: soon\nrooms: [{id: r, participants: [{id: a}]}]\n",
                   "duration_s"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    text, expected = BAD[case]
    path = write(tmp_path, text)
    done = roomsim("run", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert str(path) in lines[0] and expected in lines[0], lines[0]


def test_missing_file_and_bad_topology(tmp_path: Path) -> None:
    done = roomsim("compare", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "file not found" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    path = write(tmp_path, room(2, []))
    done = roomsim("compare", str(path), "--topologies", "mesh,p2p")
    assert done.returncode == 2 and "unknown topology 'p2p'" in done.stderr


def test_failed_run_leaves_existing_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("previous")
    done = roomsim("run", str(write(tmp_path, "name: x\nrooms: []\n")), "-o", str(out))
    assert done.returncode == 2
    assert (out / "report.json").read_text() == "previous"
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_calibrate_quick_writes_a_loadable_profile(tmp_path: Path) -> None:
    from roomsim.codecs.costs import load_profile

    out = tmp_path / "costs.json"
    done = roomsim("calibrate", "--quick", "-o", str(out))
    assert done.returncode == 0, done.stderr
    profile = load_profile(str(out))
    assert profile.video["vp8"]["360p"].encode_us > profile.video["vp8"]["180p"].encode_us > 0
    # a scenario can name the measured profile
    raw = room(2, [{"kind": "audio"}])
    raw["costs"] = str(out)
    assert roomsim("validate", str(write(tmp_path, raw))).returncode == 0


def test_real_media_mcu_from_a_scenario(tmp_path: Path) -> None:
    raw = room(2, [{"kind": "audio"}, {"kind": "video", "resolution": "180p"}])
    raw["topology"] = {"kind": "mcu", "mcu": {"output_resolution": "180p"}}
    path = write(tmp_path, raw)
    out = tmp_path / "media"
    done = roomsim("run", str(path), "--real-media", "-o", str(out), "--duration", "1", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert sorted(p.name for p in out.iterdir()) == ["p-1.mkv", "p-2.mkv", "result.json"]
    assert result["quality"]["mcu_psnr_db"] < result["quality"]["sfu_psnr_db"]
    assert {s["stage"] for s in result["stages"]} >= {"mcu_decode", "mcu_mix", "mcu_encode"}
    refused = roomsim("run", str(path), "--real-media", "--topology", "sfu", "-o", str(out))
    assert refused.returncode == 2 and "MCU only" in refused.stderr


def test_validate_imports_no_engine() -> None:
    """`validate` (and `--help`) answer without importing numba or the kernels: importing
    the engine is most of a second, the whole budget for these commands (issue #11)."""
    probe = ("import sys\nfrom roomsim.cli import main\n"
             "try:\n    main(['validate', 'experiments/meeting-8.yaml'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m == 'numba' or m.startswith('roomsim.sim.kernels')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
