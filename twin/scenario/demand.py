"""Demand: when patients are referred and to which hospital, and how they drop out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.scenario.fields import Hours, Name, StrictModel


class Referrals(StrictModel):
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
