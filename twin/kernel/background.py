"""Compile the culture kernel in a background thread while a command loads its inputs.

A fresh install has no numba cache: the first ``twin run`` would stop for the kernel's compile
(several seconds) when its first culture starts. :func:`start` begins that compile (or the
cache load) in a daemon thread as soon as a command that simulates starts, so it overlaps with
importing pandas and SimPy and loading the scenario; :func:`wait` joins it (before a process
pool forks, so the workers inherit the compiled kernel). numba's compiler lock makes a
simulation that needs the kernel earlier simply wait for the compile in progress.
"""

from __future__ import annotations

import contextlib
import threading

_thread: threading.Thread | None = None


def _compile() -> None:
    with contextlib.suppress(Exception):  # a broken kernel raises again, located, where it is used
        from twin.kernel.compiled import warm_up

        warm_up(parallel=False)


def start() -> None:
    """Start compiling (or loading) the serial kernel in a daemon thread, once per process."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_compile, name="celltwin-kernel-compile", daemon=True)
        _thread.start()


def wait() -> None:
    """Block until the compile begun by :func:`start` (if any) has finished."""
    if _thread is not None:
        _thread.join()
