"""The sweep file and its expansion into a validated plan.

A sweep file names a ``base`` scenario (path relative to the sweep file), fixed overrides
``set``, and ``axes``: dotted scenario field paths, each with a list of values or
``{range: [start, stop, step]}`` (stop included; for random and lhs designs a range without
a step is continuous, with a step it is snapped to the step's grid). ``design`` is ``grid`` (every combination),
``random`` (``samples`` points drawn uniformly), ``lhs`` (a Latin hypercube of ``samples``
points) or ``oat`` (one at a time: the base point, every axis at its middle value, then each axis
alone at its lowest and highest value, 1 + 2 x axes points: the design for a tornado chart). Each point runs ``replications`` replications with the base scenario's seed, so points
share common random numbers. ``targets`` (KPI -> ``{max: x}`` / ``{min: x}``, judged on the
mean over replications) and ``answer`` (the demand axis and a unit cost per cost axis) define
the planner's answer: per demand level, the cheapest point that meets every target. With
``answer: {over_time: true}`` (a scenario with ``periods``), also the answer over time: per period,
the cheapest point meeting every target in every period up to it (read from the per-period KPIs
``KPI@PERIOD``), and the first period where each point fails.

Every generated scenario is validated before anything runs; a bad axis value is an error that
names the sweep file, the axis and the value.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.core.errors import InputError, LocatedValueError, ScenarioError, clip, cut
from twin.core.version import __version__
from twin.results.kpis import RENAMED_KPIS
from twin.scenario.loading import LoadedScenario, scenario_from_data
from twin.scenario.locate import located_error, require_mapping, validate_document
from twin.scenario.overrides import set_path, split_path
from twin.scenario.size import MAX_RUN_EVENTS, MAX_SWEEP_POINTS, MAX_SWEEP_TASKS, check_work
from twin.scenario.yamlio import Marks, load_yaml

Number = Annotated[float, Field(allow_inf_nan=False)]
MAX_RANGE_VALUES = 100_000
"""Most values one ``{range: [start, stop, step]}`` axis may give (checked before they are made)."""


class Range(BaseModel):
    """``{range: [start, stop, step]}``: start, start+step, ... up to and including stop."""

    model_config = ConfigDict(extra="forbid", strict=True)
    range: list[Number] = Field(min_length=2, max_length=3)

    @model_validator(mode="after")
    def _ok(self) -> Range:
        lo, hi = self.range[0], self.range[1]
        if hi < lo:
            raise ValueError(f"range stop {hi:g} is below start {lo:g}")
        if len(self.range) == 3 and self.range[2] <= 0:
            raise ValueError("range step must be > 0")
        return self

    @property
    def is_int(self) -> bool:
        return all(float(v).is_integer() for v in self.range)

    def count(self) -> int | None:
        """How many grid values the range gives (None without a step), computed without building them."""
        if len(self.range) < 3:
            return None
        lo, hi, step = self.range
        n = (hi - lo) / step + 1e-9
        return int(np.floor(n)) + 1 if n < 1e15 else 10**15

    def values(self) -> list[float | int]:
        """The grid values (needs a step)."""
        n = self.count()
        if n is None:
            raise ValueError("a grid over a range needs a step: {range: [start, stop, step]}")
        if n > MAX_RANGE_VALUES:
            raise ValueError(f"range gives {n:,} values; at most {MAX_RANGE_VALUES:,} (use a larger step)")
        lo, _, step = self.range
        vals = [lo + i * step for i in range(n)]
        return [int(round(v)) for v in vals] if self.is_int else [round(v, 12) for v in vals]

    def at(self, u: float) -> float | int:
        """The value at quantile ``u`` in [0, 1) of the range (snapped to the step if any)."""
        lo, hi = self.range[0], self.range[1]
        n = self.count()
        if n is not None:  # the i-th grid value, as values() makes it, without making the list
            if n > MAX_RANGE_VALUES:
                raise ValueError(f"range gives {n:,} values; at most {MAX_RANGE_VALUES:,} (use a larger step)")
            v = lo + min(int(u * n), n - 1) * self.range[2]
            return int(round(v)) if self.is_int else round(v, 12)
        return lo + u * (hi - lo)  # no step: continuous (give a step of 1 for whole numbers)


class Target(BaseModel):
    """A KPI bound judged on the mean over replications."""

    model_config = ConfigDict(extra="forbid", strict=True)
    max: Number | None = None
    min: Number | None = None

    @model_validator(mode="after")
    def _one(self) -> Target:
        if self.max is None and self.min is None:
            raise ValueError("a target needs max or min")
        return self

    def met(self, value: float) -> bool:
        if value != value:  # NaN never meets a target
            return False
        return (self.max is None or value <= self.max) and (self.min is None or value >= self.min)


class Answer(BaseModel):
    """How to read the planner's answer: the demand axis, and what "cheapest" means: either a
    ``cost_kpi`` (a KPI the runs compute, e.g. ``cost_per_dose`` when the scenario has a costs
    section; its mean over replications), or ``cost_per_unit``, the cost of one unit of each cost
    axis (e.g. per Prodigy or per operator)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    demand: str | None = None
    over_time: bool = False
    cost_kpi: str | None = None
    cost_per_unit: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_cost(self) -> Answer:
        if (self.cost_kpi is None) == (not self.cost_per_unit):
            raise ValueError("give exactly one of cost_kpi or cost_per_unit")
        if self.demand is None and not self.over_time:
            raise ValueError("give the demand axis (demand: AXIS), or over_time: true for the answer per period")
        return self


class SweepSpec(BaseModel):
    """A sweep file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=64)]
    description: str = ""
    base: str
    set: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any] | Range] = Field(min_length=1)
    design: Literal["grid", "random", "lhs", "oat"] = "grid"
    samples: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    sample_seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    replications: Annotated[int, Field(ge=1, le=10_000)] = 1
    targets: dict[str, Target] = Field(default_factory=dict)
    answer: Answer | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        for path, axis in self.axes.items():
            if isinstance(axis, list) and not axis:
                raise LocatedValueError(f"axis {path!r} has no values", ("axes", path))
        if self.design in ("grid", "oat"):
            if self.samples is not None:
                raise LocatedValueError(
                    f"samples is for design random or lhs; {'a grid runs every combination' if self.design == 'grid' else 'one-at-a-time runs the base point and each axis at its lowest and highest value'}",
                    ("samples",))
        elif self.samples is None:
            raise LocatedValueError(f"design {self.design} needs samples", ("design",))
        _no_renamed_targets(self.targets)
        if self.answer is not None:
            if self.answer.demand is not None and self.answer.demand not in self.axes:
                raise LocatedValueError(
                    f"answer names {self.answer.demand!r}, which is not an axis", ("answer", "demand")
                )
            for p in self.answer.cost_per_unit:
                if p not in self.axes:
                    raise LocatedValueError(f"answer names {p!r}, which is not an axis", ("answer", "cost_per_unit", p))
        return self


def _no_renamed_targets(targets: dict[str, Target]) -> None:
    """Refuse a target on a KPI that was renamed (it would never be met, silently)."""
    for k in targets:
        base, at, period = k.partition("@")
        if base in RENAMED_KPIS:
            raise LocatedValueError(
                f"KPI {k!r} is no longer computed: use {RENAMED_KPIS[base] + at + period!r} (over patients with an "
                "outcome by the horizon, in-progress patients left out)", ("targets", k))


@dataclass
class Task:
    """One scenario and replication to simulate: everything a worker needs, as plain data."""

    scenario_id: str
    point_id: str
    replication: int
    data: dict[str, Any]
    base_dir: str
    measure: tuple[str, ...] = ()
    """What to measure beyond the KPIs (a risk analysis: :func:`twin.results.exposure.risk_measures`)."""


@dataclass
class Plan:
    """The expanded sweep: points (axis values), their validated scenarios, and the tasks."""

    spec: SweepSpec
    source: str
    sweep_hash: str
    points: list[dict[str, Any]]  # point_id + axis values
    tasks: list[Task]
    base_hash: str
    extra: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """What the store records to refuse a resume of a different sweep."""
        return {
            "sweep": self.spec.name,
            "sweep_file": self.source,
            "sweep_hash": self.sweep_hash,
            "celltwin_version": __version__,
            "points": len(self.points),
            "tasks": len(self.tasks),
            "axes": list(self.spec.axes),
        }


def _short_hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def point_count(spec: SweepSpec) -> int:
    """Points the design gives (before duplicates are dropped), computed without making them."""
    if spec.design == "oat":
        return 1 + 2 * len(spec.axes)
    if spec.design != "grid":
        return int(spec.samples or 0)
    n = 1
    for axis in spec.axes.values():
        k = axis.count() if isinstance(axis, Range) else len(axis)
        if k is None:
            raise ValueError("a grid over a range needs a step: {range: [start, stop, step]}")
        n = min(n * k, 10**15)
    return n


def _points(spec: SweepSpec) -> list[dict[str, Any]]:
    names = list(spec.axes)
    axes = list(spec.axes.values())
    if spec.design == "grid":
        grids = [a.values() if isinstance(a, Range) else list(a) for a in axes]
        return [dict(zip(names, combo)) for combo in itertools.product(*grids)]
    if spec.design == "oat":
        return _oat_points(names, axes)
    rng = np.random.default_rng(spec.sample_seed)
    n, d = spec.samples, len(axes)
    if spec.design == "random":
        u = rng.random((n, d))
    else:  # Latin hypercube: one sample in each of n strata per axis, strata shuffled
        u = (np.stack([rng.permutation(n) for _ in range(d)], axis=1) + rng.random((n, d))) / n
    out = []
    for row in u:
        point = {}
        for name, axis, q in zip(names, axes, row):
            point[name] = axis.at(float(q)) if isinstance(axis, Range) else axis[min(int(q * len(axis)), len(axis) - 1)]
        out.append(point)
    return out


def _low_base_high(axis: list[Any] | Range) -> tuple[Any, Any, Any]:
    """An axis's lowest, base (middle) and highest value: a range's start, midpoint (snapped to
    its step) and stop (its last grid value); a list's first, middle and last value."""
    if isinstance(axis, Range):
        if axis.count() is None:
            return axis.range[0], axis.at(0.5), axis.range[1]
        return axis.at(0.0), axis.at(0.5), axis.at(1.0)
    return axis[0], axis[len(axis) // 2], axis[-1]


def _oat_points(names: list[str], axes: list[Any]) -> list[dict[str, Any]]:
    """One-at-a-time: the base point (every axis at its base value), then each axis alone at its
    lowest and at its highest value."""
    lbh = [_low_base_high(a) for a in axes]
    base = {n: v[1] for n, v in zip(names, lbh)}
    out = [dict(base)]
    for n, (lo, _, hi) in zip(names, lbh):
        out += [{**base, n: lo}, {**base, n: hi}]
    return out


def load_sweep(path: str | Path, allow_large: bool = False) -> Plan:
    """Read a sweep file, expand it and validate every generated scenario.

    Args:
        path: the sweep file.
        allow_large: go past :data:`twin.scenario.size.MAX_SWEEP_POINTS` points,
            :data:`~twin.scenario.size.MAX_SWEEP_TASKS` tasks and
            :data:`~twin.scenario.size.MAX_RUN_EVENTS` events per task (``--allow-large``).

    Raises:
        ScenarioError: naming the sweep file (and line) or the axis and value that fail, or the
            size of a sweep over the limits (checked before any point is made).
    """
    p = Path(path)
    raw, marks = load_yaml(p, "sweep file")
    spec = validate_document(SweepSpec, raw, marks, str(p), "a sweep file")
    for key in [*spec.set, *spec.axes]:
        try:
            split_path(key)
        except Exception as err:  # noqa: BLE001 - reported with its location
            section = "set" if key in spec.set else "axes"
            raise located_error(str(err), (section, key), marks, str(p)) from None
    _check_points(spec, marks, str(p), allow_large)

    base_path = _base_path(spec, marks, p)
    base_data, base_marks = load_yaml(base_path, "base scenario")
    require_mapping(base_data, str(base_path), "a scenario")
    sources = _Sources(base_path, base_marks, p, marks)
    fixed = sources.apply(base_data, spec.set, "set")
    base_loaded = sources.validate(fixed, ("set",), "")
    names = kpi_names(base_loaded)

    try:
        points = _points(spec)
    except ValueError as err:
        raise located_error(str(err), ("axes",), marks, str(p)) from None
    seen: dict[str, dict] = {}
    tasks: list[Task] = []
    out_points: list[dict[str, Any]] = []
    for point in points:
        data = sources.apply(fixed, point, "axes")
        desc = cut(", ".join(f"{k}={clip(v)}" for k, v in point.items()), 160)
        loaded = sources.validate(data, ("axes",), desc)
        point_id = _short_hash(loaded.scenario_hash)
        names |= kpi_names(loaded)
        if point_id in seen:
            continue  # random designs may draw the same point twice; run it once
        seen[point_id] = point
        sources.check_task_size(loaded, desc, allow_large)
        out_points.append({"point_id": point_id, **point})
        for rep in range(spec.replications):
            sid = _short_hash([loaded.scenario_hash, rep])
            tasks.append(Task(sid, point_id, rep, data, str(base_path.parent)))
    sweep_hash = _short_hash([spec.model_dump(mode="json"), base_loaded.scenario_hash, [t.scenario_id for t in tasks]])
    _check_kpi_names(spec, names, marks, str(p))
    costs = base_loaded.scenario.costs
    return Plan(spec, str(p), sweep_hash, out_points, tasks, base_loaded.scenario_hash,
                {"currency": costs.currency if costs is not None else ""})


#: KPIs every scenario's runs compute (twin.results.kpis); the culture ones need an end point.
FIXED_KPIS = ("referred", "resolved", "infused", "failed", "dropped_out", "lost", "in_progress",
              "infused_fraction_of_resolved", "dropped_out_fraction_of_resolved", "failed_fraction_of_resolved",
              "lost_fraction_of_resolved", "vein_to_vein_median_days", "vein_to_vein_p90_days", "vein_to_vein_mean_days",
              "throughput_per_year", "mean_wip", "contaminated_infused", "culture_h_mean", "harvest_viability_mean",
              "infused_out_of_spec", "infused_out_of_spec_fraction_of_resolved",
              "wait_for_apheresis_median_days", "wait_for_apheresis_p90_days", "turnaround_median_days",
              "turnaround_p90_days", "release_to_infusion_median_days", "release_to_infusion_p90_days",
              "remanufactured", "schedule_changes", "slots_booked", "rebooked_fraction_of_booked")
#: KPI families named by what happened (a cause, a backup): any name after the prefix is accepted.
OPEN_FAMILIES = ("lost_by_cause.", "failed_by_cause.", "delay_h.", "backup_h.", "slot_utilisation.")


def kpi_names(loaded: LoadedScenario) -> set[str]:
    """The KPI names runs of ``loaded`` can report: the fixed ones, per pool
    ``utilisation|availability|wait_h_mean.KIND.SITE.POOL`` and, with a costs section, the
    ``cost.*`` categories and ``cost_per_dose`` and, with ``periods``, the per-period KPIs
    ``<kpi>@<period>`` (see :mod:`twin.results`)."""
    from twin.core.vocab import CHAIRS, SLOTS
    from twin.results.kpis import COST_CATEGORIES, PERIOD_KPIS

    sc = loaded.scenario
    pools = []
    for sname, site in sc.sites.items():
        if site.kind == "hospital":
            pools += [("chair", sname, CHAIRS), ("slot", sname, SLOTS)]
        pools += [("device", sname, t) for t in site.devices] + [("staff", sname, r) for r in site.staff]
    names = set(FIXED_KPIS) | {f"{m}.{k}.{si}.{n}" for k, si, n in pools for m in ("utilisation", "availability", "wait_h_mean")}
    names |= {f"utilisation_loaded_waiting.device.{si}.{n}" for k, si, n in pools if k == "device"}
    if sc.costs is not None:
        names |= {f"cost.{c}" for c in (*COST_CATEGORIES, "total")} | {"cost_per_dose"}
    per = [*PERIOD_KPIS, "referral_rate_per_week"]
    per += [f"{m}.device.{si}.{n}" for k, si, n in pools if k == "device" for m in ("utilisation", "availability")]
    names |= {f"{k}@{label}" for label, _, _ in sc.period_bounds() for k in per}
    return names


def _check_kpi_names(spec: SweepSpec, known: set[str], marks: Marks, source: str) -> None:
    """Refuse a target or cost KPI no run would report (a misspelt name would otherwise never be
    met and the whole sweep would run for nothing), with the closest known name."""
    import difflib

    wanted = [(("targets", k), k) for k in spec.targets]
    if spec.answer is not None and spec.answer.cost_kpi:
        wanted.append((("answer", "cost_kpi"), spec.answer.cost_kpi))
    for path, name in wanted:
        if name in known or name.startswith(OPEN_FAMILIES):
            continue
        guess = name.lower().replace("v2v", "vein_to_vein").replace("utilization", "utilisation")
        close = difflib.get_close_matches(guess, sorted(known), n=1, cutoff=0.6)
        hint = (f"; did you mean {close[0]!r}?" if close else
                f"; KPIs are e.g. {', '.join(FIXED_KPIS[6:10])} (twin run prints them all)")
        if name == "cost_per_dose" or name.startswith("cost."):
            hint = " (the base scenario has no costs section)"
        raise located_error(f"no run reports a KPI named {name!r}{hint}", path, marks, source)


def _base_path(spec: SweepSpec, marks: Marks, sweep_path: Path) -> Path:
    """The base scenario's path (``base:`` is read relative to the sweep file's folder); a
    missing one is an error at ``base:`` in the sweep file."""
    base_path = (sweep_path.parent / spec.base).resolve()
    if base_path.is_file():
        return base_path
    hint = ""
    if Path(spec.base).is_file() and not Path(spec.base).is_absolute():
        hint = f"; {spec.base} exists from the current folder, but base: is read relative to the sweep file"
    raise located_error(f"base scenario not found: {base_path} (base: is read relative to the sweep file's "
                        f"folder, {sweep_path.parent.resolve()}){hint}", ("base",), marks, str(sweep_path))


def _check_points(spec: SweepSpec, marks: Marks, source: str, allow_large: bool) -> None:
    """Refuse a design over the limits on points and tasks before any point is made."""
    try:
        n = point_count(spec)
        for name, axis in spec.axes.items():
            if isinstance(axis, Range) and (axis.count() or 0) > MAX_RANGE_VALUES:
                raise LocatedValueError(f"range gives {axis.count():,} values; at most {MAX_RANGE_VALUES:,} "
                                        "(use a larger step)", ("axes", name))
    except LocatedValueError as err:
        raise located_error(str(err), err.path, marks, source) from None
    except ValueError as err:
        raise located_error(str(err), ("axes",), marks, source) from None
    if allow_large:
        return
    where = ("samples",) if spec.design != "grid" else ("axes",)
    if n > MAX_SWEEP_POINTS:
        raise located_error(f"this sweep is too large: {n:,} points (the limit is {MAX_SWEEP_POINTS:,}); use fewer "
                            "values or samples, or pass --allow-large to run it anyway", where, marks, source)
    if n * spec.replications > MAX_SWEEP_TASKS:
        raise located_error(f"this sweep is too large: {n:,} points x {spec.replications:,} replications = "
                            f"{n * spec.replications:,} scenarios (the limit is {MAX_SWEEP_TASKS:,}); pass --allow-large "
                            "to run it anyway", where, marks, source)


@dataclass(frozen=True)
class _Sources:
    """The files a sweep's scenarios come from, with their line marks: the base scenario (what
    a generated scenario's own errors point into) and the sweep file (where the values that
    made it are)."""

    base_path: Path
    base_marks: Marks
    sweep_path: Path
    sweep_marks: Marks

    def apply(self, data: dict[str, Any], assignments: dict[str, Any], section: str) -> dict[str, Any]:
        """``data`` with the sweep's ``section`` (``set`` or ``axes``) ``assignments`` made; a path
        that does not fit the base scenario is an error at its line in the sweep file."""
        import copy

        out = copy.deepcopy(data)
        for key, value in assignments.items():
            try:
                set_path(out, split_path(key), value, key)
            except InputError as err:
                raise located_error(f"{err.message} in the base scenario {self.base_path.name}", (section, key),
                                    self.sweep_marks, str(self.sweep_path)) from None
        return out

    def check_task_size(self, loaded: LoadedScenario, desc: str, allow_large: bool) -> None:
        """Refuse a point whose one replication is over :data:`MAX_RUN_EVENTS` events."""
        try:
            check_work(loaded.scenario, 1, str(self.sweep_path), allow_large)
        except ScenarioError as err:
            _, pos = self.sweep_marks.locate(("axes",))
            raise ScenarioError(f"at point {desc}: {err.message} (per scenario, at most {MAX_RUN_EVENTS:,} events)",
                                file=str(self.sweep_path), line=pos[0] if pos else None,
                                column=pos[1] if pos else None) from None

    def validate(self, data: dict[str, Any], section: tuple[str, ...], desc: str) -> LoadedScenario:
        """Validate a generated scenario ``data``, made by the sweep's ``section`` (``set`` or
        ``axes``) at point ``desc`` ("" for the fixed values); an error names the sweep file."""
        try:
            return scenario_from_data(data, self.base_marks, str(self.base_path), base_dir=self.base_path.parent)
        except ScenarioError as err:
            _, pos = self.sweep_marks.locate(section)
            what = f" at point {desc}" if desc else " with the sweep's fixed 'set' values"
            raise ScenarioError(
                f"the generated scenario{what} is invalid: {err}",
                file=str(self.sweep_path),
                line=pos[0] if pos else None,
                column=pos[1] if pos else None,
                field=".".join(section),
            ) from None
