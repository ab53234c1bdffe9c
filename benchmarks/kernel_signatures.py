"""Write roomsim/sim/kernel_signatures.py: every compiled kernel signature the bundled
scenarios call, so installing roomsim can compile them ahead of the first run
(roomsim.sim.precompile).

Runs the quick start (`roomsim compare experiments/meeting-8.yaml`), the calculator mode,
every experiment and benchmark scenario and the golden cases (benchmarks/golden_check.py),
each through every topology that applies, then lists each kernel's compiled signatures.
Rerun it with `--write` when a kernel's arguments change; tests/test_precompile.py fails
until you do.

    python benchmarks/kernel_signatures.py            # print what would be written
    python benchmarks/kernel_signatures.py --write
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET = ROOT / "roomsim" / "sim" / "kernel_signatures.py"
#: The two builders the written list uses (kept in it: sim/precompile imports the list).
HELPERS = """

def array(dtype: Any, ndim: int, layout: Any, *, aligned: bool = True, readonly: bool = False) -> Any:
    \"\"\"numba's type of a numpy array (what `numba.typeof` gives for one).\"\"\"
    return types.Array(dtype, ndim, layout, readonly=readonly, aligned=aligned)


def record(spec: Any, *, aligned: bool) -> Any:
    \"\"\"numba's type of a structured numpy dtype given by names, formats, offsets and
    itemsize (so this list needs no import from above sim/).\"\"\"
    return from_dtype(np.dtype(spec, align=aligned))

"""
SCALARS = ("boolean", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float32", "float64")


def run_workloads() -> None:
    """Every bundled scenario through every topology, as users first run them."""
    from click.testing import CliRunner

    from roomsim.cli import main

    sys.path.insert(0, str(HERE))
    from golden_check import CASES, digest  # noqa: E402 - the golden cases, by their own runner

    from roomsim.scenario.names import TOPOLOGIES

    runner = CliRunner()
    for argv in (["compare", str(ROOT / "experiments" / "meeting-8.yaml")],
                 ["compare", "--people", "8", "--video", "720p", "--network", "wifi"]):
        done = runner.invoke(main, argv)
        if done.exit_code != 0:
            raise SystemExit(f"roomsim {' '.join(argv)} failed: {done.output}")
    extra = [(path, 2.0) for path in sorted((ROOT / "experiments").glob("*.yaml"))]
    for path, duration in [*CASES, *extra]:
        for topology in TOPOLOGIES:
            digest(path, duration, topology, None)


def spell(t: Any, records: dict[Any, str]) -> str:
    """Python source that builds numba type `t` (see roomsim.sim.precompile)."""
    from numba import types

    if isinstance(t, types.Array):
        flags = ("" if t.aligned else ", aligned=False") + ("" if t.mutable else ", readonly=True")
        return f'array({spell(t.dtype, records)}, {t.ndim}, "{t.layout}"{flags})'
    if isinstance(t, types.Record):
        if t not in records:
            records[t] = f"RECORD_{len(records)}"
        return records[t]
    for name in SCALARS:
        if getattr(types, name) == t:
            return f"types.{name}"
    raise SystemExit(f"no spelling for numba type {t!r}: extend benchmarks/kernel_signatures.py")


def record_source(t: Any, name: str) -> str:
    """Python source that names numba record type `t` by its fields, offsets and size."""
    from numba.np.numpy_support import as_dtype

    dtype = as_dtype(t)
    spec = {"names": list(dtype.names), "formats": [dtype.fields[n][0].str for n in dtype.names],
            "offsets": [dtype.fields[n][1] for n in dtype.names], "itemsize": dtype.itemsize}
    return f"{name} = record({spec!r}, aligned={t.aligned})"


def collect() -> str:
    """The source of roomsim/sim/kernel_signatures.py for the kernels compiled so far."""
    from numba import types
    from numba.core.dispatcher import Dispatcher

    import roomsim.sim

    modules, lines, records = [], [], {}
    for info in sorted(pkgutil.iter_modules(roomsim.sim.__path__), key=lambda m: m.name):
        if info.name == TARGET.stem:
            continue  # the list being rewritten (it may name kernels that are gone)
        module = importlib.import_module(f"roomsim.sim.{info.name}")
        kernels = [(name, obj) for name, obj in sorted(vars(module).items())
                   if isinstance(obj, Dispatcher) and obj.py_func.__module__ == module.__name__]
        used = [(name, obj) for name, obj in kernels if obj.signatures]
        if used:
            modules.append(info.name)
        for name, obj in used:
            for signature in sorted(obj.signatures, key=str):
                if any(isinstance(t, types.Literal) for t in signature):
                    continue  # compiled inside its caller (a constant argument), not on its own
                args = ", ".join(spell(t, records) for t in signature)
                lines.append(f"    ({info.name}.{name}, ({args},)),")
    header = [
        '"""Every compiled kernel signature the bundled scenarios call: what installing roomsim',
        "compiles ahead of the first run (roomsim.sim.precompile). Written by",
        "`python benchmarks/kernel_signatures.py --write`; do not edit by hand.",
        '"""',
        "",
        "# ruff: noqa: E501, I001",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        "import numpy as np",
        "from numba import from_dtype, types",
        "",
        f"from roomsim.sim import {', '.join(modules)}",
        *HELPERS.splitlines(),
        *(record_source(t, name) for t, name in records.items()),
        "",
        "SIGNATURES: list[tuple[Any, tuple[Any, ...]]] = [",
    ]
    return "\n".join([*header, *lines, "]", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {TARGET.relative_to(ROOT)}")
    args = parser.parse_args()
    run_workloads()
    source = collect()
    if args.write:
        TARGET.write_text(source)
        print(f"wrote {TARGET.relative_to(ROOT)} ({source.count(chr(10) + '    (')} signatures)")
    else:
        print(source)


if __name__ == "__main__":
    main()
