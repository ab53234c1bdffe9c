"""`roomsim new FILE` and the calculator mode of `roomsim compare --people N ...`.

Both come from one commented template: the calculator's scenario is exactly the file
`roomsim new` would write with the same flags, so a question asked with flags and the
same question written as YAML give the same answer.
"""

from __future__ import annotations

from typing import Any

import yaml

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.scenario.devices import DEVICE_PRESETS
from roomsim.scenario.netprofiles import NETWORK_PRESETS

#: What the calculator assumes when a flag is left out.
DEFAULTS: dict[str, Any] = {"people": 4, "video": "720p", "network": "wifi", "device": "laptop",
                            "duration": 30.0}

_TEMPLATE = """\
# A roomsim scenario: {people} people in one room on {network}, each sending Opus voice{video_words}.
# Check it:  roomsim validate {file}
# Run it:    roomsim compare {file}     (P2P mesh, MCU and SFU side by side, with a verdict)
# Every field is described in the README's "Scenarios" section; unknown keys are errors.
name: {name}
description: >
  What does a {people}-person call cost on {network}? (written by `roomsim new`; edit freely)
duration_s: {duration:g}         # simulated seconds
warmup_s: 2             # figures are measured after the warm-up
seed: 1                 # same scenario + seed = identical output
nodes:                  # the media server the MCU and SFU run on
  - {{id: media-1, cores: 16, nic_mbps: 10000}}
rooms:
  - id: call
    participants:
      - id: person      # `count: N` alike participants, named person-1 .. person-N
        count: {people}
        device: {device}      # {devices}
        network: {network}      # {networks}
        tracks:
          - {{kind: audio, codec: opus, bitrate_kbps: 32}}
{video_track}topology:
  kind: sfu             # what `roomsim run` runs; `roomsim compare` runs mesh, mcu and sfu
# The PASS/FAIL limits `run` and `compare` judge by (these are the defaults):
# gate: {{loss_pct: 2, latency_p95_ms: 150, cpu_pct: 80}}
"""

_VIDEO_TRACK = ("          # one camera; simulcast: true sends LiveKit's default ladder of layers\n"
                "          - {{kind: video, codec: vp8, resolution: {video}, simulcast: true}}\n")

VIDEO_CHOICES = ("none", *VIDEO_PRESETS)


def starter_text(people: int = DEFAULTS["people"], video: str = DEFAULTS["video"],
                 network: str = DEFAULTS["network"], device: str = DEFAULTS["device"],
                 duration: float = DEFAULTS["duration"], file: str = "FILE") -> str:
    """The commented starter scenario for these answers."""
    with_video = video != "none"
    return _TEMPLATE.format(
        people=people, network=network, device=device, duration=duration, file=file,
        name=f"call-{people}-{video}-{network}".replace(" ", "-"),
        video_words=f" and a {video} camera" if with_video else "",
        video_track=_VIDEO_TRACK.format(video=video) if with_video else "",
        devices=" | ".join(DEVICE_PRESETS), networks=" | ".join(NETWORK_PRESETS))


def starter_data(**answers: Any) -> dict[str, Any]:
    """The starter scenario as a mapping (the calculator validates this)."""
    data = yaml.safe_load(starter_text(**answers))
    assert isinstance(data, dict)
    return data
