"""Reading results out of a finished run in bulk gives the same figures, to the bit, as the
per-participant arithmetic it replaced; the run's tables are let go once read."""

from __future__ import annotations

import gc
import math
import warnings
import weakref
from typing import Any

import numpy as np
import pytest

from roomsim import api
from roomsim.results.models import RunResult
from roomsim.run import runner
from roomsim.sim.metrics import LATENCY_BINS, bin_edges_ms, percentiles_ms, percentiles_rows_ms
from roomsim.sim.resources import Counters
from roomsim.topologies.registry import TOPOLOGY_CLASSES
from roomsim.workload.world import World
from tests.helpers import CLEAN, build, room

TRACKS = [{"kind": "audio"}, {"kind": "video", "resolution": "360p", "simulcast": True}]


def one_percentile(histogram: np.ndarray, q: float) -> float | None:
    """The definition, one histogram at a time: the cumulative count's first bin reaching
    q % of the samples, log-interpolated inside it."""
    total = int(histogram.sum())
    if total == 0:
        return None
    cumulative = np.cumsum(histogram)
    edges = bin_edges_ms()
    target = q / 100.0 * total
    index = int(np.searchsorted(cumulative, target, side="left"))
    if index == 0:
        return float(edges[0])
    if index >= LATENCY_BINS - 1:
        return float(edges[-1])
    inside = histogram[index]
    fraction = (target - cumulative[index - 1]) / inside if inside else 0.0
    low, high = edges[index - 1], edges[index]
    return float(low * (high / low) ** fraction)


def histograms(count: int, seed: int) -> np.ndarray:
    """Empty ones, single-bin ones, under/overflow only, and sparse random spreads."""
    rng = np.random.default_rng(seed)
    out = np.zeros((count, LATENCY_BINS), dtype=np.int64)
    for k in range(count):
        shape = k % 4
        if shape == 1:
            out[k, rng.integers(0, LATENCY_BINS)] = rng.integers(1, 5)
        elif shape == 2:
            out[k, [0, LATENCY_BINS - 1]] = rng.integers(0, 3, 2)
        elif shape == 3:
            bins = rng.integers(0, LATENCY_BINS, rng.integers(1, 40))
            np.add.at(out[k], bins, rng.integers(1, 10 ** int(rng.integers(1, 7)), len(bins)))
    return out


def test_percentiles_of_many_rows_equal_one_at_a_time() -> None:
    table = histograms(2000, seed=5)
    qs = (0.0, 37.5, 50.0, 95.0, 99.0, 100.0)
    rows = percentiles_rows_ms(table, qs)
    for histogram, row in zip(table, rows, strict=True):
        assert row == [one_percentile(histogram, q) for q in qs]  # the same floats, not approx
        assert percentiles_ms(histogram, qs) == row


def test_percentages_round_as_each_number_type_rounds() -> None:
    rng = np.random.default_rng(2)
    whole = rng.integers(0, 10**7, 5000)
    whole[::7] = 0
    part = rng.integers(0, 10**6, 5000)
    expected = [runner._pct(p, w) for p, w in zip(part, whole, strict=True)]  # numpy ints: numpy's rounding
    assert runner._pct_rows(part, whole) == expected
    values = (rng.random(5000) * 10.0 ** rng.integers(-2, 7, 5000)).tolist()
    assert runner._round_all(values, 3) == [round(v, 3) for v in values]
    numpy_values = [np.float64(v) for v in values]
    assert runner._round_all(numpy_values, 3) == [float(round(v, 3)) for v in numpy_values]
    # the two roundings differ (Python's is decimal-exact, numpy's scales by 10^3), so
    # keeping each type's own is what keeps the bytes
    assert (round(0.0125, 3), float(round(np.float64(0.0125), 3))) == (0.013, 0.012)
    assert runner._round_all([0.0125], 3) == [0.013]
    assert runner._round_all([np.float64(0.0125)], 3) == [0.012]


def test_counters_keep_windows_only_for_the_charted_counters() -> None:
    counters = Counters(3, windows=4, per_window=("bytes",))
    counters.add("bytes", np.array([1, 2, 3]), window=2, measuring=True)
    counters.add("packets", np.array([1, 1, 1]), window=2, measuring=False)
    assert counters.get("series", "bytes")[:, 2].tolist() == [1, 2, 3]
    assert counters.get("total", "packets").tolist() == [1, 1, 1]
    assert counters.get("measured", "packets").tolist() == [0, 0, 0]
    assert "packets" not in counters.series
    with pytest.raises(KeyError):
        counters.get("series", "packets")


def finished(topology: str) -> tuple[World, object, int]:
    scenario = build(room(6, TRACKS, network=dict(CLEAN)), duration_s=3)
    world = World(scenario, scenario.seed, 3.0)
    model = TOPOLOGY_CLASSES[topology](world)
    world.freeze()
    model.start()
    runner.attach(world, model)
    world.start_processes()
    end = runner.run_ticks(world.env, world.tick_ns, world.end_capture_ns, world.horizon_ns, model.tick,
                           model.in_flight, None)
    return world, model, end


@pytest.mark.parametrize("topology", ["sfu", "mesh", "mcu"])
def test_received_streams_of_all_match_each_participants_own(topology: str) -> None:
    world, model, _ = finished(topology)
    everyone = model.received_streams_of_all()  # type: ignore[attr-defined]
    subs = getattr(model, "_subs", None)
    for i in range(len(world.participants)):
        if subs is not None:
            mine = subs.stream[subs.sub == i].tolist()
        else:
            table = model.credit  # type: ignore[attr-defined]
            open_now = (table.target == i) & (table.end == np.iinfo(np.int64).max)
            mine = sorted(set(table.key[open_now].tolist()))
        assert everyone[i] == mine
    assert any(everyone)


@pytest.mark.parametrize("topology", ["sfu", "mesh", "mcu"])
def test_collected_result_survives_validation_unchanged(topology: str) -> None:
    """Every field has the type validation would give it: re-validating the result changes
    no byte of its JSON, and serializing it warns of no unexpected type."""
    world, model, end = finished(topology)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = runner.collect(world, model, end)
        text = result.model_dump_json()
        again = RunResult.model_validate(result.model_dump()).model_dump_json()
    assert again == text
    quality = [p.quality for p in result.participants]
    assert all(q is not None and q.video_mos is not None and not math.isnan(q.video_mos) for q in quality)


def test_a_finished_run_lets_its_tables_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's tables are freed as soon as its results are read, without waiting for
    the cycle collector (simpy's processes and the topology's parts point back at the
    world), so the next run of a process is not built beside them."""
    scenario = build(room(4, TRACKS, network=dict(CLEAN)), duration_s=2)
    tables: list[weakref.ref[np.ndarray]] = []
    collect = runner.collect

    def spy(world: World, model: Any, end_ns: int) -> RunResult:
        tables.extend(weakref.ref(t) for t in (world.latency.counts, world.links.busy_until, model.decode_ns))
        return collect(world, model, end_ns)

    monkeypatch.setattr(runner, "collect", spy)
    was = gc.isenabled()
    gc.disable()
    try:
        api.run(scenario, "sfu")
        assert len(tables) == 3 and all(table() is None for table in tables)
    finally:
        if was:
            gc.enable()
