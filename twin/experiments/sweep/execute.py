"""Run a sweep's tasks locally (process pool) or on a Dask cluster, streaming into the store.

Workers get plain data (scenario dict, replication), never SimPy objects, and return a small
result dict; the driver alone writes files, so a remote cluster needs no shared disk and a
worker that dies loses only the tasks it held. A task that raises is a failed row with its
error (its scenario failed); the sweep goes on.

A task whose worker process dies (killed, out of memory, a crash in native code) is *lost*, which
is told apart from *failed*: after a pool breaks, the unfinished tasks run again each in a process
of its own, so one task that kills its process never fails its neighbours; a task lost
:data:`MAX_DEATHS` times is reported lost and not stored, so ``--resume`` tries it again. Workers
end when their driver dies (a parent-death signal on Linux, and a watch thread everywhere), so a
driver killed with SIGKILL leaves no orphans.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from twin.experiments.pool import each_in_pool, worker_count
from twin.experiments.sweep.spec import Plan, Task
from twin.experiments.sweep.store import SweepStore


def run_task(task: Task) -> dict[str, Any]:
    """Simulate one scenario and replication; never raises (a failure is returned as data)."""
    from twin.model import simulate
    from twin.results.collect import replication_kpis, replication_tables
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
        record = simulate(loaded, task.replication)
        if task.measure:  # a risk analysis's task: its outages' occurrences or its exposures
            from twin.results.exposure import risk_measures

            tables = replication_tables(record)
            row["kpis"] = {**tables.kpis, **risk_measures(tables.outages, tables.events, task.measure,
                                                          (record.warmup_h, record.horizon_h))}
        else:
            row["kpis"] = replication_kpis(record)  # no event-log table
    except Exception as exc:  # a failed scenario is a row of data, not a crash
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["wall_s"] = time.perf_counter() - t0
    return row


def _lost(task: Task, why: str) -> dict[str, Any]:
    """A task lost to infrastructure (its process died): reported, never stored, retried by --resume."""
    return {"scenario_id": task.scenario_id, "point_id": task.point_id, "replication": task.replication,
            "status": "lost", "error": why, "kpis": {}, "scenario_hash": "", "root_seed": -1, "wall_s": 0.0}


def _local(tasks: list[Task], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for t in tasks:
            yield run_task(t)
        return
    for _, row in each_in_pool(run_task, tasks, workers, _lost_after_deaths):
        yield row


def _lost_after_deaths(task: Task, why: str) -> dict[str, Any]:
    return _lost(task, f"{why}; not stored: --resume tries it again")


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
                except Exception as exc:  # e.g. KilledWorker: run_batch never raises, so the workers died
                    rows = [_lost(t, f"{type(exc).__name__}: {exc}") for t in by_key[fut.key]]
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
        counts: planned, skipped (already done), ok, failed (the scenario failed: stored with its
        error) and lost (the worker process died: not stored, so ``--resume`` runs it again).
    """
    done = store.done_ids()
    todo = [t for t in plan.tasks if t.scenario_id not in done]
    counts = {"planned": len(plan.tasks), "skipped": len(plan.tasks) - len(todo), "ok": 0, "failed": 0, "lost": 0}
    _warm_culture_kernel(todo)
    rows: Iterable[dict[str, Any]]
    if scheduler is not None:
        rows = _dask(todo, scheduler)
    else:
        rows = _local(todo, worker_count(workers))
    n = counts["skipped"]
    try:
        for row in rows:
            if row["status"] != "lost":
                store.write(row["point_id"], row)
            counts[row["status"]] += 1
            n += 1
            if on_result:
                on_result(row, n, len(plan.tasks))
    finally:  # a failed write or an interrupt: stop the workers now, not at garbage collection
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return counts
