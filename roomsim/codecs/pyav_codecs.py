"""Real encoders and decoders (PyAV/FFmpeg), configured the way WebRTC endpoints run them.

Calibration and the real-media MCU both need codecs that do the work a WebRTC client or
server does, not an offline transcoder's work: realtime speed settings, no look-ahead, CBR
rate control, one frame in -> one packet out. Each factory here maps a codec key of
`roomsim.codecs` ("vp8", "opus", ...) to an FFmpeg codec and the settings libwebrtc uses,
citing the libwebrtc file each setting comes from. Every context is single-threaded
(`thread_count = 1`) so that one measured figure is the work of one core.

libwebrtc sources cited below (paths in webrtc/src):

* VP8: modules/video_coding/codecs/vp8/libvpx_vp8_encoder.cc (InitEncode, GetCpuSpeed,
  InitAndSetControlSettings, MaxIntraTarget).
* VP9: modules/video_coding/codecs/vp9/libvpx_vp9_encoder.cc (InitEncode,
  GetDefaultPerformanceFlags, InitAndSetControlSettings).
* H.264: modules/video_coding/codecs/h264/h264_encoder_impl.cc (CreateEncoderParams, which
  configures OpenH264); decoding in h264_decoder_impl.cc is FFmpeg's h264 decoder.
* AV1: modules/video_coding/codecs/av1/libaom_av1_encoder.cc (GetCpuSpeed) and
  dav1d_decoder.cc.
* Opus: api/audio_codecs/opus/audio_encoder_opus_config.{h,cc} (20 ms frames, VoIP
  application for mono, complexity 9 on desktop, 32 kbps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext

from roomsim.codecs import AUDIO_CODECS, VIDEO_CODECS, get_codec

# SVT-AV1 prints a banner on stderr for every encoder it opens; keep stderr for errors.
os.environ.setdefault("SVT_LOG", "1")

#: codec key -> FFmpeg encoder name
VIDEO_ENCODERS: dict[str, str] = {
    "vp8": "libvpx",
    "vp9": "libvpx-vp9",
    # libwebrtc ships OpenH264, which this PyAV build lacks; x264 stands in (see below).
    "h264": "libx264",
    # libwebrtc ships libaom, which this PyAV build lacks; SVT-AV1 stands in (see below).
    "av1": "libsvtav1",
}

#: codec key -> FFmpeg decoder name: the decoder library libwebrtc itself uses.
VIDEO_DECODERS: dict[str, str] = {
    "vp8": "libvpx",  # libvpx_vp8_decoder.cc
    "vp9": "libvpx-vp9",  # libvpx_vp9_decoder.cc
    "h264": "h264",  # h264_decoder_impl.cc wraps FFmpeg's decoder
    "av1": "libdav1d",  # dav1d_decoder.cc
}

AUDIO_ENCODERS: dict[str, str] = {"opus": "libopus", "g711": "pcm_mulaw"}
AUDIO_DECODERS: dict[str, str] = {"opus": "libopus", "g711": "pcm_mulaw"}

#: Audio frame length every WebRTC stack uses by default (kDefaultFrameSizeMs = 20).
AUDIO_FRAME_S = 0.020

#: libwebrtc's key-frame interval for camera video (VideoEncoder::GetDefault*Settings:
#: keyFrameInterval = 3000); in practice key frames come on PLI, not on a timer.
KEY_FRAME_INTERVAL = 3000

VIDEO_PIX_FMT = "yuv420p"

#: highest `cpu-used` FFmpeg's libvpx-vp9 wrapper accepts (its option range is -8..8)
FFMPEG_VP9_MAX_CPU_USED = 8


@dataclass(frozen=True)
class VideoEncoderSettings:
    """What a video encoder is opened with: the FFmpeg codec and its private options."""

    encoder: str
    options: dict[str, str]


def vp8_cpu_used(width: int, height: int) -> int:
    """libvpx VP8 speed libwebrtc picks on x86 (GetCpuSpeed, default complexity).

    cpu_speed_default_ is -6 for kComplexityNormal; below CIF (352x288) x86 builds trade
    speed for quality and use -4.
    """
    return -4 if width * height < 352 * 288 else -6


def vp9_cpu_used(width: int, height: int) -> int:
    """libvpx VP9 speed libwebrtc picks on x86 (GetDefaultPerformanceFlags, base layer).

    settings_by_resolution: {0: 5, 352x288: 7, 1920x1080: 9}, chosen by the largest key
    not above the pixel count. FFmpeg's libvpx-vp9 wrapper accepts speeds up to 8 only,
    so 1080p and above run at 8: a little slower than libwebrtc's 9 there.
    """
    pixels = width * height
    if pixels >= 1920 * 1080:
        return FFMPEG_VP9_MAX_CPU_USED
    if pixels >= 352 * 288:
        return 7
    return 5


def svtav1_preset(width: int, height: int) -> int:
    """SVT-AV1 preset standing in for libwebrtc's libaom speed.

    libaom_av1_encoder.cc GetCpuSpeed returns speed 10 (libaom's fastest realtime speed)
    at every resolution for the default complexity. SVT-AV1 has no libwebrtc wrapper to
    copy; its realtime (`rtc=1`) mode with preset 10 is our closest match: fast presets
    at the top of SVT's range that still code at realtime quality (11-13 trade more
    quality for speed). This is our modelling choice, not a libwebrtc figure.
    """
    del width, height  # libwebrtc's default-complexity AV1 speed does not vary with size
    return 10


def video_encoder_settings(
    codec: str, width: int, height: int, fps: float, bitrate_bps: int
) -> VideoEncoderSettings:
    """The FFmpeg encoder and options that reproduce libwebrtc's realtime configuration."""
    if codec not in VIDEO_CODECS:
        raise KeyError(f"unknown video codec {codec!r}; known: {', '.join(VIDEO_CODECS)}")
    rate = str(int(bitrate_bps))
    # CBR with a 1 s buffer, starting half full: libwebrtc's rc_buf_sz = 1000 ms,
    # rc_buf_initial_sz = 500 ms, rc_end_usage = VPX_CBR (FFmpeg selects CBR when
    # minrate == maxrate == bitrate). For x264/SVT-AV1 the same VBV bounds the rate.
    cbr = {"minrate": rate, "maxrate": rate, "bufsize": rate,
           "rc_init_occupancy": str(int(bitrate_bps) // 2)}
    if codec == "vp8":
        options = {
            **cbr,
            "deadline": "realtime",  # VPX_DL_REALTIME in every vpx_codec_encode call
            "cpu-used": str(vp8_cpu_used(width, height)),
            "lag-in-frames": "0",  # g_lag_in_frames = 0, "no frame lagging"
            "auto-alt-ref": "0",  # no alt-ref frames without lag
            # g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT when temporal layers are
            # used, as SFU deployments do for simulcast (L1T2/L1T3).
            "error-resilient": "default",
            "qmin": "2",  # rc_min_quantizer = 2 (camera)
            "qmax": "56",  # kDefaultQpMax = 56, media/engine/webrtc_video_engine.cc
            "undershoot-pct": "100",  # rc_undershoot_pct = 100
            "overshoot-pct": "15",  # rc_overshoot_pct = 15
            "static-thresh": "1",  # VP8E_SET_STATIC_THRESHOLD = 1 for camera video
            # MaxIntraTarget(600): 0.5 * 600 * fps / 10 percent, at least 300.
            "max-intra-rate": str(max(300, int(0.5 * 600 * fps / 10))),
            # kDenoiserOnAdaptive (4) on x86 when denoisingOn (the default for camera).
            "noise-sensitivity": "4",
            # libwebrtc lets libvpx drop frames at 30 % buffer; we keep every frame so
            # that each captured frame is measured and every MCU tick has an output.
            "drop-threshold": "0",
        }
    elif codec == "vp9":
        options = {
            **cbr,
            "deadline": "realtime",
            "cpu-used": str(vp9_cpu_used(width, height)),
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
            "error-resilient": "default",  # on for SVC (is_svc_), as SFUs run VP9
            "qmin": "2",  # rc_min_quantizer = 2
            "qmax": "52",  # rc_max_quantizer = 52
            "undershoot-pct": "50",  # rc_undershoot_pct = 50
            "overshoot-pct": "50",  # rc_overshoot_pct = 50
            "static-thresh": "1",  # VP8E_SET_STATIC_THRESHOLD = 1
            "max-intra-rate": str(max(300, int(0.5 * 600 * fps / 10))),
            "aq-mode": "3",  # VP9E_SET_AQ_MODE = 3 (cyclic refresh) with adaptiveQpMode
            "row-mt": "1",  # VP9E_SET_ROW_MT = 1
            "tile-columns": "0",  # g_threads >> 1 with one thread
            "frame-parallel": "0",  # VP9E_SET_FRAME_PARALLEL_DECODING = 0
            "drop-threshold": "0",
        }
    elif codec == "h264":
        # OpenH264 in libwebrtc: iUsageType = CAMERA_VIDEO_REAL_TIME, iRCMode =
        # RC_BITRATE_MODE, constrained-baseline profile (no B-frames, CAVLC), one
        # thread below 640x480 on few cores. x264's nearest realtime equivalent: the
        # zerolatency tune (no look-ahead, no B-frames, no frame threading) with the
        # baseline profile; "veryfast" is the preset commonly paired with it for live
        # video (our choice: OpenH264 has no presets to copy).
        options = {
            **cbr,
            "preset": "veryfast",
            "tune": "zerolatency",
            "profile": "baseline",
        }
    else:  # av1
        # SVT-AV1 realtime mode: rtc=1 selects the low-delay prediction structure and
        # the RTC speed features; lp=1 keeps the encoder on one core, as thread_count=1
        # does for the others. SVT-AV1 accepts only CBR in low-delay mode.
        options = {
            **cbr,
            "preset": str(svtav1_preset(width, height)),
            "svtav1-params": "rtc=1:pred-struct=1:lp=1",
        }
    return VideoEncoderSettings(encoder=VIDEO_ENCODERS[codec], options=options)


def configure_video_encoder(
    context: VideoCodecContext, codec: str, width: int, height: int, fps: int, bitrate_bps: int
) -> VideoCodecContext:
    """Apply the realtime settings to an unopened encoder context (also a muxer stream's)."""
    settings = video_encoder_settings(codec, width, height, fps, bitrate_bps)
    context.width = width
    context.height = height
    context.pix_fmt = VIDEO_PIX_FMT
    context.time_base = Fraction(1, fps)
    context.framerate = Fraction(fps, 1)
    context.bit_rate = int(bitrate_bps)
    context.gop_size = KEY_FRAME_INTERVAL
    context.max_b_frames = 0
    context.thread_count = 1
    context.options = dict(settings.options)
    return context


def create_video_encoder(
    codec: str, width: int, height: int, fps: int, bitrate_bps: int
) -> VideoCodecContext:
    """A single-threaded realtime encoder for `codec` ("vp8", "vp9", "h264", "av1")."""
    context = CodecContext.create(VIDEO_ENCODERS[_video(codec)], "w")
    assert isinstance(context, VideoCodecContext)
    return configure_video_encoder(context, codec, width, height, fps, bitrate_bps)


def create_video_decoder(codec: str) -> VideoCodecContext:
    """A single-threaded decoder for `codec`, using the library libwebrtc decodes with."""
    context = CodecContext.create(VIDEO_DECODERS[_video(codec)], "r")
    assert isinstance(context, VideoCodecContext)
    context.thread_count = 1
    return context


def audio_encoder_options(codec: str) -> dict[str, str]:
    """Private options of the audio encoder (empty for G.711, which has none)."""
    if _audio(codec) == "opus":
        return {
            "application": "voip",  # ApplicationMode::kVoip for mono
            "frame_duration": "20",  # kDefaultFrameSizeMs = 20
            "vbr": "on",  # cbr_enabled = false
            "compression_level": "9",  # kDefaultComplexity = 9 off mobile
        }
    return {}


def configure_audio_encoder(
    context: AudioCodecContext, codec: str, bitrate_bps: int
) -> AudioCodecContext:
    """Apply the WebRTC settings to an unopened audio encoder context."""
    sample_rate = get_codec(_audio(codec)).sample_rate
    context.sample_rate = sample_rate
    context.layout = "mono"
    context.format = "s16"
    context.bit_rate = int(bitrate_bps)
    context.time_base = Fraction(1, sample_rate)
    context.thread_count = 1
    context.options = audio_encoder_options(codec)
    return context


def create_audio_encoder(codec: str, bitrate_bps: int) -> AudioCodecContext:
    """A mono 20 ms audio encoder: Opus (48 kHz, VoIP) or G.711 mu-law (8 kHz)."""
    context = CodecContext.create(AUDIO_ENCODERS[_audio(codec)], "w")
    assert isinstance(context, AudioCodecContext)
    return configure_audio_encoder(context, codec, bitrate_bps)


def create_audio_decoder(codec: str, extradata: bytes | None = None) -> AudioCodecContext:
    """A mono audio decoder; Opus takes the encoder's OpusHead as `extradata` (pre-skip)."""
    context = CodecContext.create(AUDIO_DECODERS[_audio(codec)], "r")
    assert isinstance(context, AudioCodecContext)
    context.sample_rate = get_codec(codec).sample_rate
    context.layout = "mono"
    if extradata:
        context.extradata = extradata
    return context


def audio_frame_samples(codec: str) -> int:
    """Samples in one 20 ms frame at the codec's native rate (960 Opus, 160 G.711)."""
    return round(get_codec(_audio(codec)).sample_rate * AUDIO_FRAME_S)


def make_audio_frame(samples: np.ndarray, sample_rate: int, pts: int) -> av.AudioFrame:
    """Wrap mono int16 samples as a frame stamped `pts` in 1/sample_rate units."""
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame


def make_video_frame(yuv: np.ndarray, pts: int, fps: int) -> av.VideoFrame:
    """Copy a packed I420 array (height * 3 / 2 rows) into a frame stamped in 1/fps units.

    Copies plane by plane into a freshly allocated frame: several times cheaper than
    `VideoFrame.from_ndarray` here, and a fresh buffer per frame means an encoder that
    still references the previous frame never sees it overwritten.
    """
    width = yuv.shape[1]
    height = yuv.shape[0] * 2 // 3
    frame = av.VideoFrame(width, height, VIDEO_PIX_FMT)
    flat = yuv.reshape(-1)
    offset = 0
    for plane in frame.planes:
        size = plane.width * plane.height
        dst = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(
            plane.height, plane.line_size)
        dst[:, :plane.width] = flat[offset:offset + size].reshape(plane.height, plane.width)
        offset += size
    frame.pts = pts
    frame.time_base = Fraction(1, fps)
    return frame


def _video(codec: str) -> str:
    if codec not in VIDEO_CODECS:
        raise KeyError(f"unknown video codec {codec!r}; known: {', '.join(VIDEO_CODECS)}")
    return codec


def _audio(codec: str) -> str:
    if codec not in AUDIO_CODECS:
        raise KeyError(f"unknown audio codec {codec!r}; known: {', '.join(AUDIO_CODECS)}")
    return codec
