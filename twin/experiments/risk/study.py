"""``twin risk``: enumerate, plan, run through the sweep executor, and write the tidy tables
(see :mod:`twin.experiments.risk.analysis` for how an impact is measured)."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from twin.core.units import HOURS_PER_DAY, HOURS_PER_YEAR
from twin.core.version import __version__
from twin.experiments.risk.analysis import (
    METRICS,
    Context,
    RiskOptions,
    RiskResult,
    baseline_data,
    build_plan,
    impacts_table,
    occurrences_table,
    ranking_table,
    wide_by_point,
)
from twin.experiments.risk.backups import BackupStep, backup_steps
from twin.experiments.risk.vulnerabilities import Vulnerability, enumerate_vulnerabilities
from twin.results.stats import paired_interval
from twin.scenario.loading import LoadedScenario
from twin.scenario.risks import RiskLibrary


def _stepped(base: dict[str, Any], step: BackupStep) -> dict[str, Any]:
    from twin.scenario.overrides import set_path, split_path

    data = copy.deepcopy(base)
    value: Any = int(step.value) if step.unit in ("people", "units") else step.value
    set_path(data, split_path(step.path), value, step.path)
    return data


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    """Staff headcounts in their long form (``role: 3`` -> ``role: {count: 3}``), so a step can set a count."""
    for site in (data.get("sites") or {}).values():
        staff = site.get("staff") or {}
        for role, v in list(staff.items()):
            if isinstance(v, int):
                staff[role] = {"count": v}
    return data


def _vuln_rows(vulns: list[Vulnerability], points: list[dict], freqs: dict[str, float]) -> pd.DataFrame:
    status = {p["vulnerability"]: p["status"] for p in points if p["context"] == "current"}
    return pd.DataFrame([{"id": v.id, "kind": v.kind, "site": v.site,
                          "frequency_per_year": freqs.get(v.id, v.frequency_per_year),
                          "probability_per_event": v.probability, "source": v.source, "backup": v.backup,
                          "exposure": v.exposure, "status": status.get(v.id, "ok")} for v in vulns])


def backup_table(steps: list[BackupStep], frames: dict[str, dict[str, pd.DataFrame]],
                 freqs: dict[str, dict[str, float]], cost_per_year: dict[str, float]) -> pd.DataFrame:
    """Per backup step and metric: the expected annual impact of the vulnerabilities it covers,
    now and stepped, the reduction (now - stepped; paired per replication) with its 95% interval
    and, where the scenario has costs, the change in cost a year and the reduction per unit of it."""
    rows = []
    cur = frames.get("current", {})
    for s in steps:
        st = frames.get(s.name, {})
        covered = [v for v in s.covers if v in cur and v in st]
        if not covered:
            continue
        dcost = cost_per_year.get(s.name, math.nan) - cost_per_year.get("current", math.nan)
        for m in METRICS:
            now = sum(freqs["current"][v] * cur[v][m] for v in covered)
            then = sum(freqs[s.name][v] * st[v][m] for v in covered)
            iv = paired_interval((now - then).to_numpy())
            rows.append({"backup": s.backup, "step": s.direction, "field": s.path, "from": s.current, "to": s.value,
                         "unit": s.unit, "covers": ", ".join(covered), "metric": m,
                         "annual_now": float(now.mean()), "annual_stepped": float(then.mean()),
                         "reduction": iv.mean, "reduction_ci_low": iv.low, "reduction_ci_high": iv.high,
                         "cost_change_per_year": dcost,
                         "reduction_per_cost": iv.mean / dcost if dcost and not math.isnan(dcost) else math.nan})
    return pd.DataFrame(rows)


def _cost_per_year(wide: dict[str, pd.DataFrame], points: list[dict], window_years: float) -> dict[str, float]:
    out = {}
    for p in points:
        if p["vulnerability"] == "baseline" and p["point_id"] in wide and "cost.total" in wide[p["point_id"]]:
            out[p["context"]] = float(wide[p["point_id"]]["cost.total"].mean()) / window_years
    return out


def run_risk(loaded: LoadedScenario, library: RiskLibrary, out: Path, options: RiskOptions = RiskOptions()) -> RiskResult:  # noqa: B008
    """The whole analysis of ``loaded`` into the run folder ``out`` (see the package docs)."""
    from twin.core.files import write_text_whole, write_whole
    from twin.experiments.folders import prepare_folder
    from twin.experiments.sweep.execute import execute
    from twin.experiments.sweep.store import SweepStore

    sc = loaded.scenario
    reps = options.replications or sc.replications
    vulns = enumerate_vulnerabilities(loaded, library)
    if options.only:
        import fnmatch

        vulns = [v for v in vulns if any(fnmatch.fnmatchcase(v.id, pat) for pat in options.only)]
        if not vulns:
            from twin.core.errors import InputError

            raise InputError(f"--only {', '.join(options.only)} matches no vulnerability of {sc.name!r}")
    base = _normalised(baseline_data(loaded))
    contexts = [Context("current", base, vulns)]
    steps = backup_steps(loaded, vulns) if options.backups else []
    by_id = {v.id: v for v in vulns}
    contexts += [Context(s.name, _stepped(base, s), [by_id[i] for i in s.covers],
                         "current" if s.outage_only else "") for s in steps]
    base_dir = Path(loaded.source).parent if loaded.source and Path(loaded.source).is_file() else Path.cwd()
    plan, points = build_plan(f"risk-{sc.name}", contexts, reps, options.occurrences, base_dir)
    if not options.resume and (options.replace or not (out / "manifest.json").exists()):
        prepare_folder(out, options.replace)
    store = SweepStore(out)
    store.open(plan.manifest(), {"points": points, "options": {k: v for k, v in asdict(options).items()
                                                                 if k != "on_result"}}, resume=options.resume)
    counts = execute(plan, store, workers=options.workers, on_result=options.on_result)
    wide = wide_by_point(store.read())
    window_years = (sc.horizon_days - sc.warmup_days) * HOURS_PER_DAY / HOURS_PER_YEAR
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    freqs: dict[str, dict[str, float]] = {}
    impacts = pd.DataFrame()
    for c in contexts:
        imp, frames[c.name], freqs[c.name] = impacts_table(c, wide, points, window_years)
        if c.name == "current":
            impacts = imp
    vtab = _vuln_rows(vulns, points, freqs.get("current", {}))
    ranking = ranking_table(vtab, impacts, options.rank_by)
    occ = occurrences_table(contexts[0], wide, points)
    backups = backup_table(steps, frames, freqs, _cost_per_year(wide, points, window_years))
    for name, df in (("vulnerabilities", vtab), ("impacts", impacts), ("ranking", ranking), ("occurrences", occ),
                     ("backups", backups)):
        write_whole(out / f"{name}.parquet", lambda p, df=df: df.to_parquet(p, index=False))
        write_whole(out / f"{name}.csv", lambda p, df=df: df.to_csv(p, index=False))
    prov = {"kind": "risk", "scenario_name": sc.name, "scenario_file": loaded.source, "scenario_hash": loaded.scenario_hash,
            "overrides": list(loaded.overrides), "root_seed": sc.seed, "replications": reps,
            "occurrences_per_replication": options.occurrences, "rank_by": options.rank_by,
            "library": library.name, "celltwin_version": __version__, "counts": counts,
            "window_years": window_years, "currency": sc.costs.currency if sc.costs is not None else "",
            "metrics": METRICS}
    write_text_whole(out / "risk.json", json.dumps(prov, indent=2, default=str))
    return RiskResult(out, vtab, impacts, ranking, occ, backups, counts)
