"""The scenario schema and reference (`twin schema`): generated from the models, committed under
docs/, complete (every field described, with its unit), and in agreement with the models on what
a scenario file may hold."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import REPO, SCENARIOS
from pydantic import BaseModel

from twin.authoring.schema import (
    DIST_DEFS,
    JSON_PATH,
    MARKDOWN_PATH,
    holds_numbers,
    json_schema,
    json_schema_text,
    markdown_reference,
    scenario_models,
    unit_of,
)
from twin.cli import main
from twin.core.errors import ScenarioError
from twin.kernel.params import KernelParams
from twin.scenario.catalogue import DeviceType
from twin.scenario.document import Scenario
from twin.scenario.loading import scenario_from_data
from twin.scenario.locate import models_in
from twin.scenario.yamlio import load_yaml

BUNDLED = [p for folder in ("", "layouts", "validation") for p in sorted((SCENARIOS / folder).glob("*.yaml"))]
"""The bundled scenario files (not scenarios/sweeps/: sweep files are another format)."""


def plain(value: Any) -> Any:
    """Loaded YAML as JSON data: dates (which the loader makes ``datetime.date``) as ISO text."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json_schema()


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def reference() -> str:
    return markdown_reference()


def centralised() -> dict[str, Any]:
    data, _ = load_yaml(SCENARIOS / "centralised.yaml")
    return data


def all_models() -> list[type[BaseModel]]:
    """Every model a scenario reaches, walked here independently of twin.schema: the scenario's
    models recursively, and the catalogue's (a site may override its fields)."""
    found: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model not in found:
            found.append(model)
            for f in model.model_fields.values():
                for sub in models_in(f.annotation):
                    visit(sub)

    visit(Scenario)
    visit(DeviceType)
    return found


# -- committed files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path,flag,generate", [(MARKDOWN_PATH, "--markdown", markdown_reference),
                                                (JSON_PATH, "--json", json_schema_text)])
def test_committed_files_are_up_to_date(path, flag, generate) -> None:
    """docs/ holds exactly what `twin schema` writes now (regenerate after changing a model)."""
    committed = REPO / path
    current = committed.read_bytes().decode("utf-8") if committed.exists() else None
    assert current == generate(), f"{path} is out of date: run `twin schema {flag} --out {path}`"


def test_output_is_deterministic() -> None:
    assert markdown_reference() == markdown_reference()
    assert json_schema_text() == json_schema_text()


# -- the models are documented -------------------------------------------------------------------------


def test_every_field_of_every_model_has_a_description() -> None:
    missing = [f"{m.__name__}.{name}" for m in all_models() for name, info in m.model_fields.items()
               if not (info.description or "").strip()]
    missing += [f"KernelParams.{f.name}" for f in dataclasses.fields(KernelParams) if not f.metadata.get("doc")]
    assert not missing, f"fields without a description: {missing}"


def test_every_scenario_model_has_a_section(reference) -> None:
    """The reference covers every model a scenario file fills in (the catalogue entry itself is
    not one: a site overrides some of its fields, in the DeviceOverride section)."""
    walked = {m.__name__ for m in all_models()} - {"DeviceType"}
    assert {m.__name__ for m in scenario_models()} == walked
    for name in sorted(walked):
        heading = f"### {name}" if name in DIST_DEFS else f"## {name}"
        assert f"\n{heading}\n" in reference, f"no section for {name}"


def test_the_reference_mentions_every_field(reference) -> None:
    names = {info.alias or name for m in scenario_models() for name, info in m.model_fields.items()}
    names |= DeviceType.overridable() | {f.name for f in dataclasses.fields(KernelParams)}
    missing = sorted(n for n in names if f"| `{n}` |" not in reference)
    assert not missing, f"fields missing from {MARKDOWN_PATH}: {missing}"


def _fields_with_units(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = [("Scenario", k, v) for k, v in schema["properties"].items()]
    out += [(name, k, v) for name, d in schema["$defs"].items() for k, v in d.get("properties", {}).items()]
    return [(m, f, node) for m, f, node in out if holds_numbers(node)]


def test_every_number_has_a_unit_and_its_description_says_it(schema) -> None:
    """A number's unit comes from its name (``*_h`` hours, ...); each numeric field has one, and
    its description names it, so hovering in an editor tells the unit too."""
    keyword = {"hours": "hour", "—": "", "the field's unit": "unit of the field", "fraction or cells": "cells",
               "units or people": "units or people", "relative share": "share", "relative weight": "weight",
               "replications": "replications", "patients per week": "per week", "people per year": "per year",
               "currency per m² per year": "per m² per year"}
    problems = []
    for model, field, node in _fields_with_units(schema):
        unit = unit_of(model, field)
        if not unit:
            problems.append(f"{model}.{field}: no unit (name it by the convention or add it to twin.schema)")
            continue
        word = keyword.get(unit, unit)
        if word and word.lower() not in node.get("description", "").lower():
            problems.append(f"{model}.{field}: unit {unit!r} but the description does not say {word!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("model,field,unit", [
    ("Scenario", "horizon_days", "days"), ("Step", "staff_wait_limit_h", "hours"),
    ("Generator", "start_delay_min", "minutes"), ("PowerSupply", "ups_minutes", "minutes"),
    ("LN2Supply", "tank_l", "litres"), ("Generator", "fail_to_start_probability", "probability"),
    ("Referrals", "rate_per_week", "patients per week"), ("Outage", "rate_per_year", "per year"),
    ("Dropout", "hazard_per_day", "per day"), ("EndPoint", "target_cells", "cells"),
    ("Biology", "starting_cells_millions", "millions of cells"), ("InProcessCheck", "lod_cfu", "CFU"),
    ("DeviceOverride", "co2_l_per_h", "litres per hour"), ("ShiftBlock", "start_h", "hour of day"),
    ("Triangular", "mode", "the field's unit"), ("Costs", "labour_per_h", "currency per hour"),
    ("KernelParameters", "death_stress_per_h", "per hour"), ("KernelParameters", "temp_set_c", "°C"),
])
def test_units_follow_the_naming_convention(model, field, unit) -> None:
    assert unit_of(model, field) == unit


# -- the JSON schema -------------------------------------------------------------------------------------


def test_the_schema_is_valid_draft_2020_12(schema) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"]


def test_the_schema_uses_keywords_an_editor_understands(schema) -> None:
    """The YAML language server validates with draft-07 semantics: keep to the keywords that mean
    the same there ($defs resolves as a JSON pointer)."""
    allowed = {"$schema", "$id", "$comment", "$defs", "$ref", "title", "description", "default", "type", "enum",
               "const", "properties", "additionalProperties", "required", "propertyNames", "items", "anyOf",
               "oneOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
               "pattern", "format", "minItems", "maxItems", "minProperties"}
    used: set[str] = set()

    def visit(node: Any, in_properties: bool = False) -> None:
        if isinstance(node, list):
            for v in node:
                visit(v)
        elif isinstance(node, dict):
            for k, v in node.items():
                if not in_properties:
                    used.add(k)
                if k in ("default", "const", "enum"):
                    continue
                visit(v, in_properties=k in ("properties", "$defs") and not in_properties)

    visit(schema)
    assert used <= allowed, f"keywords outside the common set: {sorted(used - allowed)}"


def test_models_that_forbid_extra_keys_forbid_them_in_the_schema(schema) -> None:
    for name, node in schema["$defs"].items():
        if "properties" in node:
            assert node.get("additionalProperties") is False, name
    assert schema["additionalProperties"] is False


def test_distribution_fields_take_a_number_or_a_named_distribution(schema, validator) -> None:
    step = schema["$defs"]["ClinicalStep"]["properties"]["duration_h"]
    assert step["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 1e6}
    assert step["anyOf"][1] == {"$ref": "#/$defs/Distribution"}
    for name in DIST_DEFS:
        assert "dist" in schema["$defs"][name]["required"], name
    sub = {"$ref": "#/$defs/ClinicalStep", "$defs": schema["$defs"]}
    check = jsonschema.Draft202012Validator(sub)
    for good in (4, 0.5, {"dist": "fixed", "value": 3}, {"dist": "exponential", "mean": 2},
                 {"dist": "triangular", "low": 1, "mode": 2, "high": 3}, {"dist": "lognormal", "mean": 5, "sd": 1},
                 {"dist": "weibull", "shape": 1.5, "scale": 100}, {"dist": "empirical", "values": [1, 2]}):
        assert check.is_valid({"duration_h": good}), good
    for bad in (-1, 2e6, "4h", True, {"value": 3}, {"dist": "normal", "mean": 1}, {"dist": "fixed", "value": 3, "x": 1},
                {"dist": "exponential", "mean": 0}):
        assert not check.is_valid({"duration_h": bad}), bad


def test_device_overrides_list_the_catalogue_fields_a_site_may_change(schema) -> None:
    override = schema["$defs"]["DeviceOverride"]
    assert set(override["properties"]) == DeviceType.overridable()
    assert override["additionalProperties"] is False
    assert schema["$defs"]["DevicePool"]["properties"]["override"]["$ref"] == "#/$defs/DeviceOverride"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_bundled_scenarios_are_valid_and_name_the_schema(path: Path, validator) -> None:
    """Each bundled scenario passes the schema, and its first line points the YAML language
    server at the committed schema by a path relative to the file."""
    data, _ = load_yaml(path)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(plain(data))]
    assert not errors, errors
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix), f"{path}: first line {first!r}"
    assert (path.parent / first.removeprefix(prefix)).resolve() == (REPO / JSON_PATH).resolve()


def test_sweep_files_do_not_claim_the_scenario_schema() -> None:
    for path in sorted((SCENARIOS / "sweeps").glob("*.yaml")):
        assert "yaml-language-server" not in path.read_text(encoding="utf-8"), path


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def _rename(data: dict[str, Any], path: tuple[Any, ...], new: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[new] = node.pop(path[-1])
    return out


MISTAKES = {
    "typo in a key": lambda d: _rename(d, ("referrals", "rate_per_week"), "rate_per_wek"),
    "negative duration": lambda d: _set(d, ("recipe", 1, "duration_h"), -48),
    "negative distribution parameter": lambda d: _set(d, ("apheresis", "duration_h"),
                                                      {"dist": "triangular", "low": -3, "mode": 4, "high": 5}),
    "a distribution without dist": lambda d: _set(d, ("receipt", "duration_h"), {"mean": 2}),
    "probability above 1": lambda d: _set(d, ("dropout", "hazard_per_day"), 11),
    "a count with a decimal part": lambda d: _set(d, ("sites", "central_factory", "devices", "clinimacs_prodigy",
                                                      "count"), 14.5),
    "a headcount that is yes/no": lambda d: _set(d, ("sites", "city_hospital", "staff", "infusion_nurse"), True),
    "an unknown device override": lambda d: _set(d, ("sites", "central_factory", "devices", "clinimacs_prodigy",
                                                     "override"), {"batches_per_unt": 2}),
    "an unknown kernel parameter": lambda d: _set(d, ("biology", "kernel"), {"death_stress": 0.1}),
    "a site name that is not a name": lambda d: _rename(d, ("sites", "city_hospital"), "1 city"),
    "an unknown choice": lambda d: _set(d, ("recipe", 0, "processing"), "sealed"),
    "not a date": lambda d: _set(d, ("start_date",), "2027-02-30"),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_schema_and_the_model_both_refuse(mistake, validator) -> None:
    data = MISTAKES[mistake](centralised())
    assert not validator.is_valid(plain(data)), f"the schema accepts {mistake}"
    if mistake == "not a date":  # the YAML loader itself refuses 2027-02-30; the model sees no such text
        return
    with pytest.raises(ScenarioError):
        scenario_from_data(data, base_dir=SCENARIOS)


def test_a_typo_names_the_field_in_the_schema_error(validator) -> None:
    data = MISTAKES["typo in a key"](centralised())
    messages = [e.message for e in validator.iter_errors(plain(data))]
    assert any("rate_per_wek" in m for m in messages), messages


# -- the command ------------------------------------------------------------------------------------------


def test_cli_writes_either_format_to_stdout_or_a_file(tmp_path, capsys) -> None:
    assert main(["schema", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()
    out = tmp_path / "sub" / "reference.md"
    assert main(["schema", "--markdown", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes() == markdown_reference().encode("utf-8")


@pytest.mark.parametrize("argv", [["schema"], ["schema", "--json", "--markdown"]])
def test_cli_needs_exactly_one_format(argv, capsys) -> None:
    assert main(argv) == 2
    assert "--json" in capsys.readouterr().err


def test_cli_reports_an_unwritable_file_as_bad_input(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["schema", "--json", "--out", str(blocker / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and "Traceback" not in err
