"""Server profiles: what one forwarded packet costs a real SFU, and how it uses its cores.

A node names its profile (`nodes: [{id: n1, cores: 16, profile: livekit}]`): a bundled
one by name, or a profile file of the user's own (JSON or YAML, same fields; a relative
path is read from the working directory, e.g. experiments/profiles/). A profile holds:

* the CPU cost of one packet received and of one copy sent, each a fixed part plus a part
  per wire byte (SRTP and the kernel's copies work on every byte; the syscall, lookup and
  header rewrite are per packet). `roomsim/codecs/forwarding.py` shows why one constant is
  biased: LiveKit's published rows give 13.3 vCPU-us per packet for 24-byte audio packets
  and 26.2 for 947-byte video packets.
* its threading model: `spread` (one room is served by every core of the node, as
  LiveKit's Go runtime schedules a room's goroutines on all cores) or `worker` (a room
  lives on one single-threaded worker process, one core: mediasoup's Router belongs to
  one Worker, https://mediasoup.org/documentation/v3/scalability/ ; with
  `pipe_across_workers` the room spans every worker and each received packet is also
  piped to every other worker, `router.pipeToRouter()`, costing one more send and receive
  per extra worker).
* where every number comes from: the published rows it was fitted on (`fitted_on`), the
  rows held out to check it (`checked_on`), and the sources. The bundled cost figures are
  written by `experiments/reference/fit_profiles.py` from simulated runs of the fitted
  rows, never typed by hand.

None of the published benchmarks separates NACK/RTX, PLI or RTCP work from forwarding, so
no profile has a separate cost for them: they are packets like any other and pay the same
fixed + per-byte cost when they cross the node.

Bundled: `livekit` (fitted) and `legacy-17us` (the old constant). Not bundled, because no
source gives enough to fit and check them (docs/published-benchmarks.md, "Server
profiles"): mediasoup (only a relative "~2x Pion" from OpenVidu and a "over ~500
consumers per worker" bound without bitrates; a profile derived from the two checked at
0.30 of the bound), Jitsi Videobridge (one CPU row, 2014), Janus (the AWeS 2015 paper's
figures were not reachable). A user who measured one writes its file, `worker` threading
included.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, NonNegativeFloat, ValidationError

from roomsim.scenario.frozen import Frozen

#: The profile a node gets when it names none: LiveKit's, fitted on its own published
#: benchmark with a per-byte part (the realistic default; `legacy-17us` keeps the one
#: constant this project used before, for cross-checking).
DEFAULT_SERVER_PROFILE = "livekit"

#: Profiles shipped with the package (files under codecs/profiles/servers/).
BUNDLED_SERVER_PROFILES = ("livekit", "legacy-17us")


class PacketCost(Frozen):
    """Core-microseconds for one packet: `fixed_us + per_byte_us * wire bytes`."""

    fixed_us: NonNegativeFloat
    per_byte_us: NonNegativeFloat = 0.0

    def us(self, wire_bytes: float) -> float:
        """Cost of one packet of `wire_bytes` (IP + UDP + SRTP + RTP + payload)."""
        return self.fixed_us + self.per_byte_us * wire_bytes


class ServerProfile(Frozen):
    """One SFU's per-packet cost and threading model, with where each figure comes from."""

    name: str = Field(min_length=1)
    system: str
    threading: Literal["spread", "worker"] = "spread"
    #: worker threading only: spread a room over every worker through pipe transports
    pipe_across_workers: bool = False
    receive: PacketCost
    send: PacketCost
    #: what one "core" of `cores` was on the fitted machine
    hardware: str
    fitted_on: list[str]
    checked_on: list[str] = []
    sources: list[str]
    notes: str = ""


def load_server_profile(name_or_path: str) -> ServerProfile:
    """A bundled profile by name, or a JSON/YAML profile file by path.

    Raises ValueError with a one-line message naming the file and the problem."""
    path = Path(name_or_path)
    if name_or_path in BUNDLED_SERVER_PROFILES:
        text = resources.files("roomsim.codecs").joinpath(
            f"profiles/servers/{name_or_path}.json").read_text()
        where = f"bundled server profile {name_or_path}"
    elif path.suffix in (".json", ".yaml", ".yml"):
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read server profile ({exc.strerror})") from None
        where = str(path)
    else:
        raise ValueError(f"unknown server profile {name_or_path!r}; known: "
                         f"{', '.join(BUNDLED_SERVER_PROFILES)}, or a .json/.yaml file")
    try:
        data = json.loads(text) if path.suffix == ".json" or where.startswith("bundled") \
            else yaml.safe_load(text)
        return ServerProfile.model_validate(data)
    except (ValueError, yaml.YAMLError) as exc:
        if isinstance(exc, ValidationError):
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{where}: {field}: {err['msg']}") from None
        raise ValueError(f"{where}: {str(exc).splitlines()[0]}") from None


def bundled_profile_path(name: str) -> Path:
    """Where the fitting script writes a bundled profile (inside the source tree)."""
    return Path(__file__).resolve().parent / "profiles" / "servers" / f"{name}.json"
