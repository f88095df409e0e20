"""What the facility's failure mechanisms cost in run time.

One replication of the one-year centralised scenario at 500 referrals a year, twice:

* ``plain``: devices that never break, need no maintenance or changeover, staff on duty around
  the clock, no tubing connections, no outages;
* ``every mechanism``: the bundled facility (shifts, a weekend crew, absence, turnover,
  changeover, breakdowns, maintenance, sterile welds, connectors and open transfers) plus
  stochastic outages of every kind at realistic rates: grid 4/yr, CO2 1/yr, compressed air
  1/yr, LN2 deliveries 1/yr, HVAC 1/yr, IT 1/yr, a Prodigy 2/yr, operators 2/yr.

The issue's target: under 5 s for the one-year 500-referral scenario with every mechanism.

    python benchmarks/bench_operations.py [--repeat 5] [--json benchmarks/results/operations.json]
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

from bench_scale import scaled  # noqa: E402
from machine import machine_info  # noqa: E402

from twin import __version__  # noqa: E402
from twin.model import simulate  # noqa: E402
from twin.results.collect import replication_tables  # noqa: E402
from twin.scenario.loading import scenario_from_data  # noqa: E402

PER_YEAR = 500
F = "central_factory"


def plain() -> dict:
    d = scaled(PER_YEAR)
    for site in d["sites"].values():
        for pool in site.get("devices", {}).values():
            pool["override"] = {"failure": None, "maintenance": None, "changeover_h": None}
        for role, spec in site.get("staff", {}).items():
            if isinstance(spec, dict):
                site["staff"][role] = spec["count"]
    d.pop("shifts", None)
    for st in d["recipe"]:
        st.pop("transfer", None)
        st.pop("staff_wait_limit_h", None)
    return d


def every_mechanism() -> dict:
    d = scaled(PER_YEAR)
    d["outages"] = [
        {"name": "grid", "what": "power", "site": F, "rate_per_year": 4,
         "duration_h": {"dist": "lognormal", "mean": 2, "sd": 3}},
        {"name": "co2", "what": "co2", "site": F, "rate_per_year": 1, "duration_h": {"dist": "exponential", "mean": 48}},
        {"name": "air", "what": "compressed_air", "site": F, "rate_per_year": 1, "duration_h": 8},
        {"name": "ln2", "what": "ln2", "site": F, "rate_per_year": 1, "duration_h": 96},
        {"name": "ahu", "what": "hvac", "site": F, "rate_per_year": 1, "duration_h": 6},
        {"name": "mes", "what": "it", "site": F, "rate_per_year": 1, "duration_h": 12},
        {"name": "prodigy", "what": "device", "site": F, "pool": "clinimacs_prodigy", "units": 1,
         "rate_per_year": 2, "duration_h": 72},
        {"name": "sick", "what": "staff", "site": F, "role": "operator", "units": 1, "rate_per_year": 2,
         "duration_h": 120},
    ]
    return d


def measure(data: dict, repeat: int) -> dict:
    loaded = scenario_from_data(data, source="<bench>", base_dir=REPO / "scenarios")
    sims, tabs = [], []
    for rep in range(repeat):
        t0 = time.perf_counter()
        raw = simulate(loaded, rep)
        t1 = time.perf_counter()
        t = replication_tables(raw)
        t2 = time.perf_counter()
        sims.append(t1 - t0)
        tabs.append(t2 - t1)
    return {"patients": raw.n_patients, "events": len(raw.events["time_h"]), "outages": len(t.outages),
            "simulate_s": round(statistics.median(sims), 3), "tables_kpis_s": round(statistics.median(tabs), 3),
            "total_s": round(statistics.median(sims) + statistics.median(tabs), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "operations.json")
    args = ap.parse_args()
    from twin.kernel.compiled import warm_up

    warm_up(parallel=False)  # load the culture kernel from the numba cache before any clock starts
    rows = {"plain": measure(plain(), args.repeat), "every mechanism": measure(every_mechanism(), args.repeat)}
    print(f"celltwin {__version__} · one replication, one year, {PER_YEAR} referrals/yr · median of {args.repeat}")
    print(f"{'variant':>16} {'patients':>9} {'events':>8} {'outages':>8} {'simulate s':>11} {'tables s':>9} {'total s':>8}")
    for name, r in rows.items():
        print(f"{name:>16} {r['patients']:>9} {r['events']:>8} {r['outages']:>8} {r['simulate_s']:>11} "
              f"{r['tables_kpis_s']:>9} {r['total_s']:>8}")
    out = {"machine": machine_info(), "per_year": PER_YEAR, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
