"""One seed policy: every random stream is keyed by the root seed and a stable name.

Keys come from `numpy.random.SeedSequence(seed, spawn_key=...)` with the spawn key derived
from the entity's name (participant id, link name), not from creation order, so adding a
participant never changes another's draws. Per-packet draws (loss, jitter) use a
counter-based hash of (key, packet number on that link): vectorised over thousands of
links at once, and still one independent stream per link.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


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


def splitmix64(x: U64) -> U64:
    """SplitMix64 finaliser: a bijective 64-bit mix (Steele, Lea & Flood, OOPSLA 2014)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniform(keys: U64, counters: npt.NDArray[np.int64], purpose: int) -> npt.NDArray[np.float64]:
    """U[0,1) draws, one per (key, counter); `purpose` separates loss from jitter draws."""
    with np.errstate(over="ignore"):
        mixed = splitmix64(keys + np.uint64(purpose) * _GOLDEN)
        bits = splitmix64(mixed ^ counters.astype(np.uint64))
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
