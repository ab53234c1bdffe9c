"""WebRTC (UDP/RTP) vs WebSocket (TCP): loss is loss vs retransmission with head-of-line
blocking; NACK and RED repair; the adaptive jitter buffer; invariants with transports."""

from __future__ import annotations

from typing import Any

import pytest

from roomsim.errors import ScenarioError
from roomsim.transport.playout import JitterBuffer
from tests.helpers import CLEAN, build, run


def voice_pair(transport: str, loss: float, rtt: float, jitter: float = 2, seconds: float = 20,
               **group: Any) -> dict[str, Any]:
    """Two people talking over an SFU, both on the same network and transport."""
    net = {"uplink_kbps": 10_000, "downlink_kbps": 10_000, "rtt_ms": rtt, "jitter_ms": jitter,
           "loss_pct": loss, "queue_ms": 300}
    people = [{"id": pid, "network": net, "transport": transport, "tracks": [{"kind": "audio"}], **group}
              for pid in ("a", "b")]
    return {"name": "voice", "duration_s": seconds, "warmup_s": 2, "nodes": [{"id": "node"}],
            "rooms": [{"id": "r", "participants": people}]}


@pytest.mark.parametrize(("loss", "rtt"), [(1, 100), (2, 50)])
def test_tcp_tail_is_far_above_udp_at_loss_and_loses_nothing(loss: float, rtt: float) -> None:
    """1-2 % loss at 50-100 ms RTT: every lost TCP segment holds the audio behind it for
    at least a retransmission round trip, so the WebSocket path's p99 sits far above the
    RTP path's (which conceals the loss instead) while nothing is lost on it."""
    udp = run(voice_pair("webrtc", loss, rtt), "sfu").participants[0]
    tcp = run(voice_pair("websocket", loss, rtt), "sfu").participants[0]
    assert tcp.quality.audio_loss_pct == 0
    assert udp.quality.audio_loss_pct > loss  # two lossy hops, plus late discards
    assert tcp.transport.tcp_retransmits > 0 and udp.transport.tcp_retransmits == 0
    assert tcp.audio_latency_ms.p99 > 2 * udp.audio_latency_ms.p99
    assert tcp.audio_latency_ms.p99 > udp.audio_latency_ms.p99 + rtt + 50


def test_without_loss_the_transports_are_close() -> None:
    for rtt in (50, 100):
        udp = run(voice_pair("webrtc", 0, rtt), "sfu").participants[0]
        tcp = run(voice_pair("websocket", 0, rtt), "sfu").participants[0]
        assert tcp.transport.tcp_retransmits == 0
        assert abs(tcp.audio_latency_ms.p50 - udp.audio_latency_ms.p50) < 3
        assert abs(tcp.audio_latency_ms.p99 - udp.audio_latency_ms.p99) < 5


def test_websocket_costs_tcp_tls_websocket_headers_not_rtp() -> None:
    """A 32 kbps Opus frame (80 B) costs IP 20 + TCP 32 + TLS 22 + WS 2 (+4 mask upward)
    instead of IP 20 + UDP 8 + RTP 12 + extensions 16 + SRTP 10."""
    udp = run(voice_pair("webrtc", 0, 40), "sfu").participants[0]
    tcp = run(voice_pair("websocket", 0, 40), "sfu").participants[0]
    rtp = 20 + 8 + 12 + 16 + 10
    up, down = 20 + 32 + 22 + 2 + 4, 20 + 32 + 22 + 2
    per_byte_kbps = 50 * 8 / 1000  # 50 packets a second
    assert tcp.uplink_kbps - udp.uplink_kbps == pytest.approx((up - rtp) * per_byte_kbps, abs=0.5)
    assert tcp.downlink_kbps - udp.downlink_kbps == pytest.approx((down - rtp) * per_byte_kbps, abs=0.5)


LOSSY_AV = {"uplink_kbps": 6000, "downlink_kbps": 12000, "rtt_ms": 60, "jitter_ms": 5, "loss_pct": 2,
            "queue_ms": 200}


def mixed_room(**changes: Any) -> dict[str, Any]:
    """WebRTC video publishers with RED audio, plus a WebSocket voice-only participant."""
    av = [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]
    raw = {"name": "mixed", "duration_s": 6, "warmup_s": 1, "nodes": [{"id": "node"}],
           "rooms": [{"id": "r", "participants": [
               {"id": "p", "count": 3, "network": LOSSY_AV, "tracks": av,
                "transport": {"webrtc": {"audio_redundancy": "red"}}},
               {"id": "ws", "network": LOSSY_AV, "transport": "websocket", "tracks": [{"kind": "audio"}]}]}]}
    raw.update(changes)
    return raw


@pytest.mark.parametrize("topology", ["mesh", "sfu", "mcu"])
def test_transports_keep_conservation_determinism_and_tick_independence(topology: str) -> None:
    coarse = run(mixed_room(), topology)
    fine = run(mixed_room(engine={"tick_ms": 10}), topology)
    again = run(mixed_room(), topology)
    assert coarse.model_dump_json() == again.model_dump_json()
    for link in coarse.links:
        assert link.sent_packets == link.delivered_packets + link.dropped_queue + link.dropped_loss
    for a, b in zip(fine.participants, coarse.participants, strict=True):
        assert a.latency_ms == b.latency_ms
        assert a.loss_pct == b.loss_pct
        assert a.latency_breakdown_ms == b.latency_breakdown_ms
    assert fine.links == coarse.links
    ws = next(p for p in coarse.participants if p.id == "ws")
    assert ws.transport.tcp_retransmits > 0


def test_nack_repairs_video_and_red_repairs_audio() -> None:
    """2 % loss a hop: NACK/RTX brings video frame loss near zero at the cost of RTX
    packets; RED (the previous frame in every packet) cuts audio loss and adds the
    previous frame's payload to every packet."""
    av = [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]

    def room_with(webrtc: dict[str, Any]) -> dict[str, Any]:
        return {"name": "repair", "duration_s": 8, "warmup_s": 1, "nodes": [{"id": "node"}],
                "rooms": [{"id": "r", "participants": [{"id": "p", "count": 2, "network": LOSSY_AV, "tracks": av,
                                                        "transport": {"webrtc": webrtc}}]}]}

    plain = run(room_with({"nack": False}), "sfu").participants[0]
    repaired = run(room_with({"nack": True, "audio_redundancy": "red"}), "sfu").participants[0]
    assert plain.transport.rtx_packets == 0
    assert repaired.transport.rtx_packets > 0 and repaired.transport.repaired_packets > 0
    assert repaired.quality.video_frozen_pct < 0.5 < plain.quality.video_frozen_pct
    assert repaired.quality.audio_loss_pct < plain.quality.audio_loss_pct / 2
    red_kbps = 50 * (80 + 5) * 8 / 1000  # previous 80-byte frame + RED headers, 50 packets/s
    assert repaired.expected_uplink_kbps - plain.expected_uplink_kbps == pytest.approx(red_kbps, abs=0.1)


def test_jitter_buffer_targets_the_95th_percentile_of_relative_delay() -> None:
    """NetEq-style: starts at 80 ms; with packets 0 or 50 ms late in turn it settles on the
    bucket holding the late ones (60 ms: (1 + 2) x 20 ms); with steady arrivals it shrinks to
    one 20 ms bucket; a packet later than the target is discarded (RTP) or played late (TCP)."""
    ms = 1_000_000
    steady, bursty = JitterBuffer(), JitterBuffer()
    assert steady.target_ms == 80
    for k in range(400):  # 8 s of 20 ms frames
        steady.push(k * 20 * ms + 30 * ms, k * 20 * ms)
        bursty.push(k * 20 * ms + 30 * ms + (50 * ms if k % 2 else 0), k * 20 * ms)
    assert steady.target_ms == 20
    assert bursty.target_ms == 60
    capture = 400 * 20 * ms
    late_rtp, late_tcp = JitterBuffer(), JitterBuffer(discard_late=False)
    for jb in (late_rtp, late_tcp):
        for k in range(400):
            jb.push(k * 20 * ms + 30 * ms, k * 20 * ms)
    assert late_rtp.push(capture + 30 * ms + 100 * ms, capture) is None
    assert late_tcp.push(capture + 30 * ms + 100 * ms, capture) == capture + 130 * ms
    assert late_rtp.late[0] == 1


def test_websocket_participant_cannot_publish_video() -> None:
    raw = {"name": "x", "rooms": [{"id": "r", "participants": [
        {"id": "a", "network": CLEAN, "transport": "websocket", "tracks": [{"kind": "video"}]}]}]}
    with pytest.raises(ScenarioError) as err:
        build(raw)
    assert "websocket carries audio only" in str(err.value)
