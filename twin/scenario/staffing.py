"""Staff in the scenario: shift calendars and roles (headcount, shift, skills, absence,
turnover). The model that acts on them is :mod:`twin.model.availability`.

Every default here is an assumption (no published figure exists; see
shared/domain/parameters.md "Known gaps") and a scenario should set the values it relies on.
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
    """People leave at ``leavers_per_year`` (Poisson, per role at a site); each vacancy is filled
    ``hiring_lead_days`` later by a new hire who is qualified ``training_weeks`` after starting
    (until then the place does no qualified work)."""

    leavers_per_year: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] = Field(
        description="People of the role at the site who leave per year (people per year, Poisson).",
    )
    hiring_lead_days: Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)] = Field(
        default=60.0, description="Days a leaver's place stays vacant until the new hire starts (days).",
    )
    training_weeks: Annotated[float, Field(ge=0, le=520, allow_inf_nan=False)] = Field(
        default=8.0, description="Weeks a new hire trains before doing qualified work (weeks).",
    )


class StaffRole(StrictModel):
    """``count`` people of a role at a site.

    ``shift``: the calendar (a name in the scenario's ``shifts``) they work; None: on duty
    around the clock. ``skills``: steps they are qualified for besides the steps that name the
    role (e.g. an on-call crew qualified for ``harvest``). ``absence_per_day``: the chance a
    person is absent on a given day (sickness), drawn per person and day. ``turnover``: leavers,
    hiring lead time and training.
    """

    count: Count = Field(description="People of the role at the site (people).")
    shift: Name | None = Field(
        default=None,
        description="The shift calendar they work, a name in `shifts`; none: on duty around the clock.",
    )
    skills: list[Name] = Field(
        default_factory=list, max_length=500,
        description="Steps they are qualified for besides those that name the role: step names (`harvest`), QC "
        "tests as `qc:NAME`, repairs as `repair:TYPE`.",
    )
    absence_per_day: Probability = Field(
        default=0.0,
        description="Chance a person is absent (sickness) on a given day (probability per day): drawn per person "
        "for each shift, or each day at midnight for staff on duty around the clock.",
    )
    turnover: Turnover | None = Field(
        default=None, description="Leavers, hiring lead time and training; none: nobody leaves.",
    )
