"""Fit the bundled server profiles on published rows, then check them on held-out rows.

    PYTHONPATH=. python experiments/reference/fit_profiles.py            # fit, write, check
    PYTHONPATH=. python experiments/reference/fit_profiles.py --check    # check only

Fitting uses the published figures only: a row gives packets/s and bytes/s in + out and
the CPU busy. The profile's cost is `fixed_us + per_byte_us * wire bytes` per packet, the
same for a received packet and a sent copy (no source separates them), so busy vCPU-us
per second is linear in (packets/s, wire bytes/s) and two rows determine both parts.
LiveKit's byte rates count RTP packets (fixed header + payload: the audio room's 24 B a
packet is the load tester's 12-byte payload plus 12), so each packet gets IPv4 + UDP +
SRTP tag on top to make wire bytes (roomsim/sim/headers.py). The result is written to
roomsim/codecs/profiles/servers/NAME.json with the rows named.

Checking: every row, fitted and held out, is simulated with the fitted profile (the
replayed workload, saturation, drops and all) and its CPU figure set against the
published one; a fitted row's ratio shows how far the simulated workload is from the
measured one, a held-out row's is the check. The table goes to
experiments/reference/profile-NAME.md. Nothing in these tables is typed: rerun the script
after any change to the engine or the scenarios.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roomsim import api
from roomsim.codecs.server_profiles import (
    PacketCost,
    ServerProfile,
    bundled_profile_path,
    load_server_profile,
)
from roomsim.scenario.scenario import Scenario
from roomsim.sim.headers import IPV4_HEADER_BYTES, SRTP_AUTH_TAG_BYTES, UDP_HEADER_BYTES

HERE = Path(__file__).resolve().parent
LIVEKIT_PAGE = "https://docs.livekit.io/transport/self-hosting/benchmark/"
C2 = "1 vCPU of a Google Cloud c2-standard-16 (Cascade Lake, hyper-threaded)"
#: wire bytes a packet carries beyond what LiveKit's byte rates count (RTP header + payload)
BELOW_RTP_BYTES = IPV4_HEADER_BYTES + UDP_HEADER_BYTES + SRTP_AUTH_TAG_BYTES


@dataclass(frozen=True)
class Row:
    """One published measurement: a scenario replaying it and its CPU figure."""

    scenario: str
    label: str
    cores: float
    published_cpu_pct: float
    #: published packets/s and RTP bytes/s, in + out
    published_pps: float
    published_rtp_bytes: float
    source: str

    def wire_bytes(self) -> float:
        """Published bytes/s on the wire: RTP bytes plus IP, UDP and SRTP tag a packet."""
        return self.published_rtp_bytes + BELOW_RTP_BYTES * self.published_pps

    def load(self, profile: str) -> Scenario:
        """The row's scenario with every node on `profile`."""
        scenario = api.load_scenario(HERE / f"{self.scenario}.yaml")
        nodes = [n.model_copy(update={"profile": profile}) for n in scenario.nodes]
        return scenario.model_copy(update={"nodes": nodes})


AUDIO_ROOM = Row("livekit-audio-room", "LiveKit, Audio only: 10 pubs / 3,000 subs, 80 % of 16 vCPU",
                 16, 80, 305 + 959_156, 7.3e3 + 23e6, LIVEKIT_PAGE + " 'Audio only'")
LIVESTREAM = Row("livekit-livestream", "LiveKit, Livestreaming: 1 pub / 3,000 subs, 92 % of 16 vCPU",
                 16, 92, 246 + 560_962, 233e3 + 531e6,
                 LIVEKIT_PAGE + " 'Video room', row Livestreaming")
LARGE_MEETING = Row("livekit-large-meeting",
                    "LiveKit, Large meeting: 150 pubs / 150 subs, 85 % of 16 vCPU",
                    16, 85, 51_068 + 762_749, 50e6 + 93e6,
                    LIVEKIT_PAGE + " 'Video room', row Large meeting")

#: profile -> (system, rows fitted on, rows held out, threading, why)
PLAN: dict[str, tuple[str, list[Row], list[Row], str, str]] = {
    "livekit": (
        "LiveKit SFU (Go, Pion)", [AUDIO_ROOM, LIVESTREAM], [LARGE_MEETING], "spread",
        "Fitted on the two rows with the smallest (blank audio) and largest (720p video) "
        "packets, which pin down the fixed and the per-byte part; the mixed large meeting "
        "is held out. LiveKit spreads a room over all cores (Go runtime), and its docs "
        "state a room must fit within one node.",
    ),
}


#: profiles not fitted here, checked on the same rows for comparison: (fitted on, held out)
CHECK_ONLY: dict[str, tuple[list[Row], list[Row]]] = {
    "legacy-17us": ([LARGE_MEETING], [AUDIO_ROOM, LIVESTREAM]),
}


def measure(row: Row, profile: str, duration: float | None) -> float:
    """CPU % of the row's node, simulated with every node on `profile`."""
    return api.run(row.load(profile), duration_s=duration).runs[0].servers[0].cpu_util_pct


def fit(name: str) -> ServerProfile:
    """Solve the fixed and per-byte cost from the fitted rows' published figures."""
    system, fitted, checked, threading, why = PLAN[name]
    features = [[row.published_pps, row.wire_bytes()] for row in fitted]
    busy_us = [row.published_cpu_pct / 100 * row.cores * 1e6 for row in fitted]
    fixed_us, per_byte_us = np.linalg.solve(np.array(features), np.array(busy_us))
    if fixed_us < 0 or per_byte_us < 0:
        raise SystemExit(f"{name}: fit gave a negative part ({fixed_us}, {per_byte_us})")
    cost = PacketCost(fixed_us=round(float(fixed_us), 3), per_byte_us=round(float(per_byte_us), 6))
    return ServerProfile(
        name=name, system=system, threading=threading,  # type: ignore[arg-type]
        receive=cost, send=cost, hardware=C2,
        fitted_on=[r.label for r in fitted], checked_on=[r.label for r in checked],
        sources=sorted({r.source for r in fitted + checked}),
        notes=why + " Receive = send cost is a modelling choice (no source separates them); "
        f"published RTP bytes + {BELOW_RTP_BYTES} B a packet (IPv4, UDP, SRTP tag) = wire "
        "bytes. Written by experiments/reference/fit_profiles.py.",
    )


def check(name: str, duration: float | None) -> str:
    """Markdown table: every row of the profile, simulated with it, against the published."""
    profile = load_server_profile(name)
    fitted, checked = CHECK_ONLY[name] if name in CHECK_ONLY else PLAN[name][1:3]
    lines = [
        f"# Server profile `{name}`: fitted and held-out rows",
        "",
        f"{profile.system}; cost per packet received or sent = {profile.send.fixed_us} us + "
        f"{profile.send.per_byte_us} us per wire byte; threading: {profile.threading}.",
        "",
        "Fitted on: " + "; ".join(profile.fitted_on) + ".",
        "",
        "Written by `experiments/reference/fit_profiles.py`: every row below is simulated "
        "with this profile (seed 1) and set against the published CPU figure. Do not edit "
        "by hand.",
        "",
        "| row | role | simulated CPU % | published CPU % | sim/pub |",
        "|---|---|---:|---:|---:|",
    ]
    for role, rows in (("fitted on", fitted), ("checked on", checked)):
        for row in rows:
            cpu = measure(row, name, duration)
            lines.append(f"| {row.label} | {role} | {cpu:.1f} | {row.published_cpu_pct:.0f} "
                         f"| {cpu / row.published_cpu_pct:.2f} |")
            print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not refit, only check")
    parser.add_argument("--duration", type=float, default=None, help="simulated s per run")
    parser.add_argument("--only", nargs="*", default=[*PLAN, *CHECK_ONLY])
    args = parser.parse_args()
    for name in args.only:
        if not args.check and name in PLAN:
            print(f"fitting {name}", flush=True)
            profile = fit(name)
            path = bundled_profile_path(name)
            path.write_text(json.dumps(profile.model_dump(), indent=2) + "\n")
            print(f"  {profile.send.fixed_us} us + {profile.send.per_byte_us} us/byte -> {path.name}")
        (HERE / f"profile-{name}.md").write_text(check(name, args.duration))


if __name__ == "__main__":
    main()
