"""Charts draw the numbers in the results: bars, scaling curves, bands, knees, CDFs, cost.

Two real experiments are made once per module: a three-topology comparison (as
`roomsim compare -o` writes it) and a small sweep over room sizes whose mesh runs out of
uplink at four participants. Every check reads the expected figure from the stored files
independently of the chart code.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import yaml
from matplotlib.figure import Figure

from roomsim import api
from roomsim.analysis.aggregate import knees, t_quantile
from roomsim.analysis.diagram import animate_topologies, topology_figure
from roomsim.analysis.experiment import Experiment, load_experiment, write_scenario_file
from roomsim.analysis.plots import PlotSettings, draw_charts
from roomsim.analysis.runs import (
    bars_figure,
    cdf_points,
    cost_bars_figure,
    latency_cdf_figure,
    timeseries_figure,
)
from roomsim.analysis.scaling import capacity_figure, scaling_figure
from roomsim.analysis.settings import Prices, QualityGate
from roomsim.results.models import write_report
from roomsim.sim.metrics import percentile_ms
from roomsim.sweep.runner import run_sweep
from tests.helpers import CLEAN, room

TRACKS = [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]
#: Each 360p + audio copy needs ~550 kbps on the wire: a mesh uplink of 1,500 kbps carries
#: two copies (three people) but not three (four people), so the mesh breaks at 4.
TIGHT_UPLINK = {**CLEAN, "uplink_kbps": 1500, "queue_ms": 200}
SIZES = [2, 3, 4, 5]
SEEDS = [11, 12]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    out = tmp_path_factory.mktemp("compare")
    raw = {**room(4, TRACKS), "duration_s": 4}
    raw["rooms"][0]["participants"].append(
        {"id": "late", "network": CLEAN, "tracks": TRACKS, "join_s": 2.0})
    scenario = api.scenario_from_dict(raw)
    write_report(api.compare(scenario), out)
    write_scenario_file(scenario, out)
    return load_experiment(out)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    directory = tmp_path_factory.mktemp("sweep")
    # the open-loop mesh overflows its uplink (with congestion control it lowers its rate
    # instead); constant frames: a 3 s run would otherwise measure the encoders paying back
    # their first keyframe
    base = {**room(2, TRACKS, network=TIGHT_UPLINK), "duration_s": 3,
            "topology": {"kind": "sfu", "mesh": {"bwe": "off"}}, "wire": {"frames": "constant"}}
    (directory / "base.yaml").write_text(yaml.safe_dump(base))
    (directory / "sweep.yaml").write_text(yaml.safe_dump({
        "name": "tiny", "base": "base.yaml", "seeds": SEEDS,
        "grid": {"topology.kind": ["mesh", "sfu"], "rooms.0.participants.0.count": SIZES}}))
    summary = run_sweep(directory / "sweep.yaml", directory / "out", workers=2, progress=False)
    assert summary.ok
    return load_experiment(directory / "out")


def stored_rows(experiment: Experiment) -> list[dict[str, Any]]:
    """First row of every stored sweep point, read straight from runs/<key>/result.json."""
    out = []
    for path in sorted((experiment.directory / "runs").glob("*/result.json")):
        stored = json.loads(path.read_text())
        out.append({**stored["rows"][0], "seed": stored["seed"]})
    return out


def lines_by_gid(fig: Figure) -> dict[str, Any]:
    return {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}


# -- files --------------------------------------------------------------------------------

def test_every_chart_is_written_as_png_and_svg(compared: Experiment, swept: Experiment,
                                               tmp_path: Path) -> None:
    for experiment, expected in ((compared, {"topology", "bandwidth", "latency", "timeseries",
                                             "cost"}),
                                 (swept, {"scaling", "capacity", "cost"})):
        charts = draw_charts(experiment, tmp_path / experiment.kind,
                             PlotSettings.for_experiment(experiment))
        assert {c.stem for c in charts} == expected
        for chart in charts:
            png, svg = sorted(chart.files, key=lambda p: p.suffix)
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
            assert b"<svg" in svg.read_bytes()[:500] and svg.stat().st_size > 10_000
        assert not list((tmp_path / experiment.kind).glob(".*.tmp"))  # atomic writes


# -- one scenario, several topologies ---------------------------------------------------

def test_bars_are_the_stored_figures_and_closed_forms(compared: Experiment) -> None:
    report = json.loads((compared.directory / "report.json").read_text())
    fig = bars_figure(compared)
    upload, download, egress, cpu = fig.axes[:4]
    for run in report["runs"]:
        topology = run["topology"]
        people = run["participants"]
        want = {upload: statistics.mean(p["uplink_kbps"] for p in people),
                download: statistics.mean(p["downlink_kbps"] for p in people)}
        closed = {upload: statistics.mean(p["expected_uplink_kbps"] for p in people)}
        if run["servers"]:
            want[egress] = sum(s["egress_mbps"] for s in run["servers"])
            want[cpu] = sum(s["cpu_cores"] for s in run["servers"])
            closed[egress] = sum(s["egress_mbps"] for s in run["expected"]["servers"].values())
        for ax, value in want.items():
            bars = [p for p in ax.patches if p.get_gid() == f"sim:{topology}"]
            assert len(bars) == 1
            assert bars[0].get_height() == pytest.approx(value, rel=1e-3)
        for ax, value in closed.items():
            line = next(x for x in ax.get_lines() if x.get_gid() == f"expected:{topology}")
            assert line.get_ydata() == pytest.approx([value, value], rel=1e-3)
        if not run["servers"]:  # a mesh has no server bar at all, not a zero one
            assert not [p for p in egress.patches if p.get_gid() == f"sim:{topology}"]


def test_latency_cdf_is_the_run_histogram(compared: Experiment) -> None:
    fig = latency_cdf_figure(compared, QualityGate())
    lines = lines_by_gid(fig)
    for record in compared.records:
        assert record.run is not None and record.run.latency_histogram is not None
        hist = record.run.latency_histogram
        for kind in ("audio", "video"):
            x, y = cdf_points(getattr(hist, kind), hist.bins_per_decade, hist.min_ms)
            line = lines[f"cdf:{record.topology}:{kind}"]
            assert np.allclose(line.get_xdata(), x) and np.allclose(line.get_ydata(), y * 100)
            assert line.get_ydata()[-1] == pytest.approx(100)
        # the CDF crosses 50 % where the engine's own p50 lies (same log interpolation)
        both = np.array(hist.audio) + np.array(hist.video)
        x, y = cdf_points(both.tolist(), hist.bins_per_decade, hist.min_ms)
        k = int(np.searchsorted(y, 0.5))
        crossing = x[k - 1] * (x[k] / x[k - 1]) ** ((0.5 - y[k - 1]) / (y[k] - y[k - 1]))
        assert crossing == pytest.approx(percentile_ms(both, 50), rel=1e-9)
        assert crossing == pytest.approx(record.run.totals.latency_ms.p50, abs=1e-3)


def test_time_series_are_the_stored_windows(compared: Experiment) -> None:
    lines = lines_by_gid(timeseries_figure(compared))
    for record in compared.records:
        series = record.run.series  # type: ignore[union-attr]
        shown = len(lines[f"down:{record.topology}"].get_ydata())
        assert shown == math.ceil(compared.report.duration_s / series["window_s"])  # type: ignore[union-attr]
        assert list(lines[f"down:{record.topology}"].get_ydata()) == \
            series["mean_downlink_kbps"][:shown]
        if series["server_egress_mbps"]:
            egress = np.sum(list(series["server_egress_mbps"].values()), axis=0)[:shown]
            assert np.allclose(lines[f"egress:{record.topology}"].get_ydata(), egress)
        else:
            assert f"egress:{record.topology}" not in lines
    # the late joiner shows: the mean download rises once they are in the room, and the
    # chart marks when they joined (from the stored scenario)
    assert sum(lines[f"down:{r.topology}"].get_ydata()[3] > 1.2 * lines[
        f"down:{r.topology}"].get_ydata()[1] for r in compared.records) == 3
    assert list(lines["event:late joins"].get_xdata()) == [2.0, 2.0]


def test_cost_is_measured_egress_and_cores_at_the_given_prices(compared: Experiment) -> None:
    prices = Prices(egress_usd_per_gb=0.05, core_hour_usd=0.5)
    fig = cost_bars_figure(compared, prices)
    ax = fig.axes[0]
    egress_bars = [p for p in ax.patches if p.get_gid() == "cost-egress"]
    cpu_bars = [p for p in ax.patches if p.get_gid() == "cost-cpu"]
    for i, run in enumerate(compared.report.runs):  # type: ignore[union-attr]
        people = len(run.participants)
        gb_per_hour = sum(s.egress_mbps for s in run.servers) * 1e6 / 8 * 3600 / 1e9
        cores = sum(s.cpu_cores for s in run.servers)
        assert egress_bars[i].get_width() == pytest.approx(gb_per_hour * 0.05 / people, rel=1e-3)
        assert cpu_bars[i].get_width() == pytest.approx(cores * 0.5 / people, rel=1e-3)


def test_topology_diagram_draws_measured_edges(compared: Experiment) -> None:
    fig = topology_figure(compared)
    mesh_ax, _, sfu_ax = fig.axes[:3]
    people = [p.id for p in compared.report.runs[0].participants]  # type: ignore[union-attr]
    mesh_edges = {a.get_gid() for a in mesh_ax.patches if (a.get_gid() or "").startswith("edge:")}
    assert mesh_edges == {f"edge:{a}->{b}" for a in people for b in people if a != b}
    sfu = next(r for r in compared.report.runs if r.topology == "sfu")  # type: ignore[union-attr]
    widths = {a.get_gid(): a.get_linewidth() for a in sfu_ax.patches if a.get_gid()}
    node = sfu.servers[0].id
    for p in sfu.participants:  # wider arrow = more measured kbps, on one scale
        assert (widths[f"edge:server:{node}->{p.id}"] > widths[f"edge:{p.id}->server:{node}"]) \
            == (p.downlink_kbps > p.uplink_kbps)
    assert {c.get_gid() for c in sfu_ax.collections if c.get_gid()} >= \
        {f"node:{p}" for p in people} | {f"node:server:{node}"}


def test_animation_has_one_frame_per_window(compared: Experiment, tmp_path: Path) -> None:
    path = animate_topologies(compared, tmp_path / "room.webm", fps=4)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    windows = compared.records[0].run.series["window_s"]  # type: ignore[union-attr]
    assert len(frames) == math.ceil(compared.report.duration_s / windows)  # type: ignore[union-attr]
    assert frames[0].width > 1000


# -- a sweep over room sizes ------------------------------------------------------------

def test_sweep_rows_carry_the_run_figures(swept: Experiment) -> None:
    rows = stored_rows(swept)
    assert len(rows) == 2 * len(SIZES) * len(SEEDS)
    for row in rows:
        assert row["run_room_size"] == row["run_participants"]
        if row["topology"] == "mesh":
            assert row["run_server_egress_mbps"] is None
        else:
            assert row["run_server_egress_mbps"] > 0 and row["run_expected_server_egress_mbps"] > 0


def test_scaling_points_are_seed_means_with_closed_forms(swept: Experiment) -> None:
    rows = stored_rows(swept)
    fig = scaling_figure(swept)
    metrics = ("mean_uplink_kbps", "mean_downlink_kbps", "server_egress_mbps", "server_cpu_cores")
    for ax, metric in zip(fig.axes[:4], metrics, strict=True):
        lines = {line.get_gid(): line for line in ax.get_lines()}
        for topology in ("mesh", "sfu"):
            mine = [r for r in rows if r["topology"] == topology]
            if mine[0][f"run_{metric}"] is None:
                assert f"sim:{topology}" not in lines
                continue
            means = [statistics.mean(r[f"run_{metric}"] for r in mine if r["run_room_size"] == n)
                     for n in SIZES]
            closed = [statistics.mean(r[f"run_expected_{metric}"] for r in mine
                                      if r["run_room_size"] == n) for n in SIZES]
            assert list(lines[f"sim:{topology}"].get_xdata()) == SIZES
            assert lines[f"sim:{topology}"].get_ydata() == pytest.approx(means, rel=1e-9)
            assert lines[f"expected:{topology}"].get_ydata() == pytest.approx(closed, rel=1e-9)
    # uncongested SFU upload sits on its closed form; congested mesh download falls below it
    sim = lines_by_gid(fig)
    assert sim["sim:sfu"].get_ydata() == pytest.approx(sim["expected:sfu"].get_ydata(), rel=0.02)


def test_confidence_band_is_the_t_interval_over_seeds(swept: Experiment) -> None:
    rows = [r for r in stored_rows(swept) if r["topology"] == "mesh"]
    fig = scaling_figure(swept)
    band = next(c for c in fig.axes[1].collections if c.get_gid() == "band:mesh")
    vertices = band.get_paths()[0].vertices
    for n in SIZES:
        values = [r["run_mean_downlink_kbps"] for r in rows if r["run_room_size"] == n]
        half = t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
        at = vertices[np.isclose(vertices[:, 0], n), 1]
        assert min(at) == pytest.approx(statistics.mean(values) - half, rel=1e-9, abs=1e-9)
        assert max(at) == pytest.approx(statistics.mean(values) + half, rel=1e-9, abs=1e-9)
    assert t_quantile(1) == 12.706 and t_quantile(100) == 1.96


def test_knee_is_the_first_size_where_the_gate_fails(swept: Experiment) -> None:
    gate = QualityGate(loss_pct=2, latency_p95_ms=400, cpu_pct=95)
    rows = stored_rows(swept)
    first_failing = {}
    for topology in ("mesh", "sfu"):
        for n in SIZES:
            mine = [r for r in rows if r["topology"] == topology and r["run_room_size"] == n]
            worst = {m: statistics.mean(r[f"run_{m}"] for r in mine) for m in
                     ("loss_pct", "latency_p95_ms", "busiest_cpu_pct")}
            if worst["loss_pct"] > 2 or worst["latency_p95_ms"] > 400 or \
                    worst["busiest_cpu_pct"] > 95:
                first_failing[topology] = n
                break
    assert first_failing == {"mesh": 4}  # three copies of ~550 kbps overflow 1,500 kbps
    found = knees(swept, gate)
    assert found["mesh"] is not None and found["mesh"].size == 4 and found["mesh"].last_ok == 3
    assert found["mesh"].metric == "loss_pct" and found["sfu"] is None
    lines = lines_by_gid(capacity_figure(swept, gate))
    assert list(lines["knee:mesh"].get_xdata()) == [4, 4]
    assert "knee:sfu" not in lines
    assert list(lines["knee-point:mesh"].get_xdata()) == [4]
    assert lines["gate:loss_pct"].get_ydata()[0] == 2
    legend = [t.get_text() for t in capacity_figure(swept, gate).legends[0].get_texts()]
    assert any(t.startswith("mesh: breaks at 4 (loss") for t in legend)
    strict = knees(swept, QualityGate(loss_pct=1e-6, latency_p95_ms=1e-6, cpu_pct=1e-6))
    assert strict["sfu"] is not None and strict["sfu"].size == SIZES[0]
    assert strict["sfu"].last_ok is None
