"""The bulk stream keys are numpy's SeedSequence keys, bit for bit (the seed policy of
roomsim/sim/rng.py: a stream's draws depend on the root seed and its name only)."""

from __future__ import annotations

import numpy as np
import pytest

from roomsim.sim.rng import _name_words, stream_key, stream_keys


@pytest.mark.parametrize("seed", [0, 1, 7, 2**32 - 1, 2**32, 2**32 + 5, 123_456_789_012_345, 2**63 - 1])
def test_stream_keys_are_seed_sequence_states(seed: int) -> None:
    names = [f"link:viewer-{i}/{d}" for i in range(300) for d in ("up", "down")] + ["", "control", "é/ü"]
    reference = [int(np.random.SeedSequence(seed, spawn_key=_name_words(name)).generate_state(1, dtype=np.uint64)[0])
                 for name in names]
    assert stream_keys(seed, names).tolist() == reference
    assert stream_key(seed, names[3]) == reference[3]


def test_a_negative_seed_is_refused_as_numpy_refuses_it() -> None:
    with pytest.raises(ValueError):
        stream_keys(-1, ["a"])
    with pytest.raises(ValueError):
        np.random.SeedSequence(-1)
