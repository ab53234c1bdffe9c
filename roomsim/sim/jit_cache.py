"""Where compiled kernels are cached, and how a first run tells the user it is compiling.

Light on purpose (stdlib only): `roomsim.sim` imports it before numba.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


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
                        f"(cached in {os.environ.get('NUMBA_CACHE_DIR', 'numba cache')}) ...")
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
