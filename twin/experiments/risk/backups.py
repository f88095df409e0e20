"""The backups of a scenario's facility and the stated step up and down of each, for "what does
each backup buy": the vulnerabilities each one covers are measured again with it stepped, and the
reduction in their expected annual impact is reported (per unit of cost where the scenario has a
costs section: the change in ``cost.total`` a year of the stepped baseline).

Steps (assumptions: one usual increment of each, stated in the results): UPS +-15 minutes, a
generator's fail-to-start probability +-0.05, a bottle bank or compressed-air backup x2 and /2, the
LN2 tank x2 and /2, an on-call crew (a role named ``on_call*``) +-1 person, a spare device +-1
unit, a second qualified person (and one fewer where there are two or more), the IT restore time
/2 and x2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.experiments.risk.vulnerabilities import Vulnerability
from twin.scenario.loading import LoadedScenario


@dataclass(frozen=True)
class BackupStep:
    """One backup stepped one way: ``path`` (dotted scenario field) from ``current`` to ``value``;
    ``covers``: the vulnerability ids it changes."""

    backup: str
    direction: str  # up (more backup) or down
    path: str
    current: float
    value: float
    unit: str
    covers: tuple[str, ...]

    @property
    def outage_only(self) -> bool:
        """Whether the backup acts only during an outage (UPS, generator, bottle bank or
        compressed-air backup, IT restore; not the LN2 tank, which every delivery fills, nor
        people or units), so the baseline without outages does not change with it."""
        return self.unit in ("minutes", "probability", "litres", "hours") and ".ln2." not in self.path

    @property
    def name(self) -> str:
        """Its context name, e.g. ``ups@central_factory:up``."""
        return f"{self.backup}:{self.direction}"


def _pair(up: BackupStep, down_value: float) -> list[BackupStep]:
    """``up`` and, where it differs from the current value, the step down to ``down_value``."""
    out = [up]
    if down_value != up.current:
        out.append(BackupStep(up.backup, "down", up.path, up.current, down_value, up.unit, up.covers))
    return out


def _utility_steps(s: str, u: Any, ids: set[str]) -> list[BackupStep]:
    """The utility backups of site ``s`` (``u``: its utilities)."""
    pre = f"sites.{s}.utilities"
    power = tuple(i for i in (f"power@{s}",) if i in ids)
    out: list[BackupStep] = []
    if u.power.ups_minutes > 0:
        m = u.power.ups_minutes
        out += _pair(BackupStep(f"ups@{s}", "up", f"{pre}.power.ups_minutes", m, m + 15, "minutes", power),
                     max(m - 15, 0.0))
    if u.power.generator is not None:
        p = u.power.generator.fail_to_start_probability
        out += _pair(BackupStep(f"generator@{s}", "up", f"{pre}.power.generator.fail_to_start_probability", p,
                                max(p - 0.05, 0.0), "probability", power), min(p + 0.05, 1.0))
    for gas in ("co2", "o2", "compressed_air"):
        g = getattr(u, gas)
        cov = tuple(i for i in (f"{gas}@{s}",) if i in ids)
        key, unit = ("backup_l", "litres") if g.backup_l else ("backup_h", "hours")
        amount = getattr(g, key) or 0.0
        if amount > 0:
            out += _pair(BackupStep(f"{gas}_backup@{s}", "up", f"{pre}.{gas}.{key}", amount, 2 * amount, unit, cov),
                         amount / 2)
    if u.ln2 is not None:
        t = u.ln2.tank_l
        out += _pair(BackupStep(f"ln2_tank@{s}", "up", f"{pre}.ln2.tank_l", t, 2 * t, "litres",
                                tuple(i for i in (f"ln2@{s}",) if i in ids)), t / 2)
    if u.it.restore_h > 0:
        r = u.it.restore_h
        out += _pair(BackupStep(f"it_restore@{s}", "up", f"{pre}.it.restore_h", r, r / 2, "hours",
                                tuple(i for i in (f"it@{s}", "it@all") if i in ids)), 2 * r)
    return out


def _people_and_spares(s: str, site: Any, ids: set[str]) -> list[BackupStep]:
    """On-call crews, qualified persons and spare devices of site ``s``."""
    out: list[BackupStep] = []
    for role, st in site.staff.items():
        if role.startswith("on_call") or role == "qualified_person":
            cov = tuple(i for i in (f"absence:{role}@{s}", f"only_person:{role}@{s}") if i in ids)
            out += _pair(BackupStep(f"{role}@{s}", "up", f"sites.{s}.staff.{role}.count", st.count, st.count + 1,
                                    "people", cov), max(st.count - 1, 1))
    for tname, pool in site.devices.items():
        cov = tuple(i for i in (f"device:{tname}@{s}",) if i in ids)
        out += _pair(BackupStep(f"spare_{tname}@{s}", "up", f"sites.{s}.devices.{tname}.count", pool.count,
                                pool.count + 1, "units", cov), max(pool.count - 1, 1))
    return out


def backup_steps(loaded: LoadedScenario, vulns: list[Vulnerability]) -> list[BackupStep]:
    """Every backup the scenario has, stepped up and down (see the module docstring), that
    covers at least one of ``vulns``."""
    ids = {v.id for v in vulns}
    out: list[BackupStep] = []
    for s, site in loaded.scenario.sites.items():
        out += _utility_steps(s, site.utilities, ids) + _people_and_spares(s, site, ids)
    return [b for b in out if b.covers]
