"""The one install-time step pyproject.toml cannot say: compile roomsim's simulation kernels.

Without it a new user's first `roomsim compare` spends ~10 s of its ~13 s compiling numba
kernels. `build_py` (run by `pip install .`, `pip install -e .` and wheel builds) calls
`python -m roomsim.sim.precompile` on the source tree with the build environment's numba
(pyproject.toml's build requirements), writing `roomsim/sim/_compiled/<kernel key>/`
into the package being built (the source tree for an editable install). The first run
copies it into the user's cache (roomsim.sim.jit_cache). A failure here only costs that
first run its compile: it never fails the install.

Metadata and dependencies live in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithKernels(build_py):
    """setuptools' build_py, then the kernels compiled into the package being built."""

    def run(self) -> None:
        super().run()
        package = ROOT / "roomsim" if getattr(self, "editable_mode", False) else Path(self.build_lib) / "roomsim"
        into = package / "sim" / "_compiled"
        shutil.rmtree(into, ignore_errors=True)  # ship this build's kernels only, never a stale folder
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "roomsim.sim.precompile", "--into", str(into)]
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, timeout=1800, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            print(f"roomsim: kernels not precompiled ({error}); the first run compiles them", file=sys.stderr)
            return
        if done.returncode != 0:
            print("roomsim: some kernels not precompiled; the first run compiles them", file=sys.stderr)


setup(cmdclass={"build_py": BuildPyWithKernels})
