"""Compiled inner loop of the SFU's control plane: layer allocation at the SFU's control
instants. The node's per-tick forwarding (fan-out, credit, addressing of copies) is
`kernels_fanout`; the delay-based congestion detector is `kernels_gcc`.

Takes its state as arrays: nothing here reads a clock."""

from __future__ import annotations

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
