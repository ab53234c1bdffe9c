"""Congestion control of a mesh's peer connections: one GCC per RTCPeerConnection.

A browser in a mesh holds one RTCPeerConnection per remote peer, each with its own
send-side congestion controller (libwebrtc goog_cc), pacer and video encoder. This module
runs them all, one estimator row per ordered (sender, receiver) pair of a room, with the
same estimator the SFU uses (roomsim.transport.gcc), fed by the receiver's transport-wide
feedback over the whole peer-to-peer path (sender's uplink, receiver's downlink, report
back over the reverse path). Per control instant (each feedback interval):

* estimates update from the feedback that reached the sender;
* probes: a new connection starts at `start_bitrate_kbps` (libwebrtc's
  kDefaultStartBitrateBps = 300 kbps, api/transport/bitrate_settings.h) and probes at 3x
  then 6x it (ProbeControllerConfig first/second_exponential_probe_scale); while a probe's
  result exceeds 0.7 x its goal (further_probe_threshold) it probes again at 2x the
  estimate (further_exponential_probe_scale), up to the connection's maximum bitrate.
  A cluster lasts at least 15 ms and 5 packets (kMinProbeDurationMs, kMinProbePacketsSent,
  probe_controller.cc); its result is min(send, receive rate), or 0.95 x the receive rate
  when that is under 0.9 x the send rate (probe_bitrate_estimator.cc
  kMinRatioForUnsaturatedLink, kTargetUtilizationFraction). libwebrtc sends the two initial
  clusters back to back; here they run one after the other (one probe per row at a time);
* the encoders follow the estimate, and their resolution the bitrate, as libwebrtc's do
  (roomsim.codecs.adaptation);
* with `cpu_adaptation`, each per-peer encoder's usage (capture to encoded over the frame
  interval) is checked as libwebrtc's OveruseFrameDetector does, and an overused one
  sends fewer pixels (roomsim.codecs.adaptation.CpuOveruse). An encode's CPU time scales
  with the pixels it sends (a modelling choice: encoders' work is roughly per pixel).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from roomsim.codecs.adaptation import MIN_VIDEO_BPS, CpuOveruse, ladder_pixels, resolution_pixels
from roomsim.scenario.topology import MeshOptions
from roomsim.sim.kernels_mesh import connection_targets, peer_frame_copies, settle_encodes
from roomsim.sim.pacer import pace
from roomsim.sim.packets import PACKET, Packets, empty_packets
from roomsim.sim.packets import rows as rows_of_array
from roomsim.topologies.base import Subscriptions
from roomsim.transport.feedback import FeedbackBuffer
from roomsim.transport.gcc import PADDING_WIRE_BYTES, GccEstimators, padding_times
from roomsim.workload.world import AUDIO, VIDEO, World

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

FIRST_PROBE_SCALE, SECOND_PROBE_SCALE = 3.0, 6.0
FURTHER_PROBE_SCALE, FURTHER_PROBE_THRESHOLD = 2.0, 0.7
MIN_PROBE_NS, MIN_PROBE_PACKETS = 15_000_000, 5
UNSATURATED_RATIO, TARGET_UTILIZATION = 0.9, 0.95
#: Connections whose estimate is kept as a series for the report (and charts).
MAX_TRACED_ROWS = 64
BROWSER_DEVICES = frozenset({"desktop", "laptop", "phone", "low-end-phone"})
#: Stands in for the encoders' usage state when CPU adaptation is off (nothing is observed).
_NO_CPU = CpuOveruse(0)


def per_peer_encoders(world: World, options: MeshOptions) -> npt.NDArray[np.bool_]:
    """Per participant: does it encode once per peer connection?"""
    if options.encoder_per_peer is not None:
        return np.full(len(world.participants), options.encoder_per_peer, dtype=bool)
    return np.array([p.group.device in BROWSER_DEVICES for p in world.participants], dtype=bool)


class PeerConnections:
    """GCC, probes, pacers and encoder targets of every peer connection of a mesh."""

    def __init__(self, world: World, options: MeshOptions) -> None:
        w = self.world = world
        self.options = options
        st = w.streams
        n = len(w.participants)
        sizes = np.array([len(m) for m in w.room_members], dtype=np.int64)
        base = np.concatenate([[0], np.cumsum(sizes * sizes)])
        room = np.array([p.room for p in w.participants], dtype=np.int64)
        #: estimator row of (pub, sub) = block[sub] + col[stream of pub]
        self.block = base[room] + w.local_index * sizes[room]
        pub = np.maximum(st.pub, 0)
        self.col = np.where(st.pub >= 0, w.local_index[pub], 0).astype(np.int64)
        rows = int(base[-1])
        self.row_pub = np.zeros(rows, dtype=np.int64)
        self.row_sub = np.zeros(rows, dtype=np.int64)
        for members in w.room_members:
            for s in members:
                b = int(self.block[s])
                self.row_sub[b:b + len(members)] = s
                self.row_pub[b:b + len(members)] = members
        self.feedback_ns = round(options.feedback_ms * 1e6)
        self.gcc = GccEstimators(rows, self.feedback_ns)
        self.feedback = FeedbackBuffer()
        top = (st.pub >= 0) & st.top
        bitrate = np.array([spec.bitrate_bps for spec in st.specs], dtype=np.float64)
        self.stream_bps = bitrate
        audio = top & (st.kind == AUDIO)
        self.audio_bps: FloatArray = np.bincount(pub[audio], weights=bitrate[audio], minlength=n).astype(np.float64)
        video = top & (st.kind == VIDEO)
        self.video_bps: FloatArray = np.bincount(pub[video], weights=bitrate[video], minlength=n).astype(np.float64)
        self.is_video = st.kind == VIDEO
        self.is_audio = st.kind == AUDIO
        self.source_pixels = np.array([resolution_pixels(spec.resolution) if spec.kind == VIDEO else 0.0
                                       for spec in st.specs])
        self.max_bps = self.audio_bps[self.row_pub] + self.video_bps[self.row_pub]
        self.started = np.zeros(rows, dtype=bool)
        self.active = np.zeros(rows, dtype=bool)
        self.ratio = np.ones(rows)  # video bitrate / configured video bitrate
        self.video_target = np.zeros(rows)
        self.next_free = np.zeros(rows, dtype=np.int64)
        self.probe_on = np.zeros(rows, dtype=bool)
        self.probe_stage = np.zeros(rows, dtype=np.int64)
        self.probe_start = np.zeros(rows, dtype=np.int64)
        self.probe_end = np.zeros(rows, dtype=np.int64)
        self.probe_goal = np.zeros(rows)
        self.probes = np.zeros(rows, dtype=np.int64)
        # measured time-weighted figures per row: seconds, video bps x s, pixels x s
        self.measured_s = np.zeros(rows)
        self.bps_s = np.zeros(rows)
        self.pixel_s = np.zeros(rows)
        # the traced rows' video targets at each control instant (`series` reads them)
        self._traced: list[tuple[IntArray, FloatArray]] = []
        self.cpu = CpuOveruse(rows) if options.cpu_adaptation else None
        # each publisher's top video streams as slots 0, 1, ...: per (row, slot) the share
        # of the source's pixels its encoder sends, refreshed when targets change
        self.slot = np.zeros(len(st), dtype=np.int64)
        slots: dict[int, list[int]] = {}
        for stream in np.flatnonzero(video).tolist():
            self.slot[stream] = len(slots.setdefault(int(st.pub[stream]), []))
            slots[int(st.pub[stream])].append(stream)
        width = max([len(v) for v in slots.values()], default=1)
        self.slot_stream = np.full((n, width), -1, dtype=np.int64)
        for p, streams in slots.items():
            self.slot_stream[p, :len(streams)] = streams
        self.scale = np.ones((rows, width))
        self.row_pixels = np.zeros(rows)
        # the ratio and CPU steps each row's scale was last computed from (NaN: never)
        self._scaled_ratio = np.full(rows, np.nan)
        self._scaled_steps = np.zeros(rows, dtype=np.int64)
        self._no_steps = np.zeros(rows, dtype=np.int64)
        self._stale = np.empty(rows, dtype=np.int64)
        self._delays()

    def _delays(self) -> None:
        """Forward (sender's uplink + receiver's downlink) and return path delay per row."""
        w = self.world
        d = w.links.delay_ns
        self.forward = d[w.uplink[self.row_pub]] + d[w.downlink[self.row_sub]]
        self.back = d[w.uplink[self.row_sub]] + d[w.downlink[self.row_pub]]

    def rows_of(self, pub: IntArray, sub: IntArray) -> IntArray:
        """Estimator rows of (sender, receiver) pairs of one room."""
        return self.block[sub] + self.world.local_index[pub]

    # -- membership ---------------------------------------------------------------------------
    def plan(self, now: int, pub: IntArray, sub: IntArray) -> None:
        """The connections now carrying media; new ones start at the start bitrate and probe."""
        active = np.zeros(len(self.active), dtype=bool)
        rows = self.rows_of(pub, sub)
        active[rows] = True
        fresh = np.flatnonzero(active & ~self.started)
        self.active = active
        if len(fresh) == 0:
            return
        self._delays()
        start = self.options.start_bitrate_kbps * 1e3
        rtt_ms = (self.forward[fresh] + self.back[fresh]) / 1e6
        self.gcc.start(fresh, np.full(len(fresh), start), rtt_ms)
        self.started[fresh] = True
        self.next_free[fresh] = now
        self.probe_stage[fresh] = 0
        self._start_probes(now, fresh, np.full(len(fresh), FIRST_PROBE_SCALE * start))
        self._refresh(self._targets(fresh))

    # -- control ------------------------------------------------------------------------------
    def control(self, now: int, capturing: bool, measuring_s: float) -> None:
        """One control instant: estimates, probes, encoder targets, report figures."""
        if self.cpu is not None:
            self.cpu.check(now)
        overused = self.gcc.update(now, self.feedback, self.active)
        self._finish_probes(now, overused, capturing)
        live = np.flatnonzero(self.active)
        self._refresh(self._targets(live))
        if measuring_s > 0:
            self.measured_s[live] += measuring_s
            self.bps_s[live] += self.video_target[live] * measuring_s
            self.pixel_s[live] += self.row_pixels[live] * measuring_s
        traced = live[:MAX_TRACED_ROWS]
        self._traced.append((traced, self.video_target[traced]))

    def _targets(self, rows: IntArray) -> IntArray:
        """Encoder targets: audio keeps its rate, video takes the rest within its bounds
        (roomsim.codecs.adaptation.video_rate, compiled per row). Returns the rows whose
        pixel scale is stale (their ratio or CPU steps changed since it was computed)."""
        steps = self.cpu.steps if self.cpu is not None else self._no_steps
        n = connection_targets(rows, self.gcc.estimate, self.row_pub, self.audio_bps, self.video_bps, MIN_VIDEO_BPS,
                               self.video_target, self.ratio, steps, self._scaled_ratio, self._scaled_steps,
                               self._stale)
        return self._stale[:n].copy()

    def _refresh(self, rows: IntArray) -> None:
        """Per (row, video slot) of the given stale rows: pixels sent at the row's rate
        (libwebrtc's ladder, capped by its encoder's CPU steps) as a share of the source's;
        per row, mean pixels. Rows not stale are skipped by `_targets` (most rows at most
        control instants, once the estimates have settled)."""
        if len(rows) == 0:
            return
        steps = self.cpu.steps[rows] if self.cpu is not None else self._no_steps[rows]
        self._scaled_ratio[rows] = self.ratio[rows]
        self._scaled_steps[rows] = steps
        total = np.zeros(len(rows))
        count = np.zeros(len(rows))
        for k in range(self.scale.shape[1]):
            stream = self.slot_stream[self.row_pub[rows], k]
            has = stream >= 0
            if not has.any():
                continue
            r, s = rows[has], stream[has]
            source = self.source_pixels[s]
            pixels = ladder_pixels(self.ratio[r] * self.stream_bps[s], source)
            if self.cpu is not None:
                pixels = np.minimum(pixels, self.cpu.pixel_cap(r, source))
            self.scale[r, k] = pixels / np.maximum(source, 1.0)
            total[has] += pixels
            count[has] += 1
        self.row_pixels[rows] = np.where(count > 0, total / np.maximum(count, 1), 0.0)

    def copy_frames(self, frames: np.ndarray, subs: Subscriptions, salt: IntArray, rotating: bool,
                    encode_ns: FloatArray) -> tuple[np.ndarray, IntArray, IntArray, IntArray]:
        """Captured frames copied once per receiver of their stream (in rotating order if
        asked; see roomsim.sim.kernels_mesh.peer_frame_copies) and sized for their
        connection's encoder, in one compiled pass: video payloads become round(payload x
        ratio), at least one byte. Returns the copies, each one's connection row, encoder
        pool and encode work (`encode_ns` of its stream, scaled by the pixels it sends)."""
        w = self.world
        total = int(subs.count[frames["stream"]].sum()) if len(frames) else 0
        copies = np.empty(total, dtype=frames.dtype)
        conn, pool, work_ns = (np.empty(total, dtype=np.int64) for _ in range(3))
        peer_frame_copies(frames, subs.indptr, subs.sub, salt, rotating, w.streams.pub, self.block, w.local_index,
                          self.is_video, self.ratio, self.scale, self.slot, encode_ns, w.encoder, w.client_speed,
                          copies, conn, pool, work_ns)
        return copies, conn, pool, work_ns

    def settle_encodes(self, copies: np.ndarray, conn: IntArray, done: IntArray,
                       accepted: npt.NDArray[np.bool_]) -> np.ndarray:
        """The copies the encoders took, in order, with `t` = encode done (refused ones
        count as dropped for CPU). With `cpu_adaptation`, each per-peer video encoder's
        usage is observed: capture-to-encoded times, and a frame interval of work for each
        frame it could not take (into roomsim.codecs.adaptation.CpuOveruse's sums)."""
        w = self.world
        cpu = self.cpu if self.cpu is not None else _NO_CPU
        taken = settle_encodes(copies, conn, done, accepted, w.streams.pub, w.frames_dropped_cpu, self.is_video,
                               w.streams.period_ns, self.cpu is not None, cpu.busy_ns, cpu.frames, cpu.period_ns)
        return copies[:taken]

    def _start_probes(self, now: int, rows: IntArray, goal: FloatArray) -> None:
        self.gcc.begin_probe(rows)
        self.probe_on[rows] = True
        self.probe_goal[rows] = goal
        self.probe_start[rows] = now
        span = np.maximum(MIN_PROBE_NS, MIN_PROBE_PACKETS * PADDING_WIRE_BYTES * 8e9 / goal)
        self.probe_end[rows] = now + np.ceil(span).astype(np.int64)
        self.probes[rows] += 1

    def _finish_probes(self, now: int, overused: npt.NDArray[np.bool_], capturing: bool) -> None:
        if not self.probe_on.any():
            return
        settle = np.rint(self.gcc.rtt_ms * 1e6 + 2 * self.feedback_ns).astype(np.int64)
        done = np.flatnonzero(self.probe_on & (self.probe_end + settle <= now))
        if len(done) == 0:
            return
        self.probe_on[done] = False
        goal = self.probe_goal[done]
        received = self.gcc.probe_rate(done)
        result = np.minimum(goal, received)
        saturated = received < UNSATURATED_RATIO * goal
        result[saturated] = TARGET_UTILIZATION * received[saturated]
        ok = ~overused[done] & (result > 0)
        self.gcc.raise_to(done[ok], result[ok], now)
        stage = self.probe_stage[done]
        self.probe_stage[done] += 1
        estimate = self.gcc.estimate[done]
        initial = stage == 0
        further = ~initial & ok & (result > FURTHER_PROBE_THRESHOLD * goal)
        start_bps = self.options.start_bitrate_kbps * 1e3
        nxt = np.where(initial, SECOND_PROBE_SCALE * start_bps, FURTHER_PROBE_SCALE * estimate)
        nxt = np.minimum(nxt, self.max_bps[done])
        go = (initial | further) & (nxt > estimate) & self.active[done] & capturing
        if go.any():
            self._start_probes(now, done[go], nxt[go])

    # -- sending ------------------------------------------------------------------------------
    def ready_order(self, encoded: np.ndarray) -> IntArray | None:
        """The order (stable on encode-done time) encoded frame copies go through the
        pacers in, which take packets in ready order: a frame's packets are contiguous and
        share its time, so ordering the frames orders their packets, for far fewer items.
        None: as they are (no pacing)."""
        if not self.options.pacing:
            return None
        return np.argsort(encoded["t"], kind="stable")

    def pace(self, packets: Packets, in_ready_order: bool = False) -> Packets:
        """Packets (addressed, `t` = ready) through their connection's pacer: `t` and
        `enc_us` become the release (the send time the feedback reports).
        `in_ready_order`: the caller built them sorted on `t` (skips the check)."""
        if len(packets) == 0 or not self.options.pacing:
            return packets
        ready = packets["t"]
        if not in_ready_order and len(ready) > 1 and (ready[1:] < ready[:-1]).any():
            packets = rows_of_array(packets, np.argsort(ready, kind="stable"))
        pace(packets, self.block, self.col, self.is_audio, self.gcc.estimate, self.next_free)
        return packets  # the uplink stage puts each uplink's packets in release order

    def padding(self, t0: int, t1: int) -> Packets:
        """Probe padding sent in [t0, t1), addressed to the probed receivers."""
        if not self.probe_on.any():
            return empty_packets()
        who = np.flatnonzero(self.probe_on & (self.probe_end > t0))
        rows, times = padding_times(who, self.probe_start, self.probe_end, self.probe_goal, t0, t1)
        if len(rows) == 0:
            return empty_packets()
        order = np.argsort(times, kind="stable")
        rows, times = rows[order], times[order]
        w = self.world
        pub, sub = self.row_pub[rows], self.row_sub[rows]
        first_stream = self._first_stream()
        packets = np.zeros(len(rows), dtype=PACKET)
        packets["t"] = times
        packets["capture"] = times
        packets["sub"] = sub
        packets["stream"] = first_stream[pub]
        packets["fseq"] = -1
        packets["size"] = PADDING_WIRE_BYTES
        packets["res"] = w.uplink[pub]
        return packets

    def _first_stream(self) -> IntArray:
        if not hasattr(self, "_first"):
            st = self.world.streams
            first = np.zeros(len(self.world.participants), dtype=np.int64)
            for s in range(len(st) - 1, -1, -1):
                if st.pub[s] >= 0:
                    first[st.pub[s]] = s
            self._first = first
        return self._first

    def watch(self) -> FeedbackBuffer:
        """The feedback buffer, set to record every receiver's packets by connection row."""
        self.feedback.watch(self.block, self.col, self.forward, self.back, paced=True)
        return self.feedback

    def lost_upstream(self, dropped: Packets) -> None:
        """Packets dropped on the sender's uplink: reported missing by their receiver."""
        if len(dropped) == 0:
            return
        rows = (self.block[dropped["sub"]] + self.col[dropped["stream"]]).astype(np.int64)
        send = dropped["capture"] + dropped["enc_us"].astype(np.int64) * 1000
        self.feedback.append(rows, send, dropped["size"].astype(np.int64),
                             send + self.forward[rows] + self.back[rows])

    # -- report -------------------------------------------------------------------------------
    def series(self) -> dict[int, list[float]]:
        """Per traced row, its video target (kbps, 0.1 resolution) at each control instant."""
        out: dict[int, list[float]] = {}
        for traced, target in self._traced:
            for r, v in zip(traced.tolist(), np.round(target / 1e3, 1).tolist(), strict=True):
                out.setdefault(r, []).append(v)
        return out

    def received_pixels(self, i: int) -> float | None:
        """Time-weighted mean pixels of the video participant i received (measured)."""
        rows = np.flatnonzero((self.row_sub == i) & (self.measured_s > 0) & (self.video_bps[self.row_pub] > 0))
        if len(rows) == 0:
            return None
        return float(np.mean(self.pixel_s[rows] / self.measured_s[rows]))

    def details(self) -> dict[str, Any]:
        """Per connection: estimate, mean video rate and resolution, probes; the traced
        connections' video target over time."""
        w = self.world
        name = lambda r: f"{w.participants[int(self.row_pub[r])].id}->{w.participants[int(self.row_sub[r])].id}"  # noqa: E731
        per = {}
        for r in np.flatnonzero(self.started):
            seconds = self.measured_s[r]
            per[name(r)] = {
                "estimate_kbps": round(float(self.gcc.estimate[r]) / 1e3, 1),
                "video_kbps": round(float(self.bps_s[r] / seconds) / 1e3, 1) if seconds > 0 else None,
                "video_pixels": round(float(self.pixel_s[r] / seconds), 1) if seconds > 0 else None,
                "probes": int(self.probes[r]),
                "cpu_adaptations": int(self.cpu.adaptations[r]) if self.cpu is not None else 0,
            }
        return {
            "bwe": {"estimator": "gcc", "connections": per},
            "video_target_kbps_series": {
                "interval_s": self.feedback_ns / 1e9,
                "connections": {name(r): v for r, v in self.series().items()},
            },
        }
