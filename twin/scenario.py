"""The scenario: what a user writes in YAML, validated with pydantic v2.

Units live in field names: ``*_h`` hours, ``*_days`` days, ``rate_per_week`` patients per week,
``hazard_per_day`` probability rate per day. Unknown keys are errors, numbers are bounded,
counts are strict integers. ``load_scenario`` reads a YAML file and returns a
:class:`LoadedScenario`: the validated :class:`Scenario`, the device types it uses (catalogue plus
overrides) and its provenance hashes. Every error is a :class:`twin.errors.ScenarioError` naming
the file, line and field.

The patient journey the fields describe (needle to needle)::

    referral -> apheresis (hospital chair) -> courier -> receipt & chain-of-identity check
      -> recipe steps on devices -> cryopreservation -> LN2 storage during QC panel
      -> QP release -> courier back -> infusion (hospital slot)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.catalogue import DeviceType, bundled_dir, load_catalogue
from twin.culture import Biology, EndPoint
from twin.distributions import Distribution, Fixed
from twin.errors import LocatedValueError, ScenarioError
from twin.operations import (
    WEEKDAYS,
    Connection,
    ConnectionType,
    Outage,
    ShiftBlock,
    SiteUtilities,
    StaffRole,
    Weekday,
    default_connections,
)
from twin.validation import located_error, require_mapping, validate_document
from twin.yamlio import Marks, load_yaml, parse_yaml

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=64)]
Count = Annotated[int, Field(ge=0, le=100_000)]
Hours = Annotated[float, Field(ge=0, le=1.0e6, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class DevicePool(_Model):
    """``count`` units of a catalogue device type at a site; ``override`` changes catalogue fields."""

    count: Count = Field(description="Units of this device type at the site (0: the type is listed but has no units).")
    override: dict[str, Any] = Field(
        default_factory=dict,
        description="Catalogue fields to change for this site's units, e.g. `{batches_per_unit: 6, failure: null}`: "
        "the device's numbers and behaviours (not what it is); checked like the catalogue entry, and an overridden "
        "number is sourced as 'scenario override'.",
    )


def _headcount_is_short_form(v: Any) -> Any:
    """``role: 3`` means ``role: {count: 3}`` (on duty around the clock)."""
    if isinstance(v, bool):
        raise ValueError("expected a headcount (an integer) or a mapping with count, shift, skills, ...; "
                         "got a yes/no value")
    return {"count": v} if isinstance(v, int) else v


class Site(_Model):
    """A hospital (apheresis chairs, infusion slots; optionally a point-of-care manufacturing
    cell: devices and staff) or a factory (a central plant or a regional hub: devices).

    Both kinds hold staff: role name -> headcount (on duty around the clock) or a
    :class:`twin.operations.StaffRole` (count, shift calendar, skills, absence, turnover); and
    utilities with their backups. A site makes batches when it has every device type and role the
    recipe, cryopreservation, storage, QC and release need.
    """

    kind: Literal["hospital", "factory"] = Field(
        description="`hospital`: refers patients, collects (apheresis) and infuses them; with devices and staff it is "
        "also a point-of-care manufacturing cell. `factory`: a central plant or regional hub that makes batches.",
    )
    apheresis_chairs: Count = Field(
        default=0, description="Apheresis chairs (chairs): each holds one patient for the apheresis step; a hospital "
        "needs at least 1, a factory has none.",
    )
    infusion_slots: Count = Field(
        default=0, description="Infusion slots (slots): each holds one patient for the infusion step; a hospital "
        "needs at least 1, a factory has none.",
    )
    devices: dict[Name, DevicePool] = Field(
        default_factory=dict,
        description="Device pools by catalogue type name: `{TYPE: {count, override}}`. A site makes batches when it "
        "has every device type and role the recipe, cryopreservation, storage, QC and release need.",
    )
    staff: dict[Name, Annotated[StaffRole, BeforeValidator(_headcount_is_short_form)]] = Field(
        default_factory=dict,
        description="People by role name: a headcount (`operator: 3`, on duty around the clock) or "
        "`{count, shift, skills, absence_per_day, turnover}`.",
    )
    utilities: SiteUtilities = Field(
        default_factory=SiteUtilities,
        description="Power, gases, LN2, air handling and IT at the site, with their backups (default: no backups).",
    )

    def headcount(self, role: str) -> int:
        """People of ``role`` at this site (0 if none)."""
        r = self.staff.get(role)
        return 0 if r is None else r.count

    @model_validator(mode="after")
    def _kind_fields(self) -> Site:
        if self.kind == "hospital":
            if self.apheresis_chairs < 1 or self.infusion_slots < 1:
                raise ValueError("a hospital needs apheresis_chairs >= 1 and infusion_slots >= 1")
        elif self.apheresis_chairs or self.infusion_slots:
            raise ValueError("a factory has no apheresis_chairs or infusion_slots")
        return self


class Referrals(_Model):
    """Patient referrals: Poisson at ``rate_per_week`` in all, or at explicit ``times_h``;
    each patient belongs to a hospital drawn with the ``hospitals`` shares (default: equal
    shares of every hospital). The patient stream depends only on these fields and the seed, so
    layouts that share them see the same patients at the same hospitals."""

    rate_per_week: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Mean referrals per week over all hospitals (patients per week), Poisson arrivals; give this "
        "or `times_h`.",
    )
    times_h: list[Hours] | None = Field(
        default=None, max_length=1_000_000,
        description="Explicit referral times (hours from the start of day 0); times at or after the horizon are "
        "ignored; give this or `rate_per_week`.",
    )
    hospitals: dict[Name, Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] | None = Field(
        default=None,
        description="Relative share of patients per hospital, normalised to sum to 1; a hospital not listed gets no "
        "patients (default: equal shares of every hospital).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Referrals:
        if (self.rate_per_week is None) == (self.times_h is None):
            raise ValueError("give exactly one of rate_per_week or times_h")
        return self


class ClinicalStep(_Model):
    """A step at the hospital (apheresis, infusion): holds a chair/slot for ``duration_h``.

    ``role`` staff are held for the first ``hands_on_h`` hours; the step lasts at least that long.
    """

    duration_h: Distribution = Field(
        description="How long the step takes (hours), drawn per patient: a number or a distribution. It holds its "
        "place (chair, slot or device unit) throughout and lasts max(duration, `hands_on_h`).",
    )
    role: Name | None = Field(
        default=None,
        description="Staff role that does the hands-on part: people of this role, or of a role whose `skills` list "
        "the step, at the site where it runs (none: no one is needed).",
    )
    hands_on_h: Hours = Field(
        default=0.0,
        description="Hours a qualified person of `role` works at the start of the step, on shift and present for "
        "all of them; the step waits until someone is (hours; more than 0 needs a role).",
    )

    @model_validator(mode="after")
    def _role_for_hands_on(self) -> ClinicalStep:
        if self.hands_on_h > 0 and self.role is None:
            raise ValueError("hands_on_h > 0 needs a role")
        return self


class Step(ClinicalStep):
    """A factory step: holds one unit of ``device`` (a catalogue type) for its whole duration.

    Consecutive steps on the same device type keep the same unit (e.g. a Prodigy run from
    selection to harvest). ``processing`` says whether the product is exposed (open, in a
    biosafety cabinet: it needs the cleanroom in grade) or stays in a closed system.
    ``transfer``: how material comes in (a connection type in the scenario's ``connections``),
    made at the step's start. ``staff_wait_limit_h``: a step that cannot wait (e.g. harvest at
    the biological end point) fails the batch if no qualified person is free and on shift within
    this many hours of it being due (None: it waits as long as it takes). ``end_point``: a
    culture step whose length comes from the culture kernel (target dose or maximum length; see
    :mod:`twin.culture`) instead of ``duration_h``.
    """

    name: Name = Field(
        description="Step name, unique in the recipe: it names the step in the event log, batch table, costs "
        "(`consumables_per_batch`) and staff `skills`.",
    )
    device: Name | None = Field(
        default=None,
        description="Catalogue device type of which the step holds one unit for its whole duration (none: no "
        "device); consecutive steps on the same type keep the same unit.",
    )
    processing: Literal["open", "closed"] = Field(
        default="closed",
        description="`closed`: the product stays in a closed system. `open`: the product is exposed, so the step "
        "runs only while the cleanroom is in grade, and a loss of grade during it loses the batch.",
    )
    transfer: ConnectionType | None = Field(
        default=None,
        description="How material comes into the step, at its start: a connection type of `connections` "
        "(`sterile_weld`, `aseptic_connector` or `open`) with its own time, hands-on, contamination and leak "
        "risk (none: no transfer).",
    )
    staff_wait_limit_h: Hours | None = Field(
        default=None,
        description="For a step that cannot wait (hours): when no qualified person is free and on shift within this "
        "many hours of the step (or its transfer) needing one, the batch fails with cause "
        "`STEP:no_qualified_staff` (none: it waits as long as it takes).",
    )
    end_point: EndPoint | None = Field(
        default=None,
        description="Makes this a culture step: after its hands-on start the culture model decides its length "
        "(target cells or maximum hours) instead of `duration_h`; needs `biology` and a device with "
        "`culture_capacity_cells`.",
    )
    duration_h: Distribution = Field(
        default_factory=lambda: Fixed(value=0.0),
        description="How long the step takes (hours), drawn per patient; it lasts max(duration, `hands_on_h`). "
        "Required, except in a culture step (one with an `end_point`), where it is not used.",
    )

    @model_validator(mode="after")
    def _duration_or_end_point(self) -> Step:
        if self.end_point is None and "duration_h" not in self.model_fields_set:
            raise LocatedValueError("a step needs duration_h (or an end_point for a culture step)", ("duration_h",))
        if self.end_point is not None and self.device is None:
            raise LocatedValueError("a culture step (end_point) runs in a device; name it", ("device",))
        return self


class Cryopreservation(ClinicalStep):
    """Formulation and controlled-rate freezing on ``device``."""

    device: Name = Field(
        description="Catalogue device type (a controlled-rate freezer) of which the step holds one unit.",
    )


class Storage(_Model):
    """Cryopreserved product waits in ``device`` (one position per batch) until it ships."""

    device: Name = Field(
        description="Catalogue device type (LN2 storage) in which each batch holds one position from freezing, "
        "through QC and release, until it ships; a stop longer than the type's `stop_tolerance_h` loses it.",
    )


class QCTest(_Model):
    """One release test. Tests of a panel run in parallel; an analyst is needed for
    ``hands_on_h`` at the start. ``fail_probability`` is the chance the batch fails this test
    for reasons the model does not simulate, drawn per batch. With a culture model, ``measures``
    ties the result to the batch: ``contamination`` fails a batch whose sample
    (``sample_fraction`` of the product) holds organisms, missed with ``false_negative``;
    ``viability`` and ``dose`` fail a batch below ``spec`` (a fraction; cells)."""

    name: Name = Field(
        description="Test name, unique in the panel: a failure has cause `qc:NAME`, and `skills` and "
        "`costs.qc_per_test` refer to it.",
    )
    duration_h: Distribution = Field(description="Time from the test's start to its result (hours), drawn per batch.")
    hands_on_h: Hours = Field(default=0.0, description="Analyst hours at the start of the test (hours).")
    fail_probability: Probability = Field(
        default=0.0,
        description="Chance the batch fails this test for reasons the model does not simulate (probability per "
        "batch).",
    )
    measures: Literal["contamination", "viability", "dose"] | None = Field(
        default=None,
        description="What the result judges, with a culture model: `contamination` (organisms in the sample), "
        "`viability` or `dose` (below `spec` at harvest); none: only `fail_probability`.",
    )
    spec: Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False)] | None = Field(
        default=None,
        description="The release minimum a `viability` test (a fraction, 0-1) or `dose` test (viable cells) "
        "judges against: the batch fails below it.",
    )
    sample_fraction: Probability = Field(
        default=0.01,
        description="Fraction of the product a `contamination` test samples (0-1); the organisms in the sample are "
        "Poisson.",
    )
    false_negative: Probability = Field(
        default=0.0, description="Chance a `contamination` test misses a contaminated sample (probability).",
    )

    @model_validator(mode="after")
    def _spec(self) -> QCTest:
        if self.measures in ("viability", "dose") and self.spec is None:
            raise LocatedValueError(f"a test that measures {self.measures} needs its spec (the minimum)", ("spec",))
        if self.measures == "viability" and self.spec is not None and self.spec > 1:
            raise LocatedValueError("a viability spec is a fraction (e.g. 0.7)", ("spec",))
        return self


class QCPanel(_Model):
    """Release tests on every batch, run by ``role`` analysts at the manufacturing site, or at a
    central QC ``lab`` (a site name) that samples reach by courier (transit and delays as the
    lane says; sample losses are not modelled)."""

    role: Name = Field(description="Analyst role that does each test's hands-on time (at the manufacturing site or "
                                   "the `lab`).")
    tests: list[QCTest] = Field(
        min_length=1, max_length=100,
        description="Release tests, run in parallel on every batch while it waits in storage; the batch is rejected "
        "at the first failing result.",
    )
    lab: Name | None = Field(
        default=None,
        description="A central QC lab (a site name) that samples reach by courier (never lost); none: the tests "
        "run at the manufacturing site.",
    )

    @model_validator(mode="after")
    def _unique(self) -> QCPanel:
        names = [t.name for t in self.tests]
        if len(set(names)) != len(names):
            raise ValueError(f"QC test names must be unique, got {names}")
        return self


class Release(_Model):
    """QP certification once every QC result is in; ``role`` held for ``hands_on_h``, on site or
    by a remote QP at ``site`` (reviewing the batch record; the product stays where it is)."""

    role: Name = Field(description="Role of the qualified person (QP) who certifies the batch.")
    duration_h: Distribution = Field(
        description="How long certification takes (hours), drawn per batch; it progresses only while the IT/MES "
        "system is up.",
    )
    hands_on_h: Hours = Field(default=0.0, description="QP hours at the start of release (hours).")
    site: Name | None = Field(
        default=None,
        description="Site of a remote QP who reviews the batch record (the product stays where it is); none: the "
        "manufacturing site.",
    )


class CourierLane(_Model):
    """Shipments from site ``from`` to site ``to``.

    A shipment ready to go waits for the next pickup: at ``pickup_h`` (hour of the day, the
    cut-off) on one of ``pickup_days`` (default: collected at once, any day). It then takes
    ``transit_h`` hours door to door; with ``delay_probability`` it is held up ``delay_h``
    hours more, and with ``loss_probability`` it never arrives (the batch is lost).
    """

    from_: Name = Field(alias="from", description="Site the lane starts at.")
    to: Name = Field(description="Site the lane ends at.")
    transit_h: Distribution = Field(description="Door-to-door time after pickup (hours), drawn per shipment.")
    pickup_h: Annotated[float, Field(ge=0, lt=24, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Hour of the day of the pickup, the cut-off (hour of day, 0 to below 24): a shipment waits for "
        "the next one; none: collected at once.",
    )
    pickup_days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS), min_length=1, max_length=7,
        description="Weekdays with a pickup (`mon` ... `sun`; the calendar starts at `start_date`).",
    )
    delay_probability: Probability = Field(
        default=0.0, description="Chance a shipment is held up by `delay_h` (probability per shipment).",
    )
    delay_h: Distribution = Field(
        default_factory=lambda: Fixed(value=0.0),
        description="Extra time a delayed shipment takes (hours), drawn per shipment.",
    )
    loss_probability: Probability = Field(
        default=0.0,
        description="Chance a shipment never arrives and the batch is lost (probability per shipment; QC samples "
        "are never lost).",
    )


class StartingMaterial(_Model):
    """How the apheresis product travels to manufacturing.

    ``fresh``: it must be received within ``viability_h`` hours of the end of apheresis, or the
    batch is lost. ``cryopreserved``: it is first frozen at the hospital (``freezing``), then
    travels in a dry shipper like the final product (see ``shipper_hold_h``).
    """

    form: Literal["fresh", "cryopreserved"] = Field(
        default="fresh",
        description="`fresh`: shipped as collected, against the `viability_h` clock. `cryopreserved`: frozen at the "
        "hospital first (`freezing`), then shipped in a dry shipper (see `shipper_hold_h`).",
    )
    viability_h: Hours | None = Field(
        default=None,
        description="Fresh material only: it must be received within this many hours of the end of apheresis, or "
        "the batch is lost (cause `starting_material_expired`); none: no limit (hours).",
    )
    freezing: ClinicalStep | None = Field(
        default=None,
        description="The freezing step at the hospital, for (and only for) cryopreserved starting material.",
    )

    @model_validator(mode="after")
    def _form_fields(self) -> StartingMaterial:
        if self.form == "cryopreserved" and self.freezing is None:
            raise LocatedValueError("cryopreserved starting material needs a freezing step", ("freezing",))
        if self.form == "fresh" and self.freezing is not None:
            raise LocatedValueError("fresh starting material is not frozen; remove freezing", ("freezing",))
        return self


class Routing(_Model):
    """Which site makes each hospital's batches.

    ``fixed``: ``assign`` maps hospital -> site; a hospital not listed uses its own cell if it
    has one, else the only site that can make batches. ``nearest``: among sites that can make
    batches, the one with the shortest mean transit that has a free unit of the first recipe
    device when the batch ships (the nearest of all if none has). ``least_expected_v2v``: the
    site with the least mean transit both ways plus expected wait for that device (batches
    waiting x mean hold / units).
    """

    policy: Literal["fixed", "nearest", "least_expected_v2v"] = Field(
        default="fixed",
        description="`fixed`: the site in `assign`. `nearest`: the nearest site (by mean transit) with a free unit "
        "of the first recipe device when the batch ships. `least_expected_v2v`: least mean transit both ways plus "
        "expected wait for that device.",
    )
    assign: dict[Name, Name] = Field(
        default_factory=dict,
        description="Under `fixed`, hospital -> the site that makes its batches; a hospital not listed uses its own "
        "cell if it has one, else the only site that can make batches.",
    )


Money = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


class Costs(_Model):
    """Cost of goods inputs (all money in ``currency``). Device prices, depreciation and
    footprints come from the catalogue.

    Cost over the measurement window, by category: capital (device price / depreciation years),
    cleanroom (device footprint x ``area_factor`` x ``cleanroom_per_m2_year``), labour
    (headcount x ``paid_hours_per_fte_year`` x ``labour_per_h`` of the role: paid hours, idle
    ones included), consumables (``consumables_per_batch`` per step started), QC
    (``qc_per_test`` per test started), courier (``per_shipment`` per shipment) and overhead
    (``overhead_per_site_year``). Cost per dose = total / patients infused in the window.
    """

    currency: Annotated[str, Field(min_length=1, max_length=8)] = Field(
        default="EUR", description="Currency every amount is in (a label for the reports).",
    )
    labour_per_h: dict[Name, Money] = Field(
        default_factory=dict,
        description="Rate per paid hour, by role (currency per hour); every staff role needs one.",
    )
    paid_hours_per_fte_year: Annotated[float, Field(gt=0, le=8760, allow_inf_nan=False)] = Field(
        default=1650.0,
        description="Paid hours per person per year (hours per year): labour = headcount x these hours x rate, idle "
        "hours included.",
    )
    consumables_per_batch: dict[Name, Money] = Field(
        default_factory=dict,
        description="Consumables by step name (currency per step started): recipe steps, `apheresis`, `freezing`, "
        "`receipt`, `cryopreservation`, `release`, `infusion`.",
    )
    qc_per_test: dict[Name, Money] = Field(
        default_factory=dict, description="Cost by QC test name (currency per test started).",
    )
    per_shipment: Money = Field(default=0.0, description="Courier cost (currency per shipment).")
    cleanroom_per_m2_year: Money = Field(
        default=0.0,
        description="Cleanroom running cost (currency per m² per year), charged on each device unit's footprint "
        "x `area_factor`.",
    )
    area_factor: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)] = Field(
        default=1.0,
        description="Cleanroom floor per m² of device footprint, for corridors, gowning and so on (a factor, "
        "at least 1).",
    )
    overhead_per_site_year: dict[Name, Money] = Field(
        default_factory=dict, description="Fixed overhead by site name (currency per year).",
    )


class Dropout(_Model):
    """While waiting between referral and infusion a patient drops out (disease progression,
    death, ineligibility) at constant hazard ``hazard_per_day`` (per day)."""

    hazard_per_day: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = Field(
        default=0.0,
        description="Constant drop-out hazard from referral until infusion starts (per day): each patient's "
        "drop-out time is exponential with mean 1/hazard days; waiting in a queue ends at once, a step in progress "
        "finishes first; 0: nobody drops out.",
    )


class Scenario(_Model):
    """A whole scenario. See ``scenarios/centralised.yaml`` for an annotated example."""

    name: Name = Field(description="Scenario name: labels the results and names the default run folder.")
    description: str = Field(
        default="", max_length=10_000,
        description="Free text saying what the scenario is; kept with the validated scenario in `scenario.json`.",
    )
    start_date: dt.date = Field(
        description="Calendar date of day 0 (YYYY-MM-DD): its weekday anchors the shift calendars and courier "
        "pickup days, and report timelines are dated from it.",
    )
    horizon_days: Annotated[float, Field(gt=0, le=36_500, allow_inf_nan=False)] = Field(
        description="How long the simulation runs (days).",
    )
    warmup_days: Annotated[float, Field(ge=0, le=36_500, allow_inf_nan=False)] = Field(
        default=0.0,
        description="Start of the measurement window (days): KPIs are of patients referred from then to the "
        "horizon; less than `horizon_days`.",
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] = Field(
        description="Root seed of every random stream: the same seed gives the same patients and draws (common "
        "random numbers across layouts).",
    )
    replications: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=1, description="Independent replications `twin run` simulates (`-r N` overrides it).",
    )
    catalogue: str | None = Field(
        default=None,
        description="Device catalogue folder, relative to the scenario file (default: the bundled `equipment/`).",
    )
    sites: dict[Name, Site] = Field(
        min_length=1, description="Hospitals and factories by name; at least one is a hospital.",
    )
    referrals: Referrals = Field(description="When patients are referred, and to which hospital.")
    apheresis: ClinicalStep = Field(
        description="Collection of the patient's cells at the hospital; holds an apheresis chair.",
    )
    receipt: ClinicalStep = Field(
        description="Receipt and chain-of-identity check at the manufacturing site; it needs the IT/MES system up "
        "(a batch record is opened).",
    )
    recipe: list[Step] = Field(
        min_length=1, max_length=200, description="The manufacturing steps, in order, on the site's devices.",
    )
    cryopreservation: Cryopreservation = Field(
        description="Formulation and controlled-rate freezing after the recipe.",
    )
    storage: Storage = Field(description="LN2 storage of the frozen product during QC and release.")
    qc: QCPanel = Field(description="The QC release panel.")
    release: Release = Field(description="QP certification once every QC result is in.")
    infusion: ClinicalStep = Field(
        description="Infusion at the hospital; holds an infusion slot. The wait (and drop-out risk) ends when it "
        "starts.",
    )
    couriers: list[CourierLane] = Field(
        default_factory=list,
        description="Courier lanes between sites: each hospital needs a lane to and from the site that makes its "
        "batches (none within a site).",
    )
    starting_material: StartingMaterial = Field(
        default_factory=StartingMaterial,
        description="How the apheresis product travels to manufacturing: fresh or cryopreserved.",
    )
    shipper_hold_h: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Hold time of the dry vapour shipper (hours): a shipment of frozen material (the final product, "
        "or cryopreserved starting material) whose transit is longer is lost; none: no limit.",
    )
    routing: Routing = Field(default_factory=Routing, description="Which site makes each hospital's batches.")
    dropout: Dropout = Field(default_factory=Dropout, description="Patients dropping out while they wait.")
    costs: Costs | None = Field(
        default=None, description="Cost of goods inputs; none: no cost KPIs.",
    )
    shifts: dict[Name, list[ShiftBlock]] = Field(
        default_factory=dict,
        description="Named shift calendars that staff roles refer to: `{NAME: [{days, start_h, end_h}, ...]}`.",
    )
    connections: dict[ConnectionType, Connection] = Field(
        default_factory=default_connections,
        description="Tubing connection types that recipe steps' `transfer` names; a type you list is merged over "
        "its default.",
    )
    outages: list[Outage] = Field(
        default_factory=list, max_length=10_000,
        description="Scripted or stochastic outages of utilities, IT, devices or staff.",
    )
    biology: Biology | None = Field(
        default=None, description="The culture model; needed by recipe steps with an `end_point`.",
    )

    @field_validator("connections", mode="before")
    @classmethod
    def _merge_connection_defaults(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        merged: dict[str, Any] = {k: c.model_dump() for k, c in default_connections().items()}
        for k, given in v.items():
            merged[k] = {**merged[k], **given} if k in merged and isinstance(given, dict) else given
        return merged

    @model_validator(mode="after")
    def _warmup(self) -> Scenario:
        if self.warmup_days >= self.horizon_days:
            raise LocatedValueError(
                f"warmup_days ({self.warmup_days:g}) must be less than horizon_days "
                f"({self.horizon_days:g})",
                ("warmup_days",),
            )
        seen: set[str] = set()
        for i, step in enumerate(self.recipe):
            if step.name in seen:
                raise LocatedValueError(
                    f"recipe step names must be unique; {step.name!r} is repeated", ("recipe", i, "name")
                )
            seen.add(step.name)
        return self

    # -- derived views used by the model -------------------------------------------------
    @property
    def horizon_h(self) -> float:
        """Simulated time span (hours)."""
        return self.horizon_days * 24.0

    @property
    def warmup_h(self) -> float:
        """Start of the measurement window (hours)."""
        return self.warmup_days * 24.0

    def hospital_shares(self) -> dict[str, float]:
        """Referring hospitals and their share of patients (summing to 1)."""
        shares = self.referrals.hospitals or {n: 1.0 for n, s in self.sites.items() if s.kind == "hospital"}
        total = sum(shares.values())
        return {h: w / total for h, w in shares.items()}

    def device_types_needed(self) -> list[str]:
        """Device types a manufacturing site must have."""
        types = [s.device for s in self.recipe if s.device is not None]
        return list(dict.fromkeys([*types, self.cryopreservation.device, self.storage.device]))

    def roles_needed(self) -> list[str]:
        """Staff roles a manufacturing site must have."""
        roles = [s.role for s in (self.receipt, *self.recipe, self.cryopreservation) if s.role and s.hands_on_h > 0]
        if self.qc.lab is None and any(t.hands_on_h > 0 for t in self.qc.tests):
            roles.append(self.qc.role)
        if self.release.site is None and self.release.hands_on_h > 0:
            roles.append(self.release.role)
        return list(dict.fromkeys(roles))

    def can_manufacture(self, site: str) -> bool:
        """Whether ``site`` has every device type and role manufacturing needs."""
        s = self.sites[site]
        return all(s.devices.get(t) is not None and s.devices[t].count > 0 for t in self.device_types_needed()) and \
            all(s.headcount(r) > 0 for r in self.roles_needed())

    def transit_mean_h(self, origin: str, destination: str) -> float:
        """Mean courier transit (hours); 0 within a site."""
        return 0.0 if origin == destination else self.lane(origin, destination).transit_h.mean

    def route_candidates(self, hospital: str) -> list[str]:
        """Sites that may make ``hospital``'s batches, nearest first (one site under ``fixed``)."""
        if self.routing.policy == "fixed":
            if hospital in self.routing.assign:
                return [self.routing.assign[hospital]]
            if self.can_manufacture(hospital):
                return [hospital]
            makers = [n for n in self.sites if self.can_manufacture(n)]
            return makers if len(makers) == 1 else []
        makers = [n for n in self.sites if self.can_manufacture(n) and (n == hospital or (
            self.has_lane(hospital, n) and self.has_lane(n, hospital)))]
        return sorted(makers, key=lambda n: (self.transit_mean_h(hospital, n), n))

    def skill_names(self, types: dict[str, DeviceType] | None = None) -> list[str]:
        """Names a role's ``skills`` may list: the hands-on steps, QC tests as ``qc:NAME``, and
        device repairs as ``repair:TYPE``."""
        names = ["apheresis", "freezing", "receipt", *(s.name for s in self.recipe), "cryopreservation",
                 *(f"qc:{t.name}" for t in self.qc.tests), "release", "infusion"]
        names += [f"repair:{t}" for t in sorted({t for site in self.sites.values() for t in site.devices})]
        return names

    def step_roles(self, device_types: dict[tuple[str, str], DeviceType]) -> dict[str, str]:
        """Step (skill name) -> the role it names, for every step that has one: people of that
        role are qualified for it (others only through their ``skills``)."""
        out: dict[str, str] = {}
        freezing = self.starting_material.freezing
        for name, spec in (("apheresis", self.apheresis), ("freezing", freezing), ("receipt", self.receipt),
                           *((st.name, st) for st in self.recipe), ("cryopreservation", self.cryopreservation),
                           ("release", self.release), ("infusion", self.infusion)):
            if spec is not None and spec.role is not None:
                out[name] = spec.role
        for t in self.qc.tests:
            out[f"qc:{t.name}"] = self.qc.role
        for (_, tname), dtype in sorted(device_types.items()):
            if dtype.failure is not None and dtype.failure.repair_role is not None:
                out[f"repair:{tname}"] = dtype.failure.repair_role
        return out

    def qualified_roles(self, site: str, step: str, role: str | None) -> list[str]:
        """Roles at ``site`` with people qualified for ``step``: ``role`` itself (the role the
        step names) and every role that lists ``step`` in its skills."""
        staff = self.sites[site].staff
        return [r for r, spec in staff.items() if spec.count > 0 and (r == role or step in spec.skills)]

    def longest_shift_h(self, role_at_site: str) -> float:
        """Longest unbroken block (hours) a role's calendar offers (inf around the clock); the
        longest over the sites where the role exists."""
        best = 0.0
        for site in self.sites.values():
            spec = site.staff.get(role_at_site)
            if spec is None:
                continue
            if spec.shift is None:
                return float("inf")
            best = max(best, max((b.length_h for b in self.shifts[spec.shift]), default=0.0))
        return best

    def has_lane(self, origin: str, destination: str) -> bool:
        """Whether a courier lane runs from ``origin`` to ``destination``."""
        return any(lane.from_ == origin and lane.to == destination for lane in self.couriers)

    def lane(self, origin: str, destination: str) -> CourierLane:
        """The courier lane from ``origin`` to ``destination``."""
        for lane in self.couriers:
            if lane.from_ == origin and lane.to == destination:
                return lane
        raise KeyError(f"no courier lane {origin} -> {destination}")


@dataclass
class LoadedScenario:
    """A validated scenario ready to simulate, with its provenance.

    Attributes:
        scenario: the validated scenario.
        device_types: (site, type name) -> effective device type (catalogue + overrides).
        source: where it came from (file path or a label).
        file_sha256: SHA-256 of the file bytes ("" when built from data).
        scenario_hash: SHA-256 of the canonical JSON of the scenario and the device types it
            uses, so two files that mean the same thing hash the same.
        overrides: the ``FIELD=VALUE`` assignments applied on top of the file, if any.
    """

    scenario: Scenario
    device_types: dict[tuple[str, str], DeviceType]
    source: str
    file_sha256: str = ""
    scenario_hash: str = field(default="")
    overrides: list[str] = field(default_factory=list)

    def cost_inputs(self) -> dict[str, Any] | None:
        """Plain cost parameters for the tables layer (None without a costs section): per pool
        (site, name) the capital and cleanroom cost of one unit per year, per role the cost of
        one head per year, and the per-event prices."""
        c = self.scenario.costs
        if c is None:
            return None
        per_unit: dict[str, dict[str, float]] = {}
        for (site, name), t in self.device_types.items():
            per_unit[f"{site}/{name}"] = {
                "capital": (t.price or 0.0) / (t.depreciation_years or 1.0),
                "cleanroom": (t.footprint_m2 or 0.0) * c.area_factor * c.cleanroom_per_m2_year,
            }
        return {
            "currency": c.currency,
            "device_unit_year": per_unit,
            "head_year": {r: rate * c.paid_hours_per_fte_year for r, rate in c.labour_per_h.items()},
            "consumables": dict(c.consumables_per_batch),
            "qc": {f"qc:{k}": v for k, v in c.qc_per_test.items()},
            "per_shipment": c.per_shipment,
            "overhead_site_year": dict(c.overhead_per_site_year),
        }

    def canonical(self) -> dict[str, Any]:
        """The experiment record: the scenario and resolved device types as plain JSON data."""
        return {
            "scenario": self.scenario.model_dump(mode="json", by_alias=True),
            "device_types": {
                f"{site}/{name}": t.model_dump(mode="json")
                for (site, name), t in sorted(self.device_types.items())
            },
        }


def _check_references(sc: Scenario, types: dict[str, DeviceType], marks: Marks, src: str) -> None:
    """Cross-field checks pydantic cannot do alone; each error points at the offending field."""
    def err(msg: str, *path: str | int) -> ScenarioError:
        return located_error(msg, tuple(path), marks, src)

    hospitals = [n for n, s in sc.sites.items() if s.kind == "hospital"]
    if not hospitals:
        raise err("at least one site must be a hospital", "sites")
    for h in sc.referrals.hospitals or {}:
        if h not in hospitals:
            raise err(f"unknown hospital {h!r}; hospitals are {hospitals}", "referrals", "hospitals", h)
    for sname, site in sc.sites.items():
        for tname in site.devices:
            if tname not in types:
                raise err(
                    f"unknown device type {tname!r}; the catalogue has {sorted(types)}",
                    "sites", sname, "devices", tname,
                )
    for i, step in enumerate(sc.recipe):
        if step.device is not None and step.device not in types:
            raise err(f"unknown device type {step.device!r}; the catalogue has {sorted(types)}", "recipe", i, "device")
    for tname, path in ((sc.cryopreservation.device, ("cryopreservation", "device")),
                        (sc.storage.device, ("storage", "device"))):
        if tname not in types:
            raise err(f"unknown device type {tname!r}; the catalogue has {sorted(types)}", *path)
    for i, lane in enumerate(sc.couriers):
        for end, key in ((lane.from_, "from"), (lane.to, "to")):
            if end not in sc.sites:
                raise err(f"unknown site {end!r}; sites are {sorted(sc.sites)}", "couriers", i, key)
    for h, target in sc.routing.assign.items():
        if h not in hospitals:
            raise err(f"unknown hospital {h!r}; hospitals are {hospitals}", "routing", "assign", h)
        if target not in sc.sites:
            raise err(f"unknown site {target!r}; sites are {sorted(sc.sites)}", "routing", "assign", h)

    def missing_at(site: str) -> tuple[str, tuple[str | int, ...]] | None:
        """The first thing ``site`` lacks to make batches, with the field that needs it."""
        s = sc.sites[site]
        for i, step in enumerate(sc.recipe):
            if step.device is not None and (s.devices.get(step.device) is None or s.devices[step.device].count < 1):
                return (f"device type {step.device!r} has no units at {site!r} "
                        f"(add sites.{site}.devices.{step.device}.count)", ("recipe", i, "device"))
        for tname, path in ((sc.cryopreservation.device, ("cryopreservation", "device")),
                            (sc.storage.device, ("storage", "device"))):
            if s.devices.get(tname) is None or s.devices[tname].count < 1:
                return (f"device type {tname!r} has no units at {site!r} "
                        f"(add sites.{site}.devices.{tname}.count)", path)
        roles = [(st.role, ("recipe", i, "role")) for i, st in enumerate(sc.recipe)]
        roles += [(sc.receipt.role, ("receipt", "role")), (sc.cryopreservation.role, ("cryopreservation", "role")),
                  (sc.qc.role, ("qc", "role")), (sc.release.role, ("release", "role"))]
        for role, path in roles:
            if role is not None and role in sc.roles_needed() and s.headcount(role) < 1:
                return f"role {role!r} has no staff at {site!r} (add sites.{site}.staff.{role})", path
        return None

    for h in sc.hospital_shares():
        for role, step in ((sc.apheresis.role, "apheresis"), (sc.infusion.role, "infusion")):
            if role is not None and sc.sites[h].headcount(role) < 1:
                raise err(f"role {role!r} has no staff at {h!r} (add sites.{h}.staff.{role})", step, "role")
        if sc.routing.policy == "fixed":
            target = sc.routing.assign.get(h)
            if target is None and not sc.can_manufacture(h):
                makers = [n for n in sc.sites if sc.can_manufacture(n)]
                if len(makers) != 1:
                    if not makers:
                        # Name what the most likely site lacks (a factory, else the hospital).
                        site = next((n for n, s in sc.sites.items() if s.kind == "factory"), h)
                        msg, path = missing_at(site) or ("no site can make batches", ("sites",))
                        raise err(msg, *path)
                    raise err(f"hospital {h!r}: several sites can make batches ({makers}); say which "
                              f"in routing.assign.{h}, or use routing.policy nearest or least_expected_v2v",
                              "routing")
                target = makers[0]
            if target is not None:
                problem = missing_at(target)
                if problem:
                    raise err(problem[0], *problem[1])
                for a, b in ((h, target), (target, h)):
                    if a != b and not sc.has_lane(a, b):
                        raise err(f"no courier lane from {a!r} to {b!r}", "couriers")
        elif not sc.route_candidates(h):
            raise err(f"hospital {h!r}: no site that can make batches is linked to it by courier lanes "
                      "both ways", "routing", "policy")
    makers = {t for h in sc.hospital_shares() for t in sc.route_candidates(h)}
    if sc.qc.lab is not None:
        if sc.qc.lab not in sc.sites:
            raise err(f"unknown site {sc.qc.lab!r}; sites are {sorted(sc.sites)}", "qc", "lab")
        if any(t.hands_on_h > 0 for t in sc.qc.tests) and sc.sites[sc.qc.lab].headcount(sc.qc.role) < 1:
            raise err(f"role {sc.qc.role!r} has no staff at the QC lab {sc.qc.lab!r}", "qc", "role")
        for m in sorted(makers):
            if m != sc.qc.lab and not sc.has_lane(m, sc.qc.lab):
                raise err(f"no courier lane from {m!r} to the QC lab {sc.qc.lab!r} for samples", "qc", "lab")
    if sc.release.site is not None:
        if sc.release.site not in sc.sites:
            raise err(f"unknown site {sc.release.site!r}; sites are {sorted(sc.sites)}", "release", "site")
        if sc.release.hands_on_h > 0 and sc.sites[sc.release.site].headcount(sc.release.role) < 1:
            raise err(f"role {sc.release.role!r} has no staff at {sc.release.site!r}", "release", "role")
    if sc.costs is not None:
        roles = {r for site in sc.sites.values() for r in site.staff}
        for r in sorted(roles):
            if r not in sc.costs.labour_per_h:
                raise err(f"role {r!r} has no rate (add costs.labour_per_h.{r})", "costs", "labour_per_h")
        steps = {"apheresis", "freezing", "receipt", "cryopreservation", "release", "infusion",
                 *(st.name for st in sc.recipe)}
        for key in sc.costs.consumables_per_batch:
            if key not in steps:
                raise err(f"unknown step {key!r}; steps are {sorted(steps)}", "costs", "consumables_per_batch", key)
        tests = {t.name for t in sc.qc.tests}
        for key in sc.costs.qc_per_test:
            if key not in tests:
                raise err(f"unknown QC test {key!r}; tests are {sorted(tests)}", "costs", "qc_per_test", key)
        for key in sc.costs.overhead_per_site_year:
            if key not in sc.sites:
                raise err(f"unknown site {key!r}; sites are {sorted(sc.sites)}", "costs", "overhead_per_site_year", key)
        for sname, site in sc.sites.items():
            for tname in site.devices:
                t = types[tname]
                missing = [f for f in ("price", "depreciation_years", "footprint_m2") if getattr(t, f) is None]
                if missing and site.devices[tname].count > 0:
                    raise err(f"device type {tname!r} has no {', '.join(missing)} in the catalogue; costs need "
                              f"them (or set them in sites.{sname}.devices.{tname}.override)",
                              "sites", sname, "devices", tname)


def _check_operations(sc: Scenario, types: dict[str, DeviceType], resolved: dict[tuple[str, str], DeviceType],
                      marks: Marks, src: str) -> None:
    """Shifts, skills, repairs, connections, utilities and outages refer to things that exist
    (``resolved``: each pool's device type with the scenario's overrides)."""
    def err(msg: str, *path: str | int) -> ScenarioError:
        return located_error(msg, tuple(path), marks, src)

    makers = {t for h in sc.hospital_shares() for t in sc.route_candidates(h)}
    skills = set(sc.skill_names(types))
    for sname, site in sc.sites.items():
        for role, r in site.staff.items():
            if r.shift is not None and r.shift not in sc.shifts:
                raise err(f"unknown shift {r.shift!r}; shifts are {sorted(sc.shifts)}",
                          "sites", sname, "staff", role, "shift")
            for i, sk in enumerate(r.skills):
                if sk not in skills:
                    raise err(f"unknown skill {sk!r}; skills are step names: {sorted(skills)}",
                              "sites", sname, "staff", role, "skills", i)
        for tname, pool in site.devices.items():
            f = resolved[(sname, tname)].failure
            needs = pool.count > 0 and f is not None and f.repair_role is not None
            if needs and not sc.qualified_roles(sname, f"repair:{tname}", f.repair_role):
                raise err(f"device type {tname!r} needs a {f.repair_role!r} for repairs; {sname!r} has none "
                          f"(add sites.{sname}.staff.{f.repair_role})", "sites", sname, "devices", tname)
        ln2 = site.utilities.ln2
        if ln2 is not None:
            per_day = sum(p.count * (resolved[(sname, t)].ln2_l_per_day or 0.0) for t, p in site.devices.items())
            if per_day * ln2.delivery_every_days > ln2.tank_l:
                raise err(f"the LN2 tank ({ln2.tank_l:g} L) runs dry between deliveries: the site's units draw "
                          f"{per_day:g} L/day for {ln2.delivery_every_days:g} days", "sites", sname, "utilities", "ln2")
    # Every hands-on task fits in the longest shift of some role qualified for it.
    tasks: list[tuple[str, float, str | None, tuple[str | int, ...]]] = [
        ("apheresis", sc.apheresis.hands_on_h, sc.apheresis.role, ("apheresis", "hands_on_h")),
        ("receipt", sc.receipt.hands_on_h, sc.receipt.role, ("receipt", "hands_on_h")),
        ("cryopreservation", sc.cryopreservation.hands_on_h, sc.cryopreservation.role,
         ("cryopreservation", "hands_on_h")),
        ("release", sc.release.hands_on_h, sc.release.role, ("release", "hands_on_h")),
        ("infusion", sc.infusion.hands_on_h, sc.infusion.role, ("infusion", "hands_on_h")),
    ]
    tasks += [(st.name, st.hands_on_h, st.role, ("recipe", i, "hands_on_h")) for i, st in enumerate(sc.recipe)]
    tasks += [(f"qc:{t.name}", t.hands_on_h, sc.qc.role, ("qc", "tests", i, "hands_on_h"))
              for i, t in enumerate(sc.qc.tests)]
    for step, hours, role, path in tasks:
        if hours <= 0 or role is None:
            continue
        longest = max((sc.longest_shift_h(r) for sname in sc.sites for r in sc.qualified_roles(sname, step, role)),
                      default=0.0)
        if longest < hours:
            raise err(f"{hours:g} hands-on hours do not fit in any shift of a role qualified for {step!r} "
                      f"(longest: {longest:g} h)", *path)
    for i, st in enumerate(sc.recipe):
        if st.transfer is not None:
            conn = sc.connections[st.transfer]
            if conn.hands_on_h > 0 and st.role is None:
                raise err(f"a {st.transfer} transfer has {conn.hands_on_h:g} hands-on hours and needs the step's role",
                          "recipe", i, "role")
            if conn.device is not None:
                if conn.device not in types:
                    raise err(f"unknown device type {conn.device!r}; the catalogue has {sorted(types)}",
                              "connections", st.transfer, "device")
                for m in sorted(makers):
                    if sc.sites[m].devices.get(conn.device) is None or sc.sites[m].devices[conn.device].count < 1:
                        raise err(f"a {st.transfer} transfer needs a {conn.device!r} at {m!r} "
                                  f"(add sites.{m}.devices.{conn.device}.count)", "recipe", i, "transfer")
    for i, st in enumerate(sc.recipe):
        if st.end_point is None:
            continue
        if sc.biology is None:
            raise err("a culture step (end_point) needs the scenario's biology section", "recipe", i, "end_point")
        for m in sorted(makers):
            t = resolved.get((m, st.device or ""))
            if t is not None and t.culture_capacity_cells is None:
                raise err(f"device type {st.device!r} has no culture_capacity_cells for a culture step (set it in the "
                          f"catalogue or sites.{m}.devices.{st.device}.override)", "recipe", i, "end_point")
    for i, o in enumerate(sc.outages):
        if o.site is not None and o.site not in sc.sites:
            raise err(f"unknown site {o.site!r}; sites are {sorted(sc.sites)}", "outages", i, "site")
        where = [o.site] if o.site is not None else list(sc.sites)
        if o.pool is not None and not any(o.pool in sc.sites[w].devices for w in where):
            raise err(f"no {o.pool!r} units at {o.site or 'any site'}", "outages", i, "pool")
        if o.role is not None and not any(sc.sites[w].headcount(o.role) > 0 for w in where):
            raise err(f"no {o.role!r} staff at {o.site or 'any site'}", "outages", i, "role")
        if o.what == "ln2" and not any(sc.sites[w].utilities.ln2 is not None for w in where):
            raise err("an ln2 outage needs a site with an LN2 supply (sites.NAME.utilities.ln2)", "outages", i, "what")
    names = [o.label(i) for i, o in enumerate(sc.outages)]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise err(f"outage names must be unique; {n!r} is repeated", "outages", i, "name")


def scenario_from_data(
    data: Any, marks: Marks | None = None, source: str = "<data>", base_dir: Path | None = None,
    file_sha256: str = "",
) -> LoadedScenario:
    """Validate plain data (as loaded from YAML) into a :class:`LoadedScenario`."""
    marks = marks or Marks()
    if isinstance(data, dict) and {"base", "axes"} <= data.keys() and "sites" not in data:
        raise ScenarioError(f"this is a sweep file (it has base: and axes:), not a scenario: run it with "
                            f"`twin sweep {source}`", file=source)
    sc = validate_document(Scenario, data, marks, source, "a scenario")
    if sc.catalogue is not None:
        cat_dir = Path(sc.catalogue)
        if not cat_dir.is_absolute():
            cat_dir = (base_dir or Path.cwd()) / cat_dir
        if not cat_dir.is_dir():
            raise located_error(f"catalogue folder not found: {cat_dir}", ("catalogue",), marks, source)
    else:
        cat_dir = bundled_dir("equipment")
    types = load_catalogue(cat_dir)
    _check_references(sc, types, marks, source)
    device_types: dict[tuple[str, str], DeviceType] = {}
    overridable = DeviceType.overridable()
    for sname, site in sc.sites.items():
        for tname, pool in site.devices.items():
            for key in pool.override:
                if key not in overridable:
                    raise located_error(
                        f"cannot override {key!r}; a scenario may override {sorted(overridable)}",
                        ("sites", sname, "devices", tname, "override", key), marks, source,
                    )
            try:
                device_types[(sname, tname)] = types[tname].with_overrides(pool.override)
            except ValidationError as exc:
                e = exc.errors()[0]
                raise located_error(
                    f"bad override: {'.'.join(map(str, e['loc']))}: {e['msg']}",
                    ("sites", sname, "devices", tname, "override"), marks, source,
                ) from None
    _check_operations(sc, types, device_types, marks, source)
    loaded = LoadedScenario(sc, device_types, source, file_sha256)
    blob = json.dumps(loaded.canonical(), sort_keys=True, separators=(",", ":"))
    loaded.scenario_hash = hashlib.sha256(blob.encode()).hexdigest()
    return loaded


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> LoadedScenario:
    """Read, parse and validate a scenario YAML file.

    Args:
        path: the scenario file.
        overrides: ``FIELD=VALUE`` assignments applied before validation (``twin run --set``);
            they become part of the validated scenario and so of its hash.

    Raises:
        ScenarioError: naming the file, line and field of the first problem (for a field set
            by an override, the message says so).
    """
    p = Path(path)
    data, marks = load_yaml(p)
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    if not overrides:
        return scenario_from_data(data, marks, str(path), base_dir=p.parent, file_sha256=sha)
    from twin.overrides import apply_overrides, split_path
    from twin.validation import dotted

    data = apply_overrides(require_mapping(data, str(path), "a scenario"), overrides)
    try:
        loaded = scenario_from_data(data, marks, str(path), base_dir=p.parent, file_sha256=sha)
        loaded.overrides = list(overrides)
        return loaded
    except ScenarioError as err:
        for text in overrides:
            key = dotted(split_path(text.partition("=")[0].strip()))
            if err.field and (err.field == key or err.field.startswith(key + ".") or err.field.startswith(key + "[")):
                err.message += f" (value given by --set {text})"
                err.line = err.column = None
        raise


def scenario_from_yaml_text(text: str, source: str = "<string>", base_dir: Path | None = None) -> LoadedScenario:
    """Validate a scenario given as YAML text (tests, notebooks)."""
    data, marks = parse_yaml(text, source)
    return scenario_from_data(data, marks, source, base_dir=base_dir)
