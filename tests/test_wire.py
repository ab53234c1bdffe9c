"""What is on the wire: frame sizes (keyframes, rate control), control packets (RTCP,
transport feedback, consent checks), SRTP profile and packet size, and the mesh's
peer-to-peer repair round trip and backbone delay."""

from __future__ import annotations

import numpy as np
import pytest

from roomsim import api
from roomsim.errors import ScenarioError
from roomsim.workload.world import World
from tests.helpers import CLEAN, build, room, run

AUDIO_32 = [{"kind": "audio", "bitrate_kbps": 32}]
VIDEO_1500 = [{"kind": "video", "resolution": "720p", "bitrate_kbps": 1500, "fps": 30}]


def net(rtt_ms: float, loss_pct: float = 0.0) -> dict:
    return {**CLEAN, "rtt_ms": rtt_ms, "loss_pct": loss_pct}


def record_frames(monkeypatch: pytest.MonkeyPatch) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every captured batch (frames, keyframe flags) of the next runs."""
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    init = World.__init__

    def hooked(self: World, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        self.frame_listeners.append(lambda frames, key: seen.append((frames, key)))

    monkeypatch.setattr(World, "__init__", hooked)
    return seen


def video_frames(seen: list[tuple[np.ndarray, np.ndarray]], stream: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(capture ns, payload bytes, keyframe) of one stream's frames, in order."""
    frames = np.concatenate([f for f, _ in seen])
    keys = np.concatenate([k for _, k in seen])
    mine = frames["stream"] == stream
    return frames["t"][mine], frames["payload"][mine], keys[mine]


def test_long_run_payload_rate_is_the_target_and_constant_frames_are_exact() -> None:
    for frames in ("vbr", "constant"):
        # constant frames are exact only in the open loop: with GCC the encoder's target
        # moves with the estimate (its rounding to whole bytes per frame moves the rate)
        loop = "gcc" if frames == "vbr" else "off"
        result = run({**room(2, VIDEO_1500), "topology": {"kind": "mesh", "mesh": {"bwe": loop}}}, "mesh",
                     duration_s=31, warmup_s=1, wire={"frames": frames, "control_traffic": False})
        for p in result.participants:
            assert p.uplink_payload_kbps == pytest.approx(1500, rel=0.02 if frames == "vbr" else 1e-6)
            if frames == "vbr":  # the frames really vary: not the constant figure
                assert p.uplink_payload_kbps != pytest.approx(1500, rel=1e-6)


def test_keyframes_are_bursts_at_start_and_interval_and_deltas_vary(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = record_frames(monkeypatch)
    run(room(2, VIDEO_1500), "mesh", duration_s=8, wire={"frames": {"keyframe_interval_frames": 60}})
    t, size, key = video_frames(seen, 0)
    mean = 1500e3 / 8 / 30
    first = np.flatnonzero(key)
    assert first[0] == 0 and np.all(np.diff(first) == 60)  # start, then every 60 frames
    assert size[key].min() == pytest.approx(9 * mean, abs=1)  # max(3, 0.3 x 30) mean frames
    deltas = size[~key]
    assert deltas.max() < 2 * mean  # a keyframe stands out as a burst
    assert 0.08 < deltas.std() / deltas.mean() < 0.35  # spread around a paid-back target
    print(f"keyframe {size[key].min()} B, delta mean {deltas.mean():.0f} B sd {deltas.std():.0f} B")


def test_an_sfu_pli_produces_a_keyframe(monkeypatch: pytest.MonkeyPatch) -> None:
    """A subscriber joining at 3 s makes the SFU ask the publisher for a keyframe."""
    seen = record_frames(monkeypatch)
    raw = room(1, [{"kind": "video", "resolution": "360p", "bitrate_kbps": 500, "fps": 30}])
    raw["rooms"][0]["participants"].append({"id": "late", "network": dict(CLEAN), "join_s": 3.0})
    result = run(raw, "sfu", duration_s=6)
    t, size, key = video_frames(seen, 0)
    later = t[key] > 2.9e9
    assert later.sum() >= 1, "no keyframe after the join"
    assert 3.0e9 <= t[key][later].min() < 3.2e9
    assert size[key][later].min() > 2.5 * size[~key].mean()
    assert result.details["keyframes"]["sent"] >= 1


def test_a_peer_joining_a_mesh_gets_a_keyframe(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = record_frames(monkeypatch)
    raw = room(1, [{"kind": "video", "resolution": "360p", "bitrate_kbps": 500, "fps": 30}])
    raw["rooms"][0]["participants"].append({"id": "late", "network": dict(CLEAN), "join_s": 3.0})
    run(raw, "mesh", duration_s=6)
    t, size, key = video_frames(seen, 0)
    assert t[key][0] < 0.1e9  # the stream's first frame
    assert 3.0e9 <= t[key][1] < 3.04e9 and len(t[key]) == 2  # the next frame after the join
    assert size[key][1] > 2.5 * size[~key].mean()


def control_rule_bps(tag: int) -> float:
    """Hand-computed control bits/s on one peer's uplink of a 2-peer audio-only mesh
    (RFC 3550 sec. 6.4, RFC 4585, RFC 3711 sec. 3.4, RFC 8489; intervals of libwebrtc):"""
    wrap = 4 + tag + 8 + 20  # SRTCP index + tag, UDP, IPv4
    sender_report = (8 + 20 + wrap) / 5.0  # its own stream's SR, every 5 s (audio)
    receiver_report = (8 + 24 + wrap) / 5.0  # RR on the peer's stream, every 5 s
    feedback = (24 + 4 + wrap) / 0.1  # 20 + 2 + 5 packets of 100 ms of 50 pps -> 28 bytes
    consent = (96 + 28 + 64 + 28) / 2.5  # its own request and its answer to the peer's
    return 8 * (sender_report + receiver_report + feedback + consent)


@pytest.mark.parametrize("profile,tag", [("AES_CM_128_HMAC_SHA1_80", 10), ("AEAD_AES_128_GCM", 16)])
def test_per_stream_rtcp_rate_follows_the_rule_on_links_and_in_the_closed_form(profile: str, tag: int) -> None:
    raw = room(2, AUDIO_32)
    on = run(raw, "mesh", duration_s=21, warmup_s=1, wire={"srtp_profile": profile})
    off = run(raw, "mesh", duration_s=21, warmup_s=1, wire={"srtp_profile": profile, "control_traffic": False})
    rule = control_rule_bps(tag) / 1e3
    for a, b in zip(on.participants, off.participants, strict=True):
        assert a.uplink_kbps - b.uplink_kbps == pytest.approx(rule, abs=1e-3)
        assert a.downlink_kbps - b.downlink_kbps == pytest.approx(rule, abs=1e-3)
        assert a.expected_uplink_kbps - b.expected_uplink_kbps == pytest.approx(rule, abs=2e-3)
    print(f"{profile}: control {rule:.4f} kbps per peer uplink")


@pytest.mark.parametrize("topology", ["sfu", "mcu"])
def test_control_bytes_reach_the_server_and_match_the_closed_form(topology: str) -> None:
    raw = room(3, AUDIO_32 + [{"kind": "video", "resolution": "360p", "bitrate_kbps": 500, "fps": 30}])
    on = run(raw, topology, duration_s=21, warmup_s=1, wire={"frames": "constant"})
    off = run(raw, topology, duration_s=21, warmup_s=1, wire={"frames": "constant", "control_traffic": False})
    for a, b in zip(on.participants, off.participants, strict=True):
        assert a.uplink_kbps > b.uplink_kbps and a.downlink_kbps > b.downlink_kbps
        assert a.uplink_kbps == pytest.approx(a.expected_uplink_kbps, abs=0.01)
        assert a.downlink_kbps == pytest.approx(a.expected_downlink_kbps, abs=0.01)
    node_on, node_off = on.servers[0], off.servers[0]
    assert node_on.ingress_mbps - node_off.ingress_mbps == pytest.approx(
        sum(a.uplink_kbps - b.uplink_kbps for a, b in zip(on.participants, off.participants, strict=True)) / 1e3,
        abs=1e-4)
    assert node_on.egress_pps > node_off.egress_pps
    assert on.expected["servers"]["node"]["ingress_mbps"] == pytest.approx(node_on.ingress_mbps, abs=1e-3)


def play_latencies(monkeypatch: pytest.MonkeyPatch, since_s: float = 0.0) -> list[float]:
    """Capture-to-play latency (ms) of every frame captured from `since_s` on."""
    seen: list[float] = []
    init = World.__init__

    def record(sub: np.ndarray, origin: np.ndarray, kind: np.ndarray, cap: np.ndarray, play: np.ndarray) -> None:
        later = cap >= since_s * 1e9
        seen.extend(((play[later] - cap[later]) / 1e6).tolist())

    def hooked(self: World, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        self.play_listeners.append(record)

    monkeypatch.setattr(World, "__init__", hooked)
    return seen


def test_mesh_nack_repair_costs_the_peer_to_peer_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sender on a 20 ms RTT link with 3 % loss, receiver on 180 ms: a repaired frame is
    late by 20 + 180 = 200 ms (not the lossy access link's 20 ms).

    With the closed loop (the default) every frame goes through the peer connection's pacer
    at 2.5 x the estimate, so an unrepaired VBR frame of two packets plays one packet time
    (~3 ms here) after a one-packet frame, and the first keyframe, sent at the start-up
    estimate, delays the first frames by up to ~115 ms. Repairs are therefore told from
    pacing by frames captured after the warm-up (the start-up keyframe has drained) that
    are late by more than 10 ms: half the lossy link's own round trip, so a repair over
    the wrong round trip (20 ms) would still be counted and fail the check."""
    seen = play_latencies(monkeypatch, since_s=1.0)
    raw = {"name": "nack", "duration_s": 20, "warmup_s": 1, "wire": {"control_traffic": False},
           "rooms": [{"id": "r", "participants": [
               {"id": "a", "network": net(20, loss_pct=3),
                "tracks": [{"kind": "video", "resolution": "360p", "bitrate_kbps": 300, "fps": 30}]},
               {"id": "b", "network": net(180)}]}]}
    api.run(build(raw), "mesh")
    latency = np.array(seen)
    base = latency.min()
    late = np.sort(latency[latency > base + 10] - base)
    assert len(late) > 10
    assert late[0] == pytest.approx(200, abs=1.0)
    paced = latency[latency <= base + 10] - base
    assert 0 < paced.max() < 10  # the pacer's spread is there, and far below any repair
    print(f"base {base:.1f} ms, pacing spread {paced.max():.1f} ms, first repair +{late[0]:.1f} ms")


def test_nack_packets_ride_back_towards_the_sender() -> None:
    """Every retransmission on the lossy uplink was asked for by one NACK (58 bytes on the
    wire: 16 of RTCP, 4 of SRTCP index, a 10-byte tag, UDP and IPv4) on the way back."""
    video = [{"kind": "video", "resolution": "720p", "bitrate_kbps": 1200, "fps": 30}]
    lossy = {"name": "n", "duration_s": 8, "rooms": [{"id": "r", "participants": [
        {"id": "a", "network": net(20, loss_pct=5), "tracks": video}, {"id": "b", "network": net(40)}]}]}
    clean = {**lossy, "rooms": [{"id": "r", "participants": [
        {"id": "a", "network": net(20), "tracks": video}, {"id": "b", "network": net(40)}]}]}
    for topology, back in (("mesh", "a/down"), ("sfu", "a/down")):
        with_loss, without = run(lossy, topology), run(clean, topology)
        link = {x.name: x for x in with_loss.links}
        base = {x.name: x for x in without.links}
        resent = link["a/up"].sent_packets - base["a/up"].sent_packets
        assert resent > 20
        assert link[back].sent_bytes - base[back].sent_bytes == 58 * resent
        if topology == "sfu":
            out = "server-1/nic-out"
            assert link[out].sent_bytes - base[out].sent_bytes == 58 * resent


def test_a_transatlantic_mesh_pays_the_backbone_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = play_latencies(monkeypatch)
    people = [{"id": "ny", "region": "us-east", "network": net(20), "tracks": AUDIO_32},
              {"id": "ldn", "region": "eu-west", "network": net(20), "tracks": AUDIO_32}]
    raw = {"name": "atlantic", "duration_s": 5, "warmup_s": 1, "nodes": [{"id": "n", "region": "us-east"}],
           "regions": {"links": [{"a": "us-east", "b": "eu-west", "latency_ms": 38}]},
           "rooms": [{"id": "r", "participants": people}]}
    api.run(build(raw), "mesh")
    far = min(seen)
    seen.clear()
    local = dict(raw, regions=None, nodes=[{"id": "n"}],
                 rooms=[{"id": "r", "participants": [{k: v for k, v in p.items() if k != "region"} for p in people]}])
    api.run(build(local), "mesh")
    assert far - min(seen) == pytest.approx(38, abs=0.5)


def test_srtp_profile_and_max_packet_size_are_settings() -> None:
    # the open loop: every frame at the configured 1500 kbps, so packets per frame are exact
    raw = {**room(2, VIDEO_1500), "topology": {"kind": "mesh", "mesh": {"bwe": "off"}}}
    base = run(raw, "mesh", wire={"frames": "constant", "control_traffic": False})
    gcm = run(raw, "mesh", wire={"frames": "constant", "control_traffic": False, "srtp_profile": "AEAD_AES_128_GCM"})
    small = run(raw, "mesh", wire={"frames": "constant", "control_traffic": False, "max_packet_bytes": 600})
    a, g, s = base.participants[0], gcm.participants[0], small.participants[0]
    assert g.uplink_kbps - a.uplink_kbps == pytest.approx(a.uplink_pps * 6 * 8 / 1e3, rel=1e-6)
    assert g.uplink_kbps == pytest.approx(g.expected_uplink_kbps, abs=0.01)
    # 6,250-byte frames: ceil(6250 / (1200 - 12 - 12 - 6)) = 6 packets, ceil(6250 / (600 - 30)) = 11
    assert (a.uplink_pps, s.uplink_pps) == (180, 330)
    assert s.uplink_payload_kbps == pytest.approx(a.uplink_payload_kbps)
    per_person = dict(raw)
    per_person["rooms"] = [{"id": "r", "participants": [
        {**raw["rooms"][0]["participants"][0], "transport": {"webrtc": {"srtp_profile": "AEAD_AES_128_GCM"}}}]}]
    assert run(per_person, "mesh", wire={"frames": "constant", "control_traffic": False}
               ).participants[0].uplink_kbps == pytest.approx(g.uplink_kbps)
    with pytest.raises(ScenarioError, match="max_packet_bytes"):
        build(raw, wire={"max_packet_bytes": 50})
    with pytest.raises(ScenarioError, match="srtp_profile"):
        build(raw, wire={"srtp_profile": "NULL"})


def test_a_mesh_relay_share_shows_server_traffic_and_its_delay() -> None:
    """One of three peers is relayed: its two pairs (out of three) cross the TURN server,
    whose traffic appears as a server of the mesh, half the relay's extra RTT later."""
    tracks = AUDIO_32 + [{"kind": "video", "resolution": "360p", "bitrate_kbps": 500, "fps": 30}]
    raw = room(2, tracks)
    raw["rooms"][0]["participants"].append({"id": "nat", "network": dict(CLEAN), "tracks": tracks, "relay": True})
    raw["relays"] = {"extra_rtt_ms": 30}
    result = run(raw, "mesh", duration_s=11, warmup_s=1, wire={"frames": "constant", "control_traffic": False})
    direct = run(room(3, tracks), "mesh", duration_s=11, warmup_s=1,
                 wire={"frames": "constant", "control_traffic": False})
    assert [s.id for s in result.servers] == ["turn-1"] and direct.servers == []
    relay = result.servers[0]
    nat = next(p for p in result.participants if p.id == "nat")
    others = [p for p in result.participants if p.id != "nat"]
    # the relay carries everything nat sends and receives (4 bytes of ChannelData a packet)
    assert relay.egress_mbps * 1e3 == pytest.approx(nat.uplink_kbps + nat.downlink_kbps, rel=1e-3)
    assert nat.uplink_kbps - direct.participants[2].uplink_kbps == pytest.approx(nat.uplink_pps * 4 * 8 / 1e3, rel=1e-3)
    assert relay.egress_pps == pytest.approx(nat.uplink_pps + nat.downlink_pps, rel=1e-3)
    assert result.details["relays"]["servers"][0]["relayed_gb"] > 0
    assert all(p.loss_pct == 0 for p in others)
    late = nat.video_latency_ms.p50 - direct.participants[2].video_latency_ms.p50  # type: ignore[operator]
    assert 12 < late < 18  # 15 ms, read from the log-spaced latency bins


def test_reports_go_per_ssrc_simulcast_layers_up_one_per_track_down() -> None:
    """SFU, two publishers of 3-layer simulcast video: each sends 3 sender reports a second
    upstream (one per layer's SSRC) and receives 1 (the SFU's one SSRC per track)."""
    from roomsim.topologies.sfu import SfuTopology
    from roomsim.transport.control import RR, SR, control_items

    raw = room(2, [{"kind": "video", "resolution": "720p", "simulcast": ["180p", "360p", "720p"]}])
    world = World(build(raw), 1, 5.0)
    sfu = SfuTopology(world)
    world.freeze()
    sfu.start()
    world.present[:] = True
    sfu.replan()
    items = control_items(world, *sfu.wire_plan(), np.ones(len(world.streams)), mesh=False)
    for p in range(2):
        up_sr = (items.kind == SR) & (items.src == p)
        down_sr = (items.kind == SR) & (items.dst == p)
        assert up_sr.sum() == 3 and down_sr.sum() == 1
        assert ((items.kind == RR) & (items.src == p)).sum() == 1  # about the track it receives
        assert np.all(items.interval_ns[up_sr] == 1_000_000_000)


@pytest.mark.parametrize("topology", ["mesh", "sfu"])
def test_control_packets_of_a_relayed_participant_cross_its_relay(topology: str) -> None:
    raw = room(2, AUDIO_32)
    raw["rooms"][0]["participants"].append({"id": "nat", "network": dict(CLEAN), "tracks": AUDIO_32, "relay": True})
    raw["relays"] = {}
    on = run(raw, topology, duration_s=6, wire={"frames": "constant"})
    off = run(raw, topology, duration_s=6, wire={"frames": "constant", "control_traffic": False})
    a, b = {x.name: x.sent_packets for x in on.links}, {x.name: x.sent_packets for x in off.links}
    extra = {name: a[name] - b[name] for name in a}
    assert extra["nat/up"] > 0 and extra["nat/down"] > 0
    if topology == "mesh":  # every connection of nat goes through the relay, both ways
        assert extra["turn-1/to-client"] == extra["nat/up"] + extra["nat/down"]
    else:
        assert extra["turn-1/to-node"] == extra["nat/up"]
        assert extra["turn-1/to-client"] == extra["nat/down"]


def test_svc_keyframes_are_in_the_base_temporal_layer_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = record_frames(monkeypatch)
    raw = room(2, [{"kind": "video", "codec": "vp9", "resolution": "720p", "svc": "L3T3"}])
    result = run(raw, "sfu", duration_s=3)
    frames = np.concatenate([f for f, _ in seen])
    keys = np.concatenate([k for _, k in seen])
    world = World(build(raw), 1, 3.0)
    world.freeze()
    temporal = np.array([spec.temporal for spec in world.streams.specs])
    keyed = np.unique(frames["stream"][keys])
    assert len(keyed) > 0 and np.all(temporal[keyed] == 0)
    assert np.any(temporal[np.unique(frames["stream"])] > 0)
    assert result.totals.loss_pct == 0
