"""Sweep throughput: local process pool vs one process vs a static two-way split vs Dask.

N one-year, 500-referral centralised scenarios (one point, N replications, so every task is a
distinct scenario id) are run through ``twin.experiments.sweep.execute`` into a fresh store:

* ``serial``: one process (the baseline for parallel efficiency);
* ``local``: the process pool with ``--workers`` (default 2);
* ``split``: the same tasks cut in two halves up front, each half run by one process with no
  store and no scheduling (the best a static split can do: target sweep >= 0.85 x split);
* ``dask``: a ``LocalCluster`` with the same number of single-threaded worker processes and
  Dask's profiler and monitors turned down as README recommends (target: at most 10% slower than
  ``local``; ``--profile-workers`` measures Dask's defaults).

    python benchmarks/bench_sweep.py [--n 100] [--workers 2] [--json benchmarks/results/sweep.json]

Per-scenario seconds are printed, and the time for 1,000 scenarios is projected from them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_scale import scaled  # noqa: E402
from machine import machine_info  # noqa: E402

from twin import __version__  # noqa: E402
from twin.experiments.sweep.execute import execute, run_task  # noqa: E402
from twin.experiments.sweep.spec import load_sweep  # noqa: E402
from twin.experiments.sweep.store import SweepStore  # noqa: E402


def make_plan(tmp: Path, n: int):
    base = scaled(500)
    base["catalogue"] = str(REPO / "equipment")
    (tmp / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    (tmp / "sweep.yaml").write_text(yaml.safe_dump({
        "name": "bench", "base": "base.yaml",
        "axes": {"referrals.rate_per_week": [base["referrals"]["rate_per_week"]]},
        "replications": n,
    }))
    return load_sweep(tmp / "sweep.yaml")


def timed_execute(plan, root: Path, **kw) -> float:
    store = SweepStore(root)
    store.open(plan.manifest(), {}, resume=False)
    t0 = time.perf_counter()
    counts = execute(plan, store, **kw)
    dt = time.perf_counter() - t0
    assert counts["ok"] == len(plan.tasks), counts
    return dt


def _run_chunk(tasks) -> int:
    for t in tasks:
        run_task(t)
    return len(tasks)


def timed_split(plan, workers: int) -> float:
    chunks = [plan.tasks[i::workers] for i in range(workers)]
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(_run_chunk, chunks)
    return time.perf_counter() - t0


SPLIT_TARGET = 0.85  # sweep throughput at least 0.85 x a static split of the same tasks


@dataclass(frozen=True)
class Paths:
    """The paths :func:`measure` times besides the local pool and the static split: ``serial``
    (one process) and ``dask`` (a local Dask cluster; ``profile_workers`` leaves its profiler and
    monitors at their defaults)."""

    serial: bool = True
    dask: bool = True
    profile_workers: bool = False


def measure(n: int = 100, workers: int = 2, paths: Paths | None = None, rounds: int = 1) -> dict:
    """Seconds for ``n`` scenarios through each path, and the ratios the targets are stated in.

    ``sweep_vs_static_split`` = split seconds / local-pool seconds (throughput ratio, >= 0.85 is the
    target); ``paths.serial`` adds the one-process baseline and ``parallel_efficiency``;
    ``paths.dask`` the Dask path (default: both). ``rounds`` > 1 alternates local pool and split
    that many times and keeps the best of each, so load from other processes that comes and goes
    hits both alike.
    """
    paths = paths or Paths()
    serial, dask, profile_workers = paths.serial, paths.dask, paths.profile_workers
    tmp = Path(tempfile.mkdtemp(prefix="celltwin-bench-"))
    try:
        plan = make_plan(tmp, n)
        run_task(plan.tasks[0])  # warm imports in the driver before forking
        res = {}
        if serial:
            res["serial_s"] = timed_execute(plan, tmp / "serial", workers=1)
        local, split = [], []
        for r in range(rounds):
            local.append(timed_execute(plan, tmp / f"local{r}", workers=workers))
            split.append(timed_split(plan, workers))
        res["local_s"], res["split_s"] = min(local), min(split)
        if dask:
            import dask as dask_
            from dask.distributed import Client, LocalCluster

            if not profile_workers:
                # The workers' profiler samples every thread every 10 ms and the monitors wake
                # every 1-500 ms; on two busy cores that time comes out of the simulations.
                dask_.config.set({
                    "distributed.worker.profile.enabled": False,
                    "distributed.worker.memory.monitor-interval": "1s",
                    "distributed.admin.system-monitor.interval": "2s",
                    "distributed.admin.system-monitor.gil.enabled": False,
                })

            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                # Warm every worker as the forked local pool is warm (imports, catalogue).
                warm = plan.tasks[0]
                client.run(lambda: run_task(warm))
                res["dask_s"] = timed_execute(plan, tmp / "dask", scheduler=client)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = {k: round(v, 3) for k, v in res.items()}
    if "serial_s" in res:
        res["parallel_efficiency"] = round(res["serial_s"] / (workers * res["local_s"]), 3)
    res["sweep_vs_static_split"] = round(res["split_s"] / res["local_s"], 3)
    if "dask_s" in res:
        res["dask_overhead"] = round(res["dask_s"] / res["local_s"] - 1, 3)
    res["projected_1000_local_s"] = round(res["local_s"] / n * 1000, 1)
    return {"n": n, "workers": workers, "rounds": rounds, **res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="scenarios per measurement")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--profile-workers", action="store_true",
                    help="leave Dask's profiler and monitors at their defaults")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "sweep.json"))
    args = ap.parse_args()
    res = measure(args.n, args.workers, Paths(dask=not args.no_dask, profile_workers=args.profile_workers))
    n, w = args.n, args.workers
    print(f"celltwin {__version__}: {n} one-year 500-referral scenarios, {w} workers")
    for k in ("serial_s", "local_s", "split_s", "dask_s"):
        if k in res:
            print(f"  {k:<8} {res[k]:8.2f} s   {res[k] / n * 1000:7.1f} ms/scenario")
    print(f"  parallel efficiency at {w} workers: {res['parallel_efficiency']:.1%} (target >= 85%)")
    print(f"  sweep throughput vs static split:   {res['sweep_vs_static_split']:.2f}x (target >= {SPLIT_TARGET})")
    if "dask_overhead" in res:
        print(f"  Dask path overhead vs local:        {res['dask_overhead']:+.1%} (target <= +10%)")
    print(f"  projected 1,000 scenarios, local:   {res['projected_1000_local_s']:.0f} s (target < 600 s)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), **res}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
