"""The workload's streams and participants as tables: one stream per layer of each published
track (or per MCU output), columns over all streams, and the bytes around each packet.

These are the plain data every layer above reads (the World, SVC layering, the transports,
the topologies); they know nothing of how a run is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from roomsim.codecs import get_codec
from roomsim.scenario.participants import ParticipantGroup
from roomsim.sim import headers
from roomsim.sim.metrics import NS

AUDIO, VIDEO = 0, 1

#: Bytes of IP + UDP + RTP + SRTP tag around every media packet (IPv4, AES_CM_128_HMAC_SHA1_80).
UDP_MEDIA_OVERHEAD = (headers.IPV4_HEADER_BYTES + headers.UDP_HEADER_BYTES
                      + headers.RTP_HEADER_BYTES + headers.SRTP_AUTH_TAG_BYTES)


def packet_header_bytes(kind: int, codec: str) -> int:
    """Bytes around the codec payload in every packet of a stream."""
    extension = headers.AUDIO_HEADER_EXTENSION_BYTES if kind == AUDIO \
        else headers.VIDEO_HEADER_EXTENSION_BYTES
    return UDP_MEDIA_OVERHEAD + extension + get_codec(codec).payload_header_bytes


def mtu_payload_bytes(codec: str) -> int:
    """Codec bytes that fit one packet: libwebrtc's 1200-byte RTP packet budget (kVideoMtu)
    minus the RTP header, extensions and payload descriptor."""
    return headers.VIDEO_MAX_PAYLOAD_BYTES - get_codec(codec).payload_header_bytes


@dataclass
class StreamSpec:
    """One stream (a layer of a published track, or an MCU output) before freezing."""

    pub: int
    track: int
    kind: int
    codec: str
    resolution: str
    layer: int
    top: bool
    fps: float
    bitrate_bps: float
    dtx: bool = False
    owner: int = -1  # MCU outputs: the participant the stream is made for
    temporal: int = 0  # SVC: temporal layer of this increment stream
    svc_offset_ns: int = -1  # SVC: frame-clock offset from the track's base layer (-1: not SVC)
    svc_lower: str = ""  # SVC: resolution of the spatial layer this one is predicted from


@dataclass
class Streams:
    """Columns over all streams."""

    specs: list[StreamSpec]
    pub: npt.NDArray[np.int64] = field(init=False)
    track: npt.NDArray[np.int64] = field(init=False)
    kind: npt.NDArray[np.int64] = field(init=False)
    layer: npt.NDArray[np.int64] = field(init=False)
    top: npt.NDArray[np.bool_] = field(init=False)
    period_ns: npt.NDArray[np.float64] = field(init=False)
    frame_bytes: npt.NDArray[np.float64] = field(init=False)
    header_bytes: npt.NDArray[np.int64] = field(init=False)
    mtu_payload: npt.NDArray[np.int64] = field(init=False)
    dtx: npt.NDArray[np.bool_] = field(init=False)
    phase_ns: npt.NDArray[np.int64] = field(init=False)
    owner: npt.NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        s = self.specs
        self.pub = np.array([x.pub for x in s], dtype=np.int64)
        self.track = np.array([x.track for x in s], dtype=np.int64)
        self.kind = np.array([x.kind for x in s], dtype=np.int64)
        self.layer = np.array([x.layer for x in s], dtype=np.int64)
        self.top = np.array([x.top for x in s], dtype=bool)
        self.period_ns = np.array([NS / x.fps for x in s], dtype=np.float64)
        self.frame_bytes = np.array([x.bitrate_bps / 8 / x.fps for x in s], dtype=np.float64)
        self.header_bytes = np.array([packet_header_bytes(x.kind, x.codec) for x in s], dtype=np.int64)
        self.mtu_payload = np.array([mtu_payload_bytes(x.codec) for x in s], dtype=np.int64)
        self.dtx = np.array([x.dtx for x in s], dtype=bool)
        self.phase_ns = np.zeros(len(s), dtype=np.int64)
        self.owner = np.array([x.owner for x in s], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.specs)


@dataclass
class Participant:
    """One participant, resolved from its group."""

    id: str
    room: int
    group: ParticipantGroup
    speed: float
    budget_cores: float
