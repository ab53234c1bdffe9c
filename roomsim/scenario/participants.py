"""Who is in a room: participant groups (people, agents, SIP callers, egress, ingress) and
the rooms they join."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.scenario.agents import AgentSpec, TurnTaking
from roomsim.scenario.data import DataSpec, RoomMetadata
from roomsim.scenario.devices import DEVICE_PRESETS
from roomsim.scenario.extensions import EgressSpec, IngressSpec, SipSpec
from roomsim.scenario.frozen import Frozen
from roomsim.scenario.media import Track, VoiceActivity
from roomsim.scenario.names import known
from roomsim.scenario.network import NetworkSpec
from roomsim.scenario.topology import known_layout
from roomsim.scenario.transport import Grants, TransportSpec, coerce_transport

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
        return None if value is None else known_layout(value)

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
