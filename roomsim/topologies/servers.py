"""The server side of a topology: each room's node with its NIC (in and out) and cores."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.world import World

IntArray = npt.NDArray[np.int64]


class ServerSide:
    """Nodes hosting rooms: a NIC link each way and a CPU pool per node.

    The NIC links have the node's NIC rate and no propagation delay (the server sits at
    the internet core that the access profiles' RTTs are measured to).
    """

    def __init__(self, world: World) -> None:
        self.world = world
        scenario = world.scenario
        used = []
        for room in scenario.rooms:
            node = scenario.node_of(room)
            if node not in used:
                used.append(node)
        self.nodes = used
        self.room_node = np.array([used.index(scenario.node_of(r)) for r in scenario.rooms], dtype=np.int64)
        self.nic_in = np.zeros(len(used), dtype=np.int64)
        self.nic_out = np.zeros(len(used), dtype=np.int64)
        self.cpu = np.zeros(len(used), dtype=np.int64)
        for i, node in enumerate(used):
            queue_ns = round(node.max_queue_ms * 1e6)
            for name, table in (("in", self.nic_in), ("out", self.nic_out)):
                table[i] = world.links.add(f"{node.id}/nic-{name}", node.nic_mbps * 1e6, 0, 0.0, 0.0,
                                           queue_ns, 0)
            self.cpu[i] = world.cpus.add(f"{node.id}/cpu", node.cores, queue_ns)

    def stream_node(self) -> IntArray:
        """Node index of every stream: its publisher's room's node (or its owner's)."""
        w = self.world
        person = np.where(w.streams.pub >= 0, w.streams.pub, w.streams.owner)
        room = np.array([p.room for p in w.participants], dtype=np.int64)
        return self.room_node[room[person]]

    def start(self) -> None:
        """Cache stream -> node lookups once streams are frozen."""
        self._stream_node = self.stream_node()

    def nic_in_of(self, stream: npt.NDArray[np.integer]) -> IntArray:
        """NIC-in link of the node each stream enters."""
        return self.nic_in[self._stream_node[stream]]

    def nic_out_of(self, stream: npt.NDArray[np.integer]) -> IntArray:
        """NIC-out link of the node each stream leaves."""
        return self.nic_out[self._stream_node[stream]]

    def cpu_of(self, stream: npt.NDArray[np.integer]) -> IntArray:
        """CPU pool of the node handling each stream."""
        return self.cpu[self._stream_node[stream]]
