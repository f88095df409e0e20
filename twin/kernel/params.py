"""The culture kernel's global parameters: :class:`KernelParams`, their names in vector order
and the rule set the kernels check. No numba here, so scenarios validate without compiling.

Units and sources of every parameter: the module docstring of :mod:`twin.kernel.compiled`.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, field, fields
from typing import Any

import numpy as np


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
