"""The compiled per-tick helpers give what their plain definitions give: the stage order is
the stable sort by (resource, time), the credit is one count per (item, entry whose window
holds the item), padding merges as a stable sort, and packetization splits each frame's
payload exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from roomsim.sim.kernels_fanout import credit_entries, drop_padding, merge_in_time
from roomsim.sim.kernels_order import order_by_resource, queue_order
from roomsim.sim.packets import PACKET, packet_counts, packetize_frames
from roomsim.topologies.base import FRAME

NEVER = np.iinfo(np.int64).max


def _batch(res: list[int], t: list[int]) -> np.ndarray:
    batch = np.zeros(len(res), dtype=PACKET)
    batch["res"], batch["t"] = res, t
    return batch


@settings(deadline=None, max_examples=300)  # the first example may compile the kernels
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 40)), max_size=200), st.booleans())
def test_stage_order_is_the_stable_sort_by_resource_then_time(items: list[tuple[int, int]], presort: bool) -> None:
    if presort:  # mostly ordered batches take the insertion path
        items = sorted(items, key=lambda x: x[1])
    res = np.array([r for r, _ in items], dtype=np.int64)
    t = np.array([x for _, x in items], dtype=np.int64)
    expected = np.lexsort((t, res))
    assert order_by_resource(res, t, int(res.max()) + 1 if len(res) else 0).tolist() == expected.tolist()
    order, last = queue_order(_batch(res.tolist(), t.tolist()), np.empty(1, dtype=np.int64))
    in_order = all(np.all(np.diff(t[res == r]) >= 0) for r in np.unique(res))
    assert order.tolist() == ([] if in_order else expected.tolist())
    if in_order:  # the check saw every row: its scratch now fits every resource
        assert len(last) >= (int(res.max()) + 1 if len(res) else 0)


def test_interleaved_sources_on_one_queue_sort_stably() -> None:
    """A NIC fed by 100 uplinks, each in time order, with equal times across them."""
    rng = np.random.default_rng(7)
    t = np.concatenate([np.sort(rng.integers(0, 1000, 9)) for _ in range(100)])
    res = np.zeros(len(t), dtype=np.int64)
    assert order_by_resource(res, t, 1).tolist() == np.argsort(t, kind="stable").tolist()


@settings(deadline=None, max_examples=200)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_credit_counts_each_item_once_per_entry_whose_window_holds_it(seed: int, exact: bool) -> None:
    rng = np.random.default_rng(seed)
    n_keys, n_entries, n_items, receivers = 4, int(rng.integers(0, 25)), int(rng.integers(0, 40)), 6
    key = np.sort(rng.integers(0, n_keys, n_entries))
    indptr = np.searchsorted(key, np.arange(n_keys + 1))
    target = rng.integers(-1, receivers, n_entries)
    start = np.where(rng.random(n_entries) < 0.5, np.iinfo(np.int64).min, rng.integers(0, 60, n_entries))
    end = np.where(rng.random(n_entries) < 0.5, NEVER, start + rng.integers(0, 60, n_entries))
    keys, capture = rng.integers(0, n_keys, n_items), rng.integers(0, 100, n_items)
    marker, audio = rng.random(n_items) < 0.4, rng.random(n_items) < 0.5
    got = [np.zeros(receivers, dtype=np.int64) for _ in range(3)]
    credit_entries(keys, capture, marker, audio, indptr, target, start, end, exact, *got)
    want = [np.zeros(receivers, dtype=np.int64) for _ in range(3)]
    for i in range(n_items):
        for j in range(indptr[keys[i]], indptr[keys[i] + 1]):
            if target[j] >= 0 and (exact or start[j] <= capture[i] < end[j]):
                want[0][target[j]] += 1
                want[1][target[j]] += int(marker[i])
                want[2][target[j]] += int(marker[i] and audio[i])
    assert all(a.tolist() == b.tolist() for a, b in zip(got, want, strict=True))


@settings(deadline=None, max_examples=200)
@given(st.lists(st.integers(0, 30), max_size=60), st.lists(st.integers(0, 30), max_size=8))
def test_padding_merges_as_the_stable_sort_of_copies_then_padding(copies_t: list[int], padding_t: list[int]) -> None:
    copies = _batch([0] * len(copies_t), sorted(copies_t))
    padding = _batch([1] * len(padding_t), sorted(padding_t))
    copies["fseq"], padding["fseq"] = np.arange(len(copies)), -1
    merged = np.empty(len(copies) + len(padding), dtype=PACKET)
    merge_in_time(copies, padding, merged)
    both = np.concatenate([copies, padding])
    assert merged.tobytes() == both[np.argsort(both["t"], kind="stable")].tobytes()
    kept = drop_padding(merged)
    assert merged[:kept].tobytes() == copies.tobytes()


@settings(deadline=None, max_examples=200)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=20))
def test_packetization_splits_each_payload_exactly(payloads: list[int]) -> None:
    frames = np.zeros(len(payloads), dtype=FRAME)
    frames["payload"], frames["stream"] = payloads, np.arange(len(payloads)) % 2
    frames["t"], frames["capture"] = 5_000, 2_000
    mtu, header, trailer = np.array([1200, 1000]), np.array([40, 50]), np.array([0, 16])
    counts = packet_counts(frames["payload"], mtu[frames["stream"]])
    packets = np.empty(int(counts.sum()), dtype=PACKET)
    packetize_frames(frames, frames["capture"], counts, header, trailer, packets)
    first = 0
    for f, count in enumerate(counts):
        mine = packets[first:first + count]
        first += count
        s = frames["stream"][f]
        assert mine["payload"].sum() == payloads[f] and np.ptp(mine["payload"]) <= 1
        assert np.all(mine["payload"] <= mtu[s]) and np.all(np.diff(mine["payload"]) <= 0)
        assert mine["marker"].tolist() == [False] * (count - 1) + [True]
        assert (mine["size"] - mine["payload"]).tolist() == [header[s]] * (count - 1) + [header[s] + trailer[s]]
        assert np.all(mine["enc_us"] == 3) and np.all(mine["flow"] == s)
