"""How a participant's media reaches the room: WebRTC over UDP/RTP, or audio over a
WebSocket on TCP. Scenario-side models only (frozen pydantic); the engine side lives in
`roomsim.transport.links`, `roomsim.transport.tcp` and `roomsim.sim.kernels_rtp` / `kernels_tcp`.

The two transports differ in what they do with a lost packet, which is what this issue
measures: RTP lets loss be loss (audio is concealed, optionally repaired from RED
redundancy; video is repaired by NACK/RTX), TCP retransmits and holds everything behind
the hole (head-of-line blocking).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator

from roomsim.scenario.frozen import Frozen

#: SRTP protection profiles WebRTC negotiates over DTLS-SRTP: libwebrtc offers
#: AES_CM_128_HMAC_SHA1_80 by default (10-byte tag, RFC 3711 sec. 5.2; `kSrtpAes128CmSha1_80`,
#: rtc_base/ssl_stream_adapter.h) and AEAD_AES_128_GCM when GCM ciphers are enabled
#: (16-byte tag, RFC 7714 sec. 14.2; `CryptoOptions::Srtp::enable_gcm_crypto_suites`).
SrtpProfile = Literal["AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"]

#: Largest RTP packet a setting may ask for: the packet plus the largest SRTP tag (16),
#: UDP (8) and IPv4 (20) must fit a 1,500-byte Ethernet MTU (RFC 894).
MAX_RTP_PACKET_BYTES = 1500 - 20 - 8 - 16
#: Smallest: the RTP header (12), the largest extension block (16) and the largest payload
#: descriptor must leave room for codec bytes.
MIN_RTP_PACKET_BYTES = 100

RtpPacketBytes = Annotated[int, Field(ge=MIN_RTP_PACKET_BYTES, le=MAX_RTP_PACKET_BYTES)]


class WebRtcOptions(Frozen):
    """RTP repair and playout knobs of a WebRTC receiver/sender.

    * `nack`: video packets lost on a hop are re-requested (RFC 4585 generic NACK) and
      resent (RFC 4588 RTX). libwebrtc sends a NACK as soon as a gap is seen
      (``kDefaultSendNackDelay = TimeDelta::Zero()``), repeats it once per RTT and gives
      up after ``kMaxNackRetries = 10`` (modules/video_coding/nack_requester.cc).
    * `audio_redundancy: red`: every audio packet also carries the previous frame
      (RFC 2198), so a single lost frame is recovered one frame later. LiveKit's client
      publishes Opus with RED by default (``publishDefaults.red = true``, client-sdk-js
      src/room/defaults.ts; see roomsim/codecs/video_presets.py); plain libwebrtc does not.
    * `srtp_profile`, `max_packet_bytes`: this participant's SRTP profile and largest RTP
      packet (see `WireOptions`; unset: the scenario's).
    * `jitter_buffer_*_ms`: bounds on the adaptive audio jitter buffer's target delay
      (NetEq's minimum/maximum delay settings; 0 and 2,000 ms are model defaults:
      NetEq's delay histogram spans 100 x 20 ms buckets, neteq/underrun_optimizer.cc).
    """

    nack: bool = True
    max_nack_retries: PositiveInt = 10
    audio_redundancy: Literal["none", "red"] = "none"
    jitter_buffer_min_ms: NonNegativeFloat = 0.0
    jitter_buffer_max_ms: PositiveFloat = 2000.0
    #: None: the scenario's `wire.srtp_profile` / `wire.max_packet_bytes`.
    srtp_profile: SrtpProfile | None = None
    max_packet_bytes: RtpPacketBytes | None = None


class FrameOptions(Frozen):
    """Encoded video frame sizes (roomsim.sim.frame_sizes).

    `model: vbr` (default): keyframes at a stream's first frame, on every keyframe request
    (PLI, layer switch) and every `keyframe_interval_frames`, `keyframe_factor` times a
    mean frame; delta frames spread uniformly by +-`delta_spread` x sqrt(3) (a standard
    deviation of `delta_spread` of their target) around a target that pays back what
    earlier frames overshot, as a buffer-based rate controller does, so the long-run rate
    is the bitrate. `model: constant`: every frame is the mean frame (PLI keyframes still
    add their burst on top, unpaid, as before this model existed).

    * `keyframe_interval_frames`: 3000, libwebrtc's `keyFrameInterval` default for VP8,
      VP9 and H.264 (VideoEncoder::GetDefaultVp8Settings and siblings,
      api/video_codecs/video_encoder.cc): 100 s at 30 fps.
    * `keyframe_factor`: None = libwebrtc's VP8 intra cap, max(3, 0.3 x fps) mean frames
      (LibvpxVp8Encoder::MaxIntraTarget: 0.5 x the 600 ms optimal buffer x fps / 10, at
      least 300 %), 9x at 30 fps; real keyframes of camera video reach the cap.
    * `delta_spread`: 0.15, a model choice (no libwebrtc constant bounds it); the rate
      controller pays the spread back, so only the burstiness depends on it.
    * `payback_ms`: 600, the buffer over which overshoot is paid back: libvpx's
      `rc_buf_optimal_sz` as libwebrtc sets it (libvpx_vp8_encoder.cc).
    """

    model: Literal["vbr", "constant"] = "vbr"
    keyframe_interval_frames: PositiveInt = 3000
    keyframe_factor: Annotated[float, Field(ge=1)] | None = None
    delta_spread: Annotated[float, Field(ge=0, le=0.5)] = 0.15
    payback_ms: PositiveFloat = 600.0


class WireOptions(Frozen):
    """What a call puts on the wire beyond its media frames, for every topology.

    * `frames`: frame-size model (`FrameOptions`; `frames: constant` for the old sizes).
    * `control_traffic`: RTCP sender/receiver reports, transport-wide feedback, NACK and PLI
      packets and ICE consent checks on every link (roomsim.transport.control); `off`
      reproduces media-only figures.
    * `srtp_profile`: tag size of every SRTP/SRTCP packet (libwebrtc's default, or GCM).
    * `max_packet_bytes`: the largest RTP packet (libwebrtc's ``kVideoMtu = 1200``,
      media/base/media_constants.cc; roomsim.sim.headers).
    Participants may override the last two in `transport.webrtc`.
    """

    frames: FrameOptions = FrameOptions()
    control_traffic: bool = True
    srtp_profile: SrtpProfile = "AES_CM_128_HMAC_SHA1_80"
    max_packet_bytes: RtpPacketBytes = 1200

    @field_validator("frames", mode="before")
    @classmethod
    def _frames_shorthand(cls, value: object) -> object:
        """`frames: constant` stands for `frames: {model: constant}`."""
        return {"model": value} if isinstance(value, str) else value


class WebSocketOptions(Frozen):
    """The TCP connection under a WebSocket.

    * `min_rto_ms`: the floor Linux puts under the variance term of the retransmission
      timeout, RTO = SRTT + max(4 RTTVAR, min_rto): ``TCP_RTO_MIN = HZ/5`` = 200 ms
      (include/net/tcp.h; net/ipv4/tcp_input.c tcp_rtt_estimator). RFC 6298 sec. 2.4 would
      instead floor the whole RTO at 1 s.
    * `initial_cwnd`: 10 segments (RFC 6928; Linux ``TCP_INIT_CWND``).
    * `dupthresh`: duplicate ACKs that trigger fast retransmit (RFC 5681 sec. 3.2).
    """

    min_rto_ms: PositiveFloat = 200.0
    initial_cwnd: PositiveInt = 10
    dupthresh: PositiveInt = 3


class TransportSpec(Frozen):
    """`webrtc` (UDP/RTP, the default) or `websocket` (audio frames as WebSocket messages
    over TLS over TCP, as many voice-AI APIs take them)."""

    kind: Literal["webrtc", "websocket"] = "webrtc"
    webrtc: WebRtcOptions = WebRtcOptions()
    websocket: WebSocketOptions = WebSocketOptions()


TransportKind = Literal["webrtc", "websocket"]


class Grants(Frozen):
    """What a participant's access token allows (LiveKit ``VideoGrant``: canPublish,
    canSubscribe, canPublishData). A scenario that publishes without the grant is refused
    at load time, as the server would refuse the publication."""

    publish: bool = True
    subscribe: bool = True
    publish_data: bool = True


def coerce_transport(value: object) -> object:
    """Let a scenario write `transport: websocket` for `transport: {kind: websocket}`."""
    if isinstance(value, str):
        return {"kind": value}
    return value


__all__ = ["FrameOptions", "Grants", "TransportKind", "TransportSpec", "WebRtcOptions", "WebSocketOptions",
           "WireOptions", "coerce_transport"]
