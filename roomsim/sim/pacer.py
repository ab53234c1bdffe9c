"""A sender's pacer: packets leave at a paced rate instead of as one burst per frame.

libwebrtc sends every RTP packet through a pacer (modules/pacing/pacing_controller.cc)
draining its queue at the pacing rate, kDefaultPaceMultiplier = 2.5 x the congestion
controller's target (goog_cc_network_control.cc), so a frame's packets are spread over
~1 / (2.5 fps) instead of hitting the access link's queue at once. One pacer per peer
connection (a browser runs one per RTCPeerConnection). A keyframe or any other burst is
carried the same way: it just keeps the pacer busy longer (libwebrtc raises the rate when
the queue would take over kMaxExpectedQueueLength = 2 s to drain, which the encoder
following the estimate avoids here). Audio is not held: libwebrtc's pacer sends audio
first and, unless the WebRTC-Pacer-BlockAudio trial is on, regardless of the budget
(PacingController: audio has the top priority, `pace_audio_` is off by default); its
bytes still count against the budget.
"""

from __future__ import annotations

import numpy as np

from roomsim.sim.jit import njit

#: PacingController::kDefaultPaceMultiplier
PACE_MULTIPLIER = 2.5


@njit(cache=True)
def pace(packets, block, col, audio, estimate, next_free):  # type: ignore[no-untyped-def]
    """Release PACKET rows (in ready order per connection) through their connection's
    pacer, in place: a packet's connection row is block[sub] + col[stream], its pacer
    drains at PACE_MULTIPLIER x the row's estimate (at least 1 bps); release = max(ready,
    when the pacer is free), or ready for `audio[stream]` packets, and the pacer is then
    busy for size / rate more. `t` and `enc_us` become the release (the send time the
    feedback reports); `next_free[row]` is carried between calls."""
    for i in range(len(packets)):
        p = packets[i]
        r = block[p.sub] + col[p.stream]
        estimate_bps = estimate[r]
        rate = PACE_MULTIPLIER * (estimate_bps if (estimate_bps >= 1.0 or estimate_bps != estimate_bps) else 1.0)
        free = next_free[r]
        ready = p.t
        start = ready if (ready > free or audio[p.stream]) else free
        busy = np.int64(p.size * 8e9 / rate)
        next_free[r] = (start if start > free else free) + busy
        p.t = start
        p.enc_us = (start - p.capture) // 1000
