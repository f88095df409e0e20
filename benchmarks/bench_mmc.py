"""celltwin against a minimal SimPy model and Ciw on the same M/M/c queue, in patients per second.

The queue is scenarios/validation/mmc.yaml (c = 3 Prodigy units, exponential service of mean 10 h,
Poisson referrals at 0.21 an hour, so rho = 0.7; 1,000 days, 50 days' warm-up). Its parameters
are read from that file, so the three models always run the same queue:

* ``celltwin``: :func:`twin.model.simulate` on the loaded scenario (simulation only), and
  separately simulate + :func:`twin.results.collect.replication_tables` (the event log to tables and KPIs).
  celltwin still walks each patient through every step of the journey (referral, apheresis,
  couriers, receipt, the one recipe step, cryopreservation, storage, QC, release, infusion), all
  of zero length but each logged; ``events per patient`` says how many rows that is.
* ``simpy``: the smallest SimPy model of the queue: one ``Resource(c)``, a source process and a
  process per patient, exponential draws from a NumPy generator.
* ``ciw``: the same queue in Ciw (one node, c servers).

Patients per second = patients arriving in the horizon / wall seconds of one replication (median
over ``--repeat`` replications with different seeds). Mean waits (hours, requests made after the
warm-up) are given for all three next to Erlang C, so the reader can see the same queue ran.

Targets (issue 8): celltwin at least 0.5x the minimal SimPy model, and faster than Ciw.

    python benchmarks/bench_mmc.py [--repeat 3] [--json benchmarks/results/mmc.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from machine import machine_info  # noqa: E402

SCENARIO = REPO / "scenarios" / "validation" / "mmc.yaml"
SIMPY_RATIO_TARGET = 0.5  # celltwin patients/s over the minimal SimPy model's
WAIT_TOLERANCE = 0.3  # "agree roughly": each model's mean wait within 30% of Erlang C


def queue_parameters(path: Path = SCENARIO) -> dict:
    """c, mean service (h), arrival rate (/h), horizon and warm-up (h) as the scenario file states them."""
    d = yaml.safe_load(path.read_text())
    factory = next(s for s in d["sites"].values() if s["kind"] == "factory")
    step = d["recipe"][0]
    assert len(d["recipe"]) == 1 and step["duration_h"]["dist"] == "exponential", "mmc.yaml is not one exponential step"
    q = {
        "c": int(factory["devices"][step["device"]]["count"]),
        "mean_service_h": float(step["duration_h"]["mean"]),
        "lambda_per_h": float(d["referrals"]["rate_per_week"]) / 168.0,
        "horizon_h": float(d["horizon_days"]) * 24.0,
        "warmup_h": float(d.get("warmup_days", 0)) * 24.0,
        "pool": step["device"],
        "site": next(k for k, s in d["sites"].items() if s["kind"] == "factory"),
    }
    a = q["lambda_per_h"] * q["mean_service_h"]
    q["rho"] = a / q["c"]
    q["erlang_c_wait_h"] = erlang_c(q["c"], a) / (q["c"] / q["mean_service_h"] - q["lambda_per_h"])
    return q


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``a``."""
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


# -- the three models: each returns (patients arrived, mean wait after warm-up in h) -------------


def simpy_mmc(q: dict, seed: int) -> tuple[int, float]:
    import simpy

    g = np.random.default_rng(seed)
    c, mean, lam, horizon, warmup = q["c"], q["mean_service_h"], q["lambda_per_h"], q["horizon_h"], q["warmup_h"]
    env = simpy.Environment()
    server = simpy.Resource(env, c)
    waits: list[float] = []
    arrived = 0

    def patient(t0: float):
        with server.request() as req:
            yield req
            if t0 >= warmup:
                waits.append(env.now - t0)
            yield env.timeout(g.exponential(mean))

    def source():
        nonlocal arrived
        while True:
            yield env.timeout(g.exponential(1.0 / lam))
            arrived += 1
            env.process(patient(env.now))

    env.process(source())
    env.run(until=horizon)
    return arrived, float(np.mean(waits))


def ciw_mmc(q: dict, seed: int) -> tuple[int, float]:
    import ciw

    ciw.seed(seed)
    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(q["lambda_per_h"])],
        service_distributions=[ciw.dists.Exponential(1.0 / q["mean_service_h"])],
        number_of_servers=[q["c"]],
    )
    sim = ciw.Simulation(net)
    sim.simulate_until_max_time(q["horizon_h"])
    waits = [r.waiting_time for r in sim.get_all_records() if r.arrival_date >= q["warmup_h"]]
    return int(sim.nodes[0].number_of_individuals), float(np.mean(waits))


def ciw_version() -> str | None:
    try:
        import ciw
    except ImportError:
        return None
    return ciw.__version__


def _median_run(fn, q: dict, repeat: int) -> dict:
    fn(q, 10_000)  # warm: imports, first-call costs
    secs, pats, waits = [], [], []
    for seed in range(repeat):
        t0 = time.perf_counter()
        n, w = fn(q, seed)
        secs.append(time.perf_counter() - t0)
        pats.append(n)
        waits.append(w)
    s = statistics.median(secs)
    return {"seconds": s, "patients": statistics.mean(pats), "patients_per_s": statistics.mean(pats) / s,
            "wait_h_mean": statistics.mean(waits)}


def celltwin_mmc(q: dict, repeat: int) -> dict:
    from twin.kernel.compiled import warm_up
    from twin.model import simulate
    from twin.results.collect import replication_tables
    from twin.scenario.loading import load_scenario

    warm_up(parallel=False)  # the culture kernel from the numba cache, before any clock starts
    loaded = load_scenario(SCENARIO)
    simulate(loaded, 10_000)  # warm: first-call costs
    sims, tabs, pats, events, waits = [], [], [], [], []
    key = f"wait_h_mean.device.{q['site']}.{q['pool']}"
    for rep in range(repeat):
        t0 = time.perf_counter()
        raw = simulate(loaded, rep)
        t1 = time.perf_counter()
        tables = replication_tables(raw)
        t2 = time.perf_counter()
        sims.append(t1 - t0)
        tabs.append(t2 - t1)
        pats.append(raw.n_patients)
        events.append(len(raw.events["time_h"]))
        waits.append(float(tables.kpis[key]))
    sim, tab, n = statistics.median(sims), statistics.median(tabs), statistics.mean(pats)
    return {"simulate_s": sim, "tables_s": tab, "patients": n, "patients_per_s": n / sim,
            "patients_per_s_with_tables": n / (sim + tab), "events_per_patient": sum(events) / sum(pats),
            "wait_h_mean": statistics.mean(waits)}


def measure(repeat: int = 3) -> dict:
    """All three models on the mmc.yaml queue; ``ciw`` is None (with ``ciw_missing``) where Ciw is not installed."""
    q = queue_parameters()
    res = {"queue": q, "repeat": repeat, "celltwin": celltwin_mmc(q, repeat), "simpy": _median_run(simpy_mmc, q, repeat)}
    res["ciw_version"] = ciw_version()
    res["ciw"] = _median_run(ciw_mmc, q, repeat) if res["ciw_version"] else None
    ct = res["celltwin"]["patients_per_s"]
    res["celltwin_vs_simpy"] = ct / res["simpy"]["patients_per_s"]
    res["celltwin_vs_ciw"] = ct / res["ciw"]["patients_per_s"] if res["ciw"] else None
    models = [m for m in ("celltwin", "simpy", "ciw") if res[m]]
    res["waits_agree"] = all(abs(res[m]["wait_h_mean"] / q["erlang_c_wait_h"] - 1) <= WAIT_TOLERANCE for m in models)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="replications per model (median seconds)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "mmc.json")
    args = ap.parse_args()
    res = measure(args.repeat)
    q = res["queue"]
    print(f"M/M/{q['c']}, rho {q['rho']:.2f}, {q['horizon_h']:g} h; Erlang C mean wait {q['erlang_c_wait_h']:.2f} h; "
          f"median of {args.repeat}")
    print(f"{'model':<24}{'patients/s':>12}{'mean wait h':>13}")
    ct = res["celltwin"]
    print(f"{'celltwin simulate':<24}{ct['patients_per_s']:>12,.0f}{ct['wait_h_mean']:>13.2f}")
    print(f"{'celltwin + tables':<24}{ct['patients_per_s_with_tables']:>12,.0f}")
    print(f"{'simpy (minimal)':<24}{res['simpy']['patients_per_s']:>12,.0f}{res['simpy']['wait_h_mean']:>13.2f}")
    if res["ciw"]:
        print(f"{'ciw ' + res['ciw_version']:<24}{res['ciw']['patients_per_s']:>12,.0f}{res['ciw']['wait_h_mean']:>13.2f}")
    else:
        print(f"{'ciw':<24}{'not installed (pip install ciw)':>25}")
    print(f"celltwin events per patient: {ct['events_per_patient']:.1f}")
    print(f"celltwin / simpy: {res['celltwin_vs_simpy']:.2f}x (target >= {SIMPY_RATIO_TARGET})"
          + (f";  celltwin / ciw: {res['celltwin_vs_ciw']:.2f}x (target > 1)" if res["ciw"] else ""))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine_info(), **res}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
