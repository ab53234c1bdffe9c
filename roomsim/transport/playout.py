"""Receiver playout: one adaptive jitter buffer per received audio flow, in-order video.

The buffers' state lives in arrays (see `kernels_playout.play_frames` for the
algorithm, after libwebrtc's NetEq delay manager); `JitterBuffer` wraps one buffer for
direct use, with `now` passed in as every algorithm here takes it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sim.kernels_playout import NETEQ_BUCKETS, NETEQ_HISTORY_BLOCKS, NETEQ_START_DELAY_NS, play_frames
from roomsim.sim.packets import PACKET, Packets
from roomsim.workload.world import AUDIO, World

IntArray = npt.NDArray[np.int64]

#: Where `play_frames` records played frames: the capture window [first, end), the stage
#: breakdown (`StageBreakdown.state`) and the latency histogram (`LatencyHistograms.state`).
Recording = tuple[int, int, IntArray, IntArray, IntArray, IntArray, int, IntArray, IntArray]
#: Arrays of the right shapes for a call that records nothing (one compiled variant).
_NOTHING: Recording = (0, 0, np.zeros((1, 1, 1), dtype=np.int64), np.zeros((1, 1, 1), dtype=np.int64),
                       np.zeros((1, 1), dtype=np.int64), np.zeros(1, dtype=np.int64), 1,
                       np.zeros(2, dtype=np.int64), np.zeros((1, 1), dtype=np.int64))


def _reset_histogram(count: int) -> npt.NDArray[np.float64]:
    """NetEq Histogram::Reset: buckets 0.5^(i+1)."""
    return np.tile(0.5 ** (np.arange(NETEQ_BUCKETS) + 1.0), (count, 1))


class JitterBuffers:
    """State of `count` adaptive audio jitter buffers."""

    def __init__(self, count: int, min_target_ns: npt.ArrayLike, max_target_ns: npt.ArrayLike) -> None:
        self.hist = _reset_histogram(count)
        self.forget = np.zeros(count)
        self.adds = np.zeros(count, dtype=np.int64)
        self.iv_start = np.full(count, -1, dtype=np.int64)
        self.iv_max = np.zeros(count, dtype=np.int64)
        self.min_target = np.broadcast_to(np.asarray(min_target_ns, dtype=np.int64), (count,)).copy()
        self.max_target = np.broadcast_to(np.asarray(max_target_ns, dtype=np.int64), (count,)).copy()
        self.target = np.clip(np.full(count, NETEQ_START_DELAY_NS, dtype=np.int64), self.min_target,
                              self.max_target)
        self.blk_start = np.full(count, -1, dtype=np.int64)
        self.blk_min = np.zeros((count, NETEQ_HISTORY_BLOCKS), dtype=np.int64)
        self.blk_head = np.zeros(count, dtype=np.int64)

    def play(self, batch: Packets, arrival: IntArray, done: IntArray,
             streams: tuple[npt.NDArray[np.bool_], npt.NDArray[np.integer]],
             receivers: tuple[npt.NDArray[np.generic], ...], recording: Recording | None) -> IntArray:
        """Playout time of each packet's frame (`done` >= 0: its decode completion, `arrival`:
        when it was complete; packets in time order per receiver), -1 where there is no
        frame or a late RTP audio frame is dropped. `streams` = (is audio, kind) per stream;
        `receivers` = (buffer of each flow, discards late per receiver, last playout per flow,
        audio played, audio late, video played per receiver). With a `recording`, played
        frames are counted into its histograms in the same pass."""
        playout = np.empty(len(batch), dtype=np.int64)
        jb_of_flow, discard_late, video_last, audio_played, audio_late, video_played = receivers
        play_frames(  # type: ignore[call-arg]  # numba dispatcher stub
                    batch, arrival, done, *streams, jb_of_flow, discard_late, self.hist,
                    self.forget, self.adds, self.iv_start, self.iv_max, self.target, self.min_target,
                    self.max_target, self.blk_start, self.blk_min, self.blk_head, video_last, audio_played,
                    audio_late, video_played, recording is not None, *(recording or _NOTHING), playout)
        return playout


class JitterBuffer:
    """One adaptive audio jitter buffer: `push(now, capture)` -> playout time or None."""

    def __init__(self, discard_late: bool = True, min_target_ms: float = 0.0, max_target_ms: float = 2000.0) -> None:
        self._state = JitterBuffers(1, round(min_target_ms * 1e6), round(max_target_ms * 1e6))
        self._discard = np.array([discard_late])
        self._zero = np.zeros(1, dtype=np.int64)
        self._jb = np.zeros(1, dtype=np.int64)
        self.played = np.zeros(1, dtype=np.int64)
        self.late = np.zeros(1, dtype=np.int64)

    @property
    def target_ms(self) -> float:
        """Current target delay over the fastest packet, ms."""
        return float(self._state.target[0]) / 1e6

    def push(self, now: int, capture: int) -> int | None:
        """A frame captured at `capture` arrives (and decodes) at `now` (both ns)."""
        zero = self._zero
        receivers = (self._jb, self._discard, zero.copy(), self.played, self.late, zero.copy())
        at = np.array([now], dtype=np.int64)
        frame = np.zeros(1, dtype=PACKET)  # receiver 0, flow 0, stream 0 (audio)
        frame["capture"] = capture
        out = self._state.play(frame, at, at, (np.array([True]), zero), receivers, None)
        return None if out[0] < 0 else int(out[0])


class Playout:
    """All receivers' playout in one run: jitter buffers for audio flows, order for video."""

    def __init__(self, world: World) -> None:
        self.world = world
        st = world.streams
        n = len(world.participants)
        self.jb_of_flow = np.full(max(1, world.flow_count), -1, dtype=np.int64)
        receiver_of_buffer: list[int] = []
        for s, spec in enumerate(st.specs):
            if spec.kind != AUDIO:
                continue
            if spec.pub < 0:  # an MCU output: its own flow, one receiver
                self.jb_of_flow[s] = len(receiver_of_buffer)
                receiver_of_buffer.append(spec.owner)
                continue
            members = world.room_members[world.participants[spec.pub].room]
            flows = world.down_flow_base[s] + np.arange(len(members))
            self.jb_of_flow[flows] = len(receiver_of_buffer) + np.arange(len(members))
            receiver_of_buffer.extend(members)
            self.jb_of_flow[s] = len(receiver_of_buffer)  # the upstream flow, should it be delivered
            receiver_of_buffer.append(spec.pub)
        options = [world.participants[r].group.transport.webrtc for r in receiver_of_buffer]
        self.buffers = JitterBuffers(len(receiver_of_buffer), [round(o.jitter_buffer_min_ms * 1e6) for o in options],
                                     [round(o.jitter_buffer_max_ms * 1e6) for o in options])
        self.discard_late = np.array([p.group.transport.kind == "webrtc" for p in world.participants], dtype=bool)
        self.video_last = np.zeros(max(1, world.flow_count), dtype=np.int64)
        self.audio_played = np.zeros(n, dtype=np.int64)
        self.audio_late = np.zeros(n, dtype=np.int64)
        self.video_played = np.zeros(n, dtype=np.int64)
        #: streams whose frames go through a jitter buffer (audio)
        self.is_audio_stream = st.kind == AUDIO

    def play(self, batch: Packets, arrival: IntArray, done: IntArray, recording: Recording | None) -> IntArray:
        """Playout time of each frame the batch's packets complete (`done` >= 0), -1 where a
        packet completes none or its late RTP audio frame is dropped (`JitterBuffers.play`)."""
        receivers = (self.jb_of_flow, self.discard_late, self.video_last, self.audio_played, self.audio_late,
                     self.video_played)
        return self.buffers.play(batch, arrival, done, (self.is_audio_stream, self.world.streams.kind), receivers,
                                 recording)
