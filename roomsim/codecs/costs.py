"""CPU cost profiles: how many seconds of one core each media operation takes.

The engine never guesses a CPU figure: every encode, decode, mix, composite and packet
forward it charges comes from a `CostProfile`. The default profile ships with the package
(`profiles/default.json`), was measured with real PyAV codecs by `roomsim calibrate`, and
records the machine and library versions it was measured on; the SFU forwarding cost is
derived from published benchmarks of real SFUs and names them in `sources`.
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path

from pydantic import Field, PositiveFloat

from roomsim.scenario.frozen import Frozen

#: Resolution presets by name -> (width, height). Shared by codec profiles and costs.
RESOLUTIONS: dict[str, tuple[int, int]] = {
    "90p": (160, 90),
    "180p": (320, 180),
    "216p": (384, 216),
    "360p": (640, 360),
    "540p": (960, 540),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "2160p": (3840, 2160),
}



class FrameCost(Frozen):
    """Core-microseconds to encode and to decode one frame."""

    encode_us: PositiveFloat
    decode_us: PositiveFloat


class ForwardingCost(Frozen):
    """Per-packet SFU cost (receive + SRTP + routing + send), with where it comes from.

    Kept so cost profile files stay valid; the SFU charges the node's server profile
    instead (roomsim/codecs/server_profiles.py; `legacy-17us` holds this figure)."""

    ingress_us_per_packet: float = Field(ge=0)
    egress_us_per_packet: PositiveFloat
    source: str


class MachineInfo(Frozen):
    """Where and with what a profile was measured, so a reader can judge the figures."""

    cpu: str
    platform: str
    python: str
    pyav: str
    ffmpeg: str
    measured_at: str
    notes: str = ""


class CostProfile(Frozen):
    """Measured CPU costs of the media operations the topologies perform.

    `audio[codec]` is per 20 ms frame at the codec's native rate; `video[codec][resolution]`
    per frame at that resolution; `audio_mix_us_per_input` is the cost of adding one decoded
    20 ms input into a mix; `video_composite_us[resolution]` the cost of scaling and placing
    every tile of one composite output frame at that output resolution, per tile.
    """

    schema_version: int = 1
    machine: MachineInfo
    audio: dict[str, FrameCost]
    video: dict[str, dict[str, FrameCost]]
    audio_mix_us_per_input: PositiveFloat
    video_composite_us_per_tile: dict[str, PositiveFloat]
    forwarding: ForwardingCost
    sources: list[str] = []

    def audio_cost(self, codec: str) -> FrameCost:
        """Per-frame audio cost; unknown codecs are a clear error, never a silent zero."""
        try:
            return self.audio[codec]
        except KeyError:
            raise KeyError(f"cost profile has no audio codec {codec!r}") from None

    def video_cost(self, codec: str, resolution: str) -> FrameCost:
        """Per-frame video cost, scaled by pixel count from the nearest measured size.

        Encode/decode time of block-based codecs grows about linearly with pixel count, so
        an unmeasured size borrows the nearest measured one scaled by the pixel ratio.
        """
        try:
            table = self.video[codec]
        except KeyError:
            raise KeyError(f"cost profile has no video codec {codec!r}") from None
        if resolution in table:
            return table[resolution]
        pixels = _pixels(resolution)
        nearest = min(table, key=lambda name: abs(_pixels(name) - pixels))
        ratio = pixels / _pixels(nearest)
        base = table[nearest]
        return FrameCost(encode_us=base.encode_us * ratio, decode_us=base.decode_us * ratio)

    def composite_us_per_tile(self, resolution: str) -> float:
        """Compositing cost per tile at an output resolution (pixel-scaled if unmeasured)."""
        table = self.video_composite_us_per_tile
        if resolution in table:
            return table[resolution]
        pixels = _pixels(resolution)
        nearest = min(table, key=lambda name: abs(_pixels(name) - pixels))
        return table[nearest] * pixels / _pixels(nearest)


def _pixels(resolution: str) -> int:
    width, height = RESOLUTIONS[resolution]
    return width * height


DEFAULT_PROFILE = "default"


def load_profile(name_or_path: str = DEFAULT_PROFILE) -> CostProfile:
    """Load a bundled profile by name (e.g. "default") or a profile JSON file by path."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        text = path.read_text()
    else:
        text = resources.files("roomsim.codecs").joinpath(f"profiles/{name_or_path}.json").read_text()
    return CostProfile.model_validate(json.loads(text))


def save_profile(profile: CostProfile, path: Path) -> None:
    """Write a profile atomically: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(profile.model_dump_json(indent=2))
        handle.write("\n")
    os.replace(tmp, path)
