"""The verdict under `run`/`compare`, the calculator mode, `roomsim new`, and the error forms."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from roomsim import api
from roomsim.results.gate import judge, network_names
from roomsim.scenario.gate import QualityGate

ROOMSIM = [sys.executable, "-m", "roomsim.cli"]
MEETING = Path(__file__).resolve().parents[1] / "experiments" / "meeting-8.yaml"


def roomsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOMSIM, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def meeting() -> subprocess.CompletedProcess[str]:
    return roomsim("compare", str(MEETING), "--duration", "6")


@pytest.fixture(scope="module")
def meeting_json() -> dict:
    done = roomsim("compare", str(MEETING), "--duration", "6", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_meeting_8_ends_with_one_verdict_line_per_topology(meeting, meeting_json) -> None:
    assert meeting.returncode == 0, meeting.stderr
    text = meeting.stdout.split("\nverdict (gate: loss <= 2 %, p95 <= 150 ms, CPU <= 80 %")[1]
    lines = [line for line in text.splitlines()[1:] if not line.startswith("    ")]
    assert [line.split(":")[0].strip() for line in lines] == ["mesh", "mcu", "sfu"]
    for line, run in zip(lines, meeting_json["runs"], strict=True):
        verdict = run["verdict"]
        assert verdict["passed"] == (not verdict["reasons"])
        assert ("PASS" in line) == verdict["passed"]
        # Each reason names the limit broken and whom; the JSON carries the same reasons.
        for reason in verdict["reasons"]:
            assert reason in line
        p95 = run["totals"]["latency_ms"]["p95"]
        assert (p95 > 150) == any(r.startswith("latency p95") for r in verdict["reasons"])
        loss = run["totals"]["loss_pct"]
        assert (loss > 2) == any(r.startswith("loss") for r in verdict["reasons"])


def test_mesh_warns_that_the_commuters_4g_uplink_is_overloaded(tmp_path) -> None:
    """With congestion control off (the open loop), seven copies up a 12 Mbps 4g uplink
    are offered beyond its rate and the verdict says so; with GCC on (the default) each
    peer connection's encoder backs off, so no such warning appears."""
    open_loop = tmp_path / "meeting-8-open-loop.yaml"
    open_loop.write_text(MEETING.read_text().replace("topology:\n  kind: sfu",
                                                     "topology:\n  kind: sfu\n  mesh: {bwe: off}"))
    done = roomsim("compare", str(open_loop), "--duration", "6", "--topologies", "mesh,sfu")
    assert done.returncode == 0, done.stderr
    runs = json.loads(roomsim("compare", str(open_loop), "--duration", "6", "--topologies", "mesh,sfu",
                              "--json").stdout)["runs"]
    mesh = runs[0]
    commuter = next(p for p in mesh["participants"] if p["id"] == "commuter")
    assert commuter["uplink_kbps"] > commuter["uplink_capacity_kbps"] == 12_000
    expected = (f"commuter's 4g uplink offered {commuter['uplink_kbps'] / 1000:.3g} Mbps "
                "of 12 Mbps")
    assert f"    warning: {expected}" in done.stdout
    assert expected in mesh["verdict"]["warnings"]
    # Nobody's link is overloaded through the SFU's one upload per participant.
    assert not any("uplink offered" in w for w in runs[1]["verdict"]["warnings"])


def test_closed_loop_mesh_keeps_the_commuters_uplink_within_its_rate(meeting_json) -> None:
    mesh = meeting_json["runs"][0]
    commuter = next(p for p in mesh["participants"] if p["id"] == "commuter")
    assert commuter["uplink_kbps"] < commuter["uplink_capacity_kbps"]
    assert not any("commuter's 4g uplink offered" in w for w in mesh["verdict"]["warnings"])


def test_the_verdict_names_the_worst_participant_and_the_busiest_cpu() -> None:
    scenario = api.load_scenario(MEETING)
    run = api.run(scenario, "mesh", duration_s=4).runs[0]
    strict = QualityGate(loss_pct=0.001, latency_p95_ms=1, cpu_pct=1)
    verdict = judge(run, strict, network_names(scenario))
    assert not verdict.passed and len(verdict.reasons) == 3
    worst_loss = max(run.participants, key=lambda p: p.loss_pct)
    worst_p95 = max(run.participants, key=lambda p: p.latency_ms.p95 or 0)
    assert f"(worst: {worst_loss.id} " in verdict.reasons[0]
    assert f"(worst: {worst_p95.id} " in verdict.reasons[1]
    busiest = max(run.participants, key=lambda p: p.client_cpu_cores / p.client_cpu_budget_cores)
    assert verdict.reasons[2].startswith("CPU ") and f"({busiest.id}'s {busiest.device}: " in verdict.reasons[2]
    # Per-peer encoders take a laptop to its whole budget in a mesh of 8; through the SFU it
    # encodes once, so a lenient gate passes it.
    lenient = QualityGate(loss_pct=100, latency_p95_ms=1e6, cpu_pct=100)
    sfu = api.run(scenario, "sfu", duration_s=4).runs[0]
    assert judge(sfu, lenient).line().startswith("sfu: PASS (loss ")


def test_gate_comes_from_the_scenario_and_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "gated.yaml"
    path.write_text(MEETING.read_text() + "gate: {latency_p95_ms: 2000, loss_pct: 50}\n")
    done = roomsim("run", str(path), "--duration", "4", "--topology", "sfu", "--gate-cpu", "0.01")
    assert done.returncode == 0, done.stderr
    assert "gate: loss <= 50 %, p95 <= 2000 ms, CPU <= 0.01 %" in done.stdout
    verdict = done.stdout.splitlines()[-1]
    assert verdict.startswith("  sfu: FAIL: CPU ") and "latency" not in verdict


def test_flags_only_equals_the_same_scenario_as_yaml(tmp_path: Path) -> None:
    flags = ["--people", "3", "--video", "360p", "--network", "4g"]
    asked = roomsim("compare", *flags, "--duration", "4", "--json")
    assert asked.returncode == 0, asked.stderr
    written = roomsim("new", "call.yaml", *flags, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    text = (tmp_path / "call.yaml").read_text()
    assert "count: 3" in text and "network: 4g" in text and "resolution: 360p" in text
    from_file = roomsim("compare", str(tmp_path / "call.yaml"), "--duration", "4", "--json")
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(asked.stdout) == json.loads(from_file.stdout)
    assert len(json.loads(asked.stdout)["runs"][0]["participants"]) == 3


def test_new_writes_a_commented_starter_that_validates(tmp_path: Path) -> None:
    done = roomsim("new", "start.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "start.yaml").read_text()
    assert text.count("#") >= 10  # commented
    assert roomsim("validate", "start.yaml", cwd=tmp_path).returncode == 0
    again = roomsim("new", "start.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr


ERRORS = {
    "unknown network": (
        "name: x\nnetworks:\n  home: {preset: dsl}\nrooms:\n  - id: r\n    participants:\n"
        "      - id: a\n        network: wiffi\n",
        r"^roomsim: {f}:8: rooms\[0\]\.participants\[0\]\.network: unknown network 'wiffi' "
        r"\(did you mean 'wifi'\?\); choose from: home, fiber, .*datacenter$"),
    "unknown node": (
        "name: x\nrooms:\n  - id: r\n    node: edge\n    participants: [{id: a}]\n",
        r"^roomsim: {f}:4: rooms\[0\]\.node: unknown node 'edge'; choose from: server-1$"),
    "unknown device": (
        "name: x\nrooms:\n  - id: r\n    participants:\n      - {id: a, device: lapto}\n",
        r"^roomsim: {f}:5: rooms\[0\]\.participants\[0\]\.device: unknown device 'lapto' "
        r"\(did you mean 'laptop'\?\)"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_scenario_errors_name_file_line_field(tmp_path: Path, case: str) -> None:
    text, pattern = ERRORS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = roomsim("validate", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert re.match(pattern.format(f=re.escape(str(path))), done.stderr.strip()), done.stderr


def test_sweep_errors_use_the_same_prefix(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("name: b\nrooms: [{id: r, participants: [{id: a}]}]\n")
    path = tmp_path / "sweep.yaml"
    path.write_text("base: base.yaml\nseeds: [1]\ngrid:\n  rooms.0.participants.0.cnt: [1, 2]\n")
    done = roomsim("sweep", str(path), "-o", str(tmp_path / "out"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"roomsim: {path}:4: grid['rooms.0.participants.0.cnt']: ")


@pytest.mark.parametrize("args", [["compare", "--peple", "3"], ["compare", "--network", "moon"],
                                  ["frobnicate"], ["run"]])
def test_click_usage_errors_stay_one_line(args: list[str]) -> None:
    done = roomsim(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("roomsim: "), done.stderr


def test_help_and_version_do_not_import_the_engine() -> None:
    code = ("import sys; from roomsim.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('numba', 'simpy', 'matplotlib', 'roomsim.run.runner') if m in sys.modules]\n"
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def _stderr_on_a_terminal(code: str) -> str:
    """What `code` writes on stderr when stderr is a terminal (a pty 100 columns wide)."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    child = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=subprocess.DEVNULL,
                             stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    child.wait(timeout=60)
    os.close(master)
    return out.decode(errors="replace")


FAKE_RUN = """
import time
from roomsim.cli import _progress
bar = _progress({as_json})
assert (bar is None) == {as_json}
if bar is not None:
    with bar("sfu", 30.0) as tell:
        for tick in range(1, 61):  # 3 s of wall time, 30 simulated seconds
            time.sleep(0.05)
            tell(tick * 0.5)
"""


def test_progress_shows_simulated_seconds_on_a_terminal_only() -> None:
    shown = _stderr_on_a_terminal(FAKE_RUN.format(as_json=False))
    assert " sfu: " in shown and "/30 simulated s" in shown
    assert _stderr_on_a_terminal(FAKE_RUN.format(as_json=True)) == ""
    # On a pipe there is no bar at all, however long the run.
    piped = subprocess.run([sys.executable, "-c", "from roomsim.cli import _progress; "
                            "print(_progress(False) is None)"], capture_output=True, text=True)
    assert piped.stdout.strip() == "True"
