"""The discrete-event core (simpy + numpy + numba).

Importing this package first points numba's on-disk cache at a per-user directory, before
any kernel module imports numba: by default numba writes its cache next to the source
(`__pycache__`), which fails silently when roomsim is installed into a read-only
site-packages, so every run would compile the kernels again (~10-20 s). numba keys each
cached kernel by the source file's path and modification time (numba/core/caching.py,
`_CacheLocator` and `IndexDataCacheFile`), so a reinstall or an edited kernel recompiles
on its own. A `NUMBA_CACHE_DIR` the user set wins.
"""

from __future__ import annotations

import os

from roomsim.sim.jit_cache import user_cache_dir

os.environ.setdefault("NUMBA_CACHE_DIR", str(user_cache_dir() / "numba"))
