"""Regions, backbone links and cascaded rooms.

The `regions` graph (a networkx Graph, edge weight = one-way latency) gives every pair of
regions a shortest path. Each backbone edge becomes two links (one per direction) with
its capacity, latency and loss. A cascaded room has one node per region its participants
are in; a track travels from its publisher's node to every other node of the room that
has subscribers for it along the union of shortest paths (a multicast tree), one copy per
backbone link whatever the number of subscribers behind it. Regions on the tree that host
a node of the room relay through that node (its NIC and CPU); others only pass the copy
from link to link.

A tree is cut into segments: each runs from one room node to the next room node along the
tree and is a chain of steps (one per backbone link). Packets on a segment carry the
negative step id in their `sub` field until they reach the segment's end node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from roomsim.scenario.network import Regions
from roomsim.sim.metrics import NS
from roomsim.sim.resources import LinkTable
from roomsim.sim.rng import stream_key

#: Queue a backbone link holds before drop-tail (a modelling choice: a provisioned backbone).
BACKBONE_QUEUE_NS = 50_000_000


class RegionGraph:
    """Shortest paths between regions and the backbone links between them."""

    def __init__(self, regions: Regions) -> None:
        import networkx as nx  # only runs with regions need it (~0.1 s to import)

        self.graph = nx.Graph()
        for link in regions.links:
            self.graph.add_edge(link.a, link.b, latency_ms=link.latency_ms, spec=link)
        self.distance = dict(nx.all_pairs_dijkstra_path_length(self.graph, weight="latency_ms"))
        self.paths = dict(nx.all_pairs_dijkstra_path(self.graph, weight="latency_ms"))
        self.link_of: dict[tuple[str, str], int] = {}

    def latency_ns(self, a: str, b: str) -> int:
        """One-way latency of the shortest path between two regions."""
        return round(self.distance[a][b] * 1e6)

    def nearest(self, region: str, candidates: list[str]) -> str:
        """The candidate region closest to `region` (ties by name)."""
        return min(candidates, key=lambda c: (self.distance[region][c], c))

    def add_links(self, links: LinkTable, seed: int) -> None:
        """One link per direction of every backbone edge: backbone:a>b."""
        for a, b, data in self.graph.edges(data=True):
            spec = data["spec"]
            for x, y in ((a, b), (b, a)):
                name = f"backbone:{x}>{y}"
                self.link_of[(x, y)] = links.add(
                    name,
                    spec.capacity_mbps * 1e6,
                    round(spec.latency_ms * 1e6),
                    0.0,
                    spec.loss_pct / 100,
                    BACKBONE_QUEUE_NS,
                    stream_key(seed, f"link:{name}"),
                )


@dataclass
class Segments:
    """The step table shared by all trees: step -> (link, next step, end node)."""

    link: list[int] = field(default_factory=list)
    next: list[int] = field(default_factory=list)
    end_node: list[int] = field(default_factory=list)
    end_region: list[str] = field(default_factory=list)
    by_key: dict[tuple[int, tuple[str, ...]], int] = field(default_factory=dict)

    def segment(self, graph: RegionGraph, path: tuple[str, ...], end_node: int) -> int:
        """First step of the segment along `path` (regions) ending at `end_node`."""
        key = (end_node, path)
        if key not in self.by_key:
            first = len(self.link)
            hops = list(zip(path[:-1], path[1:], strict=True))
            for i, (a, b) in enumerate(hops):
                self.link.append(graph.link_of[(a, b)])
                self.next.append(first + i + 1 if i + 1 < len(hops) else -1)
                self.end_node.append(end_node)
                self.end_region.append(path[-1])
            self.by_key[key] = first
        return self.by_key[key]

    def arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(link, next, end node) per step, as arrays."""
        as_int = lambda v: np.array(v if v else [0], dtype=np.int64)  # noqa: E731
        return as_int(self.link), as_int(self.next), as_int(self.end_node)


def relay_tree(
    graph: RegionGraph, origin: str, needed: list[str], room_nodes: dict[str, int]
) -> list[tuple[str, tuple[str, ...]]]:
    """Segments of the multicast tree from `origin` to the `needed` regions: a list of
    (start region, region path) where both ends host a node of the room."""
    edges: set[tuple[str, str]] = set()
    for region in needed:
        path = graph.paths[origin][region]
        edges.update(zip(path[:-1], path[1:], strict=True))
    children: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        children.setdefault(a, []).append(b)
    segments = []

    def walk(start: str, path: tuple[str, ...]) -> None:
        here = path[-1]
        for nxt in children.get(here, []):
            extended = (*path, nxt)
            if nxt in room_nodes:
                segments.append((start, extended))
                walk(nxt, (nxt,))
            else:
                walk(start, extended)

    walk(origin, (origin,))
    return segments


def pair_latency_ms(graph: RegionGraph, a: str, b: str) -> float:
    """Backbone latency between two regions, ms."""
    return graph.latency_ns(a, b) / NS * 1e3
