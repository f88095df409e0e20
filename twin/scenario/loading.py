"""Loading a scenario: YAML file (or text, or data) -> validated :class:`LoadedScenario`.

``load_scenario`` reads a YAML file, applies ``--set`` overrides, validates every section
(pydantic), resolves the device types (catalogue plus the scenario's overrides), runs the
cross-field checks (:mod:`twin.scenario.checks`) and hashes the result. Every error is a
:class:`twin.core.errors.ScenarioError` naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twin.core.errors import InputError, ScenarioError
from twin.core.files import read_input
from twin.scenario.catalogue import DeviceType, bundled_dir, load_catalogue
from twin.scenario.checks import check_operations, check_references
from twin.scenario.document import Scenario
from twin.scenario.locate import located_error, require_mapping, validate_document
from twin.scenario.yamlio import Marks, decode_utf8, nearby_file, parse_yaml


@dataclass
class LoadedScenario:
    """A validated scenario ready to simulate, with its provenance.

    Attributes:
        scenario: the validated scenario.
        device_types: (site, type name) -> effective device type (catalogue + overrides).
        source: where it came from (file path or a label).
        file_sha256: SHA-256 of the file bytes ("" when built from data).
        scenario_hash: SHA-256 of the canonical JSON of the scenario and the device types it
            uses, so two files that mean the same thing hash the same.
        overrides: the ``FIELD=VALUE`` assignments applied on top of the file, if any.
        warnings: advice about a scenario that is valid but probably not what was meant (an
            outage after the horizon, an override that replaced a whole mapping).
    """

    scenario: Scenario
    device_types: dict[tuple[str, str], DeviceType]
    source: str
    file_sha256: str = ""
    scenario_hash: str = field(default="")
    overrides: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def cost_inputs(self) -> dict[str, Any] | None:
        """Plain cost parameters for the tables layer (None without a costs section): per pool
        (site, name) the capital and cleanroom cost of one unit per year, per staff role at a
        site (``SITE/ROLE``) its rate per paid hour and contract hours a week, the overtime
        factor, and the per-event prices."""
        c = self.scenario.costs
        if c is None:
            return None
        per_unit: dict[str, dict[str, float]] = {}
        for (site, name), t in self.device_types.items():
            per_unit[f"{site}/{name}"] = {
                "capital": (t.price or 0.0) / (t.depreciation_years or 1.0),
                "cleanroom": (t.footprint_m2 or 0.0) * c.area_factor * c.cleanroom_per_m2_year,
            }
        return {
            "currency": c.currency,
            "device_unit_year": per_unit,
            "staff": {f"{s}/{r}": {"rate": c.labour_per_h.get(r, 0.0), "contract_h_per_week": spec.contract_h_per_week}
                      for s, site in self.scenario.sites.items() for r, spec in site.staff.items()},
            "overtime_factor": c.overtime_factor,
            "consumables": dict(c.consumables_per_batch),
            "qc": {f"qc:{k}": v for k, v in c.qc_per_test.items()},
            "per_shipment": c.per_shipment,
            "overhead_site_year": dict(c.overhead_per_site_year),
        }

    def canonical(self) -> dict[str, Any]:
        """The experiment record: the scenario and resolved device types as plain JSON data."""
        return {
            "scenario": self.scenario.model_dump(mode="json", by_alias=True),
            "device_types": {
                f"{site}/{name}": t.model_dump(mode="json")
                for (site, name), t in sorted(self.device_types.items())
            },
        }


def scenario_from_data(
    data: Any, marks: Marks | None = None, source: str = "<data>", base_dir: Path | None = None,
    file_sha256: str = "",
) -> LoadedScenario:
    """Validate plain data (as loaded from YAML) into a :class:`LoadedScenario`."""
    marks = marks or Marks()
    if isinstance(data, dict) and {"base", "axes"} <= data.keys() and "sites" not in data:
        raise ScenarioError(f"this is a sweep file (it has base: and axes:), not a scenario: run it with "
                            f"`twin sweep {source}`", file=source)
    sc = validate_document(Scenario, data, marks, source, "a scenario")
    if sc.catalogue is not None:
        cat_dir = Path(sc.catalogue)
        if not cat_dir.is_absolute():
            cat_dir = (base_dir or Path.cwd()) / cat_dir
        if not cat_dir.is_dir():
            raise located_error(f"catalogue folder not found: {cat_dir}", ("catalogue",), marks, source)
    else:
        cat_dir = bundled_dir("equipment")
    types = load_catalogue(cat_dir)
    check_references(sc, types, marks, source)
    device_types: dict[tuple[str, str], DeviceType] = {}
    overridable = DeviceType.overridable()
    for sname, site in sc.sites.items():
        for tname, pool in site.devices.items():
            for key in pool.override:
                if key not in overridable:
                    raise located_error(
                        f"cannot override {key!r}; a scenario may override {sorted(overridable)}",
                        ("sites", sname, "devices", tname, "override", key), marks, source,
                    )
            try:
                device_types[(sname, tname)] = types[tname].with_overrides(pool.override)
            except ValidationError as exc:
                e = exc.errors()[0]
                raise located_error(
                    f"bad override: {'.'.join(map(str, e['loc']))}: {e['msg']}",
                    ("sites", sname, "devices", tname, "override"), marks, source,
                ) from None
    check_operations(sc, types, device_types, marks, source)
    loaded = LoadedScenario(sc, device_types, source, file_sha256)
    loaded.warnings = scenario_warnings(sc, source)
    blob = json.dumps(loaded.canonical(), sort_keys=True, separators=(",", ":"))
    loaded.scenario_hash = hashlib.sha256(blob.encode()).hexdigest()
    return loaded


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> LoadedScenario:
    """Read, parse and validate a scenario YAML file.

    Args:
        path: the scenario file.
        overrides: ``FIELD=VALUE`` assignments applied before validation (``twin run --set``);
            they become part of the validated scenario and so of its hash.

    Raises:
        ScenarioError: naming the file, line and field of the first problem (for a field set
            by an override, the message says so).
    """
    p = Path(path)
    try:
        raw = read_input(p, "scenario file")
    except InputError as err:
        near = nearby_file(p) if err.message == "file not found" else ""
        raise ScenarioError(err.message + near, file=err.file) from None
    sha = hashlib.sha256(raw).hexdigest()
    data, marks = parse_yaml(decode_utf8(raw, str(path)), str(path))
    if not overrides:
        return scenario_from_data(data, marks, str(path), base_dir=p.parent, file_sha256=sha)
    from twin.scenario.locate import dotted
    from twin.scenario.overrides import apply_overrides, split_path

    replaced = override_warnings(require_mapping(data, str(path), "a scenario"), overrides)
    data = apply_overrides(data, overrides)
    try:
        loaded = scenario_from_data(data, marks, str(path), base_dir=p.parent, file_sha256=sha)
        loaded.overrides = list(overrides)
        loaded.warnings = replaced + loaded.warnings
        return loaded
    except ScenarioError as err:
        for text in overrides:
            key = dotted(split_path(text.partition("=")[0].strip()))
            if err.field and (err.field == key or err.field.startswith(key + ".") or err.field.startswith(key + "[")):
                err.message += f" (value given by --set {text})"
                err.line = err.column = None
        raise


def scenario_warnings(sc: Scenario, source: str) -> list[str]:
    """Advice on a valid scenario: scripted outages that start at or after the horizon (they
    never happen in a run)."""
    from twin.core.units import HOURS_PER_DAY

    horizon_h = sc.horizon_days * HOURS_PER_DAY
    return [f"{source}: outages[{i}] ({o.label(i)}) starts at hour {o.at_h:g}, at or after the horizon (hour "
            f"{horizon_h:g}, day {sc.horizon_days:g}): it never happens in this run"
            for i, o in enumerate(sc.outages) if o.at_h is not None and o.at_h >= horizon_h]


def override_warnings(data: dict[str, Any], overrides: list[str]) -> list[str]:
    """Advice on ``--set`` assignments that replace a whole mapping by a plain value or a
    smaller mapping, dropping fields the file gave it (``--set ...staff.operator=6`` drops the
    operators' shift, absence and turnover; ``...staff.operator.count=6`` keeps them)."""
    from twin.scenario.overrides import parse_assignment

    out = []
    for text in overrides:
        path, value = parse_assignment(text)
        node: Any = data
        for part in path:
            ok = (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int)
                                                                and 0 <= part < len(node))
            node = node[part] if ok else None
            if node is None:
                break
        if not isinstance(node, dict) or "dist" in node:  # a distribution is replaced whole by design
            continue
        dropped = [k for k in node if k not in value] if isinstance(value, dict) else [k for k in node if k != "count"]
        if dropped:
            key = text.partition("=")[0].strip()
            hint = f"; to change only its count: --set {key}.count=..." if "count" in node else ""
            out.append(f"--set {text} replaces the whole mapping {key} and drops its {', '.join(dropped)}{hint}")
    return out


def scenario_from_yaml_text(text: str, source: str = "<string>", base_dir: Path | None = None) -> LoadedScenario:
    """Validate a scenario given as YAML text (tests, notebooks)."""
    data, marks = parse_yaml(text, source)
    return scenario_from_data(data, marks, source, base_dir=base_dir)
