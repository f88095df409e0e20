"""Demand: when patients are referred and to which hospital, and how they drop out."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from twin.core.units import HOURS_PER_DAY, HOURS_PER_YEAR
from twin.scenario.fields import Hours, Name, StrictModel

PerWeek = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]


class RatePoint(StrictModel):
    """The network's referral rate on a date (patients per week)."""

    date: dt.date = Field(description="Calendar date (YYYY-MM-DD) the rate holds on (from its 00:00).")
    per_week: PerWeek = Field(description="Mean referrals per week over all hospitals on that date (patients per week).")


class SharePoint(StrictModel):
    """A hospital's relative share of the referrals on a date."""

    date: dt.date = Field(description="Calendar date (YYYY-MM-DD) the share holds on (from its 00:00).")
    share: Share = Field(description="Relative share of patients on that date (normalised with the other hospitals').")


def _hours(start: dt.date, d: dt.date) -> float:
    """Hours from 00:00 of ``start`` to 00:00 of ``d``."""
    return (d - start).days * HOURS_PER_DAY


def _table(points: list, start: dt.date, value: str, t_h: np.ndarray, step: bool) -> np.ndarray:
    """A dated table's value at hours ``t_h``: held constant before the first and after the last
    date; between dates linear, or (``step``) the last date's value."""
    at = np.array([_hours(start, p.date) for p in points])
    v = np.array([getattr(p, value) for p in points])
    if not step:
        return np.interp(t_h, at, v)
    return v[np.clip(np.searchsorted(at, t_h, side="right") - 1, 0, len(v) - 1)]


class Referrals(StrictModel):
    """Patient referrals: Poisson at ``rate_per_week`` in all (optionally growing by
    ``growth_per_year``), at a rate that follows the dated table ``rates``, or at explicit
    ``times_h``; each patient belongs to a hospital drawn with the ``hospitals`` shares at the
    patient's referral time (default: equal shares of every hospital), and a hospital in ``joins``
    has no referrals before its date. A changing rate is a non-homogeneous Poisson process drawn
    by thinning; the patient stream depends only on these fields and the seed, so layouts that
    share them see the same patients at the same hospitals."""

    rate_per_week: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Mean referrals per week over all hospitals (patients per week), Poisson arrivals; give this, "
        "`rates` or `times_h`.",
    )
    growth_per_year: Annotated[float, Field(gt=-1, le=100, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Annual growth of `rate_per_week` (fraction per year, compounded continuously in time: the rate "
        "at t years is rate_per_week x (1 + growth)^t; 0.4: 40% a year); only with `rate_per_week` "
        "(default none: constant).",
    )
    rates: list[RatePoint] | None = Field(
        default=None, min_length=1, max_length=10_000,
        description="Referral rate by date (`[{date: 2027-01-01, per_week: 6}, ...]`, dates increasing): the rate "
        "between dates follows `interpolation`, before the first and after the last it is held; give this, "
        "`rate_per_week` or `times_h`.",
    )
    interpolation: Literal["linear", "step"] = Field(
        default="linear",
        description="Between two dates of `rates` (and of a hospital's share table): `linear` (straight line) or "
        "`step` (the earlier date's value until the next date).",
    )
    times_h: list[Hours] | None = Field(
        default=None, max_length=1_000_000,
        description="Explicit referral times (hours from the start of day 0); times at or after the horizon are "
        "ignored; give this, `rate_per_week` or `rates`.",
    )
    hospitals: dict[Name, Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | list[SharePoint]] | None = (
        Field(
            default=None,
            description="Relative share of patients per hospital, normalised at each time to sum to 1: a number, or "
            "a table of shares by date (`[{date: 2027-01-01, share: 1}, {date: 2029-01-01, share: 3}]`, following "
            "`interpolation`); a hospital not listed gets no patients (default: equal shares of every hospital).",
        ))
    joins: dict[Name, dt.date] | None = Field(
        default=None,
        description="Hospitals that join the network on a date (`{HOSPITAL: YYYY-MM-DD}`): no referrals to them "
        "before it; the network's rate is shared by the hospitals that have joined (default: all from the start).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Referrals:
        if sum(x is not None for x in (self.rate_per_week, self.rates, self.times_h)) != 1:
            raise ValueError("give exactly one of rate_per_week, rates or times_h")
        if self.growth_per_year is not None and self.rate_per_week is None:
            raise ValueError("growth_per_year grows rate_per_week: give rate_per_week with it")
        for points in [self.rates or [], *(v for v in (self.hospitals or {}).values() if isinstance(v, list))]:
            if any(b.date <= a.date for a, b in zip(points, points[1:])):
                raise ValueError("the dates of a rate or share table must increase")
        if self.rates is not None and not any(p.per_week > 0 for p in self.rates):
            raise ValueError("rates: at least one rate must be above 0")
        return self

    def varies(self) -> bool:
        """Whether the rate or the hospitals' shares change over time."""
        return bool(self.rates or self.growth_per_year or self.joins
                    or any(isinstance(v, list) for v in (self.hospitals or {}).values()))

    def rate_per_week_at(self, start: dt.date, t_h: np.ndarray) -> np.ndarray:
        """The network's referral rate (patients per week) at hours ``t_h`` from 00:00 of ``start``
        (``times_h``: none; that source has no rate)."""
        t_h = np.asarray(t_h, dtype=float)
        if self.rates is not None:
            return _table(self.rates, start, "per_week", t_h, self.interpolation == "step")
        growth = self.growth_per_year or 0.0
        return float(self.rate_per_week or 0.0) * (1.0 + growth) ** (t_h / HOURS_PER_YEAR)

    def peak_rate_per_week(self, start: dt.date, horizon_h: float) -> float:
        """The highest rate over [0, ``horizon_h``) (patients per week): the thinning's bound."""
        knots = [0.0, horizon_h] + [_hours(start, p.date) for p in self.rates or []]
        knots = np.clip(np.array(knots), 0.0, horizon_h)
        return float(self.rate_per_week_at(start, knots).max())

    def shares_at(self, start: dt.date, names: list[str], t_h: float) -> np.ndarray:
        """The hospitals' (``names``) normalised shares at hour ``t_h`` (all 0 when none has joined)."""
        given = self.hospitals or dict.fromkeys(names, 1.0)
        out = np.zeros(len(names))
        for i, h in enumerate(names):
            v = given.get(h, 0.0)
            out[i] = _table(v, start, "share", np.array([t_h]), self.interpolation == "step")[0] if isinstance(
                v, list) else v
            joined = (self.joins or {}).get(h)
            if joined is not None and t_h < _hours(start, joined):
                out[i] = 0.0
        total = out.sum()
        return out / total if total > 0 else out

    def mean_rate_per_week(self, start: dt.date, horizon_h: float) -> float:
        """The mean rate over [0, ``horizon_h``) (patients per week), by the trapezium rule on a
        daily grid (``times_h``: none)."""
        grid = np.linspace(0.0, horizon_h, max(2, int(horizon_h / HOURS_PER_DAY) + 1))
        return float(np.trapezoid(self.rate_per_week_at(start, grid), grid) / horizon_h)


class Dropout(StrictModel):
    """While waiting between referral and infusion a patient drops out (disease progression,
    death, ineligibility) at constant hazard ``hazard_per_day`` (per day)."""

    hazard_per_day: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = Field(
        default=0.0,
        description="Constant drop-out hazard from referral until infusion starts (per day): each patient's "
        "drop-out time is exponential with mean 1/hazard days; waiting in a queue ends at once, a step in progress "
        "finishes first; 0: nobody drops out.",
    )
    batch: Literal["end", "finish_step"] = Field(
        default="end",
        description="What a drop-out does to a batch in manufacture: `end` (it is ended at once: the culture is "
        "discarded and the device, storage position or person it holds is let go) or `finish_step` (the step in "
        "progress finishes first).",
    )
