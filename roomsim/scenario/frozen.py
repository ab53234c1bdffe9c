"""The one pydantic base of every scenario and result model.

Scenario and result models are immutable (a run cannot change the scenario it was given,
and a result is a record) and reject unknown keys, so a typo in a YAML file is an error at
load time instead of a field silently left at its default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of every scenario and result model: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")
