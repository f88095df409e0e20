"""Field types of the scenario language, defined once for every section.

Units live in the field names that use them (``*_h`` hours, ``*_days`` days). Every number is
bounded and finite; counts are strict integers; names are identifiers a report can print.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=64)]
"""A name of a site, role, step, device type or shift: a letter, then letters, digits, _ or -."""
StepName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*(:[A-Za-z][A-Za-z0-9_\-]*)?$", max_length=129)]
"""A journey step's name: a name, or ``KIND:NAME`` (``transfer:selection``, ``qc:sterility``)."""
Count = Annotated[int, Field(ge=0, le=100_000)]
"""A whole number of things (units, people, chairs)."""
Hours = Annotated[float, Field(ge=0, le=1.0e6, allow_inf_nan=False)]
"""A length of time in hours (at most 1e6 h, about 114 years)."""
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A probability (0-1)."""
HourOfDay = Annotated[float, Field(ge=0, le=24, allow_inf_nan=False)]
"""An hour of the day (0-24)."""
Money = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
"""An amount of money (in the scenario's currency)."""
Cells = Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False)]
"""A number of cells (or colony-forming units)."""
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names, Monday first (index = ``date.weekday()``)."""


class StrictModel(BaseModel):
    """Base of every scenario section: unknown keys are errors, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)
