"""Compile every kernel signature the bundled scenarios call, before the first run needs it.

Installing roomsim runs this (setup.py) into `roomsim/sim/_compiled/`, so a new user's first
`roomsim compare` loads machine code instead of spending ~10 s compiling it; the kernel
cache (roomsim.sim.jit_cache) copies that folder into the user's cache on first use. The
signatures are listed in `roomsim.sim.kernel_signatures`, written by
`python benchmarks/kernel_signatures.py --write` from runs of the bundled scenarios;
tests/test_precompile.py checks that after this, the quick start compiles nothing.

    python -m roomsim.sim.precompile                # into the user's kernel cache
    python -m roomsim.sim.precompile --into DIR     # into DIR/<kernel key>/

Needs only numpy and numba (sim/ imports nothing else), which is why install can run it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from roomsim.sim.jit_cache import KERNEL_CACHE_ENV, kernel_cache_dir


def compile_all() -> tuple[int, int]:
    """Compile (or load from the cache) every listed signature; (signatures, failures)."""
    # imported here, not at the top: a kernel's cache folder is fixed when it is decorated,
    # which must come after `main` has pointed $ROOMSIM_KERNEL_CACHE at --into
    from roomsim.sim.kernel_signatures import SIGNATURES

    failures = 0
    for kernel, signature in SIGNATURES:
        try:
            kernel.compile(signature)
        except Exception as error:  # noqa: BLE001 - one bad entry must not stop the rest
            failures += 1
            print(f"roomsim: could not precompile {kernel.py_func.__qualname__}{signature}: {error}",
                  file=sys.stderr)
    return len(SIGNATURES), failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roomsim.sim.precompile", description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, default=None,
                        help="cache root to compile into (default: $ROOMSIM_KERNEL_CACHE or the user cache)")
    args = parser.parse_args(argv)
    if args.into is not None:
        os.environ[KERNEL_CACHE_ENV] = str(args.into.resolve())
    start = time.perf_counter()
    count, failures = compile_all()
    print(f"roomsim: {count - failures} kernel signatures compiled into {kernel_cache_dir()} "
          f"in {time.perf_counter() - start:.1f} s" + (f", {failures} failed" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
