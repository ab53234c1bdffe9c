"""Fit the bundled server profiles on published rows, then check them on held-out rows.

    PYTHONPATH=. python experiments/reference/fit_profiles.py            # fit, write, check
    PYTHONPATH=. python experiments/reference/fit_profiles.py --check    # check only

Fitting: each fitted row's scenario is simulated with a near-zero forwarding cost (so no
node saturates), which gives the packets and wire bytes its node receives and sends per
second. The profile's cost is `fixed_us + per_byte_us * bytes` per packet, the same for a
received packet and a sent copy (none of the sources separates them), so the published
busy vCPU-us per second is linear in (packets/s, bytes/s): two rows determine both parts.
The result is written to roomsim/codecs/profiles/servers/NAME.json with the rows named.

Checking: every row, fitted and held out, is simulated again with the fitted profile (so
saturation, drops and all the engine's behaviour apply) and its CPU figure is set against
the published one. The table goes to experiments/reference/profile-NAME.md. Nothing in
these tables is typed: rerun the script after any change to the engine or the scenarios.
"""

from __future__ import annotations

import argparse
import json
import tempfile
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
from roomsim.scenario import Scenario

HERE = Path(__file__).resolve().parent
LIVEKIT_PAGE = "https://docs.livekit.io/transport/self-hosting/benchmark/"
C2 = "1 vCPU of a Google Cloud c2-standard-16 (Cascade Lake, hyper-threaded)"


@dataclass(frozen=True)
class Row:
    """One published measurement: a scenario replaying it and its CPU figure."""

    scenario: str
    label: str
    published_cpu_pct: float
    source: str

    def load(self, profile: str) -> Scenario:
        """The row's scenario with every node on `profile`."""
        scenario = api.load_scenario(HERE / f"{self.scenario}.yaml")
        nodes = [n.model_copy(update={"profile": profile}) for n in scenario.nodes]
        return scenario.model_copy(update={"nodes": nodes})


AUDIO_ROOM = Row("livekit-audio-room", "LiveKit, Audio only: 10 pubs / 3,000 subs, 80 % of 16 vCPU",
                 80, LIVEKIT_PAGE + " 'Audio only'")
LIVESTREAM = Row("livekit-livestream", "LiveKit, Livestreaming: 1 pub / 3,000 subs, 92 % of 16 vCPU",
                 92, LIVEKIT_PAGE + " 'Video room', row Livestreaming")
LARGE_MEETING = Row("livekit-large-meeting",
                    "LiveKit, Large meeting: 150 pubs / 150 subs, 85 % of 16 vCPU",
                    85, LIVEKIT_PAGE + " 'Video room', row Large meeting")

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


def measure(row: Row, profile: str, duration: float | None) -> tuple[float, float, float]:
    """(packets/s in+out, wire bytes/s in+out, CPU %) of the row's node under `profile`."""
    node = api.run(row.load(profile), duration_s=duration).runs[0].servers[0]
    packets = node.ingress_pps + node.egress_pps
    wire = (node.ingress_mbps + node.egress_mbps) * 1e6 / 8
    return packets, wire, node.cpu_util_pct


def fit(name: str, duration: float | None) -> ServerProfile:
    """Solve fixed + per-byte cost from the fitted rows' simulated packet and byte rates."""
    system, fitted, checked, threading, why = PLAN[name]
    with tempfile.TemporaryDirectory() as tmp:
        counting = Path(tmp) / "counting.json"
        tiny = PacketCost(fixed_us=0.001)
        counting.write_text(ServerProfile(
            name="counting", system="near-zero cost, to read a workload's packet rates",
            receive=tiny, send=tiny, hardware="-", fitted_on=["-"], sources=["-"],
        ).model_dump_json())
        features, busy_us = [], []
        for row in fitted:
            packets, wire, _ = measure(row, str(counting), duration)
            scenario = row.load(str(counting))
            cores = scenario.nodes[0].cores
            features.append([packets, wire])
            busy_us.append(row.published_cpu_pct / 100 * cores * 1e6)
            print(f"  fit row {row.scenario}: {packets:,.0f} packets/s, "
                  f"{wire / packets:,.0f} wire bytes a packet", flush=True)
    fixed_us, per_byte_us = np.linalg.solve(np.array(features), np.array(busy_us))
    if fixed_us < 0 or per_byte_us < 0:
        raise SystemExit(f"{name}: fit gave a negative part ({fixed_us}, {per_byte_us})")
    cost = PacketCost(fixed_us=round(float(fixed_us), 3), per_byte_us=round(float(per_byte_us), 6))
    return ServerProfile(
        name=name, system=system, threading=threading,  # type: ignore[arg-type]
        receive=cost, send=cost, hardware=C2,
        fitted_on=[r.label for r in fitted], checked_on=[r.label for r in checked],
        sources=sorted({r.source for r in fitted + checked}),
        notes=why + " Receive = send cost is a modelling choice (no source separates them). "
        "Written by experiments/reference/fit_profiles.py.",
    )


def check(name: str, duration: float | None) -> str:
    """Markdown table: every row of the profile, simulated with it, against the published."""
    profile = load_server_profile(name)
    _, fitted, checked, _, _ = PLAN[name]
    lines = [
        f"# Server profile `{name}`: fitted and held-out rows",
        "",
        f"{profile.system}; cost per packet received or sent = {profile.send.fixed_us} us + "
        f"{profile.send.per_byte_us} us per wire byte; threading: {profile.threading}.",
        "",
        "Fitted on: " + "; ".join(profile.fitted_on) + ".",
        "Written by `experiments/reference/fit_profiles.py` from simulated runs (seed 1); "
        "do not edit by hand.",
        "",
        "| row | role | simulated CPU % | published CPU % | sim/pub |",
        "|---|---|---:|---:|---:|",
    ]
    for role, rows in (("fitted on", fitted), ("checked on", checked)):
        for row in rows:
            _, _, cpu = measure(row, name, duration)
            lines.append(f"| {row.label} | {role} | {cpu:.1f} | {row.published_cpu_pct:.0f} "
                         f"| {cpu / row.published_cpu_pct:.2f} |")
            print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not refit, only check")
    parser.add_argument("--duration", type=float, default=None, help="simulated s per run")
    parser.add_argument("--only", nargs="*", default=list(PLAN))
    args = parser.parse_args()
    for name in args.only:
        if not args.check:
            print(f"fitting {name}", flush=True)
            profile = fit(name, args.duration)
            path = bundled_profile_path(name)
            path.write_text(json.dumps(profile.model_dump(), indent=2) + "\n")
            print(f"  {profile.send.fixed_us} us + {profile.send.per_byte_us} us/byte -> {path.name}")
        (HERE / f"profile-{name}.md").write_text(check(name, args.duration))


if __name__ == "__main__":
    main()
