"""Egress and ingress on their room's node: their jobs compete with forwarding for cores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roomsim.codecs.costs import load_profile
from roomsim.results.models import RunResult
from roomsim.run import runner
from tests.helpers import CLEAN, room, run

TRACKS = [{"kind": "audio"}, {"kind": "video", "resolution": "720p"}]  # Opus 50 fps, VP8 720p 30 fps
MEDIA_ONLY = {"frames": "constant", "control_traffic": False}


def scenario(runs_on: str = "node", egress: dict[str, Any] | None = None, ingress: bool = False,
             cores: float = 64) -> dict[str, Any]:
    """Four publishers (audio + 720p) and a recorder (and an ingress) on one node. Media
    only, at constant frame sizes: the node's figures then equal the closed form to the
    rounding (VBR frames wander ~1 % from their mean over a 4 s window, and control packets
    are counted on the node's CPU without queueing there, so they would add their share
    above a saturated node's cores; both are tested in test_wire.py)."""
    raw = room(4, TRACKS)
    raw["wire"] = MEDIA_ONLY
    raw["nodes"][0]["cores"] = cores
    members = raw["rooms"][0]["participants"]
    members.append({"id": "rec", "kind": "egress", "network": dict(CLEAN),
                    "egress": {"runs_on": runs_on, **(egress or {})}})
    if ingress:
        members.append({"id": "cam", "kind": "ingress", "network": dict(CLEAN),
                        "tracks": [{"kind": "video", "resolution": "720p", "simulcast": True}],
                        "ingress": {"runs_on": runs_on}})
    return raw


def row(result: RunResult, name: str) -> Any:
    return next(e for e in result.extensions if e.id == name)


def person(result: RunResult, name: str) -> Any:
    return next(p for p in result.participants if p.id == name)


def composite_cores_by_hand(videos: int = 4) -> float:
    """The recorder of `scenario` from the cost profile's tables: decode 4 Opus (50/s) and
    `videos` VP8 720p (30/s) inputs; per 720p H.264 output frame (30/s) a tile per video
    input + one encode; per 20 ms audio frame a 4-input mix + one Opus encode."""
    costs = load_profile()
    decode = 4 * 50 * costs.audio_cost("opus").decode_us + videos * 30 * costs.video_cost("vp8", "720p").decode_us
    video = 30 * (videos * costs.composite_us_per_tile("720p") + costs.video_cost("h264", "720p").encode_us)
    audio = 50 * (4 * costs.audio_mix_us_per_input + costs.audio_cost("opus").encode_us)
    return (decode + video + audio) / 1e6


def test_node_cpu_rises_by_exactly_the_extension_jobs() -> None:
    """The same run with the extensions on the node and on hosts of their own: the node's
    busy cores differ by exactly the extensions' job costs (measured = closed form), and
    their own client CPU drops to zero."""
    on = run(scenario("node", ingress=True), "sfu")
    off = run(scenario("own-host", ingress=True), "sfu")
    rec, cam = row(on, "rec"), row(on, "cam")
    assert rec.runs_on == cam.runs_on == "node"
    # the ingress's top layer is a fifth video input: 0.60929 cores
    assert rec.expected_cpu_cores == pytest.approx(composite_cores_by_hand(videos=5), abs=2e-5)
    for ext in (rec, cam):
        assert ext.cpu_cores == pytest.approx(ext.expected_cpu_cores, rel=1e-3) and ext.node_jobs_dropped == 0
        assert person(on, ext.id).client_cpu_cores == 0 and person(on, ext.id).expected_client_cpu_cores == 0
    rise = on.servers[0].cpu_cores - off.servers[0].cpu_cores
    assert rise == pytest.approx(rec.cpu_cores + cam.cpu_cores, abs=2e-5)  # 1.23408 - 0.16713
    assert on.servers[0].cpu_cores == pytest.approx(on.expected["servers"]["node"]["cpu_cores"], rel=1e-3)
    assert off.servers[0].cpu_cores == pytest.approx(off.expected["servers"]["node"]["cpu_cores"], rel=1e-3)
    # off the node the same work is costed on the extensions' own hosts, none on the node
    assert person(off, "rec").client_cpu_cores > 0.2 and row(off, "rec").runs_on == "own-host"
    assert row(off, "rec").cpu_cores == pytest.approx(rec.cpu_cores, rel=0.02)  # desktop speed factor aside


@pytest.mark.parametrize("runs_on", ["node", "own-host"])
def test_track_egress_and_passthrough_ingress_do_no_codec_work(runs_on: str) -> None:
    """Track egress exports without transcoding; a WHIP ingress without transcoding
    passes its media through: neither adds CPU beyond forwarding, on the node or off it."""
    raw = scenario(runs_on, egress={"type": "track"}, ingress=True)
    raw["rooms"][0]["participants"][-1]["ingress"]["transcoding"] = False
    result = run(raw, "sfu")
    for name in ("rec", "cam"):
        assert row(result, name).cpu_cores == 0 and person(result, name).client_cpu_cores == 0
        assert row(result, name).expected_cpu_cores == (0 if runs_on == "node" else None)
    assert result.servers[0].cpu_cores == pytest.approx(result.expected["servers"]["node"]["cpu_cores"], rel=1e-3)


def test_composite_egress_on_a_nearly_full_node_hurts_forwarding_where_a_track_egress_does_not() -> None:
    """0.2 cores: forwarding with a track egress keeps the node at ~65 %; a composite
    recorder (~0.55 cores of jobs) saturates it, and the participants' media queue and drop
    behind its jobs."""
    plain = run({**room(4, TRACKS), "wire": MEDIA_ONLY}, "sfu",
                nodes=[{"id": "node", "cores": 0.2, "nic_mbps": 100_000}])
    track = run(scenario(egress={"type": "track"}, cores=0.2), "sfu")
    composite = run(scenario(cores=0.2), "sfu")
    people = [p for p in track.participants if p.id != "rec"]
    assert track.servers[0].cpu_util_pct < 70 and track.servers[0].cpu_dropped_jobs == 0
    # one more subscriber's copies only: within 2 ms of the room without a recorder
    assert max(p.latency_ms.p95 for p in people) < max(p.latency_ms.p95 for p in plain.participants) + 2
    assert max(p.loss_pct for p in people) == 0
    hurt = [p for p in composite.participants if p.id != "rec"]
    assert composite.servers[0].cpu_util_pct == pytest.approx(100, abs=0.5)
    assert composite.servers[0].cpu_dropped_jobs > 1000
    assert min(p.latency_ms.p50 for p in hurt) > 5 * max(p.latency_ms.p50 for p in people)  # ~400 vs ~40 ms
    assert min(p.loss_pct for p in hurt) > 20
    assert row(composite, "rec").node_jobs_dropped > 0


def test_jobs_go_to_the_rooms_worker_on_a_worker_threaded_node(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rooms on a 2-worker node: the recorder's jobs run on its room's worker only."""
    profile = tmp_path / "worker.json"
    cost = {"fixed_us": 5.0}
    profile.write_text(json.dumps({
        "name": "w", "system": "test", "threading": "worker", "receive": cost, "send": cost,
        "hardware": "test", "fitted_on": ["none: a test"], "sources": ["tests"]}))
    raw = scenario(cores=2)
    raw["nodes"][0]["profile"] = str(profile)
    raw["rooms"].append({"id": "other", "participants": [
        {"id": "q", "count": 4, "network": dict(CLEAN), "tracks": TRACKS}]})
    seen: dict[str, Any] = {}
    collect = runner.collect

    def spy(world: Any, model: Any, end_ns: int) -> RunResult:
        # read while the run's tables exist (the runner drops them once results are read)
        servers = seen["servers"] = model.servers
        seen["busy"] = world.cpus.counters.get("measured", "busy_ns")[servers.node_pools[0]]
        return collect(world, model, end_ns)

    monkeypatch.setattr(runner, "collect", spy)
    result = run(raw, "sfu")
    servers, busy = seen["servers"], seen["busy"]
    seconds = result.measured_s
    rooms = {r: int(servers.room_pool[0, r]) for r in range(2)}
    assert rooms[0] != rooms[1]
    by_pool = dict(zip(servers.node_pools[0], busy / 1e9 / seconds, strict=True))
    # same forwarding in both rooms (the recorder's copies aside); the recorder's jobs on its own
    recorder = row(result, "rec").cpu_cores
    assert by_pool[rooms[0]] - by_pool[rooms[1]] == pytest.approx(recorder, rel=0.05)
    assert recorder == pytest.approx(composite_cores_by_hand(), rel=1e-3)


def test_results_do_not_depend_on_the_tick() -> None:
    raw = scenario(ingress=True, cores=0.9)
    fine = run(raw, "sfu", engine={"tick_ms": 10})
    coarse = run(raw, "sfu", engine={"tick_ms": 50})
    assert fine.servers[0].cpu_cores == coarse.servers[0].cpu_cores
    assert [e.cpu_cores for e in fine.extensions] == [e.cpu_cores for e in coarse.extensions]
    assert [p.latency_ms for p in fine.participants] == [p.latency_ms for p in coarse.participants]


def test_unknown_egress_type_is_a_one_line_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from roomsim.cli import main

    raw = scenario(egress={"type": "composite"})
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(raw))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "egress.type" in result.output and "room-composite" in result.output
    assert "Traceback" not in result.output


def test_a_cascaded_recorder_runs_on_the_node_it_connects_to() -> None:
    """Cascade over eu/us, room pinned to the eu node, recorder in us: its jobs load the us
    node only (the eu node's CPU is the same with the recorder on its own host)."""
    tracks = [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]
    raw: dict[str, Any] = {
        "name": "c", "duration_s": 4, "warmup_s": 1, "seed": 1,
        "regions": {"links": [{"a": "eu", "b": "us", "latency_ms": 40}]},
        "nodes": [{"id": "n-eu", "region": "eu"}, {"id": "n-us", "region": "us"}],
        "rooms": [{"id": "r", "node": "n-eu", "participants": [
            {"id": "rec", "kind": "egress", "region": "us", "network": "fiber"},
            {"id": "a", "count": 2, "region": "eu", "network": "fiber", "tracks": tracks},
            {"id": "b", "count": 2, "region": "us", "network": "fiber", "tracks": tracks}]}],
        "topology": {"kind": "sfu", "sfu": {"cascade": True}}}
    on = run(raw, "sfu")
    raw["rooms"][0]["participants"][0]["egress"] = {"runs_on": "own-host"}
    off = run(raw, "sfu")
    node = {s.id: s.cpu_cores for s in on.servers}
    base = {s.id: s.cpu_cores for s in off.servers}
    rec = row(on, "rec")
    assert rec.cpu_cores == pytest.approx(rec.expected_cpu_cores, rel=1e-3) and rec.cpu_cores > 0.3
    assert node["n-eu"] == base["n-eu"]
    assert node["n-us"] - base["n-us"] == pytest.approx(rec.cpu_cores, abs=2e-5)  # 0.4453 - 0.03707
    assert on.expected["servers"]["n-us"]["cpu_cores"] == pytest.approx(node["n-us"], rel=1e-3)
