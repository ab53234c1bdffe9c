"""How a WebRTC video encoder follows its congestion controller's target.

Used by every sender that adapts (a mesh peer connection, an MCU's per-participant
output): audio keeps its bitrate and video takes the rest of the target within
[30 kbps (kDefaultMinVideoBitrateBps, media/engine/webrtc_video_engine.cc), its
configured bitrate] (call/bitrate_allocator.cc: each observer's minimum first, then up to
its maximum). The resolution follows the video bitrate as libwebrtc's defaults for
singlecast VP8 allow: the largest of 180p/270p/360p/540p/720p (not above the source)
whose minimum start bitrate the rate reaches (0/200/300/500/900 kbps, EncoderInfoSettings::
GetDefaultSinglecastBitrateLimits, rtc_base/experiments/encoder_info_settings.cc); the
frame rate is kept (a camera track's default degradation preference is maintain-framerate).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.codecs.costs import RESOLUTIONS

FloatArray = npt.NDArray[np.float64]

MIN_VIDEO_BPS = 30_000.0
#: (pixels, minimum start bitrate) of libwebrtc's default singlecast VP8 limits
RESOLUTION_LADDER = ((320 * 180, 0.0), (480 * 270, 200_000.0), (640 * 360, 300_000.0),
                     (960 * 540, 500_000.0), (1280 * 720, 900_000.0))


def video_rate(target_bps: FloatArray, audio_bps: FloatArray, video_bps: FloatArray) -> FloatArray:
    """Video bitrate out of a sender's target: the rest after audio, within [30 kbps,
    the configured video bitrate]; 0 where no video is configured."""
    video = np.clip(target_bps - audio_bps, MIN_VIDEO_BPS, np.maximum(video_bps, MIN_VIDEO_BPS))
    return np.where(video_bps > 0, np.minimum(video, video_bps), 0.0)


def ladder_pixels(rate_bps: FloatArray, source_pixels: FloatArray | float) -> FloatArray:
    """Pixels an encoder sends at a video bitrate: the largest rung of libwebrtc's default
    ladder the rate may start at, never above the source (a source above 720p is kept from
    the 720p rung's bitrate on)."""
    source = np.asarray(source_pixels, dtype=np.float64)
    out = np.broadcast_to(np.minimum(float(RESOLUTION_LADDER[0][0]), source), np.shape(rate_bps)).astype(np.float64)
    for pixels, min_start in RESOLUTION_LADDER[1:]:
        out = np.where(rate_bps >= min_start, np.minimum(float(pixels), source), out)
    top_pixels, top_start = RESOLUTION_LADDER[-1]
    return np.where((source > top_pixels) & (rate_bps >= top_start), source, out)


def resolution_pixels(resolution: str | None) -> float:
    """Pixels of a named resolution (0 for none)."""
    width, height = RESOLUTIONS.get(resolution or "", (0, 0))
    return float(width * height)


#: libwebrtc's CPU-overuse detection (video/adaptation/overuse_frame_detector.cc,
#: CpuOveruseOptions): encode usage = time from capture to encoded over the frame
#: interval, checked every kCheckForOveruseIntervalMs = 5 s; overuse at >= 85 %
#: (high_encode_usage_threshold_percent) on 2 consecutive checks
#: (high_threshold_consecutive_count), underuse below (85 - 1) / 2 = 42 % once
#: kStandardRampUpDelayMs = 40 s have passed since the last adaptation down. Each step
#: down takes 3/5 of the pixels (VideoStreamAdapter GetLowerResolutionThan), a step up
#: undoes one (maintain-framerate: resolution moves, the frame rate stays).
OVERUSE_CHECK_NS = 5_000_000_000
HIGH_USAGE, LOW_USAGE = 0.85, 0.42
OVERUSE_CHECKS = 2
RAMPUP_DELAY_NS = 40_000_000_000
STEP_DOWN = 3 / 5


class CpuOveruse:
    """Encode usage and CPU adaptation steps of a set of encoders (one per row). Their
    senders add each encoded frame's capture-to-encoded time to `busy_ns` and one to
    `frames`, and set `period_ns` to its frame interval (a frame the encoder could not take
    counts as a whole interval of work: it was overused); the mesh's per-peer encoders do
    it in roomsim.sim.kernels_mesh.settle_encodes."""

    def __init__(self, rows: int) -> None:
        self.steps = np.zeros(rows, dtype=np.int64)  # resolution steps down for CPU
        self.busy_ns = np.zeros(rows)  # capture-to-encoded time summed since the last check
        self.frames = np.zeros(rows)
        self.period_ns = np.zeros(rows)
        self.above = np.zeros(rows, dtype=np.int64)
        self.last_down = np.full(rows, -RAMPUP_DELAY_NS, dtype=np.int64)
        self.adaptations = np.zeros(rows, dtype=np.int64)
        self.next_check = OVERUSE_CHECK_NS

    def check(self, now: int) -> bool:
        """At each check instant: step down overused encoders, up underused ones after the
        ramp-up delay. Returns whether any encoder changed."""
        if now < self.next_check:
            return False
        self.next_check = now + OVERUSE_CHECK_NS
        seen = self.frames > 0
        usage = np.where(seen, self.busy_ns / np.maximum(self.frames, 1) / np.maximum(self.period_ns, 1), 0.0)
        self.above = np.where(seen & (usage >= HIGH_USAGE), self.above + 1, 0)
        down = self.above >= OVERUSE_CHECKS
        up = seen & ~down & (usage < LOW_USAGE) & (self.steps > 0) & (now - self.last_down >= RAMPUP_DELAY_NS)
        self.steps[down] += 1
        self.steps[up] -= 1
        self.last_down[down] = now
        self.above[down] = 0
        self.adaptations += down
        self.busy_ns[:] = 0
        self.frames[:] = 0
        return bool(down.any() or up.any())

    def pixel_cap(self, rows: npt.NDArray[np.int64], source_pixels: FloatArray) -> FloatArray:
        """The largest frame each encoder may send after its CPU steps."""
        return source_pixels * STEP_DOWN ** self.steps[rows]
