"""Scenario models of the room's extensions: a SIP caller, an egress recorder or
livestream, an ingress stream. Each is an ordinary participant of a special `kind`."""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeFloat, PositiveFloat

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.scenario.frozen import Frozen


class SipSpec(Frozen):
    """A phone caller bridged in through a SIP trunk: G.711 at 8 kHz (ITU-T G.711), and a
    telephone-network leg between the handset and the SIP bridge with its own one-way
    delay. 60 ms is a modelling default for a national mobile/PSTN leg (ITU-T G.114 sec. 2
    budgets delays per network element; measure your carrier for a real figure)."""

    phone_leg_ms: NonNegativeFloat = 60.0


#: Where an egress or ingress does its codec work: on the CPU of the node hosting its room
#: (SFU runs; jobs compete with forwarding, roomsim.extensions.node_jobs), or on a host of
#: its own, costed analytically and charged to no node (LiveKit's own deployment, and
#: what mesh and MCU runs always do).
RunsOn = Literal["node", "own-host"]


class EgressSpec(Frozen):
    """A recorder that subscribes to every track. `room-composite` decodes them,
    composites them into one recording and encodes it; with `livestream`, the composite
    also goes out as a stream (e.g. RTMP to a CDN) at `output_bitrate_kbps`. `track`
    exports the tracks it receives without transcoding (LiveKit Track Egress)."""

    type: Literal["room-composite", "track"] = "room-composite"
    runs_on: RunsOn = "node"
    output_codec: Literal["vp8", "vp9", "h264", "av1"] = "h264"
    output_resolution: str = "720p"
    output_fps: PositiveFloat = 30.0
    output_bitrate_kbps: PositiveFloat = 3000.0
    livestream: bool = False

    def resolution_ok(self) -> bool:
        """Whether the output resolution is a known preset."""
        return self.output_resolution in VIDEO_PRESETS


class IngressSpec(Frozen):
    """An external stream (RTMP/WHIP) pulled into the room and transcoded into the
    participant's simulcast layers on the way in: the source is decoded once per frame
    and every layer encoded. With `transcoding` off (a WHIP source without LiveKit's
    `enable_transcoding`), the source's media is passed through: no decode, no encode."""

    transcoding: bool = True
    runs_on: RunsOn = "node"

    source_codec: Literal["vp8", "vp9", "h264", "av1"] = "h264"
    source_resolution: str = "1080p"
    source_fps: PositiveFloat = 30.0
    source_kbps: PositiveFloat = 4500.0
