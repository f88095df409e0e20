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

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start_h: HourOfDay
    end_h: HourOfDay

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

    leavers_per_year: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]
    hiring_lead_days: Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)] = 60.0
    training_weeks: Annotated[float, Field(ge=0, le=520, allow_inf_nan=False)] = 8.0


class StaffRole(_Model):
    """``count`` people of a role at a site.

    ``shift``: the calendar (a name in the scenario's ``shifts``) they work; None: on duty
    around the clock. ``skills``: steps they are qualified for besides the steps that name the
    role (e.g. an on-call crew qualified for ``harvest``). ``absence_per_day``: the chance a
    person is absent on a given day (sickness), drawn per person and day. ``turnover``: leavers,
    hiring lead time and training.
    """

    count: Count
    shift: Name | None = None
    skills: list[Name] = Field(default_factory=list, max_length=500)
    absence_per_day: Probability = 0.0
    turnover: Turnover | None = None


# -- utilities -----------------------------------------------------------------------------------


class Generator(_Model):
    """Standby generator: starts ``start_delay_min`` minutes after the grid fails, fails to
    start with ``fail_to_start_probability`` (per outage) and runs ``fuel_h`` hours on its tank
    (None: refuelled, runs as long as needed)."""

    start_delay_min: Annotated[float, Field(ge=0, le=1440, allow_inf_nan=False)] = 0.5
    fail_to_start_probability: Probability = 0.0
    fuel_h: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = None


class PowerSupply(_Model):
    """Electricity: the grid, a UPS that carries the load for ``ups_minutes`` and an optional
    generator. Power is lost when the grid is down and neither is carrying the load."""

    ups_minutes: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] = 0.0
    generator: Generator | None = None


class GasSupply(_Model):
    """A gas (CO2, O2) or compressed air: the main supply (bulk tank or compressor) and a backup
    that lasts ``backup_h`` hours. For CO2, ``backup_l`` litres of bottle bank may be given
    instead: it lasts ``backup_l`` / (sum of ``co2_l_per_h`` of the site's installed units)."""

    backup_h: Hours = 0.0
    backup_l: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] | None = None


class LN2Supply(_Model):
    """Liquid nitrogen: a tank of ``tank_l`` litres refilled to full every
    ``delivery_every_days`` days (first delivery at the start). The site's units draw
    ``ln2_l_per_day`` each (catalogue). An ``ln2`` outage is a supply interruption: deliveries
    due in it are missed, and LN2 runs out when the tank is empty."""

    tank_l: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
    delivery_every_days: Annotated[float, Field(gt=0, le=365, allow_inf_nan=False)] = 7.0


class HVAC(_Model):
    """Cleanroom air handling: without power (or in an ``hvac`` outage) the room loses its grade
    after ``grade_loss_after_h`` hours; once air is back it needs ``requalification_h`` hours
    (cleaning, environmental monitoring) before open work may resume."""

    grade_loss_after_h: Hours = 0.25
    requalification_h: Hours = 24.0


class ITSystem(_Model):
    """The IT/MES system (electronic batch records, release). After an ``it`` outage ends, the
    restore takes ``restore_h`` more hours (backup restore, data verification)."""

    restore_h: Hours = 0.0


class SiteUtilities(_Model):
    """A site's utilities and their backups (defaults: no backup at all)."""

    power: PowerSupply = Field(default_factory=PowerSupply)
    co2: GasSupply = Field(default_factory=GasSupply)
    o2: GasSupply = Field(default_factory=GasSupply)
    compressed_air: GasSupply = Field(default_factory=GasSupply)
    ln2: LN2Supply | None = None
    hvac: HVAC = Field(default_factory=HVAC)
    it: ITSystem = Field(default_factory=ITSystem)


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

    duration_h: Distribution = Field(default_factory=lambda: Fixed(value=0.25))
    hands_on_h: Hours = 0.25
    contamination_probability: Probability = 0.0
    inoculum_cfu: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)] = 1.0
    leak_probability: Probability = 0.0
    leak_effect: Literal["lost", "volume"] = "lost"
    leak_volume_fraction: Probability = 0.1
    cell_loss_fraction: Probability = 0.0
    device: Name | None = None


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

    name: Name | None = None
    what: OutageTarget
    site: Name | None = None
    pool: Name | None = None
    role: Name | None = None
    units: Annotated[int, Field(ge=1, le=100_000)] | None = None
    at_h: Hours | None = None
    rate_per_year: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)] | None = None
    duration_h: Distribution

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
