"""How a facility runs and fails: shift calendars, staff roles, utilities and their backups,
tubing connections, and outage schedules. Scenario fields (validated with pydantic v2); the
model that acts on them is in :mod:`twin.model.operations`.

Units are in the field names: ``*_h`` hours, ``*_min`` minutes, ``*_days`` days, ``*_l``
litres, ``*_per_year`` events per year, ``*_per_day`` probability per day. Every default here is
an assumption (no published figure exists; see shared/domain/parameters.md "Known gaps") and a
scenario should set the values it relies on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from twin.distributions import Distribution, Fixed
from twin.errors import LocatedValueError

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=64)]
Count = Annotated[int, Field(ge=0, le=100_000)]
Hours = Annotated[float, Field(ge=0, le=1.0e6, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
HourOfDay = Annotated[float, Field(ge=0, le=24, allow_inf_nan=False)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# -- staff ---------------------------------------------------------------------------------------


class ShiftBlock(_Model):
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
        if self.start_h == 24:
            raise LocatedValueError("start_h must be below 24", ("start_h",))
        return self

    @property
    def length_h(self) -> float:
        """Hours on duty per day of this block."""
        return (self.end_h - self.start_h) % 24 or 24.0


class Turnover(_Model):
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


class StaffRole(_Model):
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


# -- utilities -----------------------------------------------------------------------------------


class Generator(_Model):
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


class PowerSupply(_Model):
    """Electricity: the grid, a UPS that carries the load for ``ups_minutes`` and an optional
    generator. Power is lost when the grid is down and neither is carrying the load."""

    ups_minutes: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] = Field(
        default=0.0, description="Minutes the UPS carries the load when the grid fails (minutes).",
    )
    generator: Generator | None = Field(default=None, description="A standby generator; none: no generator.")


class GasSupply(_Model):
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


class LN2Supply(_Model):
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


class HVAC(_Model):
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


class ITSystem(_Model):
    """The IT/MES system (electronic batch records, release). After an ``it`` outage ends, the
    restore takes ``restore_h`` more hours (backup restore, data verification)."""

    restore_h: Hours = Field(
        default=0.0,
        description="Hours the restore (from backups, with data verification) takes after an `it` outage ends; the "
        "system stays down meanwhile (hours).",
    )


class SiteUtilities(_Model):
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


# -- tubing connections --------------------------------------------------------------------------

ConnectionType = Literal["sterile_weld", "aseptic_connector", "open"]


class Connection(_Model):
    """How material enters a recipe step: the connection is made at the step's start, takes
    ``duration_h`` with the step's role hands-on for ``hands_on_h``, lets contaminants in with
    ``contamination_probability`` (seeding ``inoculum_cfu`` colony-forming units), leaks with
    ``leak_probability`` (``leak_effect``: the batch is ``lost``, or it loses
    ``leak_volume_fraction`` of its cells) and always loses ``cell_loss_fraction`` of the cells
    (hold-up volume). An open transfer needs a unit of ``device`` (a biosafety cabinet) and the
    cleanroom in grade."""

    duration_h: Distribution = Field(
        default_factory=lambda: Fixed(value=0.25),
        description="How long making the connection takes (hours), drawn per batch; it lasts at least "
        "`hands_on_h`.",
    )
    hands_on_h: Hours = Field(
        default=0.25,
        description="Hours of the step's role at the start of the connection (hours); the step's "
        "`staff_wait_limit_h` applies to it.",
    )
    contamination_probability: Probability = Field(
        default=0.0, description="Chance the connection lets organisms in (probability per connection).",
    )
    inoculum_cfu: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)] = Field(
        default=1.0, description="Organisms a contaminating connection seeds (CFU, colony-forming units).",
    )
    leak_probability: Probability = Field(
        default=0.0, description="Chance the connection leaks (probability per connection).",
    )
    leak_effect: Literal["lost", "volume"] = Field(
        default="lost",
        description="What a leak does: `lost` (the batch is lost) or `volume` (it loses `leak_volume_fraction` of "
        "its cells).",
    )
    leak_volume_fraction: Probability = Field(
        default=0.1, description="Fraction of the cells a `volume` leak loses (fraction, 0-1).",
    )
    cell_loss_fraction: Probability = Field(
        default=0.0,
        description="Fraction of the cells every connection loses in its hold-up volume (fraction, 0-1).",
    )
    device: Name | None = Field(
        default=None,
        description="Device type (a biosafety cabinet) of which the transfer holds a unit, unless the step is "
        "already in one; none: no cabinet.",
    )


def default_connections() -> dict[str, Connection]:
    """Connection defaults. All are assumptions (parameters.md 1.8: no published per-connection
    contamination or leak rate); they are set so that a recipe with 4-5 connections contaminates
    0.05-0.5% of batches, inside the measured 0.06%-1% window per batch."""
    return {
        "sterile_weld": Connection(duration_h=Fixed(value=0.1), hands_on_h=0.1, contamination_probability=1e-4,
                                   leak_probability=1e-4, cell_loss_fraction=0.005),
        "aseptic_connector": Connection(duration_h=Fixed(value=0.1), hands_on_h=0.1,
                                        contamination_probability=3e-4, leak_probability=2e-4,
                                        cell_loss_fraction=0.005),
        "open": Connection(duration_h=Fixed(value=0.5), hands_on_h=0.5, contamination_probability=1e-3,
                           leak_probability=5e-4, cell_loss_fraction=0.02, device="biosafety_cabinet"),
    }


# -- outages -------------------------------------------------------------------------------------

OutageTarget = Literal["power", "co2", "o2", "compressed_air", "ln2", "hvac", "it", "device", "staff"]
UTILITY_TARGETS: tuple[str, ...] = ("power", "co2", "o2", "compressed_air", "ln2", "hvac", "it")


class Outage(_Model):
    """Something unavailable for a while: a utility's main supply (``power`` = the grid,
    ``co2``, ``o2``, ``compressed_air``, ``ln2`` deliveries, ``hvac``), the ``it`` system, units
    of a ``device`` pool or people of a ``staff`` role, at ``site`` (None: every site).

    Scripted: at ``at_h`` (hours from the start) for ``duration_h``. Stochastic: starting at
    ``rate_per_year`` (Poisson) with ``duration_h`` drawn each time. ``units``: how many units or
    people go (default: all). Backups (UPS, generator, bottle banks, the LN2 tank) carry what
    they can; the outage log says what they covered."""

    name: Name | None = Field(
        default=None,
        description="Label in the event and outage logs and in stream names, unique (default: `WHAT@SITE#INDEX`).",
    )
    what: OutageTarget = Field(
        description="What is unavailable: a utility's main supply (`power` = the grid, `co2`, `o2`, "
        "`compressed_air`, `ln2` deliveries, `hvac` air handling), the `it` system, units of a `device` pool or "
        "people of a `staff` role.",
    )
    site: Name | None = Field(default=None, description="The site it hits; none: every site.")
    pool: Name | None = Field(
        default=None, description="For (and only for) a `device` outage: the device type whose units go.",
    )
    role: Name | None = Field(
        default=None, description="For (and only for) a `staff` outage: the role whose people go.",
    )
    units: Annotated[int, Field(ge=1, le=100_000)] | None = Field(
        default=None,
        description="Device and staff outages: how many units or people go, the lowest-numbered first (units or "
        "people; default: all).",
    )
    at_h: Hours | None = Field(
        default=None,
        description="A scripted outage starts at this time (hours from the start); give this or `rate_per_year`.",
    )
    rate_per_year: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = Field(
        default=None,
        description="A stochastic outage starts at this rate (occurrences per year, Poisson); give this or `at_h`.",
    )
    duration_h: Distribution = Field(description="How long each occurrence lasts (hours), drawn each time.")

    @model_validator(mode="after")
    def _consistent(self) -> Outage:
        if (self.at_h is None) == (self.rate_per_year is None):
            raise LocatedValueError("give exactly one of at_h (scripted) or rate_per_year (stochastic)", ("at_h",))
        if self.what == "device" and self.pool is None:
            raise LocatedValueError("a device outage names its pool (a device type)", ("pool",))
        if self.what != "device" and self.pool is not None:
            raise LocatedValueError("only a device outage names a pool", ("pool",))
        if self.what == "staff" and self.role is None:
            raise LocatedValueError("a staff outage names its role", ("role",))
        if self.what != "staff" and self.role is not None:
            raise LocatedValueError("only a staff outage names a role", ("role",))
        if self.units is not None and self.what not in ("device", "staff"):
            raise LocatedValueError("units applies to device and staff outages only", ("units",))
        return self

    def label(self, index: int) -> str:
        """The outage's name in logs and stream names (its own, else what@site#index)."""
        return self.name or f"{self.what}@{self.site or 'all'}#{index}"
