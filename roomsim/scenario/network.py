"""Network blocks of a scenario: access networks (profile or preset), time-varying link
traces, and the region graph media nodes and participants sit in."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    field_validator,
    model_validator,
)

from roomsim.scenario.frozen import Frozen
from roomsim.scenario.names import known
from roomsim.scenario.netprofiles import NETWORK_PRESETS


class NetworkSpec(Frozen):
    """An access link pair; any field left out comes from `preset`."""

    preset: str | None = None
    uplink_kbps: PositiveFloat | None = None
    downlink_kbps: PositiveFloat | None = None
    rtt_ms: NonNegativeFloat | None = None
    jitter_ms: NonNegativeFloat | None = None
    loss_pct: Annotated[float, Field(ge=0, lt=100)] | None = None
    queue_ms: PositiveFloat | None = None

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        return None if value is None else known(value, NETWORK_PRESETS, "network preset")


class NetworkProfile(Frozen):
    """A fully resolved access network: what the engine builds links from."""

    uplink_kbps: PositiveFloat
    downlink_kbps: PositiveFloat
    rtt_ms: NonNegativeFloat
    jitter_ms: NonNegativeFloat
    loss_pct: Annotated[float, Field(ge=0, lt=100)]
    queue_ms: PositiveFloat




class TraceStep(Frozen):
    """From `at_s` on, the traced links take the fields this step sets (others keep their
    current value). `delay_ms` is one-way propagation delay."""

    at_s: NonNegativeFloat
    rate_kbps: PositiveFloat | None = None
    delay_ms: NonNegativeFloat | None = None
    jitter_ms: NonNegativeFloat | None = None
    loss_pct: Annotated[float, Field(ge=0, lt=100)] | None = None


class LinkTrace(Frozen):
    """A time-varying network trace for every link whose name matches `link` (a glob over
    link names such as "p-1/down", "viewer-*/down", "server-1/nic-out", "backbone:eu>us").
    With `repeat_s`, the steps replay every `repeat_s` seconds."""

    link: str = Field(min_length=1)
    steps: list[TraceStep] = Field(min_length=1)
    repeat_s: PositiveFloat | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LinkTrace:
        times = [step.at_s for step in self.steps]
        if times != sorted(times):
            raise ValueError("steps must be in time order")
        if self.repeat_s is not None and times[-1] >= self.repeat_s:
            raise ValueError("repeat_s must be after the last step")
        return self


class BackboneLink(Frozen):
    """A backbone link between two regions (both directions), e.g. a cloud provider's
    inter-region path: one-way latency, capacity and random loss."""

    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    latency_ms: NonNegativeFloat
    capacity_mbps: PositiveFloat = 100_000.0
    loss_pct: Annotated[float, Field(ge=0, lt=100)] = 0.0


class Regions(Frozen):
    """The region graph: regions are the ends of `links`. Nodes and participants name their
    region; a participant reaching a node in another region (SFU or MCU) crosses the
    backbone's shortest path (networkx) on its way, on top of its access RTT. Mesh runs do
    not model inter-region paths between peers."""

    links: list[BackboneLink] = Field(min_length=1)

    def names(self) -> list[str]:
        """Regions in first-mention order."""
        return list(dict.fromkeys(r for link in self.links for r in (link.a, link.b)))
