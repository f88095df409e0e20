"""Logistics: courier lanes between sites, routes of several legs through hubs, how the starting
material and the final product travel, and which site makes each hospital's batches."""

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


class HubStep(ClinicalStep):
    """Work done on a shipment at a hub (freezing, repacking, an import check): ``duration_h``,
    ``role`` and ``hands_on_h`` as for any clinical step, done by the hub's staff."""

    name: Name = Field(description="The step's name in the event log (unique across the journey's steps).")
    freezes: bool = Field(
        default=False,
        description="Whether the step cryopreserves the material: the legs after it travel frozen (in a dry "
        "shipper, see `shipper_hold_h`). For fresh starting material end its clock here with a `holds` entry "
        "`{name: fresh_material, from: apheresis, to: NAME}` rather than `viability_h`.",
    )


class Waypoint(StrictModel):
    """A site a route passes through and the steps done there, in order."""

    site: Name = Field(description="The site the shipment stops at (any site; usually of kind `hub`).")
    steps: list[HubStep] = Field(
        default_factory=list, max_length=20,
        description="Work done on the shipment at the site before it goes on (none: it is only handed over).",
    )


class Route(StrictModel):
    """A shipment from ``from`` to ``to`` through the ``via`` sites, in order: each leg uses its
    courier lane (pickup calendar, transit, delay and loss as a direct shipment), and at each
    waypoint its steps are done before the next leg waits for its pickup. A pair of sites with a
    route ships along it wherever the journey ships between them (to the factory, QC samples, back
    to the hospital); a pair without one uses its direct lane."""

    from_: Name = Field(alias="from", description="Site the shipment starts at.")
    to: Name = Field(description="Site the shipment ends at.")
    via: list[Waypoint] = Field(
        min_length=1, max_length=10,
        description="The sites in between, in order, with the steps done at each: `[{site, steps: [{name, "
        "duration_h, role, hands_on_h, freezes}]}]`. Each leg needs a courier lane.",
    )

    def stops(self) -> list[str]:
        """Every site of the route in order: ``from``, the waypoints, ``to``."""
        return [self.from_, *(w.site for w in self.via), self.to]

    def legs(self) -> list[tuple[str, str]]:
        """The route's legs as (origin, destination) pairs, in order."""
        stops = self.stops()
        return list(zip(stops[:-1], stops[1:]))


class FinalProduct(StrictModel):
    """How the final product is kept and shipped.

    ``cryopreserved`` (today's): cryopreservation after the recipe, LN2 storage, shipped frozen in a
    dry shipper. ``fresh``: not cryopreserved (the cryopreservation step is skipped), held at 2-8 C
    in the storage device (name a 2-8 C device type in ``storage.device``) and shipped cold; its
    shelf-life clock runs from the end of the last recipe step (formulation or harvest) to the
    start of infusion, and a product past it is lost (cause ``hold:shelf_life``).
    """

    form: Literal["cryopreserved", "fresh"] = Field(
        default="cryopreserved",
        description="`cryopreserved`: frozen after the recipe, stored in LN2, shipped in a dry shipper. `fresh`: "
        "no cryopreservation; held at 2-8 C and shipped cold against `shelf_life_h`.",
    )
    shelf_life_h: Hours | None = Field(
        default=None,
        description="Fresh product only: hours from the end of the last recipe step to the start of infusion after "
        "which the product is lost (cause `hold:shelf_life`); e.g. 72 h at 2-8 C (parameters.md 1.10, Banc de Sang "
        "i Teixits fresh cellular product sheet). None: no limit.",
    )

    @model_validator(mode="after")
    def _form_fields(self) -> FinalProduct:
        if self.form == "cryopreserved" and self.shelf_life_h is not None:
            raise LocatedValueError("shelf_life_h applies only to a fresh final product", ("shelf_life_h",))
        return self


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
