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

from roomsim.agents.spec import AgentSpec, TurnTaking
from roomsim.codecs import get_codec
from roomsim.codecs.video_presets import DEFAULT_SIMULCAST, VIDEO_PRESETS
from roomsim.dataplane.spec import DataSpec, RoomMetadata
from roomsim.devices import DEVICE_PRESETS
from roomsim.errors import ScenarioError
from roomsim.extensions.spec import EgressSpec, IngressSpec, SipSpec
from roomsim.loader import load_model, validate
from roomsim.netprofiles import NETWORK_PRESETS
from roomsim.transport.options import Grants, TransportSpec, coerce_transport

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


ParticipantKind = Literal["person", "agent", "sip", "egress", "ingress"]

#: Kinds that run on servers: unless the scenario says otherwise they sit on the
#: `datacenter` network preset and the `server` device preset.
SERVER_SIDE_KINDS = ("agent", "egress", "ingress")

#: The network of an agent placed on the media node itself: loopback, no delay, no loss
#: (a modelling choice: kernel loopback moves tens of Gbit/s in microseconds).
LOOPBACK_NETWORK = {"uplink_kbps": 40_000_000.0, "downlink_kbps": 40_000_000.0, "rtt_ms": 0.0,
                    "jitter_ms": 0.0, "loss_pct": 0.0, "queue_ms": 5.0}


class ParticipantGroup(Frozen):
    """One participant, or `count` alike ones named id-1 .. id-N.

    `kind` says what connects: a `person`, an AI `agent` (see `agent`), a `sip` caller, an
    `egress` recorder/livestream or an `ingress` stream. `transport` is how its media
    travels (`webrtc` or `websocket`), `grants` what its token allows, `e2ee` whether its
    media is end-to-end encrypted, `data` what it sends on the data plane and `turns`
    whether it talks to an agent in turns.
    """

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
    kind: ParticipantKind = "person"
    transport: TransportSpec = TransportSpec()
    grants: Grants = Grants()
    e2ee: bool = False
    agent: AgentSpec | None = None
    turns: TurnTaking | None = None
    data: DataSpec = DataSpec()
    sip: SipSpec | None = None
    egress: EgressSpec | None = None
    ingress: IngressSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, raw: object) -> object:
        """String shorthand for `transport`; server-side kinds default to a datacenter
        network and server device; an agent on the media node gets a loopback network."""
        if not isinstance(raw, dict):
            return raw
        data = dict(raw)
        if "transport" in data:
            data["transport"] = coerce_transport(data["transport"])
        grants = data.get("grants")
        if isinstance(grants, dict) and grants.get("subscribe") is False:
            if data.get("subscribe") is True:
                raise ValueError("subscribe: receiving media needs grants.subscribe: true")
            data["subscribe"] = False
        kind = data.get("kind", "person")
        if kind in SERVER_SIDE_KINDS:
            data.setdefault("device", "server")
            agent = data.get("agent") if kind == "agent" else None
            placement = agent.get("placement") if isinstance(agent, dict) else None
            if isinstance(placement, dict) and placement.get("site") == "media-node":
                if "network" in data:
                    raise ValueError("network: an agent placed on the media node has no access network; "
                                     "remove `network` or place it in a datacenter")
                data["network"] = dict(LOOPBACK_NETWORK)
            data.setdefault("network", "datacenter")
        if kind == "ingress":
            data.setdefault("subscribe", False)
        if kind == "sip" and "tracks" not in data:
            data["tracks"] = [{"kind": "audio", "codec": "g711"}]
        return data

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

    @model_validator(mode="after")
    def _kind_transport_grants(self) -> ParticipantGroup:
        """One-line refusals for combinations the real system would refuse."""
        if self.tracks and not self.grants.publish:
            raise ValueError(f"tracks: publishing {self.tracks[0].name!r} needs grants.publish: true")
        if self.data.sends_anything() and not self.grants.publish_data:
            raise ValueError("data: sending data needs grants.publish_data: true")
        if self.agent is not None and not self.grants.subscribe:
            raise ValueError("agent: an agent must hear its user; it needs grants.subscribe: true")
        if self.transport.kind == "websocket":
            for track in self.tracks:
                if track.kind != "audio":
                    raise ValueError(f"tracks: transport websocket carries audio only; track {track.name!r} "
                                     f"is {track.kind}")
        for name, spec in (("agent", self.agent), ("sip", self.sip), ("egress", self.egress),
                           ("ingress", self.ingress)):
            if spec is not None and self.kind != name:
                raise ValueError(f"{name}: only a participant of kind {name} takes `{name}` options")
        if self.kind == "agent":
            if self.agent is None:
                raise ValueError("agent: a participant of kind agent needs `agent` options (listens_to, ...)")
            if not any(t.kind == "audio" for t in self.tracks):
                raise ValueError("tracks: an agent speaks; give it an audio track")
        if self.kind == "sip":
            for track in self.tracks:
                if track.kind != "audio" or track.codec != "g711":
                    raise ValueError(f"tracks: a SIP caller sends G.711 audio only; track {track.name!r} is "
                                     f"{track.kind}/{getattr(track, 'codec', '')}")
        if self.kind == "egress" and self.tracks:
            raise ValueError("tracks: an egress records the room; it publishes nothing into it")
        if self.kind == "ingress" and not any(t.kind in ("video", "screen") for t in self.tracks):
            raise ValueError("tracks: an ingress brings a video stream in; give it a video track")
        if self.egress is not None and not self.egress.resolution_ok():
            raise ValueError(f"egress.output_resolution: unknown resolution {self.egress.output_resolution!r}")
        if self.ingress is not None and self.ingress.source_resolution not in VIDEO_PRESETS:
            raise ValueError(f"ingress.source_resolution: unknown resolution {self.ingress.source_resolution!r}")
        return self

    def subscribes(self) -> bool:
        """Whether this participant receives media (wants to and is allowed to)."""
        return self.subscribe and self.grants.subscribe

    def extra_one_way_ms(self) -> float:
        """One-way delay beyond the access network on both of its links: an agent's
        backbone hop, or a SIP caller's telephone-network leg."""
        if self.agent is not None:
            return self.agent.placement.backbone_ms
        if self.kind == "sip":
            return (self.sip or SipSpec()).phone_leg_ms
        return 0.0

    def effective_join_s(self) -> float:
        """When it joins: `join_s`, plus the dispatch delay for an agent."""
        return self.join_s + (self.agent.dispatch_ms / 1000.0 if self.agent is not None else 0.0)

    def member_ids(self) -> list[str]:
        """Participant ids this entry stands for."""
        return [self.id] if self.count == 1 else [f"{self.id}-{i}" for i in range(1, self.count + 1)]


class Room(Frozen):
    """A room: every participant may subscribe to every track in it."""

    id: str = Field(min_length=1)
    node: str | None = None
    participants: list[ParticipantGroup] = Field(min_length=1)
    metadata: RoomMetadata | None = None


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
        self._check_references()
        return self

    def _check_references(self) -> None:
        """Agents, RPC targets and message recipients name participants of their room;
        end-to-end encryption cannot go through an MCU."""
        for r, room in enumerate(self.rooms):
            members = {pid for g in room.participants for pid in g.member_ids()}
            for k, group in enumerate(room.participants):
                where = f"rooms[{r}].participants[{k}]"
                targets: list[tuple[str, str]] = []
                if group.agent is not None:
                    targets.append(("agent.listens_to", group.agent.listens_to))
                targets += [(f"data.rpc[{i}].to", c.to) for i, c in enumerate(group.data.rpc)]
                targets += [(f"data.messages[{i}].to", t) for i, m in enumerate(group.data.messages)
                            for t in m.to or []]
                targets += [(f"data.streams[{i}].to", t) for i, m in enumerate(group.data.streams)
                            for t in m.to or []]
                for field, target in targets:
                    if target not in members:
                        raise ValueError(f"{where}.{field}: no participant {target!r} in room {room.id!r}")
                    if target in group.member_ids():
                        raise ValueError(f"{where}.{field}: a participant cannot target itself")
                if group.e2ee and self.topology.kind == "mcu":
                    raise ValueError(f"{where}.e2ee: end-to-end encryption cannot go through an MCU (a server "
                                     "that mixes must decode the media); use topology sfu or mesh")

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
