"""The publisher side of the SFU's decisions: keyframes on request, and dynacast pausing.

Keyframes: a subscriber switching to a layer it does not receive needs a keyframe of that
layer; the SFU sends a PLI to the publisher, at most one per layer per throttle interval
(LiveKit PLIThrottle: 500 ms lowest layer, 1 s the others). The PLI takes the node ->
publisher one-way delay; the next frame the publisher captures on that layer is a
keyframe, `size_factor` times a mean frame (None: libwebrtc's VP8 cap, max(3, 0.3 x fps),
LibvpxVp8Encoder::MaxIntraTarget with its 600 ms optimal buffer). Requests while a keyframe
is on its way share it. With `wire.frames: vbr` (the default) the frame-size model makes
that frame a keyframe and the encoder's rate control pays it back
(roomsim.sim.frame_sizes); with `constant` the extra bytes ride on top of the mean rate,
unpaid, and `size_factor` sets them.

Dynacast: a video layer no entry has wanted for `pause_s` is paused at the publisher (it
stops encoding and sending it) once the pause message reaches it; a request for a paused
layer resumes it with a keyframe.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from roomsim.scenario.topology import KeyframeOptions
from roomsim.sim.packets import rows
from roomsim.workload.world import VIDEO, World

INF = np.iinfo(np.int64).max


class Publishers:
    """Per-stream publisher state: paused windows, keyframe requests and pending keyframes."""

    def __init__(self, world: World, options: KeyframeOptions) -> None:
        self.world = world
        st = world.streams
        m = len(st)
        self.off_from = np.full(m, INF, dtype=np.int64)
        self.on_from = np.full(m, INF, dtype=np.int64)
        self.next_pli = np.zeros(m, dtype=np.int64)
        self.throttle_ns = np.zeros(m, dtype=np.int64)
        self.extra_bytes = np.zeros(m, dtype=np.int64)
        throttles = options.pli_throttle_ms
        for t, members in enumerate(world.track_streams):
            spatial = sorted({st.specs[s].layer for s in members})
            for s in members:
                rank = spatial.index(st.specs[s].layer)
                index = (
                    len(throttles) - 1
                    if rank == len(spatial) - 1
                    else min(rank, len(throttles) - 2)
                )
                self.throttle_ns[s] = round(throttles[max(index, 0)] * 1e6)
                fps = 1e9 / st.period_ns[s]
                factor = options.size_factor or max(3.0, 0.3 * fps)
                self.extra_bytes[s] = round((factor - 1) * st.frame_bytes[s])
            del t
        self.keys: dict[int, list[tuple[int, int]]] = {}  # stream -> [(fseq, capture ns)]
        self.requested = 0
        self.pli_pubs: list[int] = []  # publishers sent a PLI, not yet on the wire
        self.sent = 0
        self.sent_bytes = 0
        self.paused_ns = np.zeros(m, dtype=np.int64)
        self.last_wanted = np.zeros(m, dtype=np.int64)

    def delay_to(self, pub: int) -> int:
        """Node -> publisher one-way delay (its access downlink's propagation delay)."""
        w = self.world
        return int(w.links.delay_ns[w.downlink[pub]])

    def frame_at_or_after(self, s: int, t_ns: int) -> tuple[int, int]:
        """(frame number, capture time) of stream s's first frame captured at or after t."""
        st = self.world.streams
        period, phase = float(st.period_ns[s]), int(st.phase_ns[s])
        k = max(0, math.ceil((t_ns - phase) / period))
        while phase + math.floor(k * period) < t_ns:
            k += 1
        while k > 0 and phase + math.floor((k - 1) * period) >= t_ns:
            k -= 1
        return k, phase + math.floor(k * period)

    def paused(self, s: int, t_ns: int) -> bool:
        """Whether stream s is paused for frames captured at t."""
        return bool(self.off_from[s] <= t_ns < self.on_from[s])

    def request_keyframe(self, s: int, now_ns: int) -> int:
        """A PLI for stream s decided at `now`; returns the capture time of the keyframe."""
        pub = int(self.world.streams.pub[s])
        if self.off_from[s] < INF:  # paused, or a pause on its way
            if self.on_from[s] == INF:
                k, at = self.frame_at_or_after(s, now_ns + self.delay_to(pub))
                self.on_from[s] = at
                self._add_key(s, k, at)
                self.requested += 1
                return at
            if self.on_from[s] > now_ns:
                return int(self.on_from[s])
        pending = [at for _, at in self.keys.get(s, []) if at >= now_ns]
        if pending:
            return min(pending)
        send = max(now_ns, int(self.next_pli[s]))
        self.next_pli[s] = send + self.throttle_ns[s]
        k, at = self.frame_at_or_after(s, send + self.delay_to(pub))
        self._add_key(s, k, at)
        self.requested += 1
        return at

    def _add_key(self, s: int, k: int, at: int) -> None:
        self.keys.setdefault(s, []).append((k, at))
        self.pli_pubs.append(int(self.world.streams.pub[s]))
        sizes = self.world.frame_sizes
        if sizes is not None and sizes.vbr:
            sizes.request_keyframe(s, k)

    def take_plis(self) -> npt.NDArray[np.int64]:
        """Publishers sent a PLI since the last call (their packets go on the wire)."""
        out = np.array(self.pli_pubs, dtype=np.int64)
        self.pli_pubs = []
        return out

    def pause(self, s: int, now_ns: int) -> None:
        """Dynacast: stop layer s once the message reaches the publisher."""
        self.off_from[s] = now_ns + self.delay_to(int(self.world.streams.pub[s]))
        self.on_from[s] = INF

    def dynacast(
        self,
        now_ns: int,
        wanted: npt.NDArray[np.bool_],
        pause_ns: int,
        video: npt.NDArray[np.bool_],
        live: npt.NDArray[np.bool_],
    ) -> None:
        """Pause video layers nobody has wanted for `pause_ns`."""
        self.last_wanted[wanted] = now_ns
        idle = (
            video
            & live
            & ~wanted
            & (now_ns - self.last_wanted >= pause_ns)
            & ((self.off_from == INF) | (self.on_from <= now_ns))
        )
        for s in np.flatnonzero(idle):
            self.pause(int(s), now_ns)

    def filter(self, frames: npt.NDArray[np.void], t0: int, t1: int) -> npt.NDArray[np.void]:
        """Drop frames of paused layers; enlarge keyframes."""
        if len(frames) == 0:
            return frames
        stream, t = frames["stream"], frames["t"]
        off, on = self.off_from[stream], self.on_from[stream]
        paused = (off <= t) & (t < on)
        if paused.any():
            self.paused_ns[np.unique(stream[paused])] += t1 - t0
            frames = rows(frames, ~paused)
            stream = frames["stream"]
        vbr = self.world.frame_sizes is not None and self.world.frame_sizes.vbr
        for s in [s for s, pending in self.keys.items() if min(at for _, at in pending) < t1]:
            due = [(k, at) for k, at in self.keys[s] if at < t1]
            self.keys[s] = [(k, at) for k, at in self.keys[s] if at >= t1]
            if not self.keys[s]:
                del self.keys[s]
            for k, _ in due:
                hit = (stream == s) & (frames["fseq"] == k)
                if hit.any():
                    if not vbr:  # the frame-size model made it a keyframe already
                        frames["payload"][hit] += self.extra_bytes[s]
                    self.sent += 1
                    self.sent_bytes += int(self.extra_bytes[s])
        return frames

    def is_video(self) -> npt.NDArray[np.bool_]:
        """Video streams (dynacast pauses video only)."""
        return self.world.streams.kind == VIDEO
