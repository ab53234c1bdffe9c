"""VP8 over RTP (RFC 7741): 90 kHz clock, payload descriptor as libwebrtc writes it.

libwebrtc's ``RtpPacketizerVp8::BuildHeader`` (modules/rtp_rtcp/source/rtp_format_vp8.cc)
writes the required byte, then the X byte and the fields whose values are set:

* PictureID is always set, as 15 bits with M=1 (2 bytes; ``RtpPayloadParams`` assigns
  ``state_.picture_id`` to every VP8 frame, call/rtp_payload_params.cc).
* TL0PICIDX (1 byte) and the TID/Y/KEYIDX byte (1 byte) are added whenever the frame has a
  temporal index, and ``RtpPayloadParams`` sets ``tl0PicIdx`` for every such frame.
  The encoder reports ``temporalIdx = kNoTemporalIdx`` only when it runs a single
  temporal layer (modules/video_coding/codecs/vp8/default_temporal_layers.cc).
* libwebrtc runs VP8 simulcast with 3 temporal layers per stream by default
  (``DefaultNumberOfTemporalLayers``: ``kDefaultNumTemporalLayers = 3``,
  media/engine/simulcast.cc).

So a simulcast (SFU) VP8 stream carries 1 + 1 + 2 + 1 + 1 = 6 bytes per packet, and a
single-layer stream without temporal layers (typical P2P) carries 1 + 1 + 2 = 4 bytes.
The spec uses 6, the SFU default; the 2-byte difference is ~0.2 % of a 1,200-byte packet.
"""

from roomsim.codecs.base import CodecSpec

#: Payload descriptor bytes without temporal layers (required + X + 15-bit PictureID).
VP8_DESCRIPTOR_BYTES_NO_TEMPORAL_LAYERS = 4

SPEC = CodecSpec(
    name="vp8",
    kind="video",
    clock_rate=90_000,
    # required + X + PictureID(2) + TL0PICIDX + TID/Y/KEYIDX, as libwebrtc sends with
    # temporal layers (its simulcast default, 3 per stream).
    payload_header_bytes=6,
    source=(
        "RFC 7741 sec. 4.2; libwebrtc rtp_format_vp8.cc BuildHeader, "
        "rtp_payload_params.cc, media/engine/simulcast.cc (3 temporal layers)"
    ),
)
