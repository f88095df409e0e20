"""The local process pool that sweeps, runs and comparisons share.

Workers are forked on Linux (they inherit the imported modules and the compiled culture kernel)
and end when their driver dies (a parent-death signal on Linux, and a watch thread everywhere),
so a driver killed with SIGKILL leaves no orphans.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

MAX_DEATHS = 3
"""Times a job may lose its worker process, each time alone in a fresh one, before it is
reported lost (assumption: a machine hiccup rarely strikes the same job three times)."""


def end_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when the driver ``parent`` dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):  # prctl(PR_SET_PDEATHSIG, SIGKILL)
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # died before the watch was set
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="celltwin-parent-watch", daemon=True).start()


def process_pool(workers: int):  # -> ProcessPoolExecutor
    """A pool of ``workers`` local processes that end with this one."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("fork") if sys.platform.startswith("linux") else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=end_with_parent,
                               initargs=(os.getpid(),))


def each_in_pool(
    fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int, lost: Callable[[Any, str], Any],
) -> Iterator[tuple[int, Any]]:
    """``(i, fn(jobs[i]))`` for every job, as each finishes, on ``workers`` local processes.

    A worker process that dies (killed, out of memory, a crash in native code) breaks the whole
    pool and every job it held; so the unfinished jobs then run again each in a process of its
    own (``workers`` at a time), and a job never fails its neighbours. A job whose own process dies
    :data:`MAX_DEATHS` times gives ``(i, lost(job, why))`` instead."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = process_pool(workers)
    futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
    finished: set[int] = set()
    try:
        for fut in as_completed(futures):
            out = fut.result()
            finished.add(futures[fut])
            yield futures[fut], out
        return
    except BrokenProcessPool:
        pending = [i for i in range(len(jobs)) if i not in finished]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    yield from _isolated(fn, [(i, jobs[i]) for i in pending], workers, lost)


def _isolated(
    fn: Callable[[Any], Any], jobs: list[tuple[int, Any]], workers: int, lost: Callable[[Any, str], Any],
) -> Iterator[tuple[int, Any]]:
    """Run ``jobs`` (index, job) each in a process of its own, ``workers`` at a time; a job whose
    process dies again is retried alone up to :data:`MAX_DEATHS` times, then lost."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque((i, job, 0) for i, job in jobs)
    running: dict[Any, tuple[int, Any, int, Any]] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                i, job, deaths = queue.popleft()
                pool = process_pool(1)
                running[pool.submit(fn, job)] = (i, job, deaths, pool)
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                i, job, deaths, pool = running.pop(fut)
                pool.shutdown(wait=False)
                try:
                    yield i, fut.result()
                except BrokenProcessPool:
                    if deaths + 1 < MAX_DEATHS:
                        queue.append((i, job, deaths + 1))
                    else:
                        yield i, lost(job, f"its worker process died {MAX_DEATHS} times, each time running it "
                                      "alone (killed, out of memory or a crash in native code)")
    finally:
        for _, _, _, pool in running.values():
            pool.shutdown(wait=False, cancel_futures=True)


def worker_count(workers: int | None) -> int:
    """``workers`` processes, or all cores for None (at least 1)."""
    return workers if workers is not None else (os.cpu_count() or 1)


def warm_culture_kernel() -> None:
    """Compile (or load from the numba cache) the culture kernel in the driver before a pool
    forks, so every worker inherits it instead of compiling it again (or racing on the cache)."""
    from twin.kernel.compiled import warm_up

    warm_up(parallel=False)
