"""Infusion scheduling at the hospitals (issue 17): clinic hours, lymphodepletion on the days
before a planned infusion day, the thaw and its limit. Off unless the scenario has an
``infusion_scheduling`` block (then the product is infused the moment it arrives, as before).

The model that plays it is :mod:`twin.model.planning`. Calendars are the scenario's ``shifts``
(the project's calendar type: ``{days, start_h, end_h}`` blocks), named here by their key.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.distributions import Distribution, Fixed
from twin.scenario.fields import Name, StrictModel
from twin.scenario.recipe import ClinicalStep

DayBefore = Annotated[int, Field(ge=1, le=60)]
"""Days before the infusion day (1: the day before)."""


def _ld_duration() -> Distribution:
    return Fixed(value=4.0)


class Lymphodepletion(ClinicalStep):
    """The lymphodepleting chemotherapy: one session (step ``lymphodepletion``, holding an
    infusion slot, a chair or bed, and ``role`` for ``hands_on_h``) on each of ``days_before`` the
    infusion day, each starting in clinic hours."""

    duration_h: Distribution = Field(
        default_factory=_ld_duration,
        description="How long one session takes (hours); 4 h is an assumption (two short IV infusions plus "
        "hydration and observation).",
    )
    days_before: list[DayBefore] = Field(
        default_factory=lambda: [5, 4, 3], min_length=1, max_length=14,
        description="Days before the infusion day on which a session is given: cyclophosphamide and fludarabine on "
        "days -5, -4 and -3 (Yescarta dosing, FDA label; parameters.md).",
    )

    calendar: Name | None = Field(
        default=None,
        description="Hours in which sessions start, a calendar in `shifts` (e.g. a ward open every day, for "
        "patients admitted for lymphodepletion); none: the hospital's clinic hours. With a Monday-to-Friday clinic "
        "and days -5 to -3, only Monday infusions have all three days in clinic hours.",
    )

    @model_validator(mode="after")
    def _distinct_days(self) -> Lymphodepletion:
        if len(set(self.days_before)) != len(self.days_before):
            raise LocatedValueError("days_before must not repeat a day", ("days_before",))
        return self


def _thaw_duration() -> Distribution:
    return Fixed(value=0.5)


class Thaw(ClinicalStep):
    """The thaw of the frozen product at the bedside (step ``thaw``), in the infusion slot just
    before the infusion; ``limit_h`` from the thaw's end to the infusion's start."""

    duration_h: Distribution = Field(
        default_factory=_thaw_duration,
        description="How long thawing takes (hours); 0.5 h is an assumption (a 37 C water bath takes minutes, "
        "plus the identity checks).",
    )
    limit_h: Annotated[float, Field(gt=0, le=48, allow_inf_nan=False)] | None = Field(
        default=3.0,
        description="Hours the thawed product may wait for its infusion to start (hours): past it the dose is lost "
        "(outcome `lost`, cause `hold:thaw_to_infusion`: thawed cells cannot be refrozen). 3 h is an assumption "
        "(the Yescarta label's room-temperature hold after thawing, not yet in parameters.md); none: no limit.",
    )


class InfusionScheduling(StrictModel):
    """The hospital books lymphodepletion and an infusion day in clinic hours once the batch is
    released (or ships at risk); the product ships to arrive ``arrive_before_h`` before it."""

    clinic: Name = Field(
        description="Clinic hours of every hospital, a calendar in `shifts` (e.g. `clinic: [{days: [mon, tue, wed, "
        "thu, fri], start_h: 8, end_h: 17}]`): lymphodepletion sessions and infusions start only in them.",
    )
    clinics: dict[Name, Name] = Field(
        default_factory=dict,
        description="Clinic hours of particular hospitals: `{HOSPITAL: CALENDAR}` (calendars in `shifts`); the "
        "others use `clinic`.",
    )
    arrive_before_h: Annotated[float, Field(ge=0, le=720, allow_inf_nan=False)] = Field(
        default=24.0,
        description="Hours the product is planned to arrive before the infusion starts, on the lane's expected "
        "(mean) transit after the next pickup (hours); 24 is an assumption (the day before).",
    )
    lymphodepletion: Lymphodepletion = Field(
        default_factory=Lymphodepletion,
        description="The lymphodepletion sessions before the infusion day.",
    )
    thaw: Thaw | None = Field(
        default_factory=Thaw,
        description="The bedside thaw before the infusion and its time limit; none: no thaw step.",
    )
    horizon_days: Annotated[int, Field(ge=7, le=365)] = Field(
        default=60,
        description="Days ahead the hospital looks for an infusion day (days); 60 is an assumption. With no day "
        "found (no clinic hours) the batch fails (cause `infusion:no_clinic_day`).",
    )

    def calendar_of(self, hospital: str) -> str:
        """The name of ``hospital``'s clinic calendar."""
        return self.clinics.get(hospital, self.clinic)


THAW_HOLD = "thaw_to_infusion"
"""The name of the hold ``thaw.limit_h`` stands for."""
