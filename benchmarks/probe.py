"""One measurement of one celltwin tree, printed as JSON: the before/after benchmark's probe.

    PYTHONPATH=TREE python benchmarks/probe.py MEASURE TREE [--repeat N] [--quick]

Unlike the other scripts it does not put its own tree first on ``sys.path``: it measures whatever
``twin`` PYTHONPATH gives it (the tree of the commit before issue 20, or this one), and reads the
scenario files of its own tree (the same input for both). It uses only what both trees have (``simulate``, ``replication_tables``,
``load_scenario``, ``scenario_from_data``, ``twin.cli``). Measures:

* ``mmc``: scenarios/validation/mmc.yaml, median of N replications: simulate and tables seconds,
  patients; and the minimal SimPy model and Ciw of bench_mmc.py on the same queue.
* ``year``: the one-year centralised scenario at 500 referrals a year, one replication (median
  of N): simulate and tables seconds.
* ``forty``: the centralised scenario cut to 49 days with no warm-up (about 40 patients): simulate
  and tables + KPIs seconds, median of max(N, 5).
* ``big``: the one-year centralised scenario at 8,000 referrals a year, one replication: simulate
  and tables seconds, and the process's peak resident memory (ru_maxrss) before and after.
* ``compile``: ``twin run`` of the centralised scenario (90 days, one replication) in a fresh
  interpreter with an empty NUMBA_CACHE_DIR (a first run after install), then again with the
  cache it left (a warm run): wall seconds of each.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parent / "scenarios"
"""Both trees run this tree's scenario files, so they simulate the same facility (the commit
before issue 20 still had the fresh-material hold on in centralised.yaml: most of its batches were
lost early, which made its replications cheaper and not comparable)."""
BASE_PER_YEAR = 6 * 52.18  # referrals a year in scenarios/centralised.yaml


def _scaled(tree: Path, per_year: float) -> dict:
    """centralised.yaml of ``tree`` at ``per_year`` referrals, capacity scaled (as bench_scale.py)."""
    data = copy.deepcopy(yaml.safe_load((SCENARIOS / "centralised.yaml").read_text()))
    f = per_year / BASE_PER_YEAR
    data["referrals"]["rate_per_week"] = per_year / 52.18
    data["horizon_days"] = 365
    for site in data["sites"].values():
        for key in ("apheresis_chairs", "infusion_slots"):
            if key in site:
                site[key] = max(1, math.ceil(site[key] * f))
        for pool in site.get("devices", {}).values():
            pool["count"] = max(1, math.ceil(pool["count"] * f))
        for role, spec in site.get("staff", {}).items():
            if isinstance(spec, dict):
                spec["count"] = max(1, math.ceil(spec["count"] * f))
            else:
                site["staff"][role] = max(1, math.ceil(spec * f))
        ln2 = site.get("utilities", {}).get("ln2")
        if ln2:
            ln2["tank_l"] = ln2["tank_l"] * max(f, 1.0)
    return data


def _timed(loaded, reps: range) -> dict:
    """Median simulate and tables seconds of replications ``reps`` (after one warm-up run)."""
    from twin.model import simulate
    from twin.results.collect import replication_tables

    replication_tables(simulate(loaded, 10_000))  # warm: kernel load, first-call costs
    sims, tabs, pats = [], [], []
    for rep in reps:
        t0 = time.perf_counter()
        raw = simulate(loaded, rep)
        t1 = time.perf_counter()
        replication_tables(raw)
        t2 = time.perf_counter()
        sims.append(t1 - t0)
        tabs.append(t2 - t1)
        pats.append(raw.n_patients)
    return {"simulate_s": statistics.median(sims), "tables_s": statistics.median(tabs),
            "patients": statistics.mean(pats)}


def _from_data(tree: Path, data: dict):
    from twin.scenario.loading import scenario_from_data

    return scenario_from_data(data, source="<probe>", base_dir=SCENARIOS)


def mmc(tree: Path, repeat: int, quick: bool) -> dict:
    from twin.scenario.loading import load_scenario

    over = ["horizon_days=300"] if quick else []
    res = _timed(load_scenario(SCENARIOS / "validation" / "mmc.yaml", overrides=over), range(repeat))
    sys.path.insert(1, str(HERE))  # bench_mmc's minimal SimPy and Ciw models (twin is imported already)
    import bench_mmc

    q = bench_mmc.queue_parameters(SCENARIOS / "validation" / "mmc.yaml")
    if quick:
        q["horizon_h"] = 300 * 24.0
    res["simpy"] = bench_mmc._median_run(bench_mmc.simpy_mmc, q, repeat)
    res["ciw"] = bench_mmc._median_run(bench_mmc.ciw_mmc, q, repeat) if bench_mmc.ciw_version() else None
    return res


def year(tree: Path, repeat: int, quick: bool) -> dict:
    return _timed(_from_data(tree, _scaled(tree, 500)), range(repeat))


def forty(tree: Path, repeat: int, quick: bool) -> dict:
    data = yaml.safe_load((SCENARIOS / "centralised.yaml").read_text())
    data["horizon_days"], data["warmup_days"] = 49, 0
    return _timed(_from_data(tree, data), range(max(repeat, 5)))


def big(tree: Path, repeat: int, quick: bool) -> dict:
    from twin.model import simulate
    from twin.results.collect import replication_tables

    loaded = _from_data(tree, _scaled(tree, 2000 if quick else 8000))
    replication_tables(simulate(_from_data(tree, _scaled(tree, 50)), 0))  # kernel load, first calls
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    raw = simulate(loaded, 0)
    t1 = time.perf_counter()
    replication_tables(raw)
    t2 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"simulate_s": t1 - t0, "tables_s": t2 - t1, "patients": raw.n_patients,
            "peak_rss_mb_before": rss0, "peak_rss_mb": rss1}


def compile_(tree: Path, repeat: int, quick: bool) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
        for label in ("first_run_s", "warm_run_s"):
            cmd = [sys.executable, "-m", "twin.cli", "run", str(SCENARIOS / "centralised.yaml"), "-r", "1",
                   "--set", "horizon_days=90", "--out", str(Path(tmp) / label), "-q"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
            out[label] = time.perf_counter() - t0
            if proc.returncode:
                out["error"] = proc.stderr[-500:]
    return out


MEASURES = {"mmc": mmc, "year": year, "forty": forty, "big": big, "compile": compile_}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("measure", choices=list(MEASURES))
    ap.add_argument("tree", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(json.dumps(MEASURES[a.measure](a.tree.resolve(), a.repeat, a.quick)))


if __name__ == "__main__":
    main()
