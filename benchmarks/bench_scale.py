"""Speed and scaling of one replication of the one-year centralised scenario.

Measures wall time at 500, 2,000 and 8,000 referrals a year (devices, chairs and staff scaled
with demand so utilisation stays the same), split into simulation (SimPy) and tables + KPIs
(pandas), and reports microseconds per patient so linearity can be read off directly.

    python benchmarks/bench_scale.py [--repeat 3] [--json benchmarks/results/scale.json]

Run it on an otherwise idle machine; it pins nothing and uses one core.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from machine import machine_info  # noqa: E402

from twin import __version__  # noqa: E402
from twin.model import simulate  # noqa: E402
from twin.results.collect import replication_tables  # noqa: E402
from twin.scenario.loading import scenario_from_data  # noqa: E402

BASE_PER_YEAR = 6 * 52.18  # referrals a year in scenarios/centralised.yaml


def scaled(per_year: float) -> dict:
    data = yaml.safe_load((REPO / "scenarios" / "centralised.yaml").read_text())
    data = copy.deepcopy(data)
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


def measure(per_year: int, repeat: int) -> dict:
    loaded = scenario_from_data(scaled(per_year), source=f"<bench {per_year}/yr>", base_dir=REPO / "scenarios")
    sims, tabs, n_pat, n_ev = [], [], 0, 0
    for rep in range(repeat):
        t0 = time.perf_counter()
        raw = simulate(loaded, rep)
        t1 = time.perf_counter()
        replication_tables(raw)
        t2 = time.perf_counter()
        sims.append(t1 - t0)
        tabs.append(t2 - t1)
        n_pat, n_ev = raw.n_patients, len(raw.events["time_h"])
    sim, tab = statistics.median(sims), statistics.median(tabs)
    return {
        "referrals_per_year": per_year,
        "patients": n_pat,
        "events": n_ev,
        "simulate_s": round(sim, 4),
        "tables_kpis_s": round(tab, 4),
        "total_s": round(sim + tab, 4),
        "us_per_patient": round(1e6 * (sim + tab) / max(n_pat, 1), 1),
    }


LINEAR_WITHIN = 1.5  # "linear": per-patient cost at the largest size within 1.5x of that at the smallest


def scaling(sizes: list[int], repeat: int) -> dict:
    """:func:`measure` at each size (culture kernel warmed first) and the linearity ratio.

    ``linearity`` is microseconds per patient at the largest size over that at the smallest: 1.0 is
    perfectly linear, above 1 the cost per patient grows with size.
    """
    from twin.kernel.compiled import warm_up

    warm_up(parallel=False)  # load the culture kernel from the numba cache before any clock starts
    rows = [measure(n, repeat) for n in sizes]
    lin = rows[-1]["us_per_patient"] / rows[0]["us_per_patient"]
    return {"repeat": repeat, "rows": rows, "linearity": round(lin, 3), "linear_within": LINEAR_WITHIN}


def cli_wall(per_year: int) -> float:
    """Wall seconds of ``twin run`` (one replication, imports and parquet writing included)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"bench_{per_year}.yaml"
        data = scaled(per_year)
        data["catalogue"] = str(REPO / "equipment")
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "twin.cli", "run", str(path), "-r", "1", "-q", "--out", str(Path(tmp) / "out")],
            check=True, capture_output=True,
        )
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 8000])
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "scale.json"))
    args = ap.parse_args()
    res = scaling(args.sizes, args.repeat)
    rows = res["rows"]
    print(f"celltwin {__version__}, Python {platform.python_version()}, median of {args.repeat}")
    print(f"{'referrals/yr':>12} {'patients':>9} {'events':>9} {'simulate s':>11} {'tables s':>9} {'total s':>8} {'us/patient':>11}")
    for r in rows:
        print(
            f"{r['referrals_per_year']:>12} {r['patients']:>9} {r['events']:>9} {r['simulate_s']:>11.3f} "
            f"{r['tables_kpis_s']:>9.3f} {r['total_s']:>8.3f} {r['us_per_patient']:>11.1f}"
        )
    print(f"linearity (us/patient at {rows[-1]['referrals_per_year']} over {rows[0]['referrals_per_year']}): "
          f"{res['linearity']:.2f} (target <= {LINEAR_WITHIN})")
    wall = cli_wall(500)
    print(f"twin run, 500 referrals/yr, 1 replication, whole command: {wall:.2f} s wall")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), **res, "cli_wall_s_500": round(wall, 3)}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
