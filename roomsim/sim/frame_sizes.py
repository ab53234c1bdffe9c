"""Encoded video frame sizes: keyframes and rate-controlled delta frames.

Real encoders do not emit equal frames. A keyframe (intra frame) is several times a delta
frame: libwebrtc caps it at max(3, 0.3 x fps) mean frames for VP8
(LibvpxVp8Encoder::MaxIntraTarget, 600 ms optimal buffer), and camera keyframes reach the
cap. Keyframes come at a stream's first frame, on every keyframe request (a PLI, an SFU
layer switch) and every `keyFrameInterval` frames (3000 in libwebrtc's default VP8/VP9/H.264
settings). Delta frames scatter around their target, and the rate controller pays back
what was overshot: libvpx's buffer model lowers the next targets while the buffer is over
its optimal level (`rc_buf_optimal_sz` = 600 ms as libwebrtc sets it). Here each delta
frame's target is the mean frame minus 1/R of the bytes sent above the mean so far
(R = frames in the payback window, at most 90 % of the mean cut), and the frame is that
target times a uniform factor of mean 1 and standard deviation `delta_spread`. The debt is
bounded, so the long-run rate is the bitrate (tests/test_wire.py measures it).

Draws are counter based (SplitMix64 of the stream's key and the frame number, as the links
draw per packet): the same scenario and seed give the same sizes whatever the tick.
Audio keeps constant frames (Opus at a fixed bitrate: a model choice).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from roomsim.sim.jit import njit
from roomsim.sim.kernels import _uniform
from roomsim.sim.rng import stream_keys


class FrameOptions(Protocol):
    """The frame-size settings read here: the scenario's `wire.frames` block
    (roomsim.scenario.transport.FrameOptions) is one; sim/ names what it reads instead of
    importing the scenario."""

    @property
    def model(self) -> str: ...
    @property
    def keyframe_interval_frames(self) -> int: ...
    @property
    def keyframe_factor(self) -> float | None: ...
    @property
    def payback_ms(self) -> float: ...
    @property
    def delta_spread(self) -> float: ...

#: A stream that has sent no keyframe yet.
NEVER = np.int64(-(1 << 62))
NONE = np.int64(1 << 62)
#: A delta frame's target never falls below this share of the mean frame.
MIN_TARGET_SHARE = 0.1


@njit(cache=True)
def size_frames(frames, sized, mean, key_factor, interval, payback, spread, key, debt, carry, last_key,
                key_request, is_key):  # type: ignore[no-untyped-def]
    """Size the `sized` streams' frames (FRAME records, each stream's in frame order) in
    place; mark keyframes in `is_key` (never on a stream whose `interval` is 0). State per
    stream: `debt` (bytes above the mean not
    yet paid back), `carry` (fraction of a byte not yet sent, so integer sizes add up
    exactly), `last_key` (frame number of the last keyframe), `key_request` (a frame number
    asked to be a keyframe)."""
    half_width = spread * np.sqrt(3.0)
    for i in range(len(frames)):
        f = frames[i]
        s = f.stream
        if not sized[s]:
            continue
        k = f.fseq
        m = mean[s]
        if interval[s] > 0 and (last_key[s] == NEVER or k - last_key[s] >= interval[s] or k >= key_request[s]):
            size = key_factor[s] * m
            last_key[s] = k
            key_request[s] = NONE
            is_key[i] = True
        else:
            target = m - debt[s] / payback[s]
            if target < MIN_TARGET_SHARE * m:
                target = MIN_TARGET_SHARE * m
            size = target * (1.0 + half_width * (2.0 * _uniform(key[s], k) - 1.0))
        debt[s] += size - m
        exact = size + carry[s]
        whole = np.floor(exact)
        if whole < 1.0:
            whole = 1.0
        carry[s] = exact - whole
        f.payload = np.int64(whole)


class FrameSizes:
    """Per-stream frame-size state of one run (`frames: vbr`), or nothing (`constant`)."""

    def __init__(self, options: FrameOptions, seed: int, names: list[str], video: npt.NDArray[np.bool_],
                 mean_bytes: npt.NDArray[np.float64], period_ns: npt.NDArray[np.float64],
                 never_key: npt.NDArray[np.bool_]) -> None:
        """`never_key`: streams that never carry a keyframe (SVC temporal increments: the
        keyframe is in their track's base temporal layer)."""
        self.vbr = options.model == "vbr"
        m = len(names)
        fps = 1e9 / period_ns
        self.sized = video & self.vbr
        self.mean = mean_bytes.astype(np.float64)
        self.key_factor = np.array([options.keyframe_factor or max(3.0, 0.3 * f) for f in fps], dtype=np.float64)
        self.interval = np.where(never_key, 0, options.keyframe_interval_frames).astype(np.int64)
        self.payback = np.maximum(1.0, options.payback_ms / 1e3 * fps)
        self.spread = options.delta_spread
        self.key = stream_keys(seed, [f"frames:{name}" for name in names])
        self.debt = np.zeros(m, dtype=np.float64)
        self.carry = np.zeros(m, dtype=np.float64)
        self.last_key = np.full(m, NEVER, dtype=np.int64)
        self.key_request = np.full(m, NONE, dtype=np.int64)
        self.keyframes = np.zeros(m, dtype=np.int64)

    def request_keyframe(self, s: int, fseq: int) -> None:
        """Make frame `fseq` of stream s a keyframe (a PLI reached its encoder)."""
        if fseq > self.last_key[s]:
            self.key_request[s] = min(int(self.key_request[s]), fseq)

    def size(self, frames: npt.NDArray[np.void]) -> npt.NDArray[np.bool_]:
        """Size freshly captured frames in place; returns which are keyframes."""
        is_key = np.zeros(len(frames), dtype=bool)
        if self.vbr and len(frames):
            size_frames(frames, self.sized, self.mean, self.key_factor, self.interval, self.payback, self.spread,
                        self.key, self.debt, self.carry, self.last_key, self.key_request, is_key)
            if is_key.any():
                np.add.at(self.keyframes, frames["stream"][is_key], 1)
        return is_key

