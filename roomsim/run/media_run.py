"""Real-media MCU runs from a scenario: which room, codecs and layout the PyAV MCU uses."""

from __future__ import annotations

import re
from pathlib import Path

from roomsim.codecs.costs import load_profile
from roomsim.codecs.realmedia import run_mcu
from roomsim.codecs.realmedia_result import RealMediaResult
from roomsim.codecs.realmedia_room import RealMediaRoom
from roomsim.errors import ScenarioError
from roomsim.scenario.media import AudioTrack, VideoTrack
from roomsim.scenario.scenario import Scenario

#: A real-media run decodes and encodes every stream for real: rooms beyond this size
#: would take minutes of CPU per simulated second, so they are refused up front.
MAX_REAL_MEDIA_PARTICIPANTS = 9


def room_from_scenario(scenario: Scenario, duration_s: float | None, seed: int | None) -> RealMediaRoom:
    """The real-media room for a scenario's first room: its publishers, the first audio
    and video track's codecs (taken as every publisher's), the MCU's layout and output."""
    room = scenario.rooms[0]
    ids: list[str] = []
    audio: AudioTrack | None = None
    video: VideoTrack | None = None
    for group in room.participants:
        if not group.tracks:
            continue
        ids.extend(group.member_ids())
        audio = audio or next((t for t in group.tracks if isinstance(t, AudioTrack)), None)
        video = video or next((t for t in group.tracks if isinstance(t, VideoTrack)), None)
    if len(ids) < 2 or audio is None or video is None:
        raise ScenarioError("real-media MCU needs at least two publishers with an audio and a video track",
                            field=f"rooms[0] ({room.id})")
    if len(ids) > MAX_REAL_MEDIA_PARTICIPANTS:
        raise ScenarioError(f"real-media MCU runs at most {MAX_REAL_MEDIA_PARTICIPANTS} publishers "
                            f"(this room has {len(ids)}); use the cost model (no --real-media) for more",
                            field=f"rooms[0] ({room.id})")
    top = video.layers()[-1]
    mcu = scenario.topology.mcu
    return RealMediaRoom(
        participants=tuple(_safe_id(p) for p in ids),
        audio_codec=audio.codec, audio_bitrate_bps=round(audio.effective_bitrate_kbps() * 1000),
        video_codec=video.codec, video_resolution=top.resolution, fps=round(top.fps),
        video_bitrate_bps=round(top.bitrate_kbps * 1000),
        duration_s=duration_s or scenario.duration_s, layout=mcu.layout,
        output_resolution=mcu.output_resolution,
        output_bitrate_bps=round(mcu.output_bitrate_kbps * 1000) if mcu.output_bitrate_kbps else None,
        seed=scenario.seed if seed is None else seed)


def _safe_id(participant: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", participant)


def run_real_media(scenario: Scenario, out_dir: Path, duration_s: float | None = None,
                   seed: int | None = None) -> RealMediaResult:
    """Run the scenario's first room through the real PyAV MCU; media and result.json go
    to out_dir. CPU predictions come from the scenario's cost profile."""
    room = room_from_scenario(scenario, duration_s, seed)
    return run_mcu(room, out_dir, load_profile(scenario.costs))
