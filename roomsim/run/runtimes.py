"""Processes that ride on a run besides the media engine: voice agents and turn-taking
users, the data plane, the room's extensions. `attach` wires whichever a scenario uses
into the world after the topology has started and before the clock runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roomsim.errors import ScenarioError
from roomsim.scenario.scenario import Scenario

if TYPE_CHECKING:  # `refuse` is on validate's path, which must not import the engine
    from roomsim.topologies.base import Topology
    from roomsim.workload.world import World


def refuse(scenario: Scenario, topology: str) -> None:
    """Runs the real system would refuse: end-to-end encrypted media through an MCU."""
    if topology != "mcu":
        return
    for r, room in enumerate(scenario.rooms):
        for k, group in enumerate(room.participants):
            if group.e2ee:
                raise ScenarioError("end-to-end encryption cannot go through an MCU (a server that mixes must "
                                    "decode the media); run sfu or mesh", field=f"rooms[{r}].participants[{k}].e2ee")


def attach(world: World, model: Topology) -> None:
    """Create and start the runtimes the scenario needs (results read them back)."""
    groups = [p.group for p in world.participants]
    if any(g.agent is not None or g.turns is not None for g in groups):
        from roomsim.agents.runtime import AgentRuntime

        world.agents = AgentRuntime(world)
        world.agents.start()
    if any(g.data.sends_anything() for g in groups) or any(r.metadata is not None for r in world.scenario.rooms):
        from roomsim.dataplane.engine import DataPlane

        world.dataplane = DataPlane(world, model)
        world.dataplane.start()
    if any(g.kind in ("sip", "egress", "ingress") for g in groups):
        from roomsim.extensions.runtime import Extensions

        world.extensions = Extensions(world)
