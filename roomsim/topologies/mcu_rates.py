"""The MCU's output rate per participant, following a GCC estimate of its downlink.

An MCU encodes one composite per participant anyway, so it can give each its own output
rate: the Doubango telepresence MCU sends each endpoint a video stream whose bandwidth
congestion control updates per endpoint, never above the configured maximum
(`video-max-upload-bandwidth`, "Setting video bandwidth and congestion control",
Configuration_Video.md of its documentation). roomsim does the same with the estimator
every adapting sender uses (roomsim.transport.gcc): one row per participant, fed by the
transport-wide feedback the participant returns for the MCU's downlink packets. The
participant's mix keeps its audio rate and its composite's encoder follows the rest of
the estimate (roomsim.codecs.adaptation: bitrate within [30 kbps, configured], the
resolution down libwebrtc's ladder). The estimate is a rate on the wire, so the encoder
gets what is left after the packets' headers: the audio mix's wire rate and the composite's
per-packet headers come off first, as libwebrtc sizes an encoder's target with the send-side
estimate's overhead removed (call/rtp_video_sender.cc, RtpVideoSender::OnBitrateUpdated:
the encoder target is the allocated rate minus CalculateOverheadRate at the packet rate the
frames need; the WebRTC-SendSideBwe-WithOverhead behaviour, on by default). Without it the
mix would leave at the estimate plus ~10 % of headers: above the link the estimate tracks.

The MCU's output to a participant leaves through a pacer (roomsim.sim.pacer, one per
participant's connection, at 2.5 x its estimate as libwebrtc's PacingController does for
every sender), so a keyframe or a large composite frame is spread instead of hitting the
downlink's queue at once; audio is not held (`pacing: false` sends every frame as a burst).

Like the SFU's estimators, a participant's starts from a start-up probe of its downlink
(the configured rate), then tracks it from feedback. Participants on a WebSocket (TCP)
transport return no transport feedback and keep the configured rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from roomsim.codecs.adaptation import ladder_pixels, resolution_pixels, video_rate
from roomsim.sim.metrics import NS
from roomsim.sim.pacer import pace
from roomsim.sim.packets import Packets, rows
from roomsim.transport.feedback import FeedbackBuffer
from roomsim.transport.gcc import GccEstimators
from roomsim.workload.rates import stream_rate
from roomsim.workload.world import AUDIO, VIDEO, World

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class DownlinkRates:
    """Per participant: downlink estimate, and the video rate of its composite."""

    def __init__(self, world: World, outputs: dict[tuple[int, int], int], feedback_ms: float) -> None:
        self.world = w = world
        n = len(w.participants)
        st = w.streams
        self.feedback_ns = round(feedback_ms * 1e6)
        self.gcc = GccEstimators(n, self.feedback_ns)
        self.feedback = FeedbackBuffer()
        self.reports = np.array([p.group.transport.kind == "webrtc" for p in w.participants], dtype=bool)
        self.rows = np.where(self.reports, np.arange(n), -1).astype(np.int64)
        self.no_offset = np.zeros(len(st), dtype=np.int64)
        self.video_bps = np.zeros(n)
        self.source_pixels = np.zeros(n)
        self.audio_wire_bps = np.zeros(n)
        #: the composite's frames per second, payload bytes per packet, and bits of headers
        #: (and per-frame trailer) around each packet
        self.video_fps = np.ones(n)
        self.video_mtu = np.ones(n)
        self.packet_bits = np.zeros(n)
        self.frame_bits = np.zeros(n)
        for (j, kind), s in outputs.items():
            if kind == AUDIO:
                self.audio_wire_bps[j] = stream_rate(w, s).bps
            elif kind == VIDEO:
                self.video_bps[j] = st.specs[s].bitrate_bps
                self.source_pixels[j] = resolution_pixels(st.specs[s].resolution)
                self.video_fps[j] = NS / st.period_ns[s]
                self.video_mtu[j] = st.mtu_payload[s]
                self.packet_bits[j] = 8 * st.header_bytes[s]
                self.frame_bits[j] = 8 * w.stream_trailer[s]
        self.started = np.zeros(n, dtype=bool)
        self.ratio = np.ones(n)
        self.video_target = self.video_bps.copy()
        self.measured_s = np.zeros(n)
        self.bps_s = np.zeros(n)
        self.pixel_s = np.zeros(n)
        self.series: dict[int, list[float]] = {}
        self.next_free = np.zeros(n, dtype=np.int64)  # per participant: when its pacer is free
        self.participant_row = np.arange(n, dtype=np.int64)
        self.no_stream_offset = np.zeros(len(world.streams), dtype=np.int64)
        self.is_audio = world.streams.kind == AUDIO

    def join(self, present: npt.NDArray[np.bool_]) -> None:
        """Start the estimators of newly present participants from their downlink's rate."""
        w = self.world
        fresh = np.flatnonzero(present & ~self.started & self.reports)
        if len(fresh):
            rate = w.links.rate_bps[w.downlink[fresh]].astype(np.float64)
            rtt = (w.links.delay_ns[w.uplink[fresh]] + w.links.delay_ns[w.downlink[fresh]]) / 1e6
            self.gcc.start(fresh, rate, rtt)
            self.started[fresh] = True

    def control(self, now: int, measuring_s: float) -> None:
        """Estimates from the feedback that reached the MCU; each composite's new rate."""
        live = self.started & self.world.present
        self.gcc.update(now, self.feedback, live)
        who = np.flatnonzero(live & (self.video_bps > 0))
        video = video_rate(self.gcc.estimate[who], self._overhead_bps(who), self.video_bps[who])
        self.video_target[who] = video
        self.ratio[who] = video / self.video_bps[who]
        if measuring_s > 0:
            measured = np.flatnonzero(self.world.present & (self.video_bps > 0))
            self.measured_s[measured] += measuring_s
            self.bps_s[measured] += self.video_target[measured] * measuring_s
            pixels = ladder_pixels(self.video_target[measured], self.source_pixels[measured])
            self.pixel_s[measured] += pixels * measuring_s
        traced = who[:64]
        for j, v in zip(traced.tolist(), np.round(self.video_target[traced] / 1e3, 1).tolist(), strict=True):
            self.series.setdefault(j, []).append(v)

    def _overhead_bps(self, who: IntArray) -> FloatArray:
        """What of the estimate is not the composite's payload: the audio mix on the wire,
        and the composite's headers at the packets per frame the rest would need."""
        rest = np.maximum(self.gcc.estimate[who] - self.audio_wire_bps[who], 0.0)
        fps = self.video_fps[who]
        packets = np.maximum(1.0, np.ceil(rest / (8 * fps) / self.video_mtu[who]))
        return self.audio_wire_bps[who] + fps * (packets * self.packet_bits[who] + self.frame_bits[who])

    def pace(self, packets: Packets) -> Packets:
        """Output packets (`sub` = their participant, `t` = ready) through that participant's
        pacer; `t` and `enc_us` become the release. Participants without an estimate (a
        WebSocket transport) are not paced."""
        if len(packets) == 0:
            return packets
        ready = packets["t"]
        if len(ready) > 1 and (ready[1:] < ready[:-1]).any():
            packets = rows(packets, np.argsort(ready, kind="stable"))
        # one pacer per participant (row = participant, no per-stream offset); audio is not
        # held, and a participant with no estimate yet is not paced (an infinite rate)
        estimate = np.where(self.started & np.isfinite(self.gcc.estimate), self.gcc.estimate, np.inf)
        pace(packets, self.participant_row, self.no_stream_offset, self.is_audio, estimate, self.next_free)
        return packets

    def watch(self) -> FeedbackBuffer:
        """The feedback buffer, recording every reporting participant's downlink packets."""
        w = self.world
        d = w.links.delay_ns
        self.feedback.watch(self.rows, self.no_offset, d[w.downlink], d[w.uplink])
        return self.feedback

    def received_pixels(self, j: int) -> float | None:
        """Time-weighted pixels of j's composite over the measurement."""
        if self.measured_s[j] <= 0:
            return None
        return float(self.pixel_s[j] / self.measured_s[j])

    def details(self) -> dict[str, Any]:
        """Per participant: downlink estimate, mean composite rate and resolution."""
        w = self.world
        per = {}
        for j in np.flatnonzero(self.started & (self.measured_s > 0)):
            per[w.participants[j].id] = {
                "estimate_kbps": round(float(self.gcc.estimate[j]) / 1e3, 1),
                "video_kbps": round(float(self.bps_s[j] / self.measured_s[j]) / 1e3, 1),
                "video_pixels": round(float(self.pixel_s[j] / self.measured_s[j]), 1),
            }
        return {
            "bwe": {"estimator": "gcc", "participants": per},
            "video_target_kbps_series": {
                "interval_s": self.feedback_ns / 1e9,
                "participants": {w.participants[j].id: v for j, v in self.series.items()},
            },
        }
