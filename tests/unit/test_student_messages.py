"""Messages a student understands: the mistake said in the words of the scenario file, with
the fix (indentation, which distributions exist, which characters a name may hold), warnings
for a valid scenario that does not do what was meant, and "did you mean" for names and paths."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS, TINY

import twin
from twin.cli import main
from twin.core.errors import ScenarioError
from twin.scenario.loading import scenario_from_yaml_text
from twin.scenario.yamlio import parse_yaml

CENTRALISED = SCENARIOS / "centralised.yaml"


@pytest.mark.parametrize("text,words", [
    ("name: x\nsites:\n  a: 1\n   b: 2\n", "check the indentation"),
    ("name: x\nsites:\n  a:\n    kind: hospital\n  b: 2\n - c\n", "check the indentation"),
    ("name: x\nsites:\n\ta: 1\n", "not tabs"),
])
def test_an_indentation_mistake_says_to_check_the_indentation(text, words) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_yaml(text, "my.yaml")
    assert words in str(err.value) and str(err.value).startswith("my.yaml:")


def test_an_unknown_distribution_lists_the_distributions_that_exist() -> None:
    text = TINY.replace("duration_h: 100,", "duration_h: {dist: lognormall, mean: 100, sd: 10},")
    with pytest.raises(ScenarioError) as err:
        scenario_from_yaml_text(text, "my.yaml")
    msg = str(err.value)
    assert "unknown distribution 'lognormall'" in msg and "did you mean 'lognormal'" in msg
    assert "fixed, exponential, triangular, lognormal, weibull, empirical" in msg and "tag" not in msg


def test_a_bad_name_says_which_characters_a_name_may_hold() -> None:
    with pytest.raises(ScenarioError) as err:
        scenario_from_yaml_text(TINY.replace("name: tiny", "name: my study"), "my.yaml")
    msg = str(err.value)
    assert "letters, digits, _ and -" in msg and "'my study'" in msg and "pattern" not in msg


def test_set_replacing_a_whole_mapping_warns_what_it_drops(capsys) -> None:
    assert main(["validate", str(CENTRALISED), "--set", "sites.central_factory.staff.operator=6"]) == 0
    err = capsys.readouterr().err
    assert "warning: --set sites.central_factory.staff.operator=6 replaces the whole mapping" in err
    assert all(k in err for k in ("shift", "absence_per_day", "turnover")) and "staff.operator.count=" in err
    for fine in ("sites.central_factory.staff.operator.count=6", "qc.tests[0].duration_h=72"):  # a distribution
        assert main(["validate", str(CENTRALISED), "--set", fine]) == 0
        assert "warning" not in capsys.readouterr().err, fine


def test_an_outage_after_the_horizon_warns_in_the_cli_and_the_api(capsys) -> None:
    late = "outages=[{what: power, site: central_factory, at_h: 9000, duration_h: 2}]"
    assert main(["validate", str(CENTRALISED), "--set", late]) == 0
    assert "after the horizon (hour 8760" in capsys.readouterr().err
    with pytest.warns(twin.api.ScenarioWarning, match="never happens"):
        twin.load(CENTRALISED, [late])


def test_twin_new_takes_a_path_and_suggests_bundled_names(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(SCENARIOS.parent)  # scenarios/centralised.yaml as a student types it
    assert main(["new", "mine", "--from", "scenarios/centralised.yaml", "--out", str(tmp_path / "mine.yaml")]) == 0
    assert twin.load(tmp_path / "mine.yaml", warn=False).scenario.name == "mine"
    assert main(["new", "other", "--from", "centralized", "--out", str(tmp_path / "other.yaml")]) == 2
    assert "did you mean 'centralised'" in capsys.readouterr().err


@pytest.mark.parametrize("given", ["centralised", "centralized.yaml"])
def test_a_missing_file_suggests_the_nearby_one(given, capsys) -> None:
    assert main(["validate", str(SCENARIOS / given)]) == 2
    assert f"did you mean '{CENTRALISED}'" in capsys.readouterr().err


def test_report_names_comparisons_and_a_missing_folder(tmp_path, capsys) -> None:
    assert main(["report", "--help"]) == 0
    assert "twin compare" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "folder does not exist" in capsys.readouterr().err
