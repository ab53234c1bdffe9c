"""The scenario file, as frozen pydantic models: the engine never sees raw dicts.

Every name a scenario uses (network profile, device, video preset, node) is checked here,
once, so a typo is a one-line error at load time and not a KeyError deep in a run.
"""

from __future__ import annotations

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)

from roomsim.errors import FieldError, unknown_name
from roomsim.scenario.deployment import ClusterOptions, Node, RelayOptions
from roomsim.scenario.frozen import Frozen
from roomsim.scenario.gate import CapacitySpec, QualityGate
from roomsim.scenario.netprofiles import NETWORK_PRESETS
from roomsim.scenario.network import LinkTrace, NetworkProfile, NetworkSpec, Regions
from roomsim.scenario.participants import ParticipantGroup, Room
from roomsim.scenario.room_sets import RoomSet, generate_rooms
from roomsim.scenario.topology import EngineOptions, TopologySpec
from roomsim.scenario.transport import WireOptions


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
    #: The quality gate `run`/`compare` judge this scenario by (default: roomsim.results.gate's).
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
