"""Active-speaker detection on a media node, and the recency order layouts follow.

Every audio packet carries its level (RFC 6464 ssrc-audio-level); the node turns levels into
a speaker list every `update_ms`, as LiveKit does (pkg/sfu/audio/audiolevel.go): within a
window, the time a participant was louder than `active_level_dbov` must reach
`min_percentile` of the window; its level is then the loudest level observed, lowered by
20 log10(active share) (so half-active reads 6 dB quieter), converted to linear and
smoothed over `smooth_intervals` windows (EMA, factor 2 / (n + 1)); a window below the
minimum resets the level to 0. A participant is active when the smoothed level is above
the active threshold.

The simulation knows which frames were captured during speech (`World.speaking`), so the
node's observation per window is the speech time of each publisher; speech frames carry
`speech_level_dbov`. Layouts and last-N follow each room's recency order: whenever
participants are active, they move to the front, loudest first (Jitsi's last-N and
LiveKit's speaker ordering both put the most recent speakers first).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.scenario.topology import SpeakerOptions


class SpeakerDetector:
    """Windowed, smoothed audio levels of every participant (the clock is passed in)."""

    def __init__(self, n: int, options: SpeakerOptions) -> None:
        self.options = options
        self.window_ns = round(options.update_ms * 1e6)
        self.smoothed = np.zeros(n)
        self.speech_ns = np.zeros(n, dtype=np.int64)
        self.threshold = 10 ** (-options.active_level_dbov / 20)
        k = options.smooth_intervals
        self.factor = 2.0 / (k + 1) if k > 0 else 1.0
        self.next_update_ns = self.window_ns

    def observe(self, speaker: npt.NDArray[np.int64], frame_ns: npt.NDArray[np.float64]) -> None:
        """Audio frames captured during speech: their publishers and durations."""
        np.add.at(self.speech_ns, speaker, np.rint(frame_ns).astype(np.int64))

    def due(self, now_ns: int) -> bool:
        """Whether a window ends at or before `now`."""
        return now_ns >= self.next_update_ns

    def update(self, now_ns: int) -> npt.NDArray[np.float64]:
        """Close the window ending at `now`; returns the smoothed levels (0 = silent)."""
        o = self.options
        active_share = np.minimum(self.speech_ns / self.window_ns, 1.0)
        enough = active_share * 100 >= o.min_percentile
        weight = 20 * np.log10(np.maximum(active_share, 1e-9))
        linear = 10 ** (-(o.speech_level_dbov - weight) / 20)
        above = self.speech_level_active()
        self.smoothed = np.where(
            enough & above, self.smoothed + (linear - self.smoothed) * self.factor, 0.0
        )
        self.speech_ns[:] = 0
        self.next_update_ns = now_ns + self.window_ns
        return self.smoothed

    def speech_level_active(self) -> bool:
        """Speech frames count as loud only if their level passes the active level."""
        return self.options.speech_level_dbov <= self.options.active_level_dbov

    def active(self) -> npt.NDArray[np.bool_]:
        """Who is an active speaker now."""
        return self.smoothed >= self.threshold


class Recency:
    """Per room, participants ordered by how recently they were an active speaker."""

    def __init__(self, room_members: list[list[int]]) -> None:
        self.order = [list(m) for m in room_members]
        self.changes = np.zeros(len(room_members), dtype=np.int64)

    def promote(self, levels: npt.NDArray[np.float64], active: npt.NDArray[np.bool_]) -> list[int]:
        """Move active speakers to the front of their room, loudest first; returns the rooms
        whose order changed."""
        changed = []
        for r, order in enumerate(self.order):
            speakers = sorted((p for p in order if active[p]), key=lambda p: (-levels[p], p))
            if not speakers:
                continue
            new = speakers + [p for p in order if not active[p]]
            if new != order:
                self.order[r] = new
                self.changes[r] += 1
                changed.append(r)
        return changed

    def rank(self, n: int) -> npt.NDArray[np.int64]:
        """Position of every participant in its room's order (0 = most recent speaker)."""
        rank = np.zeros(n, dtype=np.int64)
        for order in self.order:
            rank[order] = np.arange(len(order))
        return rank
