"""Capacity plans: dated changes to a site (device units added or retired, staff hired or let go,
a manufacturing site opened or closed), each with its lead time.

A new device line, and a site that opens, must be installed and qualified by an installation team
(``commissioning.teams`` of them, network-wide: one team qualifies one line at a time, first come
first served); a new unit is out of service (``not_commissioned``) from the start of the run until
its qualification ends. A new hire's place is vacant until the hiring lead has passed, then its
holder trains (as :class:`twin.scenario.staffing.Turnover` models a replacement). With no plan the
run is as without this section.

The model side is :mod:`twin.model.commissioning`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from twin.core.errors import LocatedValueError
from twin.core.units import HOURS_PER_DAY
from twin.scenario.distributions import Distribution, Triangular
from twin.scenario.fields import Name, StrictModel

if TYPE_CHECKING:
    from twin.scenario.document import Scenario

Delta = Annotated[int, Field(ge=-1000, le=1000)]


class PlanEntry(StrictModel):
    """One dated change to one site."""

    date: dt.date = Field(description="The date the change is decided / starts (YYYY-MM-DD): an added line's "
                          "installation and qualification start then (when a team is free), a hire's hiring lead "
                          "starts then, a retirement or closure takes effect then.")
    site: Name = Field(description="The site the change is at (a name under `sites`).")
    devices: dict[Name, Delta] = Field(
        default_factory=dict,
        description="Device units added (+N units: each installed and qualified by a team before use) or retired (-N: the "
        "highest-numbered units in service, once empty) by device type listed at the site.",
    )
    staff: dict[Name, Delta] = Field(
        default_factory=dict,
        description="People hired (+N people: each joins after the hiring lead, then trains) or leaving (-N: the "
        "highest-numbered in service, once their task in hand is done) by role listed at the site.",
    )
    open: bool | None = Field(
        default=None,
        description="`true`: the site opens on the date after a team qualifies it (it makes no batch before: "
        "routing sends none there and its units are `not_commissioned`); `false`: it closes (routing sends no "
        "new batch there; batches already there finish). Default: no change.",
    )
    label: str = Field(default="", max_length=200,
                       description="Name of the change in the event log (`commission_start`/`_end` detail); "
                       "default `plan:K` for the K-th entry.")

    def at_h(self, start_date: dt.date) -> float:
        """Hours from the run's start to this entry's date (00:00 of the date)."""
        return (self.date - start_date).days * HOURS_PER_DAY


class Commissioning(StrictModel):
    """Who installs and qualifies new lines and sites, how long it takes, and the hiring lead of
    planned hires (all assumptions: no sourced figure in ../shared/domain/parameters.md)."""

    teams: Annotated[int, Field(ge=1, le=100)] = Field(
        default=1, description="Installation teams (role `installation_engineer`) in the network: one team "
        "qualifies one line or site at a time. Default 1 (assumption: a scarce vendor/validation team).",
    )
    line_days: Distribution = Field(
        default_factory=lambda: Triangular(low=21.0, mode=30.0, high=60.0),
        description="Installation and qualification (IQ/OQ/PQ) of one device unit (days). Default triangular "
        "21/30/60 days (assumption).",
    )
    site_days: Distribution = Field(
        default_factory=lambda: Triangular(low=60.0, mode=90.0, high=180.0),
        description="Qualification of a site that opens (facility, utilities, process validation) (days). "
        "Default triangular 60/90/180 days (assumption).",
    )
    hiring_lead_days: Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)] = Field(
        default=60.0, description="Days from a planned hire's date until the person starts, for a role without "
        "`turnover` (a role with one uses its `hiring_lead_days`). Default 60 (assumption, as turnover's).",
    )
    training_weeks: Annotated[float, Field(ge=0, le=520, allow_inf_nan=False)] = Field(
        default=8.0, description="Weeks a planned hire trains before qualified work, for a role without "
        "`turnover` (else its `training_weeks`). Default 8 (assumption, as turnover's).",
    )


def entry_label(entry: PlanEntry, k: int) -> str:
    """The entry's label in the log (``plan:K`` when it has none)."""
    return entry.label or f"plan:{k}"


def added_units(plan: list[PlanEntry], site: str, section: str, name: str) -> int:
    """Units (device units or people) that ``plan`` ever adds to ``site``'s ``name`` in ``section``
    (``devices`` or ``staff``): the model builds the pool with them and keeps each out of service
    until it joins."""
    return sum(max(getattr(e, section).get(name, 0), 0) for e in plan if e.site == site)


def opens_later(plan: list[PlanEntry], site: str) -> bool:
    """Whether ``site`` is closed at the start (its first open/close entry opens it)."""
    first = next((e for e in sorted(plan, key=lambda e: e.date) if e.site == site and e.open is not None), None)
    return first is not None and first.open is True


def check_plan(sc: Scenario) -> None:
    """Raise a located error for an entry naming an unknown site, device type or role, dated
    outside the run, or retiring more than are in service."""
    in_service: dict[tuple[str, str, str], int] = {}
    order = sorted(range(len(sc.capacity_plan)), key=lambda k: sc.capacity_plan[k].date)
    for k in order:
        e = sc.capacity_plan[k]
        where = ("capacity_plan", k)
        if e.site not in sc.sites:
            raise LocatedValueError(f"unknown site {e.site!r}; sites are {sorted(sc.sites)}", (*where, "site"))
        if e.date < sc.start_date:
            raise LocatedValueError(f"date {e.date} is before start_date {sc.start_date}", (*where, "date"))
        site = sc.sites[e.site]
        for section, listed in (("devices", site.devices), ("staff", site.staff)):
            for name, delta in getattr(e, section).items():
                if name not in listed:
                    raise LocatedValueError(f"{name!r} is not listed under sites.{e.site}.{section} (list it, "
                                            "with count 0 if it has none at the start)", (*where, section, name))
                key = (e.site, section, name)
                now = in_service.get(key, listed[name].count) + delta
                if now < 0:
                    raise LocatedValueError(f"retires {-delta} of {name!r} but only {now - delta} are in service "
                                            "then", (*where, section, name))
                in_service[key] = now
