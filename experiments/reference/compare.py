"""Run the reference scenarios and print simulated against published figures.

    PYTHONPATH=. python experiments/reference/compare.py [--duration S] [--only NAME ...]

Each published figure names its source in the scenario's description and in README.md;
`independent` says whether the simulation could have been fitted to it: the default
server profile (`livekit`, roomsim/codecs/profiles/servers/livekit.json) was fitted on the
audio room's and the livestream's CPU by fit_profiles.py, so those two CPU figures are not
checks; everything else is a prediction. `--profile NAME` runs every node on another
server profile (e.g. legacy-17us, the one constant used before).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from roomsim import api
from roomsim.results.models import RunResult

HERE = Path(__file__).resolve().parent
#: RFC 3550 sec. 5.1: the fixed RTP header
RTP_HEADER_BYTES = 12

#: scenario -> [(metric, published value, independent?)]
PUBLISHED: dict[str, list[tuple[str, float, bool]]] = {
    "livekit-audio-room": [
        ("in packets/s", 305, True),
        ("out packets/s", 959_156, True),
        ("in kB/s", 7.3, True),
        ("out MB/s", 23, True),
        ("CPU %", 80, False),
    ],
    "livekit-livestream": [
        ("in packets/s", 246, True),
        ("out packets/s", 560_962, True),
        ("in kB/s", 233, True),
        ("out MB/s", 531, True),
        ("CPU %", 92, False),
    ],
    "livekit-large-meeting": [
        ("in packets/s", 51_068, True),
        ("out packets/s", 762_749, True),
        ("in MB/s", 50, True),
        ("out MB/s", 93, True),
        ("CPU %", 85, True),
    ],
    "jitsi-full-star": [("in+out Mbit/s", 550, True), ("CPU threads", 1.6, True)],
}


def simulated(run: RunResult, metric: str) -> float:
    """The simulated figure a published metric compares to (the room's one node)."""
    node = run.servers[0]
    # LiveKit's byte rates count RTP packets (12-byte fixed header + payload), not the wire:
    # the audio room's 7.3 kB/s over 305 packets/s is 24 B a packet, the load tester's
    # 12-byte blank payload (3 kbps / 8 / 30 packets/s) plus the RTP header.
    payload_in = sum(p.uplink_payload_kbps / 8 + p.uplink_pps * RTP_HEADER_BYTES / 1e3
                     for p in run.participants)  # kB/s
    payload_out = sum(p.downlink_payload_kbps / 8 + p.downlink_pps * RTP_HEADER_BYTES / 1e3
                      for p in run.participants)
    return {
        "in packets/s": node.ingress_pps,
        "out packets/s": node.egress_pps,
        "in kB/s": payload_in,
        "in MB/s": payload_in / 1e3,
        "out MB/s": payload_out / 1e3,
        "CPU %": node.cpu_util_pct,
        "in+out Mbit/s": node.ingress_mbps + node.egress_mbps,
        "CPU threads": node.cpu_cores,
    }[metric]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=None, help="simulated seconds per scenario"
    )
    parser.add_argument("--only", nargs="*", default=list(PUBLISHED))
    parser.add_argument("--profile", default=None, help="server profile for every node")
    args = parser.parse_args()
    header = f"{'scenario':<22} {'metric':<15} {'simulated':>12} {'published':>12} {'sim/pub':>8}"
    print(f"{header}  independent")
    for name in args.only:
        scenario = api.load_scenario(HERE / f"{name}.yaml")
        if args.profile is not None:
            nodes = [n.model_copy(update={"profile": args.profile}) for n in scenario.nodes]
            scenario = scenario.model_copy(update={"nodes": nodes})
        run = api.run(scenario, duration_s=args.duration).runs[0]
        for metric, published, independent in PUBLISHED[name]:
            value = simulated(run, metric)
            print(
                f"{name:<22} {metric:<15} {value:>12,.1f} {published:>12,.1f} "
                f"{value / published:>8.2f}  {'yes' if independent else 'no'}",
                flush=True,
            )
        print(
            f"{'':<22} {'(loss %, p95 ms)':<15} {run.totals.loss_pct:>12.2f} "
            f"{run.totals.latency_ms.p95 or 0:>12.1f}"
        )


if __name__ == "__main__":
    main()
