"""All of celltwin's benchmarks in one command: one table, one JSON file (issue 8).

    python benchmarks/run.py [--quick] [--only mmc,scale,kernel,sweep,workers,cli] [--repeat N] [--json PATH]

Benchmarks (each a function of the script named, which also runs on its own):

* ``mmc``     bench_mmc.py: the M/M/c queue of scenarios/validation/mmc.yaml in celltwin, a minimal
              SimPy model and Ciw, patients per second (target: celltwin >= 0.5x SimPy, > Ciw)
* ``scale``   bench_scale.py: the one-year centralised scenario at 500, 2,000, 8,000 referrals a
              year (target: linear, ms per patient at the largest size <= 1.5x that at the smallest)
* ``kernel``  bench_kernel.py: the numba culture kernel vs its NumPy reference, 10,000 cultures
              (target: >= 5x)
* ``sweep``   bench_sweep.py: ``twin sweep``'s local executor vs a static two-way split of the same
              scenarios, alternated twice, best of each (target: throughput >= 0.85x the split)
* ``workers`` bench_workers.py: ``twin run -r 8`` of the one-year centralised scenario on one worker
              and on two, alternated, best of each (target: >= 1.8x, identical tables)
* ``cli``     bench_cli.py: ``twin --help`` in a fresh process (target: < 0.3 s) and which heavy
              libraries it imports (target: none of numba, pandas, plotly, dask)
* ``before_after`` bench_before_after.py: issue 20's target table, the commit before the issue-20
              work (exported with git archive) and this tree side by side, each figure as before,
              after and the issue's ratio (M/M/c vs SimPy and Ciw, the 500-referral year, the fixed
              cost of tables at ~40 patients, cost per patient at 8,000 referrals, peak memory, the
              first run after install); the longest row, 5-10 min

``--repeat N`` (default 3; 1 with ``--quick``) is the replications per M/M/c model and per scale
size (median kept) and the runs per kernel timing (best of max(N, 3) kept). ``--quick`` shrinks
every size for a smoke check of a minute or two; its figures are not the benchmark. Everything
runs in this process or its children (the sweep's worker processes, the CLI's fresh
interpreters), one after another. Results go to benchmarks/results/latest.json (not committed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from machine import cpu_busy, machine_info  # noqa: E402

NAMES = ("mmc", "scale", "kernel", "sweep", "workers", "cli", "before_after")
DEFAULT_JSON = REPO / "benchmarks" / "results" / "latest.json"
KERNEL_TARGET = 5.0  # numba >= 5x the NumPy reference (the culture-kernel work's target)

FULL = {"scale_sizes": [500, 2000, 8000], "kernel_n": 10_000, "kernel_hours": 336.0, "sweep_n": 24,
        "sweep_rounds": 2, "sweep_workers": 2, "cli_runs": 10,
        "workers_replications": 8, "workers_rounds": 2, "workers_set": []}
QUICK = {"scale_sizes": [250, 500, 1000], "kernel_n": 10_000, "kernel_hours": 48.0, "sweep_n": 4,
         "sweep_rounds": 1, "sweep_workers": 2, "cli_runs": 3,
         "workers_replications": 4, "workers_rounds": 1, "workers_set": ["horizon_days=120"]}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke check, not the benchmark")
    ap.add_argument("--only", type=_names, default=list(NAMES), metavar="NAME[,NAME]",
                    help=f"run only these ({', '.join(NAMES)})")
    ap.add_argument("--repeat", type=int, default=None, metavar="N", help="repetitions (default 3, quick 1)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH", help=f"default {DEFAULT_JSON.relative_to(REPO)}")
    return ap


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in NAMES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmark {', '.join(bad) or '(none)'}; choose from {', '.join(NAMES)}")
    return names


def _row(bench: str, measure: str, value, unit: str, target: str = "", met: bool | None = None) -> dict:  # noqa: PLR0913 (the results table's columns)
    return {"benchmark": bench, "measure": measure, "value": value, "unit": unit, "target": target,
            "met": None if met is None else ("yes" if met else "no")}


# -- each benchmark: run it, return (raw results, table rows) ------------------------------------


def bench_mmc(cfg: dict, repeat: int) -> tuple[dict, list[dict]]:
    import bench_mmc as m

    res = m.measure(repeat)
    q, ct, sp, cw = res["queue"], res["celltwin"], res["simpy"], res["ciw"]
    b = "mmc"
    tol = f"Erlang C {q['erlang_c_wait_h']:.2f} h +-{m.WAIT_TOLERANCE:.0%}"

    def wait_ok(w: float) -> bool:
        return abs(w / q["erlang_c_wait_h"] - 1) <= m.WAIT_TOLERANCE

    rows = [
        _row(b, f"queue: M/M/{q['c']}, rho {q['rho']:.2f}, {q['horizon_h']:g} h, {ct['patients']:.0f} patients",
             repeat, "repeats"),
        _row(b, "celltwin simulate", ct["patients_per_s"], "patients/s"),
        _row(b, "celltwin simulate + tables", ct["patients_per_s_with_tables"], "patients/s"),
        _row(b, "minimal SimPy", sp["patients_per_s"], "patients/s"),
        _row(b, f"Ciw {res['ciw_version']}" if cw else "Ciw", cw["patients_per_s"] if cw else "not installed",
             "patients/s" if cw else "(pip install ciw)"),
        _row(b, "celltwin / minimal SimPy", res["celltwin_vs_simpy"], "x", f">= {m.SIMPY_RATIO_TARGET}",
             res["celltwin_vs_simpy"] >= m.SIMPY_RATIO_TARGET),
        _row(b, "celltwin / Ciw", res["celltwin_vs_ciw"] if cw else "no Ciw", "x" if cw else "", "> 1",
             res["celltwin_vs_ciw"] > 1 if cw else None),
        _row(b, "celltwin events per patient", ct["events_per_patient"], "log rows"),
        _row(b, "mean wait celltwin", ct["wait_h_mean"], "h", tol, wait_ok(ct["wait_h_mean"])),
        _row(b, "mean wait minimal SimPy", sp["wait_h_mean"], "h", tol, wait_ok(sp["wait_h_mean"])),
    ]
    if cw:
        rows.append(_row(b, "mean wait Ciw", cw["wait_h_mean"], "h", tol, wait_ok(cw["wait_h_mean"])))
    return res, rows


def bench_scale(cfg: dict, repeat: int) -> tuple[dict, list[dict]]:
    import bench_scale as m

    res = m.scaling(cfg["scale_sizes"], repeat)
    rows = []
    for r in res["rows"]:
        label = f"{r['referrals_per_year']:,} referrals/yr ({r['patients']:,} patients)"
        rows.append(_row("scale", f"{label}: simulate + tables", r["total_s"], "s"))
        rows.append(_row("scale", f"{label}: per patient", r["us_per_patient"] / 1000, "ms/patient"))
    first, last = res["rows"][0]["referrals_per_year"], res["rows"][-1]["referrals_per_year"]
    rows.append(_row("scale", f"linearity: ms/patient at {last:,} / at {first:,}", res["linearity"], "x",
                     f"<= {m.LINEAR_WITHIN}", res["linearity"] <= m.LINEAR_WITHIN))
    return res, rows


def bench_kernel(cfg: dict, repeat: int) -> tuple[dict, list[dict]]:
    import bench_kernel as m

    res = m.numba_vs_numpy(cfg["kernel_n"], cfg["kernel_hours"], max(repeat, 3))
    what = f"{res['n']:,} cultures x {res['hours']:g} h"
    rows = [
        _row("kernel", f"numba, 1 thread, {what}", res["numba_ns_per_culture_hour"], "ns/culture-hour"),
        _row("kernel", f"NumPy reference, {what}", res["numpy_ns_per_culture_hour"], "ns/culture-hour"),
        _row("kernel", "speed-up numba / NumPy", res["speedup"], "x", f">= {KERNEL_TARGET:g}",
             res["speedup"] >= KERNEL_TARGET),
    ]
    return res, rows


def bench_sweep(cfg: dict, repeat: int) -> tuple[dict, list[dict]]:
    import bench_sweep as m

    n, w = cfg["sweep_n"], cfg["sweep_workers"]
    res = m.measure(n, w, m.Paths(serial=False, dask=False), rounds=cfg["sweep_rounds"])
    what = f"{n} one-year 500-referral scenarios, {w} processes"
    if cfg["sweep_rounds"] > 1:
        what += f", best of {cfg['sweep_rounds']} alternated"
    rows = [
        _row("sweep", f"twin sweep executor: {what}", n / res["local_s"], "scenarios/s"),
        _row("sweep", f"static two-way split: {what}", n / res["split_s"], "scenarios/s"),
        _row("sweep", "throughput sweep / split", res["sweep_vs_static_split"], "x", f">= {m.SPLIT_TARGET}",
             res["sweep_vs_static_split"] >= m.SPLIT_TARGET),
    ]
    return res, rows


def bench_workers(cfg: dict, repeat: int) -> tuple[dict, list[dict]]:
    import bench_workers as m

    r, rounds = cfg["workers_replications"], cfg["workers_rounds"]
    res = m.measure(r, 2, rounds, tuple(cfg["workers_set"]))
    what = f"twin run -r {r}{' --set ' + ' '.join(cfg['workers_set']) if cfg['workers_set'] else ''}, best of {rounds}"
    rows = [
        _row("workers", f"{what}: 1 worker", res["one_worker_s"], "s"),
        _row("workers", f"{what}: 2 workers", res["many_workers_s"], "s"),
        _row("workers", "cores kept busy (CPU s / wall s): 1 worker", res["one_worker_cores"], "cores"),
        _row("workers", "cores kept busy (CPU s / wall s): 2 workers", res["many_workers_cores"], "cores"),
        _row("workers", "speed-up 2 workers / 1", res["speedup"], "x", f">= {m.SPEEDUP_TARGET}",
             res["speedup"] >= m.SPEEDUP_TARGET),
        _row("workers", "kpis, batches, events identical", "yes" if res["identical_tables"] else "no", "", "yes",
             res["identical_tables"]),
    ]
    return res, rows


def bench_cli(cfg: dict, repeat: int) -> tuple[dict, list[dict]]:
    import bench_cli as m

    res = m.measure(cfg["cli_runs"])
    h, p, runs = res["twin_help"], res["python_pass"], cfg["cli_runs"]
    heavy = res["heavy_imported"]
    rows = [
        _row("cli", f"twin --help, min of {runs}", h["min_s"], "s", f"< {m.HELP_TARGET_S}", h["min_s"] < m.HELP_TARGET_S),
        _row("cli", f"twin --help, median of {runs}", h["median_s"], "s"),
        _row("cli", f"python -c pass, min of {runs} (reference)", p["min_s"], "s"),
        _row("cli", f"imported by twin --help of {', '.join(m.HEAVY)}", ", ".join(heavy) or "none", "", "none",
             not heavy),
    ]
    return res, rows


def bench_before_after(cfg: dict, repeat: int) -> tuple[dict, list[dict]]:
    import bench_before_after as m

    res = m.measure(repeat=repeat, quick=cfg is QUICK)
    rows = []
    for fig, before, after, unit, target in res["rows"]:
        rows.append(_row("before_after", f"{fig} (before {_fmt(before) if before == before else '-'})", after, unit,
                         target, m.met(after, target)))
    for k, e in res["errors"].items():
        rows.append(_row("before_after", f"error in {k}", e[:80], "", "", False))
    return res, rows


BENCHES = {"before_after": bench_before_after, "mmc": bench_mmc, "scale": bench_scale, "kernel": bench_kernel, "sweep": bench_sweep, "workers": bench_workers,
           "cli": bench_cli}


# -- table -----------------------------------------------------------------------------------------


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


def table(rows: list[dict]) -> str:
    cols = ("benchmark", "measure", "value", "unit", "target", "met")
    cells = [[r["benchmark"], r["measure"], _fmt(r["value"]), r["unit"], r["target"], r["met"] or ""] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
    right = {2}
    line = "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))
    out = [line, "-" * len(line)]
    for row in cells:
        out.append("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(s.rstrip() for s in out)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = QUICK if args.quick else FULL
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    machine = machine_info()
    print(f"celltwin {machine['celltwin']} ({machine['git_commit']}) on {machine['cpu']}, {machine['cores']} cores, "
          f"Python {machine['python']}; {'quick' if args.quick else 'full'} run, repeat {repeat}", flush=True)
    busy = {"before": cpu_busy()}
    rows: list[dict] = []
    results: dict = {}
    seconds: dict = {}
    for name in [n for n in NAMES if n in args.only]:
        print(f"  {name} ...", end="", flush=True)
        t0 = time.perf_counter()
        try:
            results[name], new = BENCHES[name](cfg, repeat)
        except Exception as exc:  # one broken benchmark does not lose the others' figures
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            new = [_row(name, "error", f"{type(exc).__name__}: {exc}"[:80], "", "", False)]
        seconds[name] = time.perf_counter() - t0
        rows.extend(new)
        print(f" {seconds[name]:.0f} s", flush=True)
    busy["after"] = cpu_busy()
    print()
    print(table(rows))
    shown = [f"{b:.0%}" if b is not None else "?" for b in (busy["before"], busy["after"])]
    print(f"\nother load (cores busy in the second before / after): {shown[0]} / {shown[1]}"
          + ("  (!) the machine was busy: figures are noisy" if max(b or 0 for b in busy.values()) > 0.1 else ""))
    missed = [f"{r['benchmark']}: {r['measure']}" for r in rows if r["met"] == "no"]
    print(f"targets met: {sum(r['met'] == 'yes' for r in rows)} of {sum(r['met'] is not None for r in rows)}"
          + (f"; missed: {'; '.join(missed)}" if missed else ""))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": {**machine, "cpu_busy": busy}, "quick": args.quick, "repeat": repeat, "config": cfg,
        "seconds": seconds, "rows": rows, "results": results,
    }, indent=2, default=str))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
