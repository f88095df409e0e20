"""How patients are scheduled onto manufacturing capacity, and what happens after a failure.

``scheduling``: a policy per manufacturing site. ``first_come`` (the default) collects cells at
referral and lets the material queue for the first device; ``slot_booking`` books, at referral,
a run on the first device of the recipe (its expected hold) and the apheresis day so that the
material arrives for the slot within its hold time; the patient waits before apheresis (the
Binocs blog "CGT scheduling: optimizing vein-to-vein operations for CAR-T", Oct 2025, in
shared/domain/parameters.md 1.10: "apheresis is scheduled against available manufacturing
slots").

``remanufacture``: a failed or lost batch made again from a backup apheresis aliquot (if one was
kept) or from a new apheresis; an out-of-specification product infused by exception.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.fields import Hours, Name, Probability, StrictModel

Policy = Literal["first_come", "slot_booking"]


class Scheduling(StrictModel):
    """The scheduling policy of the manufacturing sites, and the referral mix of urgency classes."""

    policy: Policy = Field(
        default="first_come",
        description="`first_come` (default, today's behaviour): cells are collected at referral and queue for the "
        "first device. `slot_booking`: at referral a run on the first recipe device is booked for its expected "
        "hold, apheresis is planned so that the material arrives for it within its hold time (the hospital's "
        "chair and apheresis staff booked in their shift), and the patient waits before apheresis (drop-out "
        "goes on). Applies to every manufacturing site not named in `sites`.",
    )
    sites: dict[Name, Policy] = Field(
        default_factory=dict,
        description="Policy per manufacturing site, over `policy`: `{SITE: first_come | slot_booking}`.",
    )
    urgency: dict[Name, Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description="Urgency classes and their shares of referrals, most urgent first, e.g. `{urgent: 0.2, "
        "standard: 0.8}` (shares are normalised). A more urgent patient is booked ahead of less urgent bookings "
        "whose cells are not yet collected (they are re-booked, logged `rebooked`); empty: first come, first "
        "booked. Drawn per patient from the `urgency` stream.",
    )
    arrival_margin_h: Hours = Field(
        default=2.0,
        description="Hours (h) before the booked start that the material is planned to arrive (assumption: a "
        "margin for receipt and a late courier).",
    )
    transit_quantile: Annotated[float, Field(ge=0.5, lt=1, allow_inf_nan=False)] = Field(
        default=0.9,
        description="The quantile of the courier's transit time the plan allows for, so that most material arrives "
        "before its slot (assumption: 9 shipments in 10 on time).",
    )
    hold_margin_h: Hours = Field(
        default=24.0,
        description="Hours (h) of a hold from apheresis (e.g. the fresh-material hold) kept free in the plan: the "
        "booked start is at most the hold's limit minus this after the apheresis ends (assumption: a day for a "
        "late courier or a run ahead that overruns).",
    )
    run_length_factor: Annotated[float, Field(ge=1, le=10, allow_inf_nan=False)] = Field(
        default=1.3,
        description="A booked run lasts the first device's expected hold times this factor (assumption: 30% for "
        "cultures that run long and waits for staff within the run; in the bundled centralised scenario a "
        "Prodigy is held 365 h on average against an expected 317 h).",
    )

    def policy_of(self, site: str) -> Policy:
        """The policy of manufacturing site ``site``."""
        return self.sites.get(site, self.policy)

    def booking(self) -> bool:
        """Whether any site books slots."""
        return self.policy == "slot_booking" or "slot_booking" in self.sites.values()


class Remanufacture(StrictModel):
    """Failures that are not final: a failed or lost batch made again, and out-of-spec infusion."""

    backup_aliquot_probability: Probability = Field(
        default=0.0,
        description="Probability that a backup aliquot of the apheresis product is kept (cryopreserved at the "
        "manufacturing site): a failed or lost batch is then made again from it without a new apheresis "
        "(assumption: 0, none kept).",
    )
    new_apheresis: bool = Field(
        default=False,
        description="Whether a failed or lost batch without a backup aliquot is made again from a new apheresis: "
        "the patient goes back into the schedule (or the queue), consuming capacity again, drop-out going on.",
    )
    max_attempts: Annotated[int, Field(ge=1, le=10)] = Field(
        default=1,
        description="The most times one patient's batch is made again (attempts; assumption: 1, a second attempt).",
    )
    out_of_spec_infusion_probability: Probability = Field(
        default=0.0,
        description="Probability that a product failing a QC test of a measured quantity (viability, dose) is "
        "infused by exception (outcome `infused_out_of_spec`) rather than rejected (assumption: 0; tisa-cel "
        "out-of-spec products with viability below 80% were infused in CIBMTR's real-world series, Blood Adv "
        "2020;4(21):5414, parameters.md 1.3).",
    )

    @model_validator(mode="after")
    def _some_way(self) -> Remanufacture:
        if self.max_attempts > 1 and not self.new_apheresis and self.backup_aliquot_probability == 0:
            raise LocatedValueError("max_attempts > 1 needs new_apheresis: true or a backup_aliquot_probability",
                                    ("max_attempts",))
        return self
