"""`roomsim report DIR`: one self-contained HTML page per experiment.

The page says what was asked (the scenario's or sweep's description), what was run (the
rooms, participants and tracks, and what was swept), what happened (findings whose
numbers come from the results), the tables and the charts. Chart PNGs are embedded as
data URIs so the page can be mailed or projected on its own; SVGs and any video sit in the
charts folder next to it. No scripts, no external requests.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import yaml

from roomsim.analysis.aggregate import series
from roomsim.analysis.experiment import Experiment
from roomsim.analysis.explain import explain, num
from roomsim.analysis.plots import Chart, PlotSettings
from roomsim.analysis.table import comparison_rows
from roomsim.errors import ScenarioError
from roomsim.results.models import write_atomic
from roomsim.scenario.load import scenario_from_dict
from roomsim.scenario.scenario import Scenario

REPORT_HTML = "report.html"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 18px;
       line-height: 1.5; color: #1a1a1a; max-width: 1180px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 2em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #0072B2; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #555; }
.question { font-size: 1.25em; background: #eef6fb; border-left: 6px solid #0072B2;
            padding: 0.6em 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
table.text td, table.text th { text-align: left; }
figure { margin: 1.5em 0; }
figure img, figure video { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.8em; }
li { margin: 0.3em 0; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(header: list[str], rows: list[list[str]], text: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    kind = ' class="text"' if text else ""
    return f"<table{kind}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _tracks(group: Any) -> str:
    parts = []
    for track in group.tracks:
        if track.kind == "audio":
            parts.append(f"{track.kind} {track.codec} {num(track.effective_bitrate_kbps())} kbps"
                         + (" DTX" if track.dtx else ""))
        else:
            layers = "/".join(layer.resolution for layer in track.layers())
            parts.append(f"{track.kind} {track.codec} {layers}")
    return "; ".join(parts) or "none (subscribe only)"


def _network(scenario: Scenario, group: Any) -> str:
    net = scenario.network_of(group)
    name = group.network if isinstance(group.network, str) else (group.network.preset or "custom")
    return (f"{name} ({num(net.uplink_kbps / 1e3)}/{num(net.downlink_kbps / 1e3)} Mbps, "
            f"{num(net.rtt_ms)} ms RTT, {num(net.loss_pct)} % loss)")


def _scenario_section(experiment: Experiment) -> str:
    """Rooms and participant groups as a table (when the stored YAML validates) + the YAML."""
    parts = []
    try:
        raw = yaml.safe_load(experiment.scenario_text) if experiment.scenario_text else None
        scenario = scenario_from_dict(raw) if isinstance(raw, dict) else None
    except (yaml.YAMLError, ScenarioError):
        scenario = None
    if scenario is not None:
        rows = [[room.id, group.id, str(group.count), group.device, _network(scenario, group),
                 _tracks(group), f"{group.join_s:g}-{group.leave_s:g} s" if group.leave_s
                 else f"from {group.join_s:g} s"]
                for room in scenario.rooms for group in room.participants]
        parts.append(_table(["room", "participants", "count", "device", "network", "tracks",
                             "present"], rows, text=True))
        nodes = ", ".join(f"{n.id} ({num(n.cores)} cores, {num(n.nic_mbps)} Mbps NIC)"
                          for n in scenario.nodes)
        duration = (experiment.report.duration_s if experiment.report is not None
                    else scenario.duration_s)
        parts.append(f"<p>Media server nodes (SFU and MCU runs): {_e(nodes)}. Simulated "
                     f"{num(duration)} s; figures measured after a "
                     f"{num(min(scenario.warmup_s, duration / 2))} s warm-up.</p>")
    if experiment.sweep_text:
        parts.append(_sweep_axes(experiment))
        parts.append("<details><summary>Sweep file</summary><pre>"
                     f"{_e(experiment.sweep_text)}</pre></details>")
    if experiment.scenario_text:
        what = "Base scenario" if experiment.kind == "sweep" else "Scenario"
        parts.append(f"<details><summary>{what} YAML</summary><pre>"
                     f"{_e(experiment.scenario_text)}</pre></details>")
    return "\n".join(parts) or "<p>(the scenario file was not stored with these results)</p>"


def _sweep_axes(experiment: Experiment) -> str:
    values: dict[str, list[str]] = {}
    for record in experiment.records:
        for name, value in record.params.items():
            shown = str(value)
            if shown not in values.setdefault(name, []):
                values[name].append(shown)
    seeds = sorted({r.seed for r in experiment.records})
    rows = [[name, ", ".join(v)] for name, v in values.items()]
    rows.append(["seeds", ", ".join(str(s) for s in seeds)])
    return "<p>What the sweep varied:</p>" + _table(["field", "values"], rows, text=True)


def _results_table(experiment: Experiment) -> str:
    if experiment.kind == "report":
        runs = [r.run for r in experiment.records if r.run is not None]
        rows = comparison_rows(runs)
        return ("<p>Each cell: simulated (closed form); per-participant figures are means.</p>"
                + _table(["", *(r.topology for r in runs)],
                         [[label, *cells] for label, cells in rows]))
    columns = (("mean_uplink_kbps", "upload/participant kbps"),
               ("mean_downlink_kbps", "download/participant kbps"),
               ("server_egress_mbps", "server egress Mbps"), ("server_cpu_cores", "server cores"),
               ("loss_pct", "loss %"), ("latency_p95_ms", "latency p95 ms"),
               ("busiest_cpu_pct", "busiest CPU %"))
    tables = {metric: series(experiment, metric) for metric, _ in columns}
    labels = list(series(experiment, "room_size"))
    table: list[list[str]] = []
    for label in labels:
        for size in experiment.room_sizes:
            cells = []
            for metric, _ in columns:
                point = next((p for p in tables[metric].get(label, []) if p.size == size), None)
                cells.append("-" if point is None else num(point.mean))
            if any(c != "-" for c in cells):
                table.append([label, str(size), *cells])
    return ("<p>Means over the replicate seeds.</p>"
            + _table(["series", "room size", *(title for _, title in columns)], table))


def _chart_html(chart: Chart, page_dir: Path) -> str:
    title = _e(chart.title)
    files = [p.resolve() for p in chart.files]
    videos = [p for p in files if p.suffix == ".webm"]
    if videos:
        link = _e(videos[0].relative_to(page_dir).as_posix() if videos[0].is_relative_to(page_dir)
                  else videos[0].as_uri())
        return (f'<figure><video controls muted loop src="{link}"></video>'
                f"<figcaption>{title} (WebM video)</figcaption></figure>")
    data = base64.b64encode(chart.png.read_bytes()).decode("ascii")
    svg = next((p for p in files if p.suffix == ".svg"), None)
    link = ""
    if svg is not None and svg.is_relative_to(page_dir):
        link = f' &middot; <a href="{_e(svg.relative_to(page_dir).as_posix())}">SVG</a>'
    return (f'<figure id="{_e(chart.stem)}"><img alt="{title}" src="data:image/png;base64,{data}">'
            f"<figcaption>{title}{link}</figcaption></figure>")


def _self_contained_note(charts: list[Chart]) -> str:
    """Whether the page stands alone: its PNGs are embedded, but SVG and video links point
    into the charts folder, so the page says so when it has any."""
    linked = any(p.suffix in (".svg", ".webm") for chart in charts for p in chart.files)
    if linked:
        return ("The charts are embedded in this page; the SVG and video links open files in "
                "the charts folder next to it, so keep that folder with the page.")
    return "This page is self-contained: every chart is embedded in it."


def render_page(experiment: Experiment, charts: list[Chart], settings: PlotSettings,
                page_dir: Path, version: str) -> str:
    """The whole HTML document."""
    question = experiment.description or (
        "What does each topology cost for this workload, and where does it break?")
    findings = "".join(f"<li>{_e(s)}</li>" for s in explain(experiment, settings.prices,
                                                             settings.gate))
    if experiment.kind == "report" and experiment.report is not None:
        meta = (f"seed {experiment.report.seed}, {num(experiment.report.duration_s)} s simulated, "
                f"roomsim {experiment.report.roomsim_version}")
    else:
        meta = f"sweep of {len(experiment.records)} runs, roomsim {version}"
    gate = settings.gate
    prices = settings.prices
    body = f"""
<h1>{_e(experiment.name)}</h1>
<p class="meta">{_e(meta)}</p>
<h2>The question</h2>
<p class="question">{_e(question)}</p>
<h2>The scenario</h2>
{_scenario_section(experiment)}
<h2>What happened</h2>
<ul class="findings">{findings}</ul>
<p class="meta">Quality gate: loss &le; {gate.loss_pct:g} %, latency p95 &le;
{gate.latency_p95_ms:g} ms, busiest CPU &le; {gate.cpu_pct:g} %. Prices: egress
${prices.egress_usd_per_gb:g}/GB, ${prices.core_hour_usd:g} per core-hour.</p>
<h2>Tables</h2>
{_results_table(experiment)}
<h2>Charts</h2>
<p class="meta">{_e(_self_contained_note(charts))}</p>
{"".join(_chart_html(chart, page_dir) for chart in charts)}
<p class="meta">Generated by <code>roomsim report</code> from the results in
<code>{_e(experiment.directory.name)}</code>; every number above is read from them.</p>
"""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{_e(experiment.name)} - roomsim</title>'
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")


def write_page(experiment: Experiment, charts: list[Chart], settings: PlotSettings,
               path: Path, version: str) -> Path:
    """Write the page atomically at `path`."""
    write_atomic(path, render_page(experiment, charts, settings, path.parent.resolve(), version))
    return path

