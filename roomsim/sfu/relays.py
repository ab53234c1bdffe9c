"""TURN relays between some participants and their media node.

A relayed participant's packets cross one more hop: client <-> TURN server <-> node. The
relay is a server with one link per direction (to the node, to the clients) of its NIC
rate and half the extra RTT each. Between client and relay, every packet is wrapped in
TURN ChannelData (4 bytes, RFC 8656 sec. 12.4); over TCP or TLS the message is padded to
4 bytes and rides in TCP segments (20-byte header instead of UDP's 8) and, over TLS, in
TLS 1.3 records (22 bytes of overhead each, one record per message): those bytes are on
the client's access link and on the relay's client-side link. Between relay and node the
packet is plain UDP again. Head-of-line blocking of TCP is not modelled (loss on a TCP
relay leg is treated like loss on UDP).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from roomsim.scenario.deployment import RelayOptions
from roomsim.sim import headers
from roomsim.sim.metrics import NS
from roomsim.sim.rng import generator
from roomsim.workload.world import World

IntArray = npt.NDArray[np.int64]

#: Queue of a relay's links before drop-tail (a modelling choice, like a node's).
RELAY_QUEUE_NS = 200_000_000


class Relays:
    """Which participants are relayed, through which TURN server, and the relay links."""

    def __init__(self, world: World, options: RelayOptions) -> None:
        self.options = options
        n = len(world.participants)
        self.server = np.full(n, -1, dtype=np.int64)
        for i, p in enumerate(world.participants):
            relayed = p.group.relay
            if relayed is None:
                relayed = bool(generator(world.seed, f"relay:{p.id}").random() < options.share)
            if relayed:
                self.server[i] = int(
                    generator(world.seed, f"relay-server:{p.id}").integers(options.servers)
                )
        one_way = round(options.extra_rtt_ms / 2 * 1e6)
        self.to_node = np.zeros(options.servers, dtype=np.int64)
        self.to_client = np.zeros(options.servers, dtype=np.int64)
        for k in range(options.servers):
            for name, table in (("to-node", self.to_node), ("to-client", self.to_client)):
                table[k] = world.links.add(
                    f"turn-{k + 1}/{name}",
                    options.nic_mbps * 1e6,
                    one_way,
                    0.0,
                    0.0,
                    RELAY_QUEUE_NS,
                    0,
                )

    @property
    def relayed(self) -> npt.NDArray[np.bool_]:
        """Which participants go through a relay."""
        return self.server >= 0

    def details(self, world: World) -> dict[str, Any]:
        """Who is relayed, and per relay: measured rates, bytes relayed and their cost."""
        seconds = (world.end_capture_ns - world.warmup_ns) / NS
        measured = world.links.counters.get("measured", "bytes")
        total = world.links.counters.get("total", "bytes")
        servers = []
        for k in range(len(self.to_node)):
            to_node, to_client = int(self.to_node[k]), int(self.to_client[k])
            egress_gb = float(total[to_node] + total[to_client]) / 1e9
            servers.append({
                "id": f"turn-{k + 1}",
                "to_node_mbps": round(float(measured[to_node]) * 8e-6 / seconds, 4),
                "to_client_mbps": round(float(measured[to_client]) * 8e-6 / seconds, 4),
                "relayed_gb": round(egress_gb, 6),
                "cost_usd": round(egress_gb * self.options.price_usd_per_gb, 6),
            })
        return {"transport": self.options.transport,
                "relayed": [world.participants[i].id for i in np.flatnonzero(self.relayed)],
                "servers": servers}

    def framing_bytes(self, size: npt.NDArray[np.int32]) -> IntArray:
        """Extra bytes on the client <-> relay leg for UDP packets of the given sizes."""
        udp_payload = size.astype(np.int64) - headers.IPV4_HEADER_BYTES - headers.UDP_HEADER_BYTES
        extra = np.full(len(size), headers.TURN_CHANNELDATA_HEADER_BYTES, dtype=np.int64)
        if self.options.transport != "udp":
            extra += (-(udp_payload + headers.TURN_CHANNELDATA_HEADER_BYTES)) % 4
            extra += headers.TCP_HEADER_BYTES - headers.UDP_HEADER_BYTES
        if self.options.transport == "tls":
            extra += headers.TLS13_RECORD_OVERHEAD_BYTES
        return extra
