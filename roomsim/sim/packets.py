"""Packets as rows of one structured numpy array, and frame packetization.

A batch of packets travels between stages as a single structured array so that sorting,
splitting and concatenating cost one numpy call each, whatever the number of fields.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PACKET = np.dtype(
    [
        ("t", np.int64),  # when the packet reaches the stage that holds it (ns)
        ("capture", np.int64),  # capture time of its frame (ns)
        ("res", np.int32),  # resource (link / CPU pool) at that stage
        ("flow", np.int32),  # frame-damage flow (see FrameDamage)
        ("stream", np.int32),  # source stream: one layer of one published track
        ("sub", np.int32),  # receiving participant, -1 before the fan-out point
        ("fseq", np.int32),  # frame number within the stream
        ("size", np.int32),  # bytes on the wire, headers included
        ("payload", np.int32),  # codec bytes
        ("marker", np.bool_),  # last packet of its frame (the RTP marker bit)
        ("damaged", np.bool_),  # an earlier packet of this frame was lost
    ]
)

Packets = npt.NDArray[np.void]


def empty_packets(n: int = 0) -> Packets:
    """An uninitialised batch of n packets."""
    return np.empty(n, dtype=PACKET)


def packet_counts(payload: npt.NDArray[np.int64], mtu_payload: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """RTP packets needed per frame: ceil(payload / MTU), at least one."""
    return np.maximum(1, -(-payload // mtu_payload))


def split_payloads(payload: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]
]:
    """Split each frame's payload about equally over its packets, as libwebrtc's
    packetizers do; return (frame index per packet, payload per packet, marker)."""
    frame = np.repeat(np.arange(len(payload)), counts)
    first = np.cumsum(counts) - counts
    position = np.arange(len(frame)) - first[frame]
    base = payload // counts
    remainder = payload - base * counts
    sizes = base[frame] + (position < remainder[frame])
    marker = position == counts[frame] - 1
    return frame, sizes, marker


def sort_by_resource(batch: Packets) -> Packets:
    """Order a batch by (resource, arrival); ties keep their order (stable)."""
    if len(batch) < 2:
        return batch
    offset = batch["t"] - batch["t"].min()
    if offset.max() >= 1 << 32:  # spans over ~4 s: two keys instead of one packed key
        return batch[np.lexsort((batch["t"], batch["res"]))]
    key = (batch["res"].astype(np.int64) << 32) | offset
    return batch[np.argsort(key, kind="stable")]
