"""The numba culture kernels: :func:`advance` (serial), :func:`advance_hours` (what the
simulation calls: hour by hour, each hour as ``advance(1.0)``, up to the next in-process check
or end point),
:func:`advance_parallel` (``prange`` over blocks; kept for ``benchmarks/bench_kernel.py`` and for
callers with thousands of cultures on idle cores: the simulation never has that many) and
:func:`warm_up`. Equations, units and sources: :mod:`twin.kernel`.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from twin.kernel.inputs import (
    _CAMB,
    _CMAX,
    _CSET,
    _CTOFF,
    _CTOL,
    _CTON,
    _DBASE,
    _DPLAT,
    _DSTRESS,
    _DT,
    _K,
    _NPARAM,
    _PF,
    _TAMB,
    _TSET,
    _TTOFF,
    _TTOL,
    _TTON,
    _UNFED,
    MAX_SUBSTEPS,
)
from twin.kernel.params import KernelParams

BLOCK = 1024
"""Cultures per cache block in the numba kernels."""

PARALLEL_MIN = 2048
"""Below this many cultures :func:`advance_parallel` runs serially (thread start-up would dominate)."""


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
def _check_njit(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,  # noqa: C901 (numba: one early return per error code of _MESSAGES, kept in step with _check_numpy)
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
def _raise(code):  # noqa: C901 (numba raises only constant messages: one branch per error code)
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
_TINY = 2.2250738585072014e-308  # smallest normal float64: below it a quotient keeps fewer than 53 bits
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
        # u * K, unless u is subnormal (tiny N, K ~ 1e300 "no limit"): then u has lost bits, and
        # N_new comes from N directly (both computed, a select: normal u stays bit-identical;
        # N = 0 stays 0 also where e = 1 + em1 is 0)
        grown = u * kc if u >= _TINY else (nv / ((1.0 + em1) - (nv / kc) * em1) if nv > 0.0 else 0.0)
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


@njit(cache=True, error_model="numpy")
def _fires(hour, cells, age_h, age_before, target_cells, from_h, every_h, max_h, ended, active):
    """Whether, after the hour ending at ``hour``, any culture advanced in it has an in-process
    check due (a multiple of ``every_h`` of culture age crossed) or reaches its end (viable cells
    at ``target_cells``, or age at ``max_h``) for the first time; the same tests, in the same
    float arithmetic, as the culture ticker's ``_after``."""
    for i in range(cells.size):
        if not active[i] or from_h[i] >= hour:
            continue
        e = every_h[i]
        if abs(e) < np.inf and math.floor(age_h[i] / e + 1e-9) > math.floor(age_before[i] / e + 1e-9):
            return True
        if not ended[i] and (cells[i] >= target_cells[i] or age_h[i] >= max_h[i] - 1e-9):
            return True
    return False


@njit(cache=True, error_model="numpy")
def advance_hours(
    n_hours, first_hour, step_h, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
    doubling_contam_h, powered, co2_supply, perfused, params_vec, target_cells, from_h, every_h, max_h, ended, active,
    age_before,
):
    """Advance the cultures step by step, each step exactly as :func:`advance` with
    ``hours=step_h`` (the ticker's hour, 1.0, or a culture's first part-hour to the next tick with
    ``n_hours=1`` and ``first_hour=inf``), through the steps ending at hours ``first_hour``,
    ``first_hour + 1``, ... (at most ``n_hours``),
    stopping after the first hour in which a culture has an in-process check due or reaches its
    end (see :func:`_fires`). The environment stays as given (the caller stops at each change of
    a culture's conditions). A slot is left as it is in every hour ending at or before
    ``from_h[slot]`` (a culture started after that hour began, already advanced to its end).
    ``age_before`` receives the ages before the last hour. Returns (hours advanced, whether that
    last hour fired). Culture units as in :func:`advance`; hours (h)."""
    _guard_types(cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h, capacity_cells,
                 doubling_contam_h, powered, co2_supply, perfused, params_vec)
    code = _check_njit(step_h, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h,
                       capacity_cells, doubling_contam_h, powered, co2_supply, perfused, params_vec)
    if code != 0:
        _raise(code)
    n = cells.size
    kept = np.empty((7, n))
    for k in range(n_hours):
        hour = first_hour + k
        for i in range(n):
            age_before[i] = age_h[i]
            if from_h[i] >= hour:
                kept[0, i], kept[1, i], kept[2, i], kept[3, i] = cells[i], dead[i], contam[i], age_h[i]
                kept[4, i], kept[5, i], kept[6, i] = temp_c[i], co2_pct[i], stress_h[i]
        _advance_serial(step_h, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h,
                        capacity_cells, doubling_contam_h, powered, co2_supply, perfused, params_vec)
        for i in range(n):
            if from_h[i] >= hour:
                cells[i], dead[i], contam[i], age_h[i] = kept[0, i], kept[1, i], kept[2, i], kept[3, i]
                temp_c[i], co2_pct[i], stress_h[i] = kept[4, i], kept[5, i], kept[6, i]
        if _fires(hour, cells, age_h, age_before, target_cells, from_h, every_h, max_h, ended, active):
            return k + 1, True
    return n_hours, False


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
    b = np.zeros(1, dtype=bool)
    advance_hours(1, 1.0, 1.0, f.copy(), f.copy(), f.copy(), f.copy(), f.copy() * 37.0, f.copy() * 5.0, f.copy(), f.copy(),
                  f.copy(), f.copy() * 10.0, f.copy(), u, u, u, p, f * np.inf, f * 0.0, f * np.inf, f * np.inf, b, b,
                  f.copy())
