"""The per-packet inner loops, compiled with numba.

Every queue in the simulator is a FIFO with carried state. Fed a batch in time order, one
pass updates every queue the batch touches: d = max(a, busy_until) + service, drop-tail
when the wait would exceed the queue's limit, then (links) random loss, propagation delay
and order-preserving jitter. A plain loop does this in one pass at ~10-20 ns a packet;
the same in vectorised numpy took ~40 array passes per stage and could not reach the
speed goals (see benchmarks/). Nothing here reads a clock or a global: state arrays are
passed in and updated in place.

Randomness is counter-based: packet number n on a link draws splitmix64(key ^ n * M), so
each link has its own stream and adding a link or a participant changes no other draws.
"""

from __future__ import annotations

import math

import numpy as np

from roomsim.sim.jit import njit

SENT, QUEUE_DROP, LOST = 0, 1, 2

#: Counter columns the link kernel accumulates per link for one tick. `bytes` is what was
#: offered to the link (every packet handed to it, retransmissions included);
#: `dropped_bytes` what of it the link did not carry (queue overflow or random loss), so
#: carried = bytes - dropped_bytes, as delivered packets = packets - both drops.
PACKETS, BYTES, PAYLOAD, DROPPED_QUEUE, DROPPED_LOSS, DROPPED_BYTES = range(6)
LINK_COUNTERS = ("packets", "bytes", "payload_bytes", "dropped_queue", "dropped_loss",
                 "dropped_bytes")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_NS_PER_BIT = 8e9


@njit(cache=True, inline="always")
def _uniform(key: np.uint64, n: np.int64) -> float:
    """U[0,1) from SplitMix64 (Steele, Lea & Flood, OOPSLA 2014) of key ^ n*M."""
    z = key ^ (np.uint64(n) * _MIX2)
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def serve_pools(pool, t, work_ns, cores, queue_ns, busy_until, start, accepted, busy_ns, jobs,
                dropped):  # type: ignore[no-untyped-def]
    """Serve work items (in time order) on CPU pools modelled as fluid servers.

    A pool of c cores drains its backlog c times faster than one core, so an item's
    service takes work / c of the pool's time; `start` gets when that service begins.
    Items that would wait longer than the pool's limit are refused (`accepted` False).
    Adds busy core-ns, accepted jobs and drops per pool.
    """
    for i in range(len(t)):
        q = pool[i]
        a = t[i]
        busy = busy_until[q]
        if busy - a > queue_ns[q]:
            accepted[i] = False
            dropped[q] += 1
            continue
        s = busy if busy > a else a
        service = np.int64(np.rint(work_ns[i] / cores[q]))
        if service < 1:
            service = 1
        busy_until[q] = s + service
        start[i] = s
        accepted[i] = True
        busy_ns[q] += work_ns[i]
        jobs[q] += 1


@njit(cache=True)
def log_latency_bin(latency_ns, bins, bins_per_decade, min_ms):  # type: ignore[no-untyped-def]
    """The latency histogram's definition: bin 1 + floor(log10(ms / min_ms) x bins a decade),
    0 = underflow, bins - 1 = overflow. Only used to derive `latency_bin_tables`."""
    ms = max(latency_ns, 1) / 1e6
    b = int(np.floor(np.log10(ms / min_ms) * bins_per_decade)) + 1
    return min(max(b, 0), bins - 1)


#: Cells per octave of the latency bin lookup (`latency_bin`): a cell spans 1/32 of an
#: octave (2.2 %), less than one bin (5.9 %), so the cell's first bin is off by at most one.
OCTAVE_CELLS = 32


@njit(cache=True)
def latency_bin_tables(bins, bins_per_decade, min_ms):  # type: ignore[no-untyped-def]
    """Integer thresholds equivalent to `log_latency_bin`: (lower, first) where lower[b] is
    the smallest latency (ns) of bin b (lower[bins] = int64 max) and first[e, c] the bin of
    the smallest latency of cell c of octave e (x = m 2^e, m in [0.5, 1), c = (m - 0.5) 64).
    Found by bisection on the log formula itself, so bins are the same to the nanosecond."""
    lower = np.empty(bins + 1, dtype=np.int64)
    lower[0] = np.iinfo(np.int64).min
    lower[bins] = np.iinfo(np.int64).max
    for b in range(1, bins):
        lo, hi = np.int64(1), np.int64(1) << np.int64(62)
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if log_latency_bin(mid, bins, bins_per_decade, min_ms) >= b:
                hi = mid
            else:
                lo = mid + 1
        lower[b] = lo
    first = np.zeros((64, OCTAVE_CELLS), dtype=np.int64)
    for e in range(1, 63):
        for c in range(OCTAVE_CELLS):
            x = np.int64(np.ceil(math.ldexp(0.5 + c / (2 * OCTAVE_CELLS), e)))
            b = 0
            while b < bins - 1 and x >= lower[b + 1]:
                b += 1
            first[e, c] = b
    return lower, first


@njit(cache=True, inline="always")
def _bit_length(x):  # type: ignore[no-untyped-def]
    """Bits of a positive integer (the e of x = m 2^e, m in [0.5, 1)), by halving (written
    out: a loop over the steps is a third slower)."""
    e = 1
    if x >= np.int64(1) << np.int64(32):
        x >>= np.int64(32)
        e += 32
    if x >= 1 << 16:
        x >>= 16
        e += 16
    if x >= 1 << 8:
        x >>= 8
        e += 8
    if x >= 1 << 4:
        x >>= 4
        e += 4
    if x >= 1 << 2:
        x >>= 2
        e += 2
    if x >= 1 << 1:
        e += 1
    return e


@njit(cache=True, inline="always")
def latency_bin(latency_ns, lower, first):  # type: ignore[no-untyped-def]
    """`log_latency_bin` without a logarithm: the octave e and cell c of the latency (its
    five bits below the leading one) give a bin at most one too low; one comparison
    corrects it."""
    x = latency_ns if latency_ns > 1 else np.int64(1)
    e = _bit_length(x)
    c = ((x >> (e - 6)) if e >= 6 else (x << (6 - e))) & (OCTAVE_CELLS - 1)
    b = first[e, c]
    last = len(lower) - 2
    while b < last and x >= lower[b + 1]:
        b += 1
    return b


@njit(cache=True)
def latency_into(cells, owner, kind, latency_ns, kinds, lower, first):  # type: ignore[no-untyped-def]
    """Count each latency into cells[owner, kind, bin] (flattened; bins as `latency_bin`)."""
    bins = len(lower) - 1
    for i in range(len(latency_ns)):
        cells[(owner[i] * kinds + kind[i]) * bins + latency_bin(latency_ns[i], lower, first)] += 1


@njit(cache=True)
def receive_frames(batch, damage_bits, decoder, decode_ns, speed, cores, queue_ns, busy_until, received, frames_lost,
                   frames_decoded, frames_dropped, busy_ns, jobs, dropped, done, ready_t, ready_fseq,
                   ready):  # type: ignore[no-untyped-def]
    """Packets reaching their receivers (`batch`: PACKET rows, read as records; in time
    order per receiver): count them; at each frame's marker settle whether the frame lost
    a packet (damage bit ring), and decode whole frames on the receiver's decoder pool (a
    fluid FIFO like `serve_pools`).

    A frame with a packet repaired on the receiver's downlink (NACK/RTX, RED) is complete
    only when the repair arrives: `ready_t[flow, fseq & 63]` (for frame `ready_fseq[...]`)
    holds that time. Such a frame is decoded then, beside the queue (the decoder does not
    hold the frames of other streams behind it; its work is still counted).

    `done[i]` gets the decode completion time of packet i's frame, or -1 when packet i
    completes no frame (not a marker, damaged, or refused by an overloaded decoder);
    `ready[i]` the time its frame was complete at the receiver.
    """
    one = np.uint64(1)
    for i in range(len(batch)):
        row = batch[i]
        r = row.sub
        received[r] += 1
        done[i] = -1
        ready[i] = row.t
        if not row.marker:
            continue
        bit = one << np.uint64(row.fseq & 63)
        f = row.flow
        if row.damaged or (damage_bits[f] & bit) != 0:
            damage_bits[f] &= ~bit
            frames_lost[r] += 1
            continue
        q = decoder[r]
        work = decode_ns[row.stream] / speed[r]
        a = row.t
        slot = row.fseq & 63
        if ready_fseq[f, slot] == row.fseq:
            ready_fseq[f, slot] = -1
            if ready_t[f, slot] > a:
                ready[i] = ready_t[f, slot]
                done[i] = ready_t[f, slot] + np.int64(np.rint(work))
                busy_ns[q] += np.int64(np.rint(work))
                jobs[q] += 1
                frames_decoded[r] += 1
                continue
        busy = busy_until[q]
        if busy - a > queue_ns[q]:
            frames_dropped[r] += 1
            dropped[q] += 1
            continue
        s = busy if busy > a else a
        service = np.int64(np.rint(work / cores[q]))
        if service < 1:
            service = 1
        busy_until[q] = s + service
        finish = a + np.int64(np.rint(work))
        done[i] = finish if finish > s + service else s + service
        busy_ns[q] += np.int64(np.rint(work))
        jobs[q] += 1
        frames_decoded[r] += 1


@njit(cache=True, inline="always")
def _first_frame_from(t, period, phase):  # type: ignore[no-untyped-def]
    """The first frame k of a stream (frame k at phase + floor(k x period)) captured at or
    after t: a float guess, corrected by one either way against the exact frame times."""
    x = np.ceil((t - phase) / period)
    k = np.int64(x) if x > 0.0 else np.int64(0)
    if phase + np.floor(k * period) < t:
        k += 1
    if k > 0 and phase + np.floor((k - 1) * period) >= t:
        k -= 1
    return k


@njit(cache=True)
def capture_frames(t0, t1, streams, period, phase, frame_bytes, out):  # type: ignore[no-untyped-def]
    """Write the frames the streams capture in [t0, t1) into `out` (FRAME records), stream
    by stream, each in frame order: frame k at phase + floor(k x period), its payload the
    k-th step of the exact running total floor(k x frame_bytes). Returns how many, or minus
    how many if `out` is too small (nothing written)."""
    total = 0
    for j in range(len(streams)):
        s = streams[j]
        total += max(0, _first_frame_from(t1, period[s], phase[s]) - _first_frame_from(t0, period[s], phase[s]))
    if total > len(out):
        return -total
    n = 0
    for j in range(len(streams)):
        s = streams[j]
        p = period[s]
        size = frame_bytes[s]
        for k in range(_first_frame_from(t0, p, phase[s]), _first_frame_from(t1, p, phase[s])):
            f = out[n]
            f.stream = s
            f.fseq = k
            f.t = phase[s] + np.int64(np.floor(k * p))
            f.capture = f.t
            f.payload = np.int64(np.floor((k + 1) * size)) - np.int64(np.floor(k * size))
            f.sub = -1
            n += 1
    return n
