"""Fuzz: mutations of the bundled scenarios, sweep files and command-line flags.

Whatever the input, `roomsim` ends with exit 0 or 2, never a traceback; an error is one
line on stderr; and nothing is half-written (no temporaries, and a report.json only after
a successful run). Each case runs in-process with a time cap (SIGALRM) and a memory cap
(RLIMIT_AS raised a fixed amount above what the process already maps), so a hang or a
runaway allocation fails the case instead of the machine.

The suite runs a modest, deterministic number of cases; for a larger run set
ROOMSIM_FUZZ_EXAMPLES (cases per test) and ROOMSIM_FUZZ_REPORT (a file that receives the
outcome counts), e.g.

    ROOMSIM_FUZZ_EXAMPLES=2000 ROOMSIM_FUZZ_REPORT=fuzz.json python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import resource
import signal
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomsim.cli import main
from roomsim.results.models import Report
from roomsim.scenario.loader import read_yaml
from roomsim.sweep.errors import SweepError
from roomsim.sweep.expand import expand
from roomsim.sweep.runner import check_with_engine
from roomsim.sweep.spec import load_sweep

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("ROOMSIM_FUZZ_EXAMPLES", "150"))
CASE_SECONDS = 60
CASE_EXTRA_BYTES = 3 * 2**30
#: Budget limits while fuzzing: a mutation that asks for a long or large run is refused
#: by the budget (an outcome worth exercising) instead of running for minutes.
FUZZ_ENV = {"ROOMSIM_MAX_WALL_S": "15", "ROOMSIM_MAX_MEMORY_GB": "2"}

SCENARIOS = sorted([*ROOT.glob("experiments/*.yaml"), *ROOT.glob("experiments/lessons/*/*.yaml"),
                    *ROOT.glob("benchmarks/golden/*.yaml")])
SCENARIOS = [p for p in SCENARIOS if p.name != "sweep.yaml" and "base" not in read_yaml(p)[0]]
SWEEPS = sorted(ROOT.glob("experiments/lessons/*/sweep.yaml"))

OUTCOMES: Counter[str] = Counter()

HOSTILE = st.sampled_from([
    math.inf, -math.inf, math.nan, -1, 0, -0.0, 1e300, -1e300, 1e-300, 2**63, 2**70, 10**9,
    100_000, 3.5, "3", "", "yes", "1e3", "x" * 5000, "\x1b[2J\x07", True, False, None, [], {},
    [[[[[]]]]], {"kind": "audio"}, "/dev/zero", "*", "fiber", "sfu", "720p",
]) | st.integers() | st.floats() | st.text(max_size=12)
#: Values a real scenario might hold, so some mutants stay valid and reach the engine.
PLAUSIBLE = st.integers(1, 12) | st.floats(0.5, 100) | st.sampled_from(
    ["mesh", "mcu", "sfu", "4g", "wifi", "360p", "vp9", "opus", "speaker", "talkspurt"])


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every address in a parsed YAML tree (mapping keys and list indices)."""
    out = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            out += _paths(value, (*prefix, index))
    return out


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        tree = tree[part]
    return tree


@st.composite
def mutated(draw: st.DrawFn, tree: Any) -> Any:
    """`tree` with 1-4 mutations: a value replaced by a hostile one, a key deleted, an
    unknown key added, a list item duplicated many times, a value wrapped in lists."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        path = paths[draw(st.integers(0, len(paths) - 1))]
        parent, last = _parent(tree, path), path[-1]
        kind = draw(st.sampled_from(["set", "set", "set", "delete", "unknown", "repeat", "wrap"]))
        if kind == "set":  # a copy: sampled values are shared objects a later step may mutate
            parent[last] = copy.deepcopy(draw(HOSTILE | PLAUSIBLE))
        elif kind == "delete":
            del parent[last]
        elif kind == "unknown" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = copy.deepcopy(draw(HOSTILE))
        elif kind == "repeat" and isinstance(parent, list):
            parent.extend([copy.deepcopy(parent[last])] * draw(st.integers(1, 50)))
        elif kind == "wrap":
            parent[last] = [parent[last]]
    return tree


def _text(draw: st.DrawFn, tree: Any) -> str:
    """YAML text of a tree, sometimes damaged (truncated, a key repeated, a tab)."""
    text = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    damage = draw(st.sampled_from(["none", "none", "none", "truncate", "dup", "tab"]))
    if damage == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "dup" and "\n" in text:
        first = text.splitlines()[0]
        text = f"{text}{first}\n"
    elif damage == "tab":
        text = text.replace("  ", "\t", 1)
    return text


@contextlib.contextmanager
def capped(seconds: int = CASE_SECONDS, extra_bytes: int = CASE_EXTRA_BYTES) -> Iterator[None]:
    """A time cap (SIGALRM raises in the case) and a memory cap (address space) for one case."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"case ran past {seconds} s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    limit = mapped + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    previous = signal.signal(signal.SIGALRM, expire)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def invoke(label: str, args: list[str]) -> tuple[int, str, str]:
    """Run roomsim in-process under the caps, in a scratch working directory (a fuzzed
    `-o .` must not write into the source tree); assert the outcome contract; count it."""
    with capped(), tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        result = CliRunner().invoke(main, args, env=FUZZ_ENV, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        OUTCOMES[f"{label}: traceback"] += 1
        raise AssertionError(f"traceback for roomsim {args}") from result.exception
    code, err = result.exit_code, result.stderr
    assert code in (0, 2), (code, args, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("roomsim: "), (args, err)
        assert "Traceback" not in err
    OUTCOMES[f"{label}: exit {code}"] += 1
    return code, result.stdout, err


def assert_nothing_half_written(out: Path, code: int) -> None:
    if not out.exists():
        return
    assert not list(out.glob(".*.tmp")), list(out.iterdir())
    report = out / "report.json"
    if code == 0:
        Report.model_validate_json(report.read_text())  # roomsim reads back what it wrote
    else:
        assert not report.exists()


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


@FUZZ
@given(st.data())
def test_mutated_scenarios_validate_or_refuse_in_one_line(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(SCENARIOS), label="scenario")
    tree = data.draw(mutated(read_yaml(source)[0]), label="mutated")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(_text(data.draw, tree))
        code, _, _ = invoke("validate", ["validate", str(path)])
        if code == 0 and data.draw(st.integers(0, 2), label="run?") == 0:
            out = Path(tmp) / "out"
            topology = data.draw(st.sampled_from(["mesh", "mcu", "sfu"]), label="topology")
            run_code, _, _ = invoke("run", ["run", str(path), "--topology", topology,
                                            "--duration", "2", "-o", str(out)])
            assert_nothing_half_written(out, run_code)


FLAG_VALUES = {
    "--seed": st.sampled_from(["-1", "0", "7", "7", "x", "", "1e3", str(2**63), str(2**64), "nan"]),
    "--duration": st.sampled_from(["nan", "inf", "-inf", "0", "-1", "0.001", "1e400", "",
                                   "2", "1.5", "x", "1e-9", "86401"]),
    "--topologies": st.sampled_from(["mesh", "sfu,mcu", "mesh,,sfu"]) | st.text(
        alphabet="mcsfuh,e ", max_size=12),
    "--topology": st.sampled_from(["mesh", "mcu", "sfu", "p2p", ""]),
    "-o": st.sampled_from(["/proc/roomsim", "/sys/roomsim", "/dev/null", "FILE/sub", "", " ", ".",
                           "OUT"]),
    "--bogus": st.just(None),
}
#: Flags each command takes (a flag it does not take is a usage error, also fuzzed).
COMMAND_FLAGS = {"run": ["--seed", "--duration", "--topology", "-o"],
                 "compare": ["--seed", "--duration", "--topologies", "-o"], "validate": []}


@FUZZ
@given(st.data())
def test_mutated_flags_are_checked_like_the_file(data: st.DataObject) -> None:
    command = data.draw(st.sampled_from(["run", "compare", "validate"]), label="command")
    own = COMMAND_FLAGS[command]
    pool = st.sampled_from(own) | st.sampled_from(sorted(FLAG_VALUES)) if own else \
        st.sampled_from(sorted(FLAG_VALUES))
    names = data.draw(st.lists(pool, min_size=1, max_size=4, unique=True), label="flags")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump({
            "name": "flags", "duration_s": 3, "warmup_s": 1,
            "rooms": [{"id": "r", "participants": [
                {"id": "p", "count": 2, "network": "fiber", "tracks": [{"kind": "audio"}]}]}]}))
        args = [command, str(path)]
        if "--duration" not in names and command != "validate":
            args += ["--duration", "2"]
        out = Path(tmp) / "OUT"
        for name in names:
            value = data.draw(FLAG_VALUES[name], label=name)
            if value is None:
                args.append(name)
                continue
            if name == "-o":
                value = {"FILE/sub": str(path / "sub"), "OUT": str(out)}.get(value, value)
            args += [name, value]
        code, _, _ = invoke(f"flags {command}", args)
        assert_nothing_half_written(out, code)


@FUZZ
@given(st.data())
def test_mutated_sweep_files_load_or_refuse_in_one_line(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(SWEEPS), label="sweep")
    tree = data.draw(mutated(read_yaml(source)[0]), label="mutated")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in source.parent.glob("*.yaml"):
            if scenario.name != "sweep.yaml":
                (Path(tmp) / scenario.name).write_text(scenario.read_text())
        path = Path(tmp) / "sweep.yaml"
        path.write_text(_text(data.draw, tree))
        try:
            with capped():
                check_with_engine(expand(load_sweep(path)), path)
        except SweepError as error:
            assert "\n" not in str(error)
            OUTCOMES["sweep: refused"] += 1
        except Exception:
            OUTCOMES["sweep: traceback"] += 1
            raise
        else:
            OUTCOMES["sweep: ok"] += 1


@pytest.fixture(scope="module", autouse=True)
def _report_outcomes() -> Iterator[None]:
    yield
    target = os.environ.get("ROOMSIM_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(OUTCOMES.items())), indent=2) + "\n")
