"""Egress and ingress work on the CPU of the node that hosts their room.

A recorder or an ingress placed on the media node competes with forwarding for the node's
cores. What each kind does, from LiveKit's documentation:

* room-composite egress (https://docs.livekit.io/home/egress/overview/): the recorder
  subscribes to the room, decodes every track it receives, lays them out in one frame,
  encodes it, and mixes and encodes the audio. Here: one decode job per frame of every
  stream forwarded to it, at the time the frame's last packet reaches the node; one
  composite + encode job per output frame (`output_fps` clock) and one mix + Opus encode
  job per 20 ms audio frame.
* track egress ("Export individual tracks directly. Video tracks are not transcoded",
  https://docs.livekit.io/guides/egress/): no decode, no encode; its only node work is
  the forwarded copies the SFU already charges. Muxing has no figure in the cost profile
  and is not charged.
* ingress (https://docs.livekit.io/transport/media/ingress-egress/ingress/transcode):
  an RTMP/URL source is always transcoded, a WHIP one only with `enable_transcoding`:
  one decode job per source frame (`source_fps` clock) and one encode job per frame of
  every simulcast layer it publishes, at the frame's capture time. With `transcoding`
  off the source is passed through: no codec work at all.

Every cost comes from the run's codec cost profile (roomsim/codecs/costs.py, the tables
the MCU uses) on a speed-1.0 server core. A job goes to the pool serving the room on the
node (`ServerSide.pool_for`: the room's worker on a worker-threaded node) and is merged in
time order with the forwarding jobs of the same tick, so the node's FIFO sees every
arrival in order; jobs a saturated node refuses are dropped (a lost output frame) and
counted. The extension's own client pools then carry no codec work (`World.node_hosted`).

Where LiveKit itself runs egress and ingress (a separate service, to "keep load off the
SFU", livekit/egress README), `runs_on: own-host` keeps the old costing: analytic, on the
extension's own host, charged to no node.

Simplification: a co-located ingress's outgoing frames are not delayed by the node's
queue (its encodes are charged on the node at capture time; the frames leave its encoder
at once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from roomsim.scenario.extensions import EgressSpec, IngressSpec
from roomsim.sim.metrics import NS
from roomsim.sim.rng import generator
from roomsim.workload.rates import stream_rate
from roomsim.workload.world import AUDIO, VIDEO, World

if TYPE_CHECKING:
    from roomsim.topologies.servers import ServerSide

IntArray = npt.NDArray[np.int64]

#: A recording's audio: Opus in 20 ms frames (libwebrtc's default ptime), one mix per frame.
OUTPUT_AUDIO_FPS = 50.0


def on_node(world: World) -> list[int]:
    """Extension participants whose media work runs on their room's node."""
    out = []
    for i, p in enumerate(world.participants):
        g = p.group
        spec = g.egress or EgressSpec() if g.kind == "egress" else g.ingress or IngressSpec()
        if g.kind in ("egress", "ingress") and spec.runs_on == "node":
            out.append(i)
    return out


class NodeJobs:
    """The node jobs of every on-node egress and ingress of one run, and what they cost."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.members = on_node(world)
        world.node_hosted = list(self.members)
        n = len(world.participants)
        #: measured node core-ns and refused jobs per participant (zero for non-members)
        self.busy_ns = np.zeros(n, dtype=np.int64)
        self.dropped = np.zeros(n, dtype=np.int64)
        self.composite = [i for i in self.members if self._egress(i) is not None
                          and self._egress(i).type == "room-composite"]  # type: ignore[union-attr]
        self.transcoding = [i for i in self.members if self._ingress(i) is not None
                            and self._ingress(i).transcoding]  # type: ignore[union-attr]
        self._pending: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []

    def _egress(self, i: int) -> EgressSpec | None:
        g = self.world.participants[i].group
        return (g.egress or EgressSpec()) if g.kind == "egress" else None

    def _ingress(self, i: int) -> IngressSpec | None:
        g = self.world.participants[i].group
        return (g.ingress or IngressSpec()) if g.kind == "ingress" else None

    def start(self, servers: ServerSide) -> None:
        """After the world is frozen: clocks (a phase per clock from the seed) and costs."""
        w = self.world
        self.servers = servers
        self.room = np.array([p.room for p in w.participants], dtype=np.int64)
        self.decoding = np.zeros(n := len(w.participants), dtype=bool)
        self.decoding[self.composite] = True
        self.encoding = np.zeros(n, dtype=bool)
        self.encoding[self.transcoding] = True
        self.decode_ns = np.array([w.decode_ns(s) for s in w.streams.specs], dtype=np.float64)
        self.encode_ns = np.array([w.encode_ns(s) for s in w.streams.specs], dtype=np.float64)
        # clocks: (owner, period ns, phase ns, what it runs)
        self.clocks: list[tuple[int, int, int, str]] = []
        for i in self.composite:
            spec = self._egress(i)
            assert spec is not None
            self.clocks.append((i, round(NS / spec.output_fps), 0, "composite-video"))
            self.clocks.append((i, round(NS / OUTPUT_AUDIO_FPS), 0, "composite-audio"))
        for i in self.transcoding:
            spec_in = self._ingress(i)
            assert spec_in is not None
            self.clocks.append((i, round(NS / spec_in.source_fps), 0, "source-decode"))
        for k, (i, period, _, what) in enumerate(self.clocks):
            rng = generator(w.seed, f"extension-clock:{w.participants[i].id}:{what}")
            self.clocks[k] = (i, period, int(rng.integers(0, period)), what)

    # -- costs (one place: the jobs and the closed form both read these) -------------------
    def job_ns(self, i: int, what: str, video_inputs: int, audio_inputs: int) -> float:
        """Core-ns of one clocked job of extension i (speed-1.0 server core)."""
        costs = self.world.costs
        if what == "composite-video":
            spec = self._egress(i)
            assert spec is not None
            return 1e3 * (video_inputs * costs.composite_us_per_tile(spec.output_resolution)
                          + costs.video_cost(spec.output_codec, spec.output_resolution).encode_us)
        if what == "composite-audio":
            return 1e3 * (audio_inputs * costs.audio_mix_us_per_input + costs.audio_cost("opus").encode_us)
        spec_in = self._ingress(i)
        assert spec_in is not None
        return 1e3 * costs.video_cost(spec_in.source_codec, spec_in.source_resolution).decode_us

    def _inputs(self, streams: list[int]) -> tuple[int, int]:
        """(video tiles, audio mix inputs) of a composite receiving `streams`."""
        kinds = self.world.streams.kind[np.asarray(streams, dtype=np.int64)]
        return int((kinds == VIDEO).sum()), int((kinds == AUDIO).sum())

    # -- jobs of a tick ------------------------------------------------------------------------
    def clocked(self, t0: int, t1: int, received: dict[int, list[int]]) -> None:
        """Queue the clocked jobs (composites, source decodes) due in [t0, t1);
        `received[i]`: the streams egress i receives now."""
        for i, period, phase, what in self.clocks:
            first = -(-(t0 - phase) // period)
            times = phase + period * np.arange(max(first, 0), -(-(t1 - phase) // period), dtype=np.int64)
            if len(times) == 0:
                continue
            video, audio = self._inputs(received.get(i, []))
            work = np.full(len(times), round(self.job_ns(i, what, video, audio)), dtype=np.int64)
            self._queue(times, np.full(len(times), i, dtype=np.int64), work)

    def encodes(self, frames: npt.NDArray[np.void]) -> None:
        """Queue one encode job per captured frame of a transcoding ingress's layers."""
        pub = self.world.streams.pub[frames["stream"]]
        mine = self.encoding[pub]
        if mine.any():
            s = frames["stream"][mine]
            self._queue(frames["t"][mine].astype(np.int64), pub[mine].astype(np.int64),
                        np.rint(self.encode_ns[s]).astype(np.int64))

    def decodes(self, t: IntArray, stream: IntArray, target: IntArray) -> None:
        """Queue one decode job per frame forwarded to a room-composite egress (`t`: when
        its last packet reached the node)."""
        mine = self.decoding[np.maximum(target, 0)] & (target >= 0)  # < 0: a cascade relay hop
        if mine.any():
            self._queue(t[mine], target[mine], np.rint(self.decode_ns[stream[mine]]).astype(np.int64))

    def _queue(self, t: IntArray, owner: IntArray, work: IntArray) -> None:
        home = self.servers.home[owner]
        placed = (home >= 0) & self.world.present[owner]
        if not placed.all():
            t, owner, work, home = t[placed], owner[placed], work[placed], home[placed]
        pool = self.servers.pool_for(home, self.room[owner])
        self._pending.append((t, owner, work, pool))

    def take(self) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """This tick's jobs (time, owner, work ns, pool), in time order."""
        if not self._pending:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty
        t, owner, work, pool = (np.concatenate(c) for c in zip(*self._pending, strict=True))
        self._pending = []
        order = np.argsort(t, kind="stable")
        return t[order], owner[order], work[order], pool[order]

    def served(self, owner: IntArray, work: IntArray, ok: npt.NDArray[np.bool_], measuring: bool) -> None:
        """Attribute served work (measurement interval) and refused jobs to their owner."""
        if measuring:
            np.add.at(self.busy_ns, owner[ok], work[ok])
        np.add.at(self.dropped, owner[~ok], 1)

    # -- closed form ------------------------------------------------------------------------
    def expected_cores(self, receive: list[tuple[int, int]], encode: list[int]) -> dict[int, float]:
        """Node cores of every member: per-frame decodes of what each composite egress
        receives, its output clocks, and each transcoding ingress's source decode and layer
        encodes (`receive`: (stream, receiver) entries; `encode`: streams still sent)."""
        w = self.world
        st = w.streams
        cores = {i: 0.0 for i in self.members}
        received: dict[int, list[int]] = {}
        for s, sub in receive:
            if sub in cores and self.decoding[sub]:
                received.setdefault(sub, []).append(s)
                cores[sub] += stream_rate(w, s).fps * self.decode_ns[s] / NS
        for s in encode:
            pub = int(st.pub[s])
            if pub >= 0 and self.encoding[pub]:
                cores[pub] += stream_rate(w, s).fps * self.encode_ns[s] / NS
        for i, period, _, what in self.clocks:
            cores[i] += round(self.job_ns(i, what, *self._inputs(received.get(i, [])))) / period
        return cores
