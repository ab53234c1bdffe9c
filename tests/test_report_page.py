"""`roomsim compare -o`, `sweep`, `plot` and `report` end to end, and the page in a real
headless Chromium: it renders, every image loads, and nothing is logged to the console."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from roomsim.analysis.experiment import load_experiment
from roomsim.analysis.explain import num
from roomsim.cli import main
from tests.helpers import CLEAN, room

ROOMSIM = [sys.executable, "-m", "roomsim.cli"]
TRACKS = [{"kind": "audio"}, {"kind": "video", "resolution": "360p"}]
CHART_FILES = {f"{stem}.{ext}" for stem in ("topology", "bandwidth", "latency", "timeseries",
                                            "cost") for ext in ("png", "svg")}


def roomsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROOMSIM, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("compare")
    scenario = {**room(3, TRACKS), "duration_s": 3,
                "description": "Which topology suits a three-person call?"}
    (work / "call.yaml").write_text(yaml.safe_dump(scenario))
    done = roomsim("compare", str(work / "call.yaml"), "-o", str(work / "out"))
    assert done.returncode == 0, done.stderr
    assert "wrote 5 charts" in done.stdout
    return work / "out"


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sweep")
    base = {**room(2, TRACKS, network={**CLEAN, "uplink_kbps": 1500}), "duration_s": 2,
            "topology": {"kind": "sfu", "mesh": {"bwe": "off"}}}  # the open-loop mesh overflows
    (work / "base.yaml").write_text(yaml.safe_dump(base))
    (work / "sweep.yaml").write_text(yaml.safe_dump({
        "name": "tiny-sweep", "description": "Where does a mesh call run out of uplink?",
        "base": "base.yaml", "seeds": [1], "prices": {"egress_usd_per_gb": 0.02},
        "grid": {"topology.kind": ["mesh", "mcu", "sfu"],
                 "rooms.0.participants.0.count": [2, 3, 4]}}))
    done = roomsim("sweep", str(work / "sweep.yaml"), "-o", str(work / "out"), "--workers", "2",
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "wrote 3 charts" in done.stdout
    return work / "out"


def test_compare_draws_charts_and_no_plots_draws_none(compare_dir: Path, tmp_path: Path) -> None:
    assert {p.name for p in (compare_dir / "charts").iterdir()} == CHART_FILES
    assert (compare_dir / "scenario.yaml").is_file()
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**room(2, [{"kind": "audio"}]), "duration_s": 2}))
    done = roomsim("compare", str(path), "-o", str(tmp_path / "out"), "--no-plots", "--json")
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)  # --json still prints one document and nothing else
    assert not (tmp_path / "out" / "charts").exists()


def in_process(*args: str) -> Result:
    """The CLI without a new interpreter (fast); stdout and stderr kept apart."""
    return CliRunner().invoke(main, list(args))


def test_plot_redraws_with_prices_from_the_command_line(compare_dir: Path, tmp_path: Path) -> None:
    done = in_process("plot", str(compare_dir), "-o", str(tmp_path / "charts"), "--egress-price",
                      "1.5", "--gate-latency", "90")
    assert done.exit_code == 0, done.stderr
    assert {p.name for p in (tmp_path / "charts").iterdir()} == CHART_FILES
    svg = (tmp_path / "charts" / "cost.svg").read_text()
    assert "1.5/GB" in svg or "1.5" in svg


@pytest.mark.parametrize("args, message", [
    (["plot", "{tmp}/missing"], "no such directory"),
    (["report", "{tmp}"], "no results here"),
    (["plot", "{tmp}/file.txt"], "not a directory"),
])
def test_bad_directory_is_one_line_and_exit_2(tmp_path: Path, args: list[str],
                                              message: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    done = in_process(*[a.format(tmp=tmp_path) for a in args])
    assert done.exit_code == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in done.stderr and isinstance(done.exception, SystemExit)


def test_sweep_resume_redraws_and_a_sweep_without_run_figures_is_refused(
        sweep_dir: Path, tmp_path: Path) -> None:
    drawn = {f"{s}.{e}" for s in ("scaling", "capacity", "cost") for e in ("png", "svg")}
    assert {p.name for p in (sweep_dir / "charts").iterdir()} == drawn
    shutil.rmtree(sweep_dir / "charts")
    again = roomsim("sweep", str(sweep_dir.parent / "sweep.yaml"), "-o", str(sweep_dir),
                    "--no-progress")
    assert again.returncode == 0 and "0 run, 9 already done" in again.stdout, again.stderr
    assert {p.name for p in (sweep_dir / "charts").iterdir()} == drawn
    broken = tmp_path / "broken"
    shutil.copytree(sweep_dir, broken)
    result = next((broken / "runs").glob("*/result.json"))
    stored = json.loads(result.read_text())
    stored["rows"] = [{k: v for k, v in row.items() if not k.startswith("run_")}
                      for row in stored["rows"]]
    result.write_text(json.dumps(stored))
    done = roomsim("plot", str(broken))
    assert done.returncode == 2 and "run figures" in done.stderr


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


#: Injected before the page's own content: records console.error calls and failed loads,
#: then on `load` writes what it saw into the DOM for --dump-dom to print.
CHECKER = """<script>
window.__problems = [];
const __error = console.error;
console.error = (...a) => { window.__problems.push(a.join(' ')); __error(...a); };
window.addEventListener('error', e => window.__problems.push('load error: ' +
  (e.message || (e.target && (e.target.src || e.target.tagName)))), true);
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const out = document.createElement('pre');
  out.id = '__check';
  out.textContent = JSON.stringify({
    images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    widths: images.map(i => i.naturalWidth),
    problems: window.__problems,
    headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
    text: document.body.innerText});
  document.body.appendChild(out);
});
</script>"""


def render_in_chromium(page: Path, tmp_path: Path) -> tuple[dict, str]:
    browser = _chromium()
    if browser is None:
        if os.environ.get("ROOMSIM_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (ROOMSIM_REQUIRE_CHROMIUM is set)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    probe = page.with_name("probe-" + page.name)
    probe.write_text(page.read_text().replace("<head>", "<head>" + CHECKER, 1))
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="__check">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    return json.loads(html.unescape(found.group(1))), done.stderr


@pytest.mark.parametrize("which", ["compare", "sweep"])
def test_report_page_renders_in_a_real_browser(which: str, compare_dir: Path, sweep_dir: Path,
                                               tmp_path: Path) -> None:
    directory = compare_dir if which == "compare" else sweep_dir
    done = roomsim("report", str(directory))
    assert done.returncode == 0, done.stderr
    page = directory / "report.html"
    check, log = render_in_chromium(page, tmp_path)
    assert check["headings"] == ["The question", "The scenario", "What happened", "Tables",
                                 "Charts"]
    assert check["images"] == (5 if which == "compare" else 3)
    assert check["broken"] == [] and min(check["widths"]) > 1000
    assert check["problems"] == []
    assert "CONSOLE" not in log  # the page itself logs nothing, not even a warning
    experiment = load_experiment(directory)
    text = check["text"]
    if which == "compare":
        assert "Which topology suits a three-person call?" in text
        sfu = next(r.figures for r in experiment.records if r.topology == "sfu")
        mcu = next(r.figures for r in experiment.records if r.topology == "mcu")
        assert f"The SFU forwarded {num(sfu['server_egress_mbps'])} Mbps using " \
               f"{num(sfu['server_cpu_cores'])} cores" in text
        assert f"The MCU sent {num(mcu['server_egress_mbps'])} Mbps" in text
    else:
        assert "Where does a mesh call run out of uplink?" in text
        assert "mesh breaks at 4 participants" in text  # 3 copies overflow 1,500 kbps
        assert "$0.02/GB" in text  # the sweep file's own price
    assert "<script" not in page.read_text()  # the page ships no scripts at all
