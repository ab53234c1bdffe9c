"""The link kernel's word on the order of what crossed (`transmit_rtp`'s last result), which
lets the next stage skip its order check: ORDER_TIME only if every row that crossed
arrives no earlier than the one before it, ORDER_PER_LINK only if each link's do, and a
NACK repair before the receiver's downlink (the resend arrives behind later packets)
withdraws both."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sim.kernels import LINK_COUNTERS
from roomsim.sim.kernels_rtp import (
    HOP_DOWN,
    HOP_UP,
    ORDER_NONE,
    ORDER_PER_LINK,
    ORDER_TIME,
    RECOVER_NACK,
    ROLE_OTHER,
    transmit_rtp,
)
from roomsim.sim.packets import Packets, empty_packets


def _send(links: int, delay_ns: list[int], jitter_ns: float, loss: float, hop: int,
          n: int = 2000) -> tuple[Packets, int, npt.NDArray[np.int64]]:
    """n packets, one every 100 us, spread round-robin over `links` 100 Mbps links whose
    random losses are NACK-repaired; returns (rows that crossed, order, their links)."""
    batch = empty_packets(n)
    batch["t"] = np.arange(n) * 100_000
    batch["res"] = np.arange(n) % links
    batch["capture"], batch["sub"], batch["stream"], batch["flow"] = 0, -1, 0, 0
    batch["fseq"], batch["size"], batch["payload"], batch["marker"], batch["enc_us"] = np.arange(n), 1200, 1150, True, 0
    link_of = batch["res"].copy()
    zeros = np.zeros(links, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    _, crossed, _, order = transmit_rtp(
        batch, np.full(links, 1e8), np.array(delay_ns, dtype=np.int64), np.full(links, jitter_ns),
        np.full(links, loss), np.full(links, 10**9), np.arange(1, links + 1, dtype=np.uint64), zeros.copy(),
        zeros.copy(), zeros.copy(), np.full(1, RECOVER_NACK, dtype=np.int64), np.full(1, 3.3e7),
        np.full(links, hop), np.full(links, ROLE_OTHER, dtype=np.int8), none, np.full((1, 3, 2), -1, dtype=np.int64),
        zeros.copy(), np.zeros((1, 64), dtype=np.int64), np.full((1, 64), -1, dtype=np.int64), 10, empty_packets(n),
        np.zeros((links, len(LINK_COUNTERS)), dtype=np.int64), np.zeros((links, 2), dtype=np.int64), none, none,
        False, none, none, none, none, none, none, np.zeros(0, dtype=np.bool_), none, 0, none)
    arrived = batch[:crossed]
    return arrived, order, link_of[arrived["fseq"]]


def _in_order(t: npt.NDArray[np.int64]) -> bool:
    return bool(np.all(np.diff(t) >= 0))


def test_one_jittered_link_keeps_time_order() -> None:
    arrived, order, _ = _send(1, [20_000_000], 5e6, 0.0, HOP_UP)
    assert order == ORDER_TIME and _in_order(arrived["t"])


def test_links_of_different_delays_keep_order_per_link_only() -> None:
    arrived, order, link = _send(2, [50_000_000, 0], 5e6, 0.0, HOP_UP)
    assert not _in_order(arrived["t"])
    assert order == ORDER_PER_LINK and all(_in_order(arrived["t"][link == k]) for k in range(2))


def test_a_nack_repair_before_the_downlink_withdraws_the_word() -> None:
    arrived, order, _ = _send(1, [20_000_000], 0.0, 0.05, HOP_UP)
    assert not _in_order(arrived["t"])  # the resends arrive behind later packets
    assert order == ORDER_NONE


def test_a_nack_repair_on_the_downlink_keeps_its_place_in_line() -> None:
    arrived, order, link = _send(3, [20_000_000, 0, 5_000_000], 5e6, 0.05, HOP_DOWN)
    assert order == ORDER_PER_LINK and all(_in_order(arrived["t"][link == k]) for k in range(3))
