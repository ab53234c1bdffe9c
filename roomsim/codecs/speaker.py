"""Active-speaker detection from decoded audio levels, for the MCU's speaker layout.

An MCU knows who is talking from the audio it decodes: each 20 ms input frame gets a level
in dBov (as RFC 6464's audio-level extension carries it), levels are smoothed, and the
loudest participant becomes the speaker only after being louder than the current one by a
margin for a minimum time, so the big tile does not flicker between two people talking at
once. The clock is passed in (`now_s`), never read, so the detector runs unchanged inside
a simulation.
"""

from __future__ import annotations

import math

import numpy as np

#: level of digital silence in dBov (RFC 6464: 127 means -127 dBov, i.e. silence)
SILENCE_DBOV = -127.0


def level_dbov(pcm: np.ndarray) -> float:
    """RMS level of int16 samples in dBov (0 dBov = full-scale square wave)."""
    if pcm.size == 0:
        return SILENCE_DBOV
    flat = pcm.reshape(-1).astype(np.float32)
    rms = math.sqrt(float(np.dot(flat, flat)) / flat.size)  # one BLAS dot: cheap per frame
    if rms <= 0.0:
        return SILENCE_DBOV
    return max(SILENCE_DBOV, 20.0 * math.log10(rms / 32768.0))


class ActiveSpeakerDetector:
    """Smoothed-level speaker detection with a switching margin and a hold time.

    `time_constant_s` smooths levels (exponential average in dB), `switch_margin_db` is how
    much louder a challenger must be, and `hold_s` the minimum time a speaker keeps the
    floor before another can take it.
    """

    def __init__(self, time_constant_s: float = 0.3, switch_margin_db: float = 3.0,
                 hold_s: float = 0.5) -> None:
        self.time_constant_s = time_constant_s
        self.switch_margin_db = switch_margin_db
        self.hold_s = hold_s
        self._levels: dict[str, float] = {}
        self._last_update_s: float | None = None
        self._speaker: str | None = None
        self._since_s = 0.0

    def update(self, now_s: float, levels_dbov: dict[str, float]) -> None:
        """Feed one frame's level per participant, measured at `now_s`."""
        if self._last_update_s is None:
            weight = 1.0
        else:
            dt = max(0.0, now_s - self._last_update_s)
            weight = 1.0 - math.exp(-dt / self.time_constant_s)
        self._last_update_s = now_s
        for participant, level in levels_dbov.items():
            previous = self._levels.get(participant, level)
            self._levels[participant] = previous + weight * (level - previous)
        loudest = max(self._levels, key=lambda p: (self._levels[p], p))
        if self._speaker is None or self._speaker not in self._levels:
            self._speaker, self._since_s = loudest, now_s
            return
        if loudest == self._speaker:
            return
        louder_by = self._levels[loudest] - self._levels[self._speaker]
        if louder_by >= self.switch_margin_db and now_s - self._since_s >= self.hold_s:
            self._speaker, self._since_s = loudest, now_s

    @property
    def speaker(self) -> str | None:
        """The participant holding the floor (None before the first update)."""
        return self._speaker

    def ranking(self) -> list[str]:
        """Participants by smoothed level, loudest first (ties broken by id)."""
        return sorted(self._levels, key=lambda p: (-self._levels[p], p))

    def speaker_for(self, viewer: str) -> str | None:
        """Whom `viewer` should see large: the speaker, or the loudest other when the
        viewer is the one talking (nobody wants to watch themself)."""
        if self._speaker is not None and self._speaker != viewer:
            return self._speaker
        for participant in self.ranking():
            if participant != viewer:
                return participant
        return None
