"""Uncongested steady state equals the closed form, for every topology (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomsim.results.models import RunResult
from tests.helpers import room
from tests.helpers import run as run_scenario

#: The formulas below are media only: constant frames, no control packets (the switches
#: that reproduce the media-only figures; tests/test_wire.py covers both behaviours).
MEDIA_ONLY = {"frames": "constant", "control_traffic": False}


def run(raw: dict, topology: str, **changes: object) -> RunResult:
    return run_scenario(raw, topology, wire=MEDIA_ONLY, **changes)

HEADERS = 20 + 8 + 12 + 10  # IPv4 + UDP + RTP + SRTP tag (AES_CM_128_HMAC_SHA1_80)
AUDIO_EXT, VIDEO_EXT = 16, 12  # RTP header extensions libwebrtc sends (roomsim.sim.headers)
VP8_DESCRIPTOR, MAX_RTP_PAYLOAD = 6, 1176  # RFC 7741 with temporal layers; 1200 - RTP header


def audio_stream_kbps(bitrate_kbps: float) -> float:
    """Opus, 20 ms frames: one packet each; written out here, independent of the code."""
    payload = bitrate_kbps * 1000 / 8 / 50
    return 50 * (payload + HEADERS + AUDIO_EXT) * 8 / 1000


def video_stream_kbps(bitrate_kbps: float, fps: float) -> float:
    """VP8: frames split into ceil(payload / MTU) packets, each with all headers."""
    payload = bitrate_kbps * 1000 / 8 / fps
    packets = math.ceil(payload / (MAX_RTP_PAYLOAD - VP8_DESCRIPTOR))
    return fps * (payload + packets * (HEADERS + VIDEO_EXT + VP8_DESCRIPTOR)) * 8 / 1000


def tolerance_kbps(frame_kbit: float, streams: int, seconds: float) -> float:
    """One frame more or less per stream in the measured interval, plus rounding."""
    return streams * frame_kbit / seconds + 0.01


workloads = st.fixed_dictionaries({
    "people": st.integers(2, 7),
    "audio_kbps": st.sampled_from([16, 24, 32, 48, 64]),
    "video_kbps": st.integers(100, 2500),
    "fps": st.sampled_from([10, 15, 24, 30]),
    "resolution": st.sampled_from(["180p", "360p", "720p"]),
})


def workload_tracks(w: dict) -> list[dict]:
    return [{"kind": "audio", "bitrate_kbps": w["audio_kbps"]},
            {"kind": "video", "resolution": w["resolution"], "bitrate_kbps": w["video_kbps"],
             "fps": w["fps"]}]


def check_participants(result: RunResult, up: float, down: float, up_tol: float, down_tol: float) -> None:
    for p in result.participants:
        assert abs(p.uplink_kbps - up) <= up_tol, (p.id, p.uplink_kbps, up)
        assert abs(p.downlink_kbps - down) <= down_tol, (p.id, p.downlink_kbps, down)
        assert abs(p.expected_uplink_kbps - up) < 0.01
        assert abs(p.expected_downlink_kbps - down) < 0.01
        assert p.loss_pct == 0


SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(workloads)
def test_mesh_uplink_carries_one_copy_per_peer(w: dict) -> None:
    n = w["people"]
    result = run(room(n, workload_tracks(w)), "mesh")
    audio, video = audio_stream_kbps(w["audio_kbps"]), video_stream_kbps(w["video_kbps"], w["fps"])
    frame = audio / 50 + video / w["fps"]
    tol = tolerance_kbps(frame, n - 1, result.measured_s)
    check_participants(result, (n - 1) * (audio + video), (n - 1) * (audio + video), tol, tol)
    assert result.servers == []


@SETTINGS
@given(workloads)
def test_sfu_sends_one_copy_up_and_one_per_receiver_down(w: dict) -> None:
    n = w["people"]
    result = run(room(n, workload_tracks(w)), "sfu")
    audio, video = audio_stream_kbps(w["audio_kbps"]), video_stream_kbps(w["video_kbps"], w["fps"])
    frame = audio / 50 + video / w["fps"]
    check_participants(result, audio + video, (n - 1) * (audio + video),
                       tolerance_kbps(frame, 1, result.measured_s),
                       tolerance_kbps(frame, n - 1, result.measured_s))
    node = result.servers[0]
    tol_mbps = tolerance_kbps(frame, n * (n - 1), result.measured_s) / 1000
    assert abs(node.ingress_mbps - n * (audio + video) / 1000) <= tol_mbps
    assert abs(node.egress_mbps - n * (n - 1) * (audio + video) / 1000) <= tol_mbps


@SETTINGS
@given(workloads)
def test_mcu_sends_each_participant_one_mixed_stream(w: dict) -> None:
    n = w["people"]
    result = run(room(n, workload_tracks(w)), "mcu")
    audio, video = audio_stream_kbps(w["audio_kbps"]), video_stream_kbps(w["video_kbps"], w["fps"])
    # the composite uses the MCU's output preset (720p, 1700 kbps, 30 fps), whatever n is
    composite = video_stream_kbps(1700, 30)
    check_participants(result, audio + video, audio + composite,
                       tolerance_kbps(audio / 50 + video / w["fps"], 1, result.measured_s),
                       tolerance_kbps(audio / 50 + composite / 30, 1, result.measured_s))


def test_simulcast_subscribers_get_the_layer_that_fits() -> None:
    """Rich receivers get 720p. A 1 Mbps receiver (budget 0.9 x 1000 kbps) cannot take two
    360p layers (2 x 483 kbps on the wire), so it gets one 360p and one 180p."""
    tracks = [{"kind": "video", "resolution": "720p", "simulcast": True}]
    raw = room(2, tracks)
    slow = {"uplink_kbps": 5000, "downlink_kbps": 1000, "rtt_ms": 20, "jitter_ms": 0,
            "loss_pct": 0, "queue_ms": 500}
    raw["rooms"][0]["participants"].append({"id": "slow", "network": slow, "tracks": []})
    result = run(raw, "sfu")
    by_id = {p.id: p for p in result.participants}
    top, mid = video_stream_kbps(1700, 30), video_stream_kbps(450, 20)
    low = video_stream_kbps(160, 20)
    assert abs(by_id["slow"].downlink_kbps - (mid + low)) < mid / 20 / result.measured_s + 1
    assert abs(by_id["p-1"].downlink_kbps - top) < top / 30 / result.measured_s + 1
    assert abs(by_id["p-1"].uplink_kbps - (top + mid + low)) < 3 * top / 20 / result.measured_s
    assert by_id["slow"].downlink_kbps <= 0.9 * 1000


def test_cpu_figures_match_the_cost_profile() -> None:
    """Client and server CPU equal rate x cost from the profile, for all topologies."""
    raw = room(4, [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}])
    for topology in ("mesh", "sfu", "mcu"):
        result = run(raw, topology)
        for p in result.participants:
            assert abs(p.client_cpu_cores - p.expected_client_cpu_cores) <= 0.03 * p.expected_client_cpu_cores
        for s in result.servers:
            want = result.expected["servers"][s.id]["cpu_cores"]
            assert abs(s.cpu_cores - want) <= 0.03 * want


def test_dtx_talkspurts_follow_the_speech_share() -> None:
    """With DTX and P.59 talk-spurts, an Opus uplink carries full frames while speaking
    (1.004 s talk / 1.587 s pause on average) and a 1-byte frame per DTX interval while
    silent: the long-run rate is the speech-share mix of the two."""
    raw = room(6, [{"kind": "audio", "dtx": True}], voice={"model": "talkspurt"})
    result = run(raw, "sfu", duration_s=120)
    share = 1.004 / (1.004 + 1.587)
    full = audio_stream_kbps(32)
    silent = (1 + HEADERS + AUDIO_EXT) * 8 / 200  # one 1-byte frame per 200 ms
    want = share * full + (1 - share) * silent
    ups = [p.uplink_kbps for p in result.participants]
    assert all(abs(p.expected_uplink_kbps - want) < 0.05 for p in result.participants)
    # six independent speakers over ~118 s: the mean is within ~10 % of the long-run share
    assert abs(sum(ups) / len(ups) - want) < 0.1 * want
    assert max(ups) < full * 0.8  # nobody sends full-rate all the time
