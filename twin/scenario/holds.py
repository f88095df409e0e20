"""Hold times: the validated clocks material runs on between two steps of the journey.

A hold starts when step ``from`` ends and stops when step ``to`` starts (journey step names:
``apheresis``, ``receipt``, a recipe step, ``transfer:STEP``, ``cryopreservation``, ``release``,
``infusion``, ...). Whatever the batch does in between (couriers, queues, waiting for staff, other
steps) counts. Past ``limit_h`` the batch is lost at once (cause ``hold:NAME``), or, with
``on_exceed: degrade``, goes on losing viable cells at ``exceeded_loss_per_h``. Over the whole
hold the material loses viable cells at ``viability_loss_per_h`` (the cells a culture starts
with, or the dose and viability QC judges, reflect the material's real age).

``starting_material.viability_h`` is the short form of the fresh-material hold, from the end of
apheresis to the start of processing (the first recipe step, or its transfer).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.fields import Hours, Name, StepName, StrictModel

Rate = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]
"""A loss rate (per hour): viable cells fall as exp(-rate x hours)."""

FRESH_MATERIAL = "fresh_material"
"""The name of the hold ``starting_material.viability_h`` stands for."""

SHELF_LIFE = "shelf_life"
"""The name of the hold ``final_product.shelf_life_h`` stands for (last recipe step end to infusion start)."""


class Hold(StrictModel):
    """One hold between two steps, its limit and what happens past it."""

    name: Name = Field(description="The hold's name: it names the cause of a loss (`hold:NAME`) in the results.")
    from_: StepName = Field(
        alias="from",
        description="The journey step whose end starts the clock (`apheresis`, `receipt`, a recipe step, "
        "`transfer:STEP`, `cryopreservation`, `release`, ...).",
    )
    to: StepName = Field(description="The journey step whose start stops the clock; it comes after `from`.")
    limit_h: Annotated[float, Field(gt=0, le=1.0e6, allow_inf_nan=False)] = Field(
        description="The validated hold time (hours): past it the batch is lost, or degrades (see `on_exceed`).",
    )
    on_exceed: Literal["lost", "degrade"] = Field(
        default="lost",
        description="`lost`: the batch is lost the moment the limit passes (cause `hold:NAME`). `degrade`: it goes "
        "on, losing viable cells at `exceeded_loss_per_h` for every hour past the limit.",
    )
    viability_loss_per_h: Rate = Field(
        default=0.0,
        description="Rate at which viable cells die during the whole hold (per hour): the material keeps "
        "exp(-rate x hours held) of them; 0: no loss.",
    )
    exceeded_loss_per_h: Rate = Field(
        default=0.0,
        description="With `on_exceed: degrade`, the extra rate at which viable cells die for every hour past the "
        "limit (per hour).",
    )

    @model_validator(mode="after")
    def _degrade_rate(self) -> Hold:
        if self.on_exceed == "degrade" and self.exceeded_loss_per_h == 0:
            raise LocatedValueError("on_exceed: degrade needs exceeded_loss_per_h > 0", ("exceeded_loss_per_h",))
        if self.on_exceed == "lost" and self.exceeded_loss_per_h > 0:
            raise LocatedValueError("exceeded_loss_per_h applies only with on_exceed: degrade", ("exceeded_loss_per_h",))
        return self


def fresh_material_hold(viability_h: Hours, first_step: str) -> Hold:
    """The hold ``starting_material.viability_h`` stands for: apheresis end to ``first_step``'s start."""
    return Hold(name=FRESH_MATERIAL, from_="apheresis", to=first_step, limit_h=viability_h)
