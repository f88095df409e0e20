"""Shared pieces of the queueing validation (test_queueing.py, test_ciw.py): the theory (Erlang C),
confidence intervals, and the replications of the two bundled validation scenarios in celltwin
and of the same queues in Ciw.

The celltwin runs are cached per process, so the M/M/3 replications that test_queueing.py checks
against Erlang C are the same ones test_ciw.py compares with Ciw (the suite pays for them once).
Every run is seeded: celltwin by the scenario seed and the replication number, Ciw by
``CIW_SEED + replication``; the figures are the same on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from twin.model import simulate
from twin.results.collect import replication_tables
from twin.results.stats import t_quantile_975
from twin.results.tables import events_table
from twin.scenario.loading import load_scenario

VALIDATION = Path(__file__).resolve().parents[2] / "scenarios" / "validation"
MMC = VALIDATION / "mmc.yaml"
TANDEM = VALIDATION / "tandem_shift.yaml"
MEAN_SERVICE_H = 10.0  # mmc.yaml: the Prodigy step is exponential with mean 10 h
MMC_WARMUP_DAYS = 50  # mmc.yaml's warm-up
CIW_SEED = 1000  # Ciw replication r is seeded with CIW_SEED + r (independent of celltwin's streams)

# tandem_shift.yaml, in Ciw's terms
TANDEM_LAMBDA = 0.2  # referrals an hour (33.6 a week)
TANDEM_MEANS_H = (4.0, 1.5)  # station 1 (2 Prodigies), station 2 (2 cell washers)
TANDEM_SHIFT = (8.0, 16.0)  # station 2 starts work only from 08:00 to 16:00, every day
TANDEM_WARMUP_H, TANDEM_HORIZON_H = 20 * 24.0, 400 * 24.0


# -- theory and statistics -----------------------------------------------------------------------


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``a`` (< c)."""
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


def erlang_wq(c: int, lam: float, mean_service: float) -> float:
    """Mean wait in queue of an M/M/c queue (hours): C(c, a) / (c mu - lambda)."""
    return erlang_c(c, lam * mean_service) / (c / mean_service - lam)


@dataclass(frozen=True)
class CI:
    """Mean and Student-t 95% confidence interval over independent replications."""

    mean: float
    lo: float
    hi: float
    n: int

    def __contains__(self, x: float) -> bool:
        return self.lo <= x <= self.hi

    def __str__(self) -> str:
        return f"{self.mean:.4g} [{self.lo:.4g}, {self.hi:.4g}]"


def ci(values) -> CI:
    v = np.asarray(values, dtype=float)
    half = t_quantile_975(len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return CI(float(v.mean()), float(v.mean() - half), float(v.mean() + half), len(v))


def welch(a, b) -> CI:
    """Welch 95% confidence interval of mean(a) - mean(b) (unequal variances, Satterthwaite dof)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    d, half = float(a.mean() - b.mean()), t_quantile_975(dof) * math.sqrt(va + vb)
    return CI(d, d - half, d + half, len(a) + len(b))


# -- celltwin ------------------------------------------------------------------------------------


def mmc_overrides(c: int, rho: float, horizon_days: int) -> tuple[str, ...]:
    """--set overrides that turn mmc.yaml into an M/M/c queue at utilisation ``rho``."""
    lam = rho * c / MEAN_SERVICE_H
    return (
        f"sites.factory.devices.clinimacs_prodigy.count={c}",
        f"referrals.rate_per_week={lam * 168:.10g}",
        f"horizon_days={horizon_days}",
    )


def _at(e: pd.DataFrame, step: str, kind: str, resource: str | None = None) -> pd.Series:
    """Time of one kind of event of one step, by patient (each patient has at most one)."""
    m = (e["step"] == step) & (e["kind"] == kind)
    if resource is not None:
        m &= e["resource"] == resource
    s = e.loc[m, ["patient", "time_h"]]
    assert not s["patient"].duplicated().any(), f"{step} {kind}: a patient with two events"
    return s.set_index("patient")["time_h"]


@cache
def celltwin_mmc(c: int, rho: float, horizon_days: int, replications: int) -> pd.DataFrame:
    """One row per replication of mmc.yaml as an M/M/c queue: wq (the wait_h_mean KPI of the
    Prodigy pool), util (its utilisation KPI), w (mean time in the device, queue to step end,
    from the event log), service (mean step duration), n (requests in the window)."""
    loaded = load_scenario(MMC, overrides=list(mmc_overrides(c, rho, horizon_days)))
    warm, hor = loaded.scenario.warmup_days * 24.0, loaded.scenario.horizon_days * 24.0
    rows = []
    for rep in range(replications):
        tables = replication_tables(simulate(loaded, rep))
        k, e = tables.kpis, tables.events
        d = pd.DataFrame({"q": _at(e, "service", "queue", "clinimacs_prodigy"),
                          "s": _at(e, "service", "step_start"), "e": _at(e, "service", "step_end")})
        d = d[(d["q"] >= warm) & (d["q"] < hor)]
        done = d.dropna()
        rows.append({
            "wq": k["wait_h_mean.device.factory.clinimacs_prodigy"],
            "util": k["utilisation.device.factory.clinimacs_prodigy"],
            "w": float((done["e"] - done["q"]).mean()),
            "service": float((done["e"] - done["s"]).mean()),
            "n": len(d),
        })
    return pd.DataFrame(rows)


@cache
def celltwin_tandem(replications: int) -> pd.DataFrame:
    """One row per replication of tandem_shift.yaml: see ``tandem_measures``. Station 2's wait
    is its step start minus joining the washer queue: a batch seizes a free washer at once and
    then waits inside it for an operator on shift, so the washer pool's own wait_h_mean KPI is
    only the first part of the wait a Ciw customer sees."""
    loaded = load_scenario(TANDEM)
    sc = loaded.scenario
    assert (sc.warmup_days * 24.0, sc.horizon_days * 24.0) == (TANDEM_WARMUP_H, TANDEM_HORIZON_H)
    rows = []
    for rep in range(replications):
        e = events_table(simulate(loaded, rep))
        stations = []
        for step, pool in (("station_1", "clinimacs_prodigy"), ("station_2", "cell_washer")):
            q, s, end = _at(e, step, "queue", pool), _at(e, step, "step_start"), _at(e, step, "step_end")
            stations.append(pd.DataFrame({"arrival": q, "start": s, "end": end}).dropna(subset=["arrival"]))
        rows.append(tandem_measures(*stations))
    return pd.DataFrame(rows)


def tandem_measures(st1: pd.DataFrame, st2: pd.DataFrame) -> dict[str, float]:
    """The compared measures of one replication, from per-customer arrival, start and end
    times at each station (end may be missing): requests joining a station's queue in the
    window and started before the horizon count, as in celltwin's wait_h_mean KPI.

    w1, w2: mean wait at each station; w2_off: mean wait at station 2 of those arriving there
    off shift (before 08:00 or from 16:00); p2_wait: fraction of station-2 arrivals that wait;
    s1, s2: mean service time; n1, n2: arrivals counted."""
    out: dict[str, float] = {}
    for i, st in ((1, st1), (2, st2)):
        st = st[(st["arrival"] >= TANDEM_WARMUP_H) & (st["arrival"] < TANDEM_HORIZON_H) & (st["start"] < TANDEM_HORIZON_H)]
        wait = st["start"] - st["arrival"]
        out[f"w{i}"] = float(wait.mean())
        out[f"s{i}"] = float((st["end"] - st["start"]).mean())
        out[f"n{i}"] = float(len(st))
        if i == 2:
            hour = st["arrival"] % 24
            off = (hour < TANDEM_SHIFT[0]) | (hour >= TANDEM_SHIFT[1])
            out["w2_off"] = float(wait[off].mean())
            out["p2_wait"] = float((wait > 1e-9).mean())
            out["start_hour_min"], out["start_hour_max"] = float((st["start"] % 24).min()), float((st["start"] % 24).max())
    return out


# -- Ciw -----------------------------------------------------------------------------------------


def _ciw_records(sim, node: int):
    return pd.DataFrame([(r.arrival_date, r.service_start_date, r.service_end_date)
                         for r in sim.get_all_records() if r.node == node and r.record_type == "service"],
                        columns=["arrival", "start", "end"])


@cache
def ciw_mmc(c: int, rho: float, horizon_days: int, replications: int) -> pd.DataFrame:
    """mmc.yaml's M/M/c queue in Ciw: one row per replication, wq over the customers arriving in
    [warm-up, horizon) and starting service before the horizon (Ciw runs 20 days past the horizon
    so that every such customer has a record)."""
    import ciw

    lam = rho * c / MEAN_SERVICE_H
    warm, hor = MMC_WARMUP_DAYS * 24.0, horizon_days * 24.0
    rows = []
    for rep in range(replications):
        ciw.seed(CIW_SEED + rep)
        net = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(rate=lam)],
                                 service_distributions=[ciw.dists.Exponential(rate=1 / MEAN_SERVICE_H)],
                                 number_of_servers=[c])
        sim = ciw.Simulation(net)
        sim.simulate_until_max_time(hor + 20 * 24)
        r = _ciw_records(sim, 1)
        r = r[(r["arrival"] >= warm) & (r["arrival"] < hor) & (r["start"] < hor)]
        rows.append({"wq": float((r["start"] - r["arrival"]).mean()), "n": len(r)})
    return pd.DataFrame(rows)


@cache
def ciw_tandem(replications: int) -> pd.DataFrame:
    """tandem_shift.yaml in Ciw: station 1 with 2 servers around the clock; station 2 with a
    daily schedule of 0 servers to 08:00, 2 to 16:00 and 0 to midnight, without pre-emption (a
    service under way at 16:00 finishes); unlimited queues, FIFO, every customer goes 1 -> 2 ->
    exit. One row per replication, the measures of ``tandem_measures``."""
    import ciw

    rows = []
    for rep in range(replications):
        ciw.seed(CIW_SEED + rep)
        shift = ciw.Schedule(numbers_of_servers=[0, 2, 0], shift_end_dates=[TANDEM_SHIFT[0], TANDEM_SHIFT[1], 24.0],
                             preemption=False)
        net = ciw.create_network(
            arrival_distributions=[ciw.dists.Exponential(rate=TANDEM_LAMBDA), None],
            service_distributions=[ciw.dists.Exponential(rate=1 / m) for m in TANDEM_MEANS_H],
            number_of_servers=[2, shift],
            routing=[[0.0, 1.0], [0.0, 0.0]],
        )
        sim = ciw.Simulation(net)
        sim.simulate_until_max_time(TANDEM_HORIZON_H + 20 * 24)
        rows.append(tandem_measures(_ciw_records(sim, 1), _ciw_records(sim, 2)))
    return pd.DataFrame(rows)
