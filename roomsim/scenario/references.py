"""Cross-field checks of a validated scenario: what one field names must exist elsewhere.

A scenario can be well-typed field by field and still unusable as a whole: an SFU room
with no node to run on, a participant in a region with no backbone path to its node, a
cost profile file that is not there, a trace whose link pattern matches no link. These
used to surface mid-run (or never); here they are one-line errors at load time, so
`roomsim validate` refuses everything `roomsim run` would.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, NoReturn

import yaml

from roomsim.errors import ScenarioError
from roomsim.scenario.loader import field_path, line_of

if TYPE_CHECKING:
    from roomsim.scenario.scenario import Scenario

#: Largest cost profile file read (the bundled one is ~10 kB).
MAX_PROFILE_BYTES = 1 << 20
#: Most regions a `regions` graph may have: every pair's shortest path is computed and
#: kept (roomsim.sfu.cascade), which grows with the cube of a long chain's length. Public
#: clouds have a few dozen regions each; 256 leaves room for modelling points of presence.
MAX_REGIONS = 256
#: Most media nodes: each gets NIC links, a CPU pool and stats in the routing store.
MAX_NODES = 10_000


def check_references(scenario: Scenario, source: str, node: yaml.Node | None = None) -> None:
    """Raise a one-line ScenarioError for the first reference that points nowhere."""

    def fail(message: str, *loc: int | str) -> NoReturn:
        raise ScenarioError(message, file=source, field=field_path(loc) or None,
                            line=line_of(node, loc))

    if not scenario.nodes:
        fail("at least one node is needed: SFU and MCU rooms run on a media node "
             "(e.g. nodes: [{id: server-1}])", "nodes")
    if len(scenario.nodes) > MAX_NODES:
        fail(f"{len(scenario.nodes):,} nodes; at most {MAX_NODES:,}", "nodes")
    if scenario.regions is not None and len(scenario.regions.names()) > MAX_REGIONS:
        fail(f"{len(scenario.regions.names()):,} regions; at most {MAX_REGIONS} (every pair's "
             "shortest path is kept)", "regions", "links")
    _check_regions_reachable(scenario, fail)
    problem = cost_profile_problem(scenario.costs)
    if problem:
        fail(problem, "costs")
    names = link_names(scenario)
    for i, trace in enumerate(scenario.traces):
        if not any(fnmatchcase(name, trace.link) for name in names):
            fail(f"no link matches {trace.link!r} (links are named like {names[0]!r}, "
                 f"'{scenario.nodes[0].id}/nic-out')", "traces", i, "link")


def _check_regions_reachable(scenario: Scenario, fail: Callable[..., NoReturn]) -> None:
    """Every participant's region has a backbone path to the region of each node its room
    may run on (its own node; any node when a cluster places rooms)."""
    if scenario.regions is None:
        return
    import networkx as nx  # only scenarios with regions need it (~0.1 s to import)

    graph = nx.Graph()
    graph.add_edges_from((link.a, link.b) for link in scenario.regions.links)
    for r, room in enumerate(scenario.rooms):
        nodes = scenario.nodes if scenario.cluster is not None else [scenario.node_of(room)]
        for g, group in enumerate(room.participants):
            if group.region is None:
                continue
            for host in nodes:
                if not nx.has_path(graph, group.region, host.region):
                    fail(f"region {group.region!r} has no backbone path to node {host.id!r} "
                         f"in region {host.region!r}; add a link to `regions.links`",
                         "rooms", r, "participants", g, "region")


def cost_profile_problem(costs: str) -> str | None:
    """Why `costs` names no usable profile (a bundled name, or a JSON file), or None."""
    from importlib import resources
    from pathlib import Path

    from pydantic import ValidationError

    from roomsim.codecs.costs import CostProfile
    from roomsim.scenario.loader import read_limited

    bundled = resources.files("roomsim.codecs").joinpath(f"profiles/{costs}.json")
    path = Path(costs)
    if path.suffix != ".json" and not path.exists():
        return None if bundled.is_file() else (
            f"no bundled cost profile {costs!r} and no such file (bundled: default; "
            "or a JSON file written by `roomsim calibrate`)")
    try:
        text = read_limited(path, MAX_PROFILE_BYTES)
        CostProfile.model_validate_json(text)
    except ScenarioError as exc:
        return f"cost profile {exc}"
    except ValidationError as exc:
        return f"cost profile {costs}: not a roomsim cost profile ({exc.errors()[0]['msg']})"
    return None


def link_names(scenario: Scenario) -> list[str]:
    """Every link a run may build, named as the engine names them (roomsim.workload.world,
    topologies.servers, sfu.relays, sfu.cascade): participant access links, node NICs,
    TURN relay legs and backbone directions."""
    names = [f"{pid}/{way}" for room in scenario.rooms for group in room.participants
             for pid in group.member_ids() for way in ("up", "down")]
    names += [f"{node.id}/nic-{way}" for node in scenario.nodes for way in ("in", "out")]
    if scenario.relays is not None:
        names += [f"turn-{k + 1}/{leg}" for k in range(scenario.relays.servers)
                  for leg in ("to-node", "to-client")]
    if scenario.regions is not None:
        names += [f"backbone:{x}>{y}" for link in scenario.regions.links
                  for x, y in ((link.a, link.b), (link.b, link.a))]
    return names
