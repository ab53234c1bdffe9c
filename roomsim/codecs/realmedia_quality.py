"""After a real-media MCU run: decode what was written, measure transcoding quality
(PSNR/SSIM per tile against the camera and against what an SFU would deliver), set the
measured stage costs beside the cost profile, break the latency down, and read a result
back. See roomsim.codecs.realmedia."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from roomsim.codecs.composite import (
    Tile,
    planes,
    scale_frame,
)
from roomsim.codecs.costs import RESOLUTIONS, CostProfile
from roomsim.codecs.pyav_codecs import make_video_frame
from roomsim.codecs.quality import psnr, ssim
from roomsim.codecs.realmedia_result import (
    LatencyBreakdown,
    Media,
    QualityFigures,
    QualitySummary,
    RealMediaResult,
    StageCost,
    TileQuality,
)
from roomsim.codecs.realmedia_room import RESULT_FILE, McuOutput, RealMediaRoom, Snapshot, StageClock
from roomsim.codecs.synthetic import VideoSource


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


def analyse(room: RealMediaRoom, outputs: list[McuOutput], snapshots: list[Snapshot],
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

    def reference(snapshot: Snapshot, p: str, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
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


def stage_costs(room: RealMediaRoom, profile: CostProfile,
                 clock: StageClock) -> list[StageCost]:
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


def latency_breakdown(clock: StageClock, media: Media, tick_s: float, outputs: int,
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

