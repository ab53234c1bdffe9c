"""What a run would cost before anything is allocated: participants, streams, deliveries
per simulated second, memory and a rough wall time, from the validated scenario alone.

A scenario can be valid and still far beyond the machine: `count: 100000` in one room is
10^10 subscriptions, ~149 GiB of per-flow state, and used to die in numpy's allocator
after minutes. The estimate here is cheap (no engine objects), deliberately an upper
bound (every subscriber takes every track's top layer), and compared with a limit sized
for a 24 GB / 2-core machine; above it the run is refused with one line saying what it
would need and how to proceed.

The constants are fitted to the engine's own benchmarks (README "engine speed",
benchmarks/engine_speed.py, 60 simulated seconds each, one core): wall time per
subscription-second 8 us (webinar-1000) to 20 us (livestream-3000, sfu-50 18 us), so 25 us
is used; peak RSS 172-324 MB over those runs, ~200 MB being the interpreter, numpy, numba
and simpy before any scenario state.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from roomsim.dataplane.wire import SCTP_MAX_USER_DATA
from roomsim.errors import ScenarioError
from roomsim.scenario.media import AudioTrack
from roomsim.scenario.participants import ParticipantGroup
from roomsim.scenario.scenario import Scenario

#: Bytes of an RTP packet the estimate assumes for video and data (a full ~1200 B payload,
#: libwebrtc's default max packet size leaves about that after headers).
PACKET_BYTES = 1200
#: Memory before any scenario state (interpreter, numpy, numba, simpy), measured as the
#: smallest benchmark's peak RSS less its state (README: mesh-8 172 MB).
BASE_BYTES = 200 * 2**20
#: Per subscription (one track delivered to one subscriber): flow damage bits, per-flow
#: counters and the topology's forwarding tables, an upper figure of what numpy holds.
FLOW_BYTES = 64
#: Per packet delivered within one tick: the packet record and its copies along the
#: stages of a tick (uplink, node, downlink, playout), with the scratch of the kernels.
#: Fitted so the estimate bounds the measured peak RSS of all six benchmarks from above.
PACKET_STATE_BYTES = 2048
#: Per participant: its links, CPUs, voice process and result row.
PARTICIPANT_BYTES = 64 * 2**10
#: Wall seconds per subscription per simulated second (see the module docstring).
WALL_PER_FLOW_S = 25e-6
#: The data plane moves every packet as its own simpy process (roomsim.dataplane.engine):
#: measured 90 us (SFU) to 125 us (mesh) of wall time per packet hop, four people sending
#: 100-byte reliable messages every millisecond for 5 s; 150 us is used. Memory: a packet
#: waiting behind a slow link holds its process and events, ~2 KiB; as an upper bound
#: every packet of the run is assumed alive at once.
DATA_WALL_PER_HOP_S = 150e-6
DATA_HOP_BYTES = 2048
#: A WebSocket (TCP) subscription runs the TCP kernel per segment and ACK: measured
#: ~100 us of wall per subscription-second (150 people on 4G, audio over WebSocket, SFU:
#: 32 s for 3 + 10 s drain simulated); 150 us is used.
TCP_WALL_PER_FLOW_S = 150e-6
#: One trace step applied to its links (roomsim.workload.traces): measured ~0.7 us (50,000 steps
#: replayed every 10 ms on every link of a 4-person room); 3 us is used.
TRACE_STEP_WALL_S = 3e-6
#: Imports and the warmed numba cache, per command.
STARTUP_WALL_S = 5.0

#: Default limits: memory leaves a 24 GB machine room for the OS and a second process;
#: wall time is what an interactive command may take. Both configurable by environment.
DEFAULT_MAX_MEMORY_GB = 16.0
DEFAULT_MAX_WALL_S = 3600.0
MEMORY_ENV = "ROOMSIM_MAX_MEMORY_GB"
WALL_ENV = "ROOMSIM_MAX_WALL_S"


@dataclass(frozen=True)
class Estimate:
    """Upper estimates for running one scenario through some topologies."""

    participants: int
    streams: int
    subscriptions: int
    deliveries_per_s: float
    memory_bytes: float
    wall_s: float
    topologies: tuple[str, ...]

    def line(self) -> str:
        """One line for `roomsim validate` and the refusal."""
        return (f"{self.participants:,} participants, {self.streams:,} streams, "
                f"{self.subscriptions:,} subscriptions, ~{_si(self.deliveries_per_s)} packets "
                f"delivered per simulated second, ~{_bytes(self.memory_bytes)} memory, "
                f"~{_duration(self.wall_s)} wall for {', '.join(self.topologies)}")


@dataclass(frozen=True)
class Limits:
    """What a run may take on this machine."""

    memory_bytes: float
    wall_s: float

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, or ROOMSIM_MAX_MEMORY_GB / ROOMSIM_MAX_WALL_S when set."""
        return cls(_env_float(MEMORY_ENV, DEFAULT_MAX_MEMORY_GB) * 2**30,
                   _env_float(WALL_ENV, DEFAULT_MAX_WALL_S))


def _env_float(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ScenarioError(f"must be a positive number, got {text!r}", field=name)
    return value


def _packets_per_s(group: ParticipantGroup) -> float:
    """Media packets per second one member publishes (top layer of each video track)."""
    total = 0.0
    for track in group.tracks:
        if isinstance(track, AudioTrack):
            total += 1000.0 / track.frame_ms
        else:
            top = track.layers()[-1]
            total += max(top.fps, top.bitrate_kbps * 1000 / 8 / PACKET_BYTES)
    return total


def _packets(size: int) -> int:
    """Packets one data message of `size` bytes takes (SCTP DATA chunks of the wire model)."""
    return -(-size // SCTP_MAX_USER_DATA)


def _data_hops_per_s(group: ParticipantGroup, room_size: int) -> float:
    """Data-plane packet hops per second one member causes: each packet crosses the
    sender's uplink, then (at most) a node and every recipient's downlink."""
    others = max(1, room_size - 1)
    hops = 0.0
    data = group.data
    for message in data.messages:
        hops += _packets(message.bytes) * (1 + 2 * len(message.to or range(others))) / message.every_s
    for stream in data.streams:
        chunks = -(-stream.bytes // stream.chunk_bytes)
        per_chunk = _packets(min(stream.bytes, stream.chunk_bytes))
        hops += chunks * per_chunk * (1 + 2 * len(stream.to or range(others))) / stream.every_s
    for call in data.rpc:
        hops += 3 * (_packets(call.request_bytes) + _packets(call.response_bytes)) / call.every_s
    if data.attributes is not None:
        hops += _packets(data.attributes.bytes) * (1 + 2 * others) / data.attributes.every_s
    return hops


def _trace_steps(scenario: Scenario, simulated_s: float) -> float:
    """Trace steps applied over a run (a repeating trace replays its steps every cycle)."""
    total = 0.0
    for trace in scenario.traces:
        cycles = simulated_s / trace.repeat_s if trace.repeat_s else 1.0
        total += len(trace.steps) * max(1.0, cycles)
    return total


def estimate(scenario: Scenario, topologies: tuple[str, ...], duration_s: float) -> Estimate:
    """Upper estimates for running `scenario` for `duration_s` through `topologies`
    (`deliveries_per_s` counts media packets delivered plus data-plane packet hops)."""
    people = streams = 0
    mesh_flows = mcu_flows = 0
    mesh_rate = mcu_rate = 0.0
    data_hops = tcp_flows = 0.0
    for room in scenario.rooms:
        size = sum(g.count for g in room.participants)
        listeners = sum(g.count for g in room.participants if g.subscribes())
        tcp_share = sum(g.count for g in room.participants if g.subscribes()
                        and g.transport.kind == "websocket") / max(1, listeners)
        people += size
        if room.metadata is not None:
            data_hops += _packets(room.metadata.bytes) * size / room.metadata.every_s
        for group in room.participants:
            data_hops += group.count * _data_hops_per_s(group, size)
            tracks = sum(len(t.layers()) if not isinstance(t, AudioTrack) else 1 for t in group.tracks)
            streams += group.count * tracks
            audience = max(0, listeners - (1 if group.subscribes() else 0))
            rate = _packets_per_s(group)
            # SFU and mesh: every publisher's tracks to every other subscriber.
            mesh_flows += group.count * len(group.tracks) * audience
            mesh_rate += group.count * rate * audience
            tcp_flows += group.count * len(group.tracks) * audience * tcp_share
            # MCU: every publisher's tracks in, one mix per participant out.
            mcu_flows += group.count * len(group.tracks) * 2
            mcu_rate += group.count * rate * 2
    heavy = [t for t in topologies if t != "mcu"]
    flows = mesh_flows if heavy else mcu_flows
    rate = mesh_rate if heavy else mcu_rate
    tick_s = scenario.engine.tick_ms / 1000
    memory = (BASE_BYTES + flows * FLOW_BYTES + rate * tick_s * PACKET_STATE_BYTES
              + people * PARTICIPANT_BYTES + data_hops * duration_s * DATA_HOP_BYTES)
    wall_flows = mesh_flows * len(heavy) + (mcu_flows if "mcu" in topologies else 0)
    simulated = duration_s + scenario.engine.drain_s
    wall = (STARTUP_WALL_S + wall_flows * WALL_PER_FLOW_S * simulated
            + tcp_flows * len(heavy) * (TCP_WALL_PER_FLOW_S - WALL_PER_FLOW_S) * simulated
            + data_hops * duration_s * DATA_WALL_PER_HOP_S * len(topologies)
            + _trace_steps(scenario, simulated) * TRACE_STEP_WALL_S * len(topologies))
    return Estimate(people, streams, flows, rate + data_hops, memory, wall, topologies)


def check(scenario: Scenario, topologies: tuple[str, ...], duration_s: float, *,
          force: bool = False, limits: Limits | None = None, forcible: bool = True) -> Estimate:
    """The estimate; unless `force`, a ScenarioError (one line: what it would need, how to
    proceed) when it exceeds the limits. `forcible`: the caller offers a --force flag (a
    sweep does not)."""
    found = estimate(scenario, topologies, duration_s)

    def last_resort(env: str) -> str:
        return f"raise {env}, or pass --force" if forcible else f"or raise {env}"

    limits = limits or Limits.from_env()
    if force:
        return found
    if found.memory_bytes > limits.memory_bytes:
        raise ScenarioError(
            f"would need ~{_bytes(found.memory_bytes)} memory ({found.participants:,} "
            f"participants, {found.subscriptions:,} subscriptions, ~{_si(found.deliveries_per_s)} "
            f"packets per simulated second), over the {_bytes(limits.memory_bytes)} limit; split "
            f"the room (a sweep over room sizes), send less data, {last_resort(MEMORY_ENV)}",
            field="budget")
    if found.wall_s > limits.wall_s:
        raise ScenarioError(
            f"would take ~{_duration(found.wall_s)} of wall time ({found.subscriptions:,} "
            f"subscriptions, ~{_si(found.deliveries_per_s)} packets per simulated second, "
            f"{duration_s:g} s simulated), over the {_duration(limits.wall_s)} limit; shorten "
            f"duration_s (--duration), run fewer topologies, {last_resort(WALL_ENV)}",
            field="budget")
    return found


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _bytes(value: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1024:.3g} KiB"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.2g} s"
