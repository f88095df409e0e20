"""Outage schedules: scripted (``at_h``) or stochastic (``rate_per_year``) losses of a
utility, the IT system, device units or staff, at one site or all. The model that acts on
them is :mod:`twin.model.availability`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.distributions import Distribution
from twin.scenario.fields import Hours, Name, StrictModel

OutageTarget = Literal["power", "co2", "o2", "compressed_air", "ln2", "hvac", "it", "device", "staff"]
UTILITY_TARGETS: tuple[str, ...] = ("power", "co2", "o2", "compressed_air", "ln2", "hvac", "it")


class Outage(StrictModel):
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
