"""Speed of multi-year runs with growing demand (issue 21): the centralised scenario at 40% a
year growth from today's 6 referrals a week, over 1, 3 and 5 years with yearly KPIs.

Capacity (devices, chairs, staff) is scaled once to the demand at the end of year five, so every
horizon runs the same facility and utilisation stays below saturation; the figure is the cost per
patient (simulation, and tables + KPIs with the per-period KPIs) at each horizon, and the
linearity ratio (per-patient cost of the five-year run over that of the one-year run).

    python benchmarks/bench_growth.py [--repeat 1] [--json benchmarks/results/growth.json]

Run it on an otherwise idle machine; it uses one core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_scale import BASE_PER_YEAR, scaled  # noqa: E402
from machine import machine_info  # noqa: E402

from twin.model import simulate  # noqa: E402
from twin.results.collect import replication_tables  # noqa: E402
from twin.scenario.loading import scenario_from_data  # noqa: E402

GROWTH = 0.4  # a year: the planning question ("demand grows 40% a year"), an assumption
YEARS = (1, 3, 5)
LINEAR_WITHIN = 1.5  # as bench_scale: per-patient cost at the largest size within 1.5x of the smallest


def growing(years: int) -> dict:
    """The centralised scenario with capacity for year five's demand, growing at GROWTH from 6 a week."""
    data = scaled(BASE_PER_YEAR * (1 + GROWTH) ** max(YEARS))
    data["referrals"] = {"rate_per_week": 6, "growth_per_year": GROWTH}
    data["horizon_days"], data["periods"] = 365 * years, "year"
    return data


def measure(years: int, repeat: int) -> dict:
    loaded = scenario_from_data(growing(years), source=f"<bench {years} y>", base_dir=REPO / "scenarios")
    sims, tabs, n_pat, k = [], [], 0, {}
    for rep in range(repeat):
        t0 = time.perf_counter()
        raw = simulate(loaded, rep)
        t1 = time.perf_counter()
        k = replication_tables(raw).kpis
        sims.append(t1 - t0)
        tabs.append(time.perf_counter() - t1)
        n_pat = raw.n_patients
    sim, tab = statistics.median(sims), statistics.median(tabs)
    last = max(p for p in (name.partition("@")[2] for name in k) if p)
    return {"years": years, "patients": n_pat, "simulate_s": round(sim, 3), "tables_kpis_s": round(tab, 3),
            "us_per_patient": round(1e6 * (sim + tab) / max(n_pat, 1), 1),
            "referral_rate_per_week@last": round(k[f"referral_rate_per_week@{last}"], 2),
            "utilisation_prodigy@last": round(k[f"utilisation.device.central_factory.clinimacs_prodigy@{last}"], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from twin.kernel.compiled import warm_up

    warm_up(parallel=False)
    rows = [measure(y, args.repeat) for y in YEARS]
    for r in rows:
        print("  ".join(f"{k}={v}" for k, v in r.items()))
    lin = rows[-1]["us_per_patient"] / rows[0]["us_per_patient"]
    print(f"linearity (us/patient at {YEARS[-1]} y / at {YEARS[0]} y): {lin:.2f} (target <= {LINEAR_WITHIN})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine_info(), "rows": rows, "linearity": round(lin, 3)}, indent=1))


if __name__ == "__main__":
    main()
