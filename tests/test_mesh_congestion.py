"""The mesh's closed loop: one GCC, pacer and encoder per peer connection.

Figures pinned here (issue 10, part A): on a 5 Mbps uplink each of 2..6 copies settles
near its share with low loss and delay and no receiver singled out; `bwe: off` brings the
open loop back; a fresh connection starts at libwebrtc's start bitrate and reaches its
maximum on a fat link within the time its probe schedule allows.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import yaml

from roomsim.codecs.adaptation import ladder_pixels
from roomsim.errors import ScenarioError
from roomsim.topologies.peer_connections import (
    FIRST_PROBE_SCALE,
    MIN_PROBE_NS,
    SECOND_PROBE_SCALE,
)
from tests.helpers import CLEAN, build, run

AV = [{"kind": "audio", "codec": "opus", "bitrate_kbps": 32}, {"kind": "video", "codec": "vp8", "resolution": "720p"}]
#: one copy at its configured rate on the wire (720p VP8 1700 kbps + Opus 32 kbps + headers), kbps
FULL_COPY_KBPS = 1872.64


def one_sender(receivers: int, uplink_kbps: float = 5000, duration_s: float = 20, warmup_s: float = 15,
               **mesh: Any) -> dict[str, Any]:
    """A sender on a thin uplink and `receivers` peers on clean links, all in one mesh."""
    thin = dict(CLEAN, uplink_kbps=uplink_kbps, queue_ms=300)
    return {
        "name": "mesh-cc", "duration_s": duration_s, "warmup_s": warmup_s,
        "nodes": [{"id": "node", "cores": 64, "nic_mbps": 100_000}],
        "rooms": [{"id": "r", "participants": [
            {"id": "sender", "network": thin, "tracks": AV},
            {"id": "rx", "count": receivers, "network": dict(CLEAN), "tracks": []}]}],
        "topology": {"kind": "mesh", "mesh": mesh},
    }


@pytest.mark.parametrize("receivers", [2, 3, 4, 5, 6])
def test_copies_settle_at_their_share_of_a_5_mbps_uplink(receivers: int) -> None:
    r = run(one_sender(receivers), "mesh")
    rx = [p for p in r.participants if p.id != "sender"]
    share = min(5000 / receivers, FULL_COPY_KBPS)
    rates = np.array([p.downlink_kbps for p in rx])  # each receiver gets exactly one copy
    loss = np.array([p.loss_pct for p in rx])
    assert np.all(np.abs(rates / share - 1) <= 0.25), (share, rates)
    assert loss.max() < 2.0
    assert max(p.latency_ms.p95 or 0 for p in rx) < 200
    assert loss.max() <= max(2 * loss.mean(), 1e-9)
    if 5000 / receivers < FULL_COPY_KBPS:  # congested: the video is scaled down, not dropped
        pixels = np.array([p.quality.video_pixels for p in rx if p.quality])
        assert pixels.max() <= 1280 * 720 and r.details["bwe"]["connections"]


def test_open_loop_comes_back_with_bwe_off() -> None:
    """`bwe: off`: every copy at full rate into a 5 Mbps uplink (4 x 1.87 Mbps offered),
    so a third of the packets fall off the drop-tail queue and the queue's 300 ms shows
    in the delay; with the fixed copy order the last receiver takes all the loss."""
    # the old open loop whole: constant frames and no control packets as well (with VBR
    # frames the keyframe bursts fall on whichever receivers' copies meet a full queue)
    old_wire = {"wire": {"frames": "constant", "control_traffic": False}}
    rotating = run({**one_sender(4, duration_s=6, warmup_s=1, bwe="off"), **old_wire}, "mesh")
    fixed = run({**one_sender(4, duration_s=6, warmup_s=1, bwe="off", copy_order="fixed"), **old_wire}, "mesh")
    for r in (rotating, fixed):
        rx = [p for p in r.participants if p.id != "sender"]
        offered = 4 * FULL_COPY_KBPS
        total_loss = np.mean([p.loss_pct for p in rx])
        assert total_loss == pytest.approx(100 * (1 - 5000 / offered), abs=5.0)  # packets, not bytes
        assert min(p.latency_ms.p95 or 0 for p in rx) > 250
        assert r.details == {}
    spread = [p.loss_pct for p in rotating.participants if p.id != "sender"]
    assert max(spread) - min(spread) < 2.0  # nobody singled out
    fixed_loss = [p.loss_pct for p in fixed.participants if p.id != "sender"]
    assert fixed_loss[-1] > 70 and fixed_loss[0] < 5  # the old order: the last copy takes the drops


def test_ramp_up_from_start_bitrate_on_a_fat_link() -> None:
    """Start at 300 kbps (kDefaultStartBitrateBps) and probe 3x, 6x, then 2x the estimate:
    a 1.73 Mbps connection on a clean 1 Gbps path is at its maximum once three probe
    rounds have settled. Each round takes the cluster (>= 15 ms) plus the round trip (20 ms)
    plus up to two feedback intervals (100 ms each): < 0.25 s, so under 1 s in all."""
    raw = one_sender(1, uplink_kbps=1_000_000, duration_s=4, warmup_s=1)
    r = run(raw, "mesh")
    series = next(iter(r.details["video_target_kbps_series"]["connections"].values()))
    interval = r.details["video_target_kbps_series"]["interval_s"]
    assert series[0] == pytest.approx(300 - 32)  # video starts at the start bitrate less the audio
    at_max = next(i for i, v in enumerate(series) if v >= 1700 - 1e-6)
    assert at_max * interval < 1.0
    assert min(series[at_max:]) >= 1700 - 1e-6  # and stays there on a link that never congests
    rounds = 3 * (MIN_PROBE_NS / 1e9 + 0.020 + 2 * interval)
    assert rounds < 1.0
    # 0.9 then 1.8 Mbps (3x, 6x the start): the second already covers the 1.73 Mbps maximum
    assert 300 * FIRST_PROBE_SCALE < 1732 <= 300 * SECOND_PROBE_SCALE
    probes = next(iter(r.details["bwe"]["connections"].values()))["probes"]
    assert probes == 2


def test_resolution_ladder_follows_libwebrtc_limits() -> None:
    rates = np.array([100e3, 250e3, 300e3, 600e3, 899e3, 900e3, 3e6])
    assert ladder_pixels(rates, 1280 * 720).tolist() == [
        320 * 180, 480 * 270, 640 * 360, 960 * 540, 960 * 540, 1280 * 720, 1280 * 720]
    assert ladder_pixels(rates, 640 * 360).max() == 640 * 360
    assert ladder_pixels(np.array([1e6]), 1920 * 1080)[0] == 1920 * 1080


def test_same_seed_same_bytes() -> None:
    raw = one_sender(3, duration_s=4, warmup_s=1)
    a = run(copy.deepcopy(raw), "mesh").model_dump_json()
    b = run(copy.deepcopy(raw), "mesh").model_dump_json()
    assert a == b


def weak_phone_mesh(cpu_adaptation: bool) -> dict[str, Any]:
    """Five desktops and a low-end phone (2 cores at 0.21 x the baseline) in one mesh:
    the phone runs five 720p encoders, one per peer connection, far past its budget."""
    return {
        "name": "weak-phone", "duration_s": 22, "warmup_s": 11,
        "nodes": [{"id": "node", "cores": 64, "nic_mbps": 100_000}],
        "rooms": [{"id": "r", "participants": [
            {"id": "pc", "count": 5, "network": dict(CLEAN), "tracks": AV},
            {"id": "weak", "device": "low-end-phone", "network": dict(CLEAN), "tracks": AV}]}],
        "topology": {"kind": "mesh", "mesh": {"cpu_adaptation": cpu_adaptation}},
    }


def test_overused_device_lowers_resolution_instead_of_dropping_frames() -> None:
    """libwebrtc's overuse detector (85 % usage on two 5 s checks) steps the phone's
    encoders down to 3/5 of the pixels: it then encodes more of its frames (its uplink
    carries more) at a lower resolution, which its peers' quality figures show."""
    adapted = run(weak_phone_mesh(True), "mesh")
    dropping = run(weak_phone_mesh(False), "mesh")
    assert adapted.participants[-1].uplink_kbps > 1.5 * dropping.participants[-1].uplink_kbps
    steps = [v["cpu_adaptations"] for k, v in adapted.details["bwe"]["connections"].items() if k.startswith("weak")]
    assert len(steps) == 5 and min(steps) >= 1
    sent = [v["video_pixels"] for k, v in adapted.details["bwe"]["connections"].items() if k.startswith("weak")]
    assert max(sent) < 1280 * 720
    desktops = [v["cpu_adaptations"] for k, v in adapted.details["bwe"]["connections"].items() if k.startswith("pc")]
    assert max(desktops) == 0  # six 720p encodes fit a desktop
    peer = adapted.participants[0].quality
    assert peer is not None and peer.video_pixels is not None and peer.video_pixels < 1280 * 720


def test_yaml_off_means_the_open_loop() -> None:
    """YAML 1.1 reads a bare `off` as false: `bwe: off` still names the open loop, and a
    wrong value is a one-line error naming the field."""
    raw = yaml.safe_load("topology: {kind: mesh, mesh: {bwe: off}}")
    scenario = build(one_sender(2), topology=raw["topology"])
    assert scenario.topology.mesh.bwe == "off"
    with pytest.raises(ScenarioError, match=r"topology.mesh.bwe"):
        build(one_sender(2), topology={"kind": "mesh", "mesh": {"bwe": "fast"}})
