"""Server profiles: size-aware forwarding cost, threading models, load-tester workloads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from roomsim import api
from roomsim.codecs.server_profiles import (
    DEFAULT_SERVER_PROFILE,
    PacketCost,
    ServerProfile,
    load_server_profile,
)
from roomsim.errors import ScenarioError
from roomsim.scenario.load import scenario_from_dict


def _scenario(profile: str, cores: float = 4, count: int = 6, **sfu: Any) -> dict[str, Any]:
    return {
        "name": "profiles", "duration_s": 4, "warmup_s": 1.5, "seed": 3,
        "nodes": [{"id": "n1", "cores": cores, "profile": profile}],
        "rooms": [{"id": "r", "participants": [{
            "id": "p", "count": count, "network": "fiber",
            "tracks": [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]}]}],
        "topology": {"kind": "sfu", "sfu": sfu},
    }


def _profile_file(tmp_path: Path, threading: str, fixed_us: float, per_byte_us: float = 0.0,
                  pipe: bool = False) -> str:
    cost = {"fixed_us": fixed_us, "per_byte_us": per_byte_us}
    path = tmp_path / f"{threading}-{fixed_us}-{pipe}.json"
    path.write_text(json.dumps({
        "name": "test", "system": "test", "threading": threading, "pipe_across_workers": pipe,
        "receive": cost, "send": cost, "hardware": "test", "fitted_on": ["none: a test"],
        "sources": ["tests/test_server_profiles.py"]}))
    return str(path)


def test_default_profile_is_the_size_aware_livekit_fit() -> None:
    profile = load_server_profile(DEFAULT_SERVER_PROFILE)
    assert profile.name == "livekit" and profile.threading == "spread"
    assert profile.send.per_byte_us > 0 and profile.fitted_on and profile.checked_on
    legacy = load_server_profile("legacy-17us")
    assert legacy.send == PacketCost(fixed_us=17.0) and legacy.receive == legacy.send


def test_per_byte_cost_charges_a_1000_byte_packet_the_slope_more() -> None:
    cost = load_server_profile("livekit").send
    assert cost.us(1000) - cost.us(100) == pytest.approx(900 * cost.per_byte_us)
    assert cost.us(1000) > cost.us(100)


def test_engine_charges_fixed_plus_per_byte_on_every_packet(tmp_path: Path) -> None:
    """Simulated node CPU = fixed x packets + slope x wire bytes, in and out (no saturation):
    a per-byte-only profile's busy cores are exactly slope x the NIC's bytes."""
    fixed = _profile_file(tmp_path, "spread", 5.0)
    per_byte = _profile_file(tmp_path, "spread", 0.0, per_byte_us=0.01)
    for path, expect in ((fixed, lambda s: 5e-6 * (s.ingress_pps + s.egress_pps)),
                         (per_byte, lambda s: 0.01e-6 * (s.ingress_mbps + s.egress_mbps) * 1e6 / 8)):
        run = api.run(scenario_from_dict(_scenario(path))).runs[0]
        node = run.servers[0]
        assert node.cpu_cores == pytest.approx(expect(node), rel=0.02)
        assert run.expected["servers"]["n1"]["cpu_cores"] == pytest.approx(node.cpu_cores, rel=0.1)


def test_a_one_worker_room_saturates_its_core_while_a_spread_room_does_not(
        tmp_path: Path) -> None:
    """One room needing ~2 cores on a 4-core node: confined to one worker it saturates that
    core (drops, loss) with the node mostly idle; spread over the cores, or piped across
    workers, it runs clean (500 us a packet: ~4,000 packets/s in+out = ~2 cores)."""
    def media_only(data: dict[str, Any]) -> dict[str, Any]:
        # control packets are counted on the node's CPU but not queued there, so they would
        # add their share above a saturated worker's one core: this test is about media
        return {**data, "wire": {"control_traffic": False}}

    spread = api.run(scenario_from_dict(media_only(_scenario(_profile_file(tmp_path, "spread", 500.0)))))
    node = spread.runs[0].servers[0]
    assert 1.4 < node.cpu_cores < 3.0 and node.cpu_dropped_jobs == 0
    worker = api.run(scenario_from_dict(media_only(_scenario(_profile_file(tmp_path, "worker", 500.0)))))
    busy = worker.runs[0].servers[0]
    assert busy.cpu_cores == pytest.approx(1.0, abs=0.05)  # its one core, all of it
    assert busy.cpu_util_pct < 30 and busy.cpu_dropped_jobs > 0
    assert worker.runs[0].totals.loss_pct > 5 * max(spread.runs[0].totals.loss_pct, 0.1)
    # piped, each received packet also costs a send + receive on 3 more workers: at half
    # the cost per packet the room needs ~2 cores again, now spread over the 4 workers
    piped = api.run(scenario_from_dict(media_only(_scenario(_profile_file(tmp_path, "worker", 250.0,
                                                                          pipe=True)))))
    node = piped.runs[0].servers[0]
    assert node.cpu_dropped_jobs == 0 and node.cpu_cores > 1.0


def test_rooms_on_a_worker_node_take_the_least_loaded_worker(tmp_path: Path) -> None:
    """Two rooms of ~0.8 core each on a 2-worker node: one room per worker, so neither
    saturates (both on one worker would need 1.6 cores of it)."""
    data = _scenario(_profile_file(tmp_path, "worker", 200.0), cores=2)
    second = json.loads(json.dumps(data["rooms"][0]))
    second["id"], second["participants"][0]["id"] = "r2", "q"
    data["rooms"].append(second)
    node = api.run(scenario_from_dict(data)).runs[0].servers[0]
    assert node.cpu_dropped_jobs == 0
    assert 1.4 < node.cpu_cores < 1.95


def test_loadtest_layout_gives_each_subscriber_one_high_and_five_low_tracks() -> None:
    """LiveKit's load tester: one 720p layer, five 180p layers, the rest of the video off
    (audio always): each subscriber's settled downlink payload is exactly that."""
    data = _scenario("livekit", cores=16, count=10, layout="livekit-loadtest")
    data["rooms"][0]["participants"][0]["tracks"] = [
        {"kind": "audio"}, {"kind": "video", "resolution": "720p", "simulcast": True}]
    run = api.run(scenario_from_dict(data)).runs[0]
    scenario = scenario_from_dict(data)
    video = scenario.rooms[0].participants[0].tracks[1]
    layers = {layer.resolution: layer.bitrate_kbps for layer in video.layers()}  # type: ignore[union-attr]
    audio = scenario.rooms[0].participants[0].tracks[0].effective_bitrate_kbps()  # type: ignore[union-attr]
    want = layers["720p"] + 5 * layers["180p"] + 9 * audio
    for participant in run.expected["participants"].values():
        assert participant["downlink_payload_kbps"] == pytest.approx(want, rel=0.01)
    for p in run.participants:
        assert p.downlink_payload_kbps == pytest.approx(want, rel=0.1)


def test_load_generator_packet_rate_and_explicit_encodings() -> None:
    # media packets only: RTCP, feedback and consent checks would add theirs to uplink_pps
    data = {**_scenario("livekit", count=2), "wire": {"control_traffic": False}}
    data["rooms"][0]["participants"][0]["tracks"] = [
        {"kind": "audio", "bitrate_kbps": 3, "packets_per_s": 30},
        {"kind": "video", "resolution": "360p", "encodings": [
            {"resolution": "180p", "bitrate_kbps": 100, "fps": 15},
            {"resolution": "360p", "bitrate_kbps": 300, "fps": 30}]}]
    run = api.run(scenario_from_dict(data)).runs[0]
    video = scenario_from_dict(data).rooms[0].participants[0].tracks[1]
    assert [(v.resolution, v.fps) for v in video.layers()] == [("180p", 15), ("360p", 30)]  # type: ignore[union-attr]
    for p in run.expected["participants"].values():
        assert p["uplink_payload_kbps"] == pytest.approx(3 + 100 + 300, rel=0.01)
    data["rooms"][0]["participants"][0]["tracks"] = [
        {"kind": "audio", "bitrate_kbps": 3, "packets_per_s": 30}]
    audio_only = api.run(scenario_from_dict(data)).runs[0]
    for p in audio_only.expected["participants"].values():
        assert p["uplink_pps"] == pytest.approx(30)
    for q in audio_only.participants:
        assert q.uplink_pps == pytest.approx(30, rel=0.05)


@pytest.mark.parametrize("profile, message", [
    ("nosuch", "unknown server profile 'nosuch'"),
    ("missing.yaml", "cannot read server profile"),
])
def test_bad_profile_is_a_one_line_error(profile: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(_scenario(profile), "s.yaml")
    text = str(err.value)
    assert "nodes" in text and message in text and "\n" not in text


def test_profile_file_with_a_bad_field_names_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: x\nsystem: x\nthreading: threads\nreceive: {fixed_us: 1}\n"
                    "send: {fixed_us: 1}\nhardware: x\nfitted_on: [x]\nsources: [x]\n")
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(_scenario(str(path)), "s.yaml")
    assert "threading" in str(err.value) and "mine.yaml" in str(err.value)


def test_profile_model_round_trips() -> None:
    profile = load_server_profile("livekit")
    assert ServerProfile.model_validate(profile.model_dump()) == profile


def test_capacity_answers_per_profile(tmp_path: Path) -> None:
    """`roomsim capacity --profiles`: one search per profile, every node on it; a profile
    ten times LiveKit's cost fits fewer people on the same 2 cores."""
    from click.testing import CliRunner

    from roomsim.capacity.search import capacity_command

    livekit = load_server_profile("livekit")
    heavy = _profile_file(tmp_path, "spread", 10 * livekit.send.fixed_us,
                          per_byte_us=10 * livekit.send.per_byte_us)
    data = _scenario("livekit", cores=2, count=2)
    data["capacity"] = {"vary": "rooms.0.participants.0.count", "low": 2, "high": 40,
                        "duration_s": 2.5}
    path = tmp_path / "cap.yaml"
    path.write_text(json.dumps(data))
    done = CliRunner().invoke(capacity_command, [str(path), "--profiles", f"livekit,{heavy}",
                                                 "--json"])
    assert done.exit_code == 0, done.output
    answers = json.loads(done.output)["profiles"]
    assert answers["livekit"]["capacity"] is not None and answers[heavy]["capacity"] is not None
    assert answers[heavy]["capacity"] < answers["livekit"]["capacity"]
    bad = CliRunner().invoke(capacity_command, [str(path), "--profiles", "nosuch"])
    assert bad.exit_code == 2 and "unknown server profile" in bad.output


def _fit_script() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "experiments" / "reference" / "fit_profiles.py"
    spec = importlib.util.spec_from_file_location("fit_profiles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fit_profiles", module)  # dataclasses look their module up
    spec.loader.exec_module(sys.modules["fit_profiles"])
    return sys.modules["fit_profiles"]


def test_bundled_livekit_profile_is_what_the_fit_script_solves() -> None:
    """The shipped numbers are the fit of the named published rows, not typed by hand,
    and the fit reproduces the fitted rows' published busy vCPU exactly."""
    fit = _fit_script()
    assert fit.fit("livekit") == load_server_profile("livekit")
    cost = load_server_profile("livekit").send
    for row in fit.PLAN["livekit"][1]:
        busy = cost.fixed_us * row.published_pps + cost.per_byte_us * row.wire_bytes()
        assert busy / 1e6 == pytest.approx(row.published_cpu_pct / 100 * row.cores, rel=1e-3)


def test_livekit_profile_holds_out_the_large_meeting_within_band() -> None:
    """The held-out row, simulated with the fitted profile: within 0.7x-1.4x of LiveKit's
    published 85 % (0.93 in experiments/reference/profile-livekit.md)."""
    fit = _fit_script()
    for row in fit.PLAN["livekit"][2]:
        ratio = fit.measure(row, "livekit", 4.0) / row.published_cpu_pct
        assert 0.7 <= ratio <= 1.4, (row.label, ratio)


@pytest.mark.parametrize("change, message", [
    ({"simulcast": True}, "encodings replace `simulcast`"),
    ({"fps": 30}, "leave the track's bitrate_kbps and fps unset"),
    ({"resolution": "1080p"}, "the highest must be the track's 1080p"),
])
def test_encodings_errors_are_one_line(change: dict[str, Any], message: str) -> None:
    data = _scenario("livekit", count=2)
    video = {"kind": "video", "resolution": "360p", "encodings": [
        {"resolution": "180p", "bitrate_kbps": 100, "fps": 15},
        {"resolution": "360p", "bitrate_kbps": 300, "fps": 30}], **change}
    data["rooms"][0]["participants"][0]["tracks"] = [video]
    with pytest.raises(ScenarioError, match="tracks") as err:
        scenario_from_dict(data, "s.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)
