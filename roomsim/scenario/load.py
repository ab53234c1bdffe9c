"""Scenario files in, validated Scenario out: numbers in range as written (limits), then the
models, then references across fields; every failure is one ScenarioError line."""

from __future__ import annotations

from pathlib import Path

import yaml

from roomsim.scenario.limits import check_expansion, check_numbers
from roomsim.scenario.loader import read_yaml, validate
from roomsim.scenario.references import check_references
from roomsim.scenario.scenario import Scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (raises ScenarioError, one line)."""
    data, node = read_yaml(Path(path))
    return scenario_from_dict(data, str(path), node)


def scenario_from_dict(raw: dict, source: str = "<dict>", node: yaml.Node | None = None) -> Scenario:
    """Validate an already-parsed scenario mapping (used by sweeps and notebooks): numbers
    in range first (roomsim.scenario.limits), then the models, then references across fields."""
    check_numbers(raw, source, node)
    check_expansion(raw, source, node)
    scenario = validate(Scenario, raw, source, node)
    check_references(scenario, source, node)
    return scenario
