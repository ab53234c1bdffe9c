"""Cascading across regions, TURN relays, and network traces."""

from __future__ import annotations

from typing import Any

import pytest

from roomsim import api
from roomsim.errors import ScenarioError
from roomsim.sim import headers
from tests.helpers import CLEAN, build, room, run

AV = [{"kind": "audio"}, {"kind": "video", "resolution": "720p", "simulcast": True}]
REGIONS = {
    "links": [{"a": "eu", "b": "us", "latency_ms": 40}, {"a": "us", "b": "ap", "latency_ms": 60}]
}
NODES = [
    {"id": "eu-1", "region": "eu"},
    {"id": "us-1", "region": "us"},
    {"id": "ap-1", "region": "ap"},
]


def spread(remote: int, cascade: bool, publishers_in_us: bool = False) -> dict[str, Any]:
    us_tracks = AV if publishers_in_us else []
    return {
        "name": "c",
        "duration_s": 5,
        "warmup_s": 1,
        "regions": REGIONS,
        "nodes": NODES,
        "rooms": [
            {
                "id": "r",
                "node": "eu-1",
                "participants": [
                    {"id": "host", "region": "eu", "network": CLEAN, "tracks": AV},
                    {
                        "id": "us",
                        "region": "us",
                        "count": remote,
                        "network": CLEAN,
                        "tracks": us_tracks,
                    },
                    {"id": "ap", "region": "ap", "count": remote, "network": CLEAN},
                ],
            }
        ],
        "topology": {"sfu": {"cascade": cascade}},
    }


def backbone(result: Any) -> dict[str, dict[str, Any]]:
    return {link["link"]: link for link in result.details["backbone"]["links"]}


def test_one_backbone_copy_per_track_per_hop_whatever_the_remote_audience() -> None:
    """eu -> us -> ap: the host's audio and 720p cross each hop once, for 1 or 8 remote
    subscribers per region; the us node relays to ap (the tree follows shortest paths)."""
    few = run(spread(1, True), "sfu")
    many = run(spread(8, True), "sfu")
    for result in (few, many):
        links = backbone(result)
        for hop in ("eu>us", "us>ap"):
            assert links[hop]["streams"] == 2
            assert links[hop]["max_copies_per_stream"] == 1.0
        assert links["us>eu"]["mbps"] == links["ap>us"]["mbps"] == 0.0
        assert result.totals.loss_pct == 0
    assert backbone(few)["eu>us"]["mbps"] == backbone(many)["eu>us"]["mbps"]
    remote = next(p for p in many.participants if p.id == "us-1").downlink_kbps  # audio + 720p
    assert abs(backbone(many)["eu>us"]["mbps"] * 1e3 - remote) < 0.01 * remote
    # each node's egress: its local subscribers plus the copies it relays on
    eu = next(s for s in many.servers if s.id == "eu-1")
    assert abs(eu.egress_mbps - many.expected["servers"]["eu-1"]["egress_mbps"]) < 0.05


def test_cascade_shortens_paths_between_remote_regions() -> None:
    """Publishers in us, subscribers in ap: through a single eu node the media goes us -> eu
    -> ap (100 + 40 ms of backbone); cascaded, us -> ap directly (60 ms). From eu the
    latency is the same either way (the single node sits there)."""
    single = run(spread(2, False, publishers_in_us=True), "sfu")
    cascaded = run(spread(2, True, publishers_in_us=True), "sfu")
    one = single.details["region_pair_latency_ms"]
    many = cascaded.details["region_pair_latency_ms"]
    assert one["us>ap"]["p50"] - many["us>ap"]["p50"] == pytest.approx(80, abs=3)
    assert one["eu>ap"]["p50"] == pytest.approx(many["eu>ap"]["p50"], abs=1)
    assert single.servers[0].egress_mbps > cascaded.servers[0].egress_mbps


def test_turn_relay_adds_framing_delay_and_cost() -> None:
    """A TURN/TLS-relayed viewer's downlink carries TCP + TLS + ChannelData bytes on every
    packet and the relay's extra 20 ms RTT; the relay server bills its egress."""
    raw = room(1, [{"kind": "video", "resolution": "360p"}])
    raw["rooms"][0]["participants"] += [
        {"id": "direct", "network": CLEAN},
        {"id": "relayed", "network": CLEAN, "relay": True},
    ]
    raw["relays"] = {"transport": "tls", "extra_rtt_ms": 20, "price_usd_per_gb": 0.05}
    result = run(raw, "sfu")
    by = {p.id: p for p in result.participants}
    extra = by["relayed"].downlink_kbps - by["direct"].downlink_kbps
    per_packet = (
        headers.TCP_HEADER_BYTES
        - headers.UDP_HEADER_BYTES
        + headers.TURN_CHANNELDATA_HEADER_BYTES
        + headers.TLS13_RECORD_OVERHEAD_BYTES
    )
    assert per_packet * 8 * by["direct"].downlink_pps / 1e3 <= extra
    assert extra <= (per_packet + 3) * 8 * by["direct"].downlink_pps / 1e3
    delay = by["relayed"].video_latency_ms.p50 - by["direct"].video_latency_ms.p50
    assert delay == pytest.approx(10, abs=1.5)  # half the extra RTT, one way
    relays = result.details["relays"]
    assert relays["relayed"] == ["relayed"]
    server = relays["servers"][0]
    assert server["cost_usd"] == pytest.approx(server["relayed_gb"] * 0.05, rel=0.05)
    assert server["to_client_mbps"] * 1e3 == pytest.approx(by["relayed"].downlink_kbps, rel=0.01)


def test_relay_share_is_drawn_per_participant() -> None:
    raw = room(40, [{"kind": "audio"}])
    raw["relays"] = {"share": 0.25}
    result = run(raw, "sfu", duration_s=3)
    relayed = result.details["relays"]["relayed"]
    assert 4 <= len(relayed) <= 18
    assert relayed == run(raw, "sfu", duration_s=3).details["relays"]["relayed"]


def test_traces_change_links_at_their_times() -> None:
    """A repeating trace cuts a link to 300 kbps for 1 s of every 2 (the 1 s queue cannot
    hold the excess of a 1.8 Mbps stream sent open loop); an unknown link is a one-line
    error."""
    raw = room(2, [{"kind": "video", "resolution": "720p"}])
    raw["topology"] = {"kind": "mesh", "mesh": {"bwe": "off"}}
    raw["traces"] = [
        {
            "link": "p-1/up",
            "repeat_s": 2.0,
            "steps": [{"at_s": 0, "rate_kbps": 300}, {"at_s": 1, "rate_kbps": 100_000}],
        }
    ]
    result = run(raw, "mesh")
    p1, p2 = result.participants
    assert p1.uplink_loss_pct > 5 and p2.uplink_loss_pct == 0
    assert p2.video_latency_ms.p50 > 10 * p1.video_latency_ms.p50
    raw["traces"][0]["link"] = "nobody/up"
    with pytest.raises(ScenarioError, match=r"traces\[0\].link"):
        api.run(build(raw), "mesh")


def test_regions_must_be_known() -> None:
    raw = spread(1, True)
    raw["nodes"][0]["region"] = "mars"
    with pytest.raises(ScenarioError, match="mars"):
        build(raw)
    raw = room(2, [])
    raw["topology"] = {"sfu": {"cascade": True}}
    with pytest.raises(ScenarioError, match="regions"):
        build(raw)
