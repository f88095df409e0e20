"""``twin run -r 8`` on one worker against two (issue 20): wall seconds and the speed-up, and
whether the two wrote the same tables.

Each run is ``python -m twin.cli run scenarios/centralised.yaml -r R --workers W`` in a fresh
interpreter (this tree first on ``PYTHONPATH``; start-up, kernel load and writing included, as a
user sees it); one worker and two alternate ``--rounds`` times and the best of each is kept, so
load from other processes on a shared machine hits both alike. ``kpis``, ``batches`` and
``events`` of the last two runs are compared with ``pandas.testing.assert_frame_equal``.

    python benchmarks/bench_workers.py [--replications 8] [--workers 2] [--rounds 2] [--set horizon_days=120]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_cli import _env  # noqa: E402
from machine import cpu_busy, machine_info  # noqa: E402

SPEEDUP_TARGET = 1.8  # issue 20: `twin run -r 8` on 2 cores >= 1.8x one worker
TABLES = ("kpis", "batches", "events")


def _timed_run(out: Path, workers: int, replications: int, overrides: list[str]) -> tuple[float, float]:
    """Wall seconds of one ``twin run`` and the CPU seconds it and its workers used."""
    cmd = [sys.executable, "-m", "twin.cli", "run", str(REPO / "scenarios" / "centralised.yaml"), "-r",
           str(replications), "--workers", str(workers), "--out", str(out), "--replace", "-q"]
    for o in overrides:
        cmd += ["--set", o]
    c0 = _children_cpu()
    t0 = time.perf_counter()
    subprocess.run(cmd, env=_env(), capture_output=True, check=True)
    return time.perf_counter() - t0, _children_cpu() - c0


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the pool workers count: their parent waits for them)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _same_tables(a: Path, b: Path) -> bool:
    import pandas as pd

    try:
        for t in TABLES:
            pd.testing.assert_frame_equal(pd.read_parquet(a / f"{t}.parquet"), pd.read_parquet(b / f"{t}.parquet"))
    except AssertionError:
        return False
    return True


def measure(replications: int = 8, workers: int = 2, rounds: int = 2, overrides: tuple[str, ...] = ()) -> dict:
    """Best wall seconds of one worker and of ``workers``, alternated ``rounds`` times."""
    with tempfile.TemporaryDirectory(prefix="celltwin-bench-workers-") as tmp:
        one, many = Path(tmp) / "one", Path(tmp) / "many"
        _timed_run(one, 1, 1, list(overrides))  # numba cache and .pyc warm, untimed
        t1, tw = [], []
        for _ in range(rounds):
            t1.append(_timed_run(one, 1, replications, list(overrides)))
            tw.append(_timed_run(many, workers, replications, list(overrides)))
        same = _same_tables(one, many)
    (w1, c1), (ww, cw) = min(t1), min(tw)
    return {"replications": replications, "workers": workers, "rounds": rounds, "overrides": list(overrides),
            "one_worker_s": w1, "many_workers_s": ww, "all_one_worker_s": [t for t, _ in t1],
            "all_many_workers_s": [t for t, _ in tw], "speedup": w1 / ww, "identical_tables": same,
            # cores the best run kept busy (CPU s / wall s): under 2 with 2 workers, others had the rest
            "one_worker_cores": c1 / w1, "many_workers_cores": cw / ww, "target": SPEEDUP_TARGET}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", "-r", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "workers.json")
    args = ap.parse_args()
    before = cpu_busy()
    res = measure(args.replications, args.workers, args.rounds, tuple(args.overrides))
    res["cpu_busy"] = {"before": before, "after": cpu_busy()}
    print(f"twin run -r {args.replications}: 1 worker {res['one_worker_s']:.2f} s, {args.workers} workers "
          f"{res['many_workers_s']:.2f} s (best of {args.rounds} alternated): {res['speedup']:.2f}x "
          f"(target >= {SPEEDUP_TARGET}); identical tables: {res['identical_tables']}")
    print(f"cores kept busy (CPU s / wall s): 1 worker {res['one_worker_cores']:.2f}, {args.workers} workers "
          f"{res['many_workers_cores']:.2f}")
    print(f"other load (cores busy before / after): {res['cpu_busy']['before']} / {res['cpu_busy']['after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine_info(), **res}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
