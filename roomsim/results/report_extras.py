"""Result fields added by the latency/transport/quality work, read out of a finished run.

`runner.collect` builds the core result; these helpers add, per participant, the
transport's repair counters, the latency breakdown and the quality proxies, and per run
the room-wide breakdown, the agents' turn latency, the extensions' costs and the data
plane (each section empty when the scenario has none of it).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from roomsim.codecs.costs import RESOLUTIONS
from roomsim.results.models import QualityResult, StageStats, TransportResult
from roomsim.results.quality import audio_mos, audio_r, video_mos
from roomsim.sim.breakdown import KINDS, STAGES
from roomsim.sim.metrics import percentile_ms
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
            # built from computed floats: skip validation (thousands per run)
            out[kind_name][stage] = StageStats.model_construct(mean=_r(means[kind, k]), p50=_r(p[0]), p95=_r(p[1]),
                                                               p99=_r(p[2]))
    return out


def quality_of(world: World, model: Topology, i: int) -> QualityResult:
    """E-model MOS of what participant i heard and the video proxy of what it saw."""
    st = world.streams
    playout = model.playout
    received = model.received_streams(i)
    codecs = Counter(st.specs[s].codec for s in received if st.kind[s] == AUDIO)
    codec = codecs.most_common(1)[0][0] if codecs else None
    expected = int(world.audio_expected_frames[i])
    played = int(playout.audio_played[i])
    loss = 100.0 * (expected - played) / expected if expected > 0 else 0.0
    late = 100.0 * int(playout.audio_late[i]) / expected if expected > 0 else 0.0
    delay = percentile_ms(world.latency.counts[i, AUDIO], 50)
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
    video = [s for s in received if st.kind[s] == VIDEO]
    pixels = fps = frozen = vmos = None
    if video:
        sent = getattr(model, "received_pixels", lambda _: None)(i)  # a sender that adapted its resolution
        pixels = sent if sent is not None else float(np.mean([_pixels(st.specs[s].resolution) for s in video]))
        fps = float(np.mean([st.specs[s].fps for s in video]))
        want = int(world.expected_frames[i] - world.audio_expected_frames[i])
        shown = int(playout.video_played[i])
        frozen = 100.0 * max(0, want - shown) / want if want > 0 else 0.0
        vmos = video_mos(pixels, fps, frozen / 100.0)
    elif int(world.expected_frames[i] - world.audio_expected_frames[i]) > 0:
        # Owed video but shown none: frozen throughout; the proxy is 1 at a frozen share of 1.
        frozen, vmos = 100.0, 1.0
    return QualityResult(audio_codec=codec, mouth_to_ear_ms=_r(delay), audio_loss_pct=round(loss, 4),
                         audio_late_pct=round(late, 4), audio_r=_r(r), audio_mos=_r(mos), video_pixels=_r(pixels, 1),
                         video_fps=_r(fps), video_frozen_pct=_r(frozen, 4), video_mos=_r(vmos))


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


def transport_of(world: World, model: Topology, i: int) -> TransportResult:
    """Repairs and retransmissions on participant i's uplink and downlink."""
    links = model.links
    mine = [int(world.uplink[i]), int(world.downlink[i])]
    stats = links.tcp.statistics()
    conns = [int(c) for c in links.tcp.conn_of_link[mine] if c >= 0]
    return TransportResult(
        kind=world.participants[i].group.transport.kind,
        rtx_packets=int(links.repair[mine, 0].sum()), repaired_packets=int(links.repair[mine, 1].sum()),
        tcp_retransmits=int(stats["retransmits"][conns].sum()) if conns else 0,
        tcp_timeouts=int(stats["timeouts"][conns].sum()) if conns else 0,
        tcp_fast_retransmits=int(stats["fast_retransmits"][conns].sum()) if conns else 0)


def participant_extras(world: World, model: Topology, i: int,
                       breakdown: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]) -> dict[str, Any]:
    """Keyword arguments for ParticipantResult beyond the core fields (`breakdown`: the
    stage means and frame counts of every receiver, `StageBreakdown.receiver_means`)."""
    means, count = breakdown
    extras: dict[str, Any] = {
        "kind": world.participants[i].group.kind,
        "transport": transport_of(world, model, i),
        "latency_breakdown_ms": breakdown_stats(means[i], count[i]),
        "quality": quality_of(world, model, i),
    }
    dataplane = getattr(world, "dataplane", None)
    if dataplane is not None and dataplane.active:
        extras["data"] = dataplane.participant_result(i)
    return extras


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
