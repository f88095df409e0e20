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


def worker_count(workers: int | None) -> int:
    """``workers`` processes, or all cores for None (at least 1)."""
    return workers if workers is not None else (os.cpu_count() or 1)


def warm_culture_kernel() -> None:
    """Compile (or load from the numba cache) the culture kernel in the driver before a pool
    forks, so every worker inherits it instead of compiling it again (or racing on the cache)."""
    from twin.kernel.compiled import warm_up

    warm_up(parallel=False)
