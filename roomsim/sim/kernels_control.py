"""Control packets (RTCP, transport-wide feedback, NACK, PLI, STUN) counted on their links
and on the server NICs they cross, in one compiled pass per tick
(roomsim.transport.control plans which packets go where; this only adds them up)."""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit
from roomsim.sim.kernels import BYTES, PACKETS


@njit(cache=True)
def put_control(on, packets, nbytes, repair, rtx_seen, access, reverse, node_end, nack_bytes, pli_links,
                pli_bytes, counts, cpu_pool, cpu_ns, busy, jobs):  # type: ignore[no-untyped-def]
    """Count control packets on their links: this tick's periodic packets (`packets` and
    `nbytes` on links `on`), a NACK for every retransmission on an access link since the
    last call (on its reverse link and, towards a server, on `node_end[link]`), and a PLI
    on each of `pli_links`. A packet crossing a link with a `cpu_pool` (a server's NIC)
    costs that pool `cpu_ns[link]` (per packet, per wire byte), counted like the links
    (not queued). One compiled
    pass: the same in numpy is ~10 calls a tick."""
    for i in range(len(on)):
        _put(on[i], packets[i], nbytes[i], counts, cpu_pool, cpu_ns, busy, jobs)
    for q in range(len(repair)):
        new = repair[q] - rtx_seen[q]
        if new > 0:
            rtx_seen[q] = repair[q]
            if access[q]:
                _put(reverse[q], new, new * nack_bytes, counts, cpu_pool, cpu_ns, busy, jobs)
                if len(node_end) > 0:
                    _put(node_end[q], new, new * nack_bytes, counts, cpu_pool, cpu_ns, busy, jobs)
    for i in range(len(pli_links)):
        _put(pli_links[i], 1, pli_bytes, counts, cpu_pool, cpu_ns, busy, jobs)


@njit(cache=True, inline="always")
def _put(link, packets, size, counts, cpu_pool, cpu_ns, busy, jobs):  # type: ignore[no-untyped-def]
    counts[link, PACKETS] += packets
    counts[link, BYTES] += size
    pool = cpu_pool[link]
    if pool >= 0:
        busy[pool] += np.int64(np.rint(packets * cpu_ns[link, 0] + size * cpu_ns[link, 1]))
        jobs[pool] += packets


@njit(cache=True)
def lay_out_control(phase, interval, size, hops, t_start, t_end, tick_ns, packets, nbytes):  # type: ignore[no-untyped-def]
    """Add up periodic control packets per (tick, link): item i sends `size[i]` bytes at
    phase[i] + m x interval[i] for every m with a time in [t_start, t_end), on each link
    hops[h, i] >= 0 of its path; tick = (time - t_start) // tick_ns. One compiled pass
    (the same in numpy expanded every occurrence into arrays: a few ms per layout)."""
    for i in range(len(phase)):
        every = interval[i]
        t = phase[i] - ((phase[i] - t_start) // every) * every  # the first time >= t_start
        while t < t_end:
            row = (t - t_start) // tick_ns
            for h in range(hops.shape[0]):
                link = hops[h, i]
                if link >= 0:
                    packets[row, link] += 1
                    nbytes[row, link] += size[i]
            t += every
