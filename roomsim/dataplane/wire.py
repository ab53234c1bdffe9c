"""Per-packet bytes of the data plane, each with its source.

Data channels (RFC 8831 sec. 5-6): SCTP over DTLS over UDP. A DATA packet is
IPv4 (20) + UDP (8) + DTLS 1.2 record header (13: type, version, epoch, sequence number,
length; RFC 6347 sec. 4.1) + AES-GCM explicit nonce (8) and tag (16) (RFC 5288 sec. 3)
+ SCTP common header (12; RFC 4960 sec. 3.1) + DATA chunk header (16; RFC 4960 sec.
3.3.1: type, flags, length, TSN, stream id, stream sequence number, PPID) + the user data
padded to 4 bytes (RFC 4960 sec. 3.2). A SACK (RFC 4960 sec. 3.3.4) is a 16-byte chunk in
its own packet. Opening a channel costs one DATA_CHANNEL_OPEN (RFC 8832 sec. 5.1) and its
ACK, once, which is not counted.

Signalling (participant attributes, room metadata) rides the client's WebSocket over TLS
over TCP (roomsim.sim.headers, roomsim.transport.tcp).
"""

from __future__ import annotations

from roomsim.sim import headers
from roomsim.sim.headers import TCP_MSS, TCP_TLS_OVERHEAD

DTLS12_RECORD_HEADER_BYTES = 13
DTLS_AES_GCM_BYTES = 8 + 16
SCTP_COMMON_HEADER_BYTES = 12
SCTP_DATA_CHUNK_HEADER_BYTES = 16
SCTP_SACK_CHUNK_BYTES = 16

_UNDER_SCTP = headers.IPV4_HEADER_BYTES + headers.UDP_HEADER_BYTES + DTLS12_RECORD_HEADER_BYTES + DTLS_AES_GCM_BYTES

#: Largest SCTP packet: the same 1,200-byte budget as an RTP packet (a modelling choice;
#: WebRTC stacks keep SCTP packets under the path MTU minus DTLS/UDP/IP).
SCTP_PACKET_BYTES = 1200
SCTP_MAX_USER_DATA = SCTP_PACKET_BYTES - SCTP_COMMON_HEADER_BYTES - SCTP_DATA_CHUNK_HEADER_BYTES

#: dcsctp (libwebrtc's SCTP) retransmission timeouts: rto_initial 500 ms, rto_min 400 ms,
#: rto_max 60 s; RTO = SRTT + 4 RTTVAR per RFC 4960 sec. 6.3.1 (net/dcsctp/public/
#: dcsctp_options.h, net/dcsctp/tx/retransmission_timeout.cc).
SCTP_RTO_MIN_NS = 400_000_000
SCTP_RTO_MAX_NS = 60_000_000_000
#: dcsctp ``max_retransmissions = 10`` per DATA chunk.
SCTP_MAX_RETRANSMISSIONS = 10

#: Linux TCP: RTO = SRTT + max(4 RTTVAR, TCP_RTO_MIN = 200 ms), at most 120 s.
TCP_RTO_MIN_NS = 200_000_000
TCP_RTO_MAX_NS = 120_000_000_000


def sctp_packet_bytes(user_data: int) -> int:
    """Wire bytes of one DATA packet carrying `user_data` bytes."""
    padded = -(-user_data // 4) * 4
    return _UNDER_SCTP + SCTP_COMMON_HEADER_BYTES + SCTP_DATA_CHUNK_HEADER_BYTES + padded


def sctp_sack_bytes() -> int:
    """Wire bytes of a SACK packet without gap reports."""
    return _UNDER_SCTP + SCTP_COMMON_HEADER_BYTES + SCTP_SACK_CHUNK_BYTES


def websocket_message_bytes(payload: int, client_to_server: bool) -> int:
    """Wire bytes of one small WebSocket message (one TLS record, one TCP segment)."""
    ws = headers.WEBSOCKET_FRAME_HEADER_BYTES + (headers.WEBSOCKET_EXTENDED_LENGTH_16_BYTES if payload >= 126 else 0)
    if client_to_server:
        ws += headers.WEBSOCKET_MASK_KEY_BYTES
    return payload + ws + TCP_TLS_OVERHEAD


def fragments(size: int, reliable_over_tcp: bool) -> list[int]:
    """Split a message into per-packet user data sizes (SCTP DATA chunks or TCP segments)."""
    tcp_unit = TCP_MSS - headers.TLS13_RECORD_OVERHEAD_BYTES - headers.WEBSOCKET_MAX_FRAME_HEADER_BYTES
    unit = tcp_unit if reliable_over_tcp else SCTP_MAX_USER_DATA
    full, rest = divmod(size, unit)
    return [unit] * full + ([rest] if rest else [])
