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


def ladder_pixels(rate_bps: FloatArray, source_pixels: float) -> FloatArray:
    """Pixels an encoder sends at a video bitrate: the largest rung of libwebrtc's default
    ladder the rate may start at, never above the source (a source above 720p is kept from
    the 720p rung's bitrate on)."""
    out = np.full(len(rate_bps), float(min(RESOLUTION_LADDER[0][0], source_pixels)))
    for pixels, min_start in RESOLUTION_LADDER[1:]:
        out = np.where(rate_bps >= min_start, min(float(pixels), source_pixels), out)
    if source_pixels > RESOLUTION_LADDER[-1][0]:
        out = np.where(rate_bps >= RESOLUTION_LADDER[-1][1], source_pixels, out)
    return out


def resolution_pixels(resolution: str | None) -> float:
    """Pixels of a named resolution (0 for none)."""
    from roomsim.codecs.costs import RESOLUTIONS

    width, height = RESOLUTIONS.get(resolution or "", (0, 0))
    return float(width * height)
