"""The culture model's parameters and the scenario fields that drive it.

:class:`KernelParams` (the kernel's global parameters, documented with units and sources in
:mod:`twin.biology`) lives here, with no numba, so that scenarios can be validated without
compiling anything. The scenario fields:

* ``biology``: per-patient starting cells, growth and lag; intrinsic contamination from the
  apheresis product; contaminant doubling times; calibration of the kernel's parameters.
* a recipe step's ``end_point``: the culture ends when it reaches ``target_cells`` or at
  ``max_h`` (then out of specification for dose if short), with optional in-process checks.
* a QC test's ``measures``: ``contamination`` (detected with the Poisson sampling probability of
  :func:`twin.biology.detection_probability`), ``viability`` or ``dose`` (against ``spec``).

Units: cells and CFU are counts, times in hours, probabilities per batch.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, field, fields
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin.distributions import Distribution, Fixed

# ----------------------------------------------------------------------------------------------
# Global parameters
# ----------------------------------------------------------------------------------------------


def _param(default: float, doc: str) -> Any:
    """A :class:`KernelParams` field: its default and what it is, with its unit (``metadata["doc"]``)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class KernelParams:
    """Global culture-model parameters; see the module docstring for units and sources.

    Each field's ``metadata["doc"]`` says what it is, with its unit (the scenario reference lists them).

    ``as_array()`` gives the float64 vector the kernels take, in field order (:data:`PARAM_NAMES`).
    Invalid values raise ``ValueError`` on construction.
    """

    temp_set_c: float = _param(37.0, "Chamber temperature setpoint (°C).")
    temp_ambient_c: float = _param(21.0, "Room temperature a chamber without power cools towards (°C).")
    temp_tau_off_h: float = _param(3.0, "Time constant of the chamber cooling without power (hours).")
    temp_tau_on_h: float = _param(
        0.5, "Time constant of the heaters bringing the chamber back to the setpoint (hours).",
    )
    co2_set_pct: float = _param(5.0, "Chamber CO2 setpoint (%).")
    co2_ambient_pct: float = _param(
        0.04, "CO2 of room air, which the chamber drifts towards without CO2 supply or power (%).",
    )
    co2_tau_off_h: float = _param(2.0, "Time constant of CO2 leaking out of the chamber (hours).")
    co2_tau_on_h: float = _param(0.5, "Time constant of the gas controller restoring the CO2 setpoint (hours).")
    temp_tol_c: float = _param(1.0, "Temperature band around the setpoint the culture tolerates (°C).")
    co2_tol_pct: float = _param(1.0, "CO2 band around the setpoint the culture tolerates (% points).")
    growth_stress_k: float = _param(
        1.0, "How much an excursion slows growth: the rate is multiplied by exp(-k x excursion) (dimensionless).",
    )
    death_stress_per_h: float = _param(
        0.01, "Extra death rate per unit of excursion outside the tolerances (per hour).",
    )
    death_base_per_h: float = _param(0.0005, "Background death rate (per hour).")
    death_plateau_per_h: float = _param(0.004, "Extra death rate from crowding, reached at full capacity (per hour).")
    plateau_fraction: float = _param(
        0.9, "Share of the device's capacity above which crowding death starts (fraction, below 1).",
    )
    unfed_growth_factor: float = _param(0.5, "Factor on the growth rate while feed/perfusion is off (factor).")
    contam_max_cfu: float = _param(1e12, "Largest contaminant load a batch can carry (CFU).")
    dt_h: float = _param(1.0, "Kernel sub-step: how often chamber, stress and growth are re-coupled (hours).")

    def __post_init__(self) -> None:
        problem = params_problem(np.array(astuple(self), dtype=np.float64))
        if problem:
            raise ValueError(f"KernelParams: {problem}")

    def as_array(self) -> np.ndarray:
        """The parameters as a float64 vector in field order (what the kernels take)."""
        return np.array(astuple(self), dtype=np.float64)

    @classmethod
    def from_array(cls, vec: np.ndarray) -> KernelParams:
        """Inverse of :meth:`as_array`."""
        vec = np.asarray(vec, dtype=np.float64)
        if vec.shape != (len(PARAM_NAMES),):
            raise ValueError(f"KernelParams.from_array: expected {len(PARAM_NAMES)} values, got shape {vec.shape}")
        return cls(*(float(v) for v in vec))


PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in fields(KernelParams))
"""Names of the ``params_vec`` entries, in index order."""



def params_problem(p: np.ndarray) -> str:
    """What is wrong with a parameter vector, or ``""`` if it is valid (the kernels' rule set)."""
    if p.shape != (len(PARAM_NAMES),):
        return f"expected {len(PARAM_NAMES)} parameters, got shape {p.shape}"
    named = dict(zip(PARAM_NAMES, (float(v) for v in p)))
    for name, v in named.items():
        if not math.isfinite(v):
            return f"{name} must be finite (got {v})"
    for name in ("temp_tau_off_h", "temp_tau_on_h", "co2_tau_off_h", "co2_tau_on_h", "temp_tol_c", "co2_tol_pct",
                 "contam_max_cfu", "dt_h"):
        if not named[name] > 0:
            return f"{name} must be > 0 (got {named[name]})"
    for name in ("co2_set_pct", "co2_ambient_pct", "growth_stress_k", "death_stress_per_h", "death_base_per_h",
                 "death_plateau_per_h", "unfed_growth_factor"):
        if not named[name] >= 0:
            return f"{name} must be >= 0 (got {named[name]})"
    if not 0 <= named["plateau_fraction"] < 1:
        return f"plateau_fraction must be in [0, 1) (got {named['plateau_fraction']})"
    return ""


Cells = Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False)]
Hours = Annotated[float, Field(ge=0, le=1.0e5, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class InProcessCheck(_Model):
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


class EndPoint(_Model):
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


class Biology(_Model):
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
        "`death_stress_per_h: 0.002`); the names, units and sources are in `twin/biology.py`.",
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


def detection_probability(cfu: float, sample_fraction: float, false_negative: float) -> float:
    """Probability that a sterility / in-process sample detects the contamination.

    The sample takes ``sample_fraction`` (0-1) of a product that holds ``cfu`` organisms (CFU),
    organisms in the sample are Poisson with mean ``cfu * sample_fraction``, and the method misses
    a positive sample with probability ``false_negative`` (0-1):
    ``P = (1 - exp(-cfu * sample_fraction)) * (1 - false_negative)``.
    """
    if not (cfu >= 0):
        raise ValueError(f"cfu must be >= 0, got {cfu}")
    if not (0 <= sample_fraction <= 1):
        raise ValueError(f"sample_fraction must be in [0, 1], got {sample_fraction}")
    if not (0 <= false_negative <= 1):
        raise ValueError(f"false_negative must be in [0, 1], got {false_negative}")
    if cfu == math.inf:
        return 1.0 - false_negative if sample_fraction > 0 else 0.0
    return -math.expm1(-cfu * sample_fraction) * (1.0 - false_negative)
