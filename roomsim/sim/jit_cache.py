"""Where compiled kernels are cached, and how a first run tells the user it is compiling.

numba's own cache keys each kernel by its source file's path and content
(numba/core/caching.py, `_SourceFileBackedLocatorMixin`), which has two faults for us:
(1) a kernel that calls a kernel in another file keeps its stale machine code when only the
callee changes (numba does not follow calls across files), and (2) a cache built for one
path (the source tree, at install time) is never found at another (site-packages). So
roomsim's kernels, which all live in `roomsim/sim/`, get a locator of their own: one cache
folder per *kernel key*, the hash of numba's version, Python's version and the bytes of
every module in `roomsim/sim/`. Any edit there, or a new numba, means a new folder.

The folder lives in the user's cache directory (the package may be installed read-only).
Installing the package compiles every kernel signature the bundled scenarios use into
`roomsim/sim/_compiled/<key>/` (setup.py, `python -m roomsim.sim.precompile`); the first
run copies that folder into the user's cache instead of compiling for ~10 s. numba still
checks each entry against this machine's CPU, so a prebuilt folder from another machine
only costs a compile.

Light on purpose (stdlib only until a kernel module asks for the locator): the CLI imports
it for the compile notice without importing the engine.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SIM_DIR = Path(__file__).resolve().parent
SHIPPED_DIR = SIM_DIR / "_compiled"
KERNEL_CACHE_ENV = "ROOMSIM_KERNEL_CACHE"


def user_cache_dir(app: str = "roomsim") -> Path:
    """The per-user cache directory, by the same rules as `platformdirs.user_cache_dir`:
    $XDG_CACHE_HOME or ~/.cache on Linux (XDG Base Directory spec), ~/Library/Caches on
    macOS, %LOCALAPPDATA% on Windows."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / app / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / app
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / app


@functools.cache
def kernel_key() -> str:
    """The hash every compiled kernel is filed under (`sources_key` of this folder), once
    per process."""
    return sources_key(SIM_DIR)


def sources_key(sim_dir: Path) -> str:
    """Hash of numba's and Python's versions and the bytes of every module in `sim_dir`
    (so an edit to a callee recompiles its callers, which numba's per-file stamps would not)."""
    import numba

    digest = hashlib.sha256(f"numba {numba.__version__} python {sys.version_info[:2]}".encode())
    for path in sorted(sim_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def kernel_cache_dir(root: Path | None = None) -> Path:
    """This build's kernel folder under `root` (default: $ROOMSIM_KERNEL_CACHE, else the
    user's cache directory), seeded on first use from the folder compiled at install time."""
    if root is None:
        root = Path(os.environ.get(KERNEL_CACHE_ENV) or user_cache_dir() / "kernels")
    folder = root / kernel_key()
    shipped = SHIPPED_DIR / kernel_key()
    if not folder.exists() and shipped.is_dir():
        _copy_folder(shipped, folder)
    return folder


def _copy_folder(source: Path, target: Path) -> None:
    """Copy `source` to `target` whole or not at all (a half-copied cache would be read by
    a concurrent run): copy beside it, then rename into place."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        shutil.copytree(source, partial)
        partial.rename(target)
    except OSError:  # a concurrent run won the rename, or the cache is not writable
        shutil.rmtree(partial, ignore_errors=True)


@functools.cache
def install_kernel_cache() -> None:
    """Put `KernelCacheLocator` first in numba's list of cache locators. Called by
    `roomsim.sim.jit` before any kernel is decorated (numba picks a kernel's locator when
    `njit(cache=True)` runs)."""
    from numba.core import caching

    caching.CacheImpl._locator_classes.insert(0, _kernel_locator_class())


def _kernel_locator_class() -> Any:
    from numba.core.caching import _CacheLocator

    class KernelCacheLocator(_CacheLocator):  # type: ignore[misc]
        """numba cache locator for kernels defined in `roomsim/sim/`: the folder is
        `kernel_cache_dir()` and the freshness stamp is the kernel key."""

        def __init__(self, py_func: Any, py_file: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = str(kernel_cache_dir())

        def get_cache_path(self) -> str:
            return self._cache_path

        def get_source_stamp(self) -> str:
            return kernel_key()

        def get_disambiguator(self) -> str:
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if Path(py_file).resolve().parent != SIM_DIR:
                return None  # not one of ours: numba's own locators decide
            locator = cls(py_func, py_file)
            try:
                locator.ensure_cache_path()
            except OSError:  # not writable: numba falls back to its next locator
                return None
            return locator

    return KernelCacheLocator


@contextmanager
def announce_compiles(say: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, tell `say` when numba starts compiling a kernel (it only does
    so on a cache miss: a first run, a new numba, an edited kernel) and, at the end, how
    long compiling took in all. Silent when every kernel came from the cache."""
    from numba.core import event  # numba is imported by the engine anyway

    class _Listener(event.Listener):
        def __init__(self) -> None:
            self.depth = 0
            self.started = 0.0
            self.seconds = 0.0
            self.announced = False

        def on_start(self, ev: event.Event) -> None:
            if self.depth == 0:
                self.started = time.perf_counter()
                if not self.announced:
                    self.announced = True
                    say("roomsim: compiling the simulation kernels for this machine, once "
                        f"(cached in {kernel_cache_dir()}) ...")
            self.depth += 1

        def on_end(self, ev: event.Event) -> None:
            self.depth -= 1
            if self.depth == 0:
                self.seconds += time.perf_counter() - self.started

    listener = _Listener()
    with event.install_listener("numba:compile", listener):
        yield
    if listener.announced:
        say(f"roomsim: compiled the kernels in {listener.seconds:.1f} s; later runs reuse them")
