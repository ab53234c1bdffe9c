"""Where rooms run: media nodes (cores, NIC, region, server profile), the clustered
deployment and relays between nodes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
)

from roomsim.codecs.server_profiles import DEFAULT_SERVER_PROFILE, load_server_profile
from roomsim.scenario.frozen import Frozen


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
