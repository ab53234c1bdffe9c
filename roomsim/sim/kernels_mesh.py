"""The P2P mesh's per-tick send path, compiled: frame copies per peer connection, their
encodes, their packetization, and the connections' encoder targets.

A browser in a mesh encodes each captured frame once per peer connection
(roomsim.topologies.peer_connections), so a tick's few captured frames become one copy per
(frame, receiver) and then RTP packets per copy. Done as numpy steps (expand, rotate,
gather, scale, cost, settle the encodes, split, fill a dozen fields, count per receiver)
that was some fifty calls a tick on a few hundred items; here each copy and each packet
is written once, in three passes around the CPU pools' own kernel. The arithmetic is the
numpy steps', field for field and in the same order of float additions (see the
docstrings; tests/test_kernels_mesh.py holds them to it), so results are byte-identical.
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit


@njit(cache=True)
def peer_frame_copies(frames, indptr, receivers, salt, rotating, stream_pub, block, local_index, is_video, ratio,
                      scale, slot, encode_ns, encoder, client_speed, copies, conn, pool, work_ns):  # type: ignore[no-untyped-def]
    """Each captured frame (FRAME rows) copied once per receiver of its stream into `copies`
    (sized by the caller to the total), `sub` set. Receivers of stream s are
    receivers[indptr[s]:indptr[s + 1]]; with `rotating` the copies of frame k of stream s
    start at the receiver of rank (copies - (k + salt[s]) mod copies): copy j has rank
    (j - k - salt[s]) mod copies, the order of sorting on (rank + k + salt) mod copies
    (roomsim.topologies.mesh copy_order). Each copy is then sized for its connection's
    encoder: its row block[sub] + local_index[publisher] in `conn`, a video payload
    scaled to max(1, rint(payload x ratio[row])); and its encode job as
    Topology.encode makes it: the publisher's encoder `pool`, and `work_ns` =
    rint(encode_ns[s] x share / client_speed[publisher]), the share being
    scale[row, slot[s]] for video (the pixels it sends) and 1 for audio."""
    k = 0
    for i in range(len(frames)):
        f = frames[i]
        s = f.stream
        pub = stream_pub[s]
        lo = indptr[s]
        count = indptr[s + 1] - lo
        shift = (f.fseq + salt[s]) % count if rotating and count > 0 else 0
        for j in range(count):
            rank = (j + count - shift) % count
            sub = receivers[lo + rank]
            r = block[sub] + local_index[pub]
            c = copies[k]
            c.t = f.t
            c.stream = s
            c.fseq = f.fseq
            c.sub = sub
            c.capture = f.capture
            conn[k] = r
            pool[k] = encoder[pub]
            if is_video[s]:
                c.payload = max(np.int64(np.rint(f.payload * ratio[r])), 1)
                share = scale[r, slot[s]]
            else:
                c.payload = f.payload
                share = 1.0
            work_ns[k] = np.int64(np.rint(encode_ns[s] * share / client_speed[pub]))
            k += 1


@njit(cache=True)
def settle_encodes(copies, conn, done, accepted, stream_pub, dropped_cpu, is_video, period_ns, observe, busy_ns,
                   frames_seen, row_period_ns):  # type: ignore[no-untyped-def]
    """After the encoders served the copies: the accepted ones keep their order, packed at
    the front of `copies` with `t` = encode done (returns how many); a refused one counts
    in its publisher's `dropped_cpu`. With `observe`, each connection's video encoder
    usage goes into roomsim.codecs.adaptation.CpuOveruse's sums (`busy_ns`, `frames_seen`,
    `row_period_ns`): first the encoded frames' capture-to-encoded times, each row's summed
    in frame order before it is added, then likewise a whole frame interval for each
    refused frame."""
    rows = len(busy_ns)
    spent = np.zeros(rows)
    seen = np.zeros(rows, dtype=np.int64)
    refused_row = np.empty(len(copies), dtype=np.int64)
    refused_period = np.empty(len(copies))
    q = 0
    m = 0
    for i in range(len(copies)):
        f = copies[i]
        s = f.stream
        if not accepted[i]:
            dropped_cpu[stream_pub[s]] += 1
            if observe and is_video[s]:
                refused_row[q] = conn[i]
                refused_period[q] = period_ns[s]
                q += 1
            continue
        if observe and is_video[s]:
            r = conn[i]
            spent[r] += np.float64(done[i] - f.capture)
            seen[r] += 1
            row_period_ns[r] = period_ns[s]
        g = copies[m]
        g.t = done[i]
        g.stream = s
        g.fseq = f.fseq
        g.payload = f.payload
        g.sub = f.sub
        g.capture = f.capture
        m += 1
    if not observe:
        return m
    for r in range(rows):
        busy_ns[r] += spent[r]
        frames_seen[r] += seen[r]
    if q == 0:
        return m
    spent[:] = 0.0
    seen[:] = 0
    for j in range(q):
        r = refused_row[j]
        spent[r] += refused_period[j]
        seen[r] += 1
        row_period_ns[r] = refused_period[j]
    for r in range(rows):
        busy_ns[r] += spent[r]
        frames_seen[r] += seen[r]
    return m


@njit(cache=True)
def packetize_copies(frames, order, mtu_payload, header_bytes, trailer, flow_base, local_index, uplink, stream_pub,
                     audio, sent_packets, sent_frames, sent_audio_frames, out):  # type: ignore[no-untyped-def]
    """RTP packets (PACKET rows) of encoded frame copies (FRAME rows, `sub` set) taken in
    `order`, into `out`; returns how many, or minus the number needed when `out` is too
    small (then nothing is written). As roomsim.topologies.base.Topology.packetize: a
    frame's ceil(payload / MTU) packets (at least one) split its payload about equally
    (the first payload mod count one byte larger), all at the frame's `t`; the last is the
    marker and carries the stream's trailer; the latency stamps are (t - capture) // 1000
    us. Then addressed as the mesh addresses a copy: its downstream flow (flow_base[stream]
    + local_index[sub]) and its publisher's uplink; and counted per receiver as
    Topology.count_addressed counts (packets, frames, audio frames)."""
    needed = 0
    for i in range(len(order)):
        f = frames[order[i]]
        needed += max(1, -(-f.payload // mtu_payload[f.stream]))
    if needed > len(out):
        return -needed
    k = 0
    for i in range(len(order)):
        f = frames[order[i]]
        s = f.stream
        sub = f.sub
        count = max(1, -(-f.payload // mtu_payload[s]))
        base = f.payload // count
        remainder = f.payload - base * count
        since = (f.t - f.capture) // 1000
        flow = flow_base[s] + local_index[sub]
        res = uplink[stream_pub[s]]
        for position in range(count):
            p = out[k]
            payload = base + (1 if position < remainder else 0)
            marker = position == count - 1
            p.t = f.t
            p.capture = f.capture
            p.res = res
            p.flow = flow
            p.stream = s
            p.sub = sub
            p.fseq = f.fseq
            p.size = payload + header_bytes[s] + (trailer[s] if marker else 0)
            p.payload = payload
            p.marker = marker
            p.damaged = False
            p.enc_us = since
            p.up_us = since
            p.out_us = since
            k += 1
        sent_packets[sub] += count
        sent_frames[sub] += 1
        if audio[s]:
            sent_audio_frames[sub] += 1
    return k


@njit(cache=True)
def connection_targets(rows, estimate, row_pub, audio_bps, video_bps, min_video_bps, video_target, ratio, steps,
                       scaled_ratio, scaled_steps, stale):  # type: ignore[no-untyped-def]
    """Encoder targets of peer connections `rows` from their estimates, by the rule of
    roomsim.codecs.adaptation.video_rate (audio keeps its rate; video takes the rest,
    within [min_video_bps, its configured rate], 0 without video), with the same float
    operations: `video_target`, and `ratio` = video / configured (1 without video). Writes
    into `stale` the rows whose ratio or CPU `steps` differ from those their pixel scale
    was last computed from, and returns how many."""
    n = 0
    for i in range(len(rows)):
        r = rows[i]
        p = row_pub[r]
        ceiling = video_bps[p]
        video = estimate[r] - audio_bps[p]
        if ceiling > 0:
            if video == video:  # a NaN stays one, as through np.clip and np.minimum
                video = min(max(video, min_video_bps), max(ceiling, min_video_bps), ceiling)
        else:
            video = 0.0
        video_target[r] = video
        ratio[r] = video / max(ceiling, 1.0) if ceiling > 0 else 1.0
        if ratio[r] != scaled_ratio[r] or steps[r] != scaled_steps[r]:
            stale[n] = r
            n += 1
    return n
