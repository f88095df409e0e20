"""The scenario schema, generated from the pydantic models: a JSON Schema for editors and a
Markdown reference for people.

:func:`json_schema` is a JSON Schema (draft 2020-12) of a scenario file, made from
``Scenario.model_json_schema()`` and post-processed so that an editor (the YAML language server
of redhat.vscode-yaml) validates and completes a file as it is typed: every field's description,
default and bounds; no unknown keys where the model forbids them; a distribution as a bare number
or a ``{dist: ...}`` mapping; a headcount or a mapping for a staff role; the device fields a site
may override; the culture kernel's parameters. It checks what one field can say on its own;
rules across fields (exactly one of ``rate_per_week`` or ``times_h``, names of sites, roles and
device types that must exist) are ``twin validate``'s.

:func:`markdown_reference` is the scenario reference: a section per model, in the order a
scenario file reads, each with a table of its fields (type, unit, default, allowed range, what it
does). Units come from the field-name convention (:func:`unit_of`).

Both are deterministic, so their output is committed (``docs/``) and a test keeps it current.
No simpy, pandas or numba here: ``twin schema`` starts fast.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from twin.scenario.locate import models_in

JSON_PATH = "docs/scenario.schema.json"
"""Where ``twin schema --json`` output is committed, relative to the repository root."""
MARKDOWN_PATH = "docs/scenario-reference.md"
"""Where ``twin schema --markdown`` output is committed, relative to the repository root."""

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:celltwin:scenario"

DISTRIBUTION = "Distribution"
"""Name of the ``$defs`` entry for a distribution mapping (any of :data:`DIST_DEFS`)."""
DIST_DEFS = ("Fixed", "Exponential", "Triangular", "Lognormal", "Weibull", "Empirical")
"""``$defs`` names of the distribution models, in the vocabulary's order."""
OVERRIDE = "DeviceOverride"
KERNEL = "KernelParameters"

# Placeholder for the key of a mapping, by the mapping's field name (default NAME).
_KEY_NAMES = {
    "devices": "TYPE", "staff": "ROLE", "connections": "TYPE", "hospitals": "HOSPITAL", "assign": "HOSPITAL",
    "labour_per_h": "ROLE", "consumables_per_batch": "STEP", "qc_per_test": "TEST", "overhead_per_site_year": "SITE",
}
# Fields whose default column needs words: required but for a case the model allows.
_DEFAULT_NOTES = {("Step", "duration_h"): "required, except in a culture step"}

# -- units -----------------------------------------------------------------------------------------

_UNIT_BY_FIELD = {
    ("Lymphodepletion", "days_before"): "days",
    ("DevicePool", "count"): "units",
    ("StaffRole", "count"): "people",
    ("StaffRole", "posts"): "people",
    ("Outage", "units"): "units or people",
    ("Remanufacture", "max_attempts"): "attempts",
    ("Scheduling", "urgency"): "relative share",
    ("Scheduling", "transit_quantile"): "quantile",
    ("Site", "staff"): "people",
    ("Commissioning", "teams"): "teams",
    ("PlanEntry", "devices"): "units",
    ("PlanEntry", "staff"): "people",
}
_UNIT_BY_NAME = {
    "seed": "—",
    "replications": "replications",
    "apheresis_chairs": "chairs",
    "infusion_slots": "slots",
    "batches_per_unit": "batches",
    "rate_per_week": "patients per week",
    "per_week": "patients per week",
    "share": "relative share",
    "leavers_per_year": "people per year",
    "per_person_per_year": "per person per year",
    "contract_h_per_week": "hours per week",
    "max_h_per_week": "hours per week",
    "reference_weeks": "weeks",
    "absence_per_day": "probability per day",
    "false_negative": "probability",
    "spec": "fraction or cells",
    "hospitals": "relative share",
    "weights": "relative weight",
    "shape": "—",
    "growth_stress_k": "—",
    "start_h": "hour of day",
    "end_h": "hour of day",
    "pickup_h": "hour of day",
    "price": "currency",
    "labour_per_h": "currency per hour",
    "consumables_per_batch": "currency per step",
    "qc_per_test": "currency per test",
    "per_shipment": "currency per shipment",
    "cleanroom_per_m2_year": "currency per m² per year",
    "overhead_per_site_year": "currency per year",
}
_UNIT_BY_SUFFIX = (  # the first that matches; longer suffixes before the ones they end with
    ("_l_per_h", "litres per hour"),
    ("_l_per_day", "litres per day"),
    ("_per_h", "per hour"),
    ("_per_day", "per day"),
    ("_per_week", "per week"),
    ("_per_year", "per year"),
    ("_probability", "probability"),
    ("_fraction", "fraction"),
    ("_factor", "factor"),
    ("_minutes", "minutes"),
    ("_min", "minutes"),
    ("_h", "hours"),
    ("_days", "days"),
    ("_weeks", "weeks"),
    ("_years", "years"),
    ("_l", "litres"),
    ("_m2", "m²"),
    ("_millions", "millions of cells"),
    ("_cells", "cells"),
    ("_cfu", "CFU"),
    ("_pct", "%"),
    ("_c", "°C"),
)
FIELD_UNIT = "the field's unit"
"""Unit of a distribution parameter: that of the field holding the distribution (hours for ``*_h``)."""


def unit_of(model: str, field: str) -> str:
    """The unit of ``field`` of the model ``model`` (a ``$defs`` name, or ``Scenario``), from the
    naming convention: ``*_h`` hours, ``*_days`` days, ``*_min`` minutes, ``*_l`` litres,
    ``*_probability`` a probability, ``*_per_year`` a rate per year, ``*_cells`` cells,
    ``*_cfu`` colony-forming units, and so on; a few fields are named in full. ``""`` for a
    field that has none (text, names, choices); ``"—"`` for a dimensionless number."""
    if model in DIST_DEFS and field != "dist":
        return _UNIT_BY_NAME.get(field, FIELD_UNIT)
    unit = _UNIT_BY_FIELD.get((model, field)) or _UNIT_BY_NAME.get(field)
    if unit:
        return unit
    for suffix, unit in _UNIT_BY_SUFFIX:
        if field.endswith(suffix):
            return unit
    return ""


# -- the JSON schema ---------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file; see the module docstring."""
    from twin.scenario.catalogue import DeviceType
    from twin.scenario.distributions import MAX_PARAM
    from twin.scenario.document import Scenario

    schema = Scenario.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs")
    device = DeviceType.model_json_schema()
    for name, sub in device.pop("$defs").items():
        if defs.setdefault(name, sub) != sub:
            raise AssertionError(f"two different models named {name!r} in the scenario schema")
    _add_factory_defaults(schema, defs, Scenario)
    _add_factory_defaults(device, defs, DeviceType)
    for name in DIST_DEFS:  # a mapping must name its distribution (a bare number is `fixed`)
        dist = defs[name]["properties"]["dist"]
        dist.pop("default", None)
        defs[name]["required"] = ["dist", *defs[name].get("required", [])]
    bare = {"type": "number", "minimum": 0, "maximum": MAX_PARAM}
    schema, defs, device = _replace_distributions([schema, defs, device], bare)
    defs[DISTRIBUTION] = {
        "title": DISTRIBUTION,
        "description": "A distribution mapping, named by `dist`; a bare number means `{dist: fixed, value: x}`.",
        "oneOf": [{"$ref": f"#/$defs/{n}"} for n in DIST_DEFS],
    }
    defs[OVERRIDE] = _override_schema(device, DeviceType.overridable())
    pool = defs["DevicePool"]["properties"]
    pool["override"] = {"$ref": f"#/$defs/{OVERRIDE}", "description": pool["override"]["description"], "default": {}}
    staff = defs["Site"]["properties"]["staff"]
    role = staff["patternProperties"]
    (pattern, ref), = role.items()
    headcount = {k: v for k, v in defs["StaffRole"]["properties"]["count"].items() if k != "title"}
    headcount["description"] = ("A headcount, on a 24/7 rota: `operator: 3` means `operator: {count: 3}` (three people "
                                "on 37.5-h contracts covering what they can of one post around the clock).")
    role[pattern] = {"anyOf": [headcount, ref]}
    for model, field in _DEFAULT_NOTES:  # the model's default is a placeholder it refuses; no editor should insert it
        defs[model]["properties"][field].pop("default", None)
    defs[KERNEL] = _kernel_schema()
    kernel = defs["Biology"]["properties"]["kernel"]
    defs["Biology"]["properties"]["kernel"] = {"$ref": f"#/$defs/{KERNEL}", "description": kernel["description"],
                                               "default": {}}
    out: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "celltwin scenario",
        "$comment": f"Generated by `twin schema --json` from the scenario models; the reference is {MARKDOWN_PATH}.",
        "description": schema.pop("description", ""),
        **{k: v for k, v in schema.items() if k != "title"},
        "$defs": {name: defs[name] for name in sorted(defs)},
    }
    return _tidy(out)


def json_schema_text() -> str:
    """:func:`json_schema` as the text of ``docs/scenario.schema.json`` (2-space indent, UTF-8)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def scenario_models() -> list[type[BaseModel]]:
    """Every model a scenario file fills in, Scenario first, then as its fields reach them (the
    device catalogue's, for ``override``, after ``DevicePool``)."""
    from twin.scenario.catalogue import DeviceType
    from twin.scenario.document import Scenario
    from twin.scenario.sites import DevicePool

    found: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.append(model)
        fields = [f for f in model.model_fields.values()]
        if model is DevicePool:
            fields += [f for name, f in DeviceType.model_fields.items() if name in DeviceType.overridable()]
        for f in fields:
            for sub in models_in(f.annotation):
                visit(sub)

    visit(Scenario)
    return found


def _add_factory_defaults(schema: dict[str, Any], defs: dict[str, Any], root: type[BaseModel]) -> None:
    """pydantic leaves out defaults made by a ``default_factory``: add them (a model as the fields
    that differ from its own defaults, so one made of its defaults is ``{}``; a fixed distribution
    as its number), in ``root``'s node ``schema`` and the nodes in ``defs`` of the models under it."""
    _visit_factory_defaults(root, schema, defs, set())


def _visit_factory_defaults(model: type[BaseModel], node: dict[str, Any], defs: dict[str, Any], seen: set[type]
                            ) -> None:
    """:func:`_add_factory_defaults` for ``model`` (its node ``node``) and, once each, the models
    of its fields."""
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        prop = node["properties"][info.alias or name]
        if info.default_factory is not None:
            prop["default"] = _plain_default(info.default_factory())  # type: ignore[call-arg]
    for sub in (m for f in model.model_fields.values() for m in models_in(f.annotation)):
        if sub.__name__ in defs:
            _visit_factory_defaults(sub, defs[sub.__name__], defs, seen)


def _plain_default(value: Any) -> Any:
    """A default as the schema shows it: a model as the fields that differ from its own
    defaults, a fixed distribution as its number, containers item by item."""
    from twin.scenario.distributions import Fixed

    if isinstance(value, Fixed):
        return value.value
    if isinstance(value, BaseModel):  # only what differs from the model's own defaults
        fields = type(value).model_fields.items()
        return {info.alias or name: _plain_default(getattr(value, name)) for name, info in fields
                if getattr(value, name) != info.get_default(call_default_factory=True)}
    if isinstance(value, dict):
        return {k: _plain_default(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_default(v) for v in value]
    return value


def _replace_distributions(node: Any, bare: dict[str, Any]) -> Any:
    """Every distribution field (pydantic's tagged ``oneOf`` of the distribution models) becomes
    "a bare number or a distribution mapping", as the before-validator reads it."""
    refs = [{"$ref": f"#/$defs/{n}"} for n in DIST_DEFS]
    if isinstance(node, dict):
        if node.get("oneOf") == refs:
            rest = {k: v for k, v in node.items() if k not in ("oneOf", "discriminator")}
            return {**rest, "anyOf": [dict(bare), {"$ref": f"#/$defs/{DISTRIBUTION}"}]}
        return {k: _replace_distributions(v, bare) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_distributions(v, bare) for v in node]
    return node


def _override_schema(device: dict[str, Any], overridable: set[str]) -> dict[str, Any]:
    """The fields of a catalogue entry a scenario may override, with the catalogue's types."""
    props = {k: v for k, v in device["properties"].items() if k in overridable}
    for prop in props.values():
        prop.pop("default", None)  # the catalogue entry's value is the default, not the model's
    return {
        "title": OVERRIDE,
        "description": "Catalogue fields a site changes for its units of a device type; a nested entry "
        "(`failure`, `maintenance`) replaces the catalogue's whole entry, and `null` removes it. Unset fields keep "
        "the catalogue's values (see `equipment/TYPE.yaml`).",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


def _kernel_schema() -> dict[str, Any]:
    """The culture kernel's parameters, each a number with its default and meaning."""
    from twin.kernel.params import KernelParams

    return {
        "title": KERNEL,
        "description": "Parameters of the culture kernel (`twin/kernel/` gives each one's equation and the "
        "source of its default); a scenario sets those it calibrates.",
        "type": "object",
        "properties": {
            f.name: {"type": "number", "default": f.default, "description": f.metadata["doc"]}
            for f in dataclasses.fields(KernelParams)
        },
        "additionalProperties": False,
    }


def _tidy(node: Any) -> Any:
    """Editor-friendly forms: a named mapping's key pattern as ``propertyNames`` with the value
    schema in ``additionalProperties`` (so keys that do not match are refused, as the model
    does); no pydantic-made property titles ("Hands On H"); descriptions in Markdown, not reST."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _tidy({k: v for k, v in prop.items() if k != "title"}) for name, prop in value.items()}
        elif key == "description" and isinstance(value, str):
            out[key] = _clean(value)
        else:
            out[key] = _tidy(value)
    pattern = out.pop("patternProperties", None)
    if pattern is not None:
        (regex, value), = pattern.items()
        out["propertyNames"] = {"pattern": regex, **out.get("propertyNames", {})}
        out["additionalProperties"] = value
    return out


def _source_path(module: str) -> str:
    """Where a module's source is, relative to the folder holding the ``twin`` package."""
    rel = "/".join(module.split("."))
    root = Path(__file__).resolve().parents[2]
    return f"{rel}/" if (root / rel).is_dir() else f"{rel}.py"


def _clean(text: str) -> str:
    """reST markup of the docstrings as Markdown: ````x```` -> `x`, ``:class:`a.b.C``` -> C,
    ``:mod:`twin.scenario.biology``` -> `twin/scenario/biology.py` (a package: `twin/kernel/`); lines joined
    into paragraphs."""
    text = re.sub(r":mod:`~?([\w.]+)`", lambda m: f"`{_source_path(m.group(1))}`", text)
    text = re.sub(r":(?:class|func|meth|data|attr):`~?(?:[\w]+\.)*(\w+)`", r"`\1`", text)
    text = text.replace("``", "`")
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in re.split(r"\n\s*\n", text.strip())]
    return "\n\n".join(p for p in paragraphs if p)


# -- the Markdown reference --------------------------------------------------------------------------

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]*$"
_NULL = {"type": "null"}

_HEADER = """\
# Scenario reference

<!-- Generated by `twin schema --markdown --out docs/scenario-reference.md` from the scenario models
(twin/scenario/: one module per section, field types in fields.py, the catalogue in catalogue.py).
Do not edit by hand: change the models' descriptions and regenerate. -->

Every field a scenario file may hold, section by section in the order a scenario reads: what it
does in the model, its unit, its default and the values it may take. `scenarios/centralised.yaml`
is a complete, annotated example. `twin validate FILE` checks a file and names the line of the
first problem.

How to read the tables:

- **Where** gives the path of a section in a file: CAPITALS are names you choose (`sites.NAME`:
  `sites: {city_hospital: ...}`), `[i]` is each item of a list (`recipe[i]`).
- **type**: `number`, `whole number` (no decimal point), `text`, `date (YYYY-MM-DD)`, `name` (a
  letter, then letters, digits, `_` or `-`; at most 64 characters), a choice of words in
  backticks, `list of ...`, `KEY → ...` (a mapping of names you choose), or a section below.
  `number or distribution`: a plain number (always that value) or a [distribution](#distributions)
  such as `{dist: triangular, low: 3, mode: 4, high: 5}`.
- **unit** follows the field's name: `*_h` hours, `*_days` days, `*_min`/`*_minutes` minutes,
  `*_l` litres, `*_probability` a probability (0 to 1), `*_fraction` a fraction (0 to 1),
  `*_per_h`, `*_per_day`, `*_per_week`, `*_per_year` rates, `*_cells` cells, `*_millions`
  millions of cells, `*_cfu` colony-forming units; money is in the scenario's `costs.currency`;
  `—` is a plain number.
- **default**: `required` fields must be given; the others take the default when left out.
  `none` means the field is absent (or written `null`): the description says what that does.
- **allowed range** is what validation accepts; `x` is the value.

Unknown keys are errors, whole numbers must be written without a decimal point, and every number
is bounded. Rules that join several fields (exactly one of `rate_per_week` or `times_h`; site,
role, device type and step names that must exist) are checked by `twin validate`, not by the
editor.

## Validation and completion in an editor

`docs/scenario.schema.json` (written by `twin schema --json --out docs/scenario.schema.json`) is a
JSON Schema of a scenario file. With the YAML extension for VS Code (redhat.vscode-yaml, or any
editor that runs the YAML language server) it underlines mistakes as you type, completes field
names and shows these descriptions on hover. Switch it on in either of two ways:

- a first line in the scenario file, with the schema's path relative to that file (every bundled
  scenario has one):

  ```yaml
  # yaml-language-server: $schema=../docs/scenario.schema.json
  ```

  (`../../docs/scenario.schema.json` from `scenarios/layouts/`);
- or, for a whole folder, in the workspace's `.vscode/settings.json`:

  ```json
  "yaml.schemas": {"./docs/scenario.schema.json": ["scenarios/*.yaml", "scenarios/layouts/*.yaml"]}
  ```

  (sweep files, `scenarios/sweeps/*.yaml`, are another format: leave them out).

The relative path works in a source checkout. An installed package carries its scenarios in
`twin/_bundled/scenarios` without `docs/`, so there write the schema next to your files with
`twin schema --json --out scenario.schema.json` and point the modeline or `yaml.schemas` at it.
"""


def markdown_reference() -> str:
    """The scenario reference (the text of ``docs/scenario-reference.md``); see the module docstring."""
    schema = json_schema()
    defs = schema["$defs"]
    order, paths = _walk(schema, defs)
    toc = " · ".join(f"[{name}](#{_anchor(name)})" for name in order) + " · [Distributions](#distributions)"
    parts = [_HEADER, f"Sections: {toc}\n"]
    for name in order:
        node = schema if name == "Scenario" else defs[name]
        where = ", ".join(f"`{p}`" for p in paths[name]) if name != "Scenario" else "the top level of the file"
        parts.append(_section(name, node, where, level=2))
    parts.append(_distributions(defs))
    return "\n".join(parts)


def _walk(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """Sections in the order a file reads (depth first through the fields, from the top level)
    and every path at which each is used. Distributions come last, on their own."""
    order: list[str] = []
    paths: dict[str, list[str]] = {}

    def visit(name: str, node: dict[str, Any], path: str) -> None:
        paths.setdefault(name, []).append(path or "(top level)")
        if name in order:
            return
        order.append(name)
        for field, prop in node.get("properties", {}).items():
            here = f"{path}.{field}" if path else field
            for ref, suffix in _refs(prop, field):
                if ref != DISTRIBUTION and ref not in DIST_DEFS:
                    visit(ref, defs[ref], here + suffix)

    visit("Scenario", schema, "")
    return order, paths


def _refs(node: dict[str, Any], field: str, suffix: str = "") -> list[tuple[str, str]]:
    """The ``$defs`` a field's schema refers to, each with the path suffix that reaches it
    (``[i]`` for a list item, ``.NAME`` for a mapping's value)."""
    if "$ref" in node:
        return [(node["$ref"].rsplit("/", 1)[1], suffix)]
    out: list[tuple[str, str]] = []
    for alt in node.get("anyOf", []):
        out += _refs(alt, field, suffix)
    if isinstance(node.get("items"), dict):
        out += _refs(node["items"], field, suffix + "[i]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _refs(node["additionalProperties"], field, suffix + "." + _KEY_NAMES.get(field, "NAME"))
    return out


def _anchor(name: str) -> str:
    """The GitHub anchor of a section heading that is just ``name``."""
    return name.lower()


def _section(name: str, node: dict[str, Any], where: str, level: int) -> str:
    """A model's heading, where it is used, its description and its table of fields."""
    lines = [f"{'#' * level} {name}", "", f"Where: {where}.", ""]
    if node.get("description"):
        lines += [node["description"], ""]
    lines += ["| field | type | unit | default | allowed range | what it does |", "|---|---|---|---|---|---|"]
    required = set(node.get("required", []))
    long_defaults: list[tuple[str, Any]] = []
    for field, prop in node.get("properties", {}).items():
        if (name, field) in _DEFAULT_NOTES:
            default = _DEFAULT_NOTES[(name, field)]
        elif field in required:
            default = "required"
        elif "default" in prop:
            default = _value_text(prop["default"])
            if len(default) > 40:
                long_defaults.append((field, prop["default"]))
                default = "see below"
        elif name == OVERRIDE:
            default = "the catalogue's"
        else:
            default = "none"
        cells = [f"`{field}`", _type_text(prop, field), unit_of(name, field) if holds_numbers(prop) else "",
                 default, _range_text(prop), prop.get("description", "")]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for field, value in long_defaults:
        lines += ["", f"Default of `{field}`:", "", "```yaml", _yaml_text({field: value}).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _distributions(defs: dict[str, Any]) -> str:
    """The distributions section: what a distribution field accepts, then each distribution."""
    lines = [
        "## Distributions", "",
        "Where: every field typed `number or distribution` (durations, transit times, biology).", "",
        _clean(defs[DISTRIBUTION]["description"]) + " Every parameter is in the unit of the field that holds the "
        "distribution (hours for `*_h`), and is at most 1,000,000. The model draws each value by quantile from "
        "a stream indexed by patient, so patient *i* gets the same quantile of a step's duration in every "
        "layout (common random numbers).", "",
    ]
    parts = ["\n".join(lines)]
    for name in DIST_DEFS:
        parts.append(_section(name, defs[name], f"`{{dist: {name.lower()}, ...}}`", level=3))
    return "\n".join(parts)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\n", " ").replace("|", "\\|")


def _alternatives(node: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """A schema's alternatives other than ``null``, and whether ``null`` is one."""
    alts = node.get("anyOf")
    if alts is None:
        return [node], False
    return [a for a in alts if a != _NULL], _NULL in alts


def _is_distribution(node: dict[str, Any]) -> bool:
    return any(a.get("$ref") == f"#/$defs/{DISTRIBUTION}" for a in node.get("anyOf", []))


def holds_numbers(node: dict[str, Any]) -> bool:
    """Whether a field's JSON schema ``node`` holds numbers (itself, as list items or as mapping
    values) or a distribution: the fields that have a unit."""
    if _is_distribution(node):
        return True
    alts, _ = _alternatives(node)
    for a in alts:
        if a.get("type") in ("number", "integer"):
            return True
        if isinstance(a.get("items"), dict) and holds_numbers(a["items"]):
            return True
        if isinstance(a.get("additionalProperties"), dict) and holds_numbers(a["additionalProperties"]):
            return True
    return False


def _type_text(node: dict[str, Any], field: str) -> str:
    """How a field's type reads in the reference."""
    if _is_distribution(node):
        return "number or [distribution](#distributions)"
    alts, nullable = _alternatives(node)
    text = " or ".join(_one_type(a, field) for a in alts)
    return text + " or `null`" if nullable else text


def _one_type(node: dict[str, Any], field: str) -> str:
    """How one alternative of a field's type reads: a link to a model, a choice of values, or
    a plain type (:func:`_plain_type`)."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{_anchor(name)})"
    if "anyOf" in node:
        return _type_text(node, field)
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        words = [f"`{v}`" for v in node["enum"]]
        return " or ".join(words) if len(words) <= 3 else "one of " + ", ".join(words)
    return _plain_type(node, field)


def _plain_type(node: dict[str, Any], field: str) -> str:
    """How a node of a JSON type (string, number, list, mapping) reads."""
    kind = node.get("type")
    if kind == "string":
        if node.get("format") == "date":
            return "date (YYYY-MM-DD)"
        return "name" if node.get("pattern") == NAME_PATTERN else "text"
    if kind in ("integer", "number"):
        return "whole number" if kind == "integer" else "number"
    if kind == "array":
        return "list of " + _one_type(node.get("items", {}), field)
    if kind == "object":
        value = node.get("additionalProperties")
        keys = node.get("propertyNames", {})
        key = " or ".join(f"`{k}`" for k in keys["enum"]) if "enum" in keys else _KEY_NAMES.get(field, "NAME")
        if isinstance(value, dict):
            return f"{key} → {_one_type(value, field)}"
        return "mapping"
    return "any"


def _range_text(node: dict[str, Any]) -> str:
    """What validation accepts, as bounds on ``x`` (and counts of items or characters)."""
    if _is_distribution(node):
        return _bounds(node["anyOf"][0])
    alts, _ = _alternatives(node)
    texts = ["; ".join(p for p in _range_parts(a) if p) for a in alts]
    return "; ".join(t for t in texts if t)


def _range_parts(a: dict[str, Any]) -> list[str]:
    """What validation accepts of one alternative of a field's type: a number's bounds, a
    text's length, a list's items and count, a mapping's values and count."""
    parts = []
    if a.get("type") in ("number", "integer"):
        parts.append(_bounds(a))
    elif a.get("type") == "string" and "maxLength" in a:
        low = a.get("minLength", 0)
        parts.append(f"{low} to {a['maxLength']} characters" if low else f"≤ {a['maxLength']} characters")
    elif a.get("type") == "array":
        item = a.get("items", {})
        if holds_numbers(item) and _range_text(item):
            parts.append("each " + _range_text(item))
        if "minItems" in a or "maxItems" in a:
            parts.append(_count_text(a.get("minItems", 0), a.get("maxItems"), "item"))
    elif a.get("type") == "object":
        value = a.get("additionalProperties")
        if isinstance(value, dict) and holds_numbers(value) and _range_text(value):
            parts.append("each " + _range_text(value))
        if "minProperties" in a:
            parts.append(_count_text(a["minProperties"], None, "entry"))
    return parts


def _bounds(node: dict[str, Any]) -> str:
    """``low ≤ x ≤ high`` from a number's bounds (the tighter where both kinds are given)."""
    low = _bound(node, "minimum", "exclusiveMinimum", max)
    high = _bound(node, "maximum", "exclusiveMaximum", min)
    if low and high:
        return f"{_number_text(low[1])} {low[0]} x {high[0]} {_number_text(high[1])}"
    if low:
        return f"x {'≥' if low[0] == '≤' else '>'} {_number_text(low[1])}"
    if high:
        return f"x {high[0]} {_number_text(high[1])}"
    return ""


def _bound(node: dict[str, Any], inclusive: str, exclusive: str, tighter: Any) -> tuple[str, float] | None:
    """``("≤", v)`` or ``("<", v)``: the tighter of a node's inclusive and exclusive bound."""
    given = [(v, "≤") for v in [node.get(inclusive)] if v is not None]
    given += [(v, "<") for v in [node.get(exclusive)] if v is not None]
    if not given:
        return None
    best = tighter(v for v, _ in given)
    sign = "<" if (best, "<") in given else "≤"
    return sign, best


def _count_text(low: int, high: int | None, noun: str) -> str:
    plural = noun + "s" if noun != "entry" else "entries"
    if high is None:
        return f"at least {low} {noun if low == 1 else plural}"
    if low:
        return f"{low} to {high:,} {plural}"
    return f"at most {high:,} {plural}"


def _number_text(v: float) -> str:
    """A bound for people: 100,000; 0.25; 1e15; 2^63."""
    if float(v).is_integer():
        i = int(v)
        if i >= 2**32 and i & (i - 1) == 0:
            return f"2^{i.bit_length() - 1}"
        if abs(i) >= 10**7:
            return f"{float(i):.0e}".replace("e+", "e").replace("e0", "e")
        return f"{i:,}"
    return _plain_number(v)


def _plain_number(v: float) -> str:
    """A number as it would be written in YAML: 0.25, 1650, 1e-05 as 1e-5."""
    if float(v).is_integer() and abs(v) < 10**7:
        return str(int(v))
    text = f"{v:g}"
    return re.sub(r"e([+-])0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), text)


def _value_text(value: Any) -> str:
    """A default in YAML flow style: `closed`, 0.25, [mon, tue], {}, none."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""` (empty)'
    return _flow(value)


def _flow(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _plain_number(value)
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return str(value)


def _yaml_text(value: dict[str, Any]) -> str:
    """A default too long for a table cell, as a YAML block."""
    lines: list[str] = []

    def emit(v: Any, indent: int) -> None:
        for k, x in v.items():
            if isinstance(x, dict) and x:
                lines.append(f"{' ' * indent}{k}:")
                emit(x, indent + 2)
            else:
                lines.append(f"{' ' * indent}{k}: {_flow(x)}")

    emit(value, 0)
    return "\n".join(lines) + "\n"
