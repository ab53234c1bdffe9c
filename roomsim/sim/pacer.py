"""A sender's pacer: packets leave at a paced rate instead of as one burst per frame.

libwebrtc sends every RTP packet through a pacer (modules/pacing/pacing_controller.cc)
draining its queue at the pacing rate, kDefaultPaceMultiplier = 2.5 x the congestion
controller's target (goog_cc_network_control.cc), so a frame's packets are spread over
~1 / (2.5 fps) instead of hitting the access link's queue at once. One pacer per peer
connection (a browser runs one per RTCPeerConnection). A keyframe or any other burst is
carried the same way: it just keeps the pacer busy longer (libwebrtc raises the rate when
the queue would take over kMaxExpectedQueueLength = 2 s to drain, which the encoder
following the estimate avoids here).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: PacingController::kDefaultPaceMultiplier
PACE_MULTIPLIER = 2.5


@njit(cache=True)
def pace(t, size, row, rate_bps, next_free):  # type: ignore[no-untyped-def]
    """Release times of packets (in ready order per row) through their row's pacer:
    release = max(ready, when the pacer is free), and the pacer is then busy for
    size / rate. `next_free[row]` is carried between calls. Returns the release times."""
    out = np.empty(len(t), dtype=np.int64)
    for i in range(len(t)):
        r = row[i]
        start = t[i] if t[i] > next_free[r] else next_free[r]
        out[i] = start
        next_free[r] = start + np.int64(size[i] * 8e9 / rate_bps[r])
    return out
