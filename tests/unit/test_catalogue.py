"""The device catalogue (``equipment/*.yaml``): loading, sourcing of numbers, scenario overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twin.core.errors import ScenarioError
from twin.scenario.catalogue import DeviceType, bundled_dir, load_catalogue, load_device_type
from twin.scenario.loading import scenario_from_yaml_text

REPO = Path(__file__).resolve().parents[2]
EQUIPMENT = REPO / "equipment"
SCENARIO_TEXT = (REPO / "scenarios" / "centralised.yaml").read_text(encoding="utf-8")
BUNDLED_FILES = sorted(EQUIPMENT.glob("*.yaml"))

REQUIRED_TYPES = {
    "clinimacs_prodigy",
    "lonza_cocoon",
    "grex_incubator",
    "cell_washer",
    "controlled_rate_freezer",
    "ln2_storage",
    "biosafety_cabinet",
}

PRODIGY_POOL = "clinimacs_prodigy: {count: 14}"


def entry(name: str = "test_device", batches: str = "2", sources: str = "  batches_per_unit: assumption, for the test\n") -> str:
    """A catalogue file's text; ``sources`` is the indented body of the ``sources`` mapping."""
    return (
        f"name: {name}\n"
        "display_name: Test device\n"
        "manufacturer: nobody\n"
        "category: other\n"
        "description: a device for tests\n"
        f"batches_per_unit: {batches}\n"
        "sources:\n"
        f"{sources}"
    )


def write(folder: Path, stem: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    assert text.count(needle) == 1, f"test setup: {needle!r} must occur exactly once"
    return text.count("\n", 0, text.index(needle)) + 1


def with_prodigy_override(override: str) -> str:
    assert SCENARIO_TEXT.count(PRODIGY_POOL) == 1
    return SCENARIO_TEXT.replace(PRODIGY_POOL, f"clinimacs_prodigy: {{count: 14, override: {override}}}")


# -- the bundled catalogue --------------------------------------------------------------------


def test_bundled_dir_is_the_equipment_folder() -> None:
    """In a source checkout the bundled catalogue is the repository's equipment/ folder."""
    assert bundled_dir("equipment").resolve() == EQUIPMENT.resolve()


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.stem)
def test_every_bundled_file_loads(path: Path) -> None:
    """Each catalogue file validates on its own and is named after its file."""
    dt = load_device_type(path)
    assert isinstance(dt, DeviceType)
    assert dt.name == path.stem


def test_catalogue_has_the_required_types() -> None:
    """The catalogue covers the platforms and ancillary equipment the scenarios need."""
    types = load_catalogue(EQUIPMENT)
    assert set(types) >= REQUIRED_TYPES
    assert set(types) == {p.stem for p in BUNDLED_FILES}


@pytest.mark.parametrize("path", BUNDLED_FILES, ids=lambda p: p.stem)
def test_every_number_has_a_real_source(path: Path) -> None:
    """Every numeric field carries a source: a citation (with a year) or an explained assumption."""
    dt = load_device_type(path)
    numeric = [
        f for f in DeviceType.model_fields
        if isinstance(getattr(dt, f), (int, float)) and not isinstance(getattr(dt, f), bool)
    ]
    assert "batches_per_unit" in numeric
    for fname in numeric:
        source = dt.sources.get(fname, "").strip()
        assert source, f"{path.name}: {fname} has no source"
        if source.lower().startswith("assumption"):
            assert len(source) > len("assumption: ") + 10, f"{path.name}: {fname}: say why"
        else:
            assert re.search(r"\b(19|20)\d\d\b", source), f"{path.name}: {fname}: cite with a year"


def test_capacities_are_plausible() -> None:
    """Spot checks of the numbers the model uses: closed systems hold one patient each."""
    types = load_catalogue(EQUIPMENT)
    for name in ("clinimacs_prodigy", "lonza_cocoon", "biosafety_cabinet", "cell_washer"):
        assert types[name].batches_per_unit == 1
    assert types["ln2_storage"].batches_per_unit > 1
    assert types["grex_incubator"].batches_per_unit > 1


# -- the loader refuses bad entries ---------------------------------------------------------------


def test_a_good_test_entry_loads(tmp_path) -> None:
    """The helper's entry is valid, so the refusals below come from the one change each makes."""
    dt = load_device_type(write(tmp_path, "test_device", entry()))
    assert dt.batches_per_unit == 2


@pytest.mark.parametrize(
    "sources",
    ["  description: assumption, the description is made up\n", "  {}\n"],
    ids=["other-field-only", "empty"],
)
def test_number_without_source_is_refused(sources: str, tmp_path) -> None:
    """A catalogue entry whose batches_per_unit has no source is refused, naming file and field."""
    path = write(tmp_path, "test_device", entry(sources=sources))
    with pytest.raises(ScenarioError) as info:
        load_device_type(path)
    err = info.value
    assert err.file == str(path)
    assert "batches_per_unit" in str(err) and "sources" in str(err)
    assert str(err).startswith(f"{path}:")


def test_default_number_still_needs_a_source(tmp_path) -> None:
    """Leaving batches_per_unit at its default (1) does not excuse it from a source."""
    text = entry(sources="  description: assumption, the description is made up\n").replace("batches_per_unit: 2\n", "")
    path = write(tmp_path, "test_device", text)
    with pytest.raises(ScenarioError, match="batches_per_unit"):
        load_device_type(path)


def test_number_without_source_is_located(tmp_path) -> None:
    """The missing-source error points at the sources mapping (or the unsourced field), not line 1."""
    text = entry(sources="  description: assumption, the description is made up\n")
    path = write(tmp_path, "test_device", text)
    with pytest.raises(ScenarioError) as info:
        load_device_type(path)
    assert info.value.field in ("sources", "batches_per_unit", "sources.batches_per_unit")
    assert info.value.line in (line_of(text, "sources:"), line_of(text, "batches_per_unit: 2"))


def test_too_short_source_is_refused(tmp_path) -> None:
    """A source must say something: an empty string is refused at its line."""
    text = entry(sources='  batches_per_unit: ""\n')
    path = write(tmp_path, "test_device", text)
    with pytest.raises(ScenarioError) as info:
        load_device_type(path)
    assert info.value.field == "sources.batches_per_unit"
    assert info.value.line == line_of(text, '  batches_per_unit: ""')


def test_blank_source_is_refused(tmp_path) -> None:
    """A source made only of spaces is no source."""
    path = write(tmp_path, "test_device", entry(sources='  batches_per_unit: "    "\n'))
    with pytest.raises(ScenarioError):
        load_device_type(path)


def test_source_for_unknown_field_is_refused(tmp_path) -> None:
    """'sources' may only name fields of the entry (catches typos such as batches_per_units)."""
    text = entry(sources="  batches_per_unit: assumption, for the test\n  batches_per_units: assumption, a typo\n")
    path = write(tmp_path, "test_device", text)
    with pytest.raises(ScenarioError, match="batches_per_units"):
        load_device_type(path)


def test_name_must_match_file_stem(tmp_path) -> None:
    """An entry named differently from its file is refused, at the name line."""
    text = entry(name="other_device")
    path = write(tmp_path, "test_device", text)
    with pytest.raises(ScenarioError) as info:
        load_device_type(path)
    err = info.value
    assert err.file == str(path) and err.field == "name" and err.line == line_of(text, "name: other_device")
    assert "other_device" in err.message and "test_device" in err.message


@pytest.mark.parametrize(
    "old,new,field",
    [
        ("batches_per_unit: 2", "batches_per_unit: 0", "batches_per_unit"),
        ("batches_per_unit: 2", "batches_per_unit: two", "batches_per_unit"),
        ("batches_per_unit: 2", "batches_per_unit: 2.5", "batches_per_unit"),
        ("batches_per_unit: 2", "batches_per_unit: yes", "batches_per_unit"),
        ("category: other", "category: centrifuge", "category"),
        ("manufacturer: nobody\n", "", "manufacturer"),
        ("description: a device for tests", "description: a device for tests\ncolour: blue", "colour"),
    ],
    ids=["zero", "word", "fraction", "yaml11-bool", "bad-category", "missing-field", "unknown-field"],
)
def test_bad_entry_is_refused_with_field(old: str, new: str, field: str, tmp_path) -> None:
    """Bad values name the file, the line and the field."""
    text = entry().replace(old, new)
    path = write(tmp_path, "test_device", text)
    with pytest.raises(ScenarioError) as info:
        load_device_type(path)
    err = info.value
    assert err.file == str(path) and err.field == field and err.line is not None


def test_catalogue_folder_problems(tmp_path) -> None:
    """A missing or empty catalogue folder is an input error, as is one bad file in a folder."""
    with pytest.raises(ScenarioError, match="not found"):
        load_catalogue(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioError, match="no \\*.yaml"):
        load_catalogue(tmp_path / "empty")
    folder = tmp_path / "cat"
    write(folder, "test_device", entry())
    bad = write(folder, "broken_device", entry(name="broken_device", batches="-1"))
    with pytest.raises(ScenarioError) as info:
        load_catalogue(folder)
    assert info.value.file == str(bad)


def test_scenario_can_use_its_own_catalogue(tmp_path) -> None:
    """A scenario's ``catalogue:`` folder (relative to the scenario) replaces the bundled one."""
    folder = tmp_path / "my_equipment"
    for p in BUNDLED_FILES:
        write(folder, p.stem, p.read_text(encoding="utf-8"))
    prodigy = folder / "clinimacs_prodigy.yaml"
    prodigy.write_text(prodigy.read_text().replace("batches_per_unit: 1", "batches_per_unit: 3"))
    text = SCENARIO_TEXT.replace("replications: 5\n", "replications: 5\ncatalogue: my_equipment\n", 1)
    loaded = scenario_from_yaml_text(text, base_dir=tmp_path)
    assert loaded.device_types[("central_factory", "clinimacs_prodigy")].batches_per_unit == 3


def test_missing_scenario_catalogue_is_located(tmp_path) -> None:
    """A ``catalogue:`` folder that does not exist is an error at that line."""
    text = SCENARIO_TEXT.replace("replications: 5\n", "replications: 5\ncatalogue: nowhere\n", 1)
    with pytest.raises(ScenarioError) as info:
        scenario_from_yaml_text(text, base_dir=tmp_path)
    assert info.value.field == "catalogue" and info.value.line == line_of(text, "catalogue: nowhere")


# -- scenario overrides --------------------------------------------------------------------------


def test_override_changes_the_effective_type() -> None:
    """``override: {batches_per_unit: 2}`` changes that pool's device type and re-sources the field."""
    base = scenario_from_yaml_text(SCENARIO_TEXT)
    loaded = scenario_from_yaml_text(with_prodigy_override("{batches_per_unit: 2}"))
    key = ("central_factory", "clinimacs_prodigy")
    assert base.device_types[key].batches_per_unit == 1
    effective = loaded.device_types[key]
    assert effective.batches_per_unit == 2
    assert effective.sources["batches_per_unit"] == "scenario override"
    assert effective.name == "clinimacs_prodigy"
    # only the overridden pool changes; other pools keep the catalogue's type
    for k, t in base.device_types.items():
        if k != key:
            assert loaded.device_types[k] == t
    # the override is part of the experiment record
    assert loaded.scenario_hash != base.scenario_hash
    # and the catalogue itself is untouched
    assert load_catalogue(EQUIPMENT)["clinimacs_prodigy"].batches_per_unit == 1


def test_device_types_cover_every_pool() -> None:
    """``device_types`` has one entry per (site, type) pool and nothing else."""
    loaded = scenario_from_yaml_text(SCENARIO_TEXT)
    pools = {(s, t) for s, site in loaded.scenario.sites.items() for t in site.devices}
    assert set(loaded.device_types) == pools
    assert ("central_factory", "ln2_storage") in pools


@pytest.mark.parametrize(
    "override,words",
    [
        ("{batches_per_unit: 0}", ("batches_per_unit", "greater than or equal to 1")),
        ("{batches_per_unit: two}", ("batches_per_unit", "integer")),
        ("{batches_per_unit: no}", ("batches_per_unit", "integer")),
        ("{batches_per_unt: 2}", ("batches_per_unt",)),
    ],
    ids=["zero", "word", "yaml11-bool", "unknown-field"],
)
def test_bad_override_is_located(override: str, words: tuple[str, ...]) -> None:
    """A bad override is a ScenarioError at the pool's override, naming the offending field."""
    text = with_prodigy_override(override)
    with pytest.raises(ScenarioError) as info:
        scenario_from_yaml_text(text, source="scn.yaml")
    err = info.value
    assert err.file == "scn.yaml"
    assert err.line == line_of(text, "override:")
    assert err.field.startswith("sites.central_factory.devices.clinimacs_prodigy.override")
    assert "override" in err.message
    for w in words:
        assert w in err.message


def test_override_cannot_change_identity() -> None:
    """An override changes capacities, not what the device is (name, category)."""
    with pytest.raises(ScenarioError):
        scenario_from_yaml_text(with_prodigy_override("{name: lonza_cocoon}"))
