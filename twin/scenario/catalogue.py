"""The device catalogue: one YAML file per device type in ``equipment/``.

A device *type* (catalogue entry) describes a kind of equipment; a scenario's device *pool*
holds ``count`` physical units of a type at a site and may override catalogue fields. Every
number in a catalogue file must name its source (or say "assumption" and why) in the entry's
``sources`` mapping, keyed by field name; loading refuses an entry that does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from twin.core.errors import LocatedValueError, ScenarioError
from twin.scenario.distributions import Distribution
from twin.scenario.fields import Hours, Name, StrictModel
from twin.scenario.locate import located_error, validate_document
from twin.scenario.yamlio import load_yaml

Category = Literal[
    "closed_system",  # automated closed processing (Prodigy, Cocoon)
    "culture_vessel",  # static/gas-permeable culture (G-Rex) inside an incubator
    "cell_processor",  # washer / concentrator
    "freezer",  # controlled-rate freezer
    "storage",  # LN2 storage
    "cabinet",  # biosafety cabinet
    "other",
]


Utility = Literal["power", "co2", "o2", "compressed_air", "ln2"]
"""Utilities a device may draw (see :class:`twin.scenario.utilities.SiteUtilities`)."""

class DeviceFailure(StrictModel):
    """Breakdowns of each unit: it runs ``time_between_h`` calendar hours after its last repair
    (or the start), then breaks; the repair takes ``repair_h`` hours of work by a
    ``repair_role`` person (e.g. an engineer), done only while one is free and on shift, handed
    over at shift ends (no one needed when None: e.g. the vendor's field service), starting
    ``response_h`` hours after the breakdown (the vendor's response time).

    What the breakdown does to the batches inside (``on_failure``): ``pause`` (the step stops
    and resumes after the repair), ``abort`` (the batches are lost) or ``rescue`` (after
    ``rescue_delay_h`` hours the batches move to another free unit of the pool and go on; they
    wait for one if none is free)."""


    time_between_h: Distribution = Field(
        description="Calendar hours a unit runs from its last repair (or the start) until it breaks (hours), drawn "
        "per failure.",
    )
    repair_h: Distribution = Field(description="Hours of repair work, drawn per failure (hours).")
    repair_role: Name | None = Field(
        default=None,
        description="Staff role that repairs (worked only while one is on shift, handed over at shift ends); none: "
        "nobody at the site is needed (e.g. the vendor's field service).",
    )
    on_failure: Literal["pause", "abort", "rescue"] = Field(
        default="pause",
        description="What a breakdown does to the batches inside: `pause` (resume after the repair), `abort` (they "
        "are lost) or `rescue` (after `rescue_delay_h` they move to another free unit of the pool).",
    )
    rescue_delay_h: Hours = Field(
        default=0.0, description="Hours before a `rescue` moves the batches to another unit (hours).",
    )
    response_h: Hours = Field(
        default=0.0,
        description="Hours from the breakdown until the repair work starts: the vendor's field-service response "
        "time, or an in-house engineer's call-out (hours); default 0 (assumption: repair starts at once, as before; "
        "give the service contract's response time, e.g. next business day, where it applies).",
    )


class Maintenance(StrictModel):
    """Preventive maintenance: each unit every ``every_days`` days (units staggered evenly over
    the period), ``duration_h`` hours out of service. A unit due while a batch is inside goes
    into maintenance as soon as it is empty (no new batch starts on it meanwhile)."""


    every_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] = Field(
        description="Days between maintenance of each unit, the units staggered evenly over the period (days).",
    )
    duration_h: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] = Field(
        description="Hours a unit is out of service for maintenance (hours); it starts once the unit is empty.",
    )


class DeviceType(StrictModel):
    """One catalogue entry.

    Attributes:
        name: identifier a scenario uses (the file's stem).
        display_name: product name for reports.
        manufacturer: who makes it.
        category: broad kind of equipment.
        description: what it does in the process.
        batches_per_unit: how many patient batches one unit holds at the same time (batches).
        price: purchase price of one unit (currency of the scenario's costs).
        depreciation_years: straight-line depreciation period of one unit (years).
        footprint_m2: cleanroom floor taken by one unit (m²).
        utilities: what each unit draws; losing one stops the unit (power, compressed air,
            LN2) or degrades the culture inside it (CO2, O2: the culture kernel's conditions).
        network: what the unit does while the site's IT/MES network is down (``continue`` or
            ``stop``).
        on_stop: what a stop (power, network, breakdown with ``pause``) does to the batch inside:
            ``pause`` (resumes where it was) or ``abort`` (the batch is lost).
        stop_tolerance_h: a batch inside a stopped unit longer than this (hours, in one stop) is
            lost (e.g. product in LN2 storage warming up); None: any stop is tolerated.
        changeover_h: cleaning and line clearance after a unit empties (hours) before the next
            batch may start on it.
        changeover_role: the staff role whose hands-on hours the changeover is, worked on shift
            (None: nobody from the site's staff).
        failure: breakdowns and repairs (None: never breaks).
        maintenance: preventive maintenance calendar (None: none).
        co2_l_per_h: CO2 drawn by one unit (litres/hour), sizing the backup bottle bank.
        o2_l_per_h: O2 drawn by one unit (litres/hour), sizing the O2 backup bottle bank.
        ln2_l_per_day: LN2 drawn by one unit (litres/day: boil-off, freezing runs), sizing the
            site's tank.
        culture_capacity_cells: carrying capacity of one batch's culture in the unit (cells), for
            culture steps with an end point.
        sources: field name -> published source, or text starting "assumption".
    """


    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", max_length=64,
        description="Identifier a scenario uses, the file's stem.",
    )
    display_name: str = Field(min_length=1, max_length=200, description="Product name for reports.")
    manufacturer: str = Field(min_length=1, max_length=200, description="Who makes it.")
    category: Category = Field(description="Broad kind of equipment.")
    description: str = Field(min_length=1, max_length=2000, description="What it does in the process.")
    batches_per_unit: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=1, description="Patient batches one unit holds at the same time (batches).",
    )
    price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = Field(
        default=None, description="Purchase price of one unit (currency of the scenario's costs).",
    )
    depreciation_years: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = Field(
        default=None, description="Straight-line depreciation period of one unit (years).",
    )
    footprint_m2: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = Field(
        default=None, description="Cleanroom floor one unit takes (m²).",
    )
    utilities: list[Utility] = Field(
        default_factory=lambda: ["power"], max_length=5,
        description="What each unit draws: losing `power`, `compressed_air` or `ln2` stops it; losing `co2` or "
        "`o2` stops new batches and degrades the culture inside (CO2).",
    )
    network: Literal["continue", "stop"] = Field(
        default="continue",
        description="What a unit does while the site's IT/MES system is down: `continue` or `stop`.",
    )
    on_stop: Literal["pause", "abort"] = Field(
        default="pause",
        description="What a stop (power, network, a breakdown with `pause`) does to the batch inside: `pause` "
        "(it resumes where it was) or `abort` (it is lost).",
    )
    stop_tolerance_h: Hours | None = Field(
        default=None,
        description="A batch inside a stopped unit for longer than this in one stop is lost, e.g. product in LN2 "
        "storage warming up (hours); none: any stop is tolerated.",
    )
    changeover_h: Hours | None = Field(
        default=None,
        description="Cleaning and line clearance after a unit empties before the next batch may start on it "
        "(hours); none: no changeover.",
    )
    changeover_role: Name | None = Field(
        default=None,
        description="Staff role that does the changeover: its `changeover_h` are hands-on hours of a person of "
        "this role, worked only while one is free and on shift (handed over at shift ends); none: the changeover "
        "needs nobody from the site's staff (as before).",
    )
    failure: DeviceFailure | None = Field(default=None, description="Breakdowns and repairs; none: it never breaks.")
    maintenance: Maintenance | None = Field(default=None, description="Preventive maintenance; none: no maintenance.")
    co2_l_per_h: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] | None = Field(
        default=None, description="CO2 one unit draws (litres per hour); it sizes the CO2 bottle bank.",
    )
    o2_l_per_h: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] | None = Field(
        default=None, description="O2 one unit draws (litres per hour); it sizes the O2 bottle bank.",
    )
    culture_capacity_cells: Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Carrying capacity of one batch's culture in the unit (cells), for culture steps.",
    )
    ln2_l_per_day: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] | None = Field(
        default=None,
        description="LN2 one unit draws: boil-off and freezing runs (litres per day); it sizes the site's tank.",
    )
    sources: dict[str, Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]] = (
        Field(description="Field name -> its published source, or text starting 'assumption'.")
    )

    @classmethod
    def overridable(cls) -> set[str]:
        """Fields a scenario may override: the numbers and behaviours (not what the device *is*)."""
        return {
            "batches_per_unit", "price", "depreciation_years", "footprint_m2", "utilities", "network", "on_stop",
            "stop_tolerance_h", "changeover_h", "changeover_role", "failure", "maintenance", "co2_l_per_h", "o2_l_per_h", "ln2_l_per_day",
            "culture_capacity_cells",
        }

    @model_validator(mode="after")
    def _every_number_sourced(self) -> DeviceType:
        for fname in type(self).model_fields:
            value = getattr(self, fname)
            numeric = isinstance(value, (int, float, BaseModel)) and not isinstance(value, bool)
            given = fname in self.model_fields_set or fname == "batches_per_unit"
            if numeric and given and fname not in self.sources:
                raise LocatedValueError(
                    f"field {fname!r} has no entry in 'sources' (give the published "
                    "source, or 'assumption: <why>'; a nested entry such as 'failure' needs one too)",
                    (fname,),
                )
        for fname in self.sources:
            if fname not in type(self).model_fields:
                raise LocatedValueError(f"'sources' names an unknown field {fname!r}", ("sources", fname))
        return self

    def with_overrides(self, override: dict[str, Any]) -> DeviceType:
        """A copy with scenario overrides applied and re-validated.

        An overridden number is sourced by the scenario, so its catalogue source is replaced by
        "scenario override".
        """
        if not override:
            return self
        data = self.model_dump()
        data.update(override)
        data["sources"] = {**self.sources, **{k: "scenario override" for k in override}}
        return DeviceType.model_validate(data)



def load_device_type(path: Path) -> DeviceType:
    """Load and validate one catalogue file (errors name the file and line)."""
    data, marks = load_yaml(path, "catalogue entry")
    dt = validate_document(DeviceType, data, marks, str(path), "a catalogue entry")
    if dt.name != path.stem:
        raise located_error(
            f"name {dt.name!r} must match the file name {path.stem!r}", ("name",), marks, str(path)
        )
    return dt


_CACHE: dict[tuple, dict[str, DeviceType]] = {}


def load_catalogue(directory: Path) -> dict[str, DeviceType]:
    """All device types in ``directory`` (``*.yaml``), keyed by name.

    Cached per process on the files' names, sizes and modification times, so a sweep worker
    validating thousands of scenarios reads the catalogue once (a changed file is re-read).
    """
    if not directory.is_dir():
        raise ScenarioError(f"device catalogue folder not found: {directory}")
    paths = sorted(directory.glob("*.yaml"))
    try:
        key = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    except OSError as err:  # e.g. a dangling link
        raise ScenarioError(f"cannot read catalogue entry: {err.strerror or err}", file=str(err.filename or directory)) from None
    cached = _CACHE.get(key)
    if cached is not None:
        return dict(cached)
    types: dict[str, DeviceType] = {}
    for path in paths:
        dt = load_device_type(path)
        types[dt.name] = dt
    if not types:
        raise ScenarioError(f"device catalogue folder has no *.yaml files: {directory}")
    _CACHE[key] = types
    return dict(types)


def bundled_dir(kind: str) -> Path:
    """The bundled ``equipment`` or ``scenarios`` folder (source checkout or installed wheel)."""
    here = Path(__file__).resolve().parents[1]  # the twin package
    for candidate in (here / "_bundled" / kind, here.parent / kind):
        if candidate.is_dir():
            return candidate
    raise ScenarioError(f"bundled folder {kind!r} not found next to the twin package")
