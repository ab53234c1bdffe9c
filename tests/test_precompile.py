"""Kernels compiled at install time are the ones the first run needs, filed where it looks.

The install (setup.py) runs `python -m roomsim.sim.precompile`; the quick start must then
compile nothing (its stderr says so when it does: roomsim.sim.jit_cache.announce_compiles).
The kernel key must change with any byte of `roomsim/sim/`, and a prebuilt folder must
reach the user's cache whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from roomsim.sim import jit_cache

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ROOMSIM_KERNEL_CACHE"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_quick_start_compiles_nothing_after_precompile(tmp_path: Path) -> None:
    """After `precompile --into DIR`, the README's quick start and the calculator mode run
    with DIR as their kernel cache and never compile (signature list complete), and the
    precompile reports every signature compiled."""
    done = subprocess.run([sys.executable, "-m", "roomsim.sim.precompile", "--into", str(tmp_path)],
                          capture_output=True, text=True, env=_env(), check=False)
    assert done.returncode == 0, done.stderr
    assert "kernel signatures compiled into" in done.stdout and "failed" not in done.stdout
    assert len(list(tmp_path.glob("*/*.nbi"))) >= 20  # one index per compiled kernel
    for argv in (["compare", "experiments/meeting-8.yaml"],
                 ["compare", "--people", "8", "--video", "720p", "--network", "wifi"]):
        run = subprocess.run([sys.executable, "-m", "roomsim.cli", *argv], capture_output=True, text=True,
                             cwd=ROOT, env=_env(ROOMSIM_KERNEL_CACHE=str(tmp_path)), check=False)
        assert run.returncode == 0, run.stderr
        assert "compiling" not in run.stderr, (
            f"roomsim {' '.join(argv)} compiled kernels that the install did not: rerun "
            f"`python benchmarks/kernel_signatures.py --write`\n{run.stderr}")


def test_kernel_key_follows_every_sim_source_byte(tmp_path: Path) -> None:
    """A change to any module of roomsim/sim/ (a callee too) files kernels anew."""
    for path in jit_cache.SIM_DIR.glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    before = jit_cache.sources_key(tmp_path)
    assert before == jit_cache.kernel_key()
    pacer = tmp_path / "pacer.py"
    pacer.write_bytes(pacer.read_bytes() + b"\n")
    assert jit_cache.sources_key(tmp_path) != before


def test_prebuilt_folder_reaches_the_user_cache_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder compiled at install is copied into the user's cache on first use; no
    partial copy is left beside it; an existing folder is left alone."""
    shipped = tmp_path / "shipped"
    (shipped / jit_cache.kernel_key()).mkdir(parents=True)
    (shipped / jit_cache.kernel_key() / "kernels.x-1.py311.nbi").write_bytes(b"index")
    monkeypatch.setattr(jit_cache, "SHIPPED_DIR", shipped)
    root = tmp_path / "user"
    folder = jit_cache.kernel_cache_dir(root)
    assert folder == root / jit_cache.kernel_key()
    assert (folder / "kernels.x-1.py311.nbi").read_bytes() == b"index"
    assert [p.name for p in root.iterdir()] == [jit_cache.kernel_key()]
    (folder / "kernels.x-1.py311.nbi").write_bytes(b"newer")
    jit_cache.kernel_cache_dir(root)
    assert (folder / "kernels.x-1.py311.nbi").read_bytes() == b"newer"


def test_every_kernel_uses_the_kernel_cache() -> None:
    """Kernels take `njit` from roomsim.sim.jit, which installs the kernel cache locator
    first; numba's own `njit` would file them by path and miss the install's folder."""
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "roomsim").rglob("*.py")
                 if path.name != "jit.py" and "from numba import njit" in path.read_text()]
    assert offenders == []
