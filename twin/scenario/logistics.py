"""Logistics: courier lanes between sites, how the starting material travels, and which site
makes each hospital's batches."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.distributions import Distribution, Fixed
from twin.scenario.fields import WEEKDAYS, Hours, Name, Probability, StrictModel, Weekday
from twin.scenario.recipe import ClinicalStep


class CourierLane(StrictModel):
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


class StartingMaterial(StrictModel):
    """How the apheresis product travels to manufacturing.

    ``fresh``: processing must start within ``viability_h`` hours of the end of apheresis (the
    fresh-material hold, see :mod:`twin.scenario.holds`), or the batch is lost. ``cryopreserved``: it is first frozen at the hospital (``freezing``), then
    travels in a dry shipper like the final product (see ``shipper_hold_h``).
    """

    form: Literal["fresh", "cryopreserved"] = Field(
        default="fresh",
        description="`fresh`: shipped as collected, against the `viability_h` clock. `cryopreserved`: frozen at the "
        "hospital first (`freezing`), then shipped in a dry shipper (see `shipper_hold_h`).",
    )
    viability_h: Hours | None = Field(
        default=None,
        description="Fresh material only: processing (the first recipe step, or its transfer) must start within this "
        "many hours of the end of apheresis, couriers, receipt and queues included, or the batch is lost (cause "
        "`hold:fresh_material`); the short form of a `holds` entry named `fresh_material`; none: no limit (hours).",
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


class Routing(StrictModel):
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
