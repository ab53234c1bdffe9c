"""Crossing two links in one kernel pass (an SFU's NIC-out, then each downlink) gives the
report that crossing them stage by stage gives, byte for byte, and the kernel refuses a
batch the one-pass shortcut would get wrong."""

from __future__ import annotations

import numpy as np
import pytest

from roomsim import api
from roomsim.sim.kernels import LINK_COUNTERS
from roomsim.sim.kernels_rtp import HOP_DOWN, HOP_OTHER, ROLE_DOWNLINK, ROLE_NIC_OUT, transmit_rtp
from roomsim.sim.packets import empty_packets
from roomsim.transport.links import LinkTransports
from tests.helpers import build, room


def test_one_pass_equals_stage_by_stage_with_drops_on_both_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 12 Mbps NIC that congests and lossy, jittery downlinks: both links drop, repair
    and queue, and transport feedback is recorded, in the one-pass path and the staged one."""
    net = {"uplink_kbps": 5000, "downlink_kbps": 8000, "rtt_ms": 40, "jitter_ms": 3, "loss_pct": 2,
           "queue_ms": 200}
    raw = room(6, [{"kind": "audio"}, {"kind": "video", "resolution": "720p", "simulcast": True}], net)
    raw["nodes"][0]["nic_mbps"] = 12
    raw["duration_s"] = 3
    scenario = build(raw)
    dropped = {"nic": 0, "downlink": 0}
    through = LinkTransports.transmit_through

    def counting(self: LinkTransports, *args: object, **kwargs: object) -> object:
        out, at_nic, at_downlink = through(self, *args, **kwargs)  # type: ignore[arg-type]
        dropped["nic"] += len(at_nic)
        dropped["downlink"] += len(at_downlink)
        return out, at_nic, at_downlink

    monkeypatch.setattr(LinkTransports, "transmit_through", counting)
    one_pass = api.run(scenario, "sfu").model_dump_json()
    assert dropped["nic"] > 0 and dropped["downlink"] > 0  # both drop paths taken
    monkeypatch.setattr(LinkTransports, "chainable", lambda self, first: False)
    assert api.run(scenario, "sfu").model_dump_json() == one_pass


def _send_two_hops(t: list[int], first: list[int]) -> int:
    """Packets at times `t` over NIC links `first` (0 or 1, 10 Mbps, no loss) and then
    the one downlink (link 2); returns the rows crossed (-1: refused)."""
    n, links = len(t), 3
    batch = empty_packets(n)
    batch["t"], batch["res"] = t, first
    batch["capture"], batch["sub"], batch["stream"], batch["flow"], batch["fseq"] = 0, 0, 0, 0, 1
    batch["size"], batch["payload"], batch["marker"], batch["enc_us"] = 1200, 1150, True, 0
    zeros = np.zeros(links, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    result = transmit_rtp(
        batch, np.full(links, 1e7), zeros.copy(), np.zeros(links), np.zeros(links), np.full(links, 10**9),
        np.arange(links, dtype=np.uint64), zeros.copy(), zeros.copy(), zeros.copy(), np.zeros(1, dtype=np.int64),
        np.full(1, 2e7), np.array([HOP_OTHER, HOP_OTHER, HOP_DOWN]),
        np.array([ROLE_NIC_OUT, ROLE_NIC_OUT, ROLE_DOWNLINK], dtype=np.int8), none, np.array([2]),
        np.full((1, 3, 2), -1, dtype=np.int64), zeros.copy(), np.zeros((1, 64), dtype=np.int64),
        np.full((1, 64), -1, dtype=np.int64), 10, empty_packets(n), np.zeros((links, len(LINK_COUNTERS)),
                                                                           dtype=np.int64),
        np.zeros((links, 2), dtype=np.int64), none, none, False, none, none, none, none, none, none,
        np.zeros(0, dtype=np.bool_), none, 0, none)
    return int(result[1])


def test_kernel_refuses_a_second_link_fed_out_of_time_order() -> None:
    """Two NICs feeding one downlink: the second packet leaves its idle NIC before the first
    one leaves the busy NIC, so a stage between them would have reordered them."""
    assert _send_two_hops([0, 1_000], [0, 0]) == 2  # one NIC: its output is in order
    assert _send_two_hops([0, 1_000, 2_000], [0, 0, 1]) == -1
