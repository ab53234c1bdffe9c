"""The mesh's compiled send path (roomsim.sim.kernels_mesh) gives, field for field, what
the numpy steps it replaced give: copies expanded per receiver in the rotating order
(sort on (rank + frame + salt) mod copies), sized and costed as Topology.encode costs them;
packets split as sim.packets splits them and counted as Topology.count_addressed counts;
encoder usage summed in CpuOveruse's order, refused frames included; encoder targets as
adaptation.video_rate sets them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from roomsim.codecs.adaptation import MIN_VIDEO_BPS, video_rate
from roomsim.sim.kernels_mesh import connection_targets, packetize_copies, peer_frame_copies, settle_encodes
from roomsim.sim.packets import PACKET, packet_counts
from roomsim.topologies.base import FRAME, Subscriptions


def split_payloads(payload: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The packetizers' rule in numpy (the engine's own numpy step before it was compiled):
    each frame's payload split about equally over its packets, the remainder going one byte
    each to the first packets; (frame index per packet, payload per packet, marker)."""
    frame = np.repeat(np.arange(len(payload)), counts)
    first = np.cumsum(counts) - counts
    position = np.arange(len(frame)) - first[frame]
    base = payload // counts
    remainder = payload - base * counts
    return frame, base[frame] + (position < remainder[frame]), position == counts[frame] - 1


PEOPLE, STREAMS = 5, 10  # stream s is published by s // 2; odd streams are video


def _world(rng: np.random.Generator) -> dict[str, np.ndarray]:
    pub = np.arange(STREAMS) // 2
    pairs = [(s, r) for s in range(STREAMS) for r in range(PEOPLE) if r != pub[s] and rng.random() < 0.8]
    stream, sub = (np.array(x, dtype=np.int64) for x in zip(*pairs, strict=True))
    subs = Subscriptions(STREAMS, PEOPLE, stream, sub)
    return {
        "pub": pub, "indptr": subs.indptr, "receivers": subs.sub, "count": subs.count,
        "salt": rng.integers(0, 1 << 30, STREAMS), "block": np.arange(PEOPLE) * PEOPLE,
        "local": np.arange(PEOPLE), "video": np.arange(STREAMS) % 2 == 1,
        "ratio": rng.uniform(0.05, 1.0, PEOPLE * PEOPLE), "scale": rng.uniform(0.2, 1.0, (PEOPLE * PEOPLE, 1)),
        "slot": np.zeros(STREAMS, dtype=np.int64), "encode_ns": rng.uniform(1e5, 5e6, STREAMS),
        "encoder": np.arange(PEOPLE) + 3, "speed": rng.uniform(0.2, 2.0, PEOPLE),
        "mtu": np.where(np.arange(STREAMS) % 2 == 1, 1180, 1200), "header": rng.integers(40, 70, STREAMS),
        "trailer": rng.integers(0, 30, STREAMS), "flow_base": np.arange(STREAMS) * PEOPLE,
        "uplink": np.arange(PEOPLE) * 2, "period": np.where(np.arange(STREAMS) % 2 == 1, 1e9 / 30, 2e7),
    }


def _frames(rng: np.random.Generator, n: int) -> np.ndarray:
    frames = np.zeros(n, dtype=FRAME)
    frames["t"] = np.sort(rng.integers(0, 50_000_000, n))
    frames["capture"] = frames["t"]
    frames["stream"] = rng.integers(0, STREAMS, n)
    frames["fseq"] = rng.integers(0, 100_000, n)
    frames["payload"] = rng.integers(1, 12_000, n)
    frames["sub"] = -1
    return frames


def _copies(w: dict[str, np.ndarray], frames: np.ndarray, rotating: bool) -> tuple[np.ndarray, ...]:
    total = int(w["count"][frames["stream"]].sum())
    copies = np.empty(total, dtype=FRAME)
    conn, pool, work = (np.empty(total, dtype=np.int64) for _ in range(3))
    peer_frame_copies(frames, w["indptr"], w["receivers"], w["salt"], rotating, w["pub"], w["block"], w["local"],
                      w["video"], w["ratio"], w["scale"], w["slot"], w["encode_ns"], w["encoder"], w["speed"],
                      copies, conn, pool, work)
    return copies, conn, pool, work


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40), rotating=st.booleans())
def test_copies_follow_the_rotating_order_and_the_encode_costs(seed: int, n: int, rotating: bool) -> None:
    rng = np.random.default_rng(seed)
    w = _world(rng)
    frames = _frames(rng, n)
    copies, conn, pool, work = _copies(w, frames, rotating)
    # reference: expand, sort each frame's copies on the rotated rank, then scale
    streams = frames["stream"].astype(np.int64)
    counts = w["count"][streams]
    item = np.repeat(np.arange(n), counts)
    rank = np.arange(len(item)) - (np.cumsum(counts) - counts)[item]
    if rotating:
        key = (rank + frames["fseq"][item] + w["salt"][streams[item]]) % np.maximum(counts[item], 1)
        order = np.lexsort((key, item))
        item, rank = item[order], rank[order]
    s = streams[item]
    sub = w["receivers"][w["indptr"][s] + rank]
    row = w["block"][sub] + w["local"][w["pub"][s]]
    payload = np.where(w["video"][s], np.maximum(np.rint(frames["payload"][item] * w["ratio"][row]), 1),
                       frames["payload"][item]).astype(np.int64)
    share = np.where(w["video"][s], w["scale"][row, 0], 1.0)
    expected_work = np.rint(w["encode_ns"][s] * share / w["speed"][w["pub"][s]]).astype(np.int64)
    assert copies["sub"].tolist() == sub.tolist()
    assert copies["fseq"].tolist() == frames["fseq"][item].tolist()
    assert copies["t"].tolist() == frames["t"][item].tolist()
    assert copies["payload"].tolist() == payload.tolist()
    assert conn.tolist() == row.tolist()
    assert pool.tolist() == w["encoder"][w["pub"][s]].tolist()
    assert work.tolist() == expected_work.tolist()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40))
def test_packets_split_addressed_and_counted_as_the_generic_path(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    w = _world(rng)
    copies, *_ = _copies(w, _frames(rng, n), True)
    copies["t"] += rng.integers(0, 3_000_000, len(copies))  # encode done, after capture
    order = np.argsort(copies["t"], kind="stable")
    sent = [np.zeros(PEOPLE, dtype=np.int64) for _ in range(3)]
    out = np.empty(1, dtype=PACKET)
    needed = packetize_copies(copies, order, w["mtu"], w["header"], w["trailer"], w["flow_base"], w["local"],
                              w["uplink"], w["pub"], ~w["video"], *sent, out)
    frames = copies[order]
    s = frames["stream"].astype(np.int64)
    counts = packet_counts(frames["payload"], w["mtu"][s])
    frame, payload, marker = split_payloads(frames["payload"], counts)
    if len(frame) > 1:
        assert needed == -len(frame)  # too small a buffer: says how much it needs
    out = np.empty(len(frame) + 3, dtype=PACKET)
    assert packetize_copies(copies, order, w["mtu"], w["header"], w["trailer"], w["flow_base"], w["local"],
                            w["uplink"], w["pub"], ~w["video"], *sent, out) == len(frame)
    got = out[:len(frame)]
    sub = frames["sub"][frame]
    assert got["t"].tolist() == frames["t"][frame].tolist()
    assert got["payload"].tolist() == payload.tolist()
    assert got["marker"].tolist() == marker.tolist()
    assert got["size"].tolist() == (payload + w["header"][s[frame]] + w["trailer"][s[frame]] * marker).tolist()
    assert got["flow"].tolist() == (w["flow_base"][s[frame]] + w["local"][sub]).tolist()
    assert got["res"].tolist() == w["uplink"][w["pub"][s[frame]]].tolist()
    since = ((frames["t"] - frames["capture"]) // 1000)[frame].tolist()
    assert got["enc_us"].tolist() == since and got["out_us"].tolist() == since
    assert not got["damaged"].any()
    # counted once (the first call wrote nothing when the buffer was short)
    assert sent[0].tolist() == np.bincount(sub, minlength=PEOPLE).tolist()
    assert sent[1].tolist() == np.bincount(sub[marker], minlength=PEOPLE).tolist()
    audio = marker & ~w["video"][s[frame]]
    assert sent[2].tolist() == np.bincount(sub[audio], minlength=PEOPLE).tolist()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40))
def test_refused_frames_and_encoder_usage_as_cpu_overuse_sums_them(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    w = _world(rng)
    copies, conn, *_ = _copies(w, _frames(rng, n), True)
    done = copies["t"] + rng.integers(100_000, 40_000_000, len(copies))
    accepted = rng.random(len(copies)) < 0.7
    rows = PEOPLE * PEOPLE
    busy, seen, period = rng.uniform(0, 1e8, rows), rng.integers(0, 9, rows).astype(np.float64), np.zeros(rows)
    dropped = np.zeros(PEOPLE, dtype=np.int64)
    reference = copies.copy()
    busy_ref, seen_ref, period_ref = busy.copy(), seen.copy(), period.copy()
    kept = settle_encodes(copies, conn, done, accepted, w["pub"], dropped, w["video"], w["period"], True,
                          busy_ref, seen_ref, period_ref)
    # reference: the numpy steps (bincount sums per call, last period written wins)
    encoded = reference[accepted]
    encoded["t"] = done[accepted]
    assert copies[:kept].tolist() == encoded.tolist()
    pub = w["pub"][reference["stream"]]
    assert dropped.tolist() == np.bincount(pub[~accepted], minlength=PEOPLE).tolist()
    s = reference["stream"].astype(np.int64)
    for mask, spent in ((accepted, (done - reference["capture"]).astype(np.float64)), (~accepted, w["period"][s])):
        video = mask & w["video"][s]
        busy += np.bincount(conn[video], weights=spent[video], minlength=rows)
        seen += np.bincount(conn[video], minlength=rows)
        period[conn[video]] = w["period"][s[video]]
    assert busy_ref.tolist() == busy.tolist()
    assert seen_ref.tolist() == seen.tolist()
    assert period_ref.tolist() == period.tolist()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_connection_targets_follow_video_rate(seed: int) -> None:
    """The compiled targets equal roomsim.codecs.adaptation.video_rate's, bit for bit
    (inf and NaN estimates and audio-only senders included), and name the rows whose
    ratio or CPU steps moved."""
    rng = np.random.default_rng(seed)
    rows = PEOPLE * PEOPLE
    estimate = rng.uniform(0, 3e6, rows)
    estimate[rng.integers(0, rows, 3)] = [np.inf, np.nan, 10_000.0]
    row_pub = np.arange(rows) // PEOPLE
    audio = rng.choice([0.0, 32_000.0, 64_000.0], PEOPLE)
    video = rng.choice([0.0, 20_000.0, 1.7e6], PEOPLE)
    target, ratio = np.zeros(rows), rng.choice([1.0, 0.5], rows)
    steps, scaled_steps = rng.integers(0, 2, rows), rng.integers(0, 2, rows)
    scaled_ratio = np.where(rng.random(rows) < 0.5, np.nan, 1.0)
    every = rng.permutation(rows)
    stale = np.empty(rows, dtype=np.int64)
    n = connection_targets(every, estimate, row_pub, audio, video, MIN_VIDEO_BPS, target, ratio, steps, scaled_ratio,
                           scaled_steps, stale)
    expected = video_rate(estimate, audio[row_pub], video[row_pub])
    ceiling = video[row_pub]
    assert np.array_equal(target, expected, equal_nan=True)
    assert np.array_equal(ratio, np.where(ceiling > 0, expected / np.maximum(ceiling, 1.0), 1.0), equal_nan=True)
    moved = (ratio[every] != scaled_ratio[every]) | (steps[every] != scaled_steps[every])
    assert stale[:n].tolist() == every[moved].tolist()
