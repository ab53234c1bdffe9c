"""Scalable video (SVC) tracks as increment streams: one stream per (spatial, temporal) layer.

An SVC encoder sends one RTP stream whose frames belong to spatial layers (resolutions,
each predicted from the one below) and temporal layers (frame-rate steps). A subscriber
at operating point (S, T) receives every layer s <= S, t <= T. roomsim keeps one stream per
layer so the SFU forwards a subset by picking streams; the frames of the temporal layers
interleave in time as the L1T3/L1T2 patterns do (T0 every 4th frame, T1 between, T2 the
odd frames).

Bitrate: the track's top bitrate (one encoder configured like a single-layer one) is split
over spatial layers in proportion to the single-layer presets of their resolutions (a
modelling choice), and each spatial layer over temporal layers as libwebrtc allocates
them (kLayerRateAllocation in modules/video_coding/utility/simulcast_rate_allocator.cc:
two layers 60/40 %, three 40/20/40 %). Decoding a frame of layer s costs the decode at
s's resolution minus the decode at the resolution below, so a subscriber at spatial layer
S pays the decode of S's resolution per frame (see World.decode_ns).
"""

from __future__ import annotations

import numpy as np

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.scenario.media import VideoTrack
from roomsim.sim.metrics import NS
from roomsim.workload.streams import VIDEO, Streams, StreamSpec

#: Cumulative share of a spatial layer's bitrate up to each temporal layer (libwebrtc).
TEMPORAL_SHARES = {1: [1.0], 2: [0.6, 1.0], 3: [0.4, 0.6, 1.0]}
#: Per temporal layer: (frames per `cycle` source frames, position of its first frame).
TEMPORAL_PATTERN = {1: (1, [(1, 0)]), 2: (2, [(1, 0), (1, 1)]), 3: (4, [(1, 0), (1, 2), (2, 1)])}


def svc_stream_specs(pub: int, track_index: int, track: VideoTrack) -> list[StreamSpec]:
    """The increment streams of an SVC track, spatial-major, lowest first."""
    assert track.svc is not None
    layers = track.layers()
    temporal = int(track.svc[3])
    top = layers[-1]
    presets = np.array([VIDEO_PRESETS[layer.resolution][2] for layer in layers], dtype=np.float64)
    spatial_bps = top.bitrate_kbps * 1e3 * presets / presets.sum()
    shares = np.diff([0.0, *TEMPORAL_SHARES[temporal]])
    cycle, pattern = TEMPORAL_PATTERN[temporal]
    specs = []
    for s, layer in enumerate(layers):
        for t in range(temporal):
            per_cycle, position = pattern[t]
            fps = top.fps * per_cycle / cycle
            spec = StreamSpec(
                pub,
                track_index,
                VIDEO,
                track.codec,
                layer.resolution,
                s,
                True,
                fps,
                float(spatial_bps[s] * shares[t]),
            )
            spec.temporal = t
            spec.svc_offset_ns = round(position * NS / top.fps)
            spec.svc_lower = layers[s - 1].resolution if s > 0 else ""
            specs.append(spec)
    return specs


def align_svc_phases(streams: Streams) -> None:
    """All layers of an SVC track capture on one frame clock: each stream's phase is the
    base layer's plus its temporal offset."""
    base: dict[int, int] = {}
    for s, spec in enumerate(streams.specs):
        if spec.svc_offset_ns >= 0:
            base.setdefault(spec.track, int(streams.phase_ns[s]))
            streams.phase_ns[s] = base[spec.track] + spec.svc_offset_ns
