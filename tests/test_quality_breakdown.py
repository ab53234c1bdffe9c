"""E-model MOS (ITU-T G.107), the video proxy, and the per-stage latency breakdown."""

from __future__ import annotations

import pytest

from roomsim.results.quality import (
    audio_mos,
    audio_r,
    delay_impairment,
    effective_equipment_impairment,
    r_to_mos,
    video_mos,
)
from tests.helpers import CLEAN, room, run


def test_e_model_defaults_and_known_points() -> None:
    """All-default G.107 gives R = 93.2 (MOS 4.41); delay below 100 ms costs almost
    nothing, above it Idd grows; G.711 with PLC at 1 % random loss: Ie,eff = 95/26.1."""
    assert audio_r(0, 0) == pytest.approx(93.2, abs=0.05)
    assert r_to_mos(93.2) == pytest.approx(4.41, abs=0.01)
    assert delay_impairment(50) < 2 < delay_impairment(200) < delay_impairment(400)
    assert effective_equipment_impairment("g711", 1.0) == pytest.approx(95 / 26.1)
    assert audio_mos(150, 0) > audio_mos(150, 1) > audio_mos(400, 1) > audio_mos(400, 5)
    assert r_to_mos(-5) == 1.0 and r_to_mos(120) == 4.5


def test_video_proxy_orders_resolution_frame_rate_and_freezes() -> None:
    p720, p360 = 1280 * 720, 640 * 360
    assert video_mos(p720, 30, 0) > video_mos(p360, 30, 0) > video_mos(p360, 15, 0) > video_mos(p360, 15, 0.2)
    assert video_mos(1920 * 1080, 30, 0) == pytest.approx(5.0)


LOSSY = {**CLEAN, "rtt_ms": 80, "loss_pct": 3}


def test_participant_mos_falls_with_loss_and_delay() -> None:
    clean = run(room(2, [{"kind": "audio"}]), "sfu").participants[0].quality
    lossy = run(room(2, [{"kind": "audio"}], network=LOSSY), "sfu").participants[0].quality
    assert clean.audio_loss_pct == 0 and lossy.audio_loss_pct > 3
    assert clean.audio_mos > lossy.audio_mos > 1
    assert clean.audio_codec == "opus"


AV = [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]


@pytest.mark.parametrize("topology", ["mesh", "sfu", "mcu"])
def test_stage_means_add_up_to_the_mean_latency(topology: str) -> None:
    """Each played frame's stages add up to its latency, so the stage means add up to the
    mean latency; a mesh has no node stage; an MCU's node stage holds its 40 ms jitter
    buffer; uplink and downlink each hold at least the 10 ms one-way delay."""
    network = {**CLEAN, "jitter_ms": 3}
    result = run(room(3, AV, network=network), topology)
    for kind in ("audio", "video"):
        stages = result.latency_breakdown_ms[kind]
        total = sum(s.mean for s in stages.values())
        samples = [p.audio_latency_ms if kind == "audio" else p.video_latency_ms for p in result.participants]
        p50 = sorted(s.p50 for s in samples)[1]
        assert 0.8 * p50 < total < 1.3 * p50
        assert stages["uplink"].mean >= 10 and stages["downlink"].mean >= 10
        if topology == "mesh":
            assert stages["node"].mean == 0
        if topology == "mcu":
            assert stages["node"].mean > 40
        if kind == "video":
            assert stages["capture_encode"].mean > 1  # a 360p encode takes ~2 ms
    mine = result.participants[0].latency_breakdown_ms["audio"]
    assert all(s.mean is not None and s.p50 is None for s in mine.values())  # per participant: means
    assert all(s.p99 is not None for s in result.latency_breakdown_ms["audio"].values())


def test_stage_durations_telescope_to_capture_to_playout() -> None:
    import numpy as np

    from roomsim.sim.breakdown import stage_durations

    capture = np.array([1_000_000, 5_000_000])
    stages = stage_durations(capture, np.array([120, 2500]), np.array([20_120, 40_000]), np.array([20_137, 90_000]),
                             np.array([41_000_000, 150_000_000]), np.array([41_030_000, 151_000_000]),
                             np.array([61_000_000, 151_000_000]))
    assert (stages.sum(axis=1) == np.array([61_000_000, 151_000_000]) - capture).all()
    assert stages[0].tolist() == [120_000, 20_000_000, 17_000, 19_863_000, 19_970_000, 30_000]
