"""The steps of the journey: clinical steps at the hospital, the manufacturing recipe on
devices, cryopreservation, storage, the QC panel and QP release."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.biology import EndPoint
from twin.scenario.connections import ConnectionType
from twin.scenario.distributions import Distribution, Fixed
from twin.scenario.fields import Hours, Name, Probability, StrictModel


class ClinicalStep(StrictModel):
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


class HarvestWindow(StrictModel):
    """A planned harvest: the culture ends between ``earliest_h`` and ``latest_h`` hours from its
    start, at a moment the next step's staff are on shift (the culture goes on in the kernel until
    then)."""

    earliest_h: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] = Field(
        description="Hours from the culture's start before which it is not harvested, even at its target (hours).",
    )
    latest_h: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] = Field(
        description="Hours from the culture's start by which it is harvested, at its target or not (hours); at most "
        "the end point's `max_h`.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> HarvestWindow:
        if self.latest_h < self.earliest_h:
            raise LocatedValueError("latest_h must not be before earliest_h", ("latest_h",))
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
    :mod:`twin.kernel`) instead of ``duration_h``.
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
    harvest: HarvestWindow | None = Field(
        default=None,
        description="A culture step's planned harvest window: `{earliest_h, latest_h}` hours from the culture's start; "
        "the culture ends at its target within the window (at `latest_h` if it has not reached it), and the next "
        "step starts at the first moment after that when its role is on shift for its hands-on hours (the culture "
        "goes on in the kernel until then). None: the culture ends at its end point and the next step waits for "
        "whoever is free, as before.",
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
        if self.harvest is not None and self.end_point is None:
            raise LocatedValueError("a harvest window needs a culture step (an end_point)", ("harvest",))
        if self.harvest is not None and self.end_point is not None and self.harvest.latest_h > self.end_point.max_h:
            raise LocatedValueError(f"latest_h ({self.harvest.latest_h:g}) is after the end point's max_h "
                                    f"({self.end_point.max_h:g})", ("harvest", "latest_h"))
        return self


class Cryopreservation(ClinicalStep):
    """Formulation and controlled-rate freezing on ``device``."""

    device: Name = Field(
        description="Catalogue device type (a controlled-rate freezer) of which the step holds one unit.",
    )


class Storage(StrictModel):
    """Cryopreserved product waits in ``device`` (one position per batch) until it ships."""

    device: Name = Field(
        description="Catalogue device type (LN2 storage) in which each batch holds one position from freezing, "
        "through QC and release, until it ships; a stop longer than the type's `stop_tolerance_h` loses it.",
    )


class QCTest(StrictModel):
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


class QCPanel(StrictModel):
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


class ReleaseStage(StrictModel):
    """One stage of a staged release (step ``release:NAME``), done after the stage before it at
    its own site and by its own role, while that site's IT is up; a field left out is the
    release's own."""

    name: Name = Field(description="The stage's name: its step in the event log is `release:NAME`.")
    role: Name | None = Field(default=None, description="Role that does the stage; none: the release's `role`.")
    duration_h: Distribution | None = Field(
        default=None, description="How long the stage takes (hours), drawn per batch; none: the release's.",
    )
    hands_on_h: Hours | None = Field(default=None, description="Hours of `role` at the stage's start; none: the release's.")
    site: Name | None = Field(
        default=None,
        description="Site where the stage is done (it needs that site's IT up; the product stays where it is); none: "
        "the release's `site`, else the manufacturing site.",
    )
    working_hours: Name | None = Field(
        default=None,
        description="Working hours of the stage, a calendar in `shifts`: it progresses and ends only in them; none: "
        "the release's `working_hours`.",
    )


class Release(StrictModel):
    """QP certification once every QC result is in; ``role`` held for ``hands_on_h``, on site or
    by a remote QP at ``site`` (reviewing the batch record; the product stays where it is).

    ``stages``: a staged release instead (manufacturer QA disposition, then importer QP
    certification, ...), each stage at its own site and role. ``working_hours``: release work
    progresses only in these hours, so a release ends in them. ``at_risk_tests``: QC tests the
    release does not wait for (release at risk)."""

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
    working_hours: Name | None = Field(
        default=None,
        description="Working hours of release work, a calendar in `shifts` (e.g. `office`): the work progresses only "
        "in them (paused outside, logged as `pause`/`resume` with cause `closed:CALENDAR`), so a release ends in "
        "them; none: around the clock (the role's shift still bounds the hands-on start).",
    )
    stages: list[ReleaseStage] = Field(
        default_factory=list, max_length=10,
        description="A staged release, in order, instead of the single `release` step: each stage is step "
        "`release:NAME` at its site (e.g. `[{name: qa_disposition, role: qa_officer}, {name: qp_certification, "
        "site: importer}]`, the EU axi-cel route's QP release in the Netherlands, EHA 2021 PB1445); its missing "
        "fields are the release's own. Empty: one `release` step, as before.",
    )
    at_risk_tests: list[Name] = Field(
        default_factory=list, max_length=50,
        description="QC tests whose result the release does not wait for (release at risk, Harrison 2018; e.g. "
        "`[sterility]`): the batch is released and ships under quarantine while they run; a failing result "
        "before the infusion starts fails the batch (cause `qc:NAME`) and stops the infusion; one after it "
        "changes nothing (nothing happens to a batch after its outcome). Empty: wait for every result.",
    )

    @model_validator(mode="after")
    def _unique_stages(self) -> Release:
        names = [s.name for s in self.stages]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise LocatedValueError(f"release stage names must be unique; {n!r} is repeated", ("stages", i, "name"))
        return self

    def stage_list(self) -> list[tuple[str, ReleaseStage]]:
        """(step name, stage with every field filled in from the release) of each stage, in
        order; one stage named ``release`` when there are no ``stages``."""
        own = ReleaseStage(name="release", role=self.role, duration_h=self.duration_h, hands_on_h=self.hands_on_h,
                           site=self.site, working_hours=self.working_hours)
        if not self.stages:
            return [("release", own)]
        out = []
        for st in self.stages:
            filled = {k: v for k, v in st.model_dump(exclude_none=True).items()}
            merged = own.model_copy(update={k: getattr(st, k) for k in filled})
            out.append((f"release:{st.name}", merged))
        return out
