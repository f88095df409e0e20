"""The culture model's scenario fields: ``biology`` (per-patient starting cells, growth and
lag; intrinsic contamination; contaminant doubling; the kernel's calibration) and a recipe
step's ``end_point`` (target cells or maximum length, with in-process checks).

The kernel's parameters and their defaults are :class:`twin.kernel.params.KernelParams` (no
numba there, so a scenario validates without compiling anything). Units: cells and CFU are
counts, times in hours, probabilities per batch.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, field_validator

from twin.kernel.params import PARAM_NAMES, KernelParams
from twin.scenario.distributions import Distribution, Fixed
from twin.scenario.fields import Cells, Hours, Probability, StrictModel


class InProcessCheck(StrictModel):
    """A sample of the culture every ``every_h`` hours of culture: contaminants at or above
    ``lod_cfu`` are detected (missed with ``false_negative``); the result comes ``result_h``
    later and fails the batch (cause ``STEP:contamination_detected``)."""

    every_h: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False)] = Field(
        description="Hours of culture between samples (hours).",
    )
    lod_cfu: Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False)] = Field(
        default=100.0, description="Limit of detection: a contaminant load at or above it is found (CFU).",
    )
    false_negative: Probability = Field(
        default=0.05, description="Chance a check misses a load above the limit (probability per check).",
    )
    result_h: Hours = Field(
        default=24.0,
        description="Hours from a positive sample to its result, which fails the batch (cause "
        "`STEP:contamination_detected`) (hours).",
    )


class EndPoint(StrictModel):
    """A culture step's biological end point: harvest when viable cells reach ``target_cells``,
    or at ``max_h`` hours of culture whatever the count (the dose QC test then judges it)."""

    target_cells: Cells = Field(
        description="Harvest at the first hourly tick with at least this many viable cells (cells).",
    )
    max_h: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False)] = Field(
        description="Harvest after this many hours of culture whatever the count; the dose QC test then judges "
        "it (hours).",
    )
    in_process_check: InProcessCheck | None = Field(
        default=None, description="Sterility samples during the culture; none: no in-process checks.",
    )


class Biology(StrictModel):
    """Per-patient biology (drawn per patient from the scenario's streams) and the kernel's
    calibration.

    ``starting_cells_millions``: viable T cells that enter the first culture step (millions of
    cells; distribution parameters are bounded like hours, so cells are counted in millions).
    ``doubling_time_h``: the patient's cells' population doubling time after the lag (h); the
    kernel's growth rate is ln 2 / doubling time. ``lag_h``: activation lag before growth (h).
    ``intrinsic_contamination_probability``: chance the apheresis product carries organisms
    (``intrinsic_inoculum_cfu`` CFU) from the collection. ``contaminant_doubling_h``: doubling
    time of the organism a batch is contaminated with (h; drawn per batch).
    ``kernel``: :class:`KernelParams` fields to change (e.g. ``death_stress_per_h``).
    """

    starting_cells_millions: Distribution = Field(
        description="Viable T cells entering the first culture step, drawn per patient (millions of cells), less "
        "what connections lost on the way.",
    )
    doubling_time_h: Distribution = Field(
        description="Population doubling time of the patient's cells after the lag, drawn per patient (hours); the "
        "growth rate is ln 2 / doubling time.",
    )
    lag_h: Distribution = Field(
        default_factory=lambda: Fixed(value=48.0),
        description="Activation lag before growth starts, drawn per patient (hours).",
    )
    intrinsic_contamination_probability: Probability = Field(
        default=0.0,
        description="Chance the apheresis product itself carries organisms from the collection (probability per "
        "patient).",
    )
    intrinsic_inoculum_cfu: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)] = Field(
        default=1.0, description="Organisms an intrinsically contaminated product carries (CFU).",
    )
    contaminant_doubling_h: Distribution = Field(
        default_factory=lambda: Fixed(value=2.0),
        description="Doubling time of the organism contaminating a batch, drawn per batch (hours).",
    )
    kernel: dict[str, float] = Field(
        default_factory=dict,
        description="Culture-kernel parameters to change from their defaults, for calibration (e.g. "
        "`death_stress_per_h: 0.002`); the names, units and sources are in `twin/kernel/`.",
    )

    @field_validator("kernel")
    @classmethod
    def _kernel_fields(cls, v: dict[str, float]) -> dict[str, float]:
        for k in v:
            if k not in PARAM_NAMES:
                raise ValueError(f"unknown kernel parameter {k!r}; they are {list(PARAM_NAMES)}")
        try:
            KernelParams(**{k: float(x) for k, x in v.items()})
        except ValueError as err:
            raise ValueError(str(err).removeprefix("KernelParams: ")) from None
        return v

    def kernel_params(self) -> KernelParams:
        """The kernel's parameters with this scenario's calibration."""
        return KernelParams(**{k: float(x) for k, x in self.kernel.items()})

    @staticmethod
    def growth_rate_per_h(doubling_h: float) -> float:
        """ln 2 / doubling time (1/h); 0 for an infinite doubling time."""
        return 0.0 if not math.isfinite(doubling_h) or doubling_h <= 0 else math.log(2.0) / doubling_h


def expected_culture_h(biology: Biology, end_point: EndPoint, capacity_cells: float, start_cells: float) -> float:
    """Culture length (h) at the mean patient: lag, then logistic growth from ``start_cells``
    to ``end_point.target_cells`` at the mean doubling time, capped at ``end_point.max_h``.

    The kernel's growth (rate mu = ln 2 / doubling time, toward ``capacity_cells``) and its
    background death (``death_base_per_h`` = d, also during the lag) combine into
    ``dN/dt = mu N (1 - N/K) - d N``: logistic with rate ``r = mu - d`` toward ``K (1 - d/mu)``,
    so the time from N1 (cells after the lag, ``start_cells exp(-d lag)``) to the target T is
    ``ln(T (K' - N1) / (N1 (K' - T))) / r``. Crowding death near capacity and stress from
    outages are left out (the target usually sits well below capacity). It is the length at the
    mean parameters, not the mean length: patients' spread in doubling time and starting cells
    makes the simulated mean a few hours longer (Jensen), and the hourly tick adds up to 1 h.

    Args:
        biology: the scenario's biology (mean doubling time and lag, kernel calibration).
        end_point: the culture step's target cells and maximum length (h).
        capacity_cells: the device's culture capacity for one batch (cells).
        start_cells: viable cells that enter the culture (cells).
    """
    lag = biology.lag_h.mean
    mu = biology.growth_rate_per_h(biology.doubling_time_h.mean)
    d = biology.kernel_params().death_base_per_h
    n1 = start_cells * math.exp(-d * lag)
    target = end_point.target_cells
    if start_cells >= target:
        return 0.0
    r = mu - d
    k = capacity_cells * (1.0 - d / mu) if mu > 0 else 0.0
    if r <= 0 or target >= k or n1 <= 0:
        return end_point.max_h
    return min(lag + math.log(target * (k - n1) / (n1 * (k - target))) / r, end_point.max_h)
