"""Run a sweep's tasks locally (process pool) or on a Dask cluster, streaming into the store.

Workers get plain data (scenario dict, replication), never SimPy objects, and return a small
result dict; the driver alone writes files, so a remote cluster needs no shared disk and a
worker that dies loses only the tasks it held. A task that raises is a failed row with its
error; the sweep goes on.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from twin.experiments.sweep.spec import Plan, Task
from twin.experiments.sweep.store import SweepStore


def run_task(task: Task) -> dict[str, Any]:
    """Simulate one scenario and replication; never raises (a failure is returned as data)."""
    from twin.model import simulate
    from twin.results.collect import replication_tables
    from twin.scenario.loading import scenario_from_data

    t0 = time.perf_counter()
    row: dict[str, Any] = {
        "scenario_id": task.scenario_id, "point_id": task.point_id, "replication": task.replication,
        "status": "ok", "error": "", "kpis": {}, "scenario_hash": "", "root_seed": -1,
    }
    try:
        loaded = scenario_from_data(task.data, source=f"<sweep task {task.scenario_id}>", base_dir=Path(task.base_dir))
        row["scenario_hash"] = loaded.scenario_hash
        row["root_seed"] = loaded.scenario.seed
        row["kpis"] = replication_tables(simulate(loaded, task.replication)).kpis
    except Exception as exc:  # a failed scenario is a row of data, not a crash
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["wall_s"] = time.perf_counter() - t0
    return row


def _failed(task: Task, why: str) -> dict[str, Any]:
    return {"scenario_id": task.scenario_id, "point_id": task.point_id, "replication": task.replication,
            "status": "failed", "error": why, "kpis": {}, "scenario_hash": "", "root_seed": -1, "wall_s": 0.0}


def _local(tasks: list[Task], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for t in tasks:
            yield run_task(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = list(tasks)
    breaks = 0
    while pending:
        ctx = mp.get_context("fork") if sys.platform.startswith("linux") else None
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        futures = {pool.submit(run_task, t): t for t in pending}
        finished: set[str] = set()
        try:
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    row = fut.result()
                except BrokenProcessPool:
                    raise
                finished.add(task.scenario_id)
                yield row
            pending = []
        except BrokenProcessPool:
            breaks += 1
            pending = [t for t in pending if t.scenario_id not in finished]
            if breaks >= 2:  # a task that kills its worker again: record the rest as failed
                for t in pending:
                    yield _failed(t, "worker process died while running this task or one beside it")
                pending = []
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def run_batch(tasks: list[Task]) -> list[dict[str, Any]]:
    """Several tasks in one go (one scheduler round trip for all of them)."""
    return [run_task(t) for t in tasks]


def _batches(tasks: list[Task], slots: int) -> list[list[Task]]:
    """Cut tasks into batches: about 8 per worker slot, at most 8 tasks each, so scheduling
    costs little and the last batches still balance."""
    size = max(1, min(8, len(tasks) // max(8 * slots, 1)))
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def _dask(tasks: list[Task], scheduler: Any) -> Iterator[dict[str, Any]]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        from twin.core.errors import InputError

        raise InputError("--scheduler needs Dask: pip install 'celltwin[dask]'") from None
    client = Client(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        slots = max(sum(client.nthreads().values()), 1)
        batches = _batches(tasks, slots)
        keys = [f"celltwin-{b[0].scenario_id}-{len(b)}" for b in batches]
        futures = client.map(run_batch, batches, key=keys, pure=False)
        by_key = {f.key: b for f, b in zip(futures, batches)}
        try:
            for fut in as_completed(futures):
                try:
                    rows = fut.result()
                except Exception as exc:  # e.g. KilledWorker: the batch crashed its workers
                    rows = [_failed(t, f"{type(exc).__name__}: {exc}") for t in by_key[fut.key]]
                yield from rows
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()
    finally:
        if isinstance(scheduler, str):
            client.close()


def _warm_culture_kernel(tasks: list[Task]) -> None:
    """Compile (or load from the cache) the culture kernel in the driver before any worker
    starts, when a scenario has a culture step: forked workers inherit it, and Dask workers
    find the cache written instead of racing to write it."""
    if any(st.get("end_point") for t in tasks[:1] for st in t.data.get("recipe", []) if isinstance(st, dict)):
        from twin.kernel.compiled import warm_up

        warm_up(parallel=False)


def execute(
    plan: Plan,
    store: SweepStore,
    workers: int | None = None,
    scheduler: Any = None,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
) -> dict[str, int]:
    """Run every planned task that the store does not hold yet; write each result as it comes.

    Args:
        plan: the validated sweep plan.
        store: the opened store.
        workers: local processes (default: all cores); ignored with ``scheduler``.
        scheduler: a Dask scheduler address (or a ``dask.distributed.Client``) to run on.
        on_result: called with (row, done, total) after each result is stored.
    Returns:
        counts: planned, skipped (already done), ok, failed.
    """
    done = store.done_ids()
    todo = [t for t in plan.tasks if t.scenario_id not in done]
    counts = {"planned": len(plan.tasks), "skipped": len(plan.tasks) - len(todo), "ok": 0, "failed": 0}
    _warm_culture_kernel(todo)
    rows: Iterable[dict[str, Any]]
    if scheduler is not None:
        rows = _dask(todo, scheduler)
    else:
        rows = _local(todo, workers or os.cpu_count() or 1)
    n = counts["skipped"]
    for row in rows:
        store.write(row["point_id"], row)
        counts[row["status"]] += 1
        n += 1
        if on_result:
            on_result(row, n, len(plan.tasks))
    return counts
