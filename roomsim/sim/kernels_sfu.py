"""Compiled inner loops of the SFU's control plane and forwarding: layer allocation (at
the SFU's control instants) and the forwarding tables' fan-out and credit, and the
addressing of a node's copies (per tick). The delay-based congestion detector they once
shared this module with is `kernels_gcc`.

All take their state as arrays: nothing here reads a clock (`now` is passed in).
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit


@njit(cache=True)
def allocate_layers(
    sub_ptr,
    pair_track,
    pair_cap,
    budget,
    track_ptr,
    point_rate,
    point_spatial,
    track_audio,
    allow_pause,
    level,
):  # type: ignore[no-untyped-def]
    """Layers for every (subscriber, track) pair, pairs of one subscriber in priority order.

    Audio is always taken and paid first. Each wanted video track starts at its lowest
    operating point (or, with `allow_pause`, is paused when even that does not fit); then
    tracks are upgraded one point at a time, round-robin in priority order, while the
    total fits the subscriber's budget. `pair_cap` is the highest spatial layer a pair may
    reach (-1: not wanted). Writes `level[pair]` = operating point index within the
    track, or -1.
    """
    for s in range(len(sub_ptr) - 1):
        lo, hi = sub_ptr[s], sub_ptr[s + 1]
        left = budget[s]
        for p in range(lo, hi):
            level[p] = -1
            t = pair_track[p]
            if track_audio[t] and pair_cap[p] >= 0:
                level[p] = 0
                left -= point_rate[track_ptr[t]]
        used = 0.0
        for p in range(lo, hi):
            t = pair_track[p]
            if track_audio[t] or pair_cap[p] < 0:
                continue
            first = point_rate[track_ptr[t]]
            if allow_pause and used + first > left:
                continue
            level[p] = 0
            used += first
        upgraded = True
        while upgraded:
            upgraded = False
            for p in range(lo, hi):
                t = pair_track[p]
                if track_audio[t] or level[p] < 0:
                    continue
                base = track_ptr[t]
                current = base + level[p]
                nxt = current + 1
                while nxt < track_ptr[t + 1] and point_spatial[nxt] > pair_cap[p]:
                    nxt += 1
                if nxt >= track_ptr[t + 1]:
                    continue
                step = point_rate[nxt] - point_rate[current]
                if used + step <= left:
                    level[p] = nxt - base
                    used += step
                    upgraded = True


@njit(cache=True)
def expand_entries(keys, capture, indptr, target, start, end, exact):  # type: ignore[no-untyped-def]
    """Fan items out to the entries of their key whose [start, end) holds the item's
    capture time (every entry when `exact`): returns (item index, target) per copy, and
    the number of copies of each item."""
    total = 0
    for i in range(len(keys)):
        total += indptr[keys[i] + 1] - indptr[keys[i]]
    item_out = np.empty(total, dtype=np.int64)
    target_out = np.empty(total, dtype=np.int64)
    copies = np.zeros(len(keys), dtype=np.int64)
    n = 0
    for i in range(len(keys)):
        c = capture[i]
        first = n
        for j in range(indptr[keys[i]], indptr[keys[i] + 1]):
            if exact or (start[j] <= c and c < end[j]):
                item_out[n] = i
                target_out[n] = target[j]
                n += 1
        copies[i] = n - first
    return item_out[:n], target_out[:n], copies


@njit(cache=True)
def credit_entries(keys, capture, marker, audio, indptr, target, start, end, exact, packets, frames,
                   audio_frames):  # type: ignore[no-untyped-def]
    """Credit the targets of the entries each item is forwarded on (windows as
    `expand_entries`): one packet each, and at a frame's last packet (`marker`) one frame,
    counted apart for audio too. Targets below 0 (relay segments) are not receivers."""
    for i in range(len(keys)):
        c = capture[i]
        for j in range(indptr[keys[i]], indptr[keys[i] + 1]):
            r = target[j]
            if r < 0 or not (exact or (start[j] <= c and c < end[j])):
                continue
            packets[r] += 1
            if marker[i]:
                frames[r] += 1
                if audio[i]:
                    audio_frames[r] += 1


@njit(cache=True)
def address_copies(batch, item, target, start, cores, ingress_ns, egress_ns, nic_out, down_flow_base, local_index,
                   copies):  # type: ignore[no-untyped-def]
    """Write a node's copies (items sorted): copy c is packet `item[c]` of the batch (PACKET
    rows) sent to `target[c]` through the node's NIC-out `nic_out[item]`; `ingress_ns[i]` and
    `egress_ns[i]` are the receive and per-copy send costs of packet i. Copy j of a packet
    leaves after receive + (j+1) sends at `cores[item]` x one core's speed, and no sooner
    than one receive + one send after the packet arrived (`start`: when the node began
    serving it). Local copies get their receiver's flow; relay copies get -1 (set by the
    caller). Only the fields that change are computed; the rest is one record copy."""
    previous = -1
    rank = 0
    for c in range(len(item)):
        i = item[c]
        if i != previous:
            rank = 0
            previous = i
        else:
            rank += 1
        copies[c] = batch[i]
        out = copies[c]
        spread = np.int64(np.rint((ingress_ns[i] + (rank + 1) * egress_ns[i]) / cores[i]))
        earliest = out.t + ingress_ns[i] + egress_ns[i]
        leave = start[i] + spread
        out.t = leave if leave > earliest else earliest
        r = target[c]
        out.sub = r
        out.flow = down_flow_base[out.stream] + local_index[r] if r >= 0 else -1
        out.res = nic_out[i]
