"""Per-frame loop of the receivers' jitter buffers, compiled with numba (`play_frames`).

Fed in time order; state lives in arrays passed in (no clocks, no globals), in the style of
`kernels`. The transports that deliver the frames are `kernels_rtp` and `kernels_tcp`.

* `play_frames`: the receiver's jitter buffer. Audio follows NetEq's delay manager
  (libwebrtc modules/audio_coding/neteq): the delay of each packet relative to the fastest
  packet of the last 2 s is histogrammed in 20 ms buckets (the maximum of every 500 ms
  interval, forget factor 0.983, start weight 2), and the target delay is the bucket of
  the 0.95 quantile, 80 ms before the first estimate (delay_manager.h/.cc,
  underrun_optimizer.cc, histogram.cc, packet_arrival_history.cc). A frame plays at
  capture + fastest transit + target; an RTP frame that arrives after that is discarded
  (concealed), a TCP frame is played late (nothing was lost, the player catches up).
  Video plays in order as soon as it is decoded (a later frame waits for the frame it
  references).
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit
from roomsim.sim.kernels import (
    latency_bin,
)
from roomsim.sim.kernels_rtp import _INF
from roomsim.sim.kernels_stages import _stage_into

#: NetEq delay manager constants (libwebrtc, see module docstring).
NETEQ_BUCKETS = 100
NETEQ_BUCKET_NS = 20_000_000
NETEQ_START_DELAY_NS = 80_000_000
NETEQ_RESAMPLE_NS = 500_000_000
NETEQ_HISTORY_NS = 2_000_000_000
NETEQ_BLOCK_NS = 500_000_000
NETEQ_HISTORY_BLOCKS = NETEQ_HISTORY_NS // NETEQ_BLOCK_NS + 1
NETEQ_FORGET = 0.983
NETEQ_START_FORGET_WEIGHT = 2.0
NETEQ_QUANTILE = 0.95

@njit(cache=True)
def _neteq_add(hist, b, bucket, adds, forget):  # type: ignore[no-untyped-def]
    """NetEq Histogram::Add: forget, add, and move the forget factor toward its base."""
    ff = forget[b]
    for k in range(hist.shape[1]):
        hist[b, k] *= ff
    hist[b, bucket] += 1.0 - ff
    adds[b] += 1
    ramp = 1.0 - NETEQ_START_FORGET_WEIGHT / (adds[b] + 1)
    forget[b] = min(NETEQ_FORGET, max(0.0, ramp))


@njit(cache=True)
def _neteq_quantile(hist, b):  # type: ignore[no-untyped-def]
    """NetEq Histogram::Quantile: the first bucket whose tail probability is <= 1 - q."""
    tail = 1.0 - hist[b, 0]
    index = 0
    while tail > 1.0 - NETEQ_QUANTILE and index < hist.shape[1] - 1:
        index += 1
        tail -= hist[b, index]
    return index


@njit(cache=True)
def play_frames(batch, arrival, done, stream_audio, stream_kind, jb_of_flow, discard_late, hist, forget, adds,
                iv_start, iv_max, target, min_target, max_target, blk_start, blk_min, blk_head, video_last,
                audio_played, audio_late, video_played, record, first, end, stage_hist, stage_sums, stage_counts,
                cells, kinds, lower, first_bin, playout):  # type: ignore[no-untyped-def]
    """Play out the frames that packets completed (`done` >= 0: decode completion; `batch`:
    PACKET rows, read as records, in time order per receiver; `arrival`: when each frame
    was complete) and record them, in one pass over the batch.

    `playout` gets each frame's playout time, -1 when a late RTP audio frame is discarded
    (and for packets that complete no frame). Audio frames played and discarded and video
    frames played are counted per receiver. With `record`, a played frame captured in
    [first, end) goes into the stage breakdown (`stage_*`, stages as
    `breakdown.stage_durations`) and the latency histogram (`cells` [receiver, kind, bin]
    flattened, bins as `kernels.latency_bin`). One pass, with no copies of the decoded
    frames between playout and recording: at ~500k frames a second (a webinar) those
    copies cost more than the work.

    The fastest transit of the last 2 s (NetEq's PacketArrivalHistory) is kept as minima of
    500 ms blocks of media time: the current block and the four before it, so the window
    spans 2-2.5 s (a memory-saving approximation: 5 numbers a buffer, not one per packet).
    """
    blocks = blk_min.shape[1]
    bins = len(lower) - 1
    for i in range(len(batch)):
        row = batch[i]
        playout[i] = -1
        if done[i] < 0:
            continue
        r = row.sub
        f = row.flow
        s = row.stream
        b = jb_of_flow[f]
        c = row.capture
        if not stream_audio[s]:
            video_played[r] += 1
        if not stream_audio[s] or b < 0:
            p = done[i] if done[i] > video_last[f] else video_last[f]
            video_last[f] = p
            playout[i] = p
        else:
            a = arrival[i]
            transit = a - c
            if blk_start[b] < 0 or c >= blk_start[b] + blocks * NETEQ_BLOCK_NS:
                blk_start[b] = c if blk_start[b] < 0 else c - (c - blk_start[b]) % NETEQ_BLOCK_NS
                for k in range(blocks):
                    blk_min[b, k] = _INF
            while c >= blk_start[b] + NETEQ_BLOCK_NS:
                blk_head[b] = (blk_head[b] + 1) % blocks
                blk_min[b, blk_head[b]] = _INF
                blk_start[b] += NETEQ_BLOCK_NS
            if transit < blk_min[b, blk_head[b]]:
                blk_min[b, blk_head[b]] = transit
            fastest = blk_min[b, 0]
            for k in range(1, blocks):
                if blk_min[b, k] < fastest:
                    fastest = blk_min[b, k]
            relative = transit - fastest
            deadline = c + fastest + target[b]
            if a > deadline and discard_late[r]:
                late = True
                audio_late[r] += 1
            else:
                late = False
                playout[i] = deadline if deadline > done[i] else done[i]
                audio_played[r] += 1
            # NetEq UnderrunOptimizer::Update with a 500 ms resample interval
            if iv_start[b] < 0:
                iv_start[b] = a
            elif a - iv_start[b] > NETEQ_RESAMPLE_NS:
                bucket = iv_max[b] // NETEQ_BUCKET_NS
                if bucket < NETEQ_BUCKETS:  # NetEq registers delays up to 2,000 ms only
                    _neteq_add(hist, b, bucket, adds, forget)
                t = (1 + _neteq_quantile(hist, b)) * NETEQ_BUCKET_NS
                target[b] = min(max(t, min_target[b]), max_target[b])
                iv_start[b] = a
                iv_max[b] = 0
            if relative > iv_max[b]:
                iv_max[b] = relative
            if late:
                continue
        if not record or c < first or c >= end:
            continue
        k = stream_kind[s]
        stage_counts[r, k] += 1
        enc = np.int64(row.enc_us) * 1000
        up = np.int64(row.up_us) * 1000
        out = np.int64(row.out_us) * 1000
        _stage_into(stage_hist, stage_sums, r, k, 0, enc)
        _stage_into(stage_hist, stage_sums, r, k, 1, up - enc)
        _stage_into(stage_hist, stage_sums, r, k, 2, out - up)
        _stage_into(stage_hist, stage_sums, r, k, 3, arrival[i] - c - out)
        _stage_into(stage_hist, stage_sums, r, k, 4, playout[i] - done[i])
        _stage_into(stage_hist, stage_sums, r, k, 5, done[i] - arrival[i])
        cells[(r * kinds + k) * bins + latency_bin(playout[i] - c, lower, first_bin)] += 1
