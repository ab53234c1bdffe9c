"""Time ordering of packet batches, compiled with numba: a stable argsort and the order of a
batch by (resource, time) that every FIFO stage needs (see roomsim.sim.packets).

Both sort stably, so the permutation is the one a stable sort defines, whatever the
method: the methods here only exploit how batches arrive. A stage's batch is a few
time-ordered runs per resource (each upstream queue emits in order, and a merging stage
appends its new packets behind the held ones), so a natural merge sort (runs found in one
pass, merged pairwise) costs about log2(runs) passes instead of log2(n).
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit


@njit(cache=True)
def _merge_runs(key, perm, n, bounds, runs, key_spare, perm_spare):  # type: ignore[no-untyped-def]
    """Stably merge the ascending runs key[bounds[r]:bounds[r + 1]] (r < runs, bounds[runs]
    = n) pairwise until one is left; returns the (key, perm) buffers holding the result
    (the buffers swap roles at each pass). On equal keys the earlier run goes first."""
    while runs > 1:
        merged = 0
        for r in range(0, runs, 2):
            lo = bounds[r]
            mid = bounds[r + 1]
            bounds[merged] = lo
            merged += 1
            if r + 1 == runs:  # the odd run out moves over unchanged
                for k in range(lo, mid):
                    key_spare[k] = key[k]
                    perm_spare[k] = perm[k]
                continue
            hi = bounds[r + 2]
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if key[j] < key[i]:
                    key_spare[k] = key[j]
                    perm_spare[k] = perm[j]
                    j += 1
                else:
                    key_spare[k] = key[i]
                    perm_spare[k] = perm[i]
                    i += 1
                k += 1
            while i < mid:
                key_spare[k] = key[i]
                perm_spare[k] = perm[i]
                i += 1
                k += 1
            while j < hi:
                key_spare[k] = key[j]
                perm_spare[k] = perm[j]
                j += 1
                k += 1
        bounds[merged] = n
        runs = merged
        key, key_spare = key_spare, key
        perm, perm_spare = perm_spare, perm
    return key, perm


@njit(cache=True)
def stable_argsort(keys):  # type: ignore[no-untyped-def]
    """The permutation np.argsort(keys, kind="mergesort") gives (ties keep their order), by
    a natural merge sort. Written out because numba compiles its own argsort for mergesort
    in ~5 s on a first run, most of a first `compare`'s compile time."""
    n = len(keys)
    key = keys.astype(np.int64)
    perm = np.arange(n)
    bounds = np.empty(n + 1, dtype=np.int64)
    bounds[0] = 0
    runs = 1
    for k in range(1, n):
        if key[k] < key[k - 1]:
            bounds[runs] = k
            runs += 1
    bounds[runs] = n
    _, perm = _merge_runs(key, perm, n, bounds, runs, np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64))
    return perm


@njit(cache=True)
def _insertion_sorted(order, lo, hi, t, budget):  # type: ignore[no-untyped-def]
    """Sort order[lo:hi] on t by stable insertion while it moves at most `budget` items
    (linear for a few packets slightly out of place); False if it gave up (the items are
    then partly sorted, equal keys still in their first order)."""
    for k in range(lo + 1, hi):
        item = order[k]
        j = k - 1
        while j >= lo and t[order[j]] > t[item]:
            order[j + 1] = order[j]
            j -= 1
            budget -= 1
        order[j + 1] = item
        if budget < 0:
            return False
    return True


@njit(cache=True)
def order_by_resource(res, t, resources):  # type: ignore[no-untyped-def]
    """A permutation putting each resource's items in time order, stably: a counting sort
    by resource, then each resource's items, when not already in time order, sorted by
    insertion if few are slightly out of place (a repaired packet) or else merged from
    their time-ordered runs (several sources interleaved). Items of different resources need no mutual order, but the
    permutation is the stable sort by (resource, time), whatever the method."""
    n = len(res)
    start = np.zeros(resources + 1, dtype=np.int64)
    if resources == 1:  # one queue (a server's NIC): nothing to group
        start[1] = n
        order = np.arange(n)
    else:
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
    key = np.empty(n, dtype=np.int64)
    perm = np.empty(n, dtype=np.int64)
    key_spare = np.empty(n, dtype=np.int64)
    perm_spare = np.empty(n, dtype=np.int64)
    bounds = np.empty(n + 1, dtype=np.int64)
    for r in range(resources):
        lo, hi = start[r], start[r + 1]
        descents = 0
        for k in range(lo + 1, hi):
            if t[order[k]] < t[order[k - 1]]:
                descents += 1
        if descents == 0:
            continue
        if (descents <= 16 or 32 * descents <= hi - lo) and _insertion_sorted(order, lo, hi, t, hi - lo + 64):
            continue
        m = hi - lo
        runs = 1
        bounds[0] = 0
        for k in range(m):
            item = order[lo + k]
            key[k] = t[item]
            perm[k] = item
            if k > 0 and key[k] < key[k - 1]:
                bounds[runs] = k
                runs += 1
        bounds[runs] = m
        _, sorted_perm = _merge_runs(key, perm, m, bounds, runs, key_spare, perm_spare)
        for k in range(m):
            order[lo + k] = sorted_perm[k]
    return order


@njit(cache=True)
def queue_order(batch, last):  # type: ignore[no-untyped-def]
    """What a FIFO stage must do with a batch (PACKET rows): (order, scratch), where
    `order` is empty when every resource's packets already appear in time order (the
    common case, found in one pass over the rows) and otherwise `order_by_resource` of the
    batch. `last` is scratch with an entry per resource, returned (grown when a resource
    did not fit) for the next call."""
    n = len(batch)
    last[:] = np.iinfo(np.int64).min
    ordered = True
    i = 0
    while i < n:
        row = batch[i]
        q = row.res
        if q >= len(last):  # a new resource: grow the scratch and check again
            resources = 0
            for k in range(n):
                if batch[k].res >= resources:
                    resources = batch[k].res + 1
            last = np.full(resources, np.iinfo(np.int64).min, dtype=np.int64)
            i = 0
            continue
        if row.t < last[q]:
            ordered = False
            break
        last[q] = row.t
        i += 1
    if ordered:
        return np.empty(0, dtype=np.int64), last
    res = np.empty(n, dtype=np.int64)
    t = np.empty(n, dtype=np.int64)
    resources = 0
    for k in range(n):
        row = batch[k]
        res[k] = row.res
        t[k] = row.t
        if row.res >= resources:
            resources = row.res + 1
    return order_by_resource(res, t, resources), last
