"""The scenario file, as frozen pydantic models: the engine never sees raw dicts.

Every name a scenario uses (network profile, device, video preset, node) is checked here,
once, so a typo is a one-line error at load time and not a KeyError deep in a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from roomsim.codecs import get_codec
from roomsim.codecs.video_presets import DEFAULT_SIMULCAST, VIDEO_PRESETS
from roomsim.devices import DEVICE_PRESETS
from roomsim.errors import ScenarioError
from roomsim.loader import load_model, validate
from roomsim.netprofiles import NETWORK_PRESETS

TOPOLOGIES = ("mesh", "mcu", "sfu")
TopologyName = Literal["mesh", "mcu", "sfu"]


class Frozen(BaseModel):
    """Base of every scenario model: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NetworkSpec(Frozen):
    """An access link pair; any field left out comes from `preset`."""

    preset: str | None = None
    uplink_kbps: PositiveFloat | None = None
    downlink_kbps: PositiveFloat | None = None
    rtt_ms: NonNegativeFloat | None = None
    jitter_ms: NonNegativeFloat | None = None
    loss_pct: Annotated[float, Field(ge=0, lt=100)] | None = None
    queue_ms: PositiveFloat | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in NETWORK_PRESETS:
            raise ValueError(f"unknown network preset {value!r}; known: {', '.join(NETWORK_PRESETS)}")
        return value


class NetworkProfile(Frozen):
    """A fully resolved access network: what the engine builds links from."""

    uplink_kbps: PositiveFloat
    downlink_kbps: PositiveFloat
    rtt_ms: NonNegativeFloat
    jitter_ms: NonNegativeFloat
    loss_pct: Annotated[float, Field(ge=0, lt=100)]
    queue_ms: PositiveFloat


class AudioTrack(Frozen):
    """A microphone: one Opus (or G.711) stream of fixed-duration frames."""

    kind: Literal["audio"]
    name: str = "mic"
    codec: Literal["opus", "g711"] = "opus"
    bitrate_kbps: PositiveFloat | None = None
    frame_ms: Literal[10, 20, 40, 60] = 20
    dtx: bool = False

    def effective_bitrate_kbps(self) -> float:
        """The scenario's bitrate, or the codec's default."""
        return self.bitrate_kbps or get_codec(self.codec).default_bitrate_kbps


class VideoLayer(Frozen):
    """One encoding of a video track (a simulcast layer)."""

    resolution: str
    bitrate_kbps: PositiveFloat
    fps: PositiveFloat


class VideoTrack(Frozen):
    """A camera or screen share; with `simulcast`, several layers from named presets."""

    kind: Literal["video", "screen"]
    name: str = "camera"
    codec: Literal["vp8", "vp9", "h264", "av1"] = "vp8"
    resolution: str = "720p"
    fps: PositiveFloat | None = None
    bitrate_kbps: PositiveFloat | None = None
    simulcast: bool | list[str] = False

    @field_validator("resolution")
    @classmethod
    def _known_resolution(cls, value: str) -> str:
        if value not in VIDEO_PRESETS:
            raise ValueError(f"unknown resolution {value!r}; known: {', '.join(VIDEO_PRESETS)}")
        return value

    @model_validator(mode="after")
    def _layers_valid(self) -> VideoTrack:
        if isinstance(self.simulcast, list):
            top = VIDEO_PRESETS[self.resolution][1]
            for name in self.simulcast:
                if name not in VIDEO_PRESETS:
                    raise ValueError(f"simulcast: unknown layer {name!r}")
                if VIDEO_PRESETS[name][1] > top:
                    raise ValueError(f"simulcast: layer {name} is above the track's {self.resolution}")
        return self

    def layers(self) -> list[VideoLayer]:
        """Encodings lowest first; the top one is the track's own resolution/bitrate/fps."""
        width, height, preset_kbps, preset_fps = VIDEO_PRESETS[self.resolution]
        top = VideoLayer(resolution=self.resolution, bitrate_kbps=self.bitrate_kbps or preset_kbps,
                         fps=self.fps or preset_fps)
        if self.simulcast is False:
            return [top]
        names = DEFAULT_SIMULCAST.get(self.resolution, [self.resolution]) \
            if self.simulcast is True else list(self.simulcast)
        lower = sorted({n for n in names if n != self.resolution}, key=lambda n: VIDEO_PRESETS[n][1])
        out = [VideoLayer(resolution=n, bitrate_kbps=VIDEO_PRESETS[n][2],
                          fps=min(VIDEO_PRESETS[n][3], top.fps)) for n in lower]
        return [*out, top]


Track = Annotated[AudioTrack | VideoTrack, Field(discriminator="kind")]


class VoiceActivity(Frozen):
    """When a participant speaks: always, or alternating talk-spurts and pauses.

    Defaults are the mean talk-spurt (1.004 s) and pause (1.587 s) of ITU-T P.59 (1993),
    "Artificial conversational speech", Table 1; durations drawn exponentially.
    """

    model: Literal["continuous", "talkspurt"] = "continuous"
    talk_mean_s: PositiveFloat = 1.004
    pause_mean_s: PositiveFloat = 1.587


class ParticipantGroup(Frozen):
    """One participant, or `count` alike ones named id-1 .. id-N."""

    id: str = Field(min_length=1)
    count: PositiveInt = 1
    device: str = "desktop"
    network: str | NetworkSpec = "wifi"
    region: str | None = None
    tracks: list[Track] = []
    subscribe: bool = True
    join_s: NonNegativeFloat = 0.0
    leave_s: PositiveFloat | None = None
    voice: VoiceActivity = VoiceActivity()

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in DEVICE_PRESETS:
            raise ValueError(f"unknown device {value!r}; known: {', '.join(DEVICE_PRESETS)}")
        return value

    @model_validator(mode="after")
    def _tracks_named_once(self) -> ParticipantGroup:
        names = [t.name for t in self.tracks]
        if len(names) != len(set(names)):
            raise ValueError("two tracks share a name; give each track its own `name`")
        if self.leave_s is not None and self.leave_s <= self.join_s:
            raise ValueError("leave_s must be after join_s")
        return self

    def member_ids(self) -> list[str]:
        """Participant ids this entry stands for."""
        return [self.id] if self.count == 1 else [f"{self.id}-{i}" for i in range(1, self.count + 1)]


class Room(Frozen):
    """A room: every participant may subscribe to every track in it."""

    id: str = Field(min_length=1)
    node: str | None = None
    participants: list[ParticipantGroup] = Field(min_length=1)


class Node(Frozen):
    """A media server. `cores` are vCPUs (hardware threads), as cloud providers count them.

    `max_queue_ms` bounds how long work may wait for a core before the node drops it (its
    socket buffers overflow); 200 ms is a model choice, not a measured figure.
    """

    id: str = Field(min_length=1)
    cores: PositiveFloat = 16
    nic_mbps: PositiveFloat = 10_000
    region: str = "default"
    max_queue_ms: PositiveFloat = 200


class MeshOptions(Frozen):
    """P2P mesh. `encoder_per_peer`: browsers run one encoder per RTCPeerConnection."""

    encoder_per_peer: bool = False


class SfuOptions(Frozen):
    """SFU forwarding: simulcast layer per subscriber chosen to fit `headroom` x downlink."""

    simulcast: bool = True
    headroom: Annotated[float, Field(gt=0, le=1)] = 0.9


class McuOptions(Frozen):
    """MCU mixing: audio minus-one per participant, a video composite per participant."""

    audio_bitrate_kbps: PositiveFloat | None = None
    video_codec: Literal["vp8", "vp9", "h264", "av1"] = "vp8"
    output_resolution: str = "720p"
    output_fps: PositiveFloat | None = None
    output_bitrate_kbps: PositiveFloat | None = None
    layout: Literal["grid", "speaker"] = "grid"
    jitter_buffer_ms: NonNegativeFloat = 40.0

    @field_validator("output_resolution")
    @classmethod
    def _known_resolution(cls, value: str) -> str:
        if value not in VIDEO_PRESETS:
            raise ValueError(f"unknown resolution {value!r}")
        return value


class TopologySpec(Frozen):
    """Which topology `roomsim run` uses by default, and each topology's options."""

    kind: TopologyName = "sfu"
    mesh: MeshOptions = MeshOptions()
    sfu: SfuOptions = SfuOptions()
    mcu: McuOptions = McuOptions()


class EngineOptions(Frozen):
    """Engine knobs. `tick_ms` only batches work: results do not depend on it."""

    tick_ms: Annotated[float, Field(gt=0, le=100)] = 50.0
    drain_s: PositiveFloat = 10.0


class Scenario(Frozen):
    """A whole scenario file."""

    name: str = Field(min_length=1)
    description: str = ""
    duration_s: PositiveFloat = 30.0
    warmup_s: NonNegativeFloat = 2.0
    seed: int = 1
    costs: str = "default"
    networks: dict[str, NetworkSpec] = {}
    nodes: list[Node] = [Node(id="server-1")]
    rooms: list[Room] = Field(min_length=1)
    topology: TopologySpec = TopologySpec()
    engine: EngineOptions = EngineOptions()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.warmup_s + 1.0 > self.duration_s:
            raise ValueError("duration_s must exceed warmup_s by at least 1 s")
        _unique([n.id for n in self.nodes], "node id")
        _unique([r.id for r in self.rooms], "room id")
        _unique([pid for r in self.rooms for g in r.participants for pid in g.member_ids()],
                "participant id")
        node_ids = {n.id for n in self.nodes}
        for room in self.rooms:
            if room.node is not None and room.node not in node_ids:
                raise ValueError(f"room {room.id!r} names unknown node {room.node!r}")
            for group in room.participants:
                if isinstance(group.network, str) and group.network not in self.networks \
                        and group.network not in NETWORK_PRESETS:
                    raise ValueError(f"participant {group.id!r}: unknown network {group.network!r}")
        for name, spec in self.networks.items():
            self.resolve_network(spec, where=f"networks.{name}")
        for room in self.rooms:
            for group in room.participants:
                self.network_of(group)
        return self

    def network_of(self, group: ParticipantGroup) -> NetworkProfile:
        """The resolved access network of a participant group."""
        spec = group.network
        if isinstance(spec, str):
            spec = self.networks.get(spec) or NetworkSpec(preset=spec)
        return self.resolve_network(spec, where=f"participant {group.id!r}")

    def resolve_network(self, spec: NetworkSpec, where: str) -> NetworkProfile:
        """Fill a NetworkSpec's blanks from its preset; all fields must end up set."""
        base: dict[str, object] = dict(NETWORK_PRESETS[spec.preset]) if spec.preset else {}
        base.pop("source", None)
        base.update(spec.model_dump(exclude_none=True, exclude={"preset"}))
        missing = [f for f in NetworkProfile.model_fields if f not in base]
        if missing:
            raise ValueError(f"{where}: network needs {', '.join(missing)} (or a preset)")
        return NetworkProfile.model_validate(base)

    def node_of(self, room: Room) -> Node:
        """The node that hosts a room (the first node unless the room names one)."""
        if room.node is None:
            return self.nodes[0]
        return next(n for n in self.nodes if n.id == room.node)


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (raises ScenarioError, one line)."""
    return load_model(Scenario, Path(path))


def scenario_from_dict(raw: dict, source: str = "<dict>") -> Scenario:
    """Validate an already-parsed scenario mapping (used by sweeps and notebooks)."""
    return validate(Scenario, raw, source)


__all__ = ["TOPOLOGIES", "Scenario", "ScenarioError", "load_scenario", "scenario_from_dict"]
