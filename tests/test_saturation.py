"""Overload behaves like the real thing: queues fill, latency rises, packets drop."""

from __future__ import annotations

from tests.helpers import room, run

FIVE_MBPS_UP = {"uplink_kbps": 5000, "downlink_kbps": 50_000, "rtt_ms": 30, "jitter_ms": 0,
                "loss_pct": 0, "queue_ms": 300}
VIDEO_1700 = [{"kind": "audio"}, {"kind": "video", "resolution": "720p", "bitrate_kbps": 1700}]
#: the open loop (no congestion control, copies in receiver order, one shared encoder)
OPEN_LOOP = {"kind": "mesh", "mesh": {"bwe": "off", "copy_order": "fixed", "encoder_per_peer": False}}


def test_open_loop_mesh_uplink_overflows_once_copies_exceed_it() -> None:
    """Without congestion control (`bwe: off`; tests/test_mesh_congestion.py has the
    closed loop): 1.7 Mbps video + audio is ~1.87 Mbps a copy on the wire: two copies (3 people)
    fit a 5 Mbps uplink, three copies (4 people, 5.6 Mbps) do not. Over 8 s the excess is
    ~0.6 MB, of which the 300 ms buffer (~190 KB) absorbs the first third: ~7 % dropped."""
    fits = run(dict(room(3, VIDEO_1700, network=FIVE_MBPS_UP), topology=OPEN_LOOP), "mesh", duration_s=8)
    over = run(dict(room(4, VIDEO_1700, network=FIVE_MBPS_UP), topology=OPEN_LOOP), "mesh", duration_s=8)
    fit_p, over_p = fits.participants[0], over.participants[0]
    assert fit_p.uplink_kbps < 5000 < over_p.uplink_kbps
    assert fit_p.uplink_loss_pct == 0
    assert all(p.uplink_loss_pct > 4 for p in over.participants)
    assert over.totals.loss_pct > 4
    # the uplink queue sits near its 300 ms limit instead of near empty (latency runs from
    # capture, so it includes the ~10 ms 720p encode of the default cost profile)
    assert fit_p.video_latency_ms.p50 < 75
    assert over_p.video_latency_ms.p50 > 200
    assert over_p.video_latency_ms.p50 > 5 * fit_p.video_latency_ms.p50


def test_sfu_node_with_too_few_cores_queues_then_drops() -> None:
    """30 people x 29 receivers x ~110 packets/s (360p at 20 fps: 3 packets a frame, plus
    50 audio) at the default livekit profile's 12.5 us + 0.014 us a wire byte (~26 us a
    ~950-byte video packet, ~14 us an audio one), plus receive costs, need ~2.1 cores;
    give the node one."""
    raw = room(30, [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}])
    raw["duration_s"] = 4
    plenty = run(raw, "sfu")
    raw["nodes"] = [{"id": "node", "cores": 1, "nic_mbps": 100_000}]
    starved = run(raw, "sfu")
    need = plenty.expected["servers"]["node"]["cpu_cores"]
    assert 1.8 < need < 2.4
    node = starved.servers[0]
    assert node.cpu_util_pct > 97  # saturated
    assert node.cpu_dropped_jobs > 0
    assert starved.totals.latency_ms.p50 > plenty.totals.latency_ms.p50 + 100
    assert starved.totals.loss_pct > 5


def test_client_past_its_cpu_budget_drops_frames() -> None:
    """A Raspberry-Pi-class board cannot decode nine 720p streams; a desktop can."""
    tracks = [{"kind": "video", "resolution": "720p"}]
    raw = room(9, tracks)
    raw["rooms"][0]["participants"].append({"id": "pi", "device": "embedded", "network": "fiber"})
    raw["rooms"][0]["participants"].append({"id": "pc", "device": "desktop", "network": "fiber"})
    result = run(raw, "sfu")
    pi = next(p for p in result.participants if p.id == "pi")
    pc = next(p for p in result.participants if p.id == "pc")
    assert pi.expected_client_cpu_cores > pi.client_cpu_budget_cores
    assert pi.frames_dropped_cpu > 0
    assert pc.frames_dropped_cpu == 0
    assert pi.client_cpu_cores <= pi.client_cpu_budget_cores * 1.02
