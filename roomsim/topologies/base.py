"""What every topology shares: capture, client encode and packetization, link stages,
frame-damage tracking, delivery with client decode, and the subscription table.

A topology answers one question for the engine: this frame of this track was captured
now — which links does it cross, in what order, and what CPU work does it cost? Each
topology wires the shared pieces below into its own stages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from roomsim.codecs import get_codec
from roomsim.sim.breakdown import StageBreakdown, stage_durations
from roomsim.sim.frame_sizes import FrameSizes
from roomsim.sim.kernels import capture_frames, receive_frames
from roomsim.sim.packets import PACKET, Packets, empty_packets, packet_counts, packetize_frames, rows
from roomsim.sim.stage import Stage
from roomsim.transport.control import ControlTraffic
from roomsim.transport.feedback import FeedbackBuffer
from roomsim.transport.links import LinkTransports
from roomsim.transport.playout import Playout
from roomsim.workload.world import AUDIO, VIDEO, World

IntArray = npt.NDArray[np.int64]

#: A frame on its way to the packetizer: `t` is when it is ready (captured, then encoded);
#: `capture` stays the capture time, so latency is counted from capture.
FRAME = np.dtype([("t", np.int64), ("stream", np.int32), ("fseq", np.int64),
                  ("payload", np.int64), ("sub", np.int32), ("capture", np.int64)])


class Subscriptions:
    """Who receives which stream: (stream, receiver) pairs, grouped by stream (CSR)."""

    def __init__(self, n_streams: int, n_participants: int, stream: IntArray, sub: IntArray) -> None:
        order = np.lexsort((sub, stream))
        self.stream = stream[order]
        self.sub = sub[order]
        self.n_participants = n_participants
        self.indptr = np.searchsorted(self.stream, np.arange(n_streams + 1))
        self.count = np.diff(self.indptr)

    def expand(self, streams: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """Repeat each item once per receiver of its stream:
        (item index, receiver, rank of the receiver among the item's copies)."""
        counts = self.count[streams]
        item = np.repeat(np.arange(len(streams)), counts)
        first = np.cumsum(counts) - counts
        rank = np.arange(len(item)) - first[item]
        return item, self.sub[rank + self.indptr[streams][item]], rank

    def per_receiver(self, per_stream: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Sum a per-stream quantity over each receiver's streams."""
        weights = per_stream[self.stream].astype(np.float64)
        totals = np.bincount(self.sub, weights=weights, minlength=self.n_participants)
        return np.rint(totals).astype(np.int64)


class FrameDamage:
    """Which in-flight frames lost a packet, per flow, as a 64-frame bit ring.

    Packets of one frame travel one path in order and the marker (last) packet arrives
    last, so a drop is always recorded before that frame's marker is checked.
    """

    def __init__(self, flows: int) -> None:
        self.bits = np.zeros(max(1, flows), dtype=np.uint64)

    @staticmethod
    def _bit(fseq: npt.NDArray[np.integer]) -> npt.NDArray[np.uint64]:
        return np.left_shift(np.uint64(1), (fseq & 63).astype(np.uint64))

    def record_drops(self, dropped: Packets) -> None:
        """A dropped packet damages its frame; a dropped marker settles the frame as lost."""
        if len(dropped) == 0:
            return
        np.bitwise_or.at(self.bits, dropped["flow"], self._bit(dropped["fseq"]))
        markers = rows(dropped, dropped["marker"])
        np.bitwise_and.at(self.bits, markers["flow"], ~self._bit(markers["fseq"]))

    def settle(self, markers: Packets) -> npt.NDArray[np.bool_]:
        """For arriving markers: was their frame damaged? Clears the frames' bits."""
        bit = self._bit(markers["fseq"])
        damaged = (self.bits[markers["flow"]] & bit) != 0
        if damaged.any():
            np.bitwise_and.at(self.bits, markers["flow"][damaged], ~bit[damaged])
        return damaged | markers["damaged"]


class Topology(ABC):
    """Base of mesh, SFU and MCU: owns the stages and the shared client pipeline."""

    name: ClassVar[str]
    #: True where a played frame stands for several inputs (the MCU's mixes): deliver then
    #: hands `record_latency` each frame's stage table to expand per input.
    breakdown_per_input: ClassVar[bool] = False

    def __init__(self, world: World) -> None:
        self.world = world
        world.on_membership_change = self.replan
        self.stages: list[Stage] = []
        self._frames = np.empty(0, dtype=FRAME)

    # -- who receives what ----------------------------------------------------------------
    @property
    def subs(self) -> Subscriptions:
        """The current plan: (stream, receiver) pairs."""
        return self._subs

    @subs.setter
    def subs(self, plan: Subscriptions) -> None:
        """Every topology's plan passes here: receivers that take audio only (a SIP caller)
        drop the video streams planned for them."""
        w = self.world
        audio_only = getattr(self, "_audio_only", None)
        if audio_only is None:
            audio_only = np.array([p.group.kind == "sip" for p in w.participants], dtype=bool)
            self._audio_only = audio_only
        if audio_only.any() and len(plan.sub):
            keep = ~(audio_only[plan.sub] & (w.streams.kind[plan.stream] != AUDIO))
            if not keep.all():
                plan = Subscriptions(len(plan.indptr) - 1, plan.n_participants, plan.stream[keep], plan.sub[keep])
        self._subs = plan

    def received_streams(self, i: int) -> list[int]:
        """Streams participant i receives at the end of the run: from the plan of a topology
        that keeps (stream, receiver) pairs, or the SFU's open forwarding entries."""
        return self.received_streams_of_all()[i]

    def received_streams_of_all(self) -> list[list[int]]:
        """`received_streams` of every participant, in one pass over the plan (results read
        all of them; one pass per participant was quadratic in the room size)."""
        n = len(self.world.participants)
        subs = getattr(self, "_subs", None)
        if subs is not None:  # in plan order
            receiver, stream = subs.sub, subs.stream
        else:
            table = getattr(self, "credit", None)
            if table is None:
                return [[] for _ in range(n)]
            open_now = (table.end == np.iinfo(np.int64).max) & (table.target >= 0) & (table.target < n)
            pairs = np.unique(np.stack([table.target[open_now], table.key[open_now]], axis=1), axis=0)
            receiver, stream = pairs[:, 0], pairs[:, 1]  # sorted, each stream once
        order = np.argsort(receiver, kind="stable")
        bounds = np.searchsorted(receiver[order], np.arange(n + 1)).tolist()
        streams = stream[order].tolist()
        return [streams[bounds[i]:bounds[i + 1]] for i in range(n)]

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """After the world is frozen: per-stream costs, damage rings, first plan."""
        w = self.world
        specs = w.streams.specs
        self.encode_ns = np.array([w.encode_ns(s) for s in specs], dtype=np.float64)
        self.decode_ns = np.array([w.decode_ns(s) for s in specs], dtype=np.float64)
        self.damage = FrameDamage(w.flow_count)
        servers = getattr(self, "servers", None)
        self.links = LinkTransports(w, None if servers is None else servers.nic_out)
        self.playout = Playout(w)
        self.control_packets = ControlTraffic(w)
        self.control_packets.repair = self.links.repair
        w.frame_sizes = FrameSizes(w.scenario.wire.frames, w.seed, [w.stream_name(s) for s in range(len(specs))],
                                   w.streams.kind == VIDEO, w.streams.frame_bytes, w.streams.period_ns,
                                   np.array([spec.temporal > 0 for spec in specs], dtype=bool))
        w.breakdown = StageBreakdown(len(w.participants))
        w.audio_expected_frames = np.zeros(len(w.participants), dtype=np.int64)
        self.replan()

    @abstractmethod
    def replan(self) -> None:
        """Decide who receives which stream (called on every join or leave)."""

    @abstractmethod
    def step(self, t0: int, t1: int, capturing: bool) -> None:
        """Move everything that happens in [t0, t1) through the stages."""

    def tick(self, t0: int, t1: int, capturing: bool) -> None:
        """One engine tick: the topology's media, then the control packets on the wire
        (while the call lasts: not in the drain after capture ends)."""
        self.step(t0, t1, capturing)
        if capturing and self.control_packets.enabled:
            self._emit_control(t0, t1)

    def _emit_control(self, t0: int, t1: int) -> None:
        """Control packets of [t0, t1), following the plan (re-read every second: an SFU's
        layers and a cluster's placements change without a replan)."""
        control = self.control_packets
        if t0 >= control.next_check:
            control.follow(self.wire_plan(), self.node_links(), t0, t1)
        window, measuring = self.window(t0)
        control.emit(t0, t1, window, measuring, self.take_plis())

    def node_links(self) -> tuple[IntArray, IntArray] | None:
        """Per participant, the NIC-in and NIC-out links of the node it is connected to
        (None without servers)."""
        servers = getattr(self, "servers", None)
        if servers is None:
            return None
        home = np.maximum(servers.home, 0)
        return servers.nic_in[home], servers.nic_out[home]

    def take_plis(self) -> IntArray:
        """Publishers that were sent a PLI since the last call (an SFU's keyframe requests)."""
        return np.zeros(0, dtype=np.int64)

    @abstractmethod
    def wire_plan(self) -> tuple[IntArray, IntArray]:
        """The current plan as `expected.closed_form` takes it, as rows of two columns:
        (stream, copies) each publisher sends up, and (stream, receiver) pairs reaching
        receivers."""

    @abstractmethod
    def expected(self) -> dict[str, Any]:
        """Closed-form figures for the current plan, computed independently of the engine."""

    def in_flight(self) -> int:
        """Packets still waiting in some stage, at a receiver, or inside a TCP connection."""
        return sum(len(stage) for stage in self.stages) + self.links.in_flight()

    def stage(self, name: str, merging: bool = False) -> Stage:
        """Create and register a stage (`merging` where its queues have several sources)."""
        created = Stage(name, merging)
        self.stages.append(created)
        return created

    # -- shared pipeline pieces ----------------------------------------------------------
    def window(self, t0: int) -> tuple[int, bool]:
        """Counter window of a tick and whether it lies in the measurement interval."""
        w = self.world
        return w.windows.index(t0), w.warmup_ns <= t0 < w.end_capture_ns

    def capture(self, t0: int, t1: int, streams: IntArray) -> npt.NDArray[np.void]:
        """Frames the given streams capture in [t0, t1), DTX applied, by capture time.

        Frame k of a stream is captured at phase + floor(k x period); its payload is the
        k-th step of an exact running total, so the mean rate equals the bitrate; video
        frames are then resized by the frame-size model (keyframes, rate-controlled delta
        frames; roomsim.sim.frame_sizes) unless `wire.frames` is `constant`.
        """
        w = self.world
        st = w.streams
        if len(streams) == 0:
            return np.empty(0, dtype=FRAME)
        # one compiled pass into a buffer kept between ticks (what is returned is a copy)
        n = capture_frames(t0, t1, streams, st.period_ns, st.phase_ns, st.frame_bytes, self._frames)
        if n < 0:
            self._frames = np.empty(2 * -n, dtype=FRAME)
            n = capture_frames(t0, t1, streams, st.period_ns, st.phase_ns, st.frame_bytes, self._frames)
        frames = self._frames[:n]
        is_key = w.frame_sizes.size(frames)
        for listener in w.frame_listeners:
            listener(frames.copy(), is_key)
        s = frames["stream"]
        silent = st.dtx[s] & ~w.speaking_at(st.pub[s], frames["t"])
        if silent.any():
            frames = self._apply_dtx(frames, silent)
        return rows(frames, np.argsort(frames["t"], kind="stable"))

    def _apply_dtx(self, frames: npt.NDArray[np.void], silent: npt.NDArray[np.bool_]) -> npt.NDArray[np.void]:
        """While silent, a DTX audio stream sends only its periodic comfort-noise frames."""
        every, size = self._dtx_tables()
        stream = frames["stream"][silent]
        keep = np.ones(len(frames), dtype=bool)
        keep[silent] = frames["fseq"][silent] % every[stream] == 0
        frames["payload"][silent] = size[stream]
        return rows(frames, keep)

    def _dtx_tables(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per stream: comfort-noise cadence (in frames) and frame bytes (computed once)."""
        if not hasattr(self, "_dtx_every"):
            st = self.world.streams
            every = np.ones(len(st), dtype=np.int64)
            size = np.zeros(len(st), dtype=np.int64)
            for s in np.flatnonzero(st.dtx):
                spec = get_codec(st.specs[s].codec)
                every[s] = max(1, round(spec.dtx_interval_ms * 1e6 / st.period_ns[s]))
                size[s] = spec.dtx_frame_bytes
            self._dtx_every, self._dtx_size = every, size
        return self._dtx_every, self._dtx_size

    def encode(self, frames: npt.NDArray[np.void], window: int, measuring: bool,
               scale: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.void]:
        """Run frames (in capture order) through their publisher's encoder; return the
        frames encoded in time, with `t` = encode done. Frames the encoder cannot take in
        time are dropped. `scale`: each frame's work over its stream's (an encoder sending
        fewer pixels than its source)."""
        w = self.world
        if len(frames) == 0:
            return frames
        pub = w.streams.pub[frames["stream"]]
        pool = w.encoder[pub]
        cost = self.encode_ns[frames["stream"]] if scale is None else self.encode_ns[frames["stream"]] * scale
        work = np.rint(cost / w.client_speed[pub]).astype(np.int64)
        done, ok = w.cpus.serve(pool, frames["t"], work, window, measuring)
        np.add.at(w.frames_dropped_cpu, pub[~ok], 1)
        encoded = rows(frames, ok)
        encoded["t"] = done[ok]
        return encoded

    def packetize(self, frames: npt.NDArray[np.void], capture: npt.NDArray[np.int64] | None = None) -> Packets:
        """Split encoded frames into RTP packets (all leave at the frame's `t`)."""
        st = self.world.streams
        if len(frames) == 0:
            return empty_packets()
        counts = packet_counts(frames["payload"], st.mtu_payload[frames["stream"]])
        packets = np.empty(int(counts.sum()), dtype=PACKET)
        packetize_frames(frames, frames["capture"] if capture is None else capture, counts, st.header_bytes,
                         self.world.stream_trailer, packets)
        return packets

    def send(self, stage: Stage, t1: int, window: int, measuring: bool, next_res: IntArray | None = None,
             feedback: FeedbackBuffer | None = None) -> Packets:
        """Release a link stage's due packets onto their links (arrived packets move on
        to `next_res[receiver]`, see `LinkTransports.transmit`; `feedback` records them for
        a congestion controller); media drops damage their frames."""
        return self.send_with_drops(stage, t1, window, measuring, next_res, feedback)[0]

    def send_with_drops(self, stage: Stage, t1: int, window: int, measuring: bool,
                        next_res: IntArray | None = None, feedback: FeedbackBuffer | None = None
                        ) -> tuple[Packets, Packets]:
        """`send`, also returning what the links dropped. Probe padding (fseq < 0) has no
        frame to damage."""
        batch = stage.take(t1)
        out, dropped = self.links.transmit(stage.name, batch, t1, window, measuring, next_res, feedback)
        if len(dropped):
            media = dropped["fseq"] >= 0
            self.damage.record_drops(dropped if media.all() else rows(dropped, media))
        return out, dropped

    def to_receivers(self, packets: Packets, subs: Subscriptions) -> tuple[Packets, IntArray, IntArray]:
        """Copy each packet once per receiver of its stream (downstream flows);
        returns (copies, index of each copy's packet, its rank among that packet's copies)."""
        w = self.world
        item, sub, rank = subs.expand(packets["stream"].astype(np.int64))
        copies = rows(packets, item)
        copies["sub"] = sub
        copies["flow"] = w.down_flow_base[copies["stream"]] + w.local_index[sub]
        return copies, item, rank

    def count_offered(self, packets: Packets, subs: Subscriptions) -> None:
        """Credit each receiver with the packets and frames sent toward it (loss basis)."""
        w = self.world
        m = len(w.streams)
        per_stream = np.bincount(packets["stream"], minlength=m)
        w.expected_packets += subs.per_receiver(per_stream)
        frames = np.bincount(packets["stream"][packets["marker"]], minlength=m)
        w.expected_frames += subs.per_receiver(frames)
        w.audio_expected_frames += subs.per_receiver(np.where(w.streams.kind == AUDIO, frames, 0))

    def count_addressed(self, packets: Packets) -> None:
        """Credit receivers with packets already addressed to them (loss basis)."""
        w = self.world
        n = len(w.participants)
        w.expected_packets += np.bincount(packets["sub"], minlength=n)
        w.expected_frames += np.bincount(packets["sub"][packets["marker"]], minlength=n)
        audio_markers = packets["marker"] & (w.streams.kind[packets["stream"]] == AUDIO)
        w.audio_expected_frames += np.bincount(packets["sub"][audio_markers], minlength=n)

    def deliver(self, batch: Packets, window: int, measuring: bool) -> None:
        """Packets reaching receivers (each receiver's in time order): reassemble frames at
        their marker, decode whole frames on the receiver's decoder, play them out through
        the receiver's jitter buffer, record latency and its breakdown (compiled passes over
        the batch, no copies between them). Where a played frame stands for several inputs (the MCU) the
        samples are recorded here instead; frames also go to whoever observes plays."""
        if len(batch) == 0:
            return
        in_kernel = not self.breakdown_per_input
        done, ready, playout = self._receive(batch, window, measuring, in_kernel)
        if in_kernel and not self.observes_plays():
            return
        played = np.flatnonzero(playout >= 0)
        if len(played) == 0:
            return
        frames = rows(batch, played)
        sub = frames["sub"].astype(np.int64)
        capture = frames["capture"]
        latency = playout[played] - capture
        if in_kernel:
            self.observe_plays(sub, frames["stream"], latency, capture)
            return
        stages = stage_durations(capture, frames["enc_us"], frames["up_us"], frames["out_us"], ready[played],
                                 done[played], playout[played])
        self.record_latency(sub, frames["stream"], latency, capture, stages=stages)

    def _receive(self, batch: Packets, window: int, measuring: bool, record: bool
                 ) -> tuple[IntArray, IntArray, IntArray]:
        """Reception (frame reassembly, damage, decode) then playout of a batch, one compiled
        pass each; returns per packet (decode done or -1, frame complete, playout or -1).
        With `record`, played frames are counted into the latency histograms and the stage
        breakdown in the playout pass."""
        w = self.world
        cpus = w.cpus
        busy, jobs, dropped = cpus.pending(window, measuring)
        done, ready = (np.empty(len(batch), dtype=np.int64) for _ in range(2))
        receive_frames(batch, self.damage.bits, w.decoder, self.decode_ns,
                       w.client_speed, cpus.cores, cpus.queue_ns, cpus.busy_until, w.received_packets,
                       w.frames_lost, w.frames_decoded, w.frames_dropped_cpu, busy, jobs, dropped,
                       done, self.links.ready_t, self.links.ready_fseq, ready)
        recording = (w.warmup_ns, w.end_capture_ns, *w.breakdown.state(), *w.latency.state()) if record else None
        return done, ready, self.playout.play(batch, ready, done, recording)

    def observes_plays(self) -> bool:
        """Whether played frames go anywhere beyond the receivers' own histograms."""
        return bool(self.world.play_listeners)

    def observe_plays(self, sub: IntArray, stream: npt.NDArray[np.integer], latency: IntArray,
                      captured: IntArray, source: IntArray | None = None) -> None:
        """Every played frame goes to the world's play listeners. `source` is the
        participant whose media each frame carries (default: the stream's publisher)."""
        w = self.world
        if w.play_listeners and len(sub):
            origin = w.streams.pub[stream] if source is None else source
            kind = w.streams.kind[stream]
            for listener in w.play_listeners:
                listener(sub, origin, kind, captured, captured + latency)

    def record_latency(self, sub: IntArray, stream: npt.NDArray[np.integer],
                       latency: IntArray, captured: IntArray, stages: IntArray | None = None,
                       source: IntArray | None = None) -> None:
        """Latency samples (and their stage breakdown) recorded outside the delivery kernel:
        those of frames captured inside the measurement interval are counted, and every
        sample is observed (`observe_plays`)."""
        w = self.world
        self.observe_plays(sub, stream, latency, captured, source)
        kind = w.streams.kind[stream]
        inside = (captured >= w.warmup_ns) & (captured < w.end_capture_ns)
        w.latency.add(sub[inside], kind[inside], latency[inside])
        if stages is not None:
            w.breakdown.add(sub[inside], kind[inside], stages[inside])
