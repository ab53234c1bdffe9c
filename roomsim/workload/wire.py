"""Per-participant wire settings: SRTP tag size and largest RTP packet.

A peer connection negotiates one SRTP profile (DTLS-SRTP, RFC 5764 sec. 4.1.2) and the
sender packetizes to one maximum RTP packet size; both are scenario settings
(`wire.srtp_profile`, `wire.max_packet_bytes`) that a participant may override
(`transport.webrtc`). A stream takes its publisher's settings; an MCU output takes those
of the participant it is made for (the connection it travels on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roomsim.sim import headers

if TYPE_CHECKING:
    from collections.abc import Sequence

    from roomsim.scenario.participants import ParticipantGroup
    from roomsim.scenario.scenario import Scenario
    from roomsim.workload.streams import Participant, Streams

#: SRTP/SRTCP authentication tag bytes per profile (see roomsim.sim.headers).
SRTP_TAG_BYTES = {"AES_CM_128_HMAC_SHA1_80": headers.SRTP_AUTH_TAG_BYTES,
                  "AEAD_AES_128_GCM": headers.SRTP_GCM_TAG_BYTES}


def srtp_tag_bytes(scenario: Scenario, group: ParticipantGroup) -> int:
    """Tag bytes on every SRTP and SRTCP packet of this participant's connection."""
    profile = group.transport.webrtc.srtp_profile or scenario.wire.srtp_profile
    return SRTP_TAG_BYTES[profile]


def max_packet_bytes(scenario: Scenario, group: ParticipantGroup) -> int:
    """Largest RTP packet (header + extensions + payload) this participant sends."""
    return group.transport.webrtc.max_packet_bytes or scenario.wire.max_packet_bytes


def apply_wire_settings(scenario: Scenario, st: Streams, participants: Sequence[Participant]) -> None:
    """Set each stream's per-packet header bytes and payload budget from its connection's
    SRTP profile and maximum packet size (the defaults leave them unchanged)."""
    for s, spec in enumerate(st.specs):
        person = spec.pub if spec.pub >= 0 else spec.owner
        if person < 0:
            continue
        group = participants[person].group
        st.header_bytes[s] += srtp_tag_bytes(scenario, group) - headers.SRTP_AUTH_TAG_BYTES
        st.mtu_payload[s] -= headers.RTP_PAYLOAD_MTU_BYTES - max_packet_bytes(scenario, group)
