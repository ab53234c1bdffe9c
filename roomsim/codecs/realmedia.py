"""The MCU for real: encode, decode, mix, composite and re-encode actual media with PyAV.

Given a `RealMediaRoom`, every participant publishes a synthetic camera and microphone
through real encoders; the MCU decodes every stream, mixes audio minus-one per participant
(everyone hears everyone but themself), composites video per participant (a grid of the
others, or the active speaker large), re-encodes, and writes what each participant
receives to `DIR/<participant>.mkv` (`.nut` for G.711). The run is timed stage by stage
in CPU time and set beside the cost profile's prediction for the same work; transcoding
quality (PSNR/SSIM of each tile against the camera) is set beside what an SFU would
deliver (the publisher's stream decoded untouched), so the second generation of coding
shows in dB.

The loop is synchronous and single-threaded: one event per 20 ms audio tick and per video
frame, in time order. Files are written under temporary names and renamed at the end, so
an interrupted run leaves no half-written media or JSON behind.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.container import OutputContainer
from av.video.codeccontext import VideoCodecContext

from roomsim.codecs import AUDIO_CODECS, VIDEO_CODECS, get_codec
from roomsim.codecs.composite import (
    Tile,
    blank_canvas,
    composite,
    grid_tiles,
    mix,
    planes,
    scale_frame,
    speaker_tiles,
)
from roomsim.codecs.costs import RESOLUTIONS, CostProfile, load_profile
from roomsim.codecs.pyav_codecs import (
    AUDIO_ENCODERS,
    AUDIO_FRAME_S,
    VIDEO_ENCODERS,
    audio_frame_samples,
    configure_audio_encoder,
    configure_video_encoder,
    create_audio_decoder,
    create_audio_encoder,
    create_video_decoder,
    create_video_encoder,
    make_audio_frame,
    make_video_frame,
)
from roomsim.codecs.quality import psnr, ssim
from roomsim.codecs.realmedia_result import (
    LatencyBreakdown,
    Media,
    QualityFigures,
    QualitySummary,
    RealMediaResult,
    SpeakerChange,
    Speed,
    StageCost,
    TileQuality,
)
from roomsim.codecs.speaker import ActiveSpeakerDetector, level_dbov
from roomsim.codecs.synthetic import AudioSource, VideoSource
from roomsim.codecs.video_presets import VIDEO_PRESETS

Layout = Literal["grid", "speaker"]

#: participant ids become file names: keep them to a safe, portable alphabet
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

RESULT_FILE = "result.json"


def media_container(audio_codec: str) -> tuple[str, str]:
    """(FFmpeg muxer, file suffix) for an output: Matroska, or NUT for G.711.

    Matroska carries Opus with any of the video codecs; FFmpeg's Matroska muxer has no
    mapping for mu-law PCM, and QuickTime, which has one, cannot carry VP8. NUT (FFmpeg's
    own container, played by ffplay, mpv and VLC) carries every pair.
    """
    return ("nut", ".nut") if audio_codec == "g711" else ("matroska", ".mkv")


@dataclass(frozen=True)
class RealMediaRoom:
    """One room for the real-media MCU: who is in it and how they publish.

    `output_bitrate_bps` None takes the LiveKit preset bitrate of `output_resolution`.
    `talk_turn_s` is how long each participant talks before the next one (round robin).
    `quality_samples` output frames per viewer are compared with the camera.
    """

    participants: tuple[str, ...]
    audio_codec: str = "opus"
    audio_bitrate_bps: int = 32_000
    video_codec: str = "vp8"
    video_resolution: str = "360p"
    fps: int = 30
    video_bitrate_bps: int = 450_000
    duration_s: float = 10.0
    layout: Layout = "grid"
    output_resolution: str = "360p"
    output_bitrate_bps: int | None = None
    seed: int = 0
    talk_turn_s: float = 2.0
    quality_samples: int = 30

    def __post_init__(self) -> None:
        if len(self.participants) < 2:
            raise ValueError("an MCU room needs at least two participants")
        if len(set(self.participants)) != len(self.participants):
            raise ValueError(f"participant ids must be unique: {self.participants}")
        for participant in self.participants:
            if not _SAFE_ID.match(participant):
                raise ValueError(f"participant id {participant!r} is not a safe file name")
        if self.audio_codec not in AUDIO_CODECS:
            raise ValueError(f"unknown audio codec {self.audio_codec!r}")
        if self.video_codec not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {self.video_codec!r}")
        for resolution in (self.video_resolution, self.output_resolution):
            if resolution not in RESOLUTIONS:
                raise ValueError(f"unknown resolution {resolution!r}")
        if self.layout not in ("grid", "speaker"):
            raise ValueError(f"layout must be 'grid' or 'speaker', not {self.layout!r}")
        if self.duration_s <= 0 or self.fps <= 0 or self.quality_samples < 1:
            raise ValueError("duration_s, fps and quality_samples must be positive")

    @property
    def output_video_bitrate_bps(self) -> int:
        """Bitrate of each participant's composite stream."""
        if self.output_bitrate_bps is not None:
            return self.output_bitrate_bps
        return int(VIDEO_PRESETS[self.output_resolution][2] * 1000)

    @property
    def audio_ticks(self) -> int:
        """20 ms audio frames in the run."""
        return round(self.duration_s / AUDIO_FRAME_S)

    @property
    def video_ticks(self) -> int:
        """Video frames in the run."""
        return round(self.duration_s * self.fps)


class _StageClock:
    """Accumulates process-CPU nanoseconds per (stage, media) and per-tick blocks."""

    def __init__(self) -> None:
        self.total_ns: dict[tuple[str, str], int] = {}
        self.ticks: dict[tuple[str, str], list[int]] = {}

    @contextmanager
    def measure(self, stage: str, media: str, per_tick: bool = False) -> Iterator[None]:
        start = time.process_time_ns()
        try:
            yield
        finally:
            elapsed = time.process_time_ns() - start
            key = (stage, media)
            self.total_ns[key] = self.total_ns.get(key, 0) + elapsed
            if per_tick:
                self.ticks.setdefault(key, []).append(elapsed)

    def seconds(self, stage: str, media: str) -> float:
        return self.total_ns.get((stage, media), 0) / 1e9

    def median_ms(self, stage: str, media: str) -> float:
        samples = self.ticks.get((stage, media), [])
        return float(np.median(samples)) / 1e6 if samples else 0.0


@dataclass
class _Output:
    """One viewer's MCU output: the container being written and its two encoders."""

    participant: str
    temp_path: Path
    final_path: Path
    container: OutputContainer
    audio: av.AudioStream
    video: av.VideoStream
    audio_bytes: int = 0
    video_bytes: int = 0


@dataclass
class _Snapshot:
    """What one sampled output frame showed, kept for the quality analysis after the run.

    The decoded publisher frames are kept by reference (decoders hand out refcounted
    buffers), so taking a snapshot costs the pipeline next to nothing.
    """

    frame_index: int
    decoded: dict[str, av.VideoFrame]
    layouts: dict[str, tuple[list[str], list[Tile]]]


def run_mcu(room: RealMediaRoom, output_dir: Path,
            profile: CostProfile | None = None) -> RealMediaResult:
    """Run the room through a real MCU, write the media and `result.json` to `output_dir`."""
    profile = profile if profile is not None else load_profile()
    output_dir.mkdir(parents=True, exist_ok=True)
    outputs: list[_Output] = []
    try:
        result = _run(room, output_dir, profile, outputs)
        for output in outputs:
            os.replace(output.temp_path, output.final_path)
        _write_atomic(output_dir / RESULT_FILE, result.model_dump_json(indent=2) + "\n")
        return result
    finally:
        for output in outputs:
            _close_quietly(output.container)
            output.temp_path.unlink(missing_ok=True)


def _close_quietly(container: OutputContainer) -> None:
    """Close a container on the way out of a failed run; its file is deleted anyway, and
    an error while cleaning up must not mask the one that stopped the run."""
    with contextlib.suppress(Exception):
        container.close()


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o644)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _open_output(room: RealMediaRoom, participant: str, output_dir: Path) -> _Output:
    muxer, suffix = media_container(room.audio_codec)
    final_path = output_dir / f"{participant}{suffix}"
    fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=f".{participant}.", suffix=".partial")
    os.close(fd)
    temp_path = Path(tmp)
    os.chmod(temp_path, 0o644)  # mkstemp creates 0600; outputs are ordinary media files
    # bitexact: no random segment/track UIDs or library version tags, so the same room
    # and seed write byte-identical files
    container = av.open(str(temp_path), "w", format=muxer,
                        container_options={"fflags": "+bitexact"})
    try:
        width, height = RESOLUTIONS[room.output_resolution]
        sample_rate = get_codec(room.audio_codec).sample_rate
        video = container.add_stream(VIDEO_ENCODERS[room.video_codec], rate=room.fps)
        assert isinstance(video, av.VideoStream)
        configure_video_encoder(video.codec_context, room.video_codec, width, height,
                                room.fps, room.output_video_bitrate_bps)
        video.codec_context.flags |= av.codec.context.Flags.bitexact
        audio = container.add_stream(AUDIO_ENCODERS[room.audio_codec], rate=sample_rate)
        assert isinstance(audio, av.AudioStream)
        configure_audio_encoder(audio.codec_context, room.audio_codec, room.audio_bitrate_bps)
        audio.codec_context.flags |= av.codec.context.Flags.bitexact
    except BaseException:
        container.close()
        temp_path.unlink(missing_ok=True)
        raise
    return _Output(participant, temp_path, final_path, container, audio, video)


def _sample_indices(room: RealMediaRoom) -> set[int]:
    """Output frames compared with the camera: spread evenly, after the first half second
    (while the first key frame and the rate controllers settle)."""
    first = min(room.fps // 2, room.video_ticks - 1)
    count = min(room.quality_samples, room.video_ticks - first)
    return {int(round(x)) for x in np.linspace(first, room.video_ticks - 1, count)}


def _run(room: RealMediaRoom, output_dir: Path, profile: CostProfile,
         outputs: list[_Output]) -> RealMediaResult:
    ids = list(room.participants)
    n = len(ids)
    in_w, in_h = RESOLUTIONS[room.video_resolution]
    out_w, out_h = RESOLUTIONS[room.output_resolution]
    sample_rate = get_codec(room.audio_codec).sample_rate
    frame_samples = audio_frame_samples(room.audio_codec)
    fps = room.fps
    clock = _StageClock()
    sampled = _sample_indices(room)

    cameras = {p: VideoSource(p, i, in_w, in_h, fps, room.seed) for i, p in enumerate(ids)}
    microphones = {p: AudioSource(i, n, sample_rate, room.talk_turn_s) for i, p in enumerate(ids)}
    audio_encoders = {p: create_audio_encoder(room.audio_codec, room.audio_bitrate_bps)
                      for p in ids}
    for encoder in audio_encoders.values():
        encoder.open()  # Opus's OpusHead (extradata) exists only once the encoder is open
    video_encoders = {p: create_video_encoder(room.video_codec, in_w, in_h, fps,
                                              room.video_bitrate_bps) for p in ids}
    audio_decoders = {p: create_audio_decoder(room.audio_codec, audio_encoders[p].extradata)
                      for p in ids}
    video_decoders = {p: create_video_decoder(room.video_codec) for p in ids}
    for p in ids:
        outputs.append(_open_output(room, p, output_dir))

    detector = ActiveSpeakerDetector()
    fifo = {p: np.zeros(0, dtype=np.int16) for p in ids}
    latest: dict[str, av.VideoFrame] = {}
    blank = make_video_frame(blank_canvas(in_w, in_h), 0, fps)
    publisher_video_bytes = dict.fromkeys(ids, 0)
    speaker_changes: list[SpeakerChange] = []
    snapshots: list[_Snapshot] = []
    decoded_audio_samples = 0

    def audio_tick(j: int) -> None:
        nonlocal decoded_audio_samples
        now = j * AUDIO_FRAME_S
        with clock.measure("capture", "audio"):
            frames = {p: make_audio_frame(microphones[p].samples(j * frame_samples,
                                                                 frame_samples),
                                          sample_rate, j * frame_samples) for p in ids}
        with clock.measure("publisher_encode", "audio"):
            packets = {p: audio_encoders[p].encode(frames[p]) for p in ids}
        inputs: dict[str, np.ndarray] = {}
        with clock.measure("mcu_decode", "audio", per_tick=True):
            for p in ids:
                for packet in packets[p]:
                    for decoded in audio_decoders[p].decode(packet):
                        pcm = decoded.to_ndarray().reshape(-1)
                        fifo[p] = np.concatenate((fifo[p], pcm))
                        if p == ids[0]:
                            decoded_audio_samples += pcm.size
                inputs[p] = fifo[p][:frame_samples]
                fifo[p] = fifo[p][frame_samples:]
        with clock.measure("mcu_mix", "audio", per_tick=True):
            detector.update(now, {p: level_dbov(inputs[p]) for p in ids})
            mixes = {o.participant: mix([inputs[p] for p in ids if p != o.participant],
                                        frame_samples) for o in outputs}
        if detector.speaker is not None and (
            not speaker_changes or speaker_changes[-1].speaker != detector.speaker
        ):
            speaker_changes.append(SpeakerChange(time_s=round(now, 6),
                                                 speaker=detector.speaker))
        encoded: list[list[av.Packet]] = []
        with clock.measure("mcu_encode", "audio", per_tick=True):
            for o in outputs:
                frame = make_audio_frame(mixes[o.participant], sample_rate, j * frame_samples)
                encoded.append(o.audio.encode(frame))
        with clock.measure("mux", "audio"):
            for o, out_packets in zip(outputs, encoded, strict=True):
                for packet in out_packets:
                    o.audio_bytes += packet.size
                o.container.mux(out_packets)

    def video_tick(i: int) -> None:
        with clock.measure("capture", "video"):
            frames = {p: make_video_frame(cameras[p].frame(i), i, fps) for p in ids}
        with clock.measure("publisher_encode", "video"):
            packets = {p: video_encoders[p].encode(frames[p]) for p in ids}
        for p in ids:
            publisher_video_bytes[p] += sum(packet.size for packet in packets[p])
        with clock.measure("mcu_decode", "video", per_tick=True):
            for p in ids:
                for packet in packets[p]:
                    for decoded in video_decoders[p].decode(packet):
                        latest[p] = decoded
        layouts = {o.participant: _layout(room, o.participant, ids, detector, out_w, out_h)
                   for o in outputs}
        composites: list[av.VideoFrame] = []
        with clock.measure("mcu_composite", "video", per_tick=True):
            for o in outputs:
                order, tiles = layouts[o.participant]
                canvas = composite([latest.get(p, blank) for p in order], tiles, out_w, out_h)
                composites.append(make_video_frame(canvas, i, fps))
        encoded: list[list[av.Packet]] = []
        with clock.measure("mcu_encode", "video", per_tick=True):
            for o, frame in zip(outputs, composites, strict=True):
                encoded.append(o.video.encode(frame))
        with clock.measure("mux", "video"):
            for o, out_packets in zip(outputs, encoded, strict=True):
                for packet in out_packets:
                    o.video_bytes += packet.size
                o.container.mux(out_packets)
        if i in sampled:
            snapshots.append(_Snapshot(i, dict(latest), layouts))

    wall_start = time.perf_counter()
    cpu_start = time.process_time_ns()
    for kind, index in _schedule(room):
        (audio_tick if kind == "audio" else video_tick)(index)
    _flush(outputs, audio_encoders, video_encoders, clock)
    for o in outputs:
        o.container.close()
    pipeline_cpu_s = (time.process_time_ns() - cpu_start) / 1e9
    pipeline_wall_s = time.perf_counter() - wall_start

    analysis_start = time.perf_counter()
    tiles, summary = _analyse(room, outputs, snapshots, cameras)
    analysis_wall_s = time.perf_counter() - analysis_start

    stages = _stage_costs(room, profile, clock)
    timed_cpu_s = sum(s.measured_cpu_s for s in stages)
    mcu_cpu_s = sum(s.measured_cpu_s for s in stages if s.stage.startswith("mcu_"))
    codec_cpu_s = sum(s.measured_cpu_s for s in stages if s.stage in
                      ("publisher_encode", "mcu_decode", "mcu_encode"))
    duration = room.video_ticks / fps
    speed = Speed(
        duration_s=duration,
        pipeline_wall_s=pipeline_wall_s,
        pipeline_cpu_s=pipeline_cpu_s,
        realtime_factor=duration / pipeline_wall_s,
        mcu_cpu_s=mcu_cpu_s,
        mcu_realtime_factor=duration / mcu_cpu_s if mcu_cpu_s else math.inf,
        codec_cpu_s=codec_cpu_s,
        python_overhead_cpu_s=max(0.0, pipeline_cpu_s - timed_cpu_s),
        analysis_wall_s=analysis_wall_s,
    )
    # The codec's look-ahead shows as samples missing from a decoder's output (Opus trims
    # its pre-skip): measured on a publisher's stream, whose encoder is configured exactly
    # like the MCU's re-encoder. The flush packets are never decoded, so every missing
    # sample is delay.
    codec_delay_samples = max(0, room.audio_ticks * frame_samples - decoded_audio_samples)
    latency: dict[Media, LatencyBreakdown] = {
        "audio": _latency(clock, "audio", AUDIO_FRAME_S, n,
                          1000.0 * codec_delay_samples / sample_rate),
        "video": _latency(clock, "video", 1.0 / fps, n, 0.0),
    }
    seconds = duration
    room_echo = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(room).items()}
    return RealMediaResult(
        room=room_echo,
        profile_machine=f"{profile.machine.cpu}, measured {profile.machine.measured_at}",
        stages=stages,
        speed=speed,
        quality=summary,
        tiles=tiles,
        latency=latency,
        publisher_video_kbps={p: round(publisher_video_bytes[p] * 8 / seconds / 1000, 3)
                              for p in ids},
        output_video_kbps={o.participant: round(o.video_bytes * 8 / seconds / 1000, 3)
                           for o in outputs},
        output_audio_kbps={o.participant: round(o.audio_bytes * 8 / seconds / 1000, 3)
                           for o in outputs},
        speaker_changes=speaker_changes,
        outputs={o.participant: o.final_path.name for o in outputs},
    )


def _schedule(room: RealMediaRoom) -> Iterator[tuple[str, int]]:
    """Audio and video ticks in time order (audio first at equal times)."""
    audio_ticks, video_ticks = room.audio_ticks, room.video_ticks
    j = i = 0
    while j < audio_ticks or i < video_ticks:
        audio_time = j * AUDIO_FRAME_S if j < audio_ticks else math.inf
        video_time = i / room.fps if i < video_ticks else math.inf
        if audio_time <= video_time + 1e-12:
            yield ("audio", j)
            j += 1
        else:
            yield ("video", i)
            i += 1


def _layout(room: RealMediaRoom, viewer: str, ids: list[str], detector: ActiveSpeakerDetector,
            width: int, height: int) -> tuple[list[str], list[Tile]]:
    """Who goes in which tile of `viewer`'s composite (everyone but the viewer)."""
    others = [p for p in ids if p != viewer]
    if room.layout == "grid":
        return others, _grid_tiles(len(others), width, height)
    big = detector.speaker_for(viewer) or others[0]
    order = [big] + [p for p in others if p != big]
    return order, _speaker_tiles(len(order), width, height)


# Layout geometry depends only on (tiles, width, height): compute it once per shape.
_grid_tiles = functools.cache(grid_tiles)
_speaker_tiles = functools.cache(speaker_tiles)


def _flush(outputs: list[_Output], audio_encoders: dict[str, AudioCodecContext],
           video_encoders: dict[str, VideoCodecContext], clock: _StageClock) -> None:
    """Drain every encoder so libraries shut down cleanly and outputs end complete."""
    with clock.measure("publisher_encode", "audio"):
        for encoder in audio_encoders.values():
            encoder.encode(None)
    with clock.measure("publisher_encode", "video"):
        for venc in video_encoders.values():
            venc.encode(None)
    for o in outputs:
        with clock.measure("mcu_encode", "audio"):
            audio_packets = o.audio.encode(None)
        with clock.measure("mcu_encode", "video"):
            video_packets = o.video.encode(None)
        with clock.measure("mux", "video"):
            o.audio_bytes += sum(p.size for p in audio_packets)
            o.video_bytes += sum(p.size for p in video_packets)
            o.container.mux(audio_packets)
            o.container.mux(video_packets)


def decode_video_frames(path: Path, fps: int) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, packed I420) for every video frame of a written output file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for frame in container.decode(stream):
            assert frame.time_base is not None and frame.pts is not None
            index = round(float(frame.pts * frame.time_base) * fps)
            yield index, frame.to_ndarray(format="yuv420p")


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """All audio samples of a written output file (mono int16) and their sample rate."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples = frame.to_ndarray().reshape(-1)
            if samples.dtype.kind == "f":  # FFmpeg's native Opus decoder gives float
                samples = np.clip(np.round(samples * 32768.0), -32768, 32767)
            chunks.append(samples.astype(np.int16))
        rate = stream.codec_context.sample_rate
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)), rate


def _figures(pairs: list[tuple[float, float]]) -> QualityFigures:
    psnrs = [p for p, _ in pairs]
    ssims = [s for _, s in pairs]
    return QualityFigures(psnr_db=float(np.mean(psnrs)), psnr_min_db=float(np.min(psnrs)),
                          ssim=float(np.mean(ssims)), ssim_min=float(np.min(ssims)),
                          samples=len(pairs))


def _analyse(room: RealMediaRoom, outputs: list[_Output], snapshots: list[_Snapshot],
             cameras: dict[str, VideoSource]) -> tuple[list[TileQuality], QualitySummary]:
    """Decode every output and compare each sampled tile with the camera and the SFU.

    The reference of a tile is the camera frame the tile shows (the decoded frame's pts),
    scaled to the tile with the MCU's own scaler, so scaling is not counted as loss; the
    SFU's view is the publisher's decoded frame scaled the same way (as a client would).
    """
    fps = room.fps
    out_w, out_h = RESOLUTIONS[room.output_resolution]
    mcu: dict[tuple[str, str], list[tuple[float, float]]] = {}
    sfu: dict[tuple[str, str], list[tuple[float, float]]] = {}
    full_res: list[tuple[float, float]] = []
    by_index = {snapshot.frame_index: snapshot for snapshot in snapshots}
    references: dict[tuple[int, str, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def reference(snapshot: _Snapshot, p: str, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        key = (snapshot.frame_index, p, tile.width, tile.height)
        if key not in references:
            decoded = snapshot.decoded[p]
            shown = int(decoded.pts) if decoded.pts is not None else snapshot.frame_index
            original = make_video_frame(cameras[p].frame(shown), shown, fps)
            ref = scale_frame(original, tile.width, tile.height)
            seen = scale_frame(decoded, tile.width, tile.height)
            references[key] = (planes(ref, tile.width, tile.height)[0],
                               planes(seen, tile.width, tile.height)[0])
        return references[key]

    for snapshot in snapshots:
        for p, decoded in snapshot.decoded.items():
            camera = cameras[p]
            shown = int(decoded.pts) if decoded.pts is not None else snapshot.frame_index
            original_y = planes(camera.frame(shown), camera.width, camera.height)[0]
            decoded_y = planes(decoded.to_ndarray(), camera.width, camera.height)[0]
            full_res.append((psnr(original_y, decoded_y), ssim(original_y, decoded_y)))
    for o in outputs:
        for index, packed in decode_video_frames(o.temp_path, fps):
            sampled = by_index.get(index)
            if sampled is None:
                continue
            order, tiles = sampled.layouts[o.participant]
            received_y = planes(packed, out_w, out_h)[0]
            for p, t in zip(order, tiles, strict=True):
                if p not in sampled.decoded:
                    continue
                ref_y, sfu_y = reference(sampled, p, t)
                received = received_y[t.y:t.y + t.height, t.x:t.x + t.width]
                key = (o.participant, p)
                mcu.setdefault(key, []).append((psnr(ref_y, received), ssim(ref_y, received)))
                sfu.setdefault(key, []).append((psnr(ref_y, sfu_y), ssim(ref_y, sfu_y)))
    if not mcu:
        raise RuntimeError("no sampled output frame could be compared with its sources")
    tiles_quality = []
    for key in sorted(mcu):
        mcu_figures, sfu_figures = _figures(mcu[key]), _figures(sfu[key])
        tiles_quality.append(TileQuality(
            viewer=key[0], publisher=key[1], mcu=mcu_figures, sfu=sfu_figures,
            generation_loss_db=sfu_figures.psnr_db - mcu_figures.psnr_db))
    all_mcu = _figures([pair for pairs in mcu.values() for pair in pairs])
    all_sfu = _figures([pair for pairs in sfu.values() for pair in pairs])
    full = _figures(full_res)
    summary = QualitySummary(
        mcu_psnr_db=all_mcu.psnr_db,
        sfu_psnr_db=all_sfu.psnr_db,
        generation_loss_db=all_sfu.psnr_db - all_mcu.psnr_db,
        mcu_ssim=all_mcu.ssim,
        sfu_ssim=all_sfu.ssim,
        sfu_full_resolution_psnr_db=full.psnr_db,
        sfu_full_resolution_ssim=full.ssim,
    )
    return tiles_quality, summary


def _stage_costs(room: RealMediaRoom, profile: CostProfile,
                 clock: _StageClock) -> list[StageCost]:
    """Each stage's measured CPU beside the profile's charge for the same operations."""
    n = len(room.participants)
    audio_frames, video_frames = room.audio_ticks, room.video_ticks
    audio_cost = profile.audio_cost(room.audio_codec)
    publisher_video = profile.video_cost(room.video_codec, room.video_resolution)
    output_video = profile.video_cost(room.video_codec, room.output_resolution)
    composite_us = profile.composite_us_per_tile(room.output_resolution)

    def row(stage: str, media: Media, operations: int, us: float | None) -> StageCost:
        predicted = None if us is None else operations * us / 1e6
        return StageCost(stage=stage, media=media, operations=operations,  # type: ignore[arg-type]
                         measured_cpu_s=clock.seconds(stage, media), predicted_cpu_s=predicted)

    return [
        row("capture", "audio", n * audio_frames, None),
        row("capture", "video", n * video_frames, None),
        row("publisher_encode", "audio", n * audio_frames, audio_cost.encode_us),
        row("publisher_encode", "video", n * video_frames, publisher_video.encode_us),
        row("mcu_decode", "audio", n * audio_frames, audio_cost.decode_us),
        row("mcu_decode", "video", n * video_frames, publisher_video.decode_us),
        row("mcu_mix", "audio", n * (n - 1) * audio_frames, profile.audio_mix_us_per_input),
        row("mcu_composite", "video", n * (n - 1) * video_frames, composite_us),
        row("mcu_encode", "audio", n * audio_frames, audio_cost.encode_us),
        row("mcu_encode", "video", n * video_frames, output_video.encode_us),
        row("mux", "audio", n * audio_frames, None),
        row("mux", "video", n * video_frames, None),
    ]


def _latency(clock: _StageClock, media: Media, tick_s: float, outputs: int,
             codec_delay_ms: float) -> LatencyBreakdown:
    """Added delay of one media path from the per-tick medians (see LatencyBreakdown)."""
    mix_stage = "mcu_mix" if media == "audio" else "mcu_composite"
    decode_ms = clock.median_ms("mcu_decode", media)
    mix_ms = clock.median_ms(mix_stage, media) / outputs
    encode_ms = clock.median_ms("mcu_encode", media) / outputs
    tick_ms = tick_s * 1000.0
    per_output = mix_ms + encode_ms
    return LatencyBreakdown(
        tick_ms=tick_ms,
        buffering_mean_ms=tick_ms / 2,
        buffering_max_ms=tick_ms,
        decode_all_inputs_ms=decode_ms,
        mix_per_output_ms=mix_ms,
        encode_per_output_ms=encode_ms,
        codec_delay_ms=codec_delay_ms,
        total_mean_ms=tick_ms / 2 + decode_ms + per_output * (outputs + 1) / 2
        + codec_delay_ms,
        total_max_ms=tick_ms + decode_ms + per_output * outputs + codec_delay_ms,
    )


def load_result(output_dir: Path) -> RealMediaResult:
    """Read back the `result.json` a run wrote."""
    return RealMediaResult.model_validate_json((output_dir / RESULT_FILE).read_text())


__all__: list[str] = [
    "RealMediaRoom",
    "decode_audio",
    "decode_video_frames",
    "load_result",
    "run_mcu",
]

