"""The culture kernel: T-cell expansion, death, contamination and chamber conditions, many cultures at once.

What it owns: the per-hour biology of every culture that sits in a device. The SimPy model ticks
(hourly) and calls :func:`~twin.kernel.compiled.advance` once per tick for all cultures of a device
type together, then reads each culture's state to see which reached their target dose. No simpy, no
pandas, no files, no plots here. ``numba`` is imported by this package only (by
:mod:`twin.kernel.compiled` and :mod:`twin.kernel.cultures`), and the simulation imports them
lazily, so ``twin --help`` and ``twin validate`` never pay for numba.

Modules: :mod:`~twin.kernel.params` (the global parameters, no numba),
:mod:`~twin.kernel.inputs` (input rules shared by every implementation), :mod:`~twin.kernel.compiled`
(the numba kernels), :mod:`~twin.kernel.reference` (NumPy and pure-Python references),
:mod:`~twin.kernel.cultures` (the container the simulation ticks) and
:mod:`~twin.kernel.detection` (whether a sample finds a contaminant).

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
* :func:`~twin.kernel.compiled.advance` -- numba, serial; :func:`~twin.kernel.compiled.advance_parallel` -- numba, ``prange`` over blocks of
  cultures (pays from a few thousand cultures on, and only when the cores are otherwise idle; set
  threads with ``numba.set_num_threads``). Both give bit-identical results, and a culture's
  result is bit-identical whether it is advanced alone or among thousands.
* :func:`~twin.kernel.reference.advance_numpy` -- plain NumPy reference (array ops over cultures, Python loop over steps).
* :func:`~twin.kernel.reference.advance_python` -- pure Python loops with :mod:`math` (benchmarks, tiny test inputs).

"Within rounding" is relative to the conditioning of the recurrence. Where crowding death
overshoots (``dt * death_plateau_per_h / (1 - plateau_fraction) * N/K > 1``, never with the
defaults) the map N -> N' reverses order, oscillates and can be chaotic: with mu 2.28 /h, dt 0.25 h
and death_plateau 5 /h above 75 % of capacity, one ulp of N0 moves N after 19 h by 0.12 cells in
exact arithmetic (factor 2.1e9 over 76 sub-steps), so the implementations agree only to that
propagated rounding (``tests/unit/test_biology.py`` bounds it per culture).

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
when the package folder is not); call :func:`twin.kernel.compiled.warm_up` before timing anything.
"""
