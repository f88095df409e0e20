"""Dotted-path overrides (`twin run --set FIELD=VALUE`): parsed, validated like the file, recorded."""

from __future__ import annotations

import json

import pytest
from conftest import SCENARIOS

from twin.cli import main
from twin.core.errors import InputError
from twin.scenario.loading import load_scenario
from twin.scenario.overrides import apply_overrides, split_path

CENTRAL = str(SCENARIOS / "centralised.yaml")


@pytest.mark.parametrize(
    "text,parts",
    [
        ("referrals.rate_per_week", ("referrals", "rate_per_week")),
        ("recipe[2].duration_h", ("recipe", 2, "duration_h")),
        ("recipe.2.duration_h.mode", ("recipe", 2, "duration_h", "mode")),
        ("seed", ("seed",)),
    ],
)
def test_split_path(text, parts) -> None:
    assert split_path(text) == parts


@pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b"])
def test_bad_paths_are_refused(bad) -> None:
    with pytest.raises(InputError):
        split_path(bad)


def test_apply_overrides_copies_and_reads_values_as_yaml() -> None:
    data = {"a": {"b": 1}, "l": [{"x": 1}, {"x": 2}]}
    out = apply_overrides(data, ["a.b=2.5", "l[1].x={dist: fixed, value: 3}", "new.key=true"])
    assert out == {"a": {"b": 2.5}, "l": [{"x": 1}, {"x": {"dist": "fixed", "value": 3}}], "new": {"key": True}}
    assert data == {"a": {"b": 1}, "l": [{"x": 1}, {"x": 2}]}, "the input is not modified"


def test_override_is_validated_hashed_and_recorded(tmp_path) -> None:
    """An override changes the validated scenario (and so its hash); the run records it; --seed
    is the same as --set seed=S."""
    base = load_scenario(CENTRAL)
    more = load_scenario(CENTRAL, ["referrals.rate_per_week=12"])
    assert more.scenario.referrals.rate_per_week == 12
    assert more.scenario_hash != base.scenario_hash
    assert more.file_sha256 == base.file_sha256
    assert load_scenario(CENTRAL, ["seed=5"]).scenario_hash == load_scenario(CENTRAL, ["seed=5"]).scenario_hash

    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", CENTRAL, "-r", "1", "-q", "--out", str(a), "--seed", "5"]) == 0
    assert main(["run", CENTRAL, "-r", "1", "-q", "--out", str(b), "--set", "seed=5"]) == 0
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    assert sa["provenance"]["scenario_hash"] == sb["provenance"]["scenario_hash"]
    assert sa["kpis"] == sb["kpis"]
    assert sa["provenance"]["root_seed"] == 5 and sa["provenance"]["overrides"] == ["seed=5"]


@pytest.mark.parametrize(
    "assignment,words",
    [
        ("referrals.rate_per_week=-1", ("referrals.rate_per_week", "greater than 0", "--set")),
        ("referrals.rate_per_wek=3", ("rate_per_week", "--set")),
        ("recipe[9].name=x", ("out of range",)),
        ("sites.central_factory.devices.clinimacs_prodigy.count=1.5", ("integer", "--set")),
        ("no_equals_sign", ("FIELD=VALUE",)),
    ],
)
def test_bad_override_exits_2_with_one_clear_line(assignment, words, capsys) -> None:
    assert main(["validate", CENTRAL, "--set", assignment]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    for w in words:
        assert w in err, err
