"""LiveKit client SDK video presets and its default simulcast ladder for a 720p camera.

Source: livekit/client-sdk-js, ``src/room/track/options.ts`` (``VideoPresets``, 16:9),
commit 615eb71eeabf88ee735713ebf94f194588d1524b. Each ``VideoPreset(width, height,
maxBitrate bps, maxFramerate)`` becomes ``(width, height, bitrate_kbps, fps)`` here.
Older SDK releases (e.g. commit 01675c6dacaeb6f839c20be2496772238c7b85c2) used lower
small-layer figures: h90 60 kbps/15 fps, h180 120/15, h216 180/15, h360 300/20,
h540 600/25; h720 and above are unchanged.

Default simulcast: ``defaultSimulcastPresets169 = [VideoPresets.h180, VideoPresets.h360]``
(``src/room/utils.ts`` in the same repository), added below the captured resolution; the
SDK's default camera capture is 720p (``videoDefaults.resolution =
VideoPresets.h720.resolution``) with ``simulcast: true`` and ``videoCodec: 'vp8'``
(``publishDefaults`` in ``src/room/defaults.ts``, commit
03844a1cf5145a5de43a1a8a5f9837b001f4690d), so a 720p camera publishes 180p + 360p + 720p.
The same ``publishDefaults`` publish audio with ``AudioPresets.music`` (48 kbps in the SDK
version above), ``dtx: true`` and ``red: true`` (RFC 2198 redundancy, which roughly doubles
audio payload), unlike plain libwebrtc's 32 kbps Opus without RED.
"""

from __future__ import annotations

#: name -> (width, height, bitrate_kbps, fps), from LiveKit ``VideoPresets``.
VIDEO_PRESETS: dict[str, tuple[int, int, float, float]] = {
    "90p": (160, 90, 90.0, 20.0),
    "180p": (320, 180, 160.0, 20.0),
    "216p": (384, 216, 180.0, 20.0),
    "360p": (640, 360, 450.0, 20.0),
    "540p": (960, 540, 800.0, 25.0),
    "720p": (1280, 720, 1_700.0, 30.0),
    "1080p": (1920, 1080, 3_000.0, 30.0),
    "1440p": (2560, 1440, 5_000.0, 30.0),
    "2160p": (3840, 2160, 8_000.0, 30.0),
}

#: capture resolution -> simulcast layers published, lowest first (LiveKit defaults:
#: h180 + h360 below the captured layer).
DEFAULT_SIMULCAST: dict[str, list[str]] = {
    "720p": ["180p", "360p", "720p"],
}
