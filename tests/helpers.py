"""Small scenario builders shared by the tests."""

from __future__ import annotations

import copy
from typing import Any

from roomsim import api
from roomsim.results.models import RunResult
from roomsim.scenario.scenario import Scenario

#: An access link that never congests, loses or jitters: closed forms hold exactly.
CLEAN = {"uplink_kbps": 1_000_000, "downlink_kbps": 1_000_000, "rtt_ms": 20, "jitter_ms": 0,
         "loss_pct": 0, "queue_ms": 1000}


def room(people: int, tracks: list[dict[str, Any]], network: Any = None, **group: Any) -> dict[str, Any]:
    """A one-room scenario dict with `people` alike participants."""
    return {
        "name": "test",
        "duration_s": 5,
        "warmup_s": 1,
        "nodes": [{"id": "node", "cores": 64, "nic_mbps": 100_000}],
        "rooms": [{"id": "r", "participants": [
            {"id": "p", "count": people, "network": network or dict(CLEAN), "tracks": tracks, **group}]}],
    }


def build(raw: dict[str, Any], **changes: Any) -> Scenario:
    """Validate a scenario dict after applying top-level changes."""
    data = copy.deepcopy(raw)
    data.update(changes)
    return api.scenario_from_dict(data)


def run(raw: dict[str, Any], topology: str, **changes: Any) -> RunResult:
    """Run one topology on a scenario dict."""
    return api.run(build(raw, **changes), topology).runs[0]
