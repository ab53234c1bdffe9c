"""AV1 over RTP (AOMedia "RTP Payload Format For AV1" v1.0): 90 kHz clock; a 1-byte
aggregation header in every packet (sec. 4.4; libwebrtc ``kAggregationHeaderSize = 1`` in
modules/rtp_rtcp/source/rtp_packetizer_av1.cc). libwebrtc omits the length field of the
last OBU element when a packet holds at most 3 (``kMaxNumObusToOmitSize = 3``); extra
OBU elements add a LEB128 length of 1-2 bytes each, not counted here."""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="av1",
    kind="video",
    clock_rate=90_000,
    payload_header_bytes=1,
    source=(
        "AOMedia RTP Payload Format for AV1, sec. 4.4; libwebrtc rtp_packetizer_av1.cc "
        "(kAggregationHeaderSize = 1)"
    ),
)
