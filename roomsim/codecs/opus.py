"""Opus (RFC 6716) over RTP (RFC 7587): 48 kHz RTP clock, no payload descriptor.

Default bitrate: libwebrtc picks 32 kbps per channel for fullband Opus
(``kOpusBitrateFbBps = 32000`` with 12/20 kbps for NB/WB playback rates, "multiplied by the
number of channels"; modules/audio_coding/codecs/opus/audio_encoder_opus.cc,
``CalculateDefaultBitrate``). A mono speech track therefore defaults to 32 kbps.

DTX during silence (verified against libopus and libwebrtc sources):

* libopus enters DTX after ``NB_SPEECH_FRAMES_BEFORE_DTX = 10`` inactive frames (200 ms)
  and then emits one ordinary "refresh" (comfort-noise update) frame every
  ``MAX_CONSECUTIVE_DTX = 20`` frames, i.e. every 400 ms (silk/define.h; xiph/opus pull
  request #219 "Sending refresh DTX packets every 400 ms"). Between refreshes
  ``opus_encode`` returns 1-2 byte TOC-only packets.
* libwebrtc sends only the first TOC-only packet after each real frame and suppresses the
  rest (``WebRtcOpus_Encode``: "we do transmit the first occurrence to let the decoder
  know that the encoder enters DTX mode"; modules/audio_coding/codecs/opus/
  opus_interface.cc). So each 400 ms of silence carries two packets: one refresh frame and
  one 1-byte TOC packet. Observed rates agree: mediasoup pull request #846 ("DTX + opus
  frame + DTX + opus frame ..."), str0m pull request #492 (Chrome/Firefox drop "from 50
  packets per second to 4 during silence"), LiveKit media-sdk pull request #13 (1-byte
  DTX packets seen at the SFU).

The model below spreads that as one packet every 200 ms (5 packets/s). Payload is set to
1 byte: exact for the TOC packets; the size of refresh frames is not published anywhere we
found, so their payload is undercounted (a modelling choice; at ~60 bytes of
RTP/SRTP/UDP/IP headers per packet the packet rate dominates the wire cost anyway).
"""

from roomsim.codecs.base import CodecSpec

SPEC = CodecSpec(
    name="opus",
    kind="audio",
    clock_rate=48_000,
    payload_header_bytes=0,
    sample_rate=48_000,
    # libwebrtc kOpusBitrateFbBps = 32000 per channel (audio_encoder_opus.cc); mono speech.
    default_bitrate_kbps=32.0,
    # Two packets per 400 ms of silence (refresh frame + 1-byte TOC), spread evenly; see
    # the module docstring. Refresh-frame payload size is unsourced (modelling choice).
    dtx_frame_bytes=1,
    dtx_interval_ms=200.0,
    source=(
        "RFC 6716, RFC 7587; libwebrtc audio_encoder_opus.cc (32 kbps FB default), "
        "libopus silk/define.h (MAX_CONSECUTIVE_DTX = 20 frames = 400 ms), libwebrtc "
        "opus_interface.cc (TOC-only DTX packet sent once per refresh)"
    ),
)
