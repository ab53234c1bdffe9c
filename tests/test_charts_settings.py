"""Charts of setting sweeps, nodes, regions, extensions and agent turns draw the numbers in
the results.

Real experiments are made once per module: a sweep over loss with voice and data (mesh and
SFU), a sweep of one meeting over two regions with cascading off and on, a cluster of two
nodes, and a room with a SIP caller, an egress and an ingress. Every check reads the
expected figure from the stored files (or the results models) independently of the chart
code.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from matplotlib.figure import Figure

from roomsim import api
from roomsim.analysis.deployment import nodes_figure, regions_figure
from roomsim.analysis.experiment import Experiment, load_experiment, write_scenario_file
from roomsim.analysis.extensions import PERSON, extensions_figure
from roomsim.analysis.plots import PlotSettings, draw_charts
from roomsim.analysis.setting import (
    DATA_PANELS,
    LOAD_PANELS,
    VOICE_PANELS,
    axis_values,
    setting_axis,
    setting_figure,
    setting_knees,
)
from roomsim.analysis.settings import QualityGate
from roomsim.analysis.waterfall import turn_waterfalls
from roomsim.results.models import AgentTurnResult, StageStats, write_report
from roomsim.sweep.runner import run_sweep
from tests.helpers import CLEAN

LOSS = [0, 3]
SEEDS = [5, 6]
NET = {"uplink_kbps": 10_000, "downlink_kbps": 10_000, "rtt_ms": 40, "jitter_ms": 2, "loss_pct": 0,
       "queue_ms": 300}


def _sweep(directory: Path, base: dict[str, Any], spec: dict[str, Any]) -> Experiment:
    (directory / "base.yaml").write_text(yaml.safe_dump(base))
    (directory / "sweep.yaml").write_text(yaml.safe_dump({"base": "base.yaml", **spec}))
    summary = run_sweep(directory / "sweep.yaml", directory / "out", workers=2, progress=False)
    assert summary.ok
    return load_experiment(directory / "out")


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    """Three people talking, one sending data, at 0 and 3 % loss, in a mesh and via an SFU."""
    data = {"messages": [{"every_s": 0.05, "bytes": 120}],
            "rpc": [{"to": "p-2", "every_s": 0.25, "handler_ms": 5}],
            "attributes": {"every_s": 0.5}}
    base = {"name": "lossy", "duration_s": 5, "warmup_s": 1, "networks": {"home": NET},
            "nodes": [{"id": "node"}],
            "rooms": [{"id": "r", "metadata": {"every_s": 0.5}, "participants": [
                {"id": "host", "network": "home", "tracks": [{"kind": "audio"}], "data": data},
                {"id": "p", "count": 2, "network": "home", "tracks": [{"kind": "audio"}]}]}],
            "topology": {"kind": "sfu"}}
    return _sweep(tmp_path_factory.mktemp("lossy"), base, {
        "name": "lossy", "seeds": SEEDS,
        "grid": {"networks.home.loss_pct": LOSS, "topology.kind": ["mesh", "sfu"]},
        "gate": {"loss_pct": 1, "latency_p95_ms": 400, "cpu_pct": 80}})


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    """Two people in each of two regions, one node per region, cascading off and on."""
    base = {"name": "regions", "duration_s": 5, "warmup_s": 1,
            "regions": {"links": [{"a": "eu", "b": "us", "latency_ms": 30}]},
            "nodes": [{"id": "n-eu", "region": "eu"}, {"id": "n-us", "region": "us"}],
            "rooms": [{"id": "r", "node": "n-eu", "participants": [
                {"id": "eu", "count": 2, "region": "eu", "network": CLEAN,
                 "tracks": [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]},
                {"id": "us", "count": 2, "region": "us", "network": CLEAN,
                 "tracks": [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]}]}],
            "topology": {"kind": "sfu", "sfu": {"cascade": False}}}
    return _sweep(tmp_path_factory.mktemp("regions"), base, {
        "name": "regions", "seeds": [1], "grid": {"topology.sfu.cascade": [False, True]}})


def _report(directory: Path, raw: dict[str, Any], topologies: list[str]) -> Experiment:
    scenario = api.scenario_from_dict(raw)
    write_report(api.compare(scenario, topologies), directory)
    write_scenario_file(scenario, directory)
    return load_experiment(directory)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    raw = {"name": "cluster", "duration_s": 5, "warmup_s": 2, "seed": 4,
           "nodes": [{"id": "a", "cores": 4}, {"id": "b", "cores": 4}],
           "cluster": {"selector": "fewest-rooms", "stats_interval_s": 0.5},
           "room_sets": [{"id": "m", "count": 6, "size": {"kind": "fixed", "value": 2},
                          "start_s": {"kind": "uniform", "low": 0, "high": 1.5},
                          "participant": {"id": "p", "network": CLEAN, "tracks": [{"kind": "audio"}]}}]}
    return _report(tmp_path_factory.mktemp("cluster"), raw, ["sfu"])


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    tracks = [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]
    raw = {"name": "extended", "duration_s": 3, "warmup_s": 1, "nodes": [{"id": "node"}],
           "rooms": [{"id": "r", "participants": [
               {"id": "p", "count": 2, "network": CLEAN, "tracks": tracks},
               {"id": "phone", "kind": "sip", "network": CLEAN},
               {"id": "rec", "kind": "egress", "network": CLEAN, "egress": {"livestream": True}},
               {"id": "cam", "kind": "ingress", "network": CLEAN,
                "tracks": [{"kind": "video", "resolution": "720p", "simulcast": True}]}]}]}
    return _report(tmp_path_factory.mktemp("extended"), raw, ["sfu", "mcu"])


def stored(experiment: Experiment) -> list[dict[str, Any]]:
    """Every stored sweep point: params, seed and rows, read straight from result.json."""
    return [json.loads(p.read_text()) for p in sorted((experiment.directory / "runs").glob("*/result.json"))]


def lines_by_gid(fig: Figure) -> dict[str, Any]:
    return {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}


def patches_by_gid(fig: Figure) -> dict[str, Any]:
    return {p.get_gid(): p for ax in fig.axes for p in ax.patches if p.get_gid()}


# -- a sweep over a setting ------------------------------------------------------------------

def test_setting_sweeps_draw_their_own_charts(lossy: Experiment, regions: Experiment,
                                              tmp_path: Path) -> None:
    for experiment, stems in ((lossy, {"voice", "data", "load"}),
                              (regions, {"voice", "regions", "load"})):
        charts = draw_charts(experiment, tmp_path / experiment.name,
                             PlotSettings.for_experiment(experiment))
        assert {c.stem for c in charts} == stems
        for chart in charts:
            assert chart.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_x_axis_is_the_first_numeric_setting_else_categories(lossy: Experiment,
                                                                 regions: Experiment) -> None:
    assert setting_axis(lossy) == "networks.home.loss_pct" and axis_values(lossy) == LOSS
    assert setting_axis(regions) == "topology.sfu.cascade" and axis_values(regions) == [False, True]
    fig = setting_figure(regions, LOAD_PANELS, "load")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["false", "true"]


def test_voice_and_data_lines_are_seed_means_of_the_stored_rows(lossy: Experiment) -> None:
    points = stored(lossy)
    for panels in (VOICE_PANELS, DATA_PANELS):
        lines = lines_by_gid(setting_figure(lossy, panels, "test"))
        for metric, _, _ in panels:
            for topology in ("mesh", "sfu"):
                want = []
                for loss in LOSS:
                    values = [p["rows"][0][f"run_{metric}"] for p in points
                              if p["params"]["networks.home.loss_pct"] == loss
                              and p["params"]["topology.kind"] == topology]
                    assert len(values) == len(SEEDS)
                    want.append(None if values[0] is None else statistics.mean(values))
                line = lines.get(f"setting:{metric}:{topology}")
                if None in want:  # a figure a topology does not have is not drawn at all
                    assert line is None and metric == "data_lost_pct" and topology == "sfu"
                    continue
                assert list(line.get_xdata()) == LOSS
                assert list(line.get_ydata()) == pytest.approx(want)


def test_run_figures_for_voice_and_data_come_from_the_run(lossy: Experiment) -> None:
    """Audio-only runs: the audio percentiles are the run's totals; the MOS is the mean of
    the listeners' E-model MOS; RPC and message figures are the data plane's percentiles."""
    for point in stored(lossy):
        rows = point["rows"]
        row = rows[0]
        assert row["run_audio_latency_p50_ms"] == pytest.approx(row["run_latency_p50_ms"], rel=1e-6)
        assert row["run_audio_latency_p99_ms"] == pytest.approx(row["run_latency_p99_ms"], rel=1e-6)
        assert row["run_audio_mos"] == pytest.approx(statistics.mean(r["quality_audio_mos"] for r in rows),
                                                     abs=1e-4)
        caller = next(r for r in rows if r["id"] == "host")
        assert row["run_rpc_rtt_p50_ms"] == caller["data_rpc_rtt_ms_p50"]
        assert row["run_data_wire_kbps"] == pytest.approx(sum(r["data_sent_kbps"] for r in rows), rel=1e-3)
    lossless = [p for p in stored(lossy) if p["params"]["networks.home.loss_pct"] == 0]
    assert all(p["rows"][0]["run_audio_loss_pct"] < 1 for p in lossless)


def test_load_knee_is_the_first_setting_over_the_gate(lossy: Experiment) -> None:
    gate = QualityGate(loss_pct=1, latency_p95_ms=400, cpu_pct=80)
    found = setting_knees(lossy, gate)
    points = stored(lossy)
    for topology in ("mesh", "sfu"):
        knee = found[topology]
        loss_at_3 = statistics.mean(p["rows"][0]["run_loss_pct"] for p in points
                                    if p["params"]["topology.kind"] == topology
                                    and p["params"]["networks.home.loss_pct"] == 3)
        assert knee is not None and knee.value == 3 and knee.metric == "loss_pct"
        assert knee.mean == pytest.approx(loss_at_3)
    lines = lines_by_gid(setting_figure(lossy, LOAD_PANELS, "load", gate))
    assert list(lines["knee:sfu"].get_xdata()) == [3]
    assert list(lines["gate:loss_pct"].get_ydata()) == [1, 1]


# -- regions ---------------------------------------------------------------------------------

def test_region_bars_are_the_stored_pair_latencies_and_traffic(regions: Experiment) -> None:
    fig = regions_figure(regions)
    patches = patches_by_gid(fig)
    lines = lines_by_gid(fig)
    for point in stored(regions):
        cascade = point["params"]["topology.sfu.cascade"]
        label = f"cascade={json.dumps(cascade)}"
        row = point["rows"][0]
        pairs = [k.split(":", 1)[1] for k in row if k.startswith("run_region_p50_ms:")]
        assert sorted(pairs) == ["eu>eu", "eu>us", "us>eu", "us>us"]
        for pair in pairs:
            assert patches[f"pair-p50:{label}:{pair}"].get_height() == pytest.approx(
                row[f"run_region_p50_ms:{pair}"])
            assert lines[f"pair-p95:{label}:{pair}"].get_ydata()[0] == pytest.approx(
                row[f"run_region_p95_ms:{pair}"])
        between = patches[f"between:{label}:eu - us"].get_height()
        if cascade:  # the backbone links' own counters, both directions
            assert between == pytest.approx(row["run_backbone_mbps:eu>us"] + row["run_backbone_mbps:us>eu"])
            assert between == pytest.approx(row["run_backbone_mbps"])
        else:  # everyone in us reaches the eu node: their whole traffic crosses
            remote = [r for r in point["rows"] if r["id"].startswith("us-")]
            assert between == pytest.approx(sum(r["uplink_kbps"] + r["downlink_kbps"] for r in remote) / 1000)
    # one node: both us people's media crosses twice (up to eu and back), so us > us is slower
    single, cascaded = (next(p["rows"][0] for p in stored(regions) if p["params"]["topology.sfu.cascade"] is c)
                        for c in (False, True))
    assert single["run_region_p50_ms:us>us"] > cascaded["run_region_p50_ms:us>us"] + 50


# -- nodes and extensions --------------------------------------------------------------------

def test_node_bars_and_lines_are_the_stored_servers(cluster: Experiment) -> None:
    run = cluster.records[0].run
    assert run is not None
    fig = nodes_figure(cluster)
    patches = patches_by_gid(fig)
    lines = lines_by_gid(fig)
    placed: dict[str, int] = {}
    for entry in run.details["placement"]:
        placed[entry["node"]] = placed.get(entry["node"], 0) + 1
    assert sum(placed.values()) == 6
    for server in run.servers:
        assert patches[f"node-rooms:sfu:{server.id}"].get_width() == placed.get(server.id, 0)
        assert patches[f"node-cpu:sfu:{server.id}"].get_width() == pytest.approx(server.cpu_util_pct)
        assert patches[f"node-egress:sfu:{server.id}"].get_width() == pytest.approx(server.egress_mbps)
        busy = np.asarray(run.series["server_cpu_cores"][server.id][:5]) / server.cores * 100
        assert lines[f"node-time:sfu:{server.id}"].get_ydata() == pytest.approx(busy)


def test_extension_bars_are_the_stored_extensions(extended: Experiment) -> None:
    fig = extensions_figure(extended)
    patches = patches_by_gid(fig)
    for record in extended.records:
        assert record.run is not None
        kinds = {e.kind for e in record.run.extensions}
        assert kinds == {"sip", "egress", "ingress"}
        for e in record.run.extensions:
            name = f"{e.id} ({e.kind})"
            assert patches[f"ext-cpu:{record.topology}:{name}"].get_width() == pytest.approx(e.cpu_cores)
            assert patches[f"ext-in:{record.topology}:{name}"].get_width() == pytest.approx(e.input_kbps)
            assert patches[f"ext-out:{record.topology}:{name}"].get_width() == pytest.approx(e.output_kbps)
        people = [p for p in record.run.participants if p.kind == "person"]
        assert patches[f"ext-in:{record.topology}:{PERSON}"].get_width() == pytest.approx(
            statistics.mean(p.downlink_kbps for p in people))


def test_turn_waterfall_lays_the_stage_means_end_to_end() -> None:
    def agent(name: str, stages: dict[str, float]) -> AgentTurnResult:
        stats = {k: StageStats(mean=v, p50=v, p95=v, p99=v) for k, v in stages.items()}
        total = sum(stages.values())
        return AgentTurnResult(id=name, listens_to="u", user_transport="webrtc", turns=3,
                               turn_latency_ms=StageStats(mean=total, p50=total, p95=total + 40, p99=total + 50),
                               stages_ms=stats, budget_ms=500, over_budget_pct=100.0, turns_without_reply=0)

    near = {"user_to_agent": 50, "endpointing": 500, "stt": 110, "llm_ttft": 280, "tts_ttfa": 190,
            "agent_to_user": 60}
    far = {**near, "user_to_agent": 120, "agent_to_user": 130}
    cells = [("sfu/webrtc", agent("near", near)), ("sfu/webrtc", agent("far", far)),
             ("mesh/webrtc", agent("near", near))]
    fig = turn_waterfalls(cells)
    patches = patches_by_gid(fig)
    for name, stages in (("near", near), ("far", far)):
        start = 0.0
        for stage, value in stages.items():
            bar = patches[f"turn:{name}:sfu/webrtc:{stage}"]
            assert bar.get_x() == pytest.approx(start) and bar.get_width() == pytest.approx(value)
            start += value
        assert lines_by_gid(fig)[f"budget:{name}"].get_xdata()[0] == 500
    assert len(fig.axes) == 2  # one panel per agent


def test_setting_findings_quote_the_run_figures(lossy: Experiment, regions: Experiment) -> None:
    from roomsim.analysis.deployment import between_regions_mbps
    from roomsim.analysis.explain import explain, num
    from roomsim.analysis.settings import Prices

    gate = QualityGate(loss_pct=1, latency_p95_ms=400, cpu_pct=80)
    found = explain(lossy, Prices(), gate)
    assert found[0].startswith(f"{len(SEEDS) * 4} runs: random loss on each access link (%) = 0, 3")
    knee = setting_knees(lossy, gate)["sfu"]
    assert knee is not None
    assert f"sfu first breaks the gate at 3: loss {num(knee.mean)} % > 1." in found
    traffic = explain(regions, Prices(), QualityGate())[-1]
    totals = [sum((between_regions_mbps(regions, r) or {}).values()) for r in regions.records]
    assert traffic.startswith("Traffic between regions")
    for total in totals:
        assert f"{num(total)} Mbps" in traffic
