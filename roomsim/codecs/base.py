"""The codec contract: what the simulator needs to know about a codec to put it on the wire.

One module per codec defines a `SPEC`; `roomsim.codecs.get_codec` is the factory. CPU costs
live apart, in measured cost profiles (`costs.py`), because they belong to a machine, not to
a codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["audio", "video"]


@dataclass(frozen=True)
class CodecSpec:
    """Wire-level facts of one RTP codec.

    `payload_header_bytes` is the RTP payload-format descriptor carried in every packet
    before the codec bytes (e.g. the VP8 payload descriptor); `source` names the spec.
    """

    name: str
    kind: MediaKind
    clock_rate: int
    payload_header_bytes: int
    source: str
    #: audio only: samples per second of the PCM the codec encodes
    sample_rate: int = 0
    #: audio only: default bitrate in kbps when a scenario names none
    default_bitrate_kbps: float = 0.0
    #: audio only: payload bytes and interval of a DTX comfort-noise frame during silence
    dtx_frame_bytes: int = 0
    dtx_interval_ms: float = 0.0
