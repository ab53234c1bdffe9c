"""The topology names a scenario may use, and the one way an unknown name is refused."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from roomsim.errors import unknown_name

TOPOLOGIES = ("mesh", "mcu", "sfu")
TopologyName = Literal["mesh", "mcu", "sfu"]


def known(value: str, names: Iterable[str], what: str) -> str:
    """`value` if it names one of `names`, else the one-line error users see."""
    choices = list(names)
    if value not in choices:
        raise ValueError(unknown_name(value, choices, what))
    return value
