"""Mean wire rates of one stream of the workload, in closed form: frames, payload, packets
and bits per second, with DTX and voice activity (talk-spurts, conversations) included.

The closed forms of whole topologies (roomsim.topologies.expected), the transports' control
traffic and the SFU's layer choices all start from these figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from roomsim.codecs import get_codec
from roomsim.scenario.media import VoiceActivity
from roomsim.sim.metrics import NS
from roomsim.workload.conversation import room_speech_shares
from roomsim.workload.streams import VIDEO
from roomsim.workload.world import World


@dataclass(frozen=True)
class StreamRate:
    """Mean wire figures of one stream."""

    bps: float  # on the wire, headers included
    payload_bps: float
    pps: float
    fps: float  # frames per second actually sent


def stream_rate(world: World, s: int) -> StreamRate:
    """Closed-form mean rates of stream s, DTX and voice activity included (computed once
    per stream of a frozen world: the SFU's layers, the control traffic and the closed
    forms each ask for every stream)."""
    cached: tuple[object, dict[int, StreamRate]] | None = getattr(world, "_stream_rates", None)
    if cached is None or cached[0] is not world.streams:
        cached = (world.streams, {})
        world._stream_rates = cached  # type: ignore[attr-defined]
    s = int(s)
    rate = cached[1].get(s)
    if rate is None:
        rate = cached[1][s] = _stream_rate(world, s)
    return rate


def _stream_rate(world: World, s: int) -> StreamRate:
    st = world.streams
    fps = NS / st.period_ns[s]
    payload = st.frame_bytes[s]
    header = int(st.header_bytes[s])
    frames = world.scenario.wire.frames
    spread = frames.delta_spread * math.sqrt(3) if frames.model == "vbr" and st.kind[s] == VIDEO else 0.0
    packets = mean_packets(payload, int(st.mtu_payload[s]), spread)
    trailer = int(world.stream_trailer[s])  # e2ee tag, RED redundancy: once per frame
    full = StreamRate(fps * (payload + packets * header + trailer) * 8, fps * payload * 8, fps * packets, fps)
    spec = st.specs[s]
    if not spec.dtx or spec.pub < 0:
        return full
    voice = world.participants[spec.pub].group.voice
    talk = room_speech_shares(world)[spec.pub] if voice.model == "conversation" else speech_share(voice)
    codec = get_codec(spec.codec)
    every = max(1, round(codec.dtx_interval_ms * 1e6 / st.period_ns[s]))
    silent_fps = fps / every
    silent = StreamRate(silent_fps * (codec.dtx_frame_bytes + header + trailer) * 8,
                        silent_fps * codec.dtx_frame_bytes * 8, silent_fps, silent_fps)
    return StreamRate(*(talk * a + (1 - talk) * b for a, b in zip(
        (full.bps, full.payload_bps, full.pps, full.fps),
        (silent.bps, silent.payload_bps, silent.pps, silent.fps), strict=True)))


def mean_packets(payload: float, mtu: int, spread: float) -> float:
    """Mean packets per frame of frames spread uniformly over payload x (1 +- spread)
    (the delta frames of roomsim.sim.frame_sizes; rare keyframes left out): the mean of
    ceil(x / mtu) over that interval, exactly; ceil(payload / mtu) without spread."""
    if spread <= 0:
        return max(1, math.ceil(payload / mtu))
    low, high = payload * (1 - spread), payload * (1 + spread)
    total = 0.0
    for k in range(max(1, math.ceil(low / mtu)), math.ceil(high / mtu) + 1):
        total += k * (min(high, k * mtu) - max(low, (k - 1) * mtu))
    return total / (high - low)


def speech_share(voice: VoiceActivity) -> float:
    """Long-run share of time a participant speaks."""
    if voice.model == "continuous":
        return 1.0
    return voice.talk_mean_s / (voice.talk_mean_s + voice.pause_mean_s)
