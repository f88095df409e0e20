"""Speed of the culture kernel (twin.kernel): nanoseconds per culture-hour, and compile time.

    python benchmarks/bench_kernel.py [--n 10000] [--hours 336] [--repeat 5] [--json PATH]

Variants, each at 100, 1,000 and ``--n`` cultures advanced ``--hours`` hours (sub-step dt = 1 h):

* ``numba``            :func:`twin.kernel.compiled.advance`, one call for all hours, one thread
* ``numba_parallel``   :func:`twin.kernel.compiled.advance_parallel` with ``numba.set_num_threads(all cores)``
                       (below ``PARALLEL_MIN`` cultures it runs serially by design)
* ``numpy``            :func:`twin.kernel.reference.advance_numpy`, the plain NumPy reference
* ``python``           :func:`twin.kernel.reference.advance_python`, measured on at most 100 cultures x 24 h and
                       scaled per culture-hour (it is linear in both; the table says so)
* ``*_hourly``         the same kernels called once per hour (``--hours`` calls of 1 h), which is how
                       the simulation ticks: adds per-call costs (dispatch, input checks)
* ``roofline``         an arithmetic-bound numba loop with the kernel's transcendental count (three
                       exp/expm1 per culture-hour, the kernel's own vectorisable exp), no branches, one
                       array read and one written, blocked like the kernel: how far the kernel is from
                       "only the exponentials"
* ``roofline_libm``    the same with ``math.exp``/``math.expm1`` (scalar libm calls; numba here has no
                       vector math library): why the kernel carries its own exp

Workload (fixed seed): 5e7 viable + 5e6 dead cells, lognormal growth rate around ln2/62.4 h, lag
12-48 h, capacity 1e10, 1 % contaminated; 10 % of cultures without power (and feed), another ~10 %
without CO2, so the excursion terms are exercised. Each timing is the best of ``--repeat`` runs on
fresh copies of the state.

Compile time: ``import twin.kernel.compiled`` plus the first call of each kernel, timed in a fresh
subprocess with an empty ``NUMBA_CACHE_DIR`` (compiles) and again in a second fresh subprocess
with that cache now warm (loads).

Run it on an otherwise idle machine: the share of cores busy in the second before and after the
timings is printed (and flagged above 10 %); the parallel figures mean nothing when another
process holds a core.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numba  # noqa: E402
from machine import cpu_busy, cpu_name  # noqa: E402
from numba import njit  # noqa: E402

from twin import __version__  # noqa: E402
from twin.kernel import compiled, params, reference  # noqa: E402

PY_MAX_CULTURES = 100
PY_MAX_HOURS = 24.0


def workload(n: int, seed: int = 20261125) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """State (a dict, copied per run) and read-only parameter + environment arrays."""
    g = np.random.default_rng(seed)
    state = {
        "cells": np.full(n, 5e7), "dead": np.full(n, 5e6),
        "contam": np.where(g.random(n) < 0.01, 1.0, 0.0), "age_h": np.zeros(n),
        "temp_c": np.full(n, 37.0), "co2_pct": np.full(n, 5.0), "stress_h": np.zeros(n),
    }
    powered = (g.random(n) >= 0.1).astype(np.uint8)
    fixed = [
        math.log(2) / 62.4 * g.lognormal(0.0, 0.25, n),  # mu_per_h
        g.uniform(12.0, 48.0, n),  # lag_h
        np.full(n, 1e10),  # capacity_cells
        g.uniform(0.5, 6.0, n),  # doubling_contam_h
        powered,
        (g.random(n) >= 0.1).astype(np.uint8),  # co2_supply
        powered.copy(),  # perfused (no feed without power)
    ]
    return state, fixed


@dataclass(frozen=True)
class Runs:
    """How a timing is repeated: each run is ``calls`` calls; at least ``repeat`` runs, more (up
    to 200) until ``min_total_s`` seconds are spent."""

    calls: int = 1
    repeat: int = 3
    min_total_s: float = 0.2


def best_time(fn, n: int, hours: float, runs: Runs) -> float:
    """Best wall time (s) of one run = ``runs.calls`` calls of ``fn(hours/calls, ...)`` on fresh
    state of ``n`` cultures."""
    state0, fixed = workload(n)
    p = params.KernelParams().as_array()
    calls, repeat, min_total_s = runs.calls, runs.repeat, runs.min_total_s
    step = hours / calls
    times: list[float] = []
    spent = 0.0
    while len(times) < repeat or (spent < min_total_s and len(times) < 200):
        st = {k: v.copy() for k, v in state0.items()}
        args = (*st.values(), *fixed, p)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(step, *args)
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return min(times)


def numba_vs_numpy(n: int = 10_000, hours: float = 336.0, repeat: int = 5) -> dict:
    """The kernel (:func:`twin.kernel.compiled.advance`, one thread) against its NumPy reference at ``n`` cultures.

    One call advancing ``hours`` hours, as in the ``numba`` and ``numpy`` rows of :func:`main`.
    """
    compiled.warm_up(parallel=False)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        ch = n * hours
        nb = best_time(compiled.advance, n, hours, Runs(1, repeat)) / ch * 1e9
        npy = best_time(reference.advance_numpy, n, hours, Runs(1, max(1, repeat // 2), 0.0)) / ch * 1e9
    finally:
        numba.set_num_threads(threads)
    return {"n": n, "hours": hours, "numba_ns_per_culture_hour": nb, "numpy_ns_per_culture_hour": npy,
            "speedup": npy / nb}


# -- roofline loops ------------------------------------------------------------------------------


@njit(error_model="numpy", fastmath={"contract"})
def _roof_block(x, acc, hours, k, h):
    for _ in range(hours):
        for i in range(x.size):
            g = compiled._vexp(-k * x[i])
            e = compiled._vexpm1(-g * h * 0.011)
            d = compiled._vexpm1(-(0.0005 + 0.01 * x[i]) * h)
            acc[i] = acc[i] * (1.0 + e) + d


@njit(error_model="numpy", fastmath={"contract"})
def roofline(x, acc, hours):
    for lo in range(0, x.size, compiled.BLOCK):
        hi = min(x.size, lo + compiled.BLOCK)
        _roof_block(x[lo:hi], acc[lo:hi], hours, 1.0, 1.0)


@njit(error_model="numpy", fastmath={"contract"})
def _roof_block_libm(x, acc, hours, k, h):
    for _ in range(hours):
        for i in range(x.size):
            g = math.exp(-k * x[i])
            e = math.expm1(-g * h * 0.011)
            d = math.expm1(-(0.0005 + 0.01 * x[i]) * h)
            acc[i] = acc[i] * (1.0 + e) + d


@njit(error_model="numpy", fastmath={"contract"})
def roofline_libm(x, acc, hours):
    for lo in range(0, x.size, compiled.BLOCK):
        hi = min(x.size, lo + compiled.BLOCK)
        _roof_block_libm(x[lo:hi], acc[lo:hi], hours, 1.0, 1.0)


def roof_time(fn, n: int, hours: int, repeat: int) -> float:
    x = np.random.default_rng(1).uniform(0.0, 3.0, n) * (np.arange(n) % 5 == 0)  # mostly 0, like the excursion
    acc = np.zeros(n)
    fn(x, acc, 1)
    times = []
    for _ in range(max(repeat, 3)):
        acc[:] = 0.0
        t0 = time.perf_counter()
        fn(x, acc, hours)
        times.append(time.perf_counter() - t0)
    return min(times)


# -- compile time ---------------------------------------------------------------------------------

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
import numpy as np
from twin.kernel import compiled, params, reference
t1 = time.perf_counter()
f = np.ones(4); u = np.ones(4, dtype=np.uint8); p = params.KernelParams().as_array()
def call(kernel):
    s = time.perf_counter()
    kernel(1.0, f.copy(), f.copy(), f.copy(), f.copy(), f * 37.0, f * 5.0, f.copy(), f.copy(), f.copy(),
           f * 10.0, f.copy(), u, u, u, p)
    return time.perf_counter() - s
out = {{"import_s": t1 - t0, "advance_first_call_s": call(compiled.advance)}}
out["import_plus_first_call_s"] = time.perf_counter() - t0
out["advance_parallel_first_call_s"] = call(compiled.advance_parallel)
s = time.perf_counter(); bio.flags(f, f, f, f, 0.7, 1.0); out["flags_first_call_s"] = time.perf_counter() - s
print(json.dumps(out))
"""


def compile_times() -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        res = {}
        for label in ("cold_cache", "warm_cache"):
            proc = subprocess.run([sys.executable, "-c", _PROBE.format(repo=str(REPO))], env=env, capture_output=True,
                                  text=True, check=True)
            res[label] = json.loads(proc.stdout.strip().splitlines()[-1])
        return res


def layer() -> str:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run
        return "not started"


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="largest number of cultures (default 10,000)")
    ap.add_argument("--hours", type=float, default=336.0, help="hours advanced per run (default 336 = 14 days)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per timing; the best is kept")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--no-compile", action="store_true", help="skip the compile-time subprocesses")
    args = ap.parse_args(argv)

    threads = numba.config.NUMBA_NUM_THREADS
    busy_before = cpu_busy()
    compiled.warm_up()
    roofline(np.zeros(1), np.zeros(1), 1)
    roofline_libm(np.zeros(1), np.zeros(1), 1)

    sizes = sorted({100, 1_000, args.n})
    hours = args.hours
    calls_hourly = max(1, int(round(hours)))
    rows: list[dict] = []

    def add(variant: str, n: int, seconds: float, culture_hours: float, note: str = "") -> None:
        rows.append({"variant": variant, "n": n, "ns_per_culture_hour": seconds / culture_hours * 1e9, "note": note})

    for n in sizes:
        ch = n * hours
        numba.set_num_threads(1)
        add("numba", n, best_time(compiled.advance, n, hours, Runs(1, args.repeat)), ch)
        add("numba_hourly", n, best_time(compiled.advance, n, hours, Runs(calls_hourly, max(2, args.repeat // 2))),
            ch)
        numba.set_num_threads(threads)
        note = f"{threads} threads; below {compiled.PARALLEL_MIN:,} cultures (PARALLEL_MIN) it runs serially"
        add("numba_parallel", n, best_time(compiled.advance_parallel, n, hours, Runs(1, args.repeat)), ch, note)
        add("numba_parallel_hourly", n, best_time(compiled.advance_parallel, n, hours,
                                                  Runs(calls_hourly, max(2, args.repeat // 2))), ch, note)
        numba.set_num_threads(1)
        add("numpy", n, best_time(reference.advance_numpy, n, hours, Runs(1, max(1, args.repeat // 2), 0.0)), ch)
        add("numpy_hourly", n, best_time(reference.advance_numpy, n, hours, Runs(calls_hourly, 1, 0.0)), ch)
        pn, ph = min(n, PY_MAX_CULTURES), min(hours, PY_MAX_HOURS)
        add("python", n, best_time(reference.advance_python, pn, ph, Runs(1, 1, 0.0)), pn * ph,
            f"measured on {pn} cultures x {ph:g} h, scaled per culture-hour")
        hr = int(round(hours))
        add("roofline", n, roof_time(roofline, n, hr, args.repeat), n * hr, "3 vector exp per culture-hour")
        add("roofline_libm", n, roof_time(roofline_libm, n, hr, max(1, args.repeat // 2)), n * hr,
            "3 libm exp per culture-hour")
    busy_after = cpu_busy()

    table = {(r["variant"], r["n"]): r["ns_per_culture_hour"] for r in rows}
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    print(f"celltwin {__version__}  numba {numba.__version__}  numpy {np.__version__}  python {platform.python_version()}")
    print(f"cpu: {cpu_name()}  cores: {os.cpu_count()}  numba threads: {threads}  threading layer: {layer()}")
    shown = [f"{b:.0%}" if b is not None else "?" for b in (busy_before, busy_after)]
    print(f"other load (cores busy in the second before / after the timings): {shown[0]} / {shown[1]}"
          + ("   (!) machine busy: parallel and small timings are unreliable"
             if max(b or 0.0 for b in (busy_before, busy_after)) > 0.1 else ""))
    print(f"\nns per culture-hour ({hours:g} h per run; *_hourly: {calls_hourly} calls of {hours / calls_hourly:g} h)")
    header = f"{'variant':<24}" + "".join(f"{n:>12,}" for n in sizes)
    print(header)
    print("-" * len(header))
    for v in variants:
        print(f"{v:<24}" + "".join(f"{table[(v, n)]:>12.2f}" for n in sizes))
    notes = {r["variant"]: r["note"] for r in rows if r["note"]}
    for v, note in notes.items():
        print(f"  {v}: {note}")

    summary = {}
    print("\nratios")
    for n in sizes:
        s = {
            "numba_vs_python": table[("python", n)] / table[("numba", n)],
            "numba_vs_numpy": table[("numpy", n)] / table[("numba", n)],
            "numba_hourly_vs_numpy_hourly": table[("numpy_hourly", n)] / table[("numba_hourly", n)],
            "parallel_vs_serial": table[("numba", n)] / table[("numba_parallel", n)],
            "numba_over_roofline": table[("numba", n)] / table[("roofline", n)],
            "roofline_libm_over_roofline": table[("roofline_libm", n)] / table[("roofline", n)],
        }
        summary[n] = s
        print(f"  n={n:>6,}: " + ", ".join(f"{k} {v:.1f}x" for k, v in s.items()))
    big = summary[args.n]
    print(f"\ntargets at n={args.n:,}: numba >= 100x pure Python: {big['numba_vs_python']:.0f}x "
          f"{'OK' if big['numba_vs_python'] >= 100 else 'MISSED'};  numba >= 5x NumPy: {big['numba_vs_numpy']:.1f}x "
          f"{'OK' if big['numba_vs_numpy'] >= 5 else 'MISSED'}")

    compile_res = None
    if not args.no_compile:
        compile_res = compile_times()
        print("\ncompile (fresh subprocess; cold = empty NUMBA_CACHE_DIR, warm = same cache, second process), s")
        keys = list(compile_res["cold_cache"])
        print(f"{'':<32}{'cold':>10}{'warm':>10}")
        for k in keys:
            print(f"{k:<32}{compile_res['cold_cache'][k]:>10.2f}{compile_res['warm_cache'][k]:>10.2f}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "celltwin": __version__, "numba": numba.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "cores": os.cpu_count(), "numba_threads": threads,
            "cpu": cpu_name(), "threading_layer": layer(), "hours": hours, "cpu_busy_before": busy_before,
            "cpu_busy_after": busy_after, "rows": rows, "ratios": {str(k): v for k, v in summary.items()},
            "compile_s": compile_res,
        }, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
