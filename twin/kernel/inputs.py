"""Input rules of the culture kernel, shared by every implementation: error codes and their
messages, the parameter index constants, and the NumPy check the references run (the numba
kernels run an equivalent compiled check; tests hold them equal). No numba here."""

from __future__ import annotations

import math

import numpy as np

from twin.kernel.params import PARAM_NAMES, params_problem

MAX_SUBSTEPS = 1e9
"""Most sub-steps one call may take; more is surely a unit mistake (1e9 h is 114,000 years)."""


# index constants (compile-time constants inside the njit code)
(
    _TSET, _TAMB, _TTOFF, _TTON, _CSET, _CAMB, _CTOFF, _CTON, _TTOL, _CTOL,
    _K, _DSTRESS, _DBASE, _DPLAT, _PF, _UNFED, _CMAX, _DT,
) = range(18)
_NPARAM = 18
assert len(PARAM_NAMES) == _NPARAM


# ----------------------------------------------------------------------------------------------
# Input checks (shared codes and messages; an njit version for the kernels, a NumPy one for the
# references -- tests check that they agree)
# ----------------------------------------------------------------------------------------------

_MESSAGES = (
    "",
    "all per-culture arrays must have the same length",
    "params_vec must hold 18 values (KernelParams.as_array())",
    "params_vec holds an invalid value (build it with KernelParams(...).as_array())",
    "hours must be finite and >= 0",
    "hours / dt_h exceeds MAX_SUBSTEPS (1e9) sub-steps",
    "cells, dead, contam and stress_h must be finite and >= 0",
    "age_h and co2_pct must be finite and >= 0, temp_c finite",
    "mu_per_h must be finite and >= 0, lag_h >= 0 (inf allowed)",
    "capacity_cells must be finite and > 0",
    "doubling_contam_h must be > 0 (inf allowed: no growth)",
    "state and per-culture parameter arrays must be float64, environment arrays uint8 or bool",
)


def _check_numpy(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,  # noqa: C901 (one early return per error code, in step with compiled._check_njit)
                 doubling_contam_h, powered, co2_supply, perfused, params_vec) -> int:
    """Error code (index into ``_MESSAGES``) of the first violated rule, 0 if the inputs are valid."""
    arrays = (cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
              doubling_contam_h, powered, co2_supply, perfused)
    n = len(cells)
    if any(np.ndim(a) != 1 or len(a) != n for a in arrays):
        return 1
    if any(np.asarray(a).dtype != np.float64 for a in arrays[:11]) or any(
        np.asarray(a).dtype not in (np.uint8, np.bool_) for a in arrays[11:]
    ):
        return 11
    p = np.asarray(params_vec, dtype=np.float64)
    if p.shape != (_NPARAM,):
        return 2
    if params_problem(p):
        return 3
    if not (hours >= 0 and hours < math.inf):
        return 4
    if hours / p[_DT] > MAX_SUBSTEPS:
        return 5
    with np.errstate(invalid="ignore"):
        for a in (cells, dead, contam, stress_h):
            if not np.all((a >= 0) & (a < np.inf)):
                return 6
        if not (np.all((age_h >= 0) & (age_h < np.inf)) and np.all((co2_pct >= 0) & (co2_pct < np.inf))
                and np.all(np.isfinite(temp_c))):
            return 7
        if not (np.all((mu_per_h >= 0) & (mu_per_h < np.inf)) and np.all(lag_h >= 0)):
            return 8
        if not np.all((capacity_cells > 0) & (capacity_cells < np.inf)):
            return 9
        if not np.all(doubling_contam_h > 0):
            return 10
    return 0
