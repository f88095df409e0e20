"""A facility's vulnerabilities, enumerated from its scenario, each with a frequency and a
duration from the scenario where it gives them, else from the risk library
(:mod:`twin.scenario.risks`).

Two kinds of vulnerability:

* **outages** (a utility at a site, IT at a site or at every site at once, a device unit broken,
  a spike in a role's absence, the loss of a role's only person): measured by scripting
  occurrences of an ``outages:`` entry (:class:`twin.scenario.outages.Outage`) into the scenario;
* **per-event probabilities** (a connection type's contamination or leak, a courier lane's delay
  or loss): measured by raising the probability by a small *probe* and dividing the change by the
  extra occurrences it made (the probe times the connections made or the shipments sent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from twin.core.units import HOURS_PER_YEAR
from twin.scenario.loading import LoadedScenario
from twin.scenario.outages import UTILITY_TARGETS
from twin.scenario.risks import RiskLibrary


@dataclass(frozen=True)
class Vulnerability:
    """One way the facility can be hurt.

    Attributes:
        id: unique, e.g. ``power@central_factory``, ``device:clinimacs_prodigy@central_factory``,
            ``it@all`` (common cause), ``leak:open``, ``courier_delay:city_hospital->central_factory``.
        kind: utility, it_common, device, staff_absence, single_person, contamination, leak,
            courier_delay, courier_loss.
        site: the site it hits ("" for every site or none in particular).
        frequency_per_year: occurrences a year; NaN for a per-event one until its exposures are
            measured (then probability x exposures a year).
        source: where the frequency and duration came from (the scenario's field, or the library).
        backup: what in the scenario covers it, in words ("" for nothing).
        outage: for outage kinds, the ``outages:`` entry (without ``name`` and ``at_h``).
        probability: for per-event kinds, the chance per connection or shipment (per event).
        probe: for per-event kinds, ``{dotted path: value}`` setting the raised probability (and
            the delay distribution where the lane has none).
        probe_step: the probability added by the probe.
        exposure: for per-event kinds, what is counted: ``transfers:TYPE`` or ``lane:A->B``.
    """

    id: str
    kind: str
    site: str
    frequency_per_year: float
    source: str
    backup: str = ""
    outage: dict[str, Any] | None = None
    probability: float = math.nan
    probe: dict[str, Any] = field(default_factory=dict)
    probe_step: float = 0.0
    exposure: str = ""

    @property
    def per_event(self) -> bool:
        """Whether it is measured by a probe (a probability per connection or shipment)."""
        return self.outage is None


def _dist(d: Any) -> dict[str, Any]:
    return d.model_dump(mode="json", by_alias=True, exclude_none=True)


def _backup_words(sc: Any, site: str, what: str) -> str:
    u = sc.sites[site].utilities
    if what == "power":
        g = u.power.generator
        gen = f", generator (fails to start {g.fail_to_start_probability:g})" if g is not None else ""
        return f"UPS {u.power.ups_minutes:g} min{gen}" if (u.power.ups_minutes or g) else ""
    if what in ("co2", "o2", "compressed_air"):
        gas = getattr(u, what)
        if gas.backup_l:
            return f"bottle bank {gas.backup_l:g} L"
        return f"backup {gas.backup_h:g} h" if gas.backup_h else ""
    if what == "ln2" and u.ln2 is not None:
        return f"LN2 tank {u.ln2.tank_l:g} L"
    if what == "it":
        return f"restore {u.it.restore_h:g} h" if u.it.restore_h else ""
    return ""


def _given(sc: Any) -> dict[tuple, Any]:
    """The scenario's own outages, by (what, site, pool, role) (the last one of each wins)."""
    return {(o.what, o.site, o.pool, o.role): o for o in sc.outages}


def _from_scenario(given: dict[tuple, Any], key: tuple, default: Any, where: str) -> tuple[float, dict, str]:
    """(frequency, duration, source): the scenario's outage ``key`` where it has one (a
    scripted one gives only its duration), else the library's ``default``."""
    o = given.get(key)
    if o is None:
        return default.frequency_per_year, _dist(default.duration_h), f"library: {where}"
    if o.rate_per_year is not None:
        return o.rate_per_year, _dist(o.duration_h), "scenario: outages"
    return default.frequency_per_year, _dist(o.duration_h), f"scenario: outages (duration); library: {where} (frequency)"


def _utilities(loaded: LoadedScenario, lib: RiskLibrary, given: dict[tuple, Any]) -> list[Vulnerability]:
    sc = loaded.scenario
    out = []
    for sname, site in sc.sites.items():
        for what in UTILITY_TARGETS:
            if what == "ln2" and site.utilities.ln2 is None:
                continue  # LN2 never runs out there: no ln2 outage to have
            default = lib.utilities.get(what)
            if default is None:
                continue
            freq, dur, src = _from_scenario(given, (what, sname, None, None), default, f"utilities.{what}")
            out.append(Vulnerability(f"{what}@{sname}", "utility", sname, freq, src, _backup_words(sc, sname, what),
                                     {"what": what, "site": sname, "duration_h": dur}))
    if len(sc.sites) > 1:
        freq, dur, src = _from_scenario(given, ("it", None, None, None), lib.it_common_cause, "it_common_cause")
        out.append(Vulnerability("it@all", "it_common", "", freq, src, "",
                                 {"what": "it", "duration_h": dur}))
    return out


def _devices(loaded: LoadedScenario, lib: RiskLibrary, given: dict[tuple, Any]) -> list[Vulnerability]:
    out = []
    for (sname, tname), dtype in sorted(loaded.device_types.items()):
        count = loaded.scenario.sites[sname].devices[tname].count
        if count <= 0:
            continue
        o = given.get(("device", sname, tname, None))
        if o is not None and o.rate_per_year is not None:
            freq, dur, src = o.rate_per_year, _dist(o.duration_h), "scenario: outages"
        elif dtype.failure is not None:
            freq = count * HOURS_PER_YEAR / dtype.failure.time_between_h.mean
            dur, src = _dist(dtype.failure.repair_h), f"catalogue: {tname} failure"
        else:
            freq = count * lib.device_breakdown.frequency_per_unit_year
            dur, src = _dist(lib.device_breakdown.duration_h), "library: device_breakdown"
        backup = f"{count - 1} other unit{'s' if count != 2 else ''}" if count > 1 else ""
        out.append(Vulnerability(f"device:{tname}@{sname}", "device", sname, freq, src, backup,
                                 {"what": "device", "site": sname, "pool": tname, "units": 1, "duration_h": dur}))
    return out


def _staff(loaded: LoadedScenario, lib: RiskLibrary, given: dict[tuple, Any]) -> list[Vulnerability]:
    out = []
    spike, single = lib.staff_absence_spike, lib.single_person_loss
    for sname, site in loaded.scenario.sites.items():
        for role, st in site.staff.items():
            if st.count <= 0:
                continue
            units = max(1, math.ceil(st.count * spike.fraction))
            freq, dur, src = _from_scenario(given, ("staff", sname, None, role), spike, "staff_absence_spike")
            out.append(Vulnerability(f"absence:{role}@{sname}", "staff_absence", sname, freq, src,
                                     f"{st.count - units} of {st.count} left" if st.count > units else "",
                                     {"what": "staff", "site": sname, "role": role, "units": units, "duration_h": dur}))
            if st.count == 1:
                t = st.turnover
                if t is not None and (t.per_person_per_year or t.leavers_per_year):
                    freq = t.per_person_per_year if t.per_person_per_year is not None else t.leavers_per_year
                    days = t.hiring_lead_days + 7 * t.training_weeks
                    dur, src = {"dist": "fixed", "value": days * 24}, "scenario: turnover"
                else:
                    freq, dur, src = single.frequency_per_year, _dist(single.duration_h), "library: single_person_loss"
                out.append(Vulnerability(f"only_person:{role}@{sname}", "single_person", sname, freq, src, "",
                                         {"what": "staff", "site": sname, "role": role, "units": 1, "duration_h": dur}))
    return out


def _connections(loaded: LoadedScenario, lib: RiskLibrary) -> list[Vulnerability]:
    sc = loaded.scenario
    used = sorted({st.transfer for st in sc.recipe if getattr(st, "transfer", None)})
    step = lib.connection_probe_probability
    out = []
    for ctype in used:
        conn = sc.connections[ctype]
        for kind, fieldname in (("contamination", "contamination_probability"), ("leak", "leak_probability")):
            p = float(getattr(conn, fieldname))
            out.append(Vulnerability(
                f"{kind}:{ctype}", kind, "", math.nan, f"scenario: connections.{ctype}.{fieldname}",
                "", None, p, {f"connections.{ctype}.{fieldname}": min(p + step, 1.0)}, min(p + step, 1.0) - p,
                f"transfers:{ctype}"))
    return out


def _couriers(loaded: LoadedScenario, lib: RiskLibrary) -> list[Vulnerability]:
    cr = lib.courier
    out = []
    for i, lane in enumerate(loaded.scenario.couriers):
        name = f"{lane.from_}->{lane.to}"
        if lane.delay_probability > 0:
            p, src, probe = lane.delay_probability, f"scenario: couriers[{i}].delay_probability", {}
        else:
            p, src = cr.delay_probability, "library: courier.delay_probability, delay_h"
            probe = {f"couriers[{i}].delay_h": _dist(cr.delay_h)}
        probe[f"couriers[{i}].delay_probability"] = min(p * (lane.delay_probability > 0) + cr.probe_probability, 1.0)
        base_p = lane.delay_probability
        out.append(Vulnerability(f"courier_delay:{name}", "courier_delay", lane.from_, math.nan, src, "", None, p,
                                 probe, probe[f"couriers[{i}].delay_probability"] - base_p, f"lane:{name}"))
        lp = lane.loss_probability if lane.loss_probability > 0 else cr.loss_probability
        src = (f"scenario: couriers[{i}].loss_probability" if lane.loss_probability > 0
               else "library: courier.loss_probability")
        raised = min(lane.loss_probability + cr.probe_probability, 1.0)
        out.append(Vulnerability(f"courier_loss:{name}", "courier_loss", lane.from_, math.nan, src, "", None, lp,
                                 {f"couriers[{i}].loss_probability": raised}, raised - lane.loss_probability,
                                 f"lane:{name}"))
    return out


def enumerate_vulnerabilities(loaded: LoadedScenario, lib: RiskLibrary) -> list[Vulnerability]:
    """Every vulnerability of the scenario's facility, in a stable order (utilities and IT,
    devices, staff, connections, couriers)."""
    given = _given(loaded.scenario)
    return [*_utilities(loaded, lib, given), *_devices(loaded, lib, given), *_staff(loaded, lib, given),
            *_connections(loaded, lib), *_couriers(loaded, lib)]
