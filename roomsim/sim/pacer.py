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
from numba import njit

#: PacingController::kDefaultPaceMultiplier
PACE_MULTIPLIER = 2.5


@njit(cache=True)
def pace(t, size, row, rate_bps, urgent, next_free):  # type: ignore[no-untyped-def]
    """Release times of packets (in ready order per row) through their row's pacer:
    release = max(ready, when the pacer is free), or ready for `urgent` (audio) packets,
    and the pacer is then busy for size / rate more. `next_free[row]` is carried between
    calls. Returns the release times."""
    out = np.empty(len(t), dtype=np.int64)
    for i in range(len(t)):
        r = row[i]
        free = next_free[r]
        start = t[i] if (t[i] > free or urgent[i]) else free
        out[i] = start
        busy = np.int64(size[i] * 8e9 / rate_bps[r])
        next_free[r] = (start if start > free else free) + busy
    return out
