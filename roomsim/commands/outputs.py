"""Output directories checked before a run, so a result is never lost to a bad `-o`.

`-o` under a file, in /proc or /sys, or at /dev/null used to fail only when the report was
written, after the whole simulation ran. Here the directory is made (if needed) and a
probe file is written and removed before anything runs. Results are written atomically
(temp file + rename, roomsim.results.models.write_atomic); a run killed mid-write leaves its
`.NAME.<random>.tmp` temporaries behind, and the next run into the same directory removes
them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from roomsim.errors import ScenarioError

#: Files a run writes into -o; their stale temporaries are removed.
RUN_OUTPUTS = ("report.json", "participants.csv", "servers.csv", "scenario.yaml")


def prepare_out_dir(out_dir: Path, flag: str = "-o") -> None:
    """Make `out_dir` (and parents) and prove it takes a file; one-line error otherwise."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise ScenarioError("exists and is not a directory", file=str(out_dir), field=flag)
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".roomsim-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except ScenarioError:
        raise
    except OSError as exc:
        raise ScenarioError(f"cannot write here: {exc.strerror or exc}", file=str(out_dir),
                            field=flag) from None
    remove_stale_temporaries(out_dir)


def remove_stale_temporaries(out_dir: Path, names: tuple[str, ...] = RUN_OUTPUTS) -> list[Path]:
    """Delete the temp files a killed run left for `names` and for its charts (only those:
    nothing else in the directory is touched); returns what was removed."""
    removed = []
    patterns = [f".{name}.*.tmp" for name in names]
    # Charts are written the same way into DIR/charts, a directory roomsim owns.
    stale_files = [*(p for pattern in patterns for p in out_dir.glob(pattern)),
                   *out_dir.glob("charts/.*.tmp")]
    for stale in stale_files:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed.append(stale)
    return removed
