"""Golden check: speed work must not change a single result byte.

Runs a fixed set of scenarios through every topology that applies (mesh, MCU, SFU, as
`api.compare` would) and hashes each run's `report.model_dump_json()`. `--bless` stores
the hashes in benchmarks/golden.json; `--check` recomputes and compares them (exit 1 on
any difference). A topology that refuses a scenario is recorded with its error message,
so a new refusal counts as a change too.

    python benchmarks/golden_check.py --bless     # record the current results
    python benchmarks/golden_check.py --check     # after an optimisation: identical?
    python benchmarks/golden_check.py --check --dump /tmp/golden   # keep the JSON to diff
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from roomsim import api
from roomsim.errors import ScenarioError
from roomsim.scenario.names import TOPOLOGIES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden.json"

#: (scenario file, simulated seconds or None for the file's own duration)
CASES: list[tuple[Path, float | None]] = [
    *((path, 5.0) for path in sorted(HERE.glob("*.yaml"))),
    (ROOT / "experiments" / "meeting-8.yaml", None),
    (ROOT / "experiments" / "voice-agent.yaml", None),
    (ROOT / "experiments" / "adaptation-trace.yaml", None),
    (ROOT / "experiments" / "cascade-3-regions.yaml", None),
    # paths the above never take: loss repair, TCP, TURN relays
    *((path, None) for path in sorted((HERE / "golden").glob("*.yaml"))),
]


def digest(path: Path, duration: float | None, topology: str, dump: Path | None) -> str:
    """sha256 of one run's report JSON, or the refusal message where the topology does
    not apply to the scenario."""
    scenario = api.load_scenario(path)
    try:
        text = api.run(scenario, topology, duration_s=duration).model_dump_json()
    except ScenarioError as refused:
        return f"refused: {refused}"
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        (dump / f"{path.stem}.{topology}.json").write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


def compute(dump: Path | None) -> dict[str, str]:
    """Digest of every (scenario, topology) case, printed as it completes."""
    out = {}
    for path, duration in CASES:
        for topology in TOPOLOGIES:
            start = time.perf_counter()
            key = f"{path.relative_to(ROOT)}:{topology}"
            out[key] = digest(path, duration, topology, dump)
            print(f"{key:<48} {time.perf_counter() - start:6.1f} s  {out[key][:16]}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--bless", action="store_true", help="store the current digests")
    action.add_argument("--check", action="store_true", help="compare with the stored digests")
    parser.add_argument("--dump", type=Path, default=None, help="write each report's JSON here")
    args = parser.parse_args()
    current = compute(args.dump)
    if args.bless:
        GOLDEN.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"blessed {len(current)} digests into {GOLDEN.relative_to(ROOT)}")
        return
    stored = json.loads(GOLDEN.read_text())
    changed = sorted(k for k in stored.keys() | current.keys() if stored.get(k) != current.get(k))
    for key in changed:
        print(f"CHANGED {key}: {stored.get(key, '-')[:16]} -> {current.get(key, '-')[:16]}")
    print(f"golden check: {len(current) - len(changed)}/{len(current)} identical")
    sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()
