"""How the room is served: the topology and its options (mesh, SFU, MCU, bandwidth
estimation, keyframes, active speakers, layouts) and the engine's own settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    field_validator,
)

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.scenario.frozen import Frozen
from roomsim.scenario.names import TopologyName, known

LAYOUTS = ("all", "speaker", "livekit-loadtest", "grid-3x3", "grid-4x4", "grid-5x5")


def known_layout(value: str) -> str:
    """Layout names: all, speaker, or grid-NxN (N from 1 to 16)."""
    if value in ("all", "speaker", "livekit-loadtest"):
        return value
    parts = value.removeprefix("grid-").split("x")
    if value.startswith("grid-") and len(parts) == 2 and parts[0] == parts[1] \
            and parts[0].isdigit() and 1 <= int(parts[0]) <= 16:
        return value
    raise ValueError(f"unknown layout {value!r}; known: {', '.join(LAYOUTS)} (grid-NxN, N <= 16)")




class MeshOptions(Frozen):
    """P2P mesh: one RTCPeerConnection per pair of peers, as browsers do.

    `encoder_per_peer`: one encoder per peer connection (a browser: each RTCPeerConnection
    owns its video sender and encoder) or one encoder whose output every connection shares
    (what a native app built on libwebrtc's lower layers can do); None = per device, true
    for the browser devices (desktop, laptop, phone, low-end-phone).
    `bwe`: `gcc` runs libwebrtc's send-side congestion control per peer connection (the
    estimator in roomsim.transport.gcc, fed by that connection's transport-wide feedback
    every `feedback_ms`, from `start_bitrate_kbps` with probing) and the encoders follow
    its estimate; `off` is the open loop: every copy at its configured bitrate.
    `pacing`: with `gcc`, packets leave through a pacer at 2.5 x the estimate.
    `copy_order`: the order in which copies of one frame made at the same instant enter
    the sender's uplink: `rotating` (which receiver goes first changes from frame to frame,
    deterministically per seed) or `fixed` (by receiver index, the old behaviour).
    `cpu_adaptation`: with `gcc` and per-peer encoders, an encoder whose device cannot keep
    up lowers its resolution as libwebrtc's CPU-overuse detection does.
    See roomsim.topologies.peer_connections for the sources of each default.
    """

    encoder_per_peer: bool | None = None
    bwe: Literal["gcc", "off"] = "gcc"
    pacing: bool = True
    copy_order: Literal["rotating", "fixed"] = "rotating"
    feedback_ms: Annotated[float, Field(ge=10, le=1000)] = 100.0
    start_bitrate_kbps: Annotated[float, Field(gt=0)] = 300.0
    cpu_adaptation: bool = True

    @field_validator("bwe", mode="before")
    @classmethod
    def _off_is_false(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false


class BweOptions(Frozen):
    """How the SFU learns each subscriber's downlink (roomsim.transport.gcc).

    `gcc`: a send-side estimate from transport-wide feedback every `feedback_ms`, delay
    gradient (trendline) and loss based, as libwebrtc's goog_cc; `static`: the configured
    link rate, never re-estimated. 100 ms is libwebrtc's default transport feedback
    interval (RemoteEstimatorProxy, modules/remote_bitrate_estimator/
    remote_estimator_proxy.cc). `probe`: send padding to test for more capacity when a
    subscriber's layers are held down by an estimate below what its path carried before
    (LiveKit's stream allocator probes with padding, pkg/sfu/streamallocator).
    """

    estimator: Literal["gcc", "static"] = "gcc"
    feedback_ms: Annotated[float, Field(ge=10, le=1000)] = 100.0
    probe: bool = True


class KeyframeOptions(Frozen):
    """Keyframe requests (PLI) a layer switch needs.

    `pli_throttle_ms`: at most one request per layer per interval, lowest layer first;
    LiveKit's defaults (PLIThrottle LowQuality 500 ms, MidQuality 1 s, HighQuality 1 s,
    livekit/livekit pkg/config/config.go). `size_factor`: keyframe size over a mean frame;
    None = libwebrtc's VP8 cap (LibvpxVp8Encoder::MaxIntraTarget: 0.5 x the 600 ms optimal
    buffer x fps / 10 percent of a frame, at least 3x; libvpx_vp8_encoder.cc). It applies
    with `wire.frames: constant`; with the default frame-size model the keyframe is that
    model's (`wire.frames.keyframe_factor`, same default).
    """

    pli_throttle_ms: list[PositiveFloat] = Field(default=[500.0, 1000.0, 1000.0], min_length=1)
    size_factor: Annotated[float, Field(ge=1)] | None = None


class SpeakerOptions(Frozen):
    """Active-speaker detection on the media node from per-packet audio levels (RFC 6464).

    Defaults are LiveKit's (AudioConfig in livekit/livekit pkg/config/config.go, algorithm in
    pkg/sfu/audio/audiolevel.go): a participant is active in a 400 ms window when at least
    40 % of it is louder than -35 dBov; levels are smoothed over 2 windows. Speech frames
    carry `speech_level_dbov` (-26 dBov, the active speech level ITU-T test material is
    set to, e.g. P.501/P.863); silent frames carry the RFC 6464 silence value (-127).
    """

    active_level_dbov: Annotated[float, Field(ge=0, le=127)] = 35.0
    min_percentile: Annotated[float, Field(ge=0, le=100)] = 40.0
    update_ms: Annotated[float, Field(ge=20, le=5000)] = 400.0
    smooth_intervals: Annotated[int, Field(ge=0, le=20)] = 2
    speech_level_dbov: Annotated[float, Field(ge=0, le=127)] = 26.0


class SfuOptions(Frozen):
    """SFU forwarding: per subscriber, the layers of each video track that fit `headroom` x
    its downlink estimate, the tracks its `layout` shows, and (with `last_n`) only the
    video of the N most recent speakers.

    `layout`: "all" (every track, best layer that fits), "speaker" (the detected speaker at
    viewport size, the next four as thumbnails), or "grid-NxN" (the N x N most recent
    speakers in tiles of viewport/N). `dynacast`: layers nobody receives are paused at the
    publisher after `dynacast_pause_s` (LiveKit DynacastPauseDelay 5 s, pkg/config/config.go;
    off by default, as LiveKit's client `dynacast` option). `allow_pause`: pause video a
    subscriber cannot take even at its lowest layer (LiveKit CongestionControl.AllowPause,
    default false). `cascade`: a room spreads over one node per region its participants are
    in, relaying each track once per backbone hop (needs `regions`).
    """

    simulcast: bool = True
    headroom: Annotated[float, Field(gt=0, le=1)] = 0.9
    bwe: BweOptions = BweOptions()
    keyframes: KeyframeOptions = KeyframeOptions()
    layout: str = "all"
    last_n: PositiveInt | None = None
    viewport: str = "720p"
    dynacast: bool = False
    dynacast_pause_s: NonNegativeFloat = 5.0
    allow_pause: bool = False
    cascade: bool = False

    @field_validator("layout")
    @classmethod
    def _known_layout_name(cls, value: str) -> str:
        return known_layout(value)

    @field_validator("viewport")
    @classmethod
    def _known_viewport(cls, value: str) -> str:
        return known(value, VIDEO_PRESETS, "resolution")


class McuOptions(Frozen):
    """MCU mixing: audio minus-one per participant, a video composite per participant.

    `adapt`: each participant's composite is encoded at a rate that follows a GCC
    estimate of its downlink (roomsim.topologies.mcu_rates; feedback every `feedback_ms`);
    off: every composite at the configured output bitrate whatever the downlink.
    `pacing`: with `adapt`, each participant's output leaves through a pacer at 2.5 x its
    estimate (as the mesh's `pacing`); off: every output frame leaves as one burst.
    """

    audio_bitrate_kbps: PositiveFloat | None = None
    video_codec: Literal["vp8", "vp9", "h264", "av1"] = "vp8"
    output_resolution: str = "720p"
    output_fps: PositiveFloat | None = None
    output_bitrate_kbps: PositiveFloat | None = None
    layout: Literal["grid", "speaker"] = "grid"
    jitter_buffer_ms: NonNegativeFloat = 40.0
    adapt: bool = True
    pacing: bool = True
    feedback_ms: Annotated[float, Field(ge=10, le=1000)] = 100.0

    @field_validator("output_resolution")
    @classmethod
    def _known_resolution(cls, value: str) -> str:
        if value not in VIDEO_PRESETS:
            raise ValueError(f"unknown resolution {value!r}")
        return value


class TopologySpec(Frozen):
    """Which topology `roomsim run` uses by default, and each topology's options."""

    kind: TopologyName = "sfu"
    mesh: MeshOptions = MeshOptions()
    sfu: SfuOptions = SfuOptions()
    mcu: McuOptions = McuOptions()
    speakers: SpeakerOptions = SpeakerOptions()


class EngineOptions(Frozen):
    """Engine knobs. `tick_ms` batches work. Results do not depend on it (tests/
    test_invariants.py; also checked on the webinar, livestream, TURN relay, data plane,
    SIP/egress/ingress and adaptation-trace scenarios, where a 100 ms tick runs sfu-50 ~6 %
    faster), with exceptions that move slightly with it. (1) `talkspurt` and
    `conversation` voices: their simpy processes switch a speaker on or off between ticks,
    and the frames of a tick take the state at its start (DTX and speaker detection).
    (2) SFU cascades: a packet crossing the backbone re-enters an earlier stage in the
    next tick. (3) Voice agents: a small residue, not yet traced (their speech itself is
    scheduled ahead). Measured at 25/50/100 ms ticks: cascade-3-regions' video node-stage
    mean 37.4/37.7/44.2 ms; with conversation voices, golden/relayed.yaml's audio uplink
    mean 15.9/15.8/16.0 ms and cluster-100's first participant's 11.87/11.79/11.63 ms;
    voice-agent's audio p50 at one user 129.48/129.48/129.45 ms. Hence the 50 ms default."""

    tick_ms: Annotated[float, Field(gt=0, le=100)] = 50.0
    drain_s: PositiveFloat = 10.0
