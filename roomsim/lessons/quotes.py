"""Numbers a lesson quotes: queries over its committed results, and the README markers.

A query is one of:
- `{json: ID, path: "runs[topology=sfu].participants[id=phone].uplink_kbps"}`: a value in a
  stored result (a report's JSON, or what a command printed with --json); `[k=v]` picks
  the list item whose `k` is `v` (`[k=v,a.b=w]`: all of them), `[0]` by position.
- `{mean: ID, figure: latency_p99_ms, where: {topology: sfu, "some.path": 2}}`: the mean
  over the matching runs (seeds) of a run figure (roomsim.analysis.summary.run_summary).
- `{knee: ID, series: mesh, field: size}`: where a sweep's series first breaks its quality
  gate (roomsim.analysis.aggregate.knees): `size`, `last_ok`, `value`, `limit` or
  `metric` (in words: loss, latency p95, CPU).
- `{count: ID, path: "runs[0].details.placement", where: {node: sfu-a}}`: how many items
  of a list in a stored result match.
- `{expr: "a - b"}`: arithmetic (+ - * / and parentheses) over numbers defined before it.
Every query takes `format` (a Python format string, default "{:,.0f}").
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import Any

from roomsim.errors import ScenarioError

MARKER = re.compile(r"<!--n:([\w./-]+)-->(.*?)<!--/n-->", re.DOTALL)
RESULTS = "results"


def _get(item: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        item = item.get(key) if isinstance(item, dict) else None
    return item


def _select(node: Any, part: str, where: str) -> Any:
    """`[k=v]` or `[k=v,a.b=w]`: the first list item whose (dotted) keys have those values."""
    if "=" in part:
        wanted = [condition.split("=", 1) for condition in part.split(",")]
        for item in node:
            if all(str(_get(item, key)) == value for key, value in wanted):
                return item
        raise ScenarioError(f"no item with {part}", field=where)
    return node[int(part)]


def json_path(doc: Any, path: str) -> Any:
    """`a.b[k=v].c[0]` in a JSON document."""
    node = doc
    for name, selector in re.findall(r"([^.\[\]]+)|\[([^\]]+)\]", path):
        if node is None:  # e.g. a capacity search with no failure: the number reads "none"
            return None
        try:
            node = _select(node, selector, path) if selector else node[name]
        except (KeyError, IndexError, TypeError, ValueError):
            raise ScenarioError(f"{path}: nothing at {name or selector!r}") from None
    return node


def _matches(record: dict[str, Any], where: dict[str, Any]) -> bool:
    for key, want in where.items():
        have = record["topology"] if key == "topology" else (
            record["seed"] if key == "seed" else record["params"].get(key))
        if have != want:
            return False
    return True


def _records(stored: dict[str, Any], where: dict[str, Any], source: str) -> list[dict[str, Any]]:
    chosen = [r for r in stored.get("records", []) if _matches(r, where)]
    if not chosen:
        raise ScenarioError(f"no run matches {where}", field=source)
    return chosen


def _knee(stored: dict[str, Any], series_name: str, field: str) -> Any:
    from roomsim.analysis.aggregate import GATE_LABELS, knees
    from roomsim.lessons.store import experiment_of

    found = knees(experiment_of(stored), experiment_of(stored).gate or _default_gate())
    if series_name not in found:
        raise ScenarioError(f"no series {series_name!r}; there are {', '.join(found)}")
    knee = found[series_name]
    if knee is None:
        return "none"
    value = getattr(knee, field)
    return GATE_LABELS[value] if field == "metric" else value


def _default_gate() -> Any:
    from roomsim.scenario.gate import QualityGate

    return QualityGate()


_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _arith(text: str, names: dict[str, Any]) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return float(_OPS[type(node.op)](walk(node.left), walk(node.right)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in names:
            return float(names[node.id])
        raise ScenarioError(f"expr {text!r}: only numbers, earlier names and + - * / are allowed")

    return walk(ast.parse(text, mode="eval"))


def evaluate(numbers: dict[str, dict[str, Any]], load: Callable[[str], Any]) -> dict[str, tuple[Any, str]]:
    """Every number of a manifest: name -> (raw value, text as quoted)."""
    values: dict[str, Any] = {}
    out: dict[str, tuple[Any, str]] = {}
    for name, query in numbers.items():
        try:
            if "json" in query:
                value = json_path(load(query["json"]), query["path"])
            elif "mean" in query:
                chosen = _records(load(query["mean"]), query.get("where", {}), name)
                figures = [r["figures"][query["figure"]] for r in chosen]
                value = mean(float(v) for v in figures)
            elif "knee" in query:
                value = _knee(load(query["knee"]), query["series"], query.get("field", "size"))
            elif "count" in query:
                items = json_path(load(query["count"]), query["path"])
                wanted = query.get("where", {})
                value = sum(all(_get(i, k) == v for k, v in wanted.items()) for i in items)
            elif "expr" in query:
                value = _arith(query["expr"], values)
            else:
                raise ScenarioError("a number needs json, mean, knee, count or expr")
        except ScenarioError as exc:
            raise ScenarioError(str(exc), field=f"numbers.{name}") from None
        values[name] = value
        if value is None or isinstance(value, str):
            shown = "none" if value is None else value
        else:
            shown = query.get("format", "{:,.0f}").format(value)
        out[name] = (value, shown)
    return out


def fill(text: str, shown: dict[str, str]) -> str:
    """The document with every marker's text replaced by its number."""
    def put(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in shown:
            raise ScenarioError(f"the document quotes <!--n:{name}-->, which no lesson defines")
        return f"<!--n:{name}-->{shown[name]}<!--/n-->"

    return MARKER.sub(put, text)


def stale(text: str, shown: dict[str, str]) -> list[str]:
    """Markers whose text differs from the number the results give (empty: all current)."""
    out = []
    for name, quoted in MARKER.findall(text):
        if name not in shown:
            out.append(f"<!--n:{name}--> is defined by no lesson")
        elif quoted != shown[name]:
            out.append(f"{name}: the text says {quoted!r}, the results give {shown[name]!r}")
    return out


def load_results(folder: Path) -> Callable[[str], Any]:
    """Reader of a lesson's committed results/ID.json (cached)."""
    cache: dict[str, Any] = {}

    def load(result_id: str) -> Any:
        if result_id not in cache:
            path = folder / RESULTS / f"{result_id}.json"
            try:
                cache[result_id] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ScenarioError(f"cannot read committed results: {exc}", file=str(path)) from None
        return cache[result_id]

    return load
