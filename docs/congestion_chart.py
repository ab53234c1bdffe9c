"""Draw docs/congestion-control.png: a mesh peer connection's video target over time.

Two runs of the same sender (720p VP8 at 1700 kbps + Opus 32 kbps): alone with one peer
on a 1 Gbps path (the ramp-up from libwebrtc's 300 kbps start bitrate), and with four
peers behind a 5 Mbps uplink (each connection settles near its quarter). The figures are
the run's own (`details.video_target_kbps_series`).

    PYTHONPATH=. python docs/congestion_chart.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roomsim import api
from roomsim.analysis.rates import rate_over_time

HERE = Path(__file__).resolve().parent
CLEAN = {"uplink_kbps": 1_000_000, "downlink_kbps": 1_000_000, "rtt_ms": 20, "jitter_ms": 0, "loss_pct": 0,
         "queue_ms": 1000}
AV = [{"kind": "audio", "codec": "opus", "bitrate_kbps": 32}, {"kind": "video", "codec": "vp8", "resolution": "720p"}]


def scenario(receivers: int, uplink_kbps: float) -> dict[str, Any]:
    """One sender on `uplink_kbps`, `receivers` peers on clean links, 20 s."""
    return {
        "name": "mesh-cc-chart", "duration_s": 20, "warmup_s": 2, "seed": 1,
        "nodes": [{"id": "node", "cores": 64, "nic_mbps": 100_000}],
        "rooms": [{"id": "r", "participants": [
            {"id": "sender", "network": dict(CLEAN, uplink_kbps=uplink_kbps, queue_ms=300), "tracks": AV},
            {"id": "rx", "count": receivers, "network": dict(CLEAN), "tracks": []}]}],
        "topology": {"kind": "mesh"},
    }


def first_series(receivers: int, uplink_kbps: float) -> tuple[list[float], float]:
    run = api.run(api.scenario_from_dict(scenario(receivers, uplink_kbps)), "mesh").runs[0]
    table = run.details["video_target_kbps_series"]
    return next(iter(table["connections"].values())), table["interval_s"]


def main() -> None:
    fat, interval = first_series(1, 1_000_000)
    shared, _ = first_series(4, 5000)
    rate_over_time({"1 peer, 1 Gbps uplink": fat, "4 peers, 5 Mbps uplink (one of them)": shared}, interval, HERE,
                   "congestion-control", "One mesh peer connection (GCC from 300 kbps)",
                   levels={"configured 720p rate": 1700.0, "share of the 5 Mbps uplink (wire, 5000 / 4)": 5000 / 4})


if __name__ == "__main__":
    main()
