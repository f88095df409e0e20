"""celltwin's Python API: the same operations as the ``twin`` command, for notebooks and scripts.

    import twin

    sc = twin.load("scenarios/centralised.yaml", overrides=["replications=2"])
    run = twin.run(sc)                      # or twin.run("scenarios/centralised.yaml", replications=2)
    run.summary                             # KPI mean and 95% CI (pandas)
    run.kpi("vein_to_vein_median_days")     # one KPI's mean (days)
    run.figures["vein_to_vein"].show()      # plotly figures
    run.save("results/baseline"); run.report("results/baseline/report.html")
    cmp = twin.compare(["scenarios/centralised.yaml", "scenarios/outage_co2.yaml"])
    sw = twin.sweep("scenarios/sweeps/scale_up.yaml", workers=2)
    twin.export("results/baseline", xlsx="baseline.xlsx")

Every function raises :class:`twin.core.errors.InputError` (a
:class:`~twin.core.errors.ScenarioError` for a scenario, naming file, line and field) on bad
input, exactly where the command line would print ``error: ...`` and exit 2. Times are hours
unless a name says otherwise (``*_days``); KPI names are those of :mod:`twin.results`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import pandas as pd

    from twin.experiments.compare import Comparison as _Comparison
    from twin.experiments.run import Precision, RunResult
    from twin.experiments.sweep.spec import Plan
    from twin.scenario.loading import LoadedScenario

__all__ = ["Comparison", "Run", "ScenarioWarning", "Sweep", "SweepOptions", "compare", "export", "load", "risk",
           "run", "sweep"]

#: A scenario: a YAML file's path or an already loaded scenario (:func:`load`).
ScenarioLike = Union[str, Path, "LoadedScenario"]


class ScenarioWarning(UserWarning):
    """A scenario that is valid but probably not what was meant (an outage after the horizon,
    an override that replaced a whole mapping); the text is in ``LoadedScenario.warnings`` too."""


def load(path: str | Path, overrides: Sequence[str] = (), warn: bool = True) -> LoadedScenario:
    """Read and validate a scenario YAML file, with ``FIELD=VALUE`` overrides applied first
    (as ``twin run --set``), e.g. ``overrides=["horizon_days=120", "replications=1"]``. Advice on
    a valid scenario is issued as a :class:`ScenarioWarning` (``warn=False``: only kept in
    ``.warnings``, as the command line prints it itself)."""
    import warnings

    from twin.scenario.loading import load_scenario

    loaded = load_scenario(path, list(overrides))
    if warn:
        for text in loaded.warnings:
            warnings.warn(text, ScenarioWarning, stacklevel=2)
    return loaded


def _loaded(scenario: ScenarioLike, seed: int | None = None) -> LoadedScenario:
    """``scenario`` loaded (a path is read), with its root seed replaced by ``seed`` if given."""
    if isinstance(scenario, (str, Path)):
        return load(scenario, [f"seed={seed}"] if seed is not None else [])
    if seed is None or seed == scenario.scenario.seed:
        return scenario
    if scenario.source and Path(scenario.source).is_file():
        return load(scenario.source, [*scenario.overrides, f"seed={seed}"])
    from twin.scenario.loading import scenario_from_data

    data = scenario.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["seed"] = seed
    return scenario_from_data(data, source=scenario.source)


@dataclass
class Run:
    """The replications of one scenario: tables as pandas DataFrames, figures, and the ways to
    keep them (:meth:`save`, :meth:`report`, :meth:`export`).

    Attributes:
        result: the underlying :class:`twin.experiments.run.RunResult`.
        folder: the run folder once saved (None before).
    """

    result: RunResult
    folder: Path | None = None

    @property
    def scenario(self) -> LoadedScenario:
        """The validated scenario that ran."""
        return self.result.loaded

    @property
    def summary(self) -> pd.DataFrame:
        """One row per KPI: ``kpi, n, mean, sd, ci_low, ci_high`` (95% Student t interval)."""
        return self.result.summary

    @property
    def kpis(self) -> pd.DataFrame:
        """KPIs per replication, long: ``replication, kpi, value``."""
        return self.result.kpis

    @property
    def batches(self) -> pd.DataFrame:
        """One row per patient and replication: every milestone (``STEP_start_h``, hours from the
        start date), outcome, cause, vein-to-vein (days)."""
        return self.result.batches

    @property
    def events(self) -> pd.DataFrame:
        """The event log (every replication): the single source of truth."""
        return self.result.events

    @property
    def outages(self) -> pd.DataFrame:
        """One row per outage occurrence: backups, hours lost, batches hit."""
        return self.result.outages

    @property
    def resources(self) -> pd.DataFrame:
        """One row per resource pool and replication: units, on-duty and held unit-hours."""
        return self.result.resources

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Replications that raised: ``replication``, ``error``, ``traceback``."""
        return self.result.failures

    def kpi(self, name: str) -> float:
        """The mean over replications of KPI ``name`` (its unit is in the name or in
        :mod:`twin.results`); KeyError for a KPI the run does not have."""
        return self.result.kpi(name)

    @cached_property
    def figures(self) -> dict[str, Any]:
        """Plotly figures of the run report: ``utilisation`` (per pool, CI whiskers),
        ``work_in_progress`` (patients over time), ``vein_to_vein`` (histogram, days),
        ``outcomes`` (patients by outcome and cause) and, with outages, ``outages``
        (replication 0's timeline)."""
        from twin.core.units import HOURS_PER_DAY
        from twin.reports import run_report as rr

        prov = self.result.provenance
        start, horizon_h = prov["start_date"], prov["horizon_days"] * HOURS_PER_DAY
        figs = {
            "utilisation": rr.fig_utilisation(self.kpis),
            "work_in_progress": rr.fig_wip(self.batches, start, horizon_h, prov["warmup_days"] * HOURS_PER_DAY),
            "vein_to_vein": rr.fig_vein_to_vein(self.batches),
            "outcomes": rr.fig_outcomes(self.batches),
        }
        if len(self.outages):
            first = self.outages["replication"].min()
            figs["outages"] = rr.fig_outage_timeline(
                self.outages[self.outages["replication"] == first],
                self.events[self.events["replication"] == first], start, horizon_h)
        return figs

    def save(self, folder: str | Path) -> Path:
        """Write the run folder (events, batches, ... parquet, summary.json, scenario.json) and
        return its path; later :meth:`report` and :meth:`export` read it."""
        from twin.experiments.run import write_run

        self.folder = write_run(self.result, folder)
        return self.folder

    def _saved(self) -> Path:
        if self.folder is None:
            self.save(Path(tempfile.mkdtemp(prefix="celltwin-run-")))
        assert self.folder is not None
        return self.folder

    def report(self, path: str | Path | None = None) -> Path:
        """Write the HTML run report to ``path`` (default: ``report.html`` in the run folder;
        an unsaved run is saved to a temporary folder first) and return its path."""
        from twin.reports import write_report

        return write_report(self._saved(), path)

    def export(self, csv: str | Path | None = None, xlsx: str | Path | None = None) -> list[Path]:
        """Write the run's KPIs (with intervals), per-patient milestones and outages as CSV files
        in folder ``csv`` and/or one Excel workbook ``xlsx``; see :func:`export`."""
        return export(self._saved(), csv=csv, xlsx=xlsx)

    def __repr__(self) -> str:
        p = self.result.provenance
        return (f"<twin.Run {p['scenario_name']!r}: {p['replications_completed']}/{p['replications']} "
                f"replications, seed {p['root_seed']}{f', saved in {self.folder}' if self.folder else ''}>")


def run(  # noqa: PLR0913 - keyword-only workers= beside the run options, as for twin.sweep (issue 20)
    scenario: ScenarioLike,
    replications: int | None = None,
    seed: int | None = None,
    on_replication: Callable[[int, float], None] | None = None,
    precision: Precision | None = None,
    *,
    workers: int | None = 1,
) -> Run:
    """Simulate ``replications`` independent replications of a scenario (a YAML path or a
    :func:`load` result; default: the scenario's own count and seed).

    A replication that raises is kept in :attr:`Run.failures` and the others still run.
    ``on_replication(replication, wall_seconds)`` is called after each one. With ``precision``
    (:class:`twin.experiments.run.Precision`), replications are added until the main KPIs' 95%
    half-width is under its share of the mean, or its cap. ``workers`` local processes run the
    replications (None: all cores; 1, the default: in this process); the results are the same.
    """
    from twin.experiments.run import run_scenario

    if replications is not None and replications < 1:
        from twin.core.errors import InputError

        raise InputError(f"replications must be at least 1, got {replications}")
    return Run(run_scenario(_loaded(scenario, seed), replications=replications, on_replication=on_replication,
                            precision=precision, workers=workers))


@dataclass
class Comparison:
    """Layouts run with common random numbers (the same patients in each).

    Attributes:
        names: the layouts' display names (unique, usable as folder names).
        runs: each layout's :class:`Run`, by name.
        table: long table ``layout, kpi, n, mean, ci_low, ci_high`` and the paired difference from
            the first layout ``diff_n, diff_mean, diff_ci_low, diff_ci_high``.
        folder: the comparison folder once saved.
    """

    names: list[str]
    runs: dict[str, Run]
    table: pd.DataFrame
    folder: Path | None = None

    def kpi(self, layout: str, name: str) -> float:
        """Mean of KPI ``name`` for ``layout``."""
        return self.runs[layout].kpi(name)

    def wide(self, column: str = "mean") -> pd.DataFrame:
        """KPIs by layout: one row per KPI, one column per layout, holding ``column`` (``mean``,
        ``ci_low``, ``diff_mean``, ...)."""
        w = self.table.pivot(index="kpi", columns="layout", values=column)
        return w.reindex(columns=self.names)

    def save(self, folder: str | Path) -> Path:
        """Write ``comparison.parquet`` and one run folder per layout under ``layouts/NAME``, each
        file whole (see :func:`twin.core.files.write_whole`); when a write fails the
        :class:`~twin.core.files.OutputError` lists what was kept."""
        from twin.core.files import OutputError, write_whole
        from twin.experiments.folders import kept_files

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        try:
            for name, r in self.runs.items():
                r.save(out / "layouts" / name)
            write_whole(out / "comparison.parquet", lambda p: self.table.to_parquet(p, index=False))
        except OutputError as err:
            err.kept = kept_files(out)
            raise
        self.folder = out
        return out

    def _saved(self) -> Path:
        if self.folder is None:
            self.save(Path(tempfile.mkdtemp(prefix="celltwin-compare-")))
        assert self.folder is not None
        return self.folder

    def report(self, path: str | Path | None = None) -> Path:
        """Write the HTML comparison report (default: ``report.html`` in the folder)."""
        from twin.reports import write_report

        return write_report(self._saved(), path)

    def export(self, csv: str | Path | None = None, xlsx: str | Path | None = None) -> list[Path]:
        """Write the comparison table and every layout's milestones and outages; see :func:`export`."""
        return export(self._saved(), csv=csv, xlsx=xlsx)


def compare(
    scenarios: Sequence[ScenarioLike],
    replications: int | None = None,
    on_replication: Callable[[str, int, float], None] | None = None,
    precision: Precision | None = None,
    workers: int | None = 1,
) -> Comparison:
    """Run two or more layouts that share their patients (the same seed, horizon, referrals,
    ...) with common random numbers, and build the comparison table (paired differences from the
    first layout). ``on_replication(layout, replication, wall_seconds)`` reports progress;
    ``workers`` local processes share every layout's replications (None: all cores; 1, the
    default: in this process), with the same results."""
    from twin.experiments.compare import compare as _compare

    layouts = [_loaded(s) for s in scenarios]
    result: _Comparison = _compare(layouts, replications, on_replication, precision, workers)
    return Comparison(result.names, {n: Run(r) for n, r in zip(result.names, result.runs)}, result.table)


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep runs: ``resume`` an interrupted store, ``replace`` an earlier result in the
    folder (cleared first), on a Dask ``scheduler`` (an address or a
    ``dask.distributed.Client``) instead of local processes, ``on_result(row, done, total)``
    after each finished scenario."""

    resume: bool = False
    replace: bool = False
    scheduler: Any = None
    on_result: Callable[[dict[str, Any], int, int], None] | None = None


@dataclass
class Sweep:
    """A finished sweep.

    Attributes:
        plan: the validated plan (points and tasks).
        folder: the sweep folder (the parquet store, ``summary.parquet``, ``answer.csv``).
        counts: tasks planned, skipped (already done), ok and failed.
        summary: per point and KPI: the axis values, n, mean, sd, ci_low, ci_high, failed_tasks.
        answer: per demand level, the cheapest configuration meeting every target (empty
            without an ``answer:`` section).
        by_period: with ``answer: {over_time: true}``, per period the cheapest point meeting every
            target in every period up to it (``answer_by_period.csv``); else empty.
        first_failure: ... and per point the first period where it misses a target
            (``first_failure.csv``).
    """

    plan: Plan
    folder: Path
    counts: dict[str, int]
    summary: pd.DataFrame
    answer: pd.DataFrame = field(default=None)  # type: ignore[assignment]
    by_period: pd.DataFrame = field(default=None)  # type: ignore[assignment]
    first_failure: pd.DataFrame = field(default=None)  # type: ignore[assignment]

    def means(self, kpis: Sequence[str]) -> pd.DataFrame:
        """One row per point: the axis values and the mean of each KPI in ``kpis``."""
        from twin.experiments.sweep.answer import wide

        return wide(self.summary, self.plan, list(kpis))

    def report(self, path: str | Path | None = None) -> Path:
        """Write the HTML sweep report (default: ``report.html`` in the sweep folder)."""
        from twin.reports import write_report

        return write_report(self.folder, path)

    def export(self, csv: str | Path | None = None, xlsx: str | Path | None = None) -> list[Path]:
        """Write the per-point summary and the planner's answer; see :func:`export`."""
        return export(self.folder, csv=csv, xlsx=xlsx)


def plan_sweep(path: str | Path, allow_large: bool = False) -> Plan:
    """Read a sweep file and validate every scenario it generates (nothing runs); a sweep over
    the work limits (README: When things go wrong) is refused unless ``allow_large``."""
    from twin.experiments.sweep.spec import load_sweep

    return load_sweep(path, allow_large=allow_large)


def run_sweep(plan: Plan, out: str | Path | None = None, workers: int | None = None,
              options: SweepOptions = SweepOptions()) -> Sweep:  # noqa: B008 - frozen, so shared safely
    """Run a planned sweep into the store ``out`` (default: ``results/sweeps/NAME``) on
    ``workers`` local processes (default: all cores), then write ``summary.parquet``,
    ``answer.csv`` and ``sensitivity.csv`` (random and lhs designs: SRC and PRCC with 95% intervals; oat: each
    axis's swing). Raises KeyboardInterrupt with finished scenarios kept (resume with
    ``SweepOptions(resume=True)``)."""
    from twin.core.files import OutputError, write_whole
    from twin.experiments.folders import prepare_folder
    from twin.experiments.sweep.answer import answer_over_time, planners_answer, point_summary, sensitivity_table
    from twin.experiments.sweep.execute import execute
    from twin.experiments.sweep.store import SweepStore

    folder = Path(out) if out else Path("results") / "sweeps" / plan.spec.name
    if not options.resume and (options.replace or not (folder / "manifest.json").exists()):
        prepare_folder(folder, options.replace)
    store = SweepStore(folder)
    store.open(plan.manifest(), {"spec": plan.spec.model_dump(mode="json"), "points": plan.points, "tasks": [
        {"scenario_id": t.scenario_id, "point_id": t.point_id, "replication": t.replication} for t in plan.tasks
    ], **plan.extra}, resume=options.resume)
    try:
        counts = execute(plan, store, workers=workers, scheduler=options.scheduler, on_result=options.on_result)
        summary = point_summary(plan, store.read())
        answer = planners_answer(plan, summary)
        write_whole(folder / "summary.parquet", lambda p: summary.to_parquet(p, index=False))
        if len(answer):
            write_whole(folder / "answer.csv", lambda p: answer.to_csv(p, index=False))
        by_period, first_failure = answer_over_time(plan, summary)
        if len(by_period):
            write_whole(folder / "answer_by_period.csv", lambda p: by_period.to_csv(p, index=False))
            write_whole(folder / "first_failure.csv", lambda p: first_failure.to_csv(p, index=False))
        sens = sensitivity_table(plan, summary)
        if len(sens):
            write_whole(folder / "sensitivity.csv", lambda p: sens.to_csv(p, index=False))
    except OutputError as err:
        err.kept = [f"{len(store.done_ids())} finished scenarios in {store.runs} (resume with --resume once "
                    "there is room)"]
        raise
    return Sweep(plan, folder, counts, summary, answer, by_period, first_failure)


def sweep(path: str | Path, workers: int | None = None, out: str | Path | None = None,
          options: SweepOptions = SweepOptions()) -> Sweep:  # noqa: B008 - frozen, so shared safely
    """Read a sweep file, validate every scenario it generates, run them all (``workers`` local
    processes, default all cores) into the store ``out`` and summarise: :func:`plan_sweep` then
    :func:`run_sweep`."""
    return run_sweep(plan_sweep(path), out, workers, options)


def risk(scenario: ScenarioLike, out: str | Path | None = None, library: str | Path | None = None,
         options: Any = None) -> Any:
    """The criticality ranking of a scenario's facility (``twin risk``): every vulnerability
    (utilities at every site, IT per site and across sites, device breakdowns, staff absence
    spikes and the loss of a role's only person, connections' contamination and leaks, courier
    delays and losses) simulated against the baseline with common random numbers, its impact per
    occurrence and expected annual impact with 95% intervals, ranked; and what each backup buys.

    Args:
        scenario: a YAML path or a :func:`load` result.
        out: the run folder (default: a new ``results/risk-NAME-...`` folder).
        library: a risk library file laid over the bundled defaults (``risks/defaults.yaml``).
        options: a :class:`twin.experiments.risk.analysis.RiskOptions` (replications,
            occurrences, workers, resume, replace, backups, rank_by).
    Returns:
        a :class:`twin.experiments.risk.analysis.RiskResult` (``ranking``, ``impacts``,
        ``backups``, ``occurrences``, ``vulnerabilities`` DataFrames and the ``folder``).
    """
    from twin.experiments.folders import new_folder as _new
    from twin.experiments.risk.analysis import RiskOptions
    from twin.experiments.risk.study import run_risk
    from twin.scenario.risks import load_risk_library

    loaded = _loaded(scenario)
    folder = Path(out) if out else _new(f"risk-{loaded.scenario.name}")
    return run_risk(loaded, load_risk_library(library), folder, options or RiskOptions())


def export(folder: str | Path, csv: str | Path | None = None, xlsx: str | Path | None = None) -> list[Path]:
    """Export a run, comparison or sweep folder to CSV files in folder ``csv`` and/or one Excel
    workbook ``xlsx`` (a sheet per table, units in the headers; needs openpyxl, the ``excel``
    extra). Tables: KPIs with 95% intervals, per-patient milestones, outages (run and
    comparison folders), the per-point summary and the planner's answer (sweeps). Returns the
    files written."""
    from twin.reports.export import export_folder

    return export_folder(folder, csv, xlsx)


def new_folder(name: str, root: str | Path = "results") -> Path:
    """A new folder path ``ROOT/NAME-YYYYmmdd-HHMMSS`` (``-2``, ``-3`` ... if taken); not created
    (:func:`twin.experiments.folders.new_folder`)."""
    from twin.experiments.folders import new_folder as _new

    return _new(name, root)
