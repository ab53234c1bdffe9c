"""Time ordering of packet batches, compiled with numba: a stable argsort and the order of a
batch by (resource, time) that every FIFO stage needs (see roomsim.sim.packets).
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit


@njit(cache=True)
def stable_argsort(keys):  # type: ignore[no-untyped-def]
    """The permutation np.argsort(keys, kind="mergesort") gives (ties keep their order),
    by a bottom-up merge sort. Written out because numba compiles its own argsort for
    mergesort in ~5 s on a first run, most of a first `compare`'s compile time."""
    n = len(keys)
    perm = np.arange(n)
    spare = np.empty(n, dtype=np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j = lo, mid
            for k in range(lo, hi):
                if i < mid and (j >= hi or keys[perm[i]] <= keys[perm[j]]):
                    spare[k] = perm[i]
                    i += 1
                else:
                    spare[k] = perm[j]
                    j += 1
        perm, spare = spare, perm
        width *= 2
    return perm


@njit(cache=True)
def order_by_resource(res, t, resources):  # type: ignore[no-untyped-def]
    """A permutation putting each resource's items in time order, stably: a counting sort
    by resource, then each resource's run sorted on time, by insertion when it is nearly
    ordered (a few repaired packets out of place: linear) and by merge sort otherwise
    (several sources interleaved). Items of different resources need no mutual order."""
    n = len(res)
    start = np.zeros(resources + 1, dtype=np.int64)
    for i in range(n):
        start[res[i] + 1] += 1
    for r in range(resources):
        start[r + 1] += start[r]
    fill = start.copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        r = res[i]
        order[fill[r]] = i
        fill[r] += 1
    for r in range(resources):
        lo, hi = start[r], start[r + 1]
        descents = 0
        for k in range(lo + 1, hi):
            if t[order[k]] < t[order[k - 1]]:
                descents += 1
        if descents == 0:
            continue
        if descents > 16:
            run = order[lo:hi].copy()
            keys = np.empty(hi - lo, dtype=np.int64)
            for k in range(hi - lo):
                keys[k] = t[run[k]]
            perm = stable_argsort(keys)
            for k in range(hi - lo):
                order[lo + k] = run[perm[k]]
            continue
        for k in range(lo + 1, hi):
            item = order[k]
            j = k - 1
            while j >= lo and t[order[j]] > t[item]:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = item
    return order
