"""One seed policy: every random stream is keyed by the root seed and a stable name.

Keys come from `numpy.random.SeedSequence(seed, spawn_key=...)` with the spawn key derived
from the entity's name (participant id, link name), not from creation order, so adding a
participant never changes another's draws. Per-packet draws (loss, jitter) hash the link's
key with the packet's number on that link (see `kernels`): one stream per link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


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
    """A 64-bit key for counter-based per-packet draws of the named stream (`stream_keys`
    gives the same key for many names at once)."""
    return int(stream_seed(seed, name).generate_state(1, dtype=np.uint64)[0])


#: SeedSequence's constants (numpy/random/bit_generator.pyx, after Melissa O'Neill's
#: seed_seq_fe): pool of 4 words, hashmix and mix multipliers.
_POOL = 4
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_SHIFT = np.uint32(16)
_WORD = 0xFFFFFFFF


def stream_keys(seed: int, names: Sequence[str]) -> npt.NDArray[np.uint64]:
    """`SeedSequence(seed, spawn_key=words of name).generate_state(1, uint64)` of every
    name, the same 64 bits, computed for all names at once: SeedSequence's mixing of its
    entropy into a 4-word pool, then its output hash (numpy/random/bit_generator.pyx:
    `mix_entropy`, `generate_state`), on one uint32 column per pool word. The hash
    constant steps the same way for every name, so one Python loop serves them all (a
    SeedSequence per name cost ~30 us: 0.2 s for 6,000 links)."""
    if seed < 0:
        raise ValueError(f"a seed is a non-negative integer, not {seed}")
    run = [seed & _WORD]  # the root seed as little-endian 32-bit words
    while seed >> 32:
        seed >>= 32
        run.append(seed & _WORD)
    run += [0] * (_POOL - len(run))  # padded to the pool when a spawn key follows
    spawn = np.array([_name_words(name) for name in names], dtype=np.uint32).reshape(-1, 4)
    entropy = [np.full(len(spawn), word, dtype=np.uint32) for word in run] + list(spawn.T)
    hash_const = _INIT_A

    def hashmix(value: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_A) & _WORD
        value = value * np.uint32(hash_const)
        return value ^ (value >> _SHIFT)

    def mix(x: npt.NDArray[np.uint32], y: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        result = _MIX_L * x - _MIX_R * y
        return result ^ (result >> _SHIFT)

    pool = [hashmix(entropy[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))
    out_const = _INIT_B
    words = []
    for value in pool[:2]:  # one uint64 = the first two output words, little-endian
        value = value ^ np.uint32(out_const)
        out_const = (out_const * _MULT_B) & _WORD
        value = value * np.uint32(out_const)
        words.append((value ^ (value >> _SHIFT)).astype(np.uint64))
    return words[0] | (words[1] << np.uint64(32))
