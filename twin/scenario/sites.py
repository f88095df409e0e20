"""Sites of the scenario: hospitals and factories, their device pools, staff and utilities."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from twin.scenario.fields import Count, Name, StrictModel
from twin.scenario.staffing import StaffRole
from twin.scenario.utilities import SiteUtilities


class DevicePool(StrictModel):
    """``count`` units of a catalogue device type at a site; ``override`` changes catalogue fields."""

    count: Count = Field(description="Units of this device type at the site (0: the type is listed but has no units).")
    override: dict[str, Any] = Field(
        default_factory=dict,
        description="Catalogue fields to change for this site's units, e.g. `{batches_per_unit: 6, failure: null}`: "
        "the device's numbers and behaviours (not what it is); checked like the catalogue entry, and an overridden "
        "number is sourced as 'scenario override'.",
    )


def _headcount_is_short_form(v: Any) -> Any:
    """``role: 3`` means ``role: {count: 3}`` (three people on a 24/7 rota)."""
    if isinstance(v, bool):
        raise ValueError("expected a headcount (an integer) or a mapping with count, shift, skills, ...; "
                         "got a yes/no value")
    return {"count": v} if isinstance(v, int) else v


class Site(StrictModel):
    """A hospital (apheresis chairs, infusion slots; optionally a point-of-care manufacturing
    cell: devices and staff) or a factory (a central plant or a regional hub: devices).

    Both kinds hold staff: role name -> headcount (people on a 24/7 rota) or a
    :class:`twin.scenario.staffing.StaffRole` (count, contract, calendar and posts, skills,
    absence, turnover); and
    utilities with their backups. A site makes batches when it has every device type and role the
    recipe, cryopreservation, storage, QC and release need.
    """

    kind: Literal["hospital", "factory", "hub"] = Field(
        description="`hospital`: refers patients, collects (apheresis) and infuses them; with devices and staff it is "
        "also a point-of-care manufacturing cell. `factory`: a central plant or regional hub that makes batches. "
        "`hub`: a waypoint of `routes` (a regional hub that freezes starting material, an importer's site) whose "
        "staff do the routes' hub steps; it makes no batches.",
    )
    utc_offset_h: Annotated[float, Field(ge=-12, le=14, allow_inf_nan=False)] = Field(
        default=0.0,
        description="The site's time zone (hours ahead of the twin clock, e.g. 1 for CET, -8 for PST): its shift and "
        "office calendars, courier pickups and clinic hours are in local time (twin hour + offset); the event log "
        "stays on the twin clock (00:00 of `start_date` at offset 0). Default 0 (assumption: one time zone).",
    )
    holidays: list[dt.date] = Field(
        default_factory=list, max_length=10_000,
        description="Local dates (YYYY-MM-DD) with no shifts, no office hours and no courier pickups from the site "
        "(people on `always_on_duty` are not affected). Default none.",
    )
    apheresis_chairs: Count = Field(
        default=0, description="Apheresis chairs (chairs): each holds one patient for the apheresis step; a hospital "
        "needs at least 1, a factory has none.",
    )
    infusion_slots: Count = Field(
        default=0, description="Infusion slots (slots): each holds one patient for the infusion step; a hospital "
        "needs at least 1, a factory has none.",
    )
    devices: dict[Name, DevicePool] = Field(
        default_factory=dict,
        description="Device pools by catalogue type name: `{TYPE: {count, override}}`. A site makes batches when it "
        "has every device type and role the recipe, cryopreservation, storage, QC and release need.",
    )
    staff: dict[Name, Annotated[StaffRole, BeforeValidator(_headcount_is_short_form)]] = Field(
        default_factory=dict,
        description="People by role name: a headcount (`operator: 3`: three people on a 24/7 rota, covering at most "
        "3 x 48 of a 24/7 post's 168 h a week) or `{count, shift, posts, contract_h_per_week, skills, absence_per_day, "
        "turnover}`.",
    )
    utilities: SiteUtilities = Field(
        default_factory=SiteUtilities,
        description="Power, gases, LN2, air handling and IT at the site, with their backups (default: no backups).",
    )

    def headcount(self, role: str) -> int:
        """People of ``role`` at this site (0 if none)."""
        r = self.staff.get(role)
        return 0 if r is None else r.count

    @model_validator(mode="after")
    def _kind_fields(self) -> Site:
        if self.kind == "hospital":
            if self.apheresis_chairs < 1 or self.infusion_slots < 1:
                raise ValueError("a hospital needs apheresis_chairs >= 1 and infusion_slots >= 1")
        elif self.apheresis_chairs or self.infusion_slots:
            raise ValueError(f"a {self.kind} has no apheresis_chairs or infusion_slots")
        return self
