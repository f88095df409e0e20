"""``twin new`` and ``twin explain``: the section texts, the explained copy of a bundled scenario,
the plain-words description and the expected-load arithmetic (no simulation here; the estimate
against the simulation is in tests/behaviour/test_explain_load.py)."""

from __future__ import annotations

import math
import re

import pytest
from conftest import SCENARIOS, build, centralised_data, multisite_data

from twin.authoring.explain import SECTIONS, describe
from twin.authoring.new import bundled_scenarios, explained_text, new_scenario, retarget_modeline
from twin.authoring.offered_load import device_availability, expected_load, staff_h_per_week
from twin.cli import main
from twin.core.errors import InputError
from twin.core.vocab import CHAIRS, SLOTS
from twin.scenario.biology import expected_culture_h
from twin.scenario.calendars import on_duty_h_per_week, shift_intervals
from twin.scenario.distributions import Fixed
from twin.scenario.document import Scenario
from twin.scenario.loading import load_scenario
from twin.scenario.staffing import ShiftBlock, StaffRole

BUNDLED = bundled_scenarios()
CENTRALISED = str(SCENARIOS / "centralised.yaml")


def test_every_scenario_field_has_an_explanation() -> None:
    """One text per top-level field, no more: a new field needs its explanation."""
    assert set(SECTIONS) == set(Scenario.model_fields)


def test_bundled_scenarios_are_the_scenario_files_but_sweeps() -> None:
    assert {"centralised", "academic_grex", "outage_power", "layouts/point_of_care"} <= set(BUNDLED)
    assert not any(k.startswith("sweeps") for k in BUNDLED)


# -- twin new ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(BUNDLED))
def test_new_copy_means_the_bundled_scenario_but_its_name(source: str, tmp_path) -> None:
    """The copy validates, equals the bundled scenario field by field apart from ``name`` (and
    its device types too), keeps every original comment line in order, and explains every
    top-level field it has."""
    path = new_scenario("my_copy", source, tmp_path / "copy.yaml")
    original, copy = load_scenario(BUNDLED[source]), load_scenario(path)
    a, b = original.scenario.model_dump(), copy.scenario.model_dump()
    assert b.pop("name") == "my_copy"
    a.pop("name")
    assert a == b
    assert original.device_types == copy.device_types
    text, old = path.read_text(), BUNDLED[source].read_text()
    def comments(lines: list[str]) -> list[str]:  # the modeline's path is retargeted: checked below
        return [ln for ln in lines if "#" in ln and ln.strip() != "#" and "yaml-language-server" not in ln]

    kept = comments([ln for ln in text.splitlines() if ln in old.splitlines()])
    assert kept == comments(old.splitlines())
    if old.startswith("# yaml-language-server:"):
        assert text.startswith("# yaml-language-server: $schema=") and text.count("yaml-language-server") == 1
    for key in re.findall(r"^([a-z_]+):", old, re.MULTILINE):
        if key in SECTIONS:
            assert SECTIONS[key][:30] in text.split(f"\n{key}:")[0].rsplit("\n\n", 1)[-1]


def test_new_puts_the_explanation_above_the_fields_own_comments() -> None:
    text = explained_text((SCENARIOS / "centralised.yaml").read_text(), "x", "centralised")
    block = text.split("\napheresis:")[0].rsplit("\n\n", 1)[-1].splitlines()
    assert block[0].startswith("# -- apheresis ---")
    assert block[1].startswith("# Collecting the patient's T cells")
    assert block[-1].startswith("# Leukapheresis ~3-4 h")  # the original's source comment, next to its field
    assert re.search(r"^name: x$", text, re.MULTILINE)
    assert text.index("# Centralised layout:") < text.index("# name: ")  # the file's opening comment stays first


def test_new_keeps_an_editor_modeline_first_and_pointing_at_the_schema(tmp_path) -> None:
    """A bundled file's first line may tell editors where its JSON schema is, relative to the
    file: the copy keeps it first, with the path made relative to where the copy is written."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "scenario.schema.json").write_text("{}")
    (tmp_path / "scenarios").mkdir()
    modeline = "# yaml-language-server: $schema=../docs/scenario.schema.json"
    bundled = (SCENARIOS / "centralised.yaml").read_text()
    text = bundled if bundled.startswith(modeline + "\n") else modeline + "\n" + bundled
    out = explained_text(text, "x", "centralised")
    assert out.splitlines()[0] == modeline and out.count("yaml-language-server") == 1
    moved = retarget_modeline(out, tmp_path / "scenarios", tmp_path / "work" / "students")
    assert moved.splitlines()[0] == "# yaml-language-server: $schema=../../docs/scenario.schema.json"
    assert moved.splitlines()[1:] == out.splitlines()[1:]
    assert retarget_modeline(out, tmp_path / "elsewhere", tmp_path) == out  # no schema there: left alone


def test_new_refuses_to_overwrite(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yaml").write_text("precious")
    assert main(["new", "mine", "--from", "centralised"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: mine.yaml already exists") and err.count("\n") == 1
    assert (tmp_path / "mine.yaml").read_text() == "precious"
    assert main(["new", "mine", "--from", "centralised", "--out", "other/mine.yaml"]) == 0
    assert load_scenario(tmp_path / "other" / "mine.yaml").scenario.name == "mine"


def test_new_unknown_source_lists_the_choices(tmp_path, capsys) -> None:
    assert main(["new", "x", "--from", "centralized", "--out", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert "unknown bundled scenario 'centralized'" in err
    for name in BUNDLED:
        assert name in err
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("name", ["2fast", "with space", "a" * 65, "dot.ted"])
def test_new_refuses_a_bad_name(name: str, tmp_path) -> None:
    with pytest.raises(InputError, match="bad scenario name"):
        new_scenario(name, "centralised", tmp_path / "x.yaml")


# -- twin explain: the words ---------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(BUNDLED))
def test_explain_names_every_site_step_and_outage(source: str) -> None:
    loaded = load_scenario(BUNDLED[source])
    sc, text = loaded.scenario, describe(loaded)
    for site in sc.sites:
        assert f"  {site}: a " in text
    for i, st in enumerate(sc.recipe, 1):
        assert f"  {i}. {st.name} " in text
    for i, o in enumerate(sc.outages):
        assert f"  {o.label(i)}: " in text
    for key in ("recipe", "sites", "referrals", "qc"):
        assert SECTIONS[key][:60].rsplit(" ", 1)[0] in text
    assert "Expected load (before anything runs)" in text


def test_explain_cli_ok_and_bad_input(capsys) -> None:
    assert main(["explain", CENTRALISED]) == 0
    out = capsys.readouterr().out
    assert "clinimacs_prodigy" in out and "warning:" not in out
    assert main(["explain", CENTRALISED, "--set", "referrals.rate_per_wek=9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'rate_per_week'" in err
    assert main(["explain", CENTRALISED, "--set", "recipe[0].duration_h.low=-5"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_demand_above_capacity_warns_but_exits_0(capsys) -> None:
    assert main(["explain", CENTRALISED, "--set", "referrals.rate_per_week=30"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^warning: clinimacs_prodigy at central_factory: rho 4\.\d\d: demand exceeds capacity: queues "
                     r"will grow without bound$", out, re.MULTILINE)


def test_near_saturation_is_a_note() -> None:
    est = expected_load(load_scenario(CENTRALISED, ["referrals.rate_per_week=6.5"]))
    assert est.row("central_factory", "clinimacs_prodigy").level == "near"
    text = describe(load_scenario(CENTRALISED, ["referrals.rate_per_week=6.5"]), est)
    assert re.search(r"^note: clinimacs_prodigy at central_factory: rho 0\.8\d: near saturation: long waits$", text,
                     re.MULTILINE)


def test_a_staff_outage_shows_the_load_while_it_lasts() -> None:
    est = expected_load(load_scenario(SCENARIOS / "staff_shortage.yaml"))
    (o,) = est.during_outages
    assert (o.outage, o.units_out, o.row.resource) == ("flu_wave", 2, "operator")
    assert o.rho == pytest.approx(2 * o.row.rho)


# -- the expected-load arithmetic ----------------------------------------------------------------


def test_rho_scales_linearly_with_the_referral_rate() -> None:
    base = expected_load(load_scenario(CENTRALISED, ["referrals.rate_per_week=3"]))
    for rate in (1.5, 6, 12, 24):
        est = expected_load(load_scenario(CENTRALISED, [f"referrals.rate_per_week={rate}"]))
        assert [r.rho for r in est.rows] == pytest.approx([r.rho * rate / 3 for r in base.rows], rel=1e-12)
        assert [r.capacity_h_per_week for r in est.rows] == [r.capacity_h_per_week for r in base.rows]


def test_prodigy_load_by_hand() -> None:
    """centralised: 6 batches a week hold a Prodigy for weld 0.1 + selection (20+24+30)/3 +
    connector 0.1 + transduction 48 + expansion (1 h hands-on + the culture) + harvest 6 +
    changeover 2 hours; 14 units up 4000/4024 of the time, less 8 h maintenance in 182 days."""
    loaded = load_scenario(CENTRALISED)
    est = expected_load(loaded)
    culture = est.culture_h[("central_factory", "expansion")]
    hold = 0.1 + 74 / 3 + 0.1 + 48 + 1 + culture + 6 + 2
    assert est.batch_hours[("central_factory", "clinimacs_prodigy")] == pytest.approx(hold)
    avail = 4000 / 4024 * (1 - 8 / (182 * 24))
    row = est.row("central_factory", "clinimacs_prodigy")
    assert row.demand_h_per_week == pytest.approx(6 * hold)
    assert row.capacity_h_per_week == pytest.approx(14 * 168 * avail)
    prodigy = loaded.device_types[("central_factory", "clinimacs_prodigy")]
    assert device_availability(loaded.scenario, "central_factory", "clinimacs_prodigy", prodigy) == pytest.approx(avail)
    # The cabinet: the open transfer (0.5 h) is made in the formulation step's own cabinet.
    assert est.batch_hours[("central_factory", "biosafety_cabinet")] == pytest.approx(0.5 + 3 + 0.25)
    # Storage: the 336-h sterility test is the longest, then the release.
    assert est.batch_hours[("central_factory", "ln2_storage")] == pytest.approx(336 + 6)
    chair = est.row("city_hospital", CHAIRS)
    assert chair.demand_h_per_week == pytest.approx(6 * 4) and chair.capacity_h_per_week == 2 * 168
    assert est.row("city_hospital", SLOTS).demand_h_per_week == pytest.approx(6 * 13 / 6)


def test_a_step_without_a_device_lets_go_of_the_unit() -> None:
    """As the model does: a deviceless step between two Prodigy steps ends the first hold, so the
    batch takes a second unit (and a second changeover); the step itself holds no device."""
    data = centralised_data()
    data["recipe"].insert(2, {"name": "paperwork", "duration_h": 5, "role": "operator", "hands_on_h": 1})
    split = expected_load(build(data))
    whole = expected_load(load_scenario(CENTRALISED))
    key = ("central_factory", "clinimacs_prodigy")
    assert split.batch_hours[key] == pytest.approx(whole.batch_hours[key] + 2.0)
    assert split.row("central_factory", "operator").demand_h_per_week == pytest.approx(
        whole.row("central_factory", "operator").demand_h_per_week + 6 * 1)


def test_staff_capacity_counts_shifts_absence_and_turnover() -> None:
    sc = load_scenario(CENTRALISED).scenario
    vacant = 0.8 * (60 / 365 + 12 * 7 / 365) / 4
    # three posts on the 60-h day calendar (180 post-hours), within 4 people x 48 h
    assert staff_h_per_week(sc, "central_factory", "operator") == pytest.approx(3 * 60 * 0.97 * (1 - vacant))
    assert staff_h_per_week(sc, "city_hospital", "infusion_nurse") == pytest.approx(2 * 37.5)
    # one person around the clock: at most the 48-h cap, not 168 h
    sc.sites["city_hospital"].staff["infusion_nurse"] = StaffRole(count=1)
    assert staff_h_per_week(sc, "city_hospital", "infusion_nurse") == pytest.approx(48)
    est = expected_load(load_scenario(CENTRALISED))
    # receipt 1 + weld 0.1 + selection 3 + connector 0.1 + 1 + 1 + harvest 2 + open 0.5 + 3 + cryo 1
    assert est.row("central_factory", "operator").demand_h_per_week == pytest.approx(6 * 12.7)
    assert est.row("central_factory", "qc_analyst").demand_h_per_week == pytest.approx(6 * 7.5)
    assert "helped by on_call_operator" in est.row("central_factory", "operator").note


def test_routing_other_than_fixed_is_an_approximation() -> None:
    """Fixed routing splits batches exactly; nearest sends each hospital's to its nearest
    candidate (north and south to the hub 4 h away, west to the only site linked to it)."""
    est = expected_load(load_scenario(SCENARIOS / "layouts" / "hybrid.yaml"))
    assert est.routing_exact and est.site_batches_per_week == pytest.approx({"regional_hub": 5, "coast_hospital": 1})
    loaded = build(multisite_data("nearest"))
    est = expected_load(loaded)
    assert not est.routing_exact
    assert est.site_batches_per_week == pytest.approx({"hub": 6 * 5 / 6, "central_factory": 6 * 1 / 6})
    assert "an approximation: under nearest routing" in " ".join(describe(loaded, est).split())


def test_referral_times_give_their_mean_rate() -> None:
    loaded = load_scenario(CENTRALISED, ["referrals={times_h: [0, 10, 20, 9000]}"])  # the last is past the horizon
    assert expected_load(loaded).referrals_per_week == pytest.approx(3 * 168 / (365 * 24))


@pytest.mark.parametrize("blocks, hours", [
    (None, 168),
    ([ShiftBlock(days=["mon", "tue", "wed", "thu", "fri"], start_h=7, end_h=19)], 60),
    ([ShiftBlock(days=["sun"], start_h=22, end_h=6)], 8),  # runs past midnight into Monday
    ([ShiftBlock(days=["mon"], start_h=8, end_h=16), ShiftBlock(days=["mon"], start_h=12, end_h=20)], 12),  # overlap
    ([ShiftBlock(days=["sat"], start_h=0, end_h=0)], 24),
])
def test_on_duty_hours_a_week(blocks, hours) -> None:
    assert on_duty_h_per_week(blocks) == pytest.approx(hours)
    if blocks is not None:  # the same as the model's calendar over ten weeks, from any weekday
        for first in range(7):
            iv = shift_intervals(blocks, first, 70 * 24)
            assert sum(min(b, 70 * 24) - a for a, b in iv) == pytest.approx(10 * hours, abs=24)


def test_culture_length_matches_a_simulated_culture() -> None:
    """The closed form against the kernel itself, ticked hourly as the model ticks it: a culture
    at the mean patient's parameters reaches the target within an hour of the estimate."""
    from twin.kernel.cultures import Cultures

    sc = load_scenario(CENTRALISED).scenario
    step = next(st for st in sc.recipe if st.end_point is not None)
    assert sc.biology is not None and step.end_point is not None
    for start_m, doubling, capacity in ((50, 38, 4e9), (20, 30, 4e9), (50, 38, 2.5e9), (100, 60, 1e10)):
        b = sc.biology.model_copy(update={"starting_cells_millions": Fixed(value=start_m),
                                          "doubling_time_h": Fixed(value=doubling)})
        estimate = expected_culture_h(b, step.end_point, capacity, start_m * 1e6)
        cultures = Cultures(capacity=1, params=b.kernel_params())
        slot = cultures.add(start_m * 1e6, b.growth_rate_per_h(doubling), b.lag_h.mean, capacity)
        hours = 0
        while cultures.cells[slot] < step.end_point.target_cells and hours < step.end_point.max_h:
            cultures.advance(1.0)
            hours += 1
        assert hours - 1 <= estimate <= hours + 1e-9, (start_m, doubling, capacity, estimate, hours)


def test_culture_that_cannot_reach_its_target_runs_to_max_h() -> None:
    sc = load_scenario(CENTRALISED).scenario
    step = next(st for st in sc.recipe if st.end_point is not None)
    assert sc.biology is not None and step.end_point is not None
    assert expected_culture_h(sc.biology, step.end_point, 1.0e9, 5e7) == step.end_point.max_h  # target above capacity
    assert expected_culture_h(sc.biology, step.end_point, 4e9, 2e9) == 0.0  # already there
    slow = sc.biology.model_copy(update={"doubling_time_h": Fixed(value=1e5)})
    assert expected_culture_h(slow, step.end_point, 4e9, 5e7) == step.end_point.max_h  # death outpaces growth
    assert not math.isnan(expected_culture_h(sc.biology, step.end_point, 4e9, 5e7))


def test_place_names_are_the_models() -> None:
    """The estimate names hospital places as the model's pools do (it cannot import the model:
    SimPy)."""
    from twin.model import world

    assert (CHAIRS, SLOTS) == (world.CHAIRS, world.SLOTS)
