"""The server side of a topology: nodes with their NIC (in and out) and cores, which node
hosts each room, and which node each participant connects to.

Without a `cluster` block a room lives on the node it names (or the first node), fixed for
the whole run, and only nodes that host a room are built. With `cluster`, every node is
built and a room is placed when its first participant joins, through the routing store
(roomsim.topologies.placement). With SFU cascading, a room has one node per region its
participants are in, and each participant connects to its own region's node.

A participant whose node is in another region reaches it over the backbone's shortest
path (roomsim.sfu.cascade.RegionGraph): that one-way latency is added to its access
links' delay, on top of the access RTT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from roomsim.codecs.server_profiles import ServerProfile, load_server_profile
from roomsim.sim.rng import generator
from roomsim.topologies.placement import NodeStats, RoutingStore, select_node
from roomsim.workload.world import World

if TYPE_CHECKING:
    from roomsim.sfu.cascade import RegionGraph

IntArray = npt.NDArray[np.int64]


class ServerSide:
    """Nodes hosting rooms: a NIC link each way and CPU pools per node (one, or one per
    worker when the node's server profile confines a room to a worker).

    The NIC links have the node's NIC rate and no propagation delay (the server sits at
    the internet core that the access profiles' RTTs are measured to).
    """

    def __init__(self, world: World, cascade: bool = False) -> None:
        self.world = world
        scenario = world.scenario
        self.cluster = scenario.cluster
        self.cascade = cascade
        if self.cluster is not None or cascade:
            used = list(scenario.nodes)
        else:
            used = []
            for room in scenario.rooms:
                node = scenario.node_of(room)
                if node not in used:
                    used.append(node)
        self.nodes = used
        ids = [n.id for n in used]
        pinned = [
            ids.index(r.node) if r.node is not None and r.node in ids else -1
            for r in scenario.rooms
        ]
        if self.cluster is None and not cascade:
            pinned = [ids.index(scenario.node_of(r).id) for r in scenario.rooms]
        self.room_node = np.array(pinned, dtype=np.int64)
        self.room_region_node: list[dict[str, int]] = [{} for _ in scenario.rooms]
        self.home = np.full(len(world.participants), -1, dtype=np.int64)
        self.store = RoutingStore()
        self._rng = generator(world.seed, "placement")
        self.regions: RegionGraph | None = None
        self.nic_in = np.zeros(len(used), dtype=np.int64)
        self.nic_out = np.zeros(len(used), dtype=np.int64)
        self.profiles = [load_server_profile(node.profile) for node in used]
        #: every CPU pool of each node: one of `cores` cores, or one single-core pool per
        #: worker when the profile confines a room to one worker
        self.node_pools: list[list[int]] = []
        for i, node in enumerate(used):
            queue_ns = round(node.max_queue_ms * 1e6)
            for name, table in (("in", self.nic_in), ("out", self.nic_out)):
                table[i] = world.links.add(
                    f"{node.id}/nic-{name}", node.nic_mbps * 1e6, 0, 0.0, 0.0, queue_ns, 0
                )
            if self.confined(i):
                workers = max(1, int(node.cores))
                pools = [world.cpus.add(f"{node.id}/worker-{k}", node.cores / workers, queue_ns)
                         for k in range(workers)]
            else:
                pools = [world.cpus.add(f"{node.id}/cpu", node.cores, queue_ns)]
            self.node_pools.append(pools)
        #: CPU pool serving each (node, room); -1 until the room first has work there
        self.room_pool = np.full((len(used), len(scenario.rooms)), -1, dtype=np.int64)

    # -- placement ----------------------------------------------------------------------
    def start(self, regions: RegionGraph | None = None) -> None:
        """After the world is frozen: connect participants of pinned rooms; cache lookups."""
        self.regions = regions
        self.nic_in_node = {int(link): k for k, link in enumerate(self.nic_in)}
        for r, members in enumerate(self.world.room_members):
            if self.room_node[r] >= 0 and not self.cascade:
                for p in members:
                    self._connect(p, int(self.room_node[r]))
        self.refresh()

    def place(self, now_ns: int) -> list[int]:
        """Connect present participants that have no node yet (placing new rooms through the
        routing store); returns the participants connected."""
        w = self.world
        joined = [int(p) for p in np.flatnonzero(w.present & (self.home < 0))]
        for p in joined:
            room = w.participants[p].room
            if self.cascade:
                self._connect(p, self._region_node(room, p, now_ns))
                continue
            if self.room_node[room] < 0:
                name = w.scenario.rooms[room].id
                node = self.store.node_for_room(name)
                if node is None:
                    node = select_node(
                        self.store,
                        list(range(len(self.nodes))),
                        self.cluster,  # type: ignore[arg-type]
                        self._rng,
                    )
                    self.store.set_node_for_room(name, node)
                    self.store.log.append((now_ns / 1e9, name, self.nodes[node].id))
                self.room_node[room] = node
            self._connect(p, int(self.room_node[room]))
        if joined:
            self.refresh()
        return joined

    def _region_node(self, room: int, p: int, now_ns: int) -> int:
        """Cascade: the room's node in the participant's nearest region that has nodes."""
        assert self.regions is not None
        region = self.participant_region(p)
        target = self.regions.nearest(region, sorted({n.region for n in self.nodes}))
        nodes = self.room_region_node[room]
        if target not in nodes:
            pinned = self.world.scenario.rooms[room].node
            ids = [n.id for n in self.nodes]
            local = [k for k, n in enumerate(self.nodes) if n.region == target]
            if pinned is not None and self.nodes[ids.index(pinned)].region == target:
                nodes[target] = ids.index(pinned)
            elif self.cluster is not None:
                nodes[target] = select_node(self.store, local, self.cluster, self._rng)
            else:
                nodes[target] = local[0]
            name = f"{self.world.scenario.rooms[room].id}@{target}"
            self.store.set_node_for_room(name, nodes[target])
            self.store.log.append((now_ns / 1e9, name, self.nodes[nodes[target]].id))
            if self.room_node[room] < 0:
                self.room_node[room] = nodes[target]
        return nodes[target]

    def participant_region(self, p: int) -> str:
        """A participant's region (its group's, or its room's first node's when unset)."""
        region = self.world.participants[p].group.region
        if region is not None:
            return region
        room = self.world.participants[p].room
        node = self.room_node[room]
        return self.nodes[node].region if node >= 0 else self.nodes[0].region

    def _connect(self, p: int, node: int) -> None:
        self.home[p] = node
        if self.regions is None:
            return
        transit = self.regions.latency_ns(self.participant_region(p), self.nodes[node].region)
        if transit:
            w = self.world
            w.links.delay_ns[w.uplink[p]] += transit
            w.links.delay_ns[w.downlink[p]] += transit

    def report_stats(self, now_ns: int, cpu_load: npt.NDArray[np.float64]) -> None:
        """Every node writes its stats to the store (called every stats interval)."""
        w = self.world
        for k in range(len(self.nodes)):
            members = self.home == k
            rooms = {w.participants[p].room for p in np.flatnonzero(members & w.present)}
            self.store.report(
                k,
                NodeStats(float(cpu_load[k]), len(rooms), int((members & w.present).sum()), now_ns),
            )

    def refresh(self) -> None:
        """Recompute stream -> origin node after placements change."""
        w = self.world
        person = np.where(w.streams.pub >= 0, w.streams.pub, w.streams.owner)
        self._stream_node = self.home[person]
        room = np.array([p.room for p in w.participants], dtype=np.int64)
        #: room of every stream (its publisher's or owner's)
        self.room_of_stream = room[person]
        unplaced = self._stream_node < 0
        self._stream_node[unplaced] = np.maximum(self.room_node[room[person[unplaced]]], 0)

    # -- CPU pools ------------------------------------------------------------------------
    def confined(self, node: int) -> bool:
        """Whether a room on this node runs on one worker (one core) only."""
        profile: ServerProfile = self.profiles[node]
        return profile.threading == "worker" and not profile.pipe_across_workers

    def extra_workers(self, node: int) -> int:
        """Workers a piped room's packets are copied to beyond the one receiving them."""
        profile: ServerProfile = self.profiles[node]
        if profile.threading != "worker" or not profile.pipe_across_workers:
            return 0
        return max(1, int(self.nodes[node].cores)) - 1

    def pool_for(self, node: IntArray, room: IntArray) -> IntArray:
        """CPU pool serving each (node, room). A confined room gets the worker with the
        fewest rooms when it first has work on the node (lowest index on ties), as
        mediasoup applications pick the least loaded worker for a new router."""
        pools = self.room_pool[node, room]
        missing = pools < 0
        if missing.any():
            for k, r in sorted({(int(a), int(b)) for a, b in zip(node[missing], room[missing],
                                                                  strict=True)}):
                candidates = self.node_pools[k]
                if len(candidates) > 1:
                    load = [(int((self.room_pool[k] == c).sum()), c) for c in candidates]
                    self.room_pool[k, r] = min(load)[1]
                else:
                    self.room_pool[k, r] = candidates[0]
            pools = self.room_pool[node, room]
        return pools

    def pool_node(self, pool_count: int) -> IntArray:
        """Node index of every CPU pool of the run (-1: not a node's)."""
        out = np.full(pool_count, -1, dtype=np.int64)
        for k, pools in enumerate(self.node_pools):
            out[pools] = k
        return out

    # -- lookups --------------------------------------------------------------------------
    def stream_node(self) -> IntArray:
        """Origin node index of every stream."""
        return self._stream_node

    def nic_in_of(self, stream: npt.NDArray[np.integer]) -> IntArray:
        """NIC-in link of the node each stream enters."""
        return self.nic_in[self._stream_node[stream]]

    def nic_out_of(self, stream: npt.NDArray[np.integer]) -> IntArray:
        """NIC-out link of the node each stream leaves."""
        return self.nic_out[self._stream_node[stream]]

    def cpu_of(self, stream: npt.NDArray[np.integer]) -> IntArray:
        """CPU pool (of the origin node) handling each stream's room."""
        stream = np.asarray(stream, dtype=np.int64)
        return self.pool_for(self._stream_node[stream], self.room_of_stream[stream])

    def node_ids_of_rooms(self) -> list[str]:
        """Node id per room (its first node; the first scenario node if never placed)."""
        return [self.nodes[max(int(k), 0)].id for k in self.room_node]
