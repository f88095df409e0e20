"""Cost of goods inputs (device prices, depreciation and footprints come from the catalogue)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from twin.core.errors import LocatedValueError
from twin.scenario.fields import Money, Name, StrictModel


class Costs(StrictModel):
    """Cost of goods inputs (all money in ``currency``). Device prices, depreciation and
    footprints come from the catalogue.

    Cost over the measurement window, by category: capital (device price / depreciation years),
    cleanroom (device footprint x ``area_factor`` x ``cleanroom_per_m2_year``), labour
    (``labour_per_h`` of the role x the people's paid hours from the event log: each person's
    contract hours while employed, idle ones included, vacancies unpaid, trainees and absent
    people paid; plus ``overtime_factor`` x the rate for each hour rostered beyond the contract in
    a week), consumables (``consumables_per_batch`` per step started), QC
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
    overtime_factor: Annotated[float, Field(ge=1, le=5, allow_inf_nan=False)] = Field(
        default=1.5,
        description="Pay for an overtime hour as a multiple of the role's rate (a factor, at least 1): hours a person "
        "is rostered in a week beyond their contract. 1.5 (time and a half) is an assumption: a common premium.",
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

    @model_validator(mode="before")
    @classmethod
    def _removed_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and "paid_hours_per_fte_year" in data:
            raise LocatedValueError(
                "paid_hours_per_fte_year is gone: paid hours now come from each staff role's contract_h_per_week "
                "(default 37.5) and the rota; remove it", ("paid_hours_per_fte_year",))
        return data
