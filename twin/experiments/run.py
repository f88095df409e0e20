"""Run a scenario's replications and write a run folder.

``run_scenario`` is the library entry point the CLI wraps; ``write_run`` stores the result as
``events.parquet``, ``batches.parquet``, ``resources.parquet``, ``outages.parquet``,
``impacts.parquet`` (see :mod:`twin.results`), ``kpis.parquet``,
``summary.json`` and ``scenario.json`` (the experiment record: the validated scenario with its
resolved device types). Every table row carries its provenance (scenario hash, seed, celltwin
version, replication).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import platform
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from twin.core.files import OutputError, write_whole
from twin.core.version import __version__
from twin.experiments import DEFAULT_MAX_REPLICATIONS
from twin.experiments.pool import worker_count
from twin.results.collect import ReplicationTables, replication_tables
from twin.results.kpis import HEADLINE
from twin.results.stats import (
    PRECISION_KPIS,
    SUMMARY_COLUMNS,
    kpi_long,
    precision_status,
    summarise,
    summary_warnings,
)
from twin.scenario.loading import LoadedScenario


@dataclass(frozen=True)
class Precision:
    """Add replications until every KPI of ``kpis`` (those the run measures) has a 95%
    half-width under ``rel`` times its mean (see :func:`twin.results.stats.precision_status`),
    or ``max_replications`` have run. Replication r always uses its own streams, so the first n
    replications are the same as those of a run of n."""

    rel: float
    max_replications: int = DEFAULT_MAX_REPLICATIONS
    kpis: tuple[str, ...] = PRECISION_KPIS

    def status(self, summary: pd.DataFrame) -> dict[str, Any]:
        """Where ``summary`` stands against this rule."""
        return precision_status(summary, self.rel, self.kpis)


@dataclass
class RunResult:
    """All replications of one scenario: tidy tables, KPI summary and provenance."""

    loaded: LoadedScenario
    events: pd.DataFrame
    batches: pd.DataFrame
    resources: pd.DataFrame
    kpis: pd.DataFrame
    summary: pd.DataFrame
    provenance: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    outages: pd.DataFrame = field(default_factory=pd.DataFrame)
    impacts: pd.DataFrame = field(default_factory=pd.DataFrame)
    precision: dict[str, Any] | None = None  # what --precision asked and reached (summary.json)

    def kpi(self, name: str) -> float:
        """Mean of KPI ``name`` over replications."""
        row = self.summary.loc[self.summary["kpi"] == name]
        if row.empty:
            raise KeyError(name)
        return float(row["mean"].iloc[0])


def replicate(job: tuple[LoadedScenario, int]) -> tuple[ReplicationTables | None, dict[str, Any] | None, float]:
    """Simulate replication ``job[1]`` of scenario ``job[0]`` and build its tables; never raises.

    Returns:
        (tables, None, wall seconds), or (None, failure, wall seconds) for a replication that
        raised: ``replication``, ``error`` and ``traceback``, a row of data (runs in a worker).
    """
    from twin.model import simulate

    loaded, rep = job
    t0 = time.perf_counter()
    try:
        return replication_tables(simulate(loaded, rep)), None, time.perf_counter() - t0
    except Exception as exc:  # a failed replication is data, not a crash
        failure = {"replication": rep, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        return None, failure, time.perf_counter() - t0


class Replications:
    """The replications of one scenario so far, added one at a time or in batches (replication
    r is simulated from its own streams, whatever else runs, so the tables do not depend on
    ``workers``: results are kept in replication order)."""

    def __init__(self, loaded: LoadedScenario, on_replication: Callable[[int, float], None] | None = None,
                 workers: int | None = 1) -> None:
        self.loaded = loaded
        self.on_replication = on_replication
        self.workers = worker_count(workers)
        self.started = time.perf_counter()
        self.attempted = 0
        self.tables: dict[str, list[pd.DataFrame]] = {k: [] for k in ("events", "batches", "resources", "outages",
                                                                        "impacts")}
        self.kp: list[tuple[int, dict[str, float]]] = []
        self.failures: list[dict[str, Any]] = []

    def add(self, rep: int) -> None:
        """Simulate replication ``rep`` in this process; one that raises is recorded in
        ``failures`` (with its traceback) and the others still run: nothing already computed is lost."""
        self.record(rep, replicate((self.loaded, rep)))

    def add_many(self, reps: range) -> None:
        """Simulate replications ``reps`` on ``workers`` processes (see :func:`add_in_step`)."""
        add_in_step([self], reps)

    def record(self, rep: int, outcome: tuple[ReplicationTables | None, dict[str, Any] | None, float]) -> None:
        """Keep replication ``rep``'s ``outcome`` (from :func:`replicate`): its tables, or its failure."""
        t, failure, secs = outcome
        self.attempted += 1
        if t is None:
            self.failures.append(failure or {"replication": rep, "error": "no result", "traceback": ""})
            return
        for k, frames in self.tables.items():
            frames.append(getattr(t, k))
        self.kp.append((rep, t.kpis))
        if self.on_replication:
            self.on_replication(rep, secs)

    def summary(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The long KPI table and its summary (:func:`twin.results.stats.summarise`)."""
        long = kpi_long(self.kp)
        return long, summarise(long) if len(long) else pd.DataFrame(columns=SUMMARY_COLUMNS)

    def result(self, precision: dict[str, Any] | None = None) -> RunResult:
        """The run so far as a :class:`RunResult`."""
        sc = self.loaded.scenario
        long, summary = self.summary()
        provenance = {
            "celltwin_version": __version__,
            "scenario_name": sc.name,
            "scenario_file": self.loaded.source,
            "scenario_file_sha256": self.loaded.file_sha256,
            "scenario_hash": self.loaded.scenario_hash,
            "overrides": list(self.loaded.overrides),
            "root_seed": sc.seed,
            "replications": self.attempted,
            "replications_completed": len(self.kp),
            "horizon_days": sc.horizon_days,
            "warmup_days": sc.warmup_days,
            "start_date": sc.start_date.isoformat(),
            "wall_time_s": round(time.perf_counter() - self.started, 4),
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
        }
        t = {k: _cat(v) for k, v in self.tables.items()}
        return RunResult(self.loaded, t["events"], t["batches"], t["resources"], long, summary, provenance,
                         self.failures, t["outages"], t["impacts"], precision)


def _cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0] if frames else pd.DataFrame()
    return pd.concat(full, ignore_index=True)


Outcome = tuple[ReplicationTables | None, dict[str, Any] | None, float]
"""What :func:`replicate` returns: tables or a failure, and the wall seconds."""


def add_in_step(runs: list[Replications], reps: range) -> None:
    """Add replications ``reps`` to every run of ``runs``: replication r to each run, then r + 1,
    as a serial loop would. With more than one worker (the most any run asks for), they run on a
    local process pool, each worker getting the validated scenario and the replication index and
    returning its tables; they are recorded in that same order, so the tables and KPIs equal those
    of one worker. A replication whose worker process dies is recorded as failed, never lost."""
    jobs = [(r, rep) for rep in reps for r in runs]
    workers = min(max((r.workers for r in runs), default=1), len(jobs))
    if workers <= 1:
        for r, rep in jobs:
            r.add(rep)
        return
    with contextlib.closing(_pooled([(r.loaded, rep) for r, rep in jobs], workers)) as outcomes:
        for (r, rep), outcome in zip(jobs, outcomes):
            r.record(rep, outcome)


def _pooled(jobs: list[tuple[LoadedScenario, int]], workers: int) -> Iterator[Outcome]:
    """:func:`replicate` each job on ``workers`` processes; outcomes in job order, each as soon as
    it and those before it are done. A job whose worker process dies is run again alone (see
    :func:`twin.experiments.pool.each_in_pool`), so it never fails the jobs queued with it; one
    that dies every time is a failed replication."""
    from twin.experiments.pool import each_in_pool, warm_culture_kernel

    warm_culture_kernel()
    ready: dict[int, Outcome] = {}
    nxt = 0
    outcomes = each_in_pool(replicate, jobs, workers, _died)
    try:
        for i, outcome in outcomes:
            ready[i] = outcome
            while nxt in ready:
                yield ready.pop(nxt)
                nxt += 1
    finally:
        outcomes.close()


def _died(job: tuple[LoadedScenario, int], why: str) -> Outcome:
    """The failure of replication ``job[1]`` whose worker process kept dying."""
    return None, {"replication": job[1], "error": why, "traceback": ""}, 0.0


def extend_to_precision(runs: list[Replications], precision: Precision) -> list[dict[str, Any]]:
    """Add replications to every run of ``runs`` in step (replication n to each, so layouts keep
    their common random numbers) until every run meets ``precision`` or the cap is reached. With
    several workers, replications are added in batches of the worker count (the rule is checked
    after each batch); replication r is the same whatever the batch, so the result for a final n
    equals that of one worker.

    Returns:
        per run, what goes into its ``summary.json`` as ``precision``: the rule (``rel``,
        ``max_replications``, ``kpis_wanted``), ``replications`` (the final n), ``reached``
        (this run) and ``kpis``: per KPI measured, ``rel_half_width`` and ``reached``.
    """
    while True:
        status = [precision.status(r.summary()[1]) for r in runs]
        n = runs[0].attempted
        if all(s["reached"] for s in status) or n >= precision.max_replications:
            break
        add_in_step(runs, range(n, min(n + max(r.workers for r in runs), precision.max_replications)))
    rule = {"rel": precision.rel, "max_replications": precision.max_replications,
            "kpis_wanted": list(precision.kpis), "replications": n}
    return [{**rule, **s} for s in status]


def run_scenario(
    loaded: LoadedScenario,
    replications: int | None = None,
    on_replication: Callable[[int, float], None] | None = None,
    precision: Precision | None = None,
    workers: int | None = 1,
) -> RunResult:
    """Simulate ``replications`` independent replications (default: the scenario's own).

    A replication that raises is recorded in ``failures`` (with its traceback) and the others
    still run: nothing already computed is lost.

    Args:
        loaded: validated scenario.
        replications: number of replications (overrides the scenario's; the root seed is the
            scenario's ``seed`` field, set it with an override to change it); with
            ``precision``, the number to start from.
        on_replication: called with (replication, wall seconds) after each one.
        precision: add replications until the main KPIs are this precise (:class:`Precision`);
            with several workers they are added in batches of ``workers``, and the result for a
            final n equals that of one worker.
        workers: local processes for the replications (None: all cores; 1: in this process);
            the tables and KPIs are the same whatever the number.
    """
    runs = Replications(loaded, on_replication, workers)
    runs.add_many(range(replications or loaded.scenario.replications))
    return runs.result(extend_to_precision([runs], precision)[0] if precision else None)


def _with_provenance(df: pd.DataFrame, prov: dict[str, Any]) -> pd.DataFrame:
    df = df.copy()
    df["scenario_hash"] = pd.Categorical([prov["scenario_hash"]] * len(df))
    df["root_seed"] = prov["root_seed"]
    df["celltwin_version"] = pd.Categorical([prov["celltwin_version"]] * len(df))
    return df


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a dot-file beside ``path`` and rename it in place when complete (the dot-file is
    removed if the write fails)."""
    write_whole(path, write)


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def summary_dict(result: RunResult) -> dict[str, Any]:
    """The content of ``summary.json``: provenance, KPI means with 95% intervals (each with its
    ``method``, ``constant`` flag and ``warning``, see :func:`twin.results.stats.interval`),
    ``warnings`` (too few replications, headline KPIs whose interval is wider than their mean),
    ``precision`` (what ``--precision`` asked and reached; null without it), per-replication
    values, outcome conservation, failed replications."""
    kp = {
        row.kpi: {
            "mean": _json_safe(row.mean),
            "ci_low": _json_safe(row.ci_low),
            "ci_high": _json_safe(row.ci_high),
            "n": int(row.n),
            "method": row.method,
            "constant": bool(row.constant),
            "warning": row.warning or None,
        }
        for row in result.summary.itertuples(index=False)
    }
    main = [k for k, _, _ in HEADLINE] + list(PRECISION_KPIS)
    per_rep: dict[str, dict[str, Any]] = {}
    for row in result.kpis.itertuples(index=False):
        per_rep.setdefault(str(row.replication), {})[row.kpi] = _json_safe(row.value)
    b = result.batches
    conservation = {}
    if len(b):
        counts = b.groupby("replication", observed=True)["outcome"].value_counts().unstack(fill_value=0)
        for rep, row in counts.iterrows():
            conservation[str(rep)] = {"entered": int(row.sum()), **{str(k): int(v) for k, v in row.items()}}
    return {
        "provenance": result.provenance,
        "kpis": kp,
        "warnings": summary_warnings(result.summary, result.provenance["replications_completed"], main),
        "precision": result.precision,
        "replications": per_rep,
        "conservation_all_patients": conservation,
        "failed_replications": [{k: f[k] for k in ("replication", "error")} for f in result.failures],
    }


def write_run(result: RunResult, out_dir: str | Path) -> Path:
    """Write the run folder (created if needed) and return its path. Each file is written
    whole (temporary file, then rename); the tables go first so a failure later keeps them.

    Raises:
        OutputError: a file could not be written; ``kept`` lists the files written whole.
    """
    out = Path(out_dir)
    try:
        _write_files(result, out)
    except OutputError as err:
        from twin.experiments.folders import kept_files

        err.kept = kept_files(out)
        raise
    return out


def _write_files(result: RunResult, out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(str(out), err.strerror or str(err)) from None
    prov = result.provenance
    for name in ("events", "batches", "resources", "outages", "impacts"):
        df = getattr(result, name)
        if len(df):
            _atomic_write(out / f"{name}.parquet", lambda p, df=df: _with_provenance(df, prov).to_parquet(p, index=False))
    if len(result.kpis):
        _atomic_write(out / "kpis.parquet", lambda p: _with_provenance(result.kpis, prov).to_parquet(p, index=False))
    _atomic_write(
        out / "scenario.json",
        lambda p: p.write_text(json.dumps(result.loaded.canonical(), indent=2, sort_keys=True)),
    )
    _atomic_write(out / "summary.json", lambda p: p.write_text(json.dumps(summary_dict(result), indent=2)))
    if result.failures:
        _atomic_write(
            out / "failures.txt",
            lambda p: p.write_text("\n\n".join(f"replication {f['replication']}\n{f['traceback']}" for f in result.failures)),
        )
