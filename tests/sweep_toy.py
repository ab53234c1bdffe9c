"""Toy point runners for the sweep tests, standing in for the simulation core.

Module-level functions so they pickle by reference to spawned processes and Dask workers.
Each does seeded numpy work that depends on the scenario, so a wrong seed, a wrong
parameter or a mixed-up point shows as different numbers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

COPIES = {"mesh": lambda n: n - 1, "sfu": lambda n: 1, "mcu": lambda n: 1}


def toy_runner(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per participant: a noisy 'bitrate' scaled by the topology's upstream copies."""
    rng = np.random.default_rng(raw["seed"])
    kind = raw["topology"]["kind"]
    total = sum(group["count"] for room in raw["rooms"] for group in room["participants"])
    rows: list[dict[str, Any]] = []
    for room in raw["rooms"]:
        for group in room["participants"]:
            for number in range(group["count"]):
                samples = rng.normal(group["network"]["uplink_kbps"] / 4, 25.0, size=200)
                rows.append({
                    "scenario": raw["name"],
                    "topology": kind,
                    "seed": raw["seed"],
                    "participant": f"{room['id']}/{group['name']}-{number}",
                    "uplink_kbps": float(samples.mean()) * COPIES[kind](total),
                    "loss_pct": np.float64(samples.std() / 100),  # numpy scalar on purpose
                    "packets": np.int64(rng.integers(1000, 2000)),
                    "note": None,
                })
    return rows


def sleepy_runner(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """`toy_runner` that takes a while, so a test can kill a sweep in the middle."""
    time.sleep(0.25)
    return toy_runner(raw)


def picky_runner(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """`toy_runner` that fails on mesh, to exercise failed points."""
    if raw["topology"]["kind"] == "mesh":
        raise RuntimeError("mesh is not supported by this runner\nsecond line")
    return toy_runner(raw)
