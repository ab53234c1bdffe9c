"""The link kernel splits its batch in the same pass: the rows that crossed move up to the
front of the batch, in batch order; the dropped ones are copied out untouched, in batch
order; every row is in exactly one part."""

from __future__ import annotations

import numpy as np

from roomsim.sim.kernels import BYTES, DROPPED_LOSS, DROPPED_QUEUE, LINK_COUNTERS, PACKETS
from roomsim.sim.kernels_rtp import HOP_OTHER, ROLE_OTHER, transmit_rtp
from roomsim.sim.packets import empty_packets


def test_split_keeps_order_and_leaves_dropped_rows_untouched() -> None:
    """Two links: a 1 Mbps one with a 5 ms queue (a burst overflows it) and a lossless-
    rate one losing half its packets at random (no repair)."""
    n, links = 400, 2
    batch = empty_packets(n)
    batch["t"] = np.arange(n) * 10_000  # a packet every 10 us
    batch["res"] = np.arange(n) % links
    batch["capture"], batch["sub"], batch["stream"], batch["flow"] = 0, -1, 0, 0
    batch["fseq"], batch["size"], batch["payload"], batch["marker"], batch["enc_us"] = np.arange(n), 1000, 950, True, 0
    before = batch.copy()
    counts = np.zeros((links, len(LINK_COUNTERS)), dtype=np.int64)
    zeros = np.zeros(links, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    dropped = empty_packets(n)
    _, crossed, lost, _ = transmit_rtp(
        batch, np.array([1e6, 1e10]), zeros.copy(), np.zeros(links), np.array([0.0, 0.5]),
        np.array([5_000_000, 10**9]), np.array([3, 7], dtype=np.uint64), zeros.copy(), zeros.copy(), zeros.copy(),
        np.zeros(1, dtype=np.int64), np.full(1, 2e7), np.full(links, HOP_OTHER),
        np.full(links, ROLE_OTHER, dtype=np.int8), none, np.full((1, 3, 2), -1, dtype=np.int64), zeros.copy(),
        np.zeros((1, 64), dtype=np.int64), np.full((1, 64), -1, dtype=np.int64), 10, dropped, counts,
        np.zeros((links, 2), dtype=np.int64), none, none, False, none, none, none, none, none, none,
        np.zeros(0, dtype=np.bool_), none, 0, none)
    assert crossed + lost == n
    assert counts[0, DROPPED_QUEUE] > 0 and counts[1, DROPPED_LOSS] > 0 and counts[:, PACKETS].sum() == n
    assert lost == counts[:, DROPPED_QUEUE].sum() + counts[:, DROPPED_LOSS].sum()
    arrived, gone = batch[:crossed], dropped[:lost]
    assert np.all(np.diff(arrived["fseq"]) > 0) and np.all(np.diff(gone["fseq"]) > 0)  # batch order
    assert sorted([*arrived["fseq"], *gone["fseq"]]) == list(range(n))  # each row once
    assert gone.tobytes() == before[gone["fseq"]].tobytes()  # dropped rows untouched
    assert np.all(arrived["t"] > before["t"][arrived["fseq"]])  # crossed rows carry their arrival
    assert counts[:, BYTES].sum() == 1000 * n
