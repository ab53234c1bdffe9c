"""Text summary of a real-media MCU run (shared by `roomsim run --real-media` and the benchmark)."""

from __future__ import annotations

from roomsim.codecs.realmedia_result import RealMediaResult


def describe(result: RealMediaResult, note: str = "") -> str:
    """The real-media MCU run as text: speed, CPU per stage against the profile, quality,
    added latency. `note` is appended to the first line (e.g. how the run was pinned)."""
    lines: list[str] = []
    speed = result.speed
    room = result.room
    lines.append(f"room: {len(room['participants'])} participants, {room['video_codec']} "  # type: ignore[arg-type]
          f"{room['video_resolution']}@{room['fps']} -> {room['output_resolution']} "
          f"{room['layout']}, {room['audio_codec']}, {speed.duration_s:.1f} s{note}")
    lines.append(f"pipeline: {speed.duration_s:.2f} simulated s in {speed.pipeline_wall_s:.2f} wall s"
          f" = {speed.realtime_factor:.2f}x real time")
    lines.append(f"MCU stages alone: {speed.mcu_cpu_s:.2f} CPU s = {speed.mcu_realtime_factor:.2f}x"
          " real time on one core")
    lines.append(f"CPU: pipeline {speed.pipeline_cpu_s:.2f} s, codecs (encode+decode) "
          f"{speed.codec_cpu_s:.2f} s = {100 * speed.codec_cpu_s / speed.pipeline_cpu_s:.1f} %,"
          f" Python outside timed stages {speed.python_overhead_cpu_s:.3f} s = "
          f"{100 * speed.python_overhead_cpu_s / speed.pipeline_cpu_s:.1f} %")
    lines.append("")
    lines.append(f"{'stage':<18}{'media':<7}{'ops':>7}{'CPU s':>9}{'share':>8}"
          f"{'us/op':>10}{'profile us/op':>15}{'measured/profile':>18}")
    for stage in result.stages:
        per_op = stage.measured_us_per_op
        share = 100 * stage.measured_cpu_s / speed.pipeline_cpu_s
        if stage.predicted_cpu_s:
            predicted = stage.predicted_cpu_s * 1e6 / stage.operations
            ratio = f"{stage.measured_cpu_s / stage.predicted_cpu_s:.2f}"
            predicted_text = f"{predicted:.1f}"
        else:
            predicted_text, ratio = "-", "-"
        lines.append(f"{stage.stage:<18}{stage.media:<7}{stage.operations:>7}"
              f"{stage.measured_cpu_s:>9.3f}{share:>7.1f}%{per_op:>10.1f}"
              f"{predicted_text:>15}{ratio:>18}")
    q = result.quality
    lines.append("")
    lines.append(f"quality (luma, per tile vs camera): MCU {q.mcu_psnr_db:.2f} dB / SSIM "
          f"{q.mcu_ssim:.4f}; SFU {q.sfu_psnr_db:.2f} dB / SSIM {q.sfu_ssim:.4f}; "
          f"generation loss {q.generation_loss_db:.2f} dB")
    lines.append(f"SFU at full camera resolution: {q.sfu_full_resolution_psnr_db:.2f} dB / SSIM "
          f"{q.sfu_full_resolution_ssim:.4f}")
    for media, lat in result.latency.items():
        lines.append(f"added latency {media}: mean {lat.total_mean_ms:.1f} ms, worst "
              f"{lat.total_max_ms:.1f} ms (buffering {lat.buffering_mean_ms:.1f}/"
              f"{lat.buffering_max_ms:.1f}, decode all {lat.decode_all_inputs_ms:.2f}, mix "
              f"{lat.mix_per_output_ms:.2f} + encode {lat.encode_per_output_ms:.2f} per "
              f"output, codec delay {lat.codec_delay_ms:.1f})")
    kbps = result.output_video_kbps
    lines.append(f"output video kbps: {', '.join(f'{p} {v:.0f}' for p, v in kbps.items())}")
    return "\n".join(lines)
