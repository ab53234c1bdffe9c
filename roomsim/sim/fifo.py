"""Vectorised FIFO queues: many packets on many queues in one numpy pass.

A FIFO server of rate C with carried state `busy_until` departs items of service time s_i
arriving at a_i (in order) at d_i = max(a_i, d_{i-1}) + s_i, with d_0 = busy_until. Unrolled,
d_i = S_i + max(busy_until, max_{j<=i}(a_j - S_{j-1})) where S is the running sum of service
times, so a whole batch is a cumulative sum plus a running maximum. Batches hold items of
many queues sorted by (queue, arrival); the running maximum is kept from crossing queue
boundaries by lifting each queue's segment by a large constant (exact in int64 nanoseconds).

Drop-tail (an item that would wait longer than the queue's limit is dropped and takes no
service) makes departures depend on earlier drops, so the few queues that overflow in a
batch are redone item by item; uncongested queues never pay for that.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int64Array = npt.NDArray[np.int64]
IntArray = npt.NDArray[np.integer]
BoolArray = npt.NDArray[np.bool_]

#: Segment lift for the running maximum: 2^40 ns (~18 min) exceeds any backlog or batch span.
_LIFT = np.int64(1 << 40)


def segment_starts(queue: IntArray) -> tuple[Int64Array, Int64Array]:
    """Start offset of each run of equal queue ids, and each item's run index."""
    n = len(queue)
    flags = np.empty(n, dtype=bool)
    flags[0] = True
    np.not_equal(queue[1:], queue[:-1], out=flags[1:])
    starts = np.flatnonzero(flags)
    run_index = np.cumsum(flags) - 1
    return starts, run_index


def fifo_serve(
    queue: IntArray,
    arrival: Int64Array,
    service: Int64Array,
    busy_until: Int64Array,
    limit: Int64Array,
) -> tuple[Int64Array, BoolArray]:
    """Serve a batch sorted by (queue, arrival); return (departure, accepted).

    `busy_until` (indexed by queue id) is updated in place. `limit[q]` is the longest wait
    an item may face at queue q before it is dropped. Departures of dropped items are
    undefined. Every arrival must be >= the time the previous batch was processed up to.
    """
    n = len(arrival)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    starts, run = segment_starts(queue)
    run_queue = queue[starts]
    total = np.cumsum(service)
    before_run = total[starts] - service[starts]
    inclusive = total - before_run[run]
    origin = arrival.min()
    lift = run * _LIFT
    candidate = arrival - (inclusive - service) - origin + lift
    seeded = np.maximum(candidate[starts], busy_until[run_queue] - origin + lift[starts])
    candidate[starts] = seeded
    departure = np.maximum.accumulate(candidate) - lift + origin + inclusive
    wait = departure - service - arrival
    accepted = np.ones(n, dtype=bool)
    over = wait > limit[queue]
    if over.any():
        for r in np.unique(run[over]):
            _serve_run_with_drops(r, starts, run_queue, arrival, service, busy_until, limit,
                                  departure, accepted)
    ends = np.append(starts[1:], n) - 1
    good_runs = accepted[ends]
    busy_until[run_queue[good_runs]] = departure[ends[good_runs]]
    return departure, accepted


def _serve_run_with_drops(
    r: int,
    starts: Int64Array,
    run_queue: IntArray,
    arrival: Int64Array,
    service: Int64Array,
    busy_until: Int64Array,
    limit: Int64Array,
    departure: Int64Array,
    accepted: BoolArray,
) -> None:
    """Redo one overflowing queue item by item (drop-tail); writes busy_until itself."""
    q = int(run_queue[r])
    lo = int(starts[r])
    hi = int(starts[r + 1]) if r + 1 < len(starts) else len(arrival)
    busy = int(busy_until[q])
    max_wait = int(limit[q])
    arr = arrival[lo:hi].tolist()
    svc = service[lo:hi].tolist()
    out = [0] * (hi - lo)
    keep = [True] * (hi - lo)
    for i, (a, s) in enumerate(zip(arr, svc, strict=True)):
        if busy - a > max_wait:
            keep[i] = False
            continue
        busy = (busy if busy > a else a) + s
        out[i] = busy
    departure[lo:hi] = out
    accepted[lo:hi] = keep
    busy_until[q] = busy


def segmented_running_max(queue: IntArray, values: Int64Array, floor: Int64Array) -> Int64Array:
    """Running maximum of `values` within each queue's run, seeded by `floor[queue]`.

    Used to keep per-link delivery order when random jitter is added after the queue:
    delay variation on one path delays later packets too, it does not reorder them.
    """
    if len(values) == 0:
        return values
    starts, run = segment_starts(queue)
    origin = values.min()
    lift = run * _LIFT
    lifted = values - origin + lift
    lifted[starts] = np.maximum(lifted[starts], floor[queue[starts]] - origin + lift[starts])
    return np.maximum.accumulate(lifted) - lift + origin
