"""The results store: one SQLite file per sweep output directory.

Each finished point is written in a single transaction (its status row and all its result
rows together), so killing a sweep at any instant leaves every point either complete or
absent; `done_keys()` is what a resumed sweep skips. WAL mode lets a reader (a progress
probe, a notebook) look while the sweep writes. The parent process is the only writer:
workers return rows, they never touch the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from roomsim.sweep.errors import SweepError
from roomsim.sweep.expand import Point
from roomsim.sweep.files import remove_stale_temp_files
from roomsim.sweep.spec import LoadedSweep

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent sweeps stay the user's business
    fcntl = None  # type: ignore[assignment]

Row = dict[str, Any]
STORE_FILE = "sweep.sqlite"
LOCK_FILE = "sweep.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    roomsim_version TEXT NOT NULL,
    sweep_file TEXT NOT NULL,
    sweep_text TEXT NOT NULL,
    base_file TEXT NOT NULL,
    base_text TEXT NOT NULL,
    created_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    row_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT NOT NULL,
    row_index INTEGER NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (key, row_index)
);
"""


def roomsim_version() -> str:
    """The version stamped on every result, so results of different code never mix silently."""
    import roomsim

    declared = getattr(roomsim, "__version__", None)
    if isinstance(declared, str):
        return declared
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roomsim")
    except PackageNotFoundError:
        return "unknown"


class ResultStore:
    """Finished points and their result rows, plus a manifest of who wrote them and from what.

    Opening takes an exclusive lock on the directory, so two sweeps never write into the same
    one; the operating system drops the lock when the process dies, even by SIGKILL.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            self._lock = self._acquire_lock(out_dir / LOCK_FILE)
        except (FileExistsError, NotADirectoryError, PermissionError) as error:
            raise SweepError(
                f"{out_dir}: output: cannot use as output directory ({error.strerror})"
            ) from None
        remove_stale_temp_files(out_dir)
        path = out_dir / STORE_FILE
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            self._lock.close()
            raise SweepError(f"{path}: store: not a roomsim sweep store ({error})") from None

    @staticmethod
    def _acquire_lock(path: Path) -> IO[str]:
        handle = path.open("a", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                raise SweepError(
                    f"{path.parent}: output: another sweep is writing to this directory"
                ) from None
        return handle

    def close(self) -> None:
        """Close the database and release the directory lock."""
        self._db.close()
        self._lock.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def record_manifest(self, sweep: LoadedSweep, version: str) -> None:
        """Note this invocation; refuse to mix results of two roomsim versions in one store.

        A row is added when the sweep or base text changed since the last one, so the
        manifest is the history of what the stored results were computed from.
        """
        last = self._db.execute(
            "SELECT roomsim_version, sweep_text, base_text FROM manifest ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if last is not None and last[0] != version:
            raise SweepError(
                f"{self.out_dir}: manifest: results here were written by roomsim {last[0]}, "
                f"this is roomsim {version}; use a fresh output directory"
            )
        if last is not None and (last[1], last[2]) == (sweep.text, sweep.base_text):
            return
        with self._transaction():
            self._db.execute(
                "INSERT INTO manifest (roomsim_version, sweep_file, sweep_text, base_file, "
                "base_text, created_utc) VALUES (?, ?, ?, ?, ?, ?)",
                (version, str(sweep.path), sweep.text, str(sweep.base_path), sweep.base_text,
                 datetime.now(UTC).isoformat(timespec="seconds")),
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def done_keys(self) -> set[str]:
        """Keys of points whose results are complete in the store."""
        return {key for (key,) in self._db.execute("SELECT key FROM points WHERE status='done'")}

    def record_done(self, point: Point, rows: Sequence[Row]) -> None:
        """Store a finished point and all its rows in one transaction (all or nothing)."""
        encoded = [json.dumps(row) for row in rows]  # fails before the transaction starts
        with self._transaction():
            self._db.execute("DELETE FROM rows WHERE key = ?", (point.key,))
            self._db.execute(
                "INSERT OR REPLACE INTO points (key, params, seed, status, error, row_count) "
                "VALUES (?, ?, ?, 'done', NULL, ?)",
                (point.key, json.dumps(point.params), point.seed, len(encoded)),
            )
            self._db.executemany(
                "INSERT INTO rows (key, row_index, row) VALUES (?, ?, ?)",
                [(point.key, index, text) for index, text in enumerate(encoded)],
            )

    def record_failed(self, point: Point, error: str) -> None:
        """Remember a failed point (it is retried on the next run; `done_keys` excludes it)."""
        with self._transaction():
            self._db.execute("DELETE FROM rows WHERE key = ?", (point.key,))
            self._db.execute(
                "INSERT OR REPLACE INTO points (key, params, seed, status, error, row_count) "
                "VALUES (?, ?, ?, 'failed', ?, 0)",
                (point.key, json.dumps(point.params), point.seed, error),
            )

    def rows_by_key(self, keys: Iterable[str]) -> dict[str, list[Row]]:
        """Result rows of the finished points among `keys`, each list in its stored order."""
        wanted = set(keys) & self.done_keys()
        found: dict[str, list[Row]] = {key: [] for key in wanted}
        for key, text in self._db.execute("SELECT key, row FROM rows ORDER BY key, row_index"):
            if key in found:
                found[key].append(json.loads(text))
        return found


class _Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception (including Ctrl-C)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")

