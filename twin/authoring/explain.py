"""A scenario in plain words, for people who change YAML rather than Python.

:data:`SECTIONS` explains every top-level field of a scenario: what it is and what it does in
the model. The same texts head the sections of ``twin explain`` (:func:`describe`) and stand as
comments above the sections of a file made by ``twin new`` (:mod:`twin.newscenario`).
:func:`describe` then says what this scenario's numbers mean, and ends with the expected load of
every resource (:mod:`twin.authoring.offered_load`), worked out before anything runs.

No SimPy, pandas or numba here.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Iterable

from twin.authoring.offered_load import NEAR_SATURATION, LoadEstimate, StaffingNeed, expected_load
from twin.core.units import HOURS_PER_DAY
from twin.scenario.calendars import on_duty_h_per_week
from twin.scenario.catalogue import DeviceType
from twin.scenario.distributions import Distribution, Fixed
from twin.scenario.document import Scenario
from twin.scenario.fields import WEEKDAYS
from twin.scenario.loading import LoadedScenario
from twin.scenario.recipe import ClinicalStep
from twin.scenario.staffing import ShiftBlock, StaffRole

#: Top-level scenario field -> what it is and what it does in the model, in plain words.
SECTIONS: dict[str, str] = {
    "name": "The scenario's name: run folders, reports and comparisons are labelled with it (letters, digits, "
            "_ and -, starting with a letter).",
    "description": "What this scenario is for, in your own words. It changes nothing in the model.",
    "start_date": "Calendar day 0 of the simulation. Shift calendars and courier pickup days hang on its weekday.",
    "horizon_days": "How many days are simulated. Patients still on their way at the end count as in progress.",
    "warmup_days": "Days at the start that the KPIs leave out: the facility starts empty, so the first weeks are not "
                   "typical. Only patients referred after the warm-up are measured.",
    "periods": "Whether KPIs are also given per calendar year or quarter (named KPI@2027, KPI@2027Q1), each on the "
               "patients referred in that period: how vein-to-vein, drop-out and utilisation move as demand grows.",
    "seed": "The root of every random number: the same seed gives the same patients and the same results. Change it "
            "to see another sample of the same world.",
    "replications": "How many independent runs `twin run` makes, each with its own random numbers; the KPI table "
                    "gives 95% confidence intervals over them.",
    "catalogue": "The folder of device types (one YAML file per device) this scenario uses, relative to this file; "
                 "without it, the bundled equipment/ catalogue.",
    "sites": "The places of the network. A hospital has apheresis chairs (collection) and infusion slots; a factory "
             "makes batches. Any site may hold devices (a pool of identical units of a catalogue type), staff by "
             "role (people on contracts, with the posts a shift calendar, or around the clock, needs them in; a "
             "rota gives each shift to the people with the fewest hours, within the working-time cap) and "
             "utilities with their backups. A site makes batches when it has every device type and role the recipe "
             "needs; a hospital that does is a point-of-care cell.",
    "shifts": "Named weekly calendars of when a site needs a role (hours of the day on given weekdays). People of a "
              "role with a shift are rostered only then: hands-on work waits for the next shift, and the device or chair "
              "holding the batch waits with it.",
    "referrals": "How patients arrive: at random (Poisson) at rate_per_week, or at listed times (hours). Each patient "
                 "belongs to a hospital, drawn by the hospitals' shares. This is the demand everything else serves.",
    "apheresis": "Collecting the patient's T cells at their hospital: holds an apheresis chair for the duration and a "
                 "person of the role for the hands-on hours.",
    "receipt": "At the manufacturing site the starting material is received and its chain of identity checked before "
               "manufacturing starts (it needs the IT/MES system up).",
    "recipe": "The manufacturing steps, in order. A step holds one unit of its device for its whole duration and a "
              "person of its role for the first hands_on_h hours; consecutive steps on the same device type keep "
              "the same unit. A transfer is the connection that brings the material in (it may contaminate or "
              "leak). A step with an end_point is a culture: the culture model (biology) decides how long it lasts.",
    "cryopreservation": "The finished product is formulated and frozen in a controlled-rate freezer, which it holds "
                        "for the duration, with the role's staff for the hands-on hours.",
    "storage": "The frozen product waits in LN2 storage, one position per batch, from freezing until it ships: "
               "through the QC tests and the release.",
    "qc": "Release tests on every batch, run in parallel by the QC role, at the manufacturing site or at a central "
          "lab the samples travel to. A batch is rejected at its first failing result; the longest test sets how "
          "long a batch waits.",
    "release": "A qualified person (QP) certifies the batch once every QC result is in, on site or remotely (it needs "
               "the IT/MES system up).",
    "infusion_scheduling": "Planned infusion: once the batch is released the hospital books an infusion day in its "
                           "clinic hours and lymphodepletion on the days before it; the product ships to arrive in "
                           "time and is thawed at the bedside, and a thawed dose that waits past its limit is lost.",
    "infusion": "The product goes back to the patient's hospital and is infused: it holds an infusion slot and a "
                "person of the role. An infused patient is what the facility is for.",
    "couriers": "Courier lanes between hospitals and the sites that make their batches: transit time, pickup cut-off "
                "and days, delays and losses. A hospital that makes its own batches needs none.",
    "starting_material": "How the apheresis product travels: fresh (processing must start within viability_h) or "
                         "cryopreserved (frozen at the hospital first, then shipped in a dry shipper).",
    "final_product": "How the final product is kept: cryopreserved (frozen after the recipe, LN2 storage, a dry "
                     "shipper) or fresh (held at 2-8 C, lost past its shelf life from the last recipe step).",
    "routes": "Shipments of several legs through hubs: each leg on its courier lane (pickup in the origin's local "
              "time, delay, loss), the hub's steps (freezing, repacking, an import check) done on the way.",
    "shipper_hold_h": "How long a dry shipper keeps frozen material cold; a frozen shipment that takes longer is lost.",
    "routing": "Which site makes each hospital's batches: fixed (as assigned), nearest (the nearest site with a free "
               "device unit), or least_expected_v2v (least transit both ways plus expected wait).",
    "dropout": "Patients may drop out while they wait (disease progression, death, ineligibility), at a constant "
               "hazard_per_day. Waiting ends at once; a batch in manufacture is ended at once (batch: end) or "
               "after the step in progress (batch: finish_step).",
    "staff_and_device": "Whether a batch takes a device only together with the operator its first work needs "
                        "(together) or takes it first and waits inside for staff (device_first).",
    "scheduling": "How patients are scheduled onto manufacturing: first come, first served (cells collected at "
                  "referral, material queues for the first device), or slot booking (a run on the first device "
                  "booked at referral, apheresis planned so the material arrives for it within its hold; the "
                  "patient waits before apheresis), with urgency classes taking the earliest slots.",
    "remanufacture": "Failures that are not final: a failed or lost batch made again from a backup aliquot or a "
                     "new apheresis, and out-of-specification products infused by exception.",
    "holds": "Validated hold times between two steps (from the end of one to the start of a later one, whatever "
             "happens in between: couriers, queues, waiting for staff): past its limit a batch is lost (or "
             "degrades), and material loses viable cells while it waits.",
    "costs": "Cost of goods: labour per role, consumables per step, QC per test, couriers, cleanroom area and "
             "overhead (device prices come from the catalogue). It gives the cost per dose.",
    "connections": "Tubing connection types (sterile weld, aseptic connector, open transfer): their time, hands-on "
                   "work, chances of contamination and leaks, and cells lost. A type listed here is merged over its "
                   "default.",
    "outages": "Things that stop for a while: a utility, the IT system, some units of a device pool or some people "
               "of a role, at one site or at all; scripted (at_h) or at random (rate_per_year). Backups carry what "
               "they can; batches hit are paused or lost.",
    "capacity_plan": "Dated changes to sites over the years: device units added (each installed and qualified by an "
                     "installation team before its first batch) or retired, people hired (they join after the hiring "
                     "lead and train) or leaving, a manufacturing site opened (after its qualification) or closed.",
    "commissioning": "Who installs and qualifies the capacity plan's new lines and sites (teams: one line at a time "
                     "each), how long a line and a site take, and the hiring lead of planned hires.",
    "biology": "The culture model: each patient's starting cells, doubling time and lag, contamination carried in "
               "from the collection, and the kernel's calibration. It decides how long culture steps (those with an "
               "end_point) last and the dose and viability at harvest.",
}

WIDTH = 100


def _holds(sc: Scenario) -> list[str]:
    holds = sc.effective_holds()
    if not holds:
        return _para("None: material may wait between steps as long as it takes.")
    out: list[str] = []
    for h in holds:
        past = ("is lost" if h.on_exceed == "lost" else
                f"goes on, losing viable cells at {h.exceeded_loss_per_h:g} an hour")
        decay = (f"; meanwhile viable cells die at {h.viability_loss_per_h:g} an hour"
                 if h.viability_loss_per_h > 0 else "")
        out += _para(f"{h.name}: from the end of {h.from_} to the start of {h.to}, at most {_n(h.limit_h)} h; "
                     f"past that the batch {past}{decay}.")
    return out

_ON_FAILURE = {"pause": "the batch inside pauses", "abort": "the batch inside is lost",
               "rescue": "the batch inside moves to another unit"}
_TRANSFER = {"sterile_weld": "a sterile weld", "aseptic_connector": "an aseptic connector", "open": "an open transfer"}
_UTILITY = {"power": "grid power", "co2": "the CO2 supply", "o2": "the O2 supply", "compressed_air": "compressed air",
            "ln2": "LN2 deliveries", "hvac": "air handling (HVAC)", "it": "the IT/MES system"}


def _n(v: float) -> str:
    """A number for people: whole numbers with thousands separators, else 3 significant digits."""
    if v == math.inf:
        return "inf"
    if abs(v) >= 1e6:
        return f"{v:.3g}"
    if abs(v - round(v)) < 1e-9:
        return f"{round(v):,}"
    return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _pct(p: float) -> str:
    return f"{100 * p:.3g}%"


def _dur(d: Distribution, unit: str = "h") -> str:
    """``48 h`` for a fixed value, else ``24.7 h on average (triangular)``."""
    if isinstance(d, Fixed):
        return f"{_n(d.value)} {unit}"
    return f"{_n(d.mean)} {unit} on average ({d.dist})"


def _days(hours: float) -> str:
    return f"{_n(hours)} h ({hours / HOURS_PER_DAY:.1f} days)" if hours >= 48 else f"{_n(hours)} h"


def _hours_of_day(h: float) -> str:
    return f"{int(h):02d}:{round((h % 1) * 60):02d}"


def _calendar(blocks: list[ShiftBlock]) -> str:
    parts = []
    for b in blocks:
        days = [d.capitalize() for d in b.days]
        idx = [WEEKDAYS.index(d) for d in b.days]
        span = f"{days[0]}-{days[-1]}" if len(idx) > 2 and idx == list(range(idx[0], idx[-1] + 1)) else ", ".join(days)
        parts.append(f"{span} {_hours_of_day(b.start_h)}-{_hours_of_day(b.end_h)}")
    return "; ".join(parts) + f" ({_n(on_duty_h_per_week(blocks))} h a week on duty)"


def _para(text: str, indent: str = "  ", hang: str = "  ") -> list[str]:
    """``text`` wrapped to :data:`WIDTH`, its first line indented by ``indent`` and the others by
    ``indent + hang``."""
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + hang,
                         break_on_hyphens=False) or [indent]


def _task(spec: ClinicalStep) -> str:
    hands = f", {_n(spec.hands_on_h)} h hands-on by {spec.role}" if spec.role and spec.hands_on_h > 0 else ""
    return f"{_dur(spec.duration_h)}{hands}"


# -- the parts of the description ----------------------------------------------------------------


def _time(sc: Scenario) -> list[str]:
    end = sc.start_date + dt.timedelta(days=sc.horizon_days)
    return _para(f"{_n(sc.horizon_days)} days from {sc.start_date:%a %d %b %Y} to {end:%a %d %b %Y}; KPIs count "
                 f"patients referred after day {_n(sc.warmup_days)} (the warm-up). {sc.replications} replication"
                 f"{'s' if sc.replications != 1 else ''} from seed {sc.seed}."
                 + (f" KPIs also per {sc.periods} ({len(sc.period_bounds())} periods)." if sc.periods != "none" else ""))


def _utilities(loaded: LoadedScenario, sname: str) -> str:
    sc = loaded.scenario
    u, parts = sc.sites[sname].utilities, []
    if u.power.ups_minutes or u.power.generator:
        p = f"power: UPS {_n(u.power.ups_minutes)} min"
        g = u.power.generator
        if g is not None:
            fuel = f"{_n(g.fuel_h)} h of fuel" if g.fuel_h is not None else "refuelled"
            p += (f", generator starting after {_n(g.start_delay_min)} min (fails to start "
                  f"{_pct(g.fail_to_start_probability)} of the time), {fuel}")
        parts.append(p)
    for gas in ("co2", "o2", "compressed_air"):
        supply = getattr(u, gas)
        if getattr(supply, "backup_l", None) is not None:  # a bottle bank, lasting litres / the units' draw
            draw = sum(p.count * (getattr(loaded.device_types[(sname, t)], f"{gas}_l_per_h", None) or 0.0)
                       for t, p in sc.sites[sname].devices.items())
            lasts = f", {_n(supply.backup_l / draw)} h at the units' draw" if draw > 0 else ""
            parts.append(f"{gas.upper()}: bottle bank {_n(supply.backup_l)} L{lasts}")
        elif supply.backup_h:
            parts.append(f"{gas.replace('_', ' ')}: {_n(supply.backup_h)} h backup")
    if u.ln2 is not None:
        draw = sum(p.count * (loaded.device_types[(sname, t)].ln2_l_per_day or 0.0)
                   for t, p in sc.sites[sname].devices.items())
        parts.append(f"LN2: {_n(u.ln2.tank_l)} L tank filled every {_n(u.ln2.delivery_every_days)} days "
                     f"(units draw {_n(draw)} L a day)")
    parts.append(f"cleanroom out of grade {_n(u.hvac.grade_loss_after_h)} h after air handling stops, "
                 f"{_n(u.hvac.requalification_h)} h to requalify")
    if u.it.restore_h:
        parts.append(f"IT restore {_n(u.it.restore_h)} h after an outage")
    if len(parts) == 1:
        parts.insert(0, "no backups")
    return "; ".join(parts)


def _sites(loaded: LoadedScenario) -> list[str]:
    sc = loaded.scenario
    out: list[str] = []
    for sname, site in sc.sites.items():
        out += _para(_site_head(sc, sname))
        for tname, pool in site.devices.items():
            t = loaded.device_types[(sname, tname)]
            out += _para(f"{pool.count} x {tname} ({t.display_name}): {_device_text(t)}", "    ")
        for role, spec in site.staff.items():
            out += _para(f"{spec.count} {role}: {_staff_text(sc, spec)}", "    ")
            if spec.count or spec.on_duty_posts:
                out += _para(_staffing_text(sc, sname, role), "      ")
                warning = staffing_warning(sc, sname, role)
                if warning:
                    out += _para(warning, "    ")
        if site.devices or site.kind == "factory":
            out += _para(f"utilities: {_utilities(loaded, sname)}", "    ")
    return out


def _site_head(sc: Scenario, sname: str) -> str:
    """What a site is: its kind and places, whether it makes batches, its local time and holidays."""
    site, makes = sc.sites[sname], sc.can_manufacture(sname)
    if site.kind == "hospital":
        head = (f"{sname}: a hospital with {site.apheresis_chairs} apheresis chair(s) and {site.infusion_slots} "
                "infusion slot(s)" + ("; it makes its own patients' batches (a point-of-care cell)" if makes else ""))
    elif site.kind == "hub":
        head = f"{sname}: a hub (a waypoint of routes)"
    else:
        head = f"{sname}: a factory" + (" that makes batches" if makes else " (it cannot make batches)")
    if site.utc_offset_h:
        head += f"; local time = twin clock {site.utc_offset_h:+g} h"
    if site.holidays:
        head += f"; {len(site.holidays)} holiday(s) with no shifts or pickups"
    return head


def _device_text(t: DeviceType) -> str:
    """A device type as a site has it: batches a unit, changeover, breakdowns, maintenance and
    what it needs to run."""
    bits = [f"{t.batches_per_unit} batch{'es' if t.batches_per_unit != 1 else ''} a unit"]
    if t.changeover_h:
        bits.append(f"{_n(t.changeover_h)} h changeover")
    if t.failure is not None:
        bits.append(f"breaks every {_n(t.failure.time_between_h.mean)} h on average, repair "
                    f"{_n(t.failure.repair_h.mean)} h" + (f" by {t.failure.repair_role}" if t.failure.repair_role
                                                          else "") + f" ({_ON_FAILURE[t.failure.on_failure]})")
    if t.maintenance is not None:
        bits.append(f"maintenance {_n(t.maintenance.duration_h)} h every {_n(t.maintenance.every_days)} days")
    bits.append(f"needs {', '.join(t.utilities)}" + (" and the network" if t.network == "stop" else ""))
    return "; ".join(bits)


def _duty_text(sc: Scenario, spec: StaffRole) -> str:
    """When a role's people are on duty, and under which working-time limits."""
    if spec.always_on_duty:
        return "every person on duty around the clock, 168 h a week (always_on_duty: an idealisation, no rota)"
    posts = f"{spec.on_duty_posts} on duty"
    when = (f"{posts} in each shift of {spec.shift}: {_calendar(sc.shifts[spec.shift])}" if spec.shift else
            f"{posts} around the clock (three 8-h shifts a day)")
    return (f"{when}; contracts of {_n(spec.contract_h_per_week)} h a week, at most {_n(spec.max_h_per_week)} h a "
            f"week on average over {spec.reference_weeks} weeks")


def _staff_text(sc: Scenario, spec: StaffRole) -> str:
    """A staff role at a site: when the site needs it, contracts, absence, turnover and extra skills."""
    bits = [_duty_text(sc, spec)]
    if spec.absence_per_day:
        bits.append(f"absent {_pct(spec.absence_per_day)} of days")
    t = spec.turnover
    if t is not None and t.hazard_per_year(spec.count):
        rate = (f"{_pct(t.per_person_per_year)} of people leave a year" if t.per_person_per_year is not None
                else f"{_n(t.leavers_per_year or 0.0)} leavers a year")
        bits.append(f"{rate}, {_n(t.hiring_lead_days)} days to hire, {_n(t.training_weeks)} weeks of training")
    if spec.skills:
        bits.append(f"also qualified for {', '.join(spec.skills)}")
    return "; ".join(bits)


def _staffing_text(sc: Scenario, site: str, role: str) -> str:
    """How many heads a role's calendar needs for the coverage it asks, against the headcount."""
    spec, need = sc.sites[site].staff[role], StaffingNeed.of(sc, site, role)
    absence = f", with {_pct(spec.absence_per_day)} absence" if spec.absence_per_day else ""
    return (f"needs {need.heads:.1f} heads: {_n(need.post_h)} post-hours a week ({spec.on_duty_posts} post{'s' if spec.on_duty_posts != 1 else ''} x "
            f"the calendar's shift hours) / {_n(spec.contract_h_per_week)} contract hours{absence}; has {spec.count}, "
            f"who cover {_n(need.within_contract_h)} h within contracts and up to {_n(need.covered_h)} h with overtime")


def _people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def staffing_warning(sc: Scenario, site: str, role: str) -> str:
    """A ``warning:`` line where the role's headcount cannot cover its calendar's posts even with
    overtime, a ``note:`` where it covers them only with overtime; "" otherwise."""
    spec, need = sc.sites[site].staff[role], StaffingNeed.of(sc, site, role)
    if need.level == "short":
        return (f"warning: {role} at {site}: {_people(spec.count)} for {need.heads:.1f} heads needed: the rota leaves "
                f"{_n(need.post_h - need.covered_h)} of {_n(need.post_h)} post-hours a week uncovered "
                f"({_pct(1 - need.covered_h / need.post_h)}) even with overtime")
    if need.level == "overtime":
        return (f"note: {role} at {site}: {_people(spec.count)} for {need.heads:.1f} heads needed: the posts are "
                "covered only with overtime")
    return ""


def _referrals(sc: Scenario, est: LoadEstimate) -> list[str]:
    ref = sc.referrals
    if ref.times_h is None and ref.varies():
        lo, hi = (float(x) for x in ref.rate_per_week_at(sc.start_date, [0.0, sc.horizon_h]))
        head = (f"a changing rate at random (non-homogeneous Poisson), {_n(lo)} a week at the start and {_n(hi)} at "
                f"the horizon ({est.referrals_per_week:.3g} a week on average)")
        if ref.joins:
            head += "; joining: " + ", ".join(f"{h} on {d}" for h, d in ref.joins.items())
    elif ref.rate_per_week is not None:
        head = f"{_n(ref.rate_per_week)} patients a week at random (Poisson), about {_n(round(ref.rate_per_week * 365 / 7))} a year"
    else:
        head = f"{len(ref.times_h or [])} patients at listed times ({est.referrals_per_week:.3g} a week on average)"
    shares = ", ".join(f"{h} {_pct(s)}" for h, s in sc.hospital_shares().items())
    return _para(f"{head}; by hospital: {shares}.")


def _recipe(loaded: LoadedScenario, est: LoadEstimate) -> list[str]:
    sc = loaded.scenario
    out: list[str] = []
    makers = list(est.site_batches_per_week)
    prev = None
    for i, st in enumerate(sc.recipe, 1):
        where = f"on {st.device}" + (" (the same unit)" if st.device is not None and st.device == prev else "")
        if st.device is None:
            where = "without a device"
        prev = st.device
        bits = []
        if st.end_point is not None:
            e = st.end_point
            lengths = sorted({round(h) for (s, name), h in est.culture_h.items() if name == st.name})
            about = " or ".join(_days(h) for h in lengths)
            bits.append(f"a culture until {e.target_cells:.3g} cells or {_n(e.max_h)} h at most (about {about} for "
                        f"the mean patient)")
            if st.hands_on_h > 0 and st.role:
                bits.append(f"{_n(st.hands_on_h)} h hands-on by {st.role} to start it")
            if e.in_process_check is not None:
                c = e.in_process_check
                bits.append(f"in-process check every {_n(c.every_h)} h (finds >= {_n(c.lod_cfu)} CFU, misses "
                            f"{_pct(c.false_negative)}, result {_n(c.result_h)} h later)")
        else:
            bits.append(_task(st))
        bits.append(f"{st.processing} processing" + (" (needs the cleanroom in grade)" if st.processing == "open" else ""))
        if st.transfer is not None:
            c = sc.connections[st.transfer]
            bits.append(f"material comes in through {_TRANSFER[st.transfer]} ({_dur(c.duration_h)}, contaminates "
                        f"{_pct(c.contamination_probability)}, leaks {_pct(c.leak_probability)}"
                        + (f", in a {c.device}" if c.device else "") + ")")
        if st.staff_wait_limit_h is not None:
            bits.append(f"fails the batch if no qualified person comes within {_n(st.staff_wait_limit_h)} h")
        out += _para(f"{i}. {st.name} {where}: {'; '.join(bits)}.")
    for site in makers:
        holds = [f"{name} {_days(h)}" for (s, name), h in est.batch_hours.items() if s == site]
        out += _para(f"A batch at {site} holds, changeovers included: {', '.join(holds)}.")
    return out


def _qc(sc: Scenario) -> list[str]:
    where = f"at the central lab {sc.qc.lab}" if sc.qc.lab else "at the manufacturing site"
    out = _para(f"{len(sc.qc.tests)} tests in parallel by {sc.qc.role}, {where}:")
    for t in sc.qc.tests:
        bits = [_dur(t.duration_h)]
        if t.hands_on_h:
            bits.append(f"{_n(t.hands_on_h)} h hands-on")
        if t.fail_probability:
            bits.append(f"fails {_pct(t.fail_probability)} of batches")
        if t.measures == "contamination":
            bits.append(f"finds organisms in a {_pct(t.sample_fraction)} sample, misses {_pct(t.false_negative)}")
        elif t.measures is not None:
            bits.append(f"fails a {t.measures} below {t.spec:.3g}")
        out += _para(f"{t.name}: {', '.join(bits)}", "    ")
    return out


def _couriers(sc: Scenario) -> list[str]:
    if not sc.couriers:
        return _para("No courier lanes: every batch is made where its patient is.")
    out = []
    for lane in sc.couriers:
        bits = [_dur(lane.transit_h)]
        if lane.pickup_h is not None:
            bits.append(f"picked up at {_hours_of_day(lane.pickup_h)} on {', '.join(lane.pickup_days)}")
        if lane.delay_probability:
            bits.append(f"delayed {_pct(lane.delay_probability)} of the time by {_dur(lane.delay_h)}")
        if lane.loss_probability:
            bits.append(f"lost {_pct(lane.loss_probability)} of the time")
        out += _para(f"{lane.from_} -> {lane.to}: {', '.join(bits)}")
    for r in sc.routes:
        stops = [r.from_] + [w.site + (f" ({', '.join(st.name + ': ' + _task(st) for st in w.steps)})" if w.steps
                                       else "") for w in r.via] + [r.to]
        out += _para(f"route {r.from_} => {r.to}: {' -> '.join(stops)}, each leg on its lane")
    return out


def _starting_material(sc: Scenario) -> list[str]:
    m = sc.starting_material
    if m.form == "fresh":
        text = "Fresh" + (f": processing must start within {_n(m.viability_h)} h of collection or the batch is lost"
                          if m.viability_h is not None else ", with no viability limit")
    else:
        assert m.freezing is not None
        text = f"Cryopreserved at the hospital first ({_task(m.freezing)})"
    if sc.shipper_hold_h is not None:
        text += f"; a dry shipper holds {_n(sc.shipper_hold_h)} h"
    product = sc.final_product
    if product.form == "fresh":
        text += ". The final product is fresh (not cryopreserved), held at 2-8 C" + (
            f", lost {_n(product.shelf_life_h)} h after the last recipe step unless infused" if product.shelf_life_h
            is not None else ", with no shelf-life limit")
    return _para(text + ".")


def _routing(sc: Scenario, est: LoadEstimate) -> list[str]:
    pairs = ", ".join(f"{h} -> {' or '.join(sc.route_candidates(h))}" for h in sc.hospital_shares())
    text = f"{sc.routing.policy}: {pairs}"
    if not est.routing_exact:
        text += " (nearest first)"
    return _para(text + ".")


def _outages(loaded: LoadedScenario) -> list[str]:
    sc = loaded.scenario
    if not sc.outages:
        return _para("None: nothing stops but what the catalogue's breakdowns and maintenance say.")
    out = []
    for i, o in enumerate(sc.outages):
        where = f"at {o.site}" if o.site else "at every site"
        if o.what == "device":
            what = f"{o.units or 'all'} {o.pool} unit(s)"
        elif o.what == "staff":
            what = f"{o.units or 'all'} {o.role}(s)"
        else:
            what = _UTILITY[o.what]
        if o.at_h is not None:
            when = f"from day {o.at_h / HOURS_PER_DAY:.4g} (hour {_n(o.at_h)}) for {_days(o.duration_h.mean)}"
        else:
            when = f"at random, {_n(o.rate_per_year or 0)} a year, each {_dur(o.duration_h)}"
        out += _para(f"{o.label(i)}: {what} {where}, {when}.")
    return out


def _biology(sc: Scenario) -> list[str]:
    b = sc.biology
    if b is None:
        return _para("No culture model: every step lasts its duration_h.")
    text = (f"Starting cells {_n(b.starting_cells_millions.mean)} million on average ({b.starting_cells_millions.dist}); "
            f"doubling time {_dur(b.doubling_time_h)}; lag {_dur(b.lag_h)}; {_pct(b.intrinsic_contamination_probability)} "
            f"of collections carry {_n(b.intrinsic_inoculum_cfu)} CFU of organisms, which double every "
            f"{_dur(b.contaminant_doubling_h)}")
    if b.kernel:
        text += "; kernel calibration: " + ", ".join(f"{k} = {v:g}" for k, v in b.kernel.items())
    return _para(text + ".")


def load_table(est: LoadEstimate) -> list[str]:
    """The expected-load table: resource, site, units, demand and capacity (h/week), rho; then
    the notes its rows carry, numbered."""
    head = ("resource", "site", "units", "demand h/week", "capacity h/week", "rho")
    notes: list[str] = []
    cells = []
    for r in est.rows:
        mark = ""
        if r.note:
            if r.note not in notes:
                notes.append(r.note)
            mark = f" [{notes.index(r.note) + 1}]"
        cells.append((r.resource, r.site, str(r.units), f"{r.demand_h_per_week:,.1f}", f"{r.capacity_h_per_week:,.1f}",
                      ("inf" if r.rho == math.inf else f"{r.rho:.2f}") + mark))
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]

    def line(c: Iterable[str]) -> str:
        return "  " + "  ".join(v.ljust(w) if i < 2 or i == 5 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths)))

    out = [line(head).rstrip(), "  " + "  ".join("-" * w for w in widths)]
    out += [line(c).rstrip() for c in cells]
    for k, n in enumerate(notes, 1):
        out += _para(f"[{k}] {n}")
    return out


def load_advice(est: LoadEstimate) -> list[str]:
    """``warning:`` lines where rho >= 1 and ``note:`` lines where rho >= NEAR_SATURATION
    (also while a device or staff outage lasts)."""
    out = []
    for r in est.rows:
        if r.level == "over":
            out.append(f"warning: {r.resource} at {r.site}: rho {r.rho:.2f}: demand exceeds capacity: queues will grow "
                       "without bound")
        elif r.level == "near":
            out.append(f"note: {r.resource} at {r.site}: rho {r.rho:.2f}: near saturation: long waits")
    for o in est.during_outages:
        r = o.row
        if o.rho >= NEAR_SATURATION and r.level == "ok":
            what = ("demand exceeds capacity while it lasts: queues grow" if o.rho >= 1 else
                    "near saturation while it lasts: long waits")
            out.append(f"note: during {o.outage} ({o.units_out} of {r.units} out) {r.resource} at {r.site}: rho "
                       f"{o.rho:.2f}: {what}")
    return out


def describe(loaded: LoadedScenario, estimate: LoadEstimate | None = None) -> str:
    """What a validated scenario models, in plain words, section by section (each headed by its
    :data:`SECTIONS` text), ending with the expected load of every resource and its advice.

    Args:
        loaded: a validated scenario.
        estimate: its :func:`twin.authoring.offered_load.expected_load` (computed when not given).
    """
    sc = loaded.scenario
    est = estimate if estimate is not None else expected_load(loaded)
    parts: list[tuple[str, list[str], list[str]]] = [
        ("Time", ["horizon_days", "warmup_days", "periods"], _time(sc)),
        ("Sites", ["sites"], _sites(loaded)),
    ]
    if sc.shifts:
        parts.append(("Shifts", ["shifts"], [f"  {n}: {_calendar(b)}" for n, b in sc.shifts.items()]))
    parts += [
        ("Referrals", ["referrals"], _referrals(sc, est)),
        ("Apheresis", ["apheresis"], _para(f"At the patient's hospital: {_task(sc.apheresis)}.")),
        ("Starting material", ["starting_material", "final_product"], _starting_material(sc)),
        ("Routing", ["routing"], _routing(sc, est)),
        ("Couriers", ["couriers", "routes"], _couriers(sc)),
        ("Receipt", ["receipt"], _para(f"{_task(sc.receipt)}.")),
        ("Recipe", ["recipe"], _recipe(loaded, est)),
        ("Cryopreservation and storage", ["cryopreservation", "storage"],
         _para(f"Frozen in {sc.cryopreservation.device}: {_task(sc.cryopreservation)}; then a position in "
               f"{sc.storage.device} until release.")),
        ("QC", ["qc"], _qc(sc)),
        ("Release", ["release"], _para(f"{_task(sc.release)}, " + (f"remotely from {sc.release.site}."
                                                                    if sc.release.site else "on site."))),
        ("Infusion", ["infusion"], _para(f"At the patient's hospital: {_task(sc.infusion)}.")),
        ("Outages", ["outages"], _outages(loaded)),
        ("Hold times", ["holds"], _holds(sc)),
        ("Devices and staff", ["staff_and_device"], _para(
            "A batch takes a unit together with the person its first work needs." if sc.staff_and_device == "together"
            else "A batch takes a unit as soon as one is free and waits in it for staff.")),
        ("Biology", ["biology"], _biology(sc)),
        ("Drop-out", ["dropout"], _para(
            f"Hazard {sc.dropout.hazard_per_day:g} a day: {_pct(1 - math.exp(-30 * sc.dropout.hazard_per_day))} of "
            "patients who wait 30 days drop out.")),
    ]
    if sc.costs is not None:
        c = sc.costs
        parts.append(("Costs", ["costs"], _para(
            f"In {c.currency}: consumables {_n(sum(c.consumables_per_batch.values()))} and QC "
            f"{_n(sum(c.qc_per_test.values()))} per batch, {_n(c.per_shipment)} per shipment, labour for "
            f"{len(c.labour_per_h)} roles: each person's contract hours while employed (vacancies unpaid), "
            f"overtime at {_n(c.overtime_factor)} x the rate.")))
    out = [f"{sc.name}: {loaded.source}"]
    if sc.description:
        out += _para(" ".join(sc.description.split()), "", "")
    for title, keys, body in parts:
        out += ["", title]
        for k in keys:
            out += _para(SECTIONS[k], "  | ", "")
        out += body
    routing = ("each hospital's batches go to the one site that makes them" if est.routing_exact else
               f"an approximation: under {sc.routing.policy} routing each hospital's batches are counted at its "
               "nearest candidate site")
    out += ["", "Expected load (before anything runs)"]
    out += _para(f"Offered load rho = demand / capacity, from {_n(est.referrals_per_week)} referrals a week and mean "
                 f"durations; {routing}. Drop-outs and failed batches are not subtracted, so demand is an upper "
                 "bound; time a batch holds a unit while waiting for staff is not in it (see the notes). "
                 f"rho >= 1: queues grow without bound; rho >= {NEAR_SATURATION:g}: long waits.")
    out += load_table(est)
    for o in est.during_outages:
        out += _para(f"During {o.outage}: {o.units_out} of {o.row.units} {o.row.resource} at {o.row.site} out, rho "
                     f"{'inf' if o.rho == math.inf else f'{o.rho:.2f}'} while it lasts.")
    advice = load_advice(est)
    if advice:
        out.append("")
        out += advice
    return "\n".join(out)
