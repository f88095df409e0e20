"""Cost of goods inputs (device prices, depreciation and footprints come from the catalogue)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from twin.core.units import HOURS_PER_YEAR
from twin.scenario.fields import Money, Name, StrictModel


class Costs(StrictModel):
    """Cost of goods inputs (all money in ``currency``). Device prices, depreciation and
    footprints come from the catalogue.

    Cost over the measurement window, by category: capital (device price / depreciation years),
    cleanroom (device footprint x ``area_factor`` x ``cleanroom_per_m2_year``), labour
    (headcount x ``paid_hours_per_fte_year`` x ``labour_per_h`` of the role: paid hours, idle
    ones included), consumables (``consumables_per_batch`` per step started), QC
    (``qc_per_test`` per test started), courier (``per_shipment`` per shipment) and overhead
    (``overhead_per_site_year``). Cost per dose = total / patients infused in the window.
    """

    currency: Annotated[str, Field(min_length=1, max_length=8)] = Field(
        default="EUR", description="Currency every amount is in (a label for the reports).",
    )
    labour_per_h: dict[Name, Money] = Field(
        default_factory=dict,
        description="Rate per paid hour, by role (currency per hour); every staff role needs one.",
    )
    paid_hours_per_fte_year: Annotated[float, Field(gt=0, le=int(HOURS_PER_YEAR), allow_inf_nan=False)] = Field(
        default=1650.0,
        description="Paid hours per person per year (hours per year): labour = headcount x these hours x rate, idle "
        "hours included.",
    )
    consumables_per_batch: dict[Name, Money] = Field(
        default_factory=dict,
        description="Consumables by step name (currency per step started): recipe steps, `apheresis`, `freezing`, "
        "`receipt`, `cryopreservation`, `release`, `infusion`.",
    )
    qc_per_test: dict[Name, Money] = Field(
        default_factory=dict, description="Cost by QC test name (currency per test started).",
    )
    per_shipment: Money = Field(default=0.0, description="Courier cost (currency per shipment).")
    cleanroom_per_m2_year: Money = Field(
        default=0.0,
        description="Cleanroom running cost (currency per m² per year), charged on each device unit's footprint "
        "x `area_factor`.",
    )
    area_factor: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)] = Field(
        default=1.0,
        description="Cleanroom floor per m² of device footprint, for corridors, gowning and so on (a factor, "
        "at least 1).",
    )
    overhead_per_site_year: dict[Name, Money] = Field(
        default_factory=dict, description="Fixed overhead by site name (currency per year).",
    )
