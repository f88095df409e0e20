"""Culture kernel: T-cell expansion, death, contamination and chamber conditions, many cultures at once.

What it owns: the per-hour biology of every culture that sits in a device. The SimPy model ticks
(hourly) and calls :func:`advance` once per tick for all cultures together; :func:`flags` then says
which cultures reached their dose, lost viability or carry a detectable contaminant. No simpy, no
pandas, no files, no plots here. ``numba`` is imported by this module only; the simulation imports
this module lazily so ``twin --help`` and ``twin validate`` never pay for numba.

Units: time in hours (h), temperature in °C, CO2 in % (v/v), cells and CFU as counts, rates in 1/h.

Randomness
----------
The kernel draws **no random numbers**: its result is a deterministic function of its inputs. All
per-patient randomness (growth rate, lag, organism, seeding of contamination) is drawn by the
simulation from its named streams and passed in as per-culture parameters. That is why a culture's
trajectory does not depend on how many other cultures share a tick, nor on their order, nor on
whether the serial or the parallel kernel ran.

State per culture (float64 1-D arrays of length n, updated IN PLACE)
--------------------------------------------------------------------
============  =====  =====================================================================
``cells``     cells  viable T cells
``dead``      cells  non-viable cells (never cleared); viability = cells / (cells + dead)
``contam``    CFU    contaminant load (0 = sterile; stays 0 for ever)
``age_h``     h      hours in culture so far
``temp_c``    °C     chamber temperature
``co2_pct``   %      chamber CO2
``stress_h``  h      cumulative excursion dose (dimensionless excursion x times hours)
============  =====  =====================================================================

Per-culture parameters (float64 arrays, read only)
--------------------------------------------------
``mu_per_h`` (1/h)
    Maximum specific growth rate, per patient; the simulation draws it lognormal. Suggested median
    ln 2 / (2.6 d * 24 h/d) = 0.0111 /h, from the implied population doubling time ~2.6 d
    (30x in 13 d, Prodigy TCT; ../shared/domain/parameters.md section 1.7, [inferred] there, and it
    includes the lag, so the true post-lag rate is somewhat higher). Patient cells are slower
    than healthy-donor cells (0.9 d there), hence the spread.
``lag_h`` (h)
    Lag phase: no growth before ``age_h`` reaches it. Assumption (no source gives a lag for
    CAR-T expansion; activation takes one to three days in common protocols).
``capacity_cells`` (cells)
    Carrying capacity of the device (finite, > 0; use e.g. 1e300 for "no limit"). Assumption of
    the simulation (device-specific: e.g. Prodigy TCT ~1.6e9 cells from 0.5e8, parameters.md 1.2).
``doubling_contam_h`` (h)
    Contaminant doubling time by organism class (> 0; ``inf`` = no growth). Assumption: bacteria
    in rich medium at 37 °C double in well under an hour to a few hours, yeasts and moulds slower.
    The *probability* that a batch is seeded at all belongs to the simulation (transfers), which is
    calibrated so that the per-batch contamination rate lands in the 0.06 %-1 % window of
    parameters.md section 1.8 [inferred calibration window]; the kernel only grows a load > 0.

Environment per culture for one call (uint8 arrays, 0/1, constant during one call)
----------------------------------------------------------------------------------
``powered`` (the device has power), ``co2_supply`` (CO2 gas supply on), ``perfused`` (medium
feed/perfusion running; the simulation sets 0 when power is off). ``bool`` arrays are accepted
too (numba then compiles a second specialisation). Any other dtype, and state or parameters that
are not float64, are refused at compile time (``TypingError``), never cast silently.

Global parameters: :class:`KernelParams` (``params_vec = KernelParams().as_array()``)
-------------------------------------------------------------------------------------
Index order of ``params_vec`` = field order (also in :data:`PARAM_NAMES`):

====  =======================  =======  ==========================================================
 idx  name                     default  where the default comes from
====  =======================  =======  ==========================================================
  0   temp_set_c (°C)          37       incubator setpoint 37 °C (parameters.md 1.6, Lab Manager)
  1   temp_ambient_c (°C)      21       assumption: cleanroom air is held at about 20-22 °C
  2   temp_tau_off_h (h)       3        assumption: a closed, insulated chamber without power
                                        cools over hours (1.6: water-jacketed units stay warm
                                        longer); no published curve
  3   temp_tau_on_h (h)        0.5      assumption: heaters recover in tens of minutes (1.6:
                                        recovery after a door opening takes "several minutes")
  4   co2_set_pct (%)          5        incubator setpoint, CO2 5-10 %, typically 5 % (1.6)
  5   co2_ambient_pct (%)      0.04     physical: outdoor air holds about 420 ppm CO2
  6   co2_tau_off_h (h)        2        assumption: CO2 leaks out of a closed chamber over hours
                                        (1.6: an overnight CO2 loss in a closed incubator did
                                        "no remarkable damage", an anecdote)
  7   co2_tau_on_h (h)         0.5      assumption: the gas controller restores the setpoint in
                                        tens of minutes
  8   temp_tol_c (°C)          1.0      assumption: a +/-1 °C alarm band is common practice
  9   co2_tol_pct (%)          1.0      assumption: +/-1 point of CO2 (setpoints 5-10 % are all
                                        in use, so one point is harmless)
 10   growth_stress_k (-)      1.0      assumption: growth halves at excursion x ~ 0.7
 11   death_stress_per_h (1/h) 0.01     assumption: excursion x = 1 held for a day kills ~21 %
 12   death_base_per_h (1/h)   0.0005   assumption: ~1.2 %/day background death keeps viability
                                        ~96 % during growth, inside release specs >= 70-80 % (1.3)
 13   death_plateau_per_h(1/h) 0.004    assumption: crowding near capacity raises death
 14   plateau_fraction (-)     0.9      assumption: crowding death starts at 90 % of capacity
 15   unfed_growth_factor (-)  0.5      assumption: without feed/perfusion medium depletes and
                                        growth roughly halves
 16   contam_max_cfu (CFU)     1e12     assumption: ~1e10 CFU/mL (a dense bacterial culture) in
                                        ~100 mL of product; must be finite
 17   dt_h (h)                 1.0      numerical: each sub-step is solved exactly, so dt only sets
                                        how often chamber, stress and growth are re-coupled; 1 h
                                        matches the simulation tick
====  =======================  =======  ==========================================================

No published source quantifies how CAR-T cultures tolerate loss of power, CO2 or temperature
(parameters.md sections 1.6 and 3): every outage-impact default above is an **assumption** and
must be presented as such in results. What the defaults imply, for a culture in exponential growth
(mu 0.0111 /h, far below capacity, viability 96 %): at the end of an outage it holds this share
of the viable cells an undisturbed culture holds at the same time, at this viability
(``tests/unit/test_biology.py`` recomputes the table):

====================================  ===========  ===========  ===========
outage                                1 h          4 h          12 h
====================================  ===========  ===========  ===========
power (so also CO2 and feed) lost     95 %, 92 %   64 %, 65 %   14 %, 16 %
CO2 supply lost, power on             98 %, 95 %   88 %, 88 %   59 %, 64 %
====================================  ===========  ===========  ===========

That is harsh next to the one anecdote (an overnight CO2 loss did "no remarkable damage",
section 1.6): calibrate ``death_stress_per_h`` and the tolerances before reading outage results.

Order properties (``tests/validation/test_biology_theory.py``): a longer or colder outage never
leaves more viable cells at the end (every step is increasing in N and decreasing in the
excursion). It never leaves a higher viability either while the culture is far below capacity;
near capacity it can, because a culture knocked back by the outage escapes crowding death and its
dead cells are diluted by faster logistic regrowth.

Equations, one sub-step of length dt (a call advances ``hours`` >= 0 in whole sub-steps of
``dt_h`` and one final partial sub-step)
-------------------------------------------------------------------------------------------------
1. Chamber (exact first-order relaxation): target T = temp_set if powered else temp_ambient,
   ``T += (target - T) * (1 - exp(-dt/tau))`` with tau = temp_tau_on_h if powered else
   temp_tau_off_h. CO2: target = co2_set if (powered and co2_supply) else co2_ambient; same
   relaxation with co2_tau_on_h / co2_tau_off_h. (Uses T and CO2 at the END of the sub-step.)
2. Excursion ``x = max(0, |T - temp_set| - temp_tol)/temp_tol + max(0, |CO2 - co2_set| - co2_tol)/co2_tol``
   (dimensionless, 0 inside tolerance); ``stress_h += x * dt``.
3. Growth, only for the part of the sub-step past the lag: ``dt_g = clip(age + dt - lag, 0, dt)``;
   ``r = mu * exp(-growth_stress_k * x) * (1 if perfused else unfed_growth_factor)``; exact
   logistic step ``N <- K / (1 + (K/N - 1) exp(-r dt_g))``, evaluated in the stable form
   ``N / (e + (N/K)(1 - e))`` with ``e = exp(-r dt_g)`` and ``1 - e = -expm1(-r dt_g)`` (no
   cancellation for small r dt_g), which is ``N exp(r dt_g)`` for K >> N; N = 0 stays 0.
4. Death: ``d = death_base + death_plateau * max(0, N/K - plateau_fraction)/(1 - plateau_fraction)
   + death_stress_per_h * x``; ``lost = N * (-expm1(-d dt))``; ``N -= lost``; ``dead += lost``.
5. Contamination: if contam > 0: ``contam = min(contam_max, contam * 2**(dt/doubling_contam_h))``.
6. ``age_h += dt``.

Implementations (same signature, same results within rounding)
---------------------------------------------------------------
* :func:`advance` -- numba, serial; :func:`advance_parallel` -- numba, ``prange`` over blocks of
  cultures (pays from a few thousand cultures on, and only when the cores are otherwise idle; set
  threads with ``numba.set_num_threads``). Both give bit-identical results, and a culture's
  result is bit-identical whether it is advanced alone or among thousands.
* :func:`advance_numpy` -- plain NumPy reference (array ops over cultures, Python loop over steps).
* :func:`advance_python` -- pure Python loops with :mod:`math` (benchmarks, tiny test inputs).

How the numba kernel is made fast (measured, see ``benchmarks/bench_kernel.py``): cultures are
cut into blocks of 1,024 that advance through all their sub-steps while in L1/L2 cache; within a
sub-step the per-culture work is split into three branch-free loops (chamber + excursion + stress
factor, growth factor, logistic + death) so each loop holds one exponential on its dependency
chain and LLVM vectorises it. numba has no vector ``exp`` here (no SVML), so the kernel uses its
own branch-free exp/expm1 (Cody-Waite reduction, degree-13 Taylor polynomial by Estrin's scheme,
2**k by bit assembly), accurate to 2 ulp on the kernel's domain (arguments <= 0). The only
fast-math flag is ``contract`` (fused multiply-add). Contamination does not interact with the
cells, and the cap is absorbing, so the numba kernels apply step 5 for the whole call at once,
``min(contam_max, contam * 2**(hours/doubling_contam_h))``, which equals the iterated step up to
rounding (and does not depend on dt). Per-call input checks cost one extra pass over the arrays.

Each numba function is compiled with ``cache=True`` (set ``NUMBA_CACHE_DIR`` to a writable folder
when the package folder is not); call :func:`warm_up` before timing anything.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from twin.culture import PARAM_NAMES, KernelParams, detection_probability, params_problem

__all__ = [
    "PARAM_NAMES",
    "FLAG_TARGET",
    "FLAG_LOW_VIABILITY",
    "FLAG_CONTAMINATED",
    "KernelParams",
    "Cultures",
    "advance",
    "advance_parallel",
    "advance_numpy",
    "advance_python",
    "flags",
    "detection_probability",
    "warm_up",
]

FLAG_TARGET = 1
"""Bit in :func:`flags`: viable cells >= target dose."""
FLAG_LOW_VIABILITY = 2
"""Bit in :func:`flags`: viability < minimum (an empty culture has viability 0)."""
FLAG_CONTAMINATED = 4
"""Bit in :func:`flags`: contaminant load >= limit of detection of an in-process check."""

BLOCK = 1024
"""Cultures per cache block in the numba kernels."""

PARALLEL_MIN = 2048
"""Below this many cultures :func:`advance_parallel` runs serially (thread start-up would dominate)."""

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


def _check_numpy(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
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


@njit(cache=True)
def _params_ok(p):
    for j in range(_NPARAM):
        v = p[j]
        if not abs(v) < np.inf:
            return False
    for j in (_TTOFF, _TTON, _CTOFF, _CTON, _TTOL, _CTOL, _CMAX, _DT):
        if not p[j] > 0.0:
            return False
    for j in (_CSET, _CAMB, _K, _DSTRESS, _DBASE, _DPLAT, _UNFED):
        if not p[j] >= 0.0:
            return False
    return p[_PF] >= 0.0 and p[_PF] < 1.0


@njit(cache=True, error_model="numpy")
def _check_njit(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                doubling_contam_h, powered, co2_supply, perfused, params_vec):
    n = cells.size
    if not (dead.size == n and contam.size == n and age_h.size == n and temp_c.size == n and co2_pct.size == n
            and stress_h.size == n and mu_per_h.size == n and lag_h.size == n and capacity_cells.size == n
            and doubling_contam_h.size == n and powered.size == n and co2_supply.size == n and perfused.size == n):
        return 1
    if params_vec.size != _NPARAM:
        return 2
    if not _params_ok(params_vec):
        return 3
    if not (hours >= 0.0 and hours < np.inf):
        return 4
    if hours / params_vec[_DT] > MAX_SUBSTEPS:
        return 5
    inf = np.inf
    n_state = 0
    n_env = 0
    n_growth = 0
    n_cap = 0
    n_dbl = 0
    for i in range(n):  # branch-free counts: LLVM vectorises them
        n_state += (((cells[i] >= 0.0) & (cells[i] < inf)) & ((dead[i] >= 0.0) & (dead[i] < inf))
                    & ((contam[i] >= 0.0) & (contam[i] < inf)) & ((stress_h[i] >= 0.0) & (stress_h[i] < inf)))
        n_env += (((age_h[i] >= 0.0) & (age_h[i] < inf)) & ((co2_pct[i] >= 0.0) & (co2_pct[i] < inf))
                  & (abs(temp_c[i]) < inf))
        n_growth += ((mu_per_h[i] >= 0.0) & (mu_per_h[i] < inf)) & (lag_h[i] >= 0.0)
        n_cap += (capacity_cells[i] > 0.0) & (capacity_cells[i] < inf)
        n_dbl += doubling_contam_h[i] > 0.0
    ok_state = n_state == n
    ok_env = n_env == n
    ok_growth = n_growth == n
    ok_cap = n_cap == n
    ok_dbl = n_dbl == n
    if not ok_state:
        return 6
    if not ok_env:
        return 7
    if not ok_growth:
        return 8
    if not ok_cap:
        return 9
    if not ok_dbl:
        return 10
    return 0


@njit(cache=True)
def _raise(code):
    # numba needs constant messages; keep in step with _MESSAGES (a test checks it)
    if code == 1:
        raise ValueError("all per-culture arrays must have the same length")
    elif code == 2:
        raise ValueError("params_vec must hold 18 values (KernelParams.as_array())")
    elif code == 3:
        raise ValueError("params_vec holds an invalid value (build it with KernelParams(...).as_array())")
    elif code == 4:
        raise ValueError("hours must be finite and >= 0")
    elif code == 5:
        raise ValueError("hours / dt_h exceeds MAX_SUBSTEPS (1e9) sub-steps")
    elif code == 6:
        raise ValueError("cells, dead, contam and stress_h must be finite and >= 0")
    elif code == 7:
        raise ValueError("age_h and co2_pct must be finite and >= 0, temp_c finite")
    elif code == 8:
        raise ValueError("mu_per_h must be finite and >= 0, lag_h >= 0 (inf allowed)")
    elif code == 9:
        raise ValueError("capacity_cells must be finite and > 0")
    elif code == 10:
        raise ValueError("doubling_contam_h must be > 0 (inf allowed: no growth)")


# compile-time dtype guards: a wrong dtype is a TypingError at the call, never a silent cast


def _f64_1d(a):  # pragma: no cover - replaced by the overload inside njit code
    pass


@overload(_f64_1d)
def _f64_1d_ov(a):
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.float64):
        raise TypingError(f"culture state and parameters must be 1-D float64 arrays, got {a}")
    return lambda a: None


def _flag_1d(a):  # pragma: no cover - replaced by the overload inside njit code
    pass


@overload(_flag_1d)
def _flag_1d_ov(a):
    if not (isinstance(a, types.Array) and a.ndim == 1 and a.dtype in (types.uint8, types.boolean)):
        raise TypingError(f"powered, co2_supply and perfused must be 1-D uint8 (or bool) arrays, got {a}")
    return lambda a: None


@njit(cache=True)
def _guard_types(cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                 doubling_contam_h, powered, co2_supply, perfused, params_vec):
    _f64_1d(cells)
    _f64_1d(dead)
    _f64_1d(contam)
    _f64_1d(age_h)
    _f64_1d(temp_c)
    _f64_1d(co2_pct)
    _f64_1d(stress_h)
    _f64_1d(mu_per_h)
    _f64_1d(lag_h)
    _f64_1d(capacity_cells)
    _f64_1d(doubling_contam_h)
    _f64_1d(params_vec)
    _flag_1d(powered)
    _flag_1d(co2_supply)
    _flag_1d(perfused)


# ----------------------------------------------------------------------------------------------
# Branch-free exp / expm1 that LLVM can vectorise (no SVML in this numba)
# ----------------------------------------------------------------------------------------------


@intrinsic
def _bits_to_f64(typingctx, v):
    """Reinterpret the bits of an int64 as a float64 (an LLVM bitcast, vectorisable)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to the nearest integer
_INVLN2 = 1.4426950408889634
_LN2HI = 6.93147180369123816490e-01  # fdlibm split of ln 2: hi has trailing zero bits, so k*hi is exact
_LN2LO = 1.90821492927058770002e-10
_LN2 = 0.6931471805599453
_EXP_LOW = -708.0  # below this exp(y) < 3.3e-308: return 0 (libm would give a subnormal < 2.3e-308)
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (1.0 / math.factorial(i) for i in range(2, 14))


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _exp_parts(y):
    """(s, q) with exp(y) = s * (1 + q), s = 2**k exact, q = expm1(r), |r| <= ln2/2; y in [-708, 709]."""
    kf = (y * _INVLN2 + _SHIFT) - _SHIFT
    r = (y - kf * _LN2HI) - kf * _LN2LO
    r2 = r * r
    r4 = r2 * r2
    # Estrin's scheme for 1 + r/2! + ... + r^12/13! (short dependency chain), Taylor error < 5e-18
    d0 = ((1.0 + r * _C2) + r2 * (_C3 + r * _C4)) + r4 * ((_C5 + r * _C6) + r2 * (_C7 + r * _C8))
    d1 = ((_C9 + r * _C10) + r2 * (_C11 + r * _C12)) + r4 * _C13
    q = r * (d0 + (r4 * r4) * d1)
    s = _bits_to_f64((np.int64(kf) + 1023) << 52)
    return s, q


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _vexp(y):
    """exp(y) for y <= 709, branch-free; 0 below -708 (where libm gives a subnormal < 3.3e-308)."""
    yc = y if y > _EXP_LOW else _EXP_LOW
    s, q = _exp_parts(yc)
    v = s * q + s
    return v if y >= _EXP_LOW else 0.0


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def _vexpm1(y):
    """expm1(y) for y <= 709, branch-free, accurate for tiny |y|; -1 below -708."""
    yc = y if y > _EXP_LOW else _EXP_LOW
    s, q = _exp_parts(yc)
    v = s * q + (s - 1.0)
    return v if y >= _EXP_LOW else -1.0


# ----------------------------------------------------------------------------------------------
# The numba kernels
# ----------------------------------------------------------------------------------------------

_FM = {"contract"}  # fused multiply-add only; results stay within a few ulp of the references


@njit(inline="always", error_model="numpy", fastmath=_FM)
def _substep(h, a_t_on, a_t_off, a_c_on, a_c_off, cells, dead, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h,
             capacity_cells, powered, co2_supply, perfused, p, xs, es):
    """One sub-step of length h for one block (arrays are views of the block); xs, es: scratch;
    a_*: chamber relaxation factors 1 - exp(-h/tau) for this h."""
    tset = p[_TSET]
    tamb = p[_TAMB]
    cset = p[_CSET]
    camb = p[_CAMB]
    ttol = p[_TTOL]
    ctol = p[_CTOL]
    ittol = 1.0 / ttol
    ictol = 1.0 / ctol
    k = p[_K]
    dstress = p[_DSTRESS]
    dbase = p[_DBASE]
    pf = p[_PF]
    dplat_s = p[_DPLAT] / (1.0 - pf)
    unfed = p[_UNFED]
    n = cells.size
    # loop 1: chamber relaxation, excursion, stress dose, stress factor of growth
    for i in range(n):
        pw = powered[i] != 0
        on = pw & (co2_supply[i] != 0)
        t = temp_c[i]
        c = co2_pct[i]
        s = stress_h[i]
        t = t + ((tset if pw else tamb) - t) * (a_t_on if pw else a_t_off)
        c = c + ((cset if on else camb) - c) * (a_c_on if on else a_c_off)
        xt = abs(t - tset) - ttol
        xc = abs(c - cset) - ctol
        x = (xt if xt > 0.0 else 0.0) * ittol + (xc if xc > 0.0 else 0.0) * ictol
        temp_c[i] = t
        co2_pct[i] = c
        stress_h[i] = s + x * h
        xs[i] = x
        es[i] = _vexp(-k * x)
    # loop 2: growth factor over the part of the sub-step past the lag
    for i in range(n):
        age = age_h[i]
        past = age + h - lag_h[i]
        hg = past if past < h else h
        hg = hg if hg > 0.0 else 0.0
        age_h[i] = age + h
        r = mu_per_h[i] * (1.0 if perfused[i] != 0 else unfed) * es[i]
        es[i] = _vexpm1(-r * hg)  # e - 1, exact also when r * hg is tiny
    # loop 3: exact logistic step, then death
    for i in range(n):
        nv = cells[i]
        kc = capacity_cells[i]
        em1 = es[i]
        u = nv / ((1.0 + em1) * kc - nv * em1)  # = N_new / K; N_new = N / (e + (N/K)(1 - e))
        u = u if nv > 0.0 else 0.0
        q = u - pf
        d = dbase + dplat_s * (q if q > 0.0 else 0.0) + dstress * xs[i]
        grown = u * kc
        lost = grown * -_vexpm1(-d * h)
        cells[i] = grown - lost
        dead[i] = dead[i] + lost


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _advance_block(nfull, rem, cells, dead, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                   powered, co2_supply, perfused, p, xs, es):
    """All sub-steps for one block of cultures (views), so the block stays in cache."""
    dt = p[_DT]
    for h, count in ((dt, nfull), (rem, 1 if rem > 0.0 else 0)):
        if count == 0:
            continue
        a_t_on = -math.expm1(-h / p[_TTON])
        a_t_off = -math.expm1(-h / p[_TTOFF])
        a_c_on = -math.expm1(-h / p[_CTON])
        a_c_off = -math.expm1(-h / p[_CTOFF])
        for _ in range(count):
            _substep(h, a_t_on, a_t_off, a_c_on, a_c_off, cells, dead, age_h, temp_c, co2_pct, stress_h, mu_per_h,
                     lag_h, capacity_cells, powered, co2_supply, perfused, p, xs, es)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _grow_contam(hours, contam, doubling_contam_h, cmax):
    """Contamination for a whole call in closed form, branch-free (vectorised).

    Iterating ``c = min(cmax, c * 2**(dt/doubling))`` over sub-steps that add up to ``hours`` equals
    ``min(cmax, c * 2**(hours/doubling))`` (the cap is absorbing and the factor >= 1), so the load
    does not depend on dt and needs one exponential per culture per call. 2**y is taken as
    ``exp(y ln2 / 2)**2`` so that loads far past the (finite) cap saturate instead of overflowing.
    """
    if not hours > 0.0:  # no sub-step, no cap either (the reference caps once per sub-step)
        return
    for i in range(contam.size):
        c = contam[i]
        y = hours * _LN2 / doubling_contam_h[i]
        half = _vexp(0.5 * (y if y < 1416.0 else 1416.0))
        g = (c * half) * half
        g = g if g < cmax else cmax
        g = g if y < 1416.0 else cmax  # c * e**1416 > 1.8e308 for any c > 0: past any finite cap
        contam[i] = g if c > 0.0 else c


@njit(cache=True, error_model="numpy")
def _steps(hours, dt):
    nfull = int(hours // dt)
    rem = hours - nfull * dt
    return nfull, (rem if rem > 0.0 else 0.0)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _advance_serial(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                    doubling_contam_h, powered, co2_supply, perfused, params_vec):
    n = cells.size
    nfull, rem = _steps(hours, params_vec[_DT])
    m = min(n, BLOCK)
    xs = np.empty(m)
    es = np.empty(m)
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        _advance_block(nfull, rem, cells[lo:hi], dead[lo:hi], age_h[lo:hi], temp_c[lo:hi], co2_pct[lo:hi],
                       stress_h[lo:hi], mu_per_h[lo:hi], lag_h[lo:hi], capacity_cells[lo:hi], powered[lo:hi],
                       co2_supply[lo:hi], perfused[lo:hi], params_vec, xs, es)
    _grow_contam(hours, contam, doubling_contam_h, params_vec[_CMAX])


@njit(cache=True, error_model="numpy", fastmath=_FM)
def advance(
    hours: float,
    cells: np.ndarray,
    dead: np.ndarray,
    contam: np.ndarray,
    age_h: np.ndarray,
    temp_c: np.ndarray,
    co2_pct: np.ndarray,
    stress_h: np.ndarray,
    mu_per_h: np.ndarray,
    lag_h: np.ndarray,
    capacity_cells: np.ndarray,
    doubling_contam_h: np.ndarray,
    powered: np.ndarray,
    co2_supply: np.ndarray,
    perfused: np.ndarray,
    params_vec: np.ndarray,
) -> None:
    """Advance all n cultures by ``hours`` (h, >= 0) in place; numba, one thread. Returns None.

    Arrays and units as in the module docstring (state float64, parameters float64, environment
    uint8); ``params_vec = KernelParams(...).as_array()``. Invalid inputs raise ``ValueError``
    before anything is changed; a wrong dtype is a numba ``TypingError``. n = 0 is fine.
    """
    _guard_types(cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                 doubling_contam_h, powered, co2_supply, perfused, params_vec)
    code = _check_njit(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                       doubling_contam_h, powered, co2_supply, perfused, params_vec)
    if code != 0:
        _raise(code)
    _advance_serial(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                    doubling_contam_h, powered, co2_supply, perfused, params_vec)


@njit(cache=True, error_model="numpy", fastmath=_FM, parallel=True)
def advance_parallel(
    hours: float,
    cells: np.ndarray,
    dead: np.ndarray,
    contam: np.ndarray,
    age_h: np.ndarray,
    temp_c: np.ndarray,
    co2_pct: np.ndarray,
    stress_h: np.ndarray,
    mu_per_h: np.ndarray,
    lag_h: np.ndarray,
    capacity_cells: np.ndarray,
    doubling_contam_h: np.ndarray,
    powered: np.ndarray,
    co2_supply: np.ndarray,
    perfused: np.ndarray,
    params_vec: np.ndarray,
) -> None:
    """:func:`advance` with blocks of cultures spread over ``numba.get_num_threads()`` threads.

    Same results as :func:`advance` (bit for bit: each culture sees the same operations). Pays
    from a few thousand cultures on; below that thread start-up costs more than it saves.
    """
    _guard_types(cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                 doubling_contam_h, powered, co2_supply, perfused, params_vec)
    code = _check_njit(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                       doubling_contam_h, powered, co2_supply, perfused, params_vec)
    if code != 0:
        _raise(code)
    n = cells.size
    if n < PARALLEL_MIN:  # threads would cost more than they save
        _advance_serial(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h,
                        capacity_cells, doubling_contam_h, powered, co2_supply, perfused, params_vec)
        return
    nfull, rem = _steps(hours, params_vec[_DT])
    blk = (n + 7) // 8  # at least 8 blocks when n >= 512 (numba.get_num_threads() would stop caching)
    blk = min(BLOCK, max(64, ((blk + 7) // 8) * 8))
    nblocks = (n + blk - 1) // blk
    for b in prange(nblocks):
        lo = b * blk
        hi = min(n, lo + blk)
        xs = np.empty(hi - lo)
        es = np.empty(hi - lo)
        _advance_block(nfull, rem, cells[lo:hi], dead[lo:hi], age_h[lo:hi], temp_c[lo:hi], co2_pct[lo:hi],
                       stress_h[lo:hi], mu_per_h[lo:hi], lag_h[lo:hi], capacity_cells[lo:hi], powered[lo:hi],
                       co2_supply[lo:hi], perfused[lo:hi], params_vec, xs, es)
        _grow_contam(hours, contam[lo:hi], doubling_contam_h[lo:hi], params_vec[_CMAX])


# ----------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------


def _substep_lengths(hours: float, dt: float) -> list[float]:
    nfull = int(hours // dt)
    rem = hours - nfull * dt
    return [dt] * nfull + ([rem] if rem > 0.0 else [])


def advance_numpy(
    hours: float,
    cells: np.ndarray,
    dead: np.ndarray,
    contam: np.ndarray,
    age_h: np.ndarray,
    temp_c: np.ndarray,
    co2_pct: np.ndarray,
    stress_h: np.ndarray,
    mu_per_h: np.ndarray,
    lag_h: np.ndarray,
    capacity_cells: np.ndarray,
    doubling_contam_h: np.ndarray,
    powered: np.ndarray,
    co2_supply: np.ndarray,
    perfused: np.ndarray,
    params_vec: np.ndarray,
) -> None:
    """Plain NumPy reference of :func:`advance`: array operations over cultures, a Python loop over
    sub-steps, the equations exactly as written in the module docstring. Same signature and units."""
    code = _check_numpy(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h,
                        capacity_cells, doubling_contam_h, powered, co2_supply, perfused, params_vec)
    if code:
        raise ValueError(_MESSAGES[code])
    p = KernelParams.from_array(params_vec)
    pw = np.asarray(powered) != 0
    on = pw & (np.asarray(co2_supply) != 0)
    feed = np.where(np.asarray(perfused) != 0, 1.0, p.unfed_growth_factor)
    t_target = np.where(pw, p.temp_set_c, p.temp_ambient_c)
    c_target = np.where(on, p.co2_set_pct, p.co2_ambient_pct)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for h in _substep_lengths(hours, p.dt_h):
            # 1. chamber
            temp_c += (t_target - temp_c) * np.where(pw, -math.expm1(-h / p.temp_tau_on_h),
                                                     -math.expm1(-h / p.temp_tau_off_h))
            co2_pct += (c_target - co2_pct) * np.where(on, -math.expm1(-h / p.co2_tau_on_h),
                                                       -math.expm1(-h / p.co2_tau_off_h))
            # 2. excursion and dose
            x = (np.maximum(0.0, np.abs(temp_c - p.temp_set_c) - p.temp_tol_c) / p.temp_tol_c
                 + np.maximum(0.0, np.abs(co2_pct - p.co2_set_pct) - p.co2_tol_pct) / p.co2_tol_pct)
            stress_h += x * h
            # 3. growth past the lag (exact logistic step, stable form)
            h_grow = np.minimum(h, np.maximum(0.0, age_h + h - lag_h))
            r = mu_per_h * np.exp(-p.growth_stress_k * x) * feed
            one_minus_e = -np.expm1(-r * h_grow)  # 1 - e without cancellation when r * h_grow is tiny
            grown = cells / ((1.0 - one_minus_e) + (cells / capacity_cells) * one_minus_e)
            cells[:] = np.where(cells > 0.0, grown, 0.0)
            # 4. death
            d = (p.death_base_per_h
                 + p.death_plateau_per_h * np.maximum(0.0, cells / capacity_cells - p.plateau_fraction)
                 / (1.0 - p.plateau_fraction)
                 + p.death_stress_per_h * x)
            lost = cells * -np.expm1(-d * h)
            cells -= lost
            dead += lost
            # 5. contamination
            contam[:] = np.where(contam > 0.0, np.minimum(p.contam_max_cfu, contam * 2.0 ** (h / doubling_contam_h)),
                                 contam)
            # 6. age
            age_h += h


def advance_python(
    hours: float,
    cells: np.ndarray,
    dead: np.ndarray,
    contam: np.ndarray,
    age_h: np.ndarray,
    temp_c: np.ndarray,
    co2_pct: np.ndarray,
    stress_h: np.ndarray,
    mu_per_h: np.ndarray,
    lag_h: np.ndarray,
    capacity_cells: np.ndarray,
    doubling_contam_h: np.ndarray,
    powered: np.ndarray,
    co2_supply: np.ndarray,
    perfused: np.ndarray,
    params_vec: np.ndarray,
) -> None:
    """Pure-Python reference of :func:`advance` (loops and :mod:`math`); slow, for benchmarks and
    tiny test inputs. Same signature and units; arrays (or lists) updated in place."""
    code = _check_numpy(hours, np.asarray(cells), np.asarray(dead), np.asarray(contam), np.asarray(age_h),
                        np.asarray(temp_c), np.asarray(co2_pct), np.asarray(stress_h), np.asarray(mu_per_h),
                        np.asarray(lag_h), np.asarray(capacity_cells), np.asarray(doubling_contam_h),
                        np.asarray(powered), np.asarray(co2_supply), np.asarray(perfused), params_vec)
    if code:
        raise ValueError(_MESSAGES[code])
    p = KernelParams.from_array(params_vec)
    steps = _substep_lengths(hours, p.dt_h)
    for i in range(len(cells)):
        pw = powered[i] != 0
        on = pw and co2_supply[i] != 0
        feed = 1.0 if perfused[i] != 0 else p.unfed_growth_factor
        t_target = p.temp_set_c if pw else p.temp_ambient_c
        t_tau = p.temp_tau_on_h if pw else p.temp_tau_off_h
        c_target = p.co2_set_pct if on else p.co2_ambient_pct
        c_tau = p.co2_tau_on_h if on else p.co2_tau_off_h
        n, dd, c, age = float(cells[i]), float(dead[i]), float(contam[i]), float(age_h[i])
        t, co2, s = float(temp_c[i]), float(co2_pct[i]), float(stress_h[i])
        mu, lag, cap, dbl = float(mu_per_h[i]), float(lag_h[i]), float(capacity_cells[i]), float(doubling_contam_h[i])
        for h in steps:
            t += (t_target - t) * -math.expm1(-h / t_tau)
            co2 += (c_target - co2) * -math.expm1(-h / c_tau)
            x = (max(0.0, abs(t - p.temp_set_c) - p.temp_tol_c) / p.temp_tol_c
                 + max(0.0, abs(co2 - p.co2_set_pct) - p.co2_tol_pct) / p.co2_tol_pct)
            s += x * h
            h_grow = min(h, max(0.0, age + h - lag))
            if n > 0.0:
                r = mu * math.exp(-p.growth_stress_k * x) * feed
                one_minus_e = -math.expm1(-r * h_grow)
                n = n / ((1.0 - one_minus_e) + (n / cap) * one_minus_e)
            d = (p.death_base_per_h
                 + p.death_plateau_per_h * max(0.0, n / cap - p.plateau_fraction) / (1.0 - p.plateau_fraction)
                 + p.death_stress_per_h * x)
            lost = n * -math.expm1(-d * h)
            n -= lost
            dd += lost
            if c > 0.0:
                c = min(p.contam_max_cfu, c * 2.0 ** (h / dbl))
            age += h
        cells[i], dead[i], contam[i], age_h[i] = n, dd, c, age
        temp_c[i], co2_pct[i], stress_h[i] = t, co2, s


# ----------------------------------------------------------------------------------------------
# Flags and detection
# ----------------------------------------------------------------------------------------------


def _at(v, i):  # pragma: no cover - replaced by the overload inside njit code
    pass


@overload(_at)
def _at_ov(v, i):
    """v[i] for an array, v for a scalar: thresholds may be per culture or one for all."""
    if isinstance(v, types.Array):
        if v.ndim != 1:
            raise TypingError("thresholds must be scalars or 1-D arrays")
        return lambda v, i: v[i]
    if isinstance(v, (types.Float, types.Integer)):
        return lambda v, i: v
    raise TypingError(f"thresholds must be numbers or 1-D arrays, got {v}")


def _size_ok(v, n):  # pragma: no cover - replaced by the overload inside njit code
    pass


@overload(_size_ok)
def _size_ok_ov(v, n):
    if isinstance(v, types.Array):
        return lambda v, n: v.size == n
    return lambda v, n: True


@njit(cache=True, error_model="numpy")
def flags(
    cells: np.ndarray,
    dead: np.ndarray,
    contam: np.ndarray,
    target_cells: float | np.ndarray,
    min_viability: float | np.ndarray,
    lod_cfu: float | np.ndarray,
) -> np.ndarray:
    """Per-culture bit flags (int8): 1 = viable cells >= ``target_cells`` (dose reached),
    2 = viability cells/(cells+dead) < ``min_viability`` (an empty culture counts as viability 0),
    4 = ``contam`` >= ``lod_cfu`` (CFU; detectable by an in-process check).

    Each threshold is a number or a float64 array with one value per culture.
    """
    n = cells.size
    if dead.size != n or contam.size != n or not (
        _size_ok(target_cells, n) and _size_ok(min_viability, n) and _size_ok(lod_cfu, n)
    ):
        raise ValueError("flags: all arrays must have the same length")
    out = np.empty(n, dtype=np.int8)
    for i in range(n):
        c = cells[i]
        total = c + dead[i]
        viability = c / total if total > 0.0 else 0.0
        f = 0
        if c >= _at(target_cells, i):
            f |= FLAG_TARGET
        if viability < _at(min_viability, i):
            f |= FLAG_LOW_VIABILITY
        if contam[i] >= _at(lod_cfu, i):
            f |= FLAG_CONTAMINATED
        out[i] = f
    return out


def warm_up(parallel: bool = True) -> None:
    """Compile (or load from the numba cache) every njit function once on tiny arrays, for the
    dtypes the simulation uses (float64 state and parameters, uint8 environment), so no compile
    lands inside a timed or simulated region. ``parallel=False`` skips :func:`advance_parallel`."""
    f = np.ones(1)
    u = np.ones(1, dtype=np.uint8)
    p = KernelParams().as_array()
    kernels = (advance, advance_parallel) if parallel else (advance,)
    for kernel in kernels:
        kernel(0.5, f.copy(), f.copy(), f.copy(), f.copy(), f.copy() * 37.0, f.copy() * 5.0, f.copy(), f.copy(),
               f.copy(), f.copy() * 10.0, f.copy(), u, u, u, p)
    flags(f, f, f, f, 0.7, 1.0)
    flags(f, f, f, 1.0, 0.7, 1.0)


# ----------------------------------------------------------------------------------------------
# A structure-of-arrays container the simulation can tick
# ----------------------------------------------------------------------------------------------


class Cultures:
    """Cultures in devices, stored as preallocated arrays (one slot per culture).

    ``add(...)`` returns a slot index that stays valid until ``remove(slot)``; freed slots are
    reused lowest first, so live slots stay packed at the front and :meth:`advance` runs the
    kernel over ``[0, high)`` (the highest live slot + 1) without gathering. Free slots inside that
    range hold an empty, sterile culture and cost a few nanoseconds per hour. Arrays grow (doubling)
    when full. Set the environment per slot before a tick, e.g. ``c.powered[slot] = 0``.

    Units as in the module docstring: cells, CFU, h, °C, %, 1/h.
    """

    STATE = ("cells", "dead", "contam", "age_h", "temp_c", "co2_pct", "stress_h")
    PARAMS = ("mu_per_h", "lag_h", "capacity_cells", "doubling_contam_h", "target_cells")
    ENV = ("powered", "co2_supply", "perfused")

    def __init__(self, capacity: int = 64, params: KernelParams | None = None) -> None:
        self.params = params or KernelParams()
        self.params_vec = self.params.as_array()
        self._n = 0
        self.high = 0
        self._free: list[int] = []
        self._alloc(max(1, int(capacity)))

    def _empty_values(self) -> dict[str, float]:
        p = self.params
        return {"cells": 0.0, "dead": 0.0, "contam": 0.0, "age_h": 0.0, "temp_c": p.temp_set_c,
                "co2_pct": p.co2_set_pct, "stress_h": 0.0, "mu_per_h": 0.0, "lag_h": 0.0, "capacity_cells": 1.0,
                "doubling_contam_h": 1.0, "target_cells": math.inf, "powered": 1, "co2_supply": 1, "perfused": 1}

    def _alloc(self, capacity: int) -> None:
        old = self._n
        empty = self._empty_values()
        for name in self.STATE + self.PARAMS + self.ENV:
            dtype = np.uint8 if name in self.ENV else np.float64
            arr = np.full(capacity, empty[name], dtype=dtype)
            if old:
                arr[:old] = getattr(self, name)
            setattr(self, name, arr)
        active = np.zeros(capacity, dtype=bool)
        if old:
            active[:old] = self.active
        self.active = active
        self._free.extend(range(old, capacity))
        heapq.heapify(self._free)
        self._n = capacity

    def __len__(self) -> int:
        """Number of live cultures."""
        return int(self.active[: self.high].sum())

    def add(self, cells: float, mu_per_h: float, lag_h: float, capacity_cells: float, doubling_contam_h: float = 1.0,
            *, dead: float = 0.0, contam: float = 0.0, target_cells: float = math.inf, age_h: float = 0.0,
            temp_c: float | None = None, co2_pct: float | None = None) -> int:
        """Start a culture; returns its slot. Chamber starts at setpoint unless given."""
        if not self._free:
            self._alloc(2 * self._n)
        slot = heapq.heappop(self._free)
        values = dict(cells=cells, dead=dead, contam=contam, age_h=age_h,
                      temp_c=self.params.temp_set_c if temp_c is None else temp_c,
                      co2_pct=self.params.co2_set_pct if co2_pct is None else co2_pct, stress_h=0.0,
                      mu_per_h=mu_per_h, lag_h=lag_h, capacity_cells=capacity_cells,
                      doubling_contam_h=doubling_contam_h, target_cells=target_cells, powered=1, co2_supply=1,
                      perfused=1)
        for name, v in values.items():
            getattr(self, name)[slot] = v
        self.active[slot] = True
        self.high = max(self.high, slot + 1)
        return slot

    def remove(self, slot: int) -> None:
        """End the culture in ``slot`` (read its state first); the slot is reused later."""
        if not (0 <= slot < self.high and self.active[slot]):
            raise KeyError(f"slot {slot} holds no culture")
        for name, v in self._empty_values().items():
            getattr(self, name)[slot] = v
        self.active[slot] = False
        heapq.heappush(self._free, slot)
        while self.high > 0 and not self.active[self.high - 1]:
            self.high -= 1

    def advance(self, hours: float, parallel: bool = False) -> None:
        """Advance every live culture by ``hours`` (h) with the numba kernel."""
        h = self.high
        kernel = advance_parallel if parallel else advance
        kernel(float(hours), *(getattr(self, name)[:h] for name in self.STATE + self.PARAMS[:4] + self.ENV),
               self.params_vec)

    def flags(self, min_viability: float, lod_cfu: float) -> np.ndarray:
        """:func:`flags` for slots ``[0, high)`` against each slot's ``target_cells``; free slots give 0."""
        h = self.high
        out = flags(self.cells[:h], self.dead[:h], self.contam[:h], self.target_cells[:h], float(min_viability),
                    float(lod_cfu))
        out[~self.active[:h]] = 0
        return out
