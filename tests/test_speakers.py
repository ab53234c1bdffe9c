"""Conversation, active-speaker detection, last-N and layouts."""

from __future__ import annotations

import numpy as np

from roomsim import api
from roomsim.scenario.media import VoiceActivity
from roomsim.workload.conversation import speech_shares
from roomsim.workload.world import World
from tests.helpers import build, room, run

AV = [{"kind": "audio", "dtx": True}, {"kind": "video", "resolution": "360p", "simulcast": True}]
TALK = {"model": "conversation"}


def test_conversation_takes_turns_and_matches_its_closed_form() -> None:
    """Five people, one floor: long-run speaking shares equal the Markov closed form, and
    two people talk at once only during the short double talks."""
    raw = room(5, [{"kind": "audio", "dtx": True}], voice=TALK)
    raw.update(duration_s=600, warmup_s=0)
    world = World(build(raw), 4, 600.0)
    world.freeze()
    world.start_processes()
    talking, overlap, samples = np.zeros(5), 0, 0

    def sample():  # type: ignore[no-untyped-def]
        nonlocal overlap, samples
        while True:
            talking[:] += world.speaking
            overlap += int(world.speaking.sum() > 1)
            samples += 1
            yield world.env.timeout(0.02)

    world.env.process(sample())
    world.env.run(until=600)
    want = speech_shares([VoiceActivity(model="conversation")] * 5)
    assert abs(talking.sum() / samples - sum(want)) < 0.03 * sum(want)
    assert overlap / samples < 0.02


def test_listeners_with_zero_weight_never_speak() -> None:
    shares = speech_shares(
        [
            VoiceActivity(model="conversation"),
            VoiceActivity(model="conversation", weight=0),
            VoiceActivity(model="conversation"),
        ]
    )
    assert shares[1] == 0 and shares[0] == shares[2] > 0.2


def test_last_n_cuts_node_egress_and_cpu() -> None:
    """30 people, 360p simulcast + DTX audio, one conversation. Forwarding everything, each
    subscriber gets 29 videos; with last-N = 10 only the 10 most recent speakers' video.
    Video dominates, so node egress and CPU fall by roughly 1 - 10/29 = 66 %: measured
    ~65 % egress and ~57 % CPU (ingress work stays)."""
    raw = room(30, AV, voice=TALK)
    raw.update(duration_s=10, warmup_s=2)
    everything = run(raw, "sfu")
    last_n = api.run(build(raw, topology={"sfu": {"last_n": 10}}), "sfu").runs[0]
    egress_cut = 1 - last_n.servers[0].egress_mbps / everything.servers[0].egress_mbps
    cpu_cut = 1 - last_n.servers[0].cpu_cores / everything.servers[0].cpu_cores
    assert 0.60 < egress_cut < 0.68
    assert 0.50 < cpu_cut < 0.62
    assert last_n.details["speaker_changes"]["r"] > 0
    for result in (everything, last_n):
        assert result.totals.loss_pct == 0
        node = result.servers[0]
        want = result.expected["servers"]["node"]
        assert abs(node.egress_mbps - want["egress_mbps"]) < 0.02 * want["egress_mbps"]


def test_grid_layout_takes_small_layers_of_the_recent_speakers() -> None:
    """A 3x3 grid on a 720p screen: nine tiles 240 px high take the 360p layer, others are
    not received."""
    raw = room(
        12,
        [
            {"kind": "audio", "dtx": True},
            {"kind": "video", "resolution": "720p", "simulcast": True},
        ],
        voice=TALK,
    )
    raw.update(duration_s=4, warmup_s=1)
    result = api.run(build(raw, topology={"sfu": {"layout": "grid-3x3"}}), "sfu").runs[0]
    audio_kbps = 50 * (32_000 / 8 / 50 + 66) * 8 / 1000  # one Opus stream talking all the time
    layer_360p = 20 * (450_000 / 8 / 20 + 3 * 68) * 8 / 1000  # 3 packets a frame, 68 B headers
    for p in result.participants:
        assert 9 * layer_360p <= p.expected_downlink_kbps <= 9 * layer_360p + 11 * audio_kbps
        assert abs(p.downlink_kbps - p.expected_downlink_kbps) < 0.1 * p.expected_downlink_kbps


def test_mcu_speaker_layout_follows_the_detected_speaker() -> None:
    """In the speaker layout an MCU composite carries the detected speaker and four recent
    ones: viewers get video from five inputs, not nine."""
    raw = room(10, [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}], voice=TALK)
    raw.update(duration_s=6, warmup_s=1)
    grid = api.run(build(raw, topology={"mcu": {"layout": "grid"}}), "mcu").runs[0]
    speaker = api.run(build(raw, topology={"mcu": {"layout": "speaker"}}), "mcu").runs[0]
    ratio = (
        speaker.participants[0].video_latency_ms.samples
        / grid.participants[0].video_latency_ms.samples
    )
    assert abs(ratio - 5 / 9) < 0.05
