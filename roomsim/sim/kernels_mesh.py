"""The P2P mesh's per-tick send path, compiled: frame copies per peer connection and their
packetization.

A browser in a mesh encodes each captured frame once per peer connection
(roomsim.topologies.peer_connections), so a tick's few captured frames become one copy per
(frame, receiver) and then RTP packets per copy. Done as numpy steps (expand, rotate,
gather, scale, split, fill a dozen fields, count per receiver) that is some forty calls a
tick on a few hundred items; here it is two passes that write each copy and each packet
once. The arithmetic is the numpy steps', field for field (see the docstrings), so results
are byte-identical.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def peer_frame_copies(frames, indptr, receivers, salt, rotating, stream_pub, block, local_index, is_video, ratio,
                      scale, slot, copies, conn, work):  # type: ignore[no-untyped-def]
    """Each captured frame (FRAME rows) copied once per receiver of its stream into `copies`
    (sized by the caller to the total), `sub` set. Receivers of stream s are
    receivers[indptr[s]:indptr[s + 1]]; with `rotating` the copies of frame k of stream s
    start at the receiver of rank (copies - (k + salt[s]) mod copies): copy j has rank
    (j - k - salt[s]) mod copies, the order of sorting on (rank + k + salt) mod copies
    (roomsim.topologies.mesh copy_order). Each copy is then sized for its connection's
    encoder: its row block[sub] + local_index[publisher] in `conn`, a video payload
    scaled to max(1, rint(payload x ratio[row])), and the encode work over the full-size
    frame's in `work` (scale[row, slot[s]] for video, 1 for audio)."""
    k = 0
    for i in range(len(frames)):
        f = frames[i]
        s = f.stream
        lo = indptr[s]
        count = indptr[s + 1] - lo
        shift = (f.fseq + salt[s]) % count if rotating and count > 0 else 0
        for j in range(count):
            rank = (j + count - shift) % count
            sub = receivers[lo + rank]
            r = block[sub] + local_index[stream_pub[s]]
            c = copies[k]
            c.t = f.t
            c.stream = s
            c.fseq = f.fseq
            c.sub = sub
            c.capture = f.capture
            conn[k] = r
            if is_video[s]:
                c.payload = max(np.int64(np.rint(f.payload * ratio[r])), 1)
                work[k] = scale[r, slot[s]]
            else:
                c.payload = f.payload
                work[k] = 1.0
            k += 1


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
