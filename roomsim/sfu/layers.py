"""Operating points: what a subscriber can be sent of each track, cheapest first.

A simulcast track offers one point per layer (one stream each); an SVC track offers one
point per (spatial S, temporal T) pair, made of every increment stream s <= S, t <= T; an
audio track offers one point. The allocator picks a point per (subscriber, track); the
forwarding table turns points back into streams. Rates are the closed-form wire rates
(`expected.stream_rate`), so the allocator budgets what the wire will carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.workload.rates import stream_rate
from roomsim.workload.world import AUDIO, World

IntArray = npt.NDArray[np.int64]


@dataclass
class OperatingPoints:
    """CSR tables over tracks -> points -> streams."""

    track_ptr: IntArray
    rate_bps: npt.NDArray[np.float64]
    spatial: IntArray
    temporal: IntArray
    height: IntArray
    key_stream: IntArray  # the stream a switch to this point needs a keyframe on
    stream_ptr: IntArray
    streams: IntArray
    track_audio: npt.NDArray[np.bool_]

    def count(self, track: int) -> int:
        """Number of points of a track."""
        return int(self.track_ptr[track + 1] - self.track_ptr[track])


def build_points(world: World, simulcast: bool) -> OperatingPoints:
    """Points of every track; without `simulcast`, a simulcast track offers its top layer only."""
    st = world.streams
    rates = [stream_rate(world, s).bps for s in range(len(st))]
    track_ptr, rate, spatial, temporal, height, key, stream_ptr, streams = (
        [0],
        [],
        [],
        [],
        [],
        [],
        [0],
        [],
    )
    audio = []
    for t, members in enumerate(world.track_streams):
        specs = [st.specs[s] for s in members]
        audio.append(world.track_kind[t] == AUDIO)
        if specs and specs[0].svc_offset_ns >= 0:
            points = []
            for s_top in sorted({x.layer for x in specs}):
                for t_top in sorted({x.temporal for x in specs}):
                    chosen = [
                        s
                        for s, x in zip(members, specs, strict=True)
                        if x.layer <= s_top and x.temporal <= t_top
                    ]
                    base = next(
                        s
                        for s, x in zip(members, specs, strict=True)
                        if x.layer == s_top and x.temporal == 0
                    )
                    points.append((sum(rates[s] for s in chosen), s_top, t_top, chosen, base))
            points.sort(key=lambda p: (p[0], p[1], p[2]))
        else:
            layers = members if simulcast else members[-1:]
            offset = len(members) - len(layers)
            points = [(rates[s], i + offset, 0, [s], s) for i, s in enumerate(layers)]
        for bps, s_top, t_top, chosen, base in points:
            rate.append(bps)
            spatial.append(s_top)
            temporal.append(t_top)
            resolution = st.specs[base].resolution
            height.append(VIDEO_PRESETS[resolution][1] if resolution else 0)
            key.append(base)
            streams.extend(chosen)
            stream_ptr.append(len(streams))
        track_ptr.append(len(rate))
    as_int = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    return OperatingPoints(
        as_int(track_ptr),
        np.array(rate, dtype=np.float64),
        as_int(spatial),
        as_int(temporal),
        as_int(height),
        as_int(key),
        as_int(stream_ptr),
        as_int(streams),
        np.array(audio, dtype=bool),
    )
