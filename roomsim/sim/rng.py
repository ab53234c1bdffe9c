"""One seed policy: every random stream is keyed by the root seed and a stable name.

Keys come from `numpy.random.SeedSequence(seed, spawn_key=...)` with the spawn key derived
from the entity's name (participant id, link name), not from creation order, so adding a
participant never changes another's draws. Per-packet draws (loss, jitter) hash the link's
key with the packet's number on that link (see `kernels`): one stream per link.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _name_words(name: str) -> tuple[int, ...]:
    digest = hashlib.sha256(name.encode()).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def stream_seed(seed: int, name: str) -> np.random.SeedSequence:
    """The SeedSequence of the random stream called `name` under root `seed`."""
    return np.random.SeedSequence(seed, spawn_key=_name_words(name))


def generator(seed: int, name: str) -> np.random.Generator:
    """A numpy Generator for the named stream (talk-spurts, frame phases, ...)."""
    return np.random.default_rng(stream_seed(seed, name))


def stream_key(seed: int, name: str) -> int:
    """A 64-bit key for counter-based per-packet draws of the named stream."""
    return int(stream_seed(seed, name).generate_state(1, dtype=np.uint64)[0])
