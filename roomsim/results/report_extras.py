"""Result fields added by the latency/transport/quality work, read out of a finished run.

`runner.collect` builds the core result; these helpers add, per participant, the
transport's repair counters, the latency breakdown and the quality proxies, and per run
the room-wide breakdown, the agents' turn latency, the extensions' costs and the data
plane (each section empty when the scenario has none of it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from roomsim.codecs.costs import RESOLUTIONS
from roomsim.results.models import StageStats
from roomsim.results.quality import audio_mos, audio_r, video_mos
from roomsim.sim.breakdown import KINDS, STAGES
from roomsim.workload.world import AUDIO, VIDEO, World

if TYPE_CHECKING:
    from roomsim.topologies.base import Topology


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def breakdown_stats(means: npt.NDArray[np.float64], count: npt.NDArray[np.int64],
                    percentiles: npt.NDArray[np.float64] | None = None) -> dict[str, dict[str, StageStats]]:
    """Per kind, per stage: mean and (for the whole run) percentiles."""
    out: dict[str, dict[str, StageStats]] = {}
    for kind, kind_name in enumerate(KINDS):
        if count[kind] == 0:
            continue
        out[kind_name] = {}
        for k, stage in enumerate(STAGES):
            p = percentiles[kind, k] if percentiles is not None else (None, None, None)
            out[kind_name][stage] = StageStats(mean=_r(means[kind, k]), p50=_r(p[0]), p95=_r(p[1]), p99=_r(p[2]))
    return out


def _breakdown(means: list[list[float]], present: list[bool]) -> dict[str, dict[str, Any]]:
    """`breakdown_stats` (means only) of one receiver as plain fields (means [kind][stage])."""
    return {kind_name: {stage: {"mean": round(means[kind][k], 3), "p50": None, "p95": None, "p99": None}
                        for k, stage in enumerate(STAGES)}
            for kind, kind_name in enumerate(KINDS) if present[kind]}


class _Received:
    """What each participant receives at the end of the run, and its video's mean pixels and
    frame rate (the same mean for the same set of streams: computed once per set)."""

    def __init__(self, world: World, model: Topology) -> None:
        self.world = world
        self.streams = model.received_streams_of_all()
        self._video: dict[tuple[int, ...], tuple[float, float]] = {}

    def video_means(self, video: list[int]) -> tuple[float, float]:
        key = tuple(video)
        if key not in self._video:
            specs = self.world.streams.specs
            self._video[key] = (float(np.mean([_pixels(specs[s].resolution) for s in video])),
                                float(np.mean([specs[s].fps for s in video])))
        return self._video[key]


def _quality_fields(world: World, model: Topology, i: int, received: _Received, delay: float | None
                    ) -> dict[str, Any]:
    """E-model MOS of what participant i heard (`delay`: its median audio latency, ms) and
    the video proxy of what it saw, as QualityResult fields."""
    st = world.streams
    playout = model.playout
    mine = received.streams[i]
    codecs = Counter(st.specs[s].codec for s in mine if st.kind[s] == AUDIO)
    codec = codecs.most_common(1)[0][0] if codecs else None
    expected = int(world.audio_expected_frames[i])
    played = int(playout.audio_played[i])
    loss = 100.0 * (expected - played) / expected if expected > 0 else 0.0
    late = 100.0 * int(playout.audio_late[i]) / expected if expected > 0 else 0.0
    r = mos = None
    if codec is not None and delay is not None:
        r = audio_r(delay, loss, codec)
        mos = audio_mos(delay, loss, codec)
    elif expected > 0 and (source := _audio_source_codec(world, i)) is not None:
        # Someone in the room speaks, but nothing carrying their voice was decoded in the
        # measurement window (e.g. an overloaded MCU dropped the mixes), so there is no
        # delay to rate: the E-model at the measured loss and zero delay, an upper bound
        # (delay only lowers R), instead of a missing figure that reads as "fine".
        codec = codec or source
        r = audio_r(0.0, loss, codec)
        mos = audio_mos(0.0, loss, codec)
    video = [s for s in mine if st.kind[s] == VIDEO]
    pixels = fps = frozen = vmos = None
    if video:
        sent = getattr(model, "received_pixels", lambda _: None)(i)  # a sender that adapted its resolution
        mean_pixels, fps = received.video_means(video)
        pixels = sent if sent is not None else mean_pixels
        want = int(world.expected_frames[i] - world.audio_expected_frames[i])
        shown = int(playout.video_played[i])
        frozen = 100.0 * max(0, want - shown) / want if want > 0 else 0.0
        vmos = video_mos(pixels, fps, frozen / 100.0)
    elif int(world.expected_frames[i] - world.audio_expected_frames[i]) > 0:
        # Owed video but shown none: frozen throughout; the proxy is 1 at a frozen share of 1.
        frozen, vmos = 100.0, 1.0
    return {"audio_codec": codec, "mouth_to_ear_ms": _r(delay), "audio_loss_pct": round(loss, 4),
            "audio_late_pct": round(late, 4), "audio_r": _r(r), "audio_mos": _r(mos), "video_pixels": _r(pixels, 1),
            "video_fps": _r(fps), "video_frozen_pct": _r(frozen, 4), "video_mos": _r(vmos)}


def _audio_source_codec(world: World, i: int) -> str | None:
    """The codec of an audio track another participant of i's room publishes, if any."""
    st = world.streams
    room = world.participants[i].room
    for s in np.flatnonzero((st.kind == AUDIO) & (st.pub >= 0) & (st.pub != i)):
        if world.participants[int(st.pub[s])].room == room:
            return str(st.specs[s].codec)
    return None


def _pixels(resolution: str) -> int:
    width, height = RESOLUTIONS.get(resolution, (0, 0))
    return width * height


def _transports(world: World, model: Topology) -> list[dict[str, Any]]:
    """Repairs and retransmissions on each participant's uplink and downlink."""
    links = model.links
    stats = links.tcp.statistics()
    ends = np.stack([world.uplink, world.downlink], axis=1)
    repair = links.repair[ends].sum(axis=1).tolist()  # [participant, (rtx, repaired)]
    conn = links.tcp.conn_of_link[ends]
    has = conn >= 0
    tcp = {name: (np.where(has, stats[name][np.maximum(conn, 0)], 0).sum(axis=1) if has.any()
                  else np.zeros(len(ends), dtype=np.int64)).tolist()
           for name in ("retransmits", "timeouts", "fast_retransmits")}
    return [{"kind": p.group.transport.kind, "rtx_packets": repair[i][0], "repaired_packets": repair[i][1],
             "tcp_retransmits": tcp["retransmits"][i], "tcp_timeouts": tcp["timeouts"][i],
             "tcp_fast_retransmits": tcp["fast_retransmits"][i]} for i, p in enumerate(world.participants)]


def participants_extras(world: World, model: Topology, audio_p50: list[float | None]) -> Iterator[dict[str, Any]]:
    """Fields of each ParticipantResult beyond the core ones, as plain values, participant
    by participant (`audio_p50`: each one's unrounded median audio latency, ms, the
    E-model's delay)."""
    means, count = world.breakdown.receiver_means()
    stage_means, present = means.tolist(), (count > 0).tolist()
    received = _Received(world, model)
    transports = _transports(world, model)
    dataplane = getattr(world, "dataplane", None)
    for i, p in enumerate(world.participants):
        extras: dict[str, Any] = {
            "kind": p.group.kind,
            "transport": transports[i],
            "latency_breakdown_ms": _breakdown(stage_means[i], present[i]),
            "quality": _quality_fields(world, model, i, received, audio_p50[i]),
        }
        if dataplane is not None and dataplane.active:
            extras["data"] = dataplane.participant_result(i)
        yield extras


def run_extras(world: World, model: Topology) -> dict[str, Any]:
    """Keyword arguments for RunResult beyond the core fields."""
    extras: dict[str, Any] = {
        "latency_breakdown_ms": _run_breakdown(world),
    }
    agents = getattr(world, "agents", None)
    if agents is not None:
        extras["agents"] = agents.results()
    extensions = getattr(world, "extensions", None)
    if extensions is not None:
        extras["extensions"] = extensions.results(model)
    dataplane = getattr(world, "dataplane", None)
    if dataplane is not None and dataplane.active:
        extras["data_plane"] = dataplane.run_result()
    return extras


def _run_breakdown(world: World) -> dict[str, dict[str, StageStats]]:
    means, percentiles, count = world.breakdown.run_summary()
    return breakdown_stats(means, count, percentiles)
