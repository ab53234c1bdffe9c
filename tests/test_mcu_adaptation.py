"""The MCU follows each participant's downlink: a poor link gets a lower-rate mix, not loss."""

from __future__ import annotations

from typing import Any

from tests.helpers import CLEAN, run

AV = [{"kind": "audio", "codec": "opus", "bitrate_kbps": 32}, {"kind": "video", "codec": "vp8", "resolution": "720p"}]


def poor_downlink(adapt: bool) -> dict[str, Any]:
    """Three participants on clean links and one whose downlink is 700 kbps."""
    return {"name": "mcu-poor", "duration_s": 12, "warmup_s": 4,
            "nodes": [{"id": "node", "cores": 64, "nic_mbps": 100_000}],
            "rooms": [{"id": "r", "participants": [
                {"id": "ok", "count": 3, "network": dict(CLEAN), "tracks": AV},
                {"id": "poor", "network": dict(CLEAN, downlink_kbps=700, queue_ms=300), "tracks": AV}]}],
            "topology": {"kind": "mcu", "mcu": {"adapt": adapt}}}


def test_participant_on_700_kbps_gets_a_lower_rate_mix_without_loss() -> None:
    adapted = {p.id: p for p in run(poor_downlink(True), "mcu").participants}
    fixed = {p.id: p for p in run(poor_downlink(False), "mcu").participants}
    poor = adapted["poor"]
    assert poor.downlink_kbps < 700 < fixed["poor"].downlink_kbps  # the configured 720p mix does not fit
    assert poor.loss_pct < 2.0 < 20 < fixed["poor"].loss_pct
    # Bounded latency: the clean participants' p95 is ~116 ms (node path + mixing); a queue
    # standing at this link's 300 ms drop-tail limit would put the poor one above 400 ms.
    # 250 ms leaves ~130 ms for the queue GCC lets build before its delay detector backs off
    # (a trend of tens of ms) plus VBR bursts at 700 kbps.
    assert poor.latency_ms.p95 is not None and poor.latency_ms.p95 < 250
    assert poor.quality is not None and poor.quality.video_pixels is not None
    assert poor.quality.video_pixels < 1280 * 720  # the composite went down libwebrtc's ladder
    # the others keep the configured mix
    for name in ("ok-1", "ok-2", "ok-3"):
        assert adapted[name].downlink_kbps == fixed[name].downlink_kbps
        assert adapted[name].loss_pct == 0


def test_the_paced_output_queues_less_on_the_poor_downlink() -> None:
    """A keyframe or a large composite frame leaves the pacer over time instead of filling
    the 700 kbps downlink's queue at once: the paced mix plays sooner (p95 ~135 ms against
    ~209 ms as bursts), still without loss; the clean participants see no difference."""
    burst = poor_downlink(True)
    burst["topology"]["mcu"]["pacing"] = False
    paced = {p.id: p for p in run(poor_downlink(True), "mcu").participants}
    bursts = {p.id: p for p in run(burst, "mcu").participants}
    p95 = paced["poor"].latency_ms.p95, bursts["poor"].latency_ms.p95
    assert p95[0] is not None and p95[1] is not None and p95[0] < p95[1] - 50
    assert paced["poor"].loss_pct < 2.0
    assert paced["ok-1"].latency_ms.p95 == bursts["ok-1"].latency_ms.p95
