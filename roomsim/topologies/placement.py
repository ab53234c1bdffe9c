"""Room placement through a shared routing store, as LiveKit does with Redis.

Real deployments keep two things in Redis: the room -> node mapping (HSET of room names,
`GetNodeForRoom`/`SetNodeForRoom` in livekit/livekit pkg/routing/redisrouter.go) and every
node's stats, which each node rewrites every `statsUpdateInterval` (2 s). When a room's
first participant arrives, the router looks the room up; if it has no node yet, a node
selector picks one from the stats in the store (pkg/routing/selector: sort by CPU load,
rooms, clients, or random; nodes over the CPU limit are skipped) and writes the mapping.
Rooms then stay on their node. Because stats are only as fresh as the last report, rooms
created in a burst all see the same "least loaded" node: the simulation shows that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from roomsim.scenario.deployment import ClusterOptions


@dataclass
class NodeStats:
    """What a node last reported to the store."""

    cpu_load: float = 0.0  # busy cores / cores over the last report interval
    rooms: int = 0
    clients: int = 0
    updated_ns: int = -1


@dataclass
class RoutingStore:
    """The shared store: room -> node mapping and per-node stats (a simulated Redis)."""

    room_node: dict[str, int] = field(default_factory=dict)
    stats: dict[int, NodeStats] = field(default_factory=dict)
    log: list[tuple[float, str, str]] = field(default_factory=list)

    def node_for_room(self, room: str) -> int | None:
        """GetNodeForRoom: None when the room has no node yet."""
        return self.room_node.get(room)

    def set_node_for_room(self, room: str, node: int) -> None:
        """SetNodeForRoom."""
        self.room_node[room] = node

    def report(self, node: int, stats: NodeStats) -> None:
        """A node's periodic stats write."""
        self.stats[node] = stats


def select_node(
    store: RoutingStore, candidates: list[int], options: ClusterOptions, rng: np.random.Generator
) -> int:
    """Pick a node for a new room from the store's (possibly stale) stats."""
    stats = [store.stats.get(n, NodeStats()) for n in candidates]
    below = [n for n, s in zip(candidates, stats, strict=True) if s.cpu_load <= options.cpu_limit]
    pool = below or candidates
    if options.selector == "random":
        return pool[int(rng.integers(len(pool)))]
    key = {
        "least-loaded": lambda s: s.cpu_load,
        "fewest-rooms": lambda s: s.rooms,
        "fewest-clients": lambda s: s.clients,
    }[options.selector]
    return min(pool, key=lambda n: (key(store.stats.get(n, NodeStats())), n))
