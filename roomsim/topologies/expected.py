"""Closed-form figures: what each topology should cost when nothing is congested.

These are computed from the workload alone — bitrates, frame rates, packetization and the
cost profile — never from the engine's counters, so a simulated figure and its closed
form check each other:

    stream wire rate = fps x (frame payload + ceil(payload / MTU) x per-packet headers) x 8
      (with `wire.frames: vbr`, video's packets per frame are the mean of ceil(x / MTU) over
      its delta frames' spread)
    mesh   uplink(p) = sum over p's streams x (receivers of p);  downlink(r) = sum of others'
    sfu    uplink(p) = all of p's layers;  node egress = sum over receivers of received layers
    mcu    uplink(p) = p's top layers;  downlink(r) = one mixed audio + one composite stream
    + control packets (RTCP reports, transport feedback, consent checks) at their mean
      rates, unless `wire.control_traffic` is off (roomsim.transport.control)

How the SFU's behaviours enter (the topology hands in its plan; nothing here reads a
counter):

* DTX: an audio stream's rate is speech share x full rate + (1 - share) x comfort-noise
  rate. The share is talk / (talk + pause) for independent talk-spurts, and for
  `conversation` voices the stationary share of the room's turn-taking chain
  (roomsim.workload.conversation.speech_shares).
* Layers, layouts and last-N: `receive` is the SFU's settled plan at the end of the run —
  the (stream, receiver) entries its allocator, layout and last-N chose. Who is among the
  last N changes as people speak, but each receiver still gets N videos (as long as the
  room has N other publishers), so with tracks of one kind the sum is the same at every
  moment; with mixed track rates the closed form is that of the final speaker order. An
  uncongested estimate never drops, so the plan is the static allocator's.
* Dynacast: `uplink` holds the layers publishers still send at the end; layers nobody
  receives stop after the pause delay (5 s by default), so the closed form matches a
  measurement that starts after it.
* SVC: each (spatial, temporal) layer is its own stream; a receiver's entries are the
  layers of its operating point.

Per-stream rates (the first line above, with DTX) are roomsim.workload.rates; this module
sums them over a topology's plan.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roomsim.sim.metrics import NS
from roomsim.transport.control import control_items
from roomsim.workload.rates import StreamRate, stream_rate
from roomsim.workload.world import World


def closed_form(world: World, *, uplink: list[tuple[int, int]], receive: list[tuple[int, int]],
                encode: list[tuple[int, int]], server_cpu_cores: dict[str, float],
                node_of_room: list[str] | None, mesh: bool | None = None) -> dict[str, Any]:
    """Expected figures for a plan.

    uplink:  (stream, copies) each publisher puts on its uplink
    receive: (stream, receiver) pairs reaching receivers' downlinks
    encode:  (stream, encoder runs) each publisher performs per frame
    server_cpu_cores: node id -> expected busy cores (the topology's own cost formula)
    node_of_room: node id of each room, or None when no server carries media (mesh) or the
                  topology sums its servers itself (an SFU cascade)
    mesh: whether peers talk to each other directly (default: `node_of_room` is None)
    """
    n = len(world.participants)
    rates = [stream_rate(world, s) for s in range(len(world.streams))]
    up = np.zeros((n, 3))
    down = np.zeros((n, 3))
    cpu = np.zeros(n)
    pub_of = world.streams.pub
    for s, copies in uplink:
        up[pub_of[s]] += copies * np.array([rates[s].bps, rates[s].payload_bps, rates[s].pps])
    for s, sub in receive:
        down[sub] += np.array([rates[s].bps, rates[s].payload_bps, rates[s].pps])
        cpu[sub] += rates[s].fps * world.decode_ns(world.streams.specs[s]) / NS / world.client_speed[sub]
    if world.scenario.wire.control_traffic:
        _add_control(world, uplink, receive, rates, node_of_room is None if mesh is None else mesh, up, down)
    for s, runs in encode:
        pub = pub_of[s]
        cpu[pub] += runs * rates[s].fps * world.encode_ns(world.streams.specs[s]) / NS / world.client_speed[pub]
    participants = {
        p.id: {"uplink_kbps": up[i, 0] / 1e3, "uplink_payload_kbps": up[i, 1] / 1e3,
               "uplink_pps": up[i, 2], "downlink_kbps": down[i, 0] / 1e3,
               "downlink_payload_kbps": down[i, 1] / 1e3, "downlink_pps": down[i, 2],
               "client_cpu_cores": cpu[i]}
        for i, p in enumerate(world.participants)}
    servers: dict[str, dict[str, float]] = {}
    if node_of_room is not None:
        for node in dict.fromkeys(node_of_room):
            members = [i for i, p in enumerate(world.participants) if node_of_room[p.room] == node]
            servers[node] = {
                "ingress_mbps": up[members, 0].sum() / 1e6, "egress_mbps": down[members, 0].sum() / 1e6,
                "ingress_pps": up[members, 2].sum(), "egress_pps": down[members, 2].sum(),
                "cpu_cores": server_cpu_cores.get(node, 0.0)}
    return {"participants": participants, "servers": servers,
            "totals": {"uplink_mbps": up[:, 0].sum() / 1e6, "downlink_mbps": down[:, 0].sum() / 1e6,
                       "client_cpu_cores": cpu.sum(),
                       "server_cpu_cores": sum(server_cpu_cores.values())}}


def _add_control(world: World, uplink: list[tuple[int, int]], receive: list[tuple[int, int]],
                 rates: list[StreamRate], mesh: bool, up: np.ndarray, down: np.ndarray) -> None:
    """RTCP, transport feedback and consent checks of the plan at their mean rates
    (roomsim.transport.control): on the sender's uplink and the receiver's downlink; a
    server's ingress and egress are then its participants' sums, as for media. NACKs and
    PLIs answer loss and layer switches, which an uncongested, loss-free run has none of."""
    items = control_items(world, uplink, receive, np.array([r.pps for r in rates]), mesh)
    bps, pps = items.bps(), items.pps()
    for end, table in ((items.src, up), (items.dst, down)):
        mine = end >= 0
        np.add.at(table[:, 0], end[mine], bps[mine])
        np.add.at(table[:, 2], end[mine], pps[mine])
