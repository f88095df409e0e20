"""Issue 20's target table, before and after, measured side by side in one run.

    python benchmarks/bench_before_after.py [--before COMMIT] [--quick] [--repeat N] [--workers] [--json PATH]

``--before`` defaults to the commit before the issue-20 work (the parent of the oldest commit whose
message names issue 20). That commit's tree is exported with ``git archive`` into a temporary
folder (no worktree is registered); every measure then runs as ``benchmarks/probe.py`` in a fresh
interpreter, once with PYTHONPATH on that tree and once on this one, before and after alternating
measure by measure, so both see the same machine load; both simulate this tree's scenario files. ``--workers`` adds ``twin run -r 8`` on one
worker vs two (bench_workers.py; this tree only: the commit before has no ``--workers``). The
suite's time is measured by running it (README's command), not here. ``--quick``: small sizes
(M/M/c 300 days, 2,000 instead of 8,000 referrals), a smoke check, not the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = REPO / "benchmarks" / "probe.py"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from machine import cpu_busy, machine_info  # noqa: E402


def before_commit() -> str:
    """The parent of the oldest commit whose message names issue 20."""
    first = subprocess.run(["git", "log", "--reverse", "-i", "--grep=issue 20", "--format=%H"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()[0]
    return subprocess.run(["git", "rev-parse", f"{first}^"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


def export(commit: str, into: Path) -> Path:
    """The tree of ``commit`` written under ``into`` (git archive, no worktree)."""
    tar = into / "tree.tar"
    with open(tar, "wb") as f:
        subprocess.run(["git", "archive", commit], cwd=REPO, stdout=f, check=True)
    with tarfile.open(tar) as t:
        t.extractall(into / "tree", filter="data")
    return into / "tree"


def probe(measure: str, tree: Path, repeat: int, quick: bool) -> dict:
    """One measure of ``tree`` in a fresh interpreter (PYTHONPATH = the tree)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(PROBE), measure, str(tree), "--repeat", str(repeat), *(["--quick"] if quick else [])]
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if proc.returncode:
        return {"error": proc.stderr[-800:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def figures(m: dict) -> list[tuple[str, float, float, str, str]]:  # noqa: C901 (one row per figure of the issue's table)
    """(figure, before, after, unit, target) rows from the measures of both trees."""
    rows = []
    for tree in ("before", "after"):
        mm = m["mmc"][tree]
        if "error" in mm:
            continue
        pps = mm["patients"] / mm["simulate_s"]
        mm["pps"], mm["pps_tables"] = pps, mm["patients"] / (mm["simulate_s"] + mm["tables_s"])
        mm["vs_simpy"], mm["tables_vs_simpy"] = pps / mm["simpy"]["patients_per_s"], mm["pps_tables"] / mm["simpy"]["patients_per_s"]
        mm["vs_ciw"] = pps / mm["ciw"]["patients_per_s"] if mm.get("ciw") else float("nan")
    b, a = m["mmc"]["before"], m["mmc"]["after"]
    if "error" not in a and "error" not in b:
        rows += [("M/M/c simulate, patients/s", b["pps"], a["pps"], "patients/s", ""),
                 ("M/M/c simulate / minimal SimPy", b["vs_simpy"], a["vs_simpy"], "x", ">= 0.5"),
                 ("M/M/c simulate / Ciw", b["vs_ciw"], a["vs_ciw"], "x", "> 1"),
                 ("M/M/c simulate + tables / minimal SimPy", b["tables_vs_simpy"], a["tables_vs_simpy"], "x", ">= 0.35")]
    yb, ya = m["year"]["before"], m["year"]["after"]
    if "error" not in ya and "error" not in yb:
        tb, ta = yb["simulate_s"] + yb["tables_s"], ya["simulate_s"] + ya["tables_s"]
        rows += [("500-referral year: simulate", yb["simulate_s"], ya["simulate_s"], "s", ""),
                 ("500-referral year: tables + KPIs", yb["tables_s"], ya["tables_s"], "s", ""),
                 ("500-referral year: simulate + tables", tb, ta, "s", ""),
                 ("500-referral year: speed-up before / after", float("nan"), _ratio(tb, ta), "x", ">= 5")]
    for tree in ("before", "after"):
        f = m["forty"][tree]
        if "error" not in f:
            f["ratio"] = f["tables_s"] / f["simulate_s"]
    fb, fa = m["forty"]["before"], m["forty"]["after"]
    if "error" not in fa and "error" not in fb:
        rows += [(f"~40 patients ({fa['patients']:.0f}): simulate", fb["simulate_s"], fa["simulate_s"], "s", ""),
                 ("~40 patients: tables + KPIs", fb["tables_s"], fa["tables_s"], "s", ""),
                 ("~40 patients: tables + KPIs / simulate", fb["ratio"], fa["ratio"], "x", "<= 0.5")]
    gb, ga = m["big"]["before"], m["big"]["after"]
    if "error" not in ga and "error" not in gb and "error" not in yb and "error" not in ya:
        def per(d): return (d["simulate_s"] + d["tables_s"]) / d["patients"] * 1000
        rows += [(f"{ga['patients']:,} patients: simulate + tables", gb["simulate_s"] + gb["tables_s"],
                  ga["simulate_s"] + ga["tables_s"], "s", ""),
                 ("cost per patient, big / 500-referral year", _ratio(per(gb), per(yb)), _ratio(per(ga), per(ya)), "x",
                  "<= 1.2"),
                 ("peak memory, one big replication (process peak RSS)", gb["peak_rss_mb"], ga["peak_rss_mb"], "MB",
                  "<= 1000"),
                 ("  of which before the replication (imports, kernel)", gb["peak_rss_mb_before"],
                  ga["peak_rss_mb_before"], "MB", "")]
    cb, ca = m["compile"]["before"], m["compile"]["after"]
    if "error" not in ca and "error" not in cb:
        rows += [("twin run, empty NUMBA_CACHE_DIR (first run)", cb["first_run_s"], ca["first_run_s"], "s", ""),
                 ("twin run, warm cache", cb["warm_run_s"], ca["warm_run_s"], "s", ""),
                 ("first run - warm run", cb["first_run_s"] - cb["warm_run_s"], ca["first_run_s"] - ca["warm_run_s"], "s",
                  "<= 2")]
    if "workers" in m:
        w = m["workers"]
        rows.append(("twin run -r 8: 1 worker / 2 workers", float("nan"), w["speedup"], "x", ">= 1.8"))
    return rows


def _fmt(v: float) -> str:
    if v != v:  # nan
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def met(value: float, target: str) -> bool | None:
    """Whether ``value`` meets a target written as ``>= 0.5``, ``> 1`` or ``<= 2`` (None: no target)."""
    if not target or value != value:
        return None
    op, _, num = target.partition(" ")
    limit = float(num)
    return {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit}[op]


def measure(commit: str | None = None, repeat: int = 3, quick: bool = False, workers: bool = False) -> dict:
    """Every measure of both trees (``commit``: default :func:`before_commit`) and the table rows."""
    commit = commit or before_commit()
    m: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": export(commit, Path(tmp)), "after": REPO}
        for name in ("compile", "forty", "year", "mmc", "big"):
            m[name] = {}
            for tree in ("before", "after"):
                print(f"  {name} {tree} ...", flush=True)
                m[name][tree] = probe(name, trees[tree], repeat, quick)
    if workers:
        import bench_workers

        m["workers"] = bench_workers.measure(8, 2, 1 if quick else 2, ("horizon_days=120",) if quick else ())
    errors = {f"{k}.{t}": v["error"] for k, d in m.items() if isinstance(d, dict) for t, v in d.items()
              if isinstance(v, dict) and "error" in v}
    return {"before_commit": commit, "measures": m, "rows": figures(m), "errors": errors}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", default=None, metavar="COMMIT")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", action="store_true", help="also twin run -r 8 on 1 vs 2 workers (this tree)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "before_after.json")
    args = ap.parse_args(argv)
    machine = machine_info()
    print(f"after {machine['git_commit']} (working tree), {machine['cores']} cores", flush=True)
    busy = {"before": cpu_busy()}
    res = measure(args.before, args.repeat, args.quick, args.workers)
    busy["after"] = cpu_busy()
    rows = res["rows"]
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"\nbefore = {res['before_commit'][:10]}\n{'figure':<{width}}  {'before':>9}  {'after':>9}  unit        target  met")
    for fig, b, a, unit, target in rows:
        ok = met(a, target)
        print(f"{fig:<{width}}  {_fmt(b):>9}  {_fmt(a):>9}  {unit:<10}  {target:<6}  {'' if ok is None else 'yes' if ok else 'no'}")
    for k, e in res["errors"].items():
        print(f"error in {k}: {e}", file=sys.stderr)
    print(f"\ncores busy before/after the run: {busy['before']} / {busy['after']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**res, "machine": machine, "busy": busy}, indent=1, default=str))
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
