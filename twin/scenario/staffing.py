"""Staff in the scenario: shift calendars and roles (headcount, contract, posts, shift, skills,
absence, turnover). The rota that turns them into each person's shifts is
:mod:`twin.scenario.rota`; the model that acts on it is :mod:`twin.model.availability`.

Sources of the defaults: the contract's 37.5 h a week is the NHS Agenda for Change standard
full-time week (an assumption for other employers); the 48 h a week on average over a 17-week
reference period is the EU Working Time Directive 2003/88/EC (Art. 6(b) and 16(b)). The
absence and turnover defaults are assumptions (no published figure exists; see
shared/domain/parameters.md "Known gaps"); a scenario should set the values it relies on.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.core.units import HOURS_PER_DAY
from twin.scenario.fields import Count, HourOfDay, Name, Probability, StrictModel, Weekday


class ShiftBlock(StrictModel):
    """People on this calendar are on duty from ``start_h`` to ``end_h`` (hours of the day, 0-24)
    on each of ``days``; ``end_h <= start_h`` runs past midnight into the next day."""

    days: list[Weekday] = Field(
        min_length=1, max_length=7,
        description="Weekdays on which the block starts (`mon` ... `sun`; the calendar starts at `start_date`).",
    )
    start_h: HourOfDay = Field(description="Hour of the day the block starts (hour of day, 0 to below 24).")
    end_h: HourOfDay = Field(
        description="Hour of the day the block ends (hour of day, 0-24); at or before `start_h` it ends the next "
        "day (a night shift).",
    )

    @model_validator(mode="after")
    def _length(self) -> ShiftBlock:
        if self.start_h == HOURS_PER_DAY:
            raise LocatedValueError("start_h must be below 24", ("start_h",))
        return self

    @property
    def length_h(self) -> float:
        """Hours on duty per day of this block."""
        return (self.end_h - self.start_h) % HOURS_PER_DAY or HOURS_PER_DAY


class Turnover(StrictModel):
    """Each person leaves at a constant hazard (Poisson): ``per_person_per_year`` (the annual
    staff turnover rate as a fraction), or ``leavers_per_year`` people of the role at the site a
    year (a hazard of ``leavers_per_year / count`` per person). Each vacancy is filled
    ``hiring_lead_days`` later by a new hire who is qualified ``training_weeks`` after starting
    (until then the place does no qualified work); the new hire may leave in turn."""

    per_person_per_year: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Chance a year that each person leaves (per person per year, a Poisson hazard; 0.2: 20% "
        "annual turnover). It does not depend on the headcount, so 4 against 5 people compare with common "
        "random numbers (the first four leave at the same times).",
    )
    leavers_per_year: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] | None = Field(
        default=None,
        description="People of the role at the site who leave per year (people per year, Poisson): a hazard of "
        "this / count per person, so a different headcount changes everyone's leaving times; give "
        "`per_person_per_year` instead to compare headcounts.",
    )
    hiring_lead_days: Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)] = Field(
        default=60.0, description="Days a leaver's place stays vacant until the new hire starts (days).",
    )
    training_weeks: Annotated[float, Field(ge=0, le=520, allow_inf_nan=False)] = Field(
        default=8.0, description="Weeks a new hire trains before doing qualified work (weeks).",
    )

    @model_validator(mode="after")
    def _one_rate(self) -> Turnover:
        if (self.per_person_per_year is None) == (self.leavers_per_year is None):
            raise LocatedValueError("give exactly one of per_person_per_year or leavers_per_year", ())
        return self

    def hazard_per_year(self, count: int) -> float:
        """Each person's chance a year of leaving (per person per year) in a role of ``count`` people."""
        if self.per_person_per_year is not None:
            return self.per_person_per_year
        return (self.leavers_per_year or 0.0) / count if count else 0.0


WorkingHours = Annotated[float, Field(gt=0, le=168, allow_inf_nan=False)]
"""Hours a week (more than 0, at most 168)."""


class StaffRole(StrictModel):
    """``count`` people of a role at a site, each on a contract of ``contract_h_per_week``.

    ``shift``: the calendar (a name in the scenario's ``shifts``) of when the site needs the
    role; None: around the clock (three 8-hour shifts a day, 07-15, 15-23, 23-07). ``posts``:
    people the site needs on duty in each of its shifts (default: ``count``). The rota
    (:mod:`twin.scenario.rota`) gives each shift to up to ``posts`` people, nobody more than
    ``max_h_per_week`` on average over ``reference_weeks`` (hours beyond the contract are
    overtime). ``skills``: steps they are qualified for besides the steps that name the
    role (e.g. an on-call crew qualified for ``harvest``). ``absence_per_day``: the chance a
    person is absent on a given day (sickness), drawn per person and day. ``turnover``: leavers,
    hiring lead time and training.
    """

    count: Count = Field(description="People of the role at the site, employed (people).")
    shift: Name | None = Field(
        default=None,
        description="When the site needs the role, a calendar in `shifts`; none: around the clock (three 8-hour "
        "shifts a day: 07-15, 15-23, 23-07; a post needs about 4.5 people at 37.5 h a week).",
    )
    posts: Count | None = Field(
        default=None,
        description="People needed on duty in each shift of the calendar (people); none: `count`. The rota covers as "
        "many of these post-shifts as the people's hours allow.",
    )
    contract_h_per_week: WorkingHours = Field(
        default=37.5,
        description="Contracted hours a week of each person (hours per week), paid whether or not rostered; 37.5 is "
        "the NHS Agenda for Change standard full-time week (an assumption elsewhere). Rostered hours beyond it in "
        "a week are overtime.",
    )
    max_h_per_week: WorkingHours = Field(
        default=48.0,
        description="Most hours a person is on duty a week, on average over `reference_weeks` (hours per week); 48 is "
        "the EU Working Time Directive 2003/88/EC, Art. 6(b). The rota also keeps 11 h of rest between shifts "
        "(Art. 3).",
    )
    reference_weeks: Annotated[int, Field(ge=1, le=52)] = Field(
        default=17,
        description="Weeks over which `max_h_per_week` is averaged (weeks); 17 is the Directive's default reference "
        "period (Art. 16(b)). The rota also never lets a person's hours run ahead: by the end of week k of a "
        "period, at most k x `max_h_per_week`.",
    )
    skills: list[Name] = Field(
        default_factory=list, max_length=500,
        description="Steps they are qualified for besides those that name the role: step names (`harvest`), QC "
        "tests as `qc:NAME`, repairs as `repair:TYPE`.",
    )
    absence_per_day: Probability = Field(
        default=0.0,
        description="Chance a person is absent (sickness) on a given day (probability per day): drawn per person "
        "for each shift they are rostered for; the rota does not replace an absent person.",
    )
    turnover: Turnover | None = Field(
        default=None, description="Leavers, hiring lead time and training; none: nobody leaves.",
    )
    always_on_duty: bool = Field(
        default=False,
        description="An idealisation for validation models and tests, not a facility anyone runs: every person on duty "
        "around the clock, 168 h a week, with no rota and no working-time limit (absence drawn per day at 00:00). "
        "Costs still pay the hours beyond the contract as overtime.",
    )

    @model_validator(mode="after")
    def _contract_within_cap(self) -> StaffRole:
        if self.always_on_duty and self.shift is not None:
            raise LocatedValueError("always_on_duty people are on duty around the clock: give no shift", ("shift",))
        if self.contract_h_per_week > self.max_h_per_week:
            raise LocatedValueError(
                f"contract_h_per_week ({self.contract_h_per_week:g}) is more than max_h_per_week "
                f"({self.max_h_per_week:g}): nobody may be rostered for the contract", ("contract_h_per_week",))
        return self

    @property
    def on_duty_posts(self) -> int:
        """People needed on duty in each shift (``posts``, or ``count`` when not given)."""
        return self.count if self.posts is None else self.posts
