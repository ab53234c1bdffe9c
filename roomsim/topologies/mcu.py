"""MCU: the node decodes every stream, mixes, re-encodes, and sends each participant one
audio mix (everyone but themself) and one video composite.

Every frame costs the node CPU from the cost profile: a decode per input frame, and per
participant per mixer tick an audio mix (per input) + Opus encode, and a composite (per
tile) + video encode. Decodes and mixer jobs share the node's cores in one FIFO, so an
overloaded MCU shows queueing delay and dropped work. The mixer reads from a jitter
buffer: an input frame is mixed `jitter_buffer_ms` after it was decoded. A receiver's
latency is counted per included input: input capture -> mix tick -> output decoded. In
the speaker layout the composite follows the speaker the MCU detects in the audio it
decodes (roomsim.sfu.speakers: the detected speaker large, the next most recent speakers
as thumbnails), so only those inputs reach a viewer. With `adapt` (the default) each
composite's encoder follows a GCC estimate of its participant's downlink (`mcu_rates`),
so a participant on a poor link gets a lower-rate mix rather than loss.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.sfu.cascade import RegionGraph
from roomsim.sfu.speakers import Recency, SpeakerDetector
from roomsim.sim.kernels_rtp import ORDER_PER_LINK, ORDER_TIME
from roomsim.sim.metrics import NS
from roomsim.sim.packets import Packets, rows
from roomsim.sim.rng import generator
from roomsim.topologies.base import FRAME, Subscriptions, Topology
from roomsim.topologies.expected import closed_form
from roomsim.topologies.mcu_rates import DownlinkRates
from roomsim.topologies.servers import ServerSide
from roomsim.workload.world import AUDIO, VIDEO, StreamSpec, World

AUDIO_MIX_FRAME_MS = 20.0  # the mixer's tick: one Opus frame
SPEAKER_LAYOUT_TILES = 5  # speaker view: the speaker large + up to four thumbnails
_AGE_HORIZON_NS = 30 * NS  # how long mix records are kept for frames still in flight


class McuTopology(Topology):
    """Decode-mix-encode through one node per room."""

    name = "mcu"
    breakdown_per_input = True

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.options = world.scenario.topology.mcu
        self.servers = ServerSide(world)
        self.uplinks = self.stage("uplink", merging=True)
        self.node_in = self.stage("node-in", merging=True)
        self.node_out = self.stage("node-out", merging=True)
        self.downlinks = self.stage("downlink")
        self.clients = self.stage("client")
        self.outputs = self._add_output_streams()
        self.rates: DownlinkRates | None = None
        self.next_control = 0
        self._dirty = True

    def _add_output_streams(self) -> dict[tuple[int, int], int]:
        """One mixed-audio and one composite-video stream per participant of a room that
        has audio (video) publishers: (participant, kind) -> stream."""
        w = self.world
        o = self.options
        width_height_kbps_fps = VIDEO_PRESETS[o.output_resolution]
        video_fps = o.output_fps or width_height_kbps_fps[3]
        video_kbps = o.output_bitrate_kbps or width_height_kbps_fps[2]
        outputs: dict[tuple[int, int], int] = {}
        for members in w.room_members:
            kinds = {w.track_kind[t] for t, pub in enumerate(w.track_pub) if pub in members}
            audio_kbps = o.audio_bitrate_kbps or self._room_audio_kbps(members)
            for j in members:
                if AUDIO in kinds:
                    outputs[(j, AUDIO)] = w.add_stream(StreamSpec(
                        -1, -1, AUDIO, "opus", "", 0, True, 1000.0 / AUDIO_MIX_FRAME_MS,
                        audio_kbps * 1000, owner=j))
                if VIDEO in kinds:
                    outputs[(j, VIDEO)] = w.add_stream(StreamSpec(
                        -1, -1, VIDEO, o.video_codec, o.output_resolution, 0, True, video_fps,
                        video_kbps * 1000, owner=j))
        return outputs

    def _room_audio_kbps(self, members: list[int]) -> float:
        """Mix at the bitrate the room's publishers use (the first audio track's)."""
        w = self.world
        for group in (w.participants[j].group for j in members):
            for track in group.tracks:
                if track.kind == "audio":
                    return track.effective_bitrate_kbps()
        return 32.0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        super().start()
        n = len(self.world.participants)
        self.detector = SpeakerDetector(n, self.world.scenario.topology.speakers)
        self.recency = Recency(self.world.room_members)
        regions = self.world.scenario.regions
        self.servers.start(RegionGraph(regions) if regions is not None else None)
        w = self.world
        st = w.streams
        costs = w.costs
        self.mix_ns = costs.audio_mix_us_per_input * 1e3
        self.tile_ns = costs.composite_us_per_tile(self.options.output_resolution) * 1e3
        self.jitter_ns = round(self.options.jitter_buffer_ms * 1e6)
        room_of = np.array([p.room for p in w.participants], dtype=np.int64)
        self.output_streams = np.array(sorted(self.outputs.values()), dtype=np.int64)
        # All outputs of a room tick together on the room's mixer clocks.
        for r, _ in enumerate(w.room_members):
            rng = generator(w.seed, f"mixer:{w.scenario.rooms[r].id}")
            for kind in (AUDIO, VIDEO):
                same = [s for (j, k), s in self.outputs.items() if k == kind and room_of[j] == r]
                if same:
                    st.phase_ns[same] = int(rng.integers(0, int(st.period_ns[same[0]])))
        self.queues: dict[tuple[int, int], deque[tuple[int, int, int, int]]] = {}
        #: per mixer tick (room, kind, frame): (tick time, inputs mixed as rows of
        #: (publisher, age ns, encode stamp us, uplink stamp us))
        self.ages: dict[tuple[int, int, int], tuple[int, npt.NDArray[np.int64]]] = {}
        if self.options.adapt:
            self.rates = DownlinkRates(w, self.outputs, self.options.feedback_ms)

    def replan(self) -> None:
        """Rebuild who feeds which mix at the next tick."""
        self._dirty = True

    def _plan(self) -> None:
        w = self.world
        st = w.streams
        present = w.present
        self.sent_streams = np.flatnonzero((st.pub >= 0) & st.top & present[np.maximum(st.pub, 0)])
        self.inputs: dict[tuple[int, int], list[int]] = {}
        for r, members in enumerate(w.room_members):
            for kind in (AUDIO, VIDEO):
                self.inputs[(r, kind)] = sorted({int(st.pub[s]) for s in self.sent_streams
                                                 if st.kind[s] == kind and st.pub[s] in members})
        live = [s for (j, kind), s in self.outputs.items()
                if present[j] and w.participants[j].group.subscribe
                and (kind == AUDIO or w.participants[j].group.kind != "sip")]  # a phone gets no video
        self.live_outputs = np.array(sorted(live), dtype=np.int64)
        self.subs = Subscriptions(len(st), len(w.participants), self.live_outputs, st.owner[self.live_outputs])
        self._dirty = False

    def _observe_speech(self, frames: npt.NDArray[np.void]) -> None:
        """The MCU hears who speaks in the audio it decodes (levels per frame)."""
        st = self.world.streams
        audio = st.kind[frames["stream"]] == AUDIO
        pub = st.pub[frames["stream"][audio]]
        loud = self.world.speaking[pub]
        self.detector.observe(pub[loud], st.period_ns[frames["stream"][audio][loud]])

    def _shown(self, j: int) -> set[int] | None:
        """Speaker layout: the inputs on j's composite, the detected speaker (most recent)
        first and the next most recent as thumbnails; None in grid layout (everyone)."""
        if self.options.layout != "speaker":
            return None
        order = self.recency.order[self.world.participants[j].room]
        return set([p for p in order if p != j][:SPEAKER_LAYOUT_TILES])

    def _tiles(self, j: int) -> int:
        others = [p for p in self.inputs[(self.world.participants[j].room, VIDEO)] if p != j]
        if self.options.layout == "speaker":
            return min(len(others), SPEAKER_LAYOUT_TILES)
        return len(others)

    def _mix_work_ns(self, s: int) -> float:
        """Node CPU of one output frame: mix or composite, then encode."""
        w = self.world
        j = int(w.streams.owner[s])
        if w.streams.kind[s] == AUDIO:
            others = [p for p in self.inputs[(w.participants[j].room, AUDIO)] if p != j]
            return len(others) * self.mix_ns + self.encode_ns[s]
        return self._tiles(j) * self.tile_ns + self.encode_ns[s]

    # -- the tick ------------------------------------------------------------------------
    def step(self, t0: int, t1: int, capturing: bool) -> None:
        w = self.world
        rates = self.rates
        if self._dirty:
            self._plan()
            if rates is not None:
                rates.join(w.present)
        if rates is not None and t0 >= self.next_control:
            inside = w.warmup_ns <= t0 < w.end_capture_ns
            rates.control(t0, rates.feedback_ns / NS if inside else 0.0)
            self.next_control = t0 + rates.feedback_ns
        while self.detector.due(t0):
            levels = self.detector.update(self.detector.next_update_ns)
            self.recency.promote(levels, self.detector.active() & w.present)
        window, measuring = self.window(t0)
        if capturing:
            frames = self.capture(t0, t1, self.sent_streams)
            self._observe_speech(frames)
            frames = self.encode(frames, window, measuring)
            packets = self.packetize(frames)
            packets["res"] = w.uplink[w.streams.pub[packets["stream"]]]
            self.uplinks.push(packets)
        arrived = self.send(self.uplinks, t1, window, measuring)
        arrived["res"] = self.servers.nic_in_of(arrived["stream"])
        self.node_in.push(arrived)
        at_node = self.send(self.node_in, t1, window, measuring)
        mixes = self.capture(t0, t1, self.live_outputs) if capturing else np.empty(0, dtype=FRAME)
        if rates is not None and len(mixes):
            video = w.streams.kind[mixes["stream"]] == VIDEO
            scaled = np.rint(mixes["payload"] * rates.ratio[w.streams.owner[mixes["stream"]]]).astype(np.int64)
            mixes["payload"] = np.where(video, np.maximum(scaled, 1), mixes["payload"])
        encoded = self._node_cpu(at_node, mixes, window, measuring)
        out = self.packetize(encoded, capture=self._tick_times(encoded))
        out["sub"] = w.streams.owner[out["stream"]]
        out["res"] = self.servers.nic_out_of(out["stream"])
        self.count_addressed(out)
        if rates is not None and self.options.pacing:
            out = rates.pace(out)
        self.node_out.push(out)
        out = self.send(self.node_out, t1, window, measuring, next_res=w.downlink)
        self.downlinks.push(out, self.links.order == ORDER_TIME)  # then so is every downlink's share
        feedback = rates.watch() if rates is not None else None
        received = self.send(self.downlinks, t1, window, measuring, self.links.receiver_res, feedback)
        # a receiver's packets all crossed its own downlink, a FIFO unless a repair jumped it
        self.clients.push(received, self.links.order >= ORDER_PER_LINK)
        self.deliver(self.clients.take(t1), window, measuring)
        self._forget_before(t0 - _AGE_HORIZON_NS)

    def details(self) -> dict[str, Any]:
        """Per participant: downlink estimate and the rate and resolution of its composite."""
        return self.rates.details() if self.rates is not None else {}

    def received_pixels(self, i: int) -> float | None:
        """Time-weighted pixels of i's composite (None: the configured resolution)."""
        return self.rates.received_pixels(i) if self.rates is not None else None

    def _tick_times(self, encoded: npt.NDArray[np.void]) -> npt.NDArray[np.int64]:
        st = self.world.streams
        s = encoded["stream"]
        return st.phase_ns[s] + np.floor(encoded["fseq"] * st.period_ns[s]).astype(np.int64)

    def _node_cpu(self, at_node: Packets, mixes: npt.NDArray[np.void], window: int,
                  measuring: bool) -> npt.NDArray[np.void]:
        """Decode arriving frames and run the mixer ticks on the node's cores, in one FIFO.
        Returns the output frames encoded in time (`t` = encode done)."""
        w = self.world
        markers = rows(at_node, at_node["marker"])
        whole = rows(markers, ~self.damage.settle(markers))
        decode_work = self.decode_ns[whole["stream"]]
        mix_work = np.array([self._mix_work_ns(int(s)) for s in mixes["stream"]], dtype=np.float64)
        pools = np.concatenate([self.servers.cpu_of(whole["stream"]), self.servers.cpu_of(mixes["stream"])])
        arrival = np.concatenate([whole["t"], mixes["t"]])
        work = np.rint(np.concatenate([decode_work, mix_work])).astype(np.int64)
        order = np.argsort(arrival, kind="stable")
        done_sorted, ok_sorted = w.cpus.serve(pools[order], arrival[order], work[order], window, measuring)
        done = np.empty_like(done_sorted)
        done[order] = done_sorted
        ok = np.empty_like(ok_sorted)
        ok[order] = ok_sorted
        n = len(whole)
        self._buffer_inputs(rows(whole, ok[:n]), done[:n][ok[:n]])
        self._choose_inputs(mixes)
        self._count_dropped_outputs(rows(mixes, ~ok[n:]))
        encoded = rows(mixes, ok[n:])
        encoded["t"] = done[n:][ok[n:]]
        return encoded

    def _count_dropped_outputs(self, dropped: npt.NDArray[np.void]) -> None:
        """An output frame whose mix/encode job the node refused (its queue was past
        max_queue_ms) is never sent, but its receiver was owed it: its packets and frame
        count as addressed and never arrive, so they show in the receiver's loss, frame
        loss, frozen video and MOS instead of vanishing from the books. (A refused decode
        of an input frame is not a receiver's frame: the mixer uses that input's previous
        video frame, or mixes without its audio for a tick; it shows in
        cpu_dropped_jobs.)"""
        if len(dropped) == 0:
            return
        lost = self.packetize(dropped, capture=self._tick_times(dropped))
        lost["sub"] = self.world.streams.owner[lost["stream"]]
        self.count_addressed(lost)

    def _buffer_inputs(self, frames: Packets, done: npt.NDArray[np.int64]) -> None:
        """Decoded input frames wait in their jitter buffer until ready for the mixer
        (with their encode and uplink stamps, for the latency breakdown)."""
        st = self.world.streams
        for stream, capture, ready, enc, up in zip(frames["stream"].tolist(), frames["capture"].tolist(),
                                                   (done + self.jitter_ns).tolist(), frames["enc_us"].tolist(),
                                                   frames["up_us"].tolist(), strict=True):
            key = (int(st.pub[stream]), int(st.kind[stream]))
            self.queues.setdefault(key, deque()).append((ready, capture, enc, up))

    def _choose_inputs(self, mixes: npt.NDArray[np.void]) -> None:
        """At each mixer tick take, per input, the oldest ready audio frame (one 20 ms frame
        per tick; a backlog beyond the buffer depth is trimmed) or the newest ready video
        frame; remember each input's age for the latency of every output of that tick."""
        w = self.world
        st = w.streams
        depth = max(1, round(self.options.jitter_buffer_ms / AUDIO_MIX_FRAME_MS)) + 1
        ticks = sorted({(int(w.participants[int(st.owner[s])].room), int(st.kind[s]), int(k), int(t))
                        for s, k, t in zip(mixes["stream"], mixes["fseq"], mixes["t"], strict=True)},
                       key=lambda x: x[3])
        for room, kind, k, t_mix in ticks:
            ages: list[tuple[int, int, int, int]] = []
            for pub in self.inputs[(room, kind)]:
                queue = self.queues.get((pub, kind))
                if not queue or queue[0][0] > t_mix:
                    continue
                ready = _ready_count(queue, t_mix)
                if kind == AUDIO:
                    for _ in range(max(0, ready - depth)):  # late burst: trim to the buffer depth
                        queue.popleft()
                    _, capture, enc, up = queue.popleft()
                else:
                    for _ in range(ready - 1):  # show the newest ready frame; keep it on screen
                        queue.popleft()
                    _, capture, enc, up = queue[0]
                ages.append((pub, t_mix - capture, enc, up))
            self.ages[(room, kind, k)] = (t_mix, np.array(ages, dtype=np.int64).reshape(-1, 4))

    def record_latency(self, sub: npt.NDArray[np.int64], stream: npt.NDArray[np.integer],
                       latency: npt.NDArray[np.int64], captured: npt.NDArray[np.int64],
                       stages: npt.NDArray[np.int64] | None = None,
                       source: npt.NDArray[np.int64] | None = None) -> None:
        """Expand each decoded output frame into one sample per input it carried. The
        input's own encode and uplink stamps start its breakdown; everything from reaching
        the node to the output leaving it (decode, jitter buffer, mix wait, mix, encode)
        is the node stage; the output's downlink, jitter buffer and decode follow."""
        w = self.world
        st = w.streams
        empty = np.zeros((0, 4), dtype=np.int64)
        tables, frames = [], []
        for i, (j, s, t_mix) in enumerate(zip(sub.tolist(), stream.tolist(), captured.tolist(), strict=True)):
            k = round((t_mix - int(st.phase_ns[s])) / st.period_ns[s])
            _, ages = self.ages.get((w.participants[j].room, int(st.kind[s]), k), (0, empty))
            mixed = ages[ages[:, 0] != j]
            shown = self._shown(j) if int(st.kind[s]) == VIDEO else None
            if shown is not None:
                mixed = mixed[np.isin(mixed[:, 0], list(shown))]
            tables.append(mixed)
            frames.append(np.full(len(mixed), i, dtype=np.int64))
        table = np.concatenate(tables) if tables else empty
        index = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int64)
        pub, age, enc, up = table.T
        expanded = None
        if stages is not None:
            out = stages[index]
            expanded = np.empty((len(index), stages.shape[1]), dtype=np.int64)
            expanded[:, 0] = enc * 1000
            expanded[:, 1] = (up - enc) * 1000
            expanded[:, 2] = age - up * 1000 + out[:, 0] + out[:, 1] + out[:, 2]
            expanded[:, 3:] = out[:, 3:]
        super().record_latency(sub[index], stream[index], latency[index] + age, captured[index] - age,
                               stages=expanded, source=pub)

    def _forget_before(self, t_ns: int) -> None:
        """Drop mix records of ticks long past (their outputs were delivered or dropped)."""
        if len(self.ages) < 4096:
            return
        for key in [key for key, (t_mix, _) in self.ages.items() if t_mix < t_ns]:
            del self.ages[key]

    # -- closed forms -------------------------------------------------------------------
    def wire_plan(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each publisher's top streams up; each participant's own outputs down."""
        if self._dirty:
            self._plan()
        sent, out = self.sent_streams.astype(np.int64), self.live_outputs.astype(np.int64)
        return (np.stack([sent, np.ones_like(sent)], axis=1),
                np.stack([out, self.world.streams.owner[out]], axis=1))

    def expected(self) -> dict[str, Any]:
        """Uplink = own top streams; downlink = one mix + one composite; node CPU = decodes
        + per-output mix/composite + encodes."""
        if self._dirty:
            self._plan()
        w = self.world
        st = w.streams
        nodes = [w.scenario.node_of(room).id for room in w.scenario.rooms]
        cpu: dict[str, float] = {}
        for s in self.sent_streams:
            node = nodes[w.participants[int(st.pub[s])].room]
            cpu[node] = cpu.get(node, 0.0) + NS / st.period_ns[s] * self.decode_ns[s] / NS
        for s in self.live_outputs:
            node = nodes[w.participants[int(st.owner[s])].room]
            cpu[node] = cpu.get(node, 0.0) + NS / st.period_ns[s] * self._mix_work_ns(int(s)) / NS
        sent = [(int(s), 1) for s in self.sent_streams]
        receive = [(int(s), int(st.owner[s])) for s in self.live_outputs]
        return closed_form(w, uplink=sent, receive=receive, encode=sent, server_cpu_cores=cpu,
                           node_of_room=nodes)


def _ready_count(queue: deque[tuple[int, int, int, int]], t_mix: int) -> int:
    """How many buffered frames are ready (decoded + jitter buffer) at the mixer tick."""
    count = 0
    for ready, *_ in queue:
        if ready > t_mix:
            break
        count += 1
    return count
