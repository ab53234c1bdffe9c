"""Scenario -> World: the room workload as numpy tables, plus links, CPU pools and metrics.

Participants and streams (one stream per layer of each published track) become columns
the topologies index with arrays. Every client gets an uplink and a downlink (from its
network profile) and two CPU pools: an encoder and a decoder. Server-side resources are
added by the topology that needs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from roomsim.codecs.costs import CostProfile, load_profile
from roomsim.codecs.e2ee import SFRAME_OVERHEAD_BYTES, frame_crypto_ns
from roomsim.errors import ScenarioError
from roomsim.scenario.devices import DEVICE_PRESETS
from roomsim.scenario.media import AudioTrack, VideoTrack
from roomsim.scenario.participants import ParticipantGroup
from roomsim.scenario.scenario import Scenario
from roomsim.sim.metrics import NS, LatencyHistograms, Windows
from roomsim.sim.resources import CpuTable, LinkTable
from roomsim.sim.rng import generator, stream_keys
from roomsim.workload.conversation import start_conversations
from roomsim.workload.streams import AUDIO, VIDEO, Participant, Streams, StreamSpec
from roomsim.workload.svc import align_svc_phases, svc_stream_specs
from roomsim.workload.traces import start_traces
from roomsim.workload.wire import apply_wire_settings

#: Longest an encode or decode may wait for the client's CPU before the frame is dropped
#: (a model choice: about three video frame intervals).
CLIENT_CPU_QUEUE_NS = 100_000_000

class World:
    """Everything a run needs, built once from a Scenario; topologies add to it."""

    def __init__(self, scenario: Scenario, seed: int, duration_s: float) -> None:
        self.scenario = scenario
        self.seed = seed
        self.tick_ns = round(scenario.engine.tick_ms * 1e6)
        self.end_capture_ns = _to_tick(duration_s * NS, self.tick_ns)
        self.warmup_ns = _to_tick(min(scenario.warmup_s, duration_s / 2) * NS, self.tick_ns)
        self.horizon_ns = self.end_capture_ns + _to_tick(scenario.engine.drain_s * NS, self.tick_ns)
        self.windows = Windows(self.horizon_ns, self.tick_ns)
        self.costs = _load_costs(scenario.costs)
        self.env = simpy.Environment()
        self.links = LinkTable()
        self.cpus = CpuTable()
        self.participants: list[Participant] = []
        self.room_members: list[list[int]] = [[] for _ in scenario.rooms]
        self._stream_specs: list[StreamSpec] = []
        self.track_streams: list[list[int]] = []  # per track: its stream indices, lowest first
        self.track_kind: list[int] = []
        self.track_pub: list[int] = []
        #: Called when someone joins or leaves; the topology re-plans who receives what.
        self.on_membership_change: Callable[[], None] = lambda: None
        #: Called with (receiver, source participant, kind, capture ns, playout ns) arrays
        #: for every frame played (agents listen here; see roomsim.agents).
        self.play_listeners: list[Callable[..., None]] = []
        #: Called with (frames, keyframe flags) for every batch of captured frames (FRAME
        #: records as sized, before DTX): an inspectable per-frame record (tests, tools).
        self.frame_listeners: list[Callable[..., None]] = []
        #: Set by the topology when it starts: the frame-size model (roomsim.sim.frame_sizes).
        self.frame_sizes: Any = None
        #: Set by the topology when it starts (roomsim.topologies.base): the latency
        #: breakdown and the audio frames sent toward each receiver (the MOS loss basis).
        self.breakdown: Any = None
        self.audio_expected_frames = np.zeros(0, dtype=np.int64)
        #: Set by roomsim.run.runtimes when the scenario has them (None otherwise).
        self.agents: Any = None
        self.dataplane: Any = None
        self.extensions: Any = None
        #: participants whose codec work a node runs (on-node egress/ingress): their own
        #: encoder and decoder carry none of it (set by the topology before `freeze`)
        self.node_hosted: list[int] = []
        self._build_participants()

    # -- building ---------------------------------------------------------------------
    def _build_participants(self) -> None:
        for room_index, room in enumerate(self.scenario.rooms):
            for group in room.participants:
                device = DEVICE_PRESETS[group.device]
                for pid in group.member_ids():
                    index = len(self.participants)
                    self.participants.append(Participant(
                        pid, room_index, group, float(device["speed_factor"]),
                        float(device["cpu_budget_cores"])))
                    self.room_members[room_index].append(index)
                    for track in group.tracks:
                        self._add_track(index, track)

    def _add_track(self, pub: int, track: AudioTrack | VideoTrack) -> None:
        track_index = len(self.track_streams)
        first = len(self._stream_specs)
        if isinstance(track, AudioTrack):
            self._stream_specs.append(StreamSpec(
                pub, track_index, AUDIO, track.codec, "", 0, True,
                track.packets_per_s or 1000.0 / track.frame_ms,
                track.effective_bitrate_kbps() * 1000, dtx=track.dtx))
            kind = AUDIO
        elif track.svc is not None:
            self._stream_specs.extend(svc_stream_specs(pub, track_index, track))
            kind = VIDEO
        else:
            layers = track.layers()
            for i, layer in enumerate(layers):
                self._stream_specs.append(StreamSpec(
                    pub, track_index, VIDEO, track.codec, layer.resolution, i, i == len(layers) - 1,
                    layer.fps, layer.bitrate_kbps * 1000))
            kind = VIDEO
        self.track_streams.append(list(range(first, len(self._stream_specs))))
        self.track_kind.append(kind)
        self.track_pub.append(pub)

    def add_stream(self, spec: StreamSpec) -> int:
        """Add a stream made by a server (an MCU output); only before `freeze`."""
        self._stream_specs.append(spec)
        return len(self._stream_specs) - 1

    def freeze(self) -> None:
        """Create client links and pools, fix stream phases, allocate counters."""
        self.streams = Streams(self._stream_specs)
        apply_wire_settings(self.scenario, self.streams, self.participants)
        self.stream_trailer = frame_trailer_bytes(self)
        n = len(self.participants)
        self.uplink = np.zeros(n, dtype=np.int64)
        self.downlink = np.zeros(n, dtype=np.int64)
        self.encoder = np.zeros(n, dtype=np.int64)
        self.decoder = np.zeros(n, dtype=np.int64)
        self.speed = np.array([p.speed for p in self.participants], dtype=np.float64)
        self.budget = np.array([p.budget_cores for p in self.participants], dtype=np.float64)
        #: the speed that divides a participant's own codec work: infinite (no work) where
        #: a node runs it instead, and for extensions that do not transcode (a track egress,
        #: an ingress passing its source through)
        self.client_speed = self.speed.copy()
        self.client_speed[self.node_hosted] = np.inf
        for i, p in enumerate(self.participants):
            g = p.group
            if (g.kind == "egress" and g.egress is not None and g.egress.type == "track") or \
                    (g.kind == "ingress" and g.ingress is not None and not g.ingress.transcoding):
                self.client_speed[i] = np.inf
        of_group: dict[int, Any] = {}  # a group's members share its network (thousands of viewers)
        self.networks = []
        for p in self.participants:
            if id(p.group) not in of_group:
                of_group[id(p.group)] = self.scenario.network_of(p.group)
            self.networks.append(of_group[id(p.group)])
        encode_demand = self._encode_demand()
        keys = iter(stream_keys(self.seed, [f"link:{p.id}/{direction}" for p in self.participants
                                            for direction in ("up", "down")]).tolist())
        for i, p in enumerate(self.participants):
            net = self.networks[i]
            one_way = round((net.rtt_ms / 2 + p.group.extra_one_way_ms()) * 1e6)
            for direction, rate in (("up", net.uplink_kbps), ("down", net.downlink_kbps)):
                name = f"{p.id}/{direction}"
                idx = self.links.add(name, rate * 1000, one_way, net.jitter_ms * 1e6,
                                     net.loss_pct / 100, round(net.queue_ms * 1e6), next(keys))
                (self.uplink if direction == "up" else self.downlink)[i] = idx
            self.encoder[i] = self.cpus.add(f"{p.id}/encoder", p.budget_cores, CLIENT_CPU_QUEUE_NS)
            decode_cores = max(0.05 * p.budget_cores, p.budget_cores - encode_demand[i])
            self.decoder[i] = self.cpus.add(f"{p.id}/decoder", decode_cores, CLIENT_CPU_QUEUE_NS)
        for s in range(len(self.streams)):
            rng = generator(self.seed, f"phase:{self.stream_name(s)}")
            self.streams.phase_ns[s] = int(rng.integers(0, max(1, int(self.streams.period_ns[s]))))
        align_svc_phases(self.streams)
        self._plan_flows()
        self.links.freeze(self.windows)
        self.cpus.freeze(self.windows)
        self.latency = LatencyHistograms(n)
        self.received_packets = np.zeros(n, dtype=np.int64)
        self.expected_packets = np.zeros(n, dtype=np.int64)
        self.frames_decoded = np.zeros(n, dtype=np.int64)
        self.expected_frames = np.zeros(n, dtype=np.int64)
        self.frames_lost = np.zeros(n, dtype=np.int64)
        self.frames_dropped_cpu = np.zeros(n, dtype=np.int64)
        self.speaking = np.ones(n, dtype=bool)
        self.present = np.zeros(n, dtype=bool)
        #: Participants whose speech is scheduled as intervals (users in turns, agents):
        #: capture asks `speaking_at` per frame instead of reading `speaking`.
        self.scheduled_voice = np.zeros(n, dtype=bool)
        self.voice_intervals: dict[int, list[tuple[int, int]]] = {}

    def stream_name(self, s: int) -> str:
        """A stream's stable name (its random streams are keyed by it, rng.py policy)."""
        spec = self.streams.specs[s]
        owner = self.participants[spec.pub].id if spec.pub >= 0 else f"server:{spec.owner}"
        return f"{owner}:{spec.track}:{spec.layer}:{spec.kind}"

    def _plan_flows(self) -> None:
        """Frame-damage flows: one per stream (its path up to a server), then one per
        (stream, receiver in the same room) for the copies made for each receiver."""
        m = len(self.streams)
        self.local_index = np.zeros(len(self.participants), dtype=np.int64)
        for members in self.room_members:
            self.local_index[members] = np.arange(len(members))
        self.down_flow_base = np.zeros(m, dtype=np.int64)
        next_flow = m
        for s, spec in enumerate(self.streams.specs):
            if spec.pub < 0:
                continue
            self.down_flow_base[s] = next_flow
            next_flow += len(self.room_members[self.participants[spec.pub].room])
        self.flow_count = next_flow

    def _encode_demand(self) -> npt.NDArray[np.float64]:
        """Cores each client spends encoding (frames/s x cost / device speed)."""
        demand = np.zeros(len(self.participants))
        for spec in self._stream_specs:
            if spec.pub >= 0:
                demand[spec.pub] += spec.fps * self.encode_ns(spec) / NS / self.participants[spec.pub].speed
        return demand

    # -- costs -------------------------------------------------------------------------
    def encode_ns(self, spec: StreamSpec) -> float:
        """Core-ns to encode one frame of a stream on a speed-1.0 core (and to encrypt it
        end to end when its publisher uses e2ee)."""
        if spec.kind == AUDIO:
            return self.costs.audio_cost(spec.codec).encode_us * 1e3 * _audio_scale(spec) + self._e2ee_ns(spec)
        return self.costs.video_cost(spec.codec, spec.resolution).encode_us * 1e3 + self._e2ee_ns(spec)

    def decode_ns(self, spec: StreamSpec) -> float:
        """Core-ns to decode one frame of a stream on a speed-1.0 core (and to decrypt it
        when its publisher uses e2ee)."""
        if spec.kind == AUDIO:
            return self.costs.audio_cost(spec.codec).decode_us * 1e3 * _audio_scale(spec) + self._e2ee_ns(spec)
        full = self.costs.video_cost(spec.codec, spec.resolution).decode_us * 1e3 + self._e2ee_ns(spec)
        if spec.svc_lower:  # an SVC layer adds its resolution's decode over the one below
            return full - self.costs.video_cost(spec.codec, spec.svc_lower).decode_us * 1e3
        return full

    def _e2ee_ns(self, spec: StreamSpec) -> float:
        if spec.pub < 0 or not self.participants[spec.pub].group.e2ee:
            return 0.0
        return frame_crypto_ns(spec.bitrate_bps / 8 / spec.fps)

    # -- time-varying state --------------------------------------------------------------
    def schedule_speech(self, i: int, start_ns: int, end_ns: int) -> None:
        """Participant i speaks in [start, end) (register before the frames are captured)."""
        self.scheduled_voice[i] = True
        self.voice_intervals.setdefault(i, []).append((start_ns, end_ns))

    def speaking_at(self, pub: npt.NDArray[np.int64], t: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether each publisher speaks at each frame time."""
        speaking = self.speaking[pub]
        if not self.scheduled_voice.any():
            return speaking
        for i in np.unique(pub[self.scheduled_voice[pub]]).tolist():
            mine = pub == i
            intervals = np.array(self.voice_intervals.get(i, [(0, 0)]), dtype=np.int64)
            k = np.searchsorted(intervals[:, 0], t[mine], side="right") - 1
            speaking[mine] = (k >= 0) & (t[mine] < intervals[np.maximum(k, 0), 1])
        return speaking

    def start_processes(self) -> None:
        """Presence (join/leave), voice activity and network traces, as simpy processes."""
        for i, p in enumerate(self.participants):
            self.env.process(self._presence(i, p.group))
            if p.group.voice.model == "talkspurt":
                self.env.process(self._talkspurts(i, p))
        start_conversations(self)
        start_traces(self.env, self.links, self.scenario.traces, self.tick_ns, self.horizon_ns)

    def _presence(self, i: int, group: ParticipantGroup):  # type: ignore[no-untyped-def]
        join_s = group.effective_join_s()
        if join_s > 0:
            yield self.env.timeout(join_s)
        self.present[i] = True
        self.on_membership_change()
        if group.leave_s is not None:
            yield self.env.timeout(max(0.0, group.leave_s - join_s))
            self.present[i] = False
            self.on_membership_change()

    def _talkspurts(self, i: int, p: Participant):  # type: ignore[no-untyped-def]
        rng = generator(self.seed, f"voice:{p.id}")
        voice = p.group.voice
        talk_share = voice.talk_mean_s / (voice.talk_mean_s + voice.pause_mean_s)
        self.speaking[i] = bool(rng.random() < talk_share)
        while True:
            mean = voice.talk_mean_s if self.speaking[i] else voice.pause_mean_s
            yield self.env.timeout(float(rng.exponential(mean)))
            self.speaking[i] = not self.speaking[i]


#: RTP payload for audio/red (RFC 2198 sec. 3): a 4-byte header per redundant block and a
#: 1-byte header for the primary block, around the previous frame's payload.
RED_HEADER_BYTES = 4 + 1


def frame_trailer_bytes(world: World) -> npt.NDArray[np.int64]:
    """Bytes a frame carries beyond its codec payload, on its last packet: the SFrame
    header and tag with end-to-end encryption, and the previous frame (plus RED headers)
    for audio sent with RED redundancy (its mean size)."""
    out = np.zeros(len(world.streams), dtype=np.int64)
    for s, spec in enumerate(world.streams.specs):
        if spec.pub < 0:
            continue
        group = world.participants[spec.pub].group
        if group.e2ee:
            out[s] += SFRAME_OVERHEAD_BYTES
        if spec.kind == AUDIO and group.transport.kind == "webrtc" \
                and group.transport.webrtc.audio_redundancy == "red":
            out[s] += RED_HEADER_BYTES + round(world.streams.frame_bytes[s])
    return out


def _audio_scale(spec: StreamSpec) -> float:
    """Profiles hold audio costs per 20 ms frame; other frame lengths scale linearly."""
    return (1000.0 / spec.fps) / 20.0


def _to_tick(t_ns: float, tick_ns: int) -> int:
    return int(math.ceil(round(t_ns) / tick_ns)) * tick_ns


def _load_costs(name: str) -> CostProfile:
    try:
        return load_profile(name)
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"cannot load cost profile: {exc}", field="costs") from None
