"""The scenario file, as frozen pydantic models: the engine never sees raw dicts.

Every name a scenario uses (network profile, device, video preset, node) is checked here,
once, so a typo is a one-line error at load time and not a KeyError deep in a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from roomsim.agents.spec import AgentSpec, TurnTaking
from roomsim.codecs import get_codec
from roomsim.codecs.server_profiles import DEFAULT_SERVER_PROFILE, load_server_profile
from roomsim.codecs.video_presets import DEFAULT_SIMULCAST, VIDEO_PRESETS
from roomsim.dataplane.spec import DataSpec, RoomMetadata
from roomsim.devices import DEVICE_PRESETS
from roomsim.errors import FieldError, ScenarioError, unknown_name
from roomsim.extensions.spec import EgressSpec, IngressSpec, SipSpec
from roomsim.frozen import Frozen
from roomsim.gate import QualityGate
from roomsim.limits import check_expansion, check_numbers
from roomsim.loader import read_yaml, validate
from roomsim.netprofiles import NETWORK_PRESETS
from roomsim.references import check_references
from roomsim.transport.options import Grants, TransportSpec, WireOptions, coerce_transport

TOPOLOGIES = ("mesh", "mcu", "sfu")
TopologyName = Literal["mesh", "mcu", "sfu"]


def known(value: str, names: Iterable[str], what: str) -> str:
    """`value` if it names one of `names`, else the one-line error users see."""
    choices = list(names)
    if value not in choices:
        raise ValueError(unknown_name(value, choices, what))
    return value


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
        return None if value is None else known(value, NETWORK_PRESETS, "network preset")


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
    #: A load generator's packet rate instead of codec frames, to replay a benchmark as it
    #: was run: `lk load-test` sends 30 packets/s (livekit-cli pkg/loadtester/
    #: loadtestprovider.go, SampleDuration = time.Second / 30). Overrides `frame_ms`.
    packets_per_s: Annotated[float, Field(gt=0, le=1000)] | None = None
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
    #: Explicit simulcast encodings (resolution, bitrate, fps each), as a load tester or an
    #: application configures them, instead of the preset ladder; the highest one is the
    #: track's own `resolution`.
    encodings: list[VideoLayer] | None = None
    #: Scalable coding instead of simulcast: one stream whose spatial layers follow the
    #: simulcast ladder (L3 = three resolutions) and whose frames split into temporal
    #: layers (T3 = three). Spatial layers need a codec with spatial SVC (VP9, AV1).
    svc: Literal["L1T2", "L1T3", "L2T2", "L2T3", "L3T2", "L3T3"] | None = None

    @field_validator("resolution")
    @classmethod
    def _known_resolution(cls, value: str) -> str:
        return known(value, VIDEO_PRESETS, "resolution")

    @model_validator(mode="after")
    def _layers_valid(self) -> VideoTrack:
        if isinstance(self.simulcast, list):
            top = VIDEO_PRESETS[self.resolution][1]
            for name in self.simulcast:
                if name not in VIDEO_PRESETS:
                    raise ValueError(f"simulcast: unknown layer {name!r}")
                if VIDEO_PRESETS[name][1] > top:
                    raise ValueError(f"simulcast: layer {name} is above the track's {self.resolution}")
        if self.encodings is not None:
            names = [e.resolution for e in self.encodings]
            for name in names:
                known(name, VIDEO_PRESETS, "encodings.resolution")
            if len(set(names)) != len(names):
                raise ValueError("encodings: one encoding per resolution")
            if max(names, key=lambda n: VIDEO_PRESETS[n][1]) != self.resolution:
                raise ValueError(f"encodings: the highest must be the track's {self.resolution}")
            if self.svc is not None or self.simulcast is not False:
                raise ValueError("encodings replace `simulcast` and exclude `svc`")
            if self.bitrate_kbps is not None or self.fps is not None:
                raise ValueError("encodings give each layer's bitrate and fps; leave the "
                                 "track's bitrate_kbps and fps unset")
        if self.svc is not None:
            if self.simulcast is True:
                raise ValueError("svc and simulcast: true exclude each other (svc takes its "
                                 "spatial layers from the ladder, or from a `simulcast` list)")
            if self.svc[1] != "1" and self.codec not in ("vp9", "av1"):
                raise ValueError(f"svc {self.svc}: spatial layers need vp9 or av1, "
                                 f"not {self.codec}")
        return self

    def layers(self) -> list[VideoLayer]:
        """Encodings lowest first; the top one is the track's own resolution/bitrate/fps."""
        if self.encodings is not None:
            return sorted(self.encodings, key=lambda e: VIDEO_PRESETS[e.resolution][1])
        width, height, preset_kbps, preset_fps = VIDEO_PRESETS[self.resolution]
        top = VideoLayer(resolution=self.resolution, bitrate_kbps=self.bitrate_kbps or preset_kbps,
                         fps=self.fps or preset_fps)
        if self.simulcast is False and (self.svc is None or self.svc[1] == "1"):
            return [top]
        if isinstance(self.simulcast, list):
            names = list(self.simulcast)
        else:
            names = DEFAULT_SIMULCAST.get(self.resolution, [self.resolution])
        lower = sorted({n for n in names if n != self.resolution}, key=lambda n: VIDEO_PRESETS[n][1])
        out = [VideoLayer(resolution=n, bitrate_kbps=VIDEO_PRESETS[n][2],
                          fps=min(VIDEO_PRESETS[n][3], top.fps)) for n in lower]
        if self.svc is not None:
            out = out[len(out) - (int(self.svc[1]) - 1):] if int(self.svc[1]) > 1 else []
        return [*out, top]


Track = Annotated[AudioTrack | VideoTrack, Field(discriminator="kind")]


class VoiceActivity(Frozen):
    """When a participant speaks: always, alternating talk-spurts and pauses on its own,
    or taking turns in its room's conversation.

    Defaults are ITU-T P.59 (1993), "Artificial conversational speech", Table 1: mean
    talk-spurt 1.004 s, pause 1.587 s, double talk 0.228 s, mutual silence 0.508 s;
    durations drawn exponentially. `conversation` (roomsim.conversation) lets one holder
    speak at a time: after each talk-spurt the holder keeps the floor with probability
    `hold_p` (after a mutual silence), or hands it to another participant chosen by
    `weight`, after a mutual silence or, with probability `overlap_p`, talking over the
    end of the spurt (double talk). `hold_p` and `overlap_p` are modelling choices; a
    `weight` of 0 makes a listener who never takes the floor.
    """

    model: Literal["continuous", "talkspurt", "conversation"] = "continuous"
    talk_mean_s: PositiveFloat = 1.004
    pause_mean_s: PositiveFloat = 1.587
    gap_mean_s: PositiveFloat = 0.508
    overlap_mean_s: PositiveFloat = 0.228
    hold_p: Annotated[float, Field(ge=0, lt=1)] = 0.6
    overlap_p: Annotated[float, Field(ge=0, le=1)] = 0.1
    weight: NonNegativeFloat = 1.0


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

    #: What this subscriber's screen shows (SFU): overrides `topology.sfu.layout`.
    layout: str | None = None
    #: Reaches the media node through a TURN relay: True/False, or None to draw it with
    #: probability `relays.share` (per participant, by seed).
    relay: bool | None = None

    @field_validator("layout")
    @classmethod
    def _known_layout_name(cls, value: str | None) -> str | None:
        return None if value is None else _known_layout(value)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        return known(value, DEVICE_PRESETS, "device")

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
    #: what one forwarded packet costs and how a room uses the cores: a bundled server
    #: profile (roomsim.codecs.server_profiles) or a JSON/YAML profile file of one's own
    profile: str = DEFAULT_SERVER_PROFILE

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        load_server_profile(value)  # a bad name or file fails here, naming the field
        return value


LAYOUTS = ("all", "speaker", "livekit-loadtest", "grid-3x3", "grid-4x4", "grid-5x5")


def _known_layout(value: str) -> str:
    """Layout names: all, speaker, or grid-NxN (N from 1 to 16)."""
    if value in ("all", "speaker", "livekit-loadtest"):
        return value
    parts = value.removeprefix("grid-").split("x")
    if value.startswith("grid-") and len(parts) == 2 and parts[0] == parts[1] \
            and parts[0].isdigit() and 1 <= int(parts[0]) <= 16:
        return value
    raise ValueError(f"unknown layout {value!r}; known: {', '.join(LAYOUTS)} (grid-NxN, N <= 16)")


class TraceStep(Frozen):
    """From `at_s` on, the traced links take the fields this step sets (others keep their
    current value). `delay_ms` is one-way propagation delay."""

    at_s: NonNegativeFloat
    rate_kbps: PositiveFloat | None = None
    delay_ms: NonNegativeFloat | None = None
    jitter_ms: NonNegativeFloat | None = None
    loss_pct: Annotated[float, Field(ge=0, lt=100)] | None = None


class LinkTrace(Frozen):
    """A time-varying network trace for every link whose name matches `link` (a glob over
    link names such as "p-1/down", "viewer-*/down", "server-1/nic-out", "backbone:eu>us").
    With `repeat_s`, the steps replay every `repeat_s` seconds."""

    link: str = Field(min_length=1)
    steps: list[TraceStep] = Field(min_length=1)
    repeat_s: PositiveFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LinkTrace:
        times = [step.at_s for step in self.steps]
        if times != sorted(times):
            raise ValueError("steps must be in time order")
        if self.repeat_s is not None and times[-1] >= self.repeat_s:
            raise ValueError("repeat_s must be after the last step")
        return self


class BackboneLink(Frozen):
    """A backbone link between two regions (both directions), e.g. a cloud provider's
    inter-region path: one-way latency, capacity and random loss."""

    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    latency_ms: NonNegativeFloat
    capacity_mbps: PositiveFloat = 100_000.0
    loss_pct: Annotated[float, Field(ge=0, lt=100)] = 0.0


class Regions(Frozen):
    """The region graph: regions are the ends of `links`. Nodes and participants name their
    region; a participant reaching a node in another region (SFU or MCU) crosses the
    backbone's shortest path (networkx) on its way, on top of its access RTT. Mesh runs do
    not model inter-region paths between peers."""

    links: list[BackboneLink] = Field(min_length=1)

    def names(self) -> list[str]:
        """Regions in first-mention order."""
        return list(dict.fromkeys(r for link in self.links for r in (link.a, link.b)))


class ClusterOptions(Frozen):
    """Room placement over the scenario's nodes, as a LiveKit deployment does through Redis:
    the first join of a room asks the shared routing store for the room's node; if none is
    set, a selector picks one from the node stats in the store and writes the mapping.

    `selector`: least-loaded (lowest reported CPU load), fewest-rooms, fewest-clients, or
    random. Nodes report stats every `stats_interval_s` (LiveKit statsUpdateInterval = 2 s,
    pkg/routing/redisrouter.go), so placements between two reports see stale figures. Nodes
    whose reported CPU load is above `cpu_limit` are skipped while others are below it
    (LiveKit CPULoadLimit 0.9, pkg/config/config.go). Placement applies to SFU runs; MCU
    runs keep rooms on the node they name (or the first).
    """

    selector: Literal["least-loaded", "fewest-rooms", "fewest-clients", "random"] = "least-loaded"
    stats_interval_s: PositiveFloat = 2.0
    cpu_limit: Annotated[float, Field(gt=0, le=1)] = 0.9


class RelayOptions(Frozen):
    """TURN relays: `share` of participants (drawn per participant by seed, unless their
    group says `relay`) reach the media node through a TURN server instead of directly.

    The relayed leg adds TURN ChannelData framing (RFC 8656 sec. 12.4) and, over TCP/TLS,
    TCP and TLS record headers to every packet between client and relay; the relay path is
    `extra_rtt_ms` longer than the direct one (a modelling choice). Twilio estimates ~15 %
    of WebRTC sessions need TURN ("Introducing Network Traversal Service", 2014). Relay
    bytes are priced at `price_usd_per_gb` of relay egress (Cloudflare Realtime TURN:
    $0.05/GB outbound, developers.cloudflare.com/realtime/turn). Relays are modelled for the
    SFU (participant <-> node) and the mesh (a peer pair with a relayed peer goes through
    that peer's relay, which shows as a server of the mesh); MCU runs ignore them. The share
    stays 0 by default: set it (e.g. Twilio's 0.15) to price NAT traversal in.
    """

    share: Annotated[float, Field(ge=0, le=1)] = 0.0
    transport: Literal["udp", "tcp", "tls"] = "udp"
    extra_rtt_ms: NonNegativeFloat = 10.0
    servers: PositiveInt = 1
    nic_mbps: PositiveFloat = 10_000.0
    price_usd_per_gb: NonNegativeFloat = 0.05


class Distribution(Frozen):
    """A number drawn per item: fixed `value`; uniform over [low, high]; lognormal with
    `median` and `sigma`; poisson or exponential with `mean`; or one of `values` with
    `weights`. Draws are clamped to [min, max]."""

    kind: Literal["fixed", "uniform", "lognormal", "poisson", "exponential", "choice"] = "fixed"
    value: float | None = None
    low: float | None = None
    high: float | None = None
    median: PositiveFloat | None = None
    sigma: NonNegativeFloat | None = None
    mean: PositiveFloat | None = None
    values: list[float] | None = None
    weights: list[NonNegativeFloat] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_parameters(self) -> Distribution:
        need = {"fixed": ("value",), "uniform": ("low", "high"), "lognormal": ("median", "sigma"),
                "poisson": ("mean",), "exponential": ("mean",), "choice": ("values",)}[self.kind]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} distribution needs {', '.join(missing)}")
        if self.kind == "uniform" and self.high < self.low:  # type: ignore[operator]
            raise ValueError("high must not be below low")
        values = self.values or []
        if self.weights is not None and len(self.weights) != len(values):
            raise ValueError("weights need one entry per value")
        return self


class RoomSet(Frozen):
    """`count` rooms generated from distributions, deterministically by seed: each room has
    `size` participants made from `participant` (its `count` is ignored) plus the fixed
    `extra` groups, all joining at the room's `start_s` (plus their own join_s) and, with
    `stay_s`, leaving that long after. Rooms are named {id}-1 .. {id}-count."""

    id: str = Field(min_length=1)
    count: PositiveInt
    size: Distribution
    participant: ParticipantGroup
    extra: list[ParticipantGroup] = []
    start_s: Distribution = Distribution(kind="fixed", value=0.0)
    stay_s: Distribution | None = None
    node: str | None = None
    seed: int | None = None


class CapacitySpec(Frozen):
    """`roomsim capacity`: the largest value of the integer at dotted path `vary` (e.g.
    rooms.0.participants.1.count, room_sets.0.count) in [low, high] whose run passes `gate`."""

    vary: str = Field(min_length=1)
    low: PositiveInt = 1
    high: PositiveInt = 10_000
    gate: QualityGate | None = None  # default: the scenario's `gate:`, else roomsim.gate's
    duration_s: PositiveFloat = 10.0
    topology: TopologyName | None = None

    @model_validator(mode="after")
    def _range(self) -> CapacitySpec:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        return self


class MeshOptions(Frozen):
    """P2P mesh: one RTCPeerConnection per pair of peers, as browsers do.

    `encoder_per_peer`: one encoder per peer connection (a browser: each RTCPeerConnection
    owns its video sender and encoder) or one encoder whose output every connection shares
    (what a native app built on libwebrtc's lower layers can do); None = per device, true
    for the browser devices (desktop, laptop, phone, low-end-phone).
    `bwe`: `gcc` runs libwebrtc's send-side congestion control per peer connection (the
    estimator in roomsim.transport.gcc, fed by that connection's transport-wide feedback
    every `feedback_ms`, from `start_bitrate_kbps` with probing) and the encoders follow
    its estimate; `off` is the open loop: every copy at its configured bitrate.
    `pacing`: with `gcc`, packets leave through a pacer at 2.5 x the estimate.
    `copy_order`: the order in which copies of one frame made at the same instant enter
    the sender's uplink: `rotating` (which receiver goes first changes from frame to frame,
    deterministically per seed) or `fixed` (by receiver index, the old behaviour).
    `cpu_adaptation`: with `gcc` and per-peer encoders, an encoder whose device cannot keep
    up lowers its resolution as libwebrtc's CPU-overuse detection does.
    See roomsim.topologies.peer_connections for the sources of each default.
    """

    encoder_per_peer: bool | None = None
    bwe: Literal["gcc", "off"] = "gcc"
    pacing: bool = True
    copy_order: Literal["rotating", "fixed"] = "rotating"
    feedback_ms: Annotated[float, Field(ge=10, le=1000)] = 100.0
    start_bitrate_kbps: Annotated[float, Field(gt=0)] = 300.0
    cpu_adaptation: bool = True

    @field_validator("bwe", mode="before")
    @classmethod
    def _off_is_false(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false


class BweOptions(Frozen):
    """How the SFU learns each subscriber's downlink (roomsim.transport.gcc).

    `gcc`: a send-side estimate from transport-wide feedback every `feedback_ms`, delay
    gradient (trendline) and loss based, as libwebrtc's goog_cc; `static`: the configured
    link rate, never re-estimated. 100 ms is libwebrtc's default transport feedback
    interval (RemoteEstimatorProxy, modules/remote_bitrate_estimator/
    remote_estimator_proxy.cc). `probe`: send padding to test for more capacity when a
    subscriber's layers are held down by an estimate below what its path carried before
    (LiveKit's stream allocator probes with padding, pkg/sfu/streamallocator).
    """

    estimator: Literal["gcc", "static"] = "gcc"
    feedback_ms: Annotated[float, Field(ge=10, le=1000)] = 100.0
    probe: bool = True


class KeyframeOptions(Frozen):
    """Keyframe requests (PLI) a layer switch needs.

    `pli_throttle_ms`: at most one request per layer per interval, lowest layer first;
    LiveKit's defaults (PLIThrottle LowQuality 500 ms, MidQuality 1 s, HighQuality 1 s,
    livekit/livekit pkg/config/config.go). `size_factor`: keyframe size over a mean frame;
    None = libwebrtc's VP8 cap (LibvpxVp8Encoder::MaxIntraTarget: 0.5 x the 600 ms optimal
    buffer x fps / 10 percent of a frame, at least 3x; libvpx_vp8_encoder.cc). It applies
    with `wire.frames: constant`; with the default frame-size model the keyframe is that
    model's (`wire.frames.keyframe_factor`, same default).
    """

    pli_throttle_ms: list[PositiveFloat] = Field(default=[500.0, 1000.0, 1000.0], min_length=1)
    size_factor: Annotated[float, Field(ge=1)] | None = None


class SpeakerOptions(Frozen):
    """Active-speaker detection on the media node from per-packet audio levels (RFC 6464).

    Defaults are LiveKit's (AudioConfig in livekit/livekit pkg/config/config.go, algorithm in
    pkg/sfu/audio/audiolevel.go): a participant is active in a 400 ms window when at least
    40 % of it is louder than -35 dBov; levels are smoothed over 2 windows. Speech frames
    carry `speech_level_dbov` (-26 dBov, the active speech level ITU-T test material is
    set to, e.g. P.501/P.863); silent frames carry the RFC 6464 silence value (-127).
    """

    active_level_dbov: Annotated[float, Field(ge=0, le=127)] = 35.0
    min_percentile: Annotated[float, Field(ge=0, le=100)] = 40.0
    update_ms: Annotated[float, Field(ge=20, le=5000)] = 400.0
    smooth_intervals: Annotated[int, Field(ge=0, le=20)] = 2
    speech_level_dbov: Annotated[float, Field(ge=0, le=127)] = 26.0


class SfuOptions(Frozen):
    """SFU forwarding: per subscriber, the layers of each video track that fit `headroom` x
    its downlink estimate, the tracks its `layout` shows, and (with `last_n`) only the
    video of the N most recent speakers.

    `layout`: "all" (every track, best layer that fits), "speaker" (the detected speaker at
    viewport size, the next four as thumbnails), or "grid-NxN" (the N x N most recent
    speakers in tiles of viewport/N). `dynacast`: layers nobody receives are paused at the
    publisher after `dynacast_pause_s` (LiveKit DynacastPauseDelay 5 s, pkg/config/config.go;
    off by default, as LiveKit's client `dynacast` option). `allow_pause`: pause video a
    subscriber cannot take even at its lowest layer (LiveKit CongestionControl.AllowPause,
    default false). `cascade`: a room spreads over one node per region its participants are
    in, relaying each track once per backbone hop (needs `regions`).
    """

    simulcast: bool = True
    headroom: Annotated[float, Field(gt=0, le=1)] = 0.9
    bwe: BweOptions = BweOptions()
    keyframes: KeyframeOptions = KeyframeOptions()
    layout: str = "all"
    last_n: PositiveInt | None = None
    viewport: str = "720p"
    dynacast: bool = False
    dynacast_pause_s: NonNegativeFloat = 5.0
    allow_pause: bool = False
    cascade: bool = False

    @field_validator("layout")
    @classmethod
    def _known_layout_name(cls, value: str) -> str:
        return _known_layout(value)

    @field_validator("viewport")
    @classmethod
    def _known_viewport(cls, value: str) -> str:
        return known(value, VIDEO_PRESETS, "resolution")


class McuOptions(Frozen):
    """MCU mixing: audio minus-one per participant, a video composite per participant.

    `adapt`: each participant's composite is encoded at a rate that follows a GCC
    estimate of its downlink (roomsim.topologies.mcu_rates; feedback every `feedback_ms`);
    off: every composite at the configured output bitrate whatever the downlink.
    `pacing`: with `adapt`, each participant's output leaves through a pacer at 2.5 x its
    estimate (as the mesh's `pacing`); off: every output frame leaves as one burst.
    """

    audio_bitrate_kbps: PositiveFloat | None = None
    video_codec: Literal["vp8", "vp9", "h264", "av1"] = "vp8"
    output_resolution: str = "720p"
    output_fps: PositiveFloat | None = None
    output_bitrate_kbps: PositiveFloat | None = None
    layout: Literal["grid", "speaker"] = "grid"
    jitter_buffer_ms: NonNegativeFloat = 40.0
    adapt: bool = True
    pacing: bool = True
    feedback_ms: Annotated[float, Field(ge=10, le=1000)] = 100.0

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
    speakers: SpeakerOptions = SpeakerOptions()


class EngineOptions(Frozen):
    """Engine knobs. `tick_ms` batches work. Results do not depend on it (tests/
    test_invariants.py; also checked on the webinar, livestream, TURN relay, data plane,
    SIP/egress/ingress and adaptation-trace scenarios, where a 100 ms tick runs sfu-50 ~6 %
    faster), with exceptions that move slightly with it. (1) `talkspurt` and
    `conversation` voices: their simpy processes switch a speaker on or off between ticks,
    and the frames of a tick take the state at its start (DTX and speaker detection).
    (2) SFU cascades: a packet crossing the backbone re-enters an earlier stage in the
    next tick. (3) Voice agents: a small residue, not yet traced (their speech itself is
    scheduled ahead). Measured at 25/50/100 ms ticks: cascade-3-regions' video node-stage
    mean 37.4/37.7/44.2 ms; with conversation voices, golden/relayed.yaml's audio uplink
    mean 15.9/15.8/16.0 ms and cluster-100's first participant's 11.87/11.79/11.63 ms;
    voice-agent's audio p50 at one user 129.48/129.48/129.45 ms. Hence the 50 ms default."""

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
    rooms: list[Room] = []
    topology: TopologySpec = TopologySpec()
    engine: EngineOptions = EngineOptions()
    wire: WireOptions = WireOptions()
    #: Rooms generated from distributions; expanded into `rooms` when validated.
    room_sets: list[RoomSet] = []
    traces: list[LinkTrace] = []
    regions: Regions | None = None
    cluster: ClusterOptions | None = None
    relays: RelayOptions | None = None
    capacity: CapacitySpec | None = None
    #: The quality gate `run`/`compare` judge this scenario by (default: roomsim.gate's).
    gate: QualityGate | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        self._expand_room_sets()
        if not self.rooms:
            raise ValueError("a scenario needs at least one room (in `rooms` or `room_sets`)")
        if self.warmup_s + 1.0 > self.duration_s:
            raise ValueError("duration_s must exceed warmup_s by at least 1 s")
        _unique([n.id for n in self.nodes], "node id")
        _unique([r.id for r in self.rooms], "room id")
        _unique([pid for r in self.rooms for g in r.participants for pid in g.member_ids()],
                "participant id")
        node_ids = {n.id for n in self.nodes}
        for r, room in enumerate(self.rooms):
            if room.node is not None and room.node not in node_ids:
                raise FieldError(unknown_name(room.node, [n.id for n in self.nodes], "node"),
                                 ("rooms", r, "node"))
            for g, group in enumerate(room.participants):
                if isinstance(group.network, str) and group.network not in self.networks \
                        and group.network not in NETWORK_PRESETS:
                    names = [*self.networks, *NETWORK_PRESETS]
                    raise FieldError(unknown_name(group.network, names, "network"),
                                     ("rooms", r, "participants", g, "network"))
        for name, spec in self.networks.items():
            self.resolve_network(spec, where=f"networks.{name}")
        for room in self.rooms:
            for group in room.participants:
                self.network_of(group)
        self._check_regions()
        if self.relays is None:
            relayed = [g.id for r in self.rooms for g in r.participants if g.relay]
            if relayed:
                raise ValueError(f"participant {relayed[0]!r}: relay needs a `relays` block")
        self._check_references()
        return self

    def _expand_room_sets(self) -> None:
        """Generate the room sets' rooms once, into `rooms` (so a dumped scenario validates
        to the same rooms again: the sets are emptied)."""
        if not self.room_sets:
            return
        from roomsim.cluster.rooms import generate_rooms

        generated = [room for spec in self.room_sets for room in
                     generate_rooms(spec, self.seed if spec.seed is None else spec.seed)]
        object.__setattr__(self, "rooms", [*self.rooms, *generated])
        object.__setattr__(self, "room_sets", [])

    def _check_regions(self) -> None:
        """Every region a node or participant names must be in the region graph (if any);
        cascading needs the graph."""
        if self.regions is None:
            if self.topology.sfu.cascade:
                raise ValueError("topology.sfu.cascade needs a `regions` graph")
            return
        known = set(self.regions.names())
        for node in self.nodes:
            if node.region not in known:
                raise ValueError(f"node {node.id!r}: region {node.region!r} is not in `regions`")
        for room in self.rooms:
            for group in room.participants:
                if group.region is not None and group.region not in known:
                    raise ValueError(f"participant {group.id!r}: region {group.region!r} "
                                     "is not in `regions`")

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
    data, node = read_yaml(Path(path))
    return scenario_from_dict(data, str(path), node)


def scenario_from_dict(raw: dict, source: str = "<dict>", node: yaml.Node | None = None) -> Scenario:
    """Validate an already-parsed scenario mapping (used by sweeps and notebooks): numbers
    in range first (roomsim.limits), then the models, then references across fields."""
    check_numbers(raw, source, node)
    check_expansion(raw, source, node)
    scenario = validate(Scenario, raw, source, node)
    check_references(scenario, source, node)
    return scenario


__all__ = ["TOPOLOGIES", "Scenario", "ScenarioError", "load_scenario", "scenario_from_dict"]
