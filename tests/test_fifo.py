"""The vectorised FIFO kernel against a plain item-by-item reference queue."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from roomsim.sim.fifo import fifo_serve, segmented_running_max


def reference(queue, arrival, service, busy, limit):
    """Textbook drop-tail FIFO, one item at a time."""
    busy = busy.copy()
    out = np.zeros(len(arrival), dtype=np.int64)
    ok = np.ones(len(arrival), dtype=bool)
    for i, (q, a, s) in enumerate(zip(queue, arrival, service, strict=True)):
        if busy[q] - a > limit[q]:
            ok[i] = False
            continue
        busy[q] = max(busy[q], a) + s
        out[i] = busy[q]
    return out, ok, busy


batches = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 5_000), min_size=n, max_size=n),
        st.lists(st.integers(1, 3_000), min_size=n, max_size=n),
        st.lists(st.integers(0, 8_000), min_size=5, max_size=5),
        st.lists(st.integers(0, 10_000), min_size=5, max_size=5),
    )
)


@settings(max_examples=300, deadline=None)
@given(batches)
def test_fifo_matches_reference(batch):
    queue, arrival, service, busy, limit = (np.array(x, dtype=np.int64) for x in batch)
    order = np.lexsort((arrival, queue))
    queue, arrival, service = queue[order], arrival[order], service[order]
    want_out, want_ok, want_busy = reference(queue, arrival, service, busy, limit)
    got_busy = busy.copy()
    got_out, got_ok = fifo_serve(queue, arrival, service, got_busy, limit)
    assert np.array_equal(got_ok, want_ok)
    assert np.array_equal(got_out[got_ok], want_out[want_ok])
    assert np.array_equal(got_busy, want_busy)


def test_fifo_two_batches_carry_state():
    busy = np.zeros(1, dtype=np.int64)
    limit = np.full(1, 10**9, dtype=np.int64)
    q = np.zeros(3, dtype=np.int64)
    out1, _ = fifo_serve(q, np.array([0, 0, 0]), np.array([10, 10, 10]), busy, limit)
    assert out1.tolist() == [10, 20, 30]
    out2, _ = fifo_serve(q[:1], np.array([25]), np.array([5]), busy, limit)
    assert out2.tolist() == [35]
    assert busy[0] == 35


def test_running_max_is_per_queue_and_seeded():
    queue = np.array([0, 0, 0, 1, 1])
    values = np.array([5, 3, 9, 1, 0], dtype=np.int64)
    floor = np.array([0, 4], dtype=np.int64)
    assert segmented_running_max(queue, values, floor).tolist() == [5, 5, 9, 4, 4]
