"""Capacity plans (issue 21, item 2): dated devices, hires and site openings, each with its lead
time; new lines are installed and qualified by a scarce installation team."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from conftest import build, centralised_data, multisite_data

from twin.model import simulate
from twin.results.collect import replication_tables

H_PER_DAY = 24.0


def _events(data: dict) -> pd.DataFrame:
    return replication_tables(simulate(build(data), 0)).events


def _small_factory(extra_date: dt.date = dt.date(2027, 3, 1), add: int = 2, teams: int = 1) -> dict:
    """The centralised scenario with 4 Prodigies at the start and ``add`` more planned on a date,
    qualified in a fixed 20 days each."""
    d = centralised_data()
    d["horizon_days"] = 200
    d["warmup_days"] = 0
    d["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["count"] = 4
    d["capacity_plan"] = [{"date": extra_date, "site": "central_factory",
                           "devices": {"clinimacs_prodigy": add}, "label": "line 2"}]
    d["commissioning"] = {"teams": teams, "line_days": 20}
    return d


def test_a_planned_device_is_never_used_before_its_date_and_qualification():
    e = _events(_small_factory())
    date_h = 56 * H_PER_DAY  # 2027-03-01 is 56 days after 2027-01-04
    new = e[(e["resource"] == "clinimacs_prodigy") & (e["unit"] >= 4)]
    ends = new[new["kind"] == "commission_end"].set_index("unit")["time_h"]
    assert sorted(ends.index) == [4, 5]
    seized = new[new["kind"] == "seize"]
    assert len(seized) > 0  # the added lines are used (4 units are short for 6 a week)...
    for unit, t in seized.groupby("unit")["time_h"].min().items():
        assert t >= ends[unit] >= date_h + 20 * H_PER_DAY  # ...only once qualified
    down = new[(new["kind"] == "down") & (new["detail"] == "not_commissioned")]
    assert (down["time_h"] == 0).all() and len(down) == 2


def test_one_installation_team_qualifies_two_lines_one_after_the_other():
    e = _events(_small_factory())
    c = e[e["kind"].isin(["commission_start", "commission_end"])].sort_values("time_h")
    starts = c[c["kind"] == "commission_start"]["time_h"].tolist()
    ends = c[c["kind"] == "commission_end"]["time_h"].tolist()
    assert starts[1] == ends[0] and ends[1] - starts[0] == 40 * H_PER_DAY
    two = _events(_small_factory(teams=2))
    s2 = two[two["kind"] == "commission_start"]["time_h"].tolist()
    assert s2[0] == s2[1]  # with two teams both lines start on the date


def test_a_site_opened_on_a_date_gets_no_batch_before_it():
    d = multisite_data("nearest")
    d["horizon_days"] = 200
    d["capacity_plan"] = [{"date": dt.date(2027, 4, 5), "site": "hub", "open": True, "label": "hub opens"}]
    d["commissioning"] = {"site_days": 30}
    e = _events(d)
    opened = e[(e["kind"] == "commission_end") & (e["resource"] == "site")]["time_h"]
    assert opened.tolist() == [(91 + 30) * H_PER_DAY]
    hub = e[(e["site"] == "hub") & (e["patient"] >= 0)]
    assert len(hub) > 0 and hub["time_h"].min() >= opened.iloc[0]


def test_hires_join_after_the_hiring_lead_and_training():
    d = _small_factory(add=0)
    d["capacity_plan"] = [{"date": dt.date(2027, 2, 1), "site": "central_factory", "staff": {"operator": 2}}]
    e = _events(d)
    hires = e[(e["resource"] == "operator") & (e["unit"] >= 4) & (e["detail"].isin(["vacant", "training"]))]
    up_vacant = hires[(hires["kind"] == "up") & (hires["detail"] == "vacant")]["time_h"]
    assert up_vacant.tolist() == [(28 + 60) * H_PER_DAY] * 2  # the role's turnover: 60-day hiring lead
    work = e[(e["resource"] == "operator") & (e["unit"] >= 4) & (e["kind"] == "seize")]
    assert work.empty or work["time_h"].min() >= (28 + 60) * H_PER_DAY + 12 * 168  # then 12 weeks' training


def test_without_a_plan_the_run_is_unchanged():
    d = _small_factory()
    plain = _events({k: v for k, v in d.items() if k not in ("capacity_plan", "commissioning")})
    d["capacity_plan"] = []
    assert _events(d).equals(plain)
