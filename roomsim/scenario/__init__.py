"""The scenario: the YAML file as frozen pydantic models, and the presets its names resolve to.

Reading order: `loader` (YAML in, line numbers kept) -> `limits` (numbers in range, as
written) -> `models` (the typed scenario) -> `references` (names that must exist elsewhere).
Presets a scenario names live beside them: `netprofiles` (access networks), `devices`
(client CPU budgets). Nothing here knows how a run is built or simulated.
"""
