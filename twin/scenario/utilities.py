"""Utilities of a site and their backups: power (UPS, generator), CO2, O2, compressed air,
LN2, air handling (HVAC) and the IT/MES system. The model that acts on them is
:mod:`twin.model.availability`.

Units are in the field names: ``*_h`` hours, ``*_min`` minutes, ``*_days`` days, ``*_l``
litres. Every default here is an assumption (no published figure exists; see
shared/domain/parameters.md "Known gaps") and a scenario should set the values it relies on.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.fields import Hours, Probability, StrictModel


class Generator(StrictModel):
    """Standby generator: starts ``start_delay_min`` minutes after the grid fails, fails to
    start with ``fail_to_start_probability`` (per outage) and runs ``fuel_h`` hours on its tank
    (None: refuelled, runs as long as needed)."""

    start_delay_min: Annotated[float, Field(ge=0, le=1440, allow_inf_nan=False)] = Field(
        default=0.5, description="Minutes from the grid failing until the generator carries the load (minutes).",
    )
    fail_to_start_probability: Probability = Field(
        default=0.0, description="Chance the generator fails to start (probability per grid outage).",
    )
    fuel_h: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = Field(
        default=None,
        description="Hours it runs on its tank (hours); none: refuelled, it runs as long as needed.",
    )


class PowerSupply(StrictModel):
    """Electricity: the grid, a UPS that carries the load for ``ups_minutes`` and an optional
    generator. Power is lost when the grid is down and neither is carrying the load."""

    ups_minutes: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] = Field(
        default=0.0, description="Minutes the UPS carries the load when the grid fails (minutes).",
    )
    generator: Generator | None = Field(default=None, description="A standby generator; none: no generator.")


class GasSupply(StrictModel):
    """A gas (CO2, O2) or compressed air: the main supply (bulk tank or compressor) and a backup
    that lasts ``backup_h`` hours. For CO2 and O2, ``backup_l`` litres of bottle bank may be given
    instead: it lasts ``backup_l`` / (sum of ``co2_l_per_h`` or ``o2_l_per_h`` of the site's
    installed units) hours."""

    backup_h: Hours = Field(
        default=0.0,
        description="Hours the backup (bottles, a spare compressor) carries the site when the main supply fails "
        "(hours); after that the supply is lost until the outage ends.",
    )
    backup_l: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = Field(
        default=None,
        description="CO2 and O2 only: litres in the bottle bank, instead of `backup_h`; it lasts `backup_l` / "
        "(sum of `co2_l_per_h` or `o2_l_per_h` of the site's units) hours (litres).",
    )


class LN2Supply(StrictModel):
    """Liquid nitrogen: a tank of ``tank_l`` litres refilled to full every
    ``delivery_every_days`` days (first delivery at the start). The site's units draw
    ``ln2_l_per_day`` each (catalogue). An ``ln2`` outage is a supply interruption: deliveries
    due in it are missed, and LN2 runs out when the tank is empty."""

    tank_l: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)] = Field(
        description="Tank capacity, full after each delivery (litres); it must cover the units' `ln2_l_per_day` "
        "between deliveries.",
    )
    delivery_every_days: Annotated[float, Field(gt=0, le=365, allow_inf_nan=False)] = Field(
        default=7.0, description="Days between deliveries, the first at the start (days).",
    )


class HVAC(StrictModel):
    """Cleanroom air handling: without power (or in an ``hvac`` outage) the room loses its grade
    after ``grade_loss_after_h`` hours; once air is back it needs ``requalification_h`` hours
    (cleaning, environmental monitoring) before open work may resume."""

    grade_loss_after_h: Hours = Field(
        default=0.25,
        description="Hours without air handling (power lost, or an `hvac` outage) before the cleanroom loses its "
        "grade (hours).",
    )
    requalification_h: Hours = Field(
        default=24.0,
        description="Hours of cleaning and environmental monitoring after air is back before open work may resume "
        "(hours).",
    )


class ITSystem(StrictModel):
    """The IT/MES system (electronic batch records, release). After an ``it`` outage ends, the
    restore takes ``restore_h`` more hours (backup restore, data verification)."""

    restore_h: Hours = Field(
        default=0.0,
        description="Hours the restore (from backups, with data verification) takes after an `it` outage ends; the "
        "system stays down meanwhile (hours).",
    )


class SiteUtilities(StrictModel):
    """A site's utilities and their backups (defaults: no backup at all)."""

    power: PowerSupply = Field(
        default_factory=PowerSupply,
        description="Electricity: the grid, a UPS and a generator. While power is lost, units that draw it stop and "
        "so does air handling.",
    )
    co2: GasSupply = Field(
        default_factory=GasSupply,
        description="CO2 supply and its backup: while CO2 is lost, units that draw it start no batch and the "
        "cultures inside lose their CO2 atmosphere.",
    )
    o2: GasSupply = Field(
        default_factory=GasSupply,
        description="O2 supply and its backup: while O2 is lost, units that draw it start no batch.",
    )
    compressed_air: GasSupply = Field(
        default_factory=GasSupply,
        description="Compressed air and its backup: units that draw it stop while it is lost.",
    )
    ln2: LN2Supply | None = Field(
        default=None,
        description="Liquid nitrogen tank and deliveries; units that draw LN2 stop when it runs out. None: LN2 "
        "never runs out (and the site can have no `ln2` outage).",
    )
    hvac: HVAC = Field(
        default_factory=HVAC, description="Cleanroom air handling: how fast grade is lost and regained.",
    )
    it: ITSystem = Field(
        default_factory=ITSystem,
        description="The IT/MES system: while it is down no batch record is opened (receipt waits), no release is "
        "signed, and devices with `network: stop` stop.",
    )

    @model_validator(mode="after")
    def _litres_only_for_gases(self) -> SiteUtilities:
        if self.compressed_air.backup_l is not None:
            raise LocatedValueError("backup_l (litres) is for CO2 and O2 bottle banks; give compressed air a "
                                    "backup_h (hours)", ("compressed_air", "backup_l"))
        return self
