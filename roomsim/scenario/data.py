"""Scenario models of the data plane: messages, text/byte streams, RPC and attributes.

Data travels through the same room as media: over WebRTC data channels (SCTP over DTLS
over UDP, RFC 8831) to the media node and on to every recipient, or, for participant
attributes and room metadata, over the signalling WebSocket (TLS over TCP).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from roomsim.scenario.frozen import Frozen


class DataMessages(Frozen):
    """A stream of data packets: `reliable` (ordered, retransmitted) or lossy
    (unordered, ``maxRetransmits: 0``), every `every_s`, to everyone or to `to`."""

    name: str = "data"
    reliable: bool = True
    every_s: PositiveFloat = 1.0
    bytes: PositiveInt = 200
    to: list[str] | None = None


class DataStream(Frozen):
    """A text or byte stream (e.g. an agent's transcript, a file): `bytes` sent every
    `every_s` as reliable chunks of at most `chunk_bytes` (a modelling default)."""

    kind: Literal["text", "bytes"] = "text"
    every_s: PositiveFloat = 2.0
    bytes: PositiveInt = 2_000
    chunk_bytes: PositiveInt = 15_000
    to: list[str] | None = None


class RpcCalls(Frozen):
    """Request/response calls to one participant; the round trip is measured at the caller.
    `handler_ms` is the callee's processing time."""

    to: str = Field(min_length=1)
    every_s: PositiveFloat = 1.0
    request_bytes: PositiveInt = 200
    response_bytes: PositiveInt = 200
    handler_ms: NonNegativeFloat = 1.0


class AttributeUpdates(Frozen):
    """Participant attribute updates, fanned out to everyone in the room through the
    server over the signalling connection."""

    every_s: PositiveFloat = 5.0
    bytes: PositiveInt = 100


class DataSpec(Frozen):
    """Everything one participant sends on the data plane."""

    messages: list[DataMessages] = []
    streams: list[DataStream] = []
    rpc: list[RpcCalls] = []
    attributes: AttributeUpdates | None = None

    def sends_anything(self) -> bool:
        """Whether this needs the publish_data grant."""
        return bool(self.messages or self.streams or self.rpc or self.attributes)


class RoomMetadata(Frozen):
    """Room metadata set through the server API every `every_s`, fanned out to everyone."""

    every_s: PositiveFloat = 10.0
    bytes: PositiveInt = 200
    first_s: NonNegativeFloat = 0.0
