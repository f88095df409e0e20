"""Cross-field checks of a scenario: what pydantic cannot check one field at a time.

One function per section, each raising a :class:`twin.core.errors.ScenarioError` that points at
the offending field. :func:`check_references` runs before the device types are resolved (names
of hospitals, sites, device types and roles exist; every hospital's batches can be made
somewhere), :func:`check_operations` after (shifts, skills, repairs, LN2, hands-on time that
fits a shift, connections, cultures, outages). The order of the checks is the order of the
messages a user sees first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twin.core.errors import ScenarioError
from twin.scenario.holds import FRESH_MATERIAL
from twin.scenario.locate import located_error

if TYPE_CHECKING:
    from twin.scenario.catalogue import DeviceType
    from twin.scenario.document import Scenario
    from twin.scenario.yamlio import Marks

Path_t = tuple[str | int, ...]


@dataclass(frozen=True)
class Context:
    """What every check reads: the scenario, the catalogue's types, the resolved pools' types
    (empty before they are resolved) and the error maker that locates a field in the file."""

    sc: Scenario
    types: dict[str, DeviceType]
    resolved: dict[tuple[str, str], DeviceType]
    err: Callable[..., ScenarioError]

    def makers(self) -> set[str]:
        """Every site that makes some hospital's batches."""
        return {t for h in self.sc.hospital_shares() for t in self.sc.route_candidates(h)}


def _context(sc: Scenario, types: dict[str, DeviceType], resolved: dict[tuple[str, str], DeviceType],
             marks: Marks, src: str) -> Context:
    def err(msg: str, *path: str | int) -> ScenarioError:
        return located_error(msg, tuple(path), marks, src)

    return Context(sc, types, resolved, err)


def check_references(sc: Scenario, types: dict[str, DeviceType], marks: Marks, src: str) -> None:
    """Names refer to things that exist, and every hospital's batches can be made somewhere."""
    ctx = _context(sc, types, {}, marks, src)
    for check in (_hospitals, _device_types, _couriers, _routes, _routing, _manufacturing, _qc_lab, _release_site, _cost_keys,
                  _cost_devices, _scheduling):
        check(ctx)


def check_operations(sc: Scenario, types: dict[str, DeviceType], resolved: dict[tuple[str, str], DeviceType],
                     marks: Marks, src: str) -> None:
    """Shifts, skills, repairs, connections, utilities and outages refer to things that exist
    (``resolved``: each pool's device type with the scenario's overrides)."""
    ctx = _context(sc, types, resolved, marks, src)
    for check in (_staff, _repairs, _ln2, _hands_on_fits_a_shift, _connections, _cultures, _outages, _holds,
                  _release_plan, _infusion_plan):
        check(ctx)


# -- references ----------------------------------------------------------------------------------


def _hospital_names(sc: Scenario) -> list[str]:
    return [n for n, s in sc.sites.items() if s.kind == "hospital"]


def _hospitals(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    hospitals = _hospital_names(sc)
    if not hospitals:
        raise err("at least one site must be a hospital", "sites")
    for h in sc.referrals.hospitals or {}:
        if h not in hospitals:
            raise err(f"unknown hospital {h!r}; hospitals are {hospitals}", "referrals", "hospitals", h)
    for h in sc.referrals.joins or {}:
        if h not in hospitals:
            raise err(f"unknown hospital {h!r}; hospitals are {hospitals}", "referrals", "joins", h)


def _device_types(ctx: Context) -> None:
    sc, types, err = ctx.sc, ctx.types, ctx.err

    def unknown(tname: str) -> str:
        return f"unknown device type {tname!r}; the catalogue has {sorted(types)}"

    for sname, site in sc.sites.items():
        for tname in site.devices:
            if tname not in types:
                raise err(unknown(tname), "sites", sname, "devices", tname)
    for i, step in enumerate(sc.recipe):
        if step.device is not None and step.device not in types:
            raise err(unknown(step.device), "recipe", i, "device")
    for tname, path in _fixed_devices(sc):
        if tname not in types:
            raise err(unknown(tname), *path)


def _fixed_devices(sc: Scenario) -> tuple[tuple[str, Path_t], ...]:
    """The device types every manufacturing site needs besides the recipe's, with their fields."""
    cryo = ((sc.cryopreservation.device, ("cryopreservation", "device")),) if sc.final_product.form == "cryopreserved" \
        else ()
    return (*cryo, (sc.storage.device, ("storage", "device")))


def _couriers(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    for i, lane in enumerate(sc.couriers):
        for end, key in ((lane.from_, "from"), (lane.to, "to")):
            if end not in sc.sites:
                raise err(f"unknown site {end!r}; sites are {sorted(sc.sites)}", "couriers", i, key)


def _routes(ctx: Context) -> None:
    """Each route's sites exist, each leg has its courier lane, hub steps' roles have staff at
    their hub, step names are unique, and a pair of sites has at most one route."""
    sc, err = ctx.sc, ctx.err
    seen: set[tuple[str, str]] = set()
    names = [n for n in sc.journey_steps() if n not in {st.name for _, st in sc.hub_steps()}]
    for i, r in enumerate(sc.routes):
        where = ("routes", i)
        for end, path in ((r.from_, ("from",)), (r.to, ("to",)), *((w.site, ("via", j, "site"))
                                                                   for j, w in enumerate(r.via))):
            if end not in sc.sites:
                raise err(f"unknown site {end!r}; sites are {sorted(sc.sites)}", *where, *path)
        if (r.from_, r.to) in seen:
            raise err(f"a second route from {r.from_!r} to {r.to!r}; give each pair of sites one", *where)
        seen.add((r.from_, r.to))
        for j, w in enumerate(r.via):
            for k, st in enumerate(w.steps):
                _hub_step(ctx, (w.site, st, names), (*where, "via", j, "steps", k))
                names.append(st.name)
        _fresh_clock(ctx, r, i)
        for a, b in r.legs():
            if a == b or not sc.has_lane(a, b):
                raise err(f"the route stops at {a!r} twice in a row" if a == b else
                          f"no courier lane from {a!r} to {b!r} for this route's leg", *where, "via")


def _fresh_clock(ctx: Context, r: Any, i: int) -> None:
    """Fresh starting material with ``viability_h`` runs its clock to the start of processing:
    wrong on a route whose hub freezes it, so say how to end the clock at the hub instead."""
    sc = ctx.sc
    m = sc.starting_material
    freezing = next((st.name for w in r.via for st in w.steps if st.freezes), None)
    if freezing is not None and m.form == "fresh" and m.viability_h is not None \
            and all(h.name != FRESH_MATERIAL for h in sc.holds):
        raise ctx.err(f"route {i} freezes the fresh starting material at {freezing!r}, but viability_h runs to the "
                      "start of processing; end the clock at the hub instead: holds: [{name: fresh_material, from: "
                      f"apheresis, to: {freezing}, limit_h: {m.viability_h:g}}}] (and drop viability_h)",
                      "starting_material", "viability_h")


def _hub_step(ctx: Context, what: tuple[str, Any, list[str]], path: Path_t) -> None:
    """A hub step (``what``: its site, the step, the step names taken so far) has its own name and
    staff of its role at its site."""
    site, st, names = what
    if st.name in names:
        raise ctx.err(f"step name {st.name!r} is already a step of the journey; give the hub step its own name",
                      *path, "name")
    if st.role is not None and st.hands_on_h > 0 and ctx.sc.sites[site].headcount(st.role) < 1:
        raise ctx.err(f"role {st.role!r} has no staff at {site!r} (add sites.{site}.staff.{st.role})", *path, "role")


def _routing(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    hospitals = _hospital_names(sc)
    for h, target in sc.routing.assign.items():
        if h not in hospitals:
            raise err(f"unknown hospital {h!r}; hospitals are {hospitals}", "routing", "assign", h)
        if target not in sc.sites:
            raise err(f"unknown site {target!r}; sites are {sorted(sc.sites)}", "routing", "assign", h)


def _missing_at(sc: Scenario, site: str) -> tuple[str, Path_t] | None:
    """The first thing ``site`` lacks to make batches, with the field that needs it."""
    s = sc.sites[site]
    for i, step in enumerate(sc.recipe):
        if step.device is not None and (s.devices.get(step.device) is None or s.devices[step.device].count < 1):
            return (f"device type {step.device!r} has no units at {site!r} "
                    f"(add sites.{site}.devices.{step.device}.count)", ("recipe", i, "device"))
    for tname, path in _fixed_devices(sc):
        if s.devices.get(tname) is None or s.devices[tname].count < 1:
            return (f"device type {tname!r} has no units at {site!r} "
                    f"(add sites.{site}.devices.{tname}.count)", path)
    roles = [(st.role, ("recipe", i, "role")) for i, st in enumerate(sc.recipe)]
    roles += [(sc.receipt.role, ("receipt", "role")), (sc.cryopreservation.role, ("cryopreservation", "role")),
              (sc.qc.role, ("qc", "role")), (sc.release.role, ("release", "role"))]
    for role, path in roles:
        if role is not None and role in sc.roles_needed() and s.headcount(role) < 1:
            return f"role {role!r} has no staff at {site!r} (add sites.{site}.staff.{role})", path
    return None


def _manufacturing(ctx: Context) -> None:
    """Each hospital has its clinical staff and a site that can make its batches, linked to it
    by courier lanes both ways."""
    sc, err = ctx.sc, ctx.err
    for h in sc.hospital_shares():
        for role, step in ((sc.apheresis.role, "apheresis"), (sc.infusion.role, "infusion")):
            if role is not None and sc.sites[h].headcount(role) < 1:
                raise err(f"role {role!r} has no staff at {h!r} (add sites.{h}.staff.{role})", step, "role")
        if sc.routing.policy == "fixed":
            _fixed_route(ctx, h)
        elif not sc.route_candidates(h):
            raise err(f"hospital {h!r}: no site that can make batches is linked to it by courier lanes "
                      "both ways", "routing", "policy")


def _fixed_route(ctx: Context, h: str) -> None:
    sc, err = ctx.sc, ctx.err
    target = sc.routing.assign.get(h)
    if target is None and not sc.can_manufacture(h):
        makers = [n for n in sc.sites if sc.can_manufacture(n)]
        if len(makers) != 1:
            if not makers:
                # Name what the most likely site lacks (a factory, else the hospital).
                site = next((n for n, s in sc.sites.items() if s.kind == "factory"), h)
                msg, path = _missing_at(sc, site) or ("no site can make batches", ("sites",))
                raise err(msg, *path)
            raise err(f"hospital {h!r}: several sites can make batches ({makers}); say which "
                      f"in routing.assign.{h}, or use routing.policy nearest or least_expected_v2v",
                      "routing")
        target = makers[0]
    if target is not None:
        problem = _missing_at(sc, target)
        if problem:
            raise err(problem[0], *problem[1])
        for a, b in ((h, target), (target, h)):
            if a != b and not sc.ships(a, b):
                raise err(f"no courier lane from {a!r} to {b!r}", "couriers")


def _qc_lab(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    lab = sc.qc.lab
    if lab is None:
        return
    if lab not in sc.sites:
        raise err(f"unknown site {lab!r}; sites are {sorted(sc.sites)}", "qc", "lab")
    if any(t.hands_on_h > 0 for t in sc.qc.tests) and sc.sites[lab].headcount(sc.qc.role) < 1:
        raise err(f"role {sc.qc.role!r} has no staff at the QC lab {lab!r}", "qc", "role")
    for m in sorted(ctx.makers()):
        if m != lab and not sc.ships(m, lab):
            raise err(f"no courier lane from {m!r} to the QC lab {lab!r} for samples", "qc", "lab")


def _release_site(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    site = sc.release.site
    if site is None:
        return
    if site not in sc.sites:
        raise err(f"unknown site {site!r}; sites are {sorted(sc.sites)}", "release", "site")
    if sc.release.hands_on_h > 0 and sc.sites[site].headcount(sc.release.role) < 1:
        raise err(f"role {sc.release.role!r} has no staff at {site!r}", "release", "role")


def _cost_keys(ctx: Context) -> None:
    """Every staff role has a rate; every step, QC test and site that costs name exists."""
    sc, err = ctx.sc, ctx.err
    costs = sc.costs
    if costs is None:
        return
    for r in sorted({r for site in sc.sites.values() for r in site.staff}):
        if r not in costs.labour_per_h:
            raise err(f"role {r!r} has no rate (add costs.labour_per_h.{r})", "costs", "labour_per_h")
    steps = {"apheresis", "freezing", "receipt", "cryopreservation", "release", "infusion",
             *(st.name for st in sc.recipe)}
    for key in costs.consumables_per_batch:
        if key not in steps:
            raise err(f"unknown step {key!r}; steps are {sorted(steps)}", "costs", "consumables_per_batch", key)
    tests = {t.name for t in sc.qc.tests}
    for key in costs.qc_per_test:
        if key not in tests:
            raise err(f"unknown QC test {key!r}; tests are {sorted(tests)}", "costs", "qc_per_test", key)
    for key in costs.overhead_per_site_year:
        if key not in sc.sites:
            raise err(f"unknown site {key!r}; sites are {sorted(sc.sites)}", "costs", "overhead_per_site_year", key)


def _cost_devices(ctx: Context) -> None:
    """Every device type a site has units of has what costs need: price, depreciation, footprint."""
    sc, err = ctx.sc, ctx.err
    if sc.costs is None:
        return
    for sname, site in sc.sites.items():
        for tname in site.devices:
            t = ctx.types[tname]
            missing = [f for f in ("price", "depreciation_years", "footprint_m2") if getattr(t, f) is None]
            if missing and site.devices[tname].count > 0:
                raise err(f"device type {tname!r} has no {', '.join(missing)} in the catalogue; costs need "
                          f"them (or set them in sites.{sname}.devices.{tname}.override)",
                          "sites", sname, "devices", tname)


# -- operations ----------------------------------------------------------------------------------


def _staff(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    skills = set(sc.skill_names(ctx.types))
    for sname, site in sc.sites.items():
        for role, r in site.staff.items():
            if r.shift is not None and r.shift not in sc.shifts:
                raise err(f"unknown shift {r.shift!r}; shifts are {sorted(sc.shifts)}",
                          "sites", sname, "staff", role, "shift")
            for i, sk in enumerate(r.skills):
                if sk not in skills:
                    raise err(f"unknown skill {sk!r}; skills are step names: {sorted(skills)}",
                              "sites", sname, "staff", role, "skills", i)


def _repairs(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    for sname, site in sc.sites.items():
        for tname, pool in site.devices.items():
            f = ctx.resolved[(sname, tname)].failure
            needs = pool.count > 0 and f is not None and f.repair_role is not None
            if needs and not sc.qualified_roles(sname, f"repair:{tname}", f.repair_role):
                raise err(f"device type {tname!r} needs a {f.repair_role!r} for repairs; {sname!r} has none "
                          f"(add sites.{sname}.staff.{f.repair_role})", "sites", sname, "devices", tname)
            _changeover_staff(ctx, sname, tname)


def _changeover_staff(ctx: Context, sname: str, tname: str) -> None:
    """A device whose changeover names a role needs someone of it (or skilled for it) at the site."""
    dtype, sc = ctx.resolved[(sname, tname)], ctx.sc
    role = dtype.changeover_role
    if sc.sites[sname].devices[tname].count > 0 and dtype.changeover_h and role is not None \
            and not sc.qualified_roles(sname, f"changeover:{tname}", role):
        raise ctx.err(f"device type {tname!r} needs a {role!r} for changeovers; {sname!r} has none "
                      f"(add sites.{sname}.staff.{role})", "sites", sname, "devices", tname)


def _ln2(ctx: Context) -> None:
    for sname, site in ctx.sc.sites.items():
        ln2 = site.utilities.ln2
        if ln2 is None:
            continue
        per_day = sum(p.count * (ctx.resolved[(sname, t)].ln2_l_per_day or 0.0) for t, p in site.devices.items())
        if per_day * ln2.delivery_every_days > ln2.tank_l:
            raise ctx.err(f"the LN2 tank ({ln2.tank_l:g} L) runs dry between deliveries: the site's units draw "
                          f"{per_day:g} L/day for {ln2.delivery_every_days:g} days",
                          "sites", sname, "utilities", "ln2")


def _hands_on_fits_a_shift(ctx: Context) -> None:
    """Every hands-on task fits in the longest shift of some role qualified for it."""
    sc = ctx.sc
    tasks: list[tuple[str, float, str | None, Path_t]] = [
        (name, spec.hands_on_h, spec.role, (name, "hands_on_h"))
        for name, spec in (("apheresis", sc.apheresis), ("receipt", sc.receipt),
                           ("cryopreservation", sc.cryopreservation), ("release", sc.release),
                           ("infusion", sc.infusion))
    ]
    tasks += [(st.name, st.hands_on_h, st.role, ("recipe", i, "hands_on_h")) for i, st in enumerate(sc.recipe)]
    tasks += [(f"qc:{t.name}", t.hands_on_h, sc.qc.role, ("qc", "tests", i, "hands_on_h"))
              for i, t in enumerate(sc.qc.tests)]
    tasks += [(st.name, st.hands_on_h, st.role, ("routes", i, "via", j, "steps", k, "hands_on_h"))
              for i, r in enumerate(sc.routes) for j, w in enumerate(r.via) for k, st in enumerate(w.steps)]
    for step, hours, role, path in tasks:
        if hours <= 0 or role is None:
            continue
        longest = max((sc.longest_shift_h(r) for sname in sc.sites for r in sc.qualified_roles(sname, step, role)),
                      default=0.0)
        if longest < hours:
            raise ctx.err(f"{hours:g} hands-on hours do not fit in any shift of a role qualified for {step!r} "
                          f"(longest: {longest:g} h)", *path)


def _connections(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    for i, st in enumerate(sc.recipe):
        if st.transfer is None:
            continue
        conn = sc.connections[st.transfer]
        if conn.hands_on_h > 0 and st.role is None:
            raise err(f"a {st.transfer} transfer has {conn.hands_on_h:g} hands-on hours and needs the step's role",
                      "recipe", i, "role")
        if conn.device is None:
            continue
        if conn.device not in ctx.types:
            raise err(f"unknown device type {conn.device!r}; the catalogue has {sorted(ctx.types)}",
                      "connections", st.transfer, "device")
        for m in sorted(ctx.makers()):
            if sc.sites[m].devices.get(conn.device) is None or sc.sites[m].devices[conn.device].count < 1:
                raise err(f"a {st.transfer} transfer needs a {conn.device!r} at {m!r} "
                          f"(add sites.{m}.devices.{conn.device}.count)", "recipe", i, "transfer")


def _cultures(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    for i, st in enumerate(sc.recipe):
        if st.end_point is None:
            continue
        if sc.biology is None:
            raise err("a culture step (end_point) needs the scenario's biology section", "recipe", i, "end_point")
        for m in sorted(ctx.makers()):
            t = ctx.resolved.get((m, st.device or ""))
            if t is not None and t.culture_capacity_cells is None:
                raise err(f"device type {st.device!r} has no culture_capacity_cells for a culture step (set it in the "
                          f"catalogue or sites.{m}.devices.{st.device}.override)", "recipe", i, "end_point")


def _outages(ctx: Context) -> None:
    sc, err = ctx.sc, ctx.err
    for i, o in enumerate(sc.outages):
        if o.site is not None and o.site not in sc.sites:
            raise err(f"unknown site {o.site!r}; sites are {sorted(sc.sites)}", "outages", i, "site")
        where = [o.site] if o.site is not None else list(sc.sites)
        if o.pool is not None and not any(o.pool in sc.sites[w].devices for w in where):
            raise err(f"no {o.pool!r} units at {o.site or 'any site'}", "outages", i, "pool")
        if o.role is not None and not any(sc.sites[w].headcount(o.role) > 0 for w in where):
            raise err(f"no {o.role!r} staff at {o.site or 'any site'}", "outages", i, "role")
        if o.what == "ln2" and not any(sc.sites[w].utilities.ln2 is not None for w in where):
            raise err("an ln2 outage needs a site with an LN2 supply (sites.NAME.utilities.ln2)", "outages", i, "what")
    names = [o.label(i) for i, o in enumerate(sc.outages)]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise err(f"outage names must be unique; {n!r} is repeated", "outages", i, "name")


def _holds(ctx: Context) -> None:
    """Each hold runs between two steps of this journey, the first before the second; names unique."""
    sc, err = ctx.sc, ctx.err
    steps = sc.journey_steps()
    where = {s: i for i, s in enumerate(steps)}
    seen: set[str] = set()
    for i, h in enumerate(sc.holds):
        if h.name in seen:
            raise err(f"hold names must be unique; {h.name!r} is repeated", "holds", i, "name")
        seen.add(h.name)
        for key, step in (("from", h.from_), ("to", h.to)):
            if step not in where:
                raise err(f"unknown step {step!r}; the journey's steps are {steps}", "holds", i, key)
        if where[h.to] <= where[h.from_]:
            raise err(f"the hold runs from the end of {h.from_!r} to the start of a later step; {h.to!r} is not "
                      "after it", "holds", i, "to")


def _scheduling(ctx: Context) -> None:
    """Per-site scheduling policies name sites that make batches."""
    sc, err = ctx.sc, ctx.err
    makers = sorted(ctx.makers())
    for site in sc.scheduling.sites:
        if site not in makers:
            raise err(f"{site!r} makes no batches; the manufacturing sites are {makers}", "scheduling", "sites", site)


def _calendar(ctx: Context, name: str | None, *path: str | int) -> None:
    if name is not None and name not in ctx.sc.shifts:
        raise ctx.err(f"unknown calendar {name!r}; shifts are {sorted(ctx.sc.shifts)}", *path)


def _release_plan(ctx: Context) -> None:
    """Release stages name sites, staffed roles and calendars that exist; at-risk tests are QC tests."""
    sc, err = ctx.sc, ctx.err
    rel = sc.release
    _calendar(ctx, rel.working_hours, "release", "working_hours")
    for i, st in enumerate(rel.stages):
        _calendar(ctx, st.working_hours, "release", "stages", i, "working_hours")
        if st.site is not None and st.site not in sc.sites:
            raise err(f"unknown site {st.site!r}; sites are {sorted(sc.sites)}", "release", "stages", i, "site")
    for i, (name, st) in enumerate(rel.stage_list() if rel.stages else []):
        sites = [st.site] if st.site is not None else sorted(ctx.makers())
        for site in sites:
            if (st.hands_on_h or 0) > 0 and not sc.qualified_roles(site, name, st.role):
                raise err(f"role {st.role!r} has no staff at {site!r} for {name!r}", "release", "stages", i, "role")
    tests = [t.name for t in sc.qc.tests]
    for i, t in enumerate(rel.at_risk_tests):
        if t not in tests:
            raise err(f"unknown QC test {t!r}; the panel's tests are {tests}", "release", "at_risk_tests", i)


def _infusion_plan(ctx: Context) -> None:
    """The infusion plan's calendars exist and name hospitals; its roles are staffed at every hospital."""
    sc, err = ctx.sc, ctx.err
    plan = sc.infusion_scheduling
    if plan is None:
        return
    _calendar(ctx, plan.clinic, "infusion_scheduling", "clinic")
    _calendar(ctx, plan.lymphodepletion.calendar, "infusion_scheduling", "lymphodepletion", "calendar")
    for h, cal in plan.clinics.items():
        if h not in sc.sites or sc.sites[h].kind != "hospital":
            raise err(f"{h!r} is not a hospital; hospitals are {_hospital_names(sc)}", "infusion_scheduling", "clinics", h)
        _calendar(ctx, cal, "infusion_scheduling", "clinics", h)
    for key, spec in (("lymphodepletion", plan.lymphodepletion), ("thaw", plan.thaw)):
        if spec is None or spec.role is None or spec.hands_on_h <= 0:
            continue
        for h in sc.hospital_shares():
            if not sc.qualified_roles(h, key, spec.role):
                raise err(f"role {spec.role!r} has no staff at hospital {h!r}", "infusion_scheduling", key, "role")
