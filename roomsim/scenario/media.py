"""What a participant publishes: audio and video tracks (simulcast / SVC layers) and when
it speaks (voice activity)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    field_validator,
    model_validator,
)

from roomsim.codecs import get_codec
from roomsim.codecs.video_presets import DEFAULT_SIMULCAST, VIDEO_PRESETS
from roomsim.scenario.frozen import Frozen
from roomsim.scenario.names import known


class AudioTrack(Frozen):
    """A microphone: one Opus (or G.711) stream of fixed-duration frames."""

    kind: Literal["audio"]
    name: str = "mic"
    codec: Literal["opus", "g711"] = "opus"
    bitrate_kbps: PositiveFloat | None = None
    frame_ms: Literal[10, 20, 40, 60] = 20
    #: A load generator's packet rate instead of codec frames, to replay a benchmark as it
    #: was run: `lk load-test` sends 30 packets/s (livekit-cli pkg/loadtester/
    #: loadtestprovider.go, SampleDuration = time.Second / 30). Overrides `frame_ms`.
    packets_per_s: Annotated[float, Field(gt=0, le=1000)] | None = None
    dtx: bool = False

    def effective_bitrate_kbps(self) -> float:
        """The scenario's bitrate, or the codec's default."""
        return self.bitrate_kbps or get_codec(self.codec).default_bitrate_kbps


class VideoLayer(Frozen):
    """One encoding of a video track (a simulcast layer)."""

    resolution: str
    bitrate_kbps: PositiveFloat
    fps: PositiveFloat


class VideoTrack(Frozen):
    """A camera or screen share; with `simulcast`, several layers from named presets."""

    kind: Literal["video", "screen"]
    name: str = "camera"
    codec: Literal["vp8", "vp9", "h264", "av1"] = "vp8"
    resolution: str = "720p"
    fps: PositiveFloat | None = None
    bitrate_kbps: PositiveFloat | None = None
    simulcast: bool | list[str] = False
    #: Explicit simulcast encodings (resolution, bitrate, fps each), as a load tester or an
    #: application configures them, instead of the preset ladder; the highest one is the
    #: track's own `resolution`.
    encodings: list[VideoLayer] | None = None
    #: Scalable coding instead of simulcast: one stream whose spatial layers follow the
    #: simulcast ladder (L3 = three resolutions) and whose frames split into temporal
    #: layers (T3 = three). Spatial layers need a codec with spatial SVC (VP9, AV1).
    svc: Literal["L1T2", "L1T3", "L2T2", "L2T3", "L3T2", "L3T3"] | None = None

    @field_validator("resolution")
    @classmethod
    def _known_resolution(cls, value: str) -> str:
        return known(value, VIDEO_PRESETS, "resolution")

    @model_validator(mode="after")
    def _layers_valid(self) -> VideoTrack:
        if isinstance(self.simulcast, list):
            top = VIDEO_PRESETS[self.resolution][1]
            for name in self.simulcast:
                if name not in VIDEO_PRESETS:
                    raise ValueError(f"simulcast: unknown layer {name!r}")
                if VIDEO_PRESETS[name][1] > top:
                    raise ValueError(f"simulcast: layer {name} is above the track's {self.resolution}")
        if self.encodings is not None:
            names = [e.resolution for e in self.encodings]
            for name in names:
                known(name, VIDEO_PRESETS, "encodings.resolution")
            if len(set(names)) != len(names):
                raise ValueError("encodings: one encoding per resolution")
            if max(names, key=lambda n: VIDEO_PRESETS[n][1]) != self.resolution:
                raise ValueError(f"encodings: the highest must be the track's {self.resolution}")
            if self.svc is not None or self.simulcast is not False:
                raise ValueError("encodings replace `simulcast` and exclude `svc`")
            if self.bitrate_kbps is not None or self.fps is not None:
                raise ValueError("encodings give each layer's bitrate and fps; leave the "
                                 "track's bitrate_kbps and fps unset")
        if self.svc is not None:
            if self.simulcast is True:
                raise ValueError("svc and simulcast: true exclude each other (svc takes its "
                                 "spatial layers from the ladder, or from a `simulcast` list)")
            if self.svc[1] != "1" and self.codec not in ("vp9", "av1"):
                raise ValueError(f"svc {self.svc}: spatial layers need vp9 or av1, "
                                 f"not {self.codec}")
        return self

    def layers(self) -> list[VideoLayer]:
        """Encodings lowest first; the top one is the track's own resolution/bitrate/fps."""
        if self.encodings is not None:
            return sorted(self.encodings, key=lambda e: VIDEO_PRESETS[e.resolution][1])
        width, height, preset_kbps, preset_fps = VIDEO_PRESETS[self.resolution]
        top = VideoLayer(resolution=self.resolution, bitrate_kbps=self.bitrate_kbps or preset_kbps,
                         fps=self.fps or preset_fps)
        if self.simulcast is False and (self.svc is None or self.svc[1] == "1"):
            return [top]
        if isinstance(self.simulcast, list):
            names = list(self.simulcast)
        else:
            names = DEFAULT_SIMULCAST.get(self.resolution, [self.resolution])
        lower = sorted({n for n in names if n != self.resolution}, key=lambda n: VIDEO_PRESETS[n][1])
        out = [VideoLayer(resolution=n, bitrate_kbps=VIDEO_PRESETS[n][2],
                          fps=min(VIDEO_PRESETS[n][3], top.fps)) for n in lower]
        if self.svc is not None:
            out = out[len(out) - (int(self.svc[1]) - 1):] if int(self.svc[1]) > 1 else []
        return [*out, top]


Track = Annotated[AudioTrack | VideoTrack, Field(discriminator="kind")]


class VoiceActivity(Frozen):
    """When a participant speaks: always, alternating talk-spurts and pauses on its own,
    or taking turns in its room's conversation.

    Defaults are ITU-T P.59 (1993), "Artificial conversational speech", Table 1: mean
    talk-spurt 1.004 s, pause 1.587 s, double talk 0.228 s, mutual silence 0.508 s;
    durations drawn exponentially. `conversation` (roomsim.workload.conversation) lets one holder
    speak at a time: after each talk-spurt the holder keeps the floor with probability
    `hold_p` (after a mutual silence), or hands it to another participant chosen by
    `weight`, after a mutual silence or, with probability `overlap_p`, talking over the
    end of the spurt (double talk). `hold_p` and `overlap_p` are modelling choices; a
    `weight` of 0 makes a listener who never takes the floor.
    """

    model: Literal["continuous", "talkspurt", "conversation"] = "continuous"
    talk_mean_s: PositiveFloat = 1.004
    pause_mean_s: PositiveFloat = 1.587
    gap_mean_s: PositiveFloat = 0.508
    overlap_mean_s: PositiveFloat = 0.228
    hold_p: Annotated[float, Field(ge=0, lt=1)] = 0.6
    overlap_p: Annotated[float, Field(ge=0, le=1)] = 0.1
    weight: NonNegativeFloat = 1.0
