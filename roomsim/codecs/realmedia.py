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

The room and the run's records are roomsim.codecs.realmedia_room; the analysis after the
run (quality, stage costs, latency) is roomsim.codecs.realmedia_quality.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext
from av.container import OutputContainer
from av.video.codeccontext import VideoCodecContext

from roomsim.codecs import get_codec
from roomsim.codecs.composite import (
    Tile,
    blank_canvas,
    composite,
    grid_tiles,
    mix,
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
from roomsim.codecs.realmedia_quality import analyse, latency_breakdown, stage_costs
from roomsim.codecs.realmedia_result import (
    LatencyBreakdown,
    Media,
    RealMediaResult,
    SpeakerChange,
    Speed,
)
from roomsim.codecs.realmedia_room import (
    RESULT_FILE,
    McuOutput,
    RealMediaRoom,
    Snapshot,
    StageClock,
    media_container,
)
from roomsim.codecs.speaker import ActiveSpeakerDetector, level_dbov
from roomsim.codecs.synthetic import AudioSource, VideoSource


def run_mcu(room: RealMediaRoom, output_dir: Path,
            profile: CostProfile | None = None) -> RealMediaResult:
    """Run the room through a real MCU, write the media and `result.json` to `output_dir`."""
    profile = profile if profile is not None else load_profile()
    output_dir.mkdir(parents=True, exist_ok=True)
    outputs: list[McuOutput] = []
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


def _open_output(room: RealMediaRoom, participant: str, output_dir: Path) -> McuOutput:
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
    return McuOutput(participant, temp_path, final_path, container, audio, video)


def _sample_indices(room: RealMediaRoom) -> set[int]:
    """Output frames compared with the camera: spread evenly, after the first half second
    (while the first key frame and the rate controllers settle)."""
    first = min(room.fps // 2, room.video_ticks - 1)
    count = min(room.quality_samples, room.video_ticks - first)
    return {int(round(x)) for x in np.linspace(first, room.video_ticks - 1, count)}


def _run(room: RealMediaRoom, output_dir: Path, profile: CostProfile,
         outputs: list[McuOutput]) -> RealMediaResult:
    ids = list(room.participants)
    n = len(ids)
    in_w, in_h = RESOLUTIONS[room.video_resolution]
    out_w, out_h = RESOLUTIONS[room.output_resolution]
    sample_rate = get_codec(room.audio_codec).sample_rate
    frame_samples = audio_frame_samples(room.audio_codec)
    fps = room.fps
    clock = StageClock()
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
    snapshots: list[Snapshot] = []
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
            snapshots.append(Snapshot(i, dict(latest), layouts))

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
    tiles, summary = analyse(room, outputs, snapshots, cameras)
    analysis_wall_s = time.perf_counter() - analysis_start

    stages = stage_costs(room, profile, clock)
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
        "audio": latency_breakdown(clock, "audio", AUDIO_FRAME_S, n,
                          1000.0 * codec_delay_samples / sample_rate),
        "video": latency_breakdown(clock, "video", 1.0 / fps, n, 0.0),
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


def _flush(outputs: list[McuOutput], audio_encoders: dict[str, AudioCodecContext],
           video_encoders: dict[str, VideoCodecContext], clock: StageClock) -> None:
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
