"""What a new user waits for: wall time of the install, then of `--help`, `--version`,
`validate` and the first `compare` of the quick start on a fresh install (a new venv, the
package installed non-editable and made read-only, empty caches), then the second `compare`.
The install compiles the simulation kernels (setup.py), so the first `compare` need not.

Goals (issue #11): --help, --version and validate within 0.5 s; the first compare's table
within 5 s. The compile cache must live in the user's cache directory, because the
installed package is read-only here.

    python benchmarks/first_run.py                   # a fresh venv with `pip install .`
    python benchmarks/first_run.py --reuse-site DIR  # dependencies from an existing
                                                     # site-packages (no download)
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEETING = ROOT / "experiments" / "meeting-8.yaml"


def _make_venv(where: Path, reuse_site: Path | None) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    target = str(ROOT)
    extra: list[str] = []
    if reuse_site is not None:  # dependencies from there; roomsim itself built as a wheel
        (site / "deps.pth").write_text(str(reuse_site) + "\n")
        subprocess.run([str(python), "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                        str(where / "wheel"), str(ROOT)], check=True)
        target = str(next((where / "wheel").glob("roomsim-*.whl")))
        extra = ["--no-deps"]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *extra, target], check=True)
    for path in (site / "roomsim").rglob("*"):  # read-only, as a system install would be
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return where / "bin" / "roomsim"


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr}")
    return wall, done.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse-site", type=Path, default=None,
                        help="site-packages holding the dependencies (skips downloading them)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        roomsim = str(_make_venv(work / "venv", args.reuse_site))
        installed = time.perf_counter() - start
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "ROOMSIM_KERNEL_CACHE")}
        env["XDG_CACHE_HOME"] = str(work / "cache")  # empty user cache
        print(f"python {sys.version.split()[0]} on {sysconfig.get_platform()}, {os.cpu_count()} CPUs; "
              "installed non-editable, read-only, empty caches")
        print(f"{'venv + install (kernels compiled)':<34} {installed:6.2f} s wall")
        rows = [("roomsim --help", [roomsim, "--help"]),
                ("roomsim --version", [roomsim, "--version"]),
                ("roomsim validate meeting-8", [roomsim, "validate", str(MEETING)]),
                ("first roomsim compare meeting-8", [roomsim, "compare", str(MEETING)]),
                ("second roomsim compare meeting-8", [roomsim, "compare", str(MEETING)])]
        for label, argv in rows:
            wall, said = _timed(argv, env)
            note = f"   ({said.splitlines()[-1]})" if said else ""
            print(f"{label:<34} {wall:6.2f} s wall{note}")
        cached = sum(1 for _ in (work / "cache").rglob("*.nbi"))
        shipped = sum(1 for _ in (work / "venv").rglob("_compiled/*/*.nbi"))
        print(f"kernel index files: {shipped} compiled at install, {cached} in the user cache directory")
        for path in (work / "venv").rglob("*"):  # writable again, so it can be removed
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(work / "venv", ignore_errors=True)


if __name__ == "__main__":
    main()
