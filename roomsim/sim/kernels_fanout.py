"""Compiled fan-out of an SFU node's forwarding tick: forwarding entries with capture-time
windows (roomsim.sfu.plan), the CPU work of each received packet, and the copies it
leaves as, read straight from the packet rows and the table.

A packet is forwarded on the entries of its key (node x streams + stream) whose window
[start, end) holds the capture time of its frame (frame k of a stream at phase + floor(k x
period)); when the table is `exact` every entry is open and older than any packet in
flight, so no window is checked. Probe padding (fseq < 0) is already addressed: it has no
entries and costs one send.
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit

#: What `address_copies` found of its copies' order.
IN_NIC_ORDER, IN_TIME_ORDER = 1, 2


@njit(cache=True, inline="always")
def _captured(row, phase_ns, period_ns):  # type: ignore[no-untyped-def]
    """When the packet's frame was captured (its `capture` field holds when the frame left
    the encoder)."""
    return phase_ns[row.stream] + np.int64(np.floor(row.fseq * period_ns[row.stream]))


@njit(cache=True)
def forward_work(batch, pool_node, n_streams, indptr, start, end, exact, phase_ns, period_ns, receive_cost,
                 send_cost, extra_workers, receive, send, work, fanned):  # type: ignore[no-untyped-def]
    """Per packet of a node's CPU batch (PACKET rows, `res` = CPU pool): the ns of core time
    to receive it and to send one copy (the node's profile: fixed + per wire byte,
    `receive_cost[node]` / `send_cost[node]`), and the job's work: receive + one send per
    copy, plus one receive and send per other worker of a pipe-transport node; padding:
    one send. `fanned` gets each packet's number of copies (padding: 0)."""
    for i in range(len(batch)):
        row = batch[i]
        node = pool_node[row.res]
        size = np.float64(row.size)
        receive[i] = np.int64(np.rint(receive_cost[node, 0] + receive_cost[node, 1] * size))
        send[i] = np.int64(np.rint(send_cost[node, 0] + send_cost[node, 1] * size))
        if row.fseq < 0:
            work[i] = send[i]
            fanned[i] = 0
            continue
        key = node * n_streams + row.stream
        if exact:
            copies = indptr[key + 1] - indptr[key]
        else:
            capture = _captured(row, phase_ns, period_ns)
            copies = 0
            for j in range(indptr[key], indptr[key + 1]):
                if start[j] <= capture and capture < end[j]:
                    copies += 1
        fanned[i] = copies
        work[i] = receive[i] + copies * send[i] + extra_workers[node] * (receive[i] + send[i])


@njit(cache=True)
def address_copies(batch, ok, pool_node, n_streams, indptr, target, start, end, exact, phase_ns, period_ns,
                   served_from, cores, receive, send, nic_out, down_flow_base, local_index, copies,
                   last_t):  # type: ignore[no-untyped-def]
    """Write the copies of the media packets the node's CPU accepted (`ok`), packet by
    packet, each on its entries in table order: copy j of a packet leaves after receive +
    (j+1) sends at `cores[pool]` x one core's speed from when the pool began serving it
    (`served_from`), and no sooner than one receive + one send after it arrived. A local copy
    gets its receiver's flow, a relay-segment copy (target < 0) flow -1 (set by the
    caller); every copy leaves through its node's NIC-out. Returns IN_TIME_ORDER when the
    copies are in time order, IN_NIC_ORDER when only each NIC-out's are (`last_t`: scratch,
    an entry per node), else 0."""
    last_t[:] = np.iinfo(np.int64).min
    latest = np.iinfo(np.int64).min
    in_order = IN_TIME_ORDER
    c = 0
    for i in range(len(batch)):
        row = batch[i]
        if not ok[i] or row.fseq < 0:
            continue
        # what all copies of the packet share, read once (~2x faster than per copy)
        node = pool_node[row.res]
        key = node * n_streams + row.stream
        capture = row.t if exact else _captured(row, phase_ns, period_ns)
        ingress, egress, speed = receive[i], send[i], cores[row.res]
        earliest = row.t + ingress + egress
        began = served_from[i]
        flow_base = down_flow_base[row.stream]
        nic = nic_out[node]
        last = last_t[node]
        rank = 0
        for j in range(indptr[key], indptr[key + 1]):
            if not (exact or (start[j] <= capture and capture < end[j])):
                continue
            copies[c] = row
            out = copies[c]
            leave = began + np.int64(np.rint((ingress + (rank + 1) * egress) / speed))
            t = leave if leave > earliest else earliest
            out.t = t
            r = target[j]
            out.sub = r
            out.flow = flow_base + local_index[r] if r >= 0 else -1
            out.res = nic
            if t < last:
                in_order = 0
            elif t < latest and in_order == IN_TIME_ORDER:
                in_order = IN_NIC_ORDER
            last = t
            latest = max(latest, t)
            rank += 1
            c += 1
        last_t[node] = last
    return in_order


@njit(cache=True)
def merge_in_time(copies, padding, out):  # type: ignore[no-untyped-def]
    """Merge two batches that are each in time order into `out` by time, `copies` first on
    equal times (the order a stable sort of the two, concatenated, gives)."""
    i = 0
    j = 0
    for k in range(len(out)):
        if j < len(padding) and (i >= len(copies) or padding[j].t < copies[i].t):
            out[k] = padding[j]
            j += 1
        else:
            out[k] = copies[i]
            i += 1


@njit(cache=True)
def drop_padding(batch):  # type: ignore[no-untyped-def]
    """Move the media packets (fseq >= 0) of a batch to its front, in order; returns how many."""
    kept = 0
    for i in range(len(batch)):
        if batch[i].fseq >= 0:
            if kept != i:
                batch[kept] = batch[i]
            kept += 1
    return kept


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
    counted apart for audio too. Targets below 0 (relay segments) are not receivers.

    Items are first counted per key; an entry whose window holds every capture time of
    the batch (all of them when `exact`) takes its key's counts at once, and only the
    others (a switch in progress) check their key's items one by one."""
    n_keys = len(indptr) - 1
    per_key = np.zeros((n_keys, 3), dtype=np.int64)
    first = np.zeros(n_keys + 1, dtype=np.int64)  # the items of each key, grouped
    earliest, latest = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    for i in range(len(keys)):
        k = keys[i]
        first[k + 1] += 1
        per_key[k, 0] += 1
        if marker[i]:
            per_key[k, 1] += 1
            if audio[i]:
                per_key[k, 2] += 1
        earliest = min(earliest, capture[i])
        latest = max(latest, capture[i])
    for k in range(n_keys):
        first[k + 1] += first[k]
    fill = first.copy()
    grouped = np.empty(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        grouped[fill[keys[i]]] = i
        fill[keys[i]] += 1
    for k in range(n_keys):
        if per_key[k, 0] == 0:
            continue
        for j in range(indptr[k], indptr[k + 1]):
            r = target[j]
            if r < 0:
                continue
            if exact or (start[j] <= earliest and latest < end[j]):
                packets[r] += per_key[k, 0]
                frames[r] += per_key[k, 1]
                audio_frames[r] += per_key[k, 2]
                continue
            for g in range(first[k], first[k + 1]):
                i = grouped[g]
                if start[j] <= capture[i] and capture[i] < end[j]:
                    packets[r] += 1
                    if marker[i]:
                        frames[r] += 1
                        if audio[i]:
                            audio_frames[r] += 1
