"""How a participant's media reaches the room: WebRTC over UDP/RTP, or audio over a
WebSocket on TCP. Scenario-side models only (frozen pydantic); the engine side lives in
`roomsim.transport.links`, `roomsim.transport.tcp` and `roomsim.sim.kernels_transport`.

The two transports differ in what they do with a lost packet, which is what this issue
measures: RTP lets loss be loss (audio is concealed, optionally repaired from RED
redundancy; video is repaired by NACK/RTX), TCP retransmits and holds everything behind
the hole (head-of-line blocking).
"""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt

from roomsim.frozen import Frozen


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
    * `jitter_buffer_*_ms`: bounds on the adaptive audio jitter buffer's target delay
      (NetEq's minimum/maximum delay settings; 0 and 2,000 ms are model defaults:
      NetEq's delay histogram spans 100 x 20 ms buckets, neteq/underrun_optimizer.cc).
    """

    nack: bool = True
    max_nack_retries: PositiveInt = 10
    audio_redundancy: Literal["none", "red"] = "none"
    jitter_buffer_min_ms: NonNegativeFloat = 0.0
    jitter_buffer_max_ms: PositiveFloat = 2000.0


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


__all__ = ["Grants", "TransportKind", "TransportSpec", "WebRtcOptions", "WebSocketOptions",
           "coerce_transport"]
