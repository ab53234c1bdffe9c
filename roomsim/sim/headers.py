"""Per-packet header and framing sizes on the wire, in bytes, each with its source.

Constants only. A media packet on a UDP path costs
IP + UDP + RTP fixed header + RTP header extensions + payload descriptor + codec bytes +
SRTP tag (+ TURN ChannelData when relayed). A WebSocket audio transport costs
IP + TCP + TLS record overhead + WebSocket frame header + audio bytes.
"""

from __future__ import annotations

#: IPv4 header without options (RFC 791 sec. 3.1: IHL minimum 5 words).
IPV4_HEADER_BYTES: int = 20

#: IPv6 fixed header (RFC 8200 sec. 3); no extension headers.
IPV6_HEADER_BYTES: int = 40

#: UDP header (RFC 768).
UDP_HEADER_BYTES: int = 8

#: RTP fixed header without CSRCs (RFC 3550 sec. 5.1). An MCU that lists contributing
#: sources adds 4 bytes per CSRC.
RTP_HEADER_BYTES: int = 12

#: SRTP authentication tag for AES_CM_128_HMAC_SHA1_80: 80 bits (RFC 3711 sec. 5.2 / 8.2,
#: profile registered for DTLS-SRTP in RFC 5764 sec. 4.1.2). SRTP adds no other per-packet
#: bytes (no MKI in WebRTC).
SRTP_AUTH_TAG_BYTES: int = 10

#: SRTP tag for AEAD_AES_128_GCM: 16 octets (RFC 7714 sec. 14.2; the authentication tag is
#: part of the AEAD ciphertext, RFC 7714 sec. 9).
SRTP_GCM_TAG_BYTES: int = 16

#: RTP header extensions on a libwebrtc audio packet, one-byte-header form (RFC 8285
#: sec. 4.2: a 4-byte 0xBEDE block header, a 1-byte element header per extension, block
#: padded to a multiple of 4). Chrome offers ssrc-audio-level (1 data byte),
#: abs-send-time (3) and transport-wide-cc (2) for audio (plus sdes:mid, sent only until
#: the remote side acknowledges; Chrome 116 capabilities in EpicGamesExt/
#: PixelStreamingInfrastructure Extras/mediasoup-sdp-bridge/src/BrowserRtpCapabilities.ts).
#: libwebrtc keeps abs-send-time alongside transport-cc unless the field trial
#: WebRTC-FilterAbsSendTimeExtension is enabled (FilterRtpExtensions,
#: media/engine/webrtc_media_engine.cc) and reserves abs-send-time and the transport
#: sequence number on every packet (RtpSenderEgress::PrepareForSend).
#: 4 + (1+1) + (1+3) + (1+2) = 13 -> padded to 16. An SFU that negotiates only audio-level
#: and transport-cc gets 4 + 2 + 3 = 9 -> 12.
AUDIO_HEADER_EXTENSION_BYTES: int = 16

#: RTP header extensions on a typical libwebrtc video packet: abs-send-time (3 data bytes)
#: and transport-wide-cc (2), both reserved on every packet (sources as above):
#: 4 + (1+3) + (1+2) = 11 -> padded to 12. Frame-boundary packets may add
#: video-content-type (1+1), video-orientation on key frames (1+1), color-space on key
#: frames, video-timing on timing frames, rid/mid until acknowledged, and the AV1
#: dependency descriptor (>= 1+3) when negotiated; the mean over a 30 fps stream of
#: ~1,200-byte packets stays close to 12.
VIDEO_HEADER_EXTENSION_BYTES: int = 12

#: TCP header without options (RFC 9293 sec. 3.1). Linux sends the timestamps option by
#: default (RFC 7323), making it 32 bytes on most established connections.
TCP_HEADER_BYTES: int = 20

#: TLS 1.3 record overhead with an AEAD cipher (AES-GCM or ChaCha20-Poly1305): 5-byte
#: record header (type 1 + legacy_version 2 + length 2), 1-byte inner content type, 16-byte
#: AEAD tag (RFC 8446 sec. 5.2; tag sizes RFC 5116 sec. 5.1 / RFC 8439 sec. 2.8). No
#: padding assumed. One record per WebSocket message.
TLS13_RECORD_OVERHEAD_BYTES: int = 5 + 1 + 16

#: WebSocket frame header, minimum: 2 bytes (FIN/opcode + mask bit/7-bit length) for an
#: unmasked server-to-client frame with payload < 126 bytes (RFC 6455 sec. 5.2).
WEBSOCKET_FRAME_HEADER_BYTES: int = 2
#: Client-to-server frames carry a 4-byte masking key (RFC 6455 sec. 5.3).
WEBSOCKET_MASK_KEY_BYTES: int = 4
#: Extended payload length: +2 bytes for 126-65,535-byte payloads, +8 above that
#: (RFC 6455 sec. 5.2); a 20 ms frame of 16 kHz 16-bit PCM (640 B) needs the +2 form.
WEBSOCKET_EXTENDED_LENGTH_16_BYTES: int = 2
WEBSOCKET_EXTENDED_LENGTH_64_BYTES: int = 8
#: Largest possible header: 2 + 8 + 4.
WEBSOCKET_MAX_FRAME_HEADER_BYTES: int = 14

#: TURN ChannelData header: channel number 2 + length 2 (RFC 8656 sec. 12.4); over TCP/TLS
#: the message is also padded to a multiple of 4 bytes.
TURN_CHANNELDATA_HEADER_BYTES: int = 4

#: libwebrtc's video packet-size limit: ``kVideoMtu = 1200`` (media/base/
#: media_constants.cc), passed to the RTP module as the maximum RTP packet size. It bounds
#: the whole RTP packet (fixed header + extensions + payload descriptor + codec bytes);
#: SRTP tag, UDP and IP come on top (1200 + 10 + 8 + 20 = 1,238 bytes on IPv4). Using it as
#: the payload budget overstates payload per packet by ~2 %; see VIDEO_MAX_PAYLOAD_BYTES.
RTP_PAYLOAD_MTU_BYTES: int = 1200

#: Payload bytes (descriptor + codec) that fit in one libwebrtc video packet with the
#: typical extensions: 1200 - 12 - 12.
VIDEO_MAX_PAYLOAD_BYTES: int = (
    RTP_PAYLOAD_MTU_BYTES - RTP_HEADER_BYTES - VIDEO_HEADER_EXTENSION_BYTES
)

#: IPv4 + TCP with the timestamps option Linux sends by default (RFC 7323: 12 bytes with
#: padding) + one TLS 1.3 record.
TCP_TLS_OVERHEAD = (IPV4_HEADER_BYTES + TCP_HEADER_BYTES + 12
                    + TLS13_RECORD_OVERHEAD_BYTES)
#: A bare ACK: IPv4 + TCP + timestamps option.
TCP_ACK_BYTES = IPV4_HEADER_BYTES + TCP_HEADER_BYTES + 12
#: Maximum segment size on a 1,500-byte Ethernet MTU with the timestamps option.
TCP_MSS = 1500 - TCP_ACK_BYTES
