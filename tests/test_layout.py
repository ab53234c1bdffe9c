"""The package layout keeps its promises (docs/architecture.md): the root of `roomsim/` holds
only entry points, and no module imports, directly or through others, a module that
imports it back.

Imports are read with `ast`, not by importing: every `import` / `from ... import` counts,
at module level, inside functions and under `if TYPE_CHECKING:` alike (a function-level
import is still a dependency; it only hides the circle until the function runs). Importing
`roomsim.a.b` also runs `roomsim/a/__init__.py`, so that counts as an import of the package
too, except from the package's own modules. Modules stay under MAX_MODULE_LINES.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "roomsim"
#: What may sit at the root of the package: the entry points and the one user-facing error.
ROOT_MODULES = {"__init__", "api", "cli", "errors"}
#: One idea per module: past this, split along the seams the module already has.
MAX_MODULE_LINES = 500


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under `package` (packages by __init__)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(module: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The package modules `module` imports (the deepest existing module each import names,
    plus the packages whose __init__ that import runs)."""
    known = set(modules)
    root = module.split(".")[0]
    here = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)
    found: set[str] = set()
    for name in named:
        if name.split(".")[0] != root:
            continue
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
            found.update(a for a in _ancestors(name) if a in known)
    own = set(_ancestors(module))
    return {m for m in found if m != module and m not in own}


def import_graph(package: Path) -> dict[str, set[str]]:
    modules = module_files(package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(graph: dict[str, set[str]], group: list[str]) -> str:
    edges = [f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group]
    return "; ".join(edges)


def test_no_import_circles() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 100  # the whole package was read
    found = circles(graph)
    assert not found, "import circles: " + " | ".join(_describe(graph, g) for g in found)


def test_root_holds_only_entry_points() -> None:
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ROOT_MODULES)
    assert not loose, f"modules at the root of roomsim/ besides the entry points: {loose}"
    assert (PACKAGE / "cli.py").exists() and (PACKAGE / "api.py").exists()


def _third_party(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_sim_is_the_bottom_layer_and_matplotlib_stays_in_analysis() -> None:
    graph = import_graph(PACKAGE)
    upward = {m: sorted(t for t in graph[m] if not t.startswith("roomsim.sim"))
              for m in graph if m.startswith("roomsim.sim")}
    assert not {m: t for m, t in upward.items() if t}, "sim/ imports above itself"
    for name, path in module_files(PACKAGE).items():
        used = _third_party(path)
        assert "matplotlib" not in used or name.startswith("roomsim.analysis."), name
        if name.startswith("roomsim.sim"):
            assert not used & {"click", "matplotlib", "pydantic", "yaml"}, name


def test_modules_stay_small() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in sorted(PACKAGE.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_checker_sees_function_level_and_type_only_circles(tmp_path: Path) -> None:
    package = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from pkg.high import g\n    return g\n",
        "pkg/high.py": "from pkg import low\n",
        "pkg/a/__init__.py": "from pkg.a.x import X\n",
        "pkg/a/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..b import y\nX = 1\n",
        "pkg/b/__init__.py": "",
        "pkg/b/y.py": "from pkg.a.x import X\n",
        "pkg/ok.py": "from pkg.a import x\nimport pkg.b.y\n",
    })
    graph = import_graph(package)
    assert graph["pkg.low"] == {"pkg.high"}
    assert graph["pkg.a.x"] == {"pkg.b", "pkg.b.y"}  # relative, under TYPE_CHECKING
    assert graph["pkg.b.y"] == {"pkg.a", "pkg.a.x"}  # `pkg.a` runs its __init__
    assert graph["pkg.ok"] == {"pkg.a", "pkg.a.x", "pkg.b", "pkg.b.y"}
    assert sorted(circles(graph)) == [["pkg.a", "pkg.a.x", "pkg.b.y"], ["pkg.high", "pkg.low"]]


def test_checker_passes_a_layered_package(tmp_path: Path) -> None:
    package = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/base.py": "import os\n",
        "pkg/mid/__init__.py": "from pkg.mid.m import M\n",
        "pkg/mid/m.py": "from pkg import base\nM = 1\n",
        "pkg/top.py": "def f():\n    from pkg.mid import M\n    return M\n",
    })
    assert circles(import_graph(package)) == []
