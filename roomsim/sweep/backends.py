"""Where jobs run: local worker processes, or a Dask distributed cluster named by address.

Both yield results in completion order; the caller files them by key, so which backend ran
a point, and when, never shows in the output.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Generator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from roomsim.sweep.errors import SweepError
from roomsim.sweep.jobs import Job, JobResult, Runner, execute_job

Results = Generator[JobResult, None, None]


def available_cores() -> int:
    """Cores this process may use (respects CPU affinity, e.g. in containers and taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker soon after the sweep process dies.

    A pool worker whose parent was killed (SIGKILL, SIGTERM, OOM) would otherwise wait on
    its job queue forever, an orphan holding memory; polling the parent pid is portable.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="roomsim-parent-watch", daemon=True).start()


def local_results(jobs: Sequence[Job], runner: Runner, workers: int) -> Results:
    """Run jobs on `workers` spawned processes.

    Spawn, not fork: the parent may hold threads (the progress bar's monitor, a Dask client)
    and forking a threaded process can deadlock; spawn also behaves the same on every OS.
    """
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    try:
        futures = [pool.submit(execute_job, job, runner) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_results(jobs: Sequence[Job], runner: Runner, scheduler: str) -> Results:
    """Submit the same jobs to the Dask scheduler at `scheduler` (e.g. `tcp://host:8786`).

    The workers must be able to import roomsim and the runner's module, as for any Dask task.
    How long to keep trying to connect is Dask's own `distributed.comm.timeouts.connect`.
    """
    try:
        from distributed import Client
        from distributed import as_completed as dask_as_completed
    except ImportError:
        raise SweepError(
            "scheduler: Dask distributed is not installed (pip install distributed)"
        ) from None
    try:
        client = Client(scheduler)
    except (OSError, TimeoutError, ValueError) as error:
        raise SweepError(f"scheduler: cannot connect to {scheduler}: {error}") from None
    with client:
        futures = client.map(execute_job, list(jobs), runner=runner, pure=False)
        try:
            for future in dask_as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
