"""Planned harvest, release in working hours and in stages, release at risk, and the planned
infusion (lymphodepletion, clinic hours, the thaw and its limit): issue 17, items 2, 3 and the
release side of 5."""

from __future__ import annotations

import bisect
from typing import Any

import pandas as pd
import pytest
from conftest import build, centralised_data

from twin.core.errors import ScenarioError
from twin.model import simulate
from twin.results.collect import replication_tables
from twin.scenario.calendars import shift_intervals

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
CLINIC = [{"days": WEEKDAYS, "start_h": 8, "end_h": 17}]
WARD = [{"days": [*WEEKDAYS, "sat", "sun"], "start_h": 8, "end_h": 17}]
HORIZON_DAYS = 150


def _events(data: dict[str, Any]) -> pd.DataFrame:
    return replication_tables(simulate(build(data), 0)).events


def _intervals(data: dict[str, Any], calendar: str) -> list[tuple[float, float]]:
    return shift_intervals(build(data).scenario.shifts[calendar], 0, (HORIZON_DAYS + 60) * 24)  # 2027-01-04: a Monday


def _inside(intervals: list[tuple[float, float]], t: float, closed_end: bool = False) -> bool:
    i = bisect.bisect_right(intervals, (t, float("inf"))) - 1
    if i < 0:
        return False
    a, b = intervals[i]
    return a - 1e-9 <= t and (t <= b + 1e-9 if closed_end else t < b - 1e-9)


def _rows(e: pd.DataFrame, step: str, kind: str) -> pd.DataFrame:
    return e[(e["step"] == step) & (e["kind"] == kind)]


def _scheduled() -> dict[str, Any]:
    """The centralised scenario with release in office hours, staged in two sites, and the
    planned infusion: a Monday-to-Friday clinic, lymphodepletion on a ward open every day."""
    d = centralised_data()
    d["horizon_days"] = HORIZON_DAYS
    d["shifts"].update({"clinic": CLINIC, "ward": WARD})
    hosp = d["sites"]["city_hospital"]
    hosp["infusion_slots"] = 3
    hosp["staff"]["infusion_nurse"] = {"count": 9}  # around the clock: the clinic, not the rota, sets the hours
    hosp["staff"]["ward_nurse"] = {"count": 8, "posts": 2, "shift": "ward"}
    d["sites"]["importer"] = {"kind": "factory", "staff": {"qp": {"count": 1, "shift": "office"}}}
    d["release"]["working_hours"] = "office"
    d["release"]["stages"] = [{"name": "qa_disposition"}, {"name": "qp_certification", "site": "importer", "role": "qp"}]
    d["infusion_scheduling"] = {"clinic": "clinic",
                                "lymphodepletion": {"role": "ward_nurse", "hands_on_h": 1, "calendar": "ward"}}
    return d


@pytest.fixture(scope="module")
def scheduled() -> tuple[dict[str, Any], pd.DataFrame]:
    d = _scheduled()
    return d, _events(d)


def test_release_stages_run_in_order_at_their_sites_and_end_in_working_hours(scheduled):
    """QA disposition at the plant, then QP certification at the importer, each logged as
    ``release:<stage>``; both end (and start) in office hours; no plain ``release`` step."""
    d, e = scheduled
    office = _intervals(d, "office")
    qa = _rows(e, "release:qa_disposition", "step_end").set_index("patient")
    qp_start = _rows(e, "release:qp_certification", "step_start").set_index("patient")
    qp = _rows(e, "release:qp_certification", "step_end").set_index("patient")
    assert len(qp) > 30 and _rows(e, "release", "step_end").empty
    assert (qa["site"] == "central_factory").all() and (qp["site"] == "importer").all()
    both = qp.index.intersection(qa.index)
    assert (qp_start.loc[both, "time_h"] >= qa.loc[both, "time_h"] - 1e-9).all()
    for rows in (qa, qp):
        assert all(_inside(office, t, closed_end=True) for t in rows["time_h"])
    assert all(_inside(office, t) for t in qp_start["time_h"])


def test_without_working_hours_releases_end_outside_them():
    """The same release without working hours ends at night or at weekends for some batches
    (what the working hours prevent)."""
    d = centralised_data()
    d["horizon_days"] = HORIZON_DAYS
    e = _events(d)
    office = _intervals(d, "office")
    ends = _rows(e, "release", "step_end")["time_h"]
    assert len(ends) > 30 and not all(_inside(office, t, closed_end=True) for t in ends)


def test_infusions_start_in_clinic_hours_after_lymphodepletion_in_its_window(scheduled):
    """Every infusion starts in clinic hours, is booked (``infusion_booked`` with the planned
    hour), after the product arrived; lymphodepletion sessions come on days -5, -4 and -3 of
    the infusion day (of the booked patients not rebooked) and all end before it."""
    d, e = scheduled
    clinic = _intervals(d, "clinic")
    inf = _rows(e, "infusion", "step_start").set_index("patient")["time_h"]
    assert len(inf) > 30
    assert all(_inside(clinic, t) for t in inf)
    booked = e[e["kind"] == "infusion_booked"].set_index("patient")
    assert set(inf.index) <= set(booked.index)
    arrived = _rows(e, "ship_to_hospital", "step_end").set_index("patient")["time_h"]
    assert (arrived.loc[inf.index] <= inf + 1e-9).all()
    ld_start = _rows(e, "lymphodepletion", "step_start")
    ld_end = _rows(e, "lymphodepletion", "step_end")
    rebooked = set(e.loc[e["kind"] == "infusion_rebooked", "patient"])
    for pid, t in inf.items():
        ends = ld_end.loc[ld_end["patient"] == pid, "time_h"]
        assert len(ends) == 3 and (ends <= t + 1e-9).all()
        if pid not in rebooked:
            days = sorted(int(t // 24) - int(s // 24) for s in ld_start.loc[ld_start["patient"] == pid, "time_h"])
            assert days == [3, 4, 5], (pid, days)
            assert booked.loc[pid, "value"] <= t + 1e-9


def test_without_scheduling_infusions_start_outside_clinic_hours():
    """Today's twin infuses when the product arrives: some infusions start outside the clinic's
    hours, and there is no lymphodepletion (what infusion scheduling changes)."""
    d = centralised_data()
    d["horizon_days"] = HORIZON_DAYS
    d["shifts"]["clinic"] = CLINIC
    d["sites"]["city_hospital"]["staff"]["infusion_nurse"] = {"count": 9}  # around the clock, as in _scheduled
    e = _events(d)
    inf = _rows(e, "infusion", "step_start")["time_h"]
    assert len(inf) > 30 and not all(_inside(_intervals(d, "clinic"), t) for t in inf)
    assert _rows(e, "lymphodepletion", "step_start").empty


def test_a_thawed_dose_past_its_limit_is_lost_and_never_infused():
    """A thaw by a pharmacist, then one infusion nurse (busy with another infusion): a thawed dose that
    waits longer than the limit for its nurse is lost (cause hold:thaw_to_infusion), never
    infused; every infused dose started within the limit of its thaw's end."""
    d = _scheduled()
    hosp = d["sites"]["city_hospital"]
    hosp["staff"]["infusion_nurse"] = {"count": 1, "shift": "office"}
    hosp["staff"]["pharmacist"] = {"count": 2, "shift": "office"}
    d["infusion_scheduling"]["thaw"] = {"duration_h": 0.5, "role": "pharmacist", "hands_on_h": 0.5, "limit_h": 0.25}
    e = _events(d)
    lost = e[(e["kind"] == "outcome") & (e["step"] == "hold:thaw_to_infusion")]
    assert len(lost) > 0 and (lost["detail"] == "lost").all()
    assert not set(lost["patient"]) & set(_rows(e, "infusion", "step_start")["patient"])
    thawed = _rows(e, "thaw", "step_end").set_index("patient")["time_h"]
    inf = _rows(e, "infusion", "step_start").set_index("patient")["time_h"]
    assert len(inf) > 10 and ((inf - thawed.loc[inf.index]) <= 0.25 + 1e-9).all()


def test_release_at_risk_ships_before_sterility_and_a_late_failure_stops_the_infusion():
    """With sterility at risk the batch is released before its sterility result; a batch whose
    result fails before its infusion fails (cause qc:sterility) and is not infused; nothing is
    logged for a batch after its outcome."""
    d = centralised_data()
    d["horizon_days"] = HORIZON_DAYS
    d["qc"]["tests"][0]["duration_h"] = 72  # a rapid sterility test: 3 d (parameters.md, tool defaults)
    d["qc"]["tests"][0]["fail_probability"] = 0.3
    d["release"]["at_risk_tests"] = ["sterility"]
    e = _events(d)
    rel = _rows(e, "release", "step_end").set_index("patient")["time_h"]
    res = e[(e["step"] == "qc:sterility") & (e["kind"] == "qc_result")].set_index("patient")
    early = rel.index.intersection(res.index)
    assert (rel.loc[early] < res.loc[early, "time_h"]).sum() >= 5
    failed = e[(e["kind"] == "outcome") & (e["step"] == "qc:sterility")]
    assert len(failed) > 5
    assert set(failed["patient"]) & set(rel.index)  # released, then stopped by the late result
    assert not set(failed["patient"]) & set(_rows(e, "infusion", "step_start")["patient"])
    last = e[e["patient"] >= 0].groupby("patient")["time_h"].max()
    out = e[e["kind"] == "outcome"].set_index("patient")["time_h"]
    assert (last.loc[out.index] <= out + 1e-9).all()
    d["release"]["at_risk_tests"] = []  # waiting for every result: no release before its sterility result
    e = _events(d)
    rel = _rows(e, "release", "step_end").set_index("patient")["time_h"]
    res = e[(e["step"] == "qc:sterility") & (e["kind"] == "qc_result")].set_index("patient")["time_h"]
    both = rel.index.intersection(res.index)
    assert len(both) > 30 and (rel.loc[both] >= res.loc[both]).all()


def test_planned_harvest_waits_for_the_window_and_a_shift():
    """A harvest window from 200 h: no culture is harvested sooner (the culture goes on in the
    kernel to then), each by 300 h (plus the wait for a shift), and the harvest step starts with
    a qualified role on shift."""
    d = centralised_data()
    d["horizon_days"] = HORIZON_DAYS
    d["recipe"][2]["harvest"] = {"earliest_h": 200, "latest_h": 300}
    e = _events(d)
    age = e[(e["kind"] == "measure") & (e["resource"] == "culture_h")]["value"]
    assert len(age) > 30 and age.min() >= 200 - 1e-6
    start = _rows(e, "expansion", "step_start").set_index("patient")["time_h"]
    end = _rows(e, "expansion", "step_end").set_index("patient")["time_h"]
    paused = set(_rows(e, "expansion", "pause")["patient"])  # a stop at the end point delays the end
    both = end.index.intersection(start.index).difference(paused)
    assert ((end.loc[both] - start.loc[both]) <= 300 + 2 + 1e-6).all()  # + the hands-on start (1 h), the hourly tick
    shifts = sorted(_intervals(d, "day") + _intervals(d, "weekend"))
    assert all(_inside(shifts, t) for t in _rows(e, "harvest", "step_start")["time_h"])
    d["recipe"][2].pop("harvest")
    free = _events(d)
    assert free[(free["kind"] == "measure") & (free["resource"] == "culture_h")]["value"].min() < 200


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("infusion_scheduling",), {"clinic": "nope"}, "unknown calendar 'nope'"),
    (("release", "working_hours"), "nope", "unknown calendar 'nope'"),
    (("release", "at_risk_tests"), ["nope"], "unknown QC test 'nope'"),
    (("release", "stages"), [{"name": "qp", "site": "nowhere"}], "unknown site 'nowhere'"),
])
def test_bad_plan_names_are_located_errors(path, value, expected):
    d = centralised_data()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ScenarioError, match=expected):
        build(d)


def test_each_release_stage_needs_its_own_sites_it():
    """An IT outage at the importer stops QP certification there (paused, none ends during it)
    while QA disposition at the plant goes on."""
    d = _scheduled()
    d.pop("infusion_scheduling")
    d["outages"] = [{"name": "importer_it", "what": "it", "site": "importer", "at_h": 1000, "duration_h": 240}]
    e = _events(d)
    during = e[(e["time_h"] > 1000 + 1e-6) & (e["time_h"] < 1240 - 1e-6)]
    assert _rows(during, "release:qp_certification", "step_end").empty
    assert not _rows(during, "release:qa_disposition", "step_end").empty
    paused = _rows(e, "release:qp_certification", "pause")
    assert (paused["detail"] == "importer_it").any()


def test_working_hours_and_clinic_hours_are_each_sites_local_hours():
    """A plant at UTC-8 and a hospital at UTC+1: every release ends in the plant's local office
    hours and every infusion starts in the hospital's local clinic hours (the calendars are read
    on each site's clock, as its staff's shifts are: read on the twin clock, release work and the
    QP's shift never overlapped and no release ever ended)."""
    d = _scheduled()
    d["sites"]["central_factory"]["utc_offset_h"] = -8
    d["sites"]["importer"]["utc_offset_h"] = -8
    d["sites"]["city_hospital"]["utc_offset_h"] = 1
    e = _events(d)
    ends = _rows(e, "release:qp_certification", "step_end")["time_h"]
    assert len(ends) >= 20
    office = _intervals(d, "office")
    assert all(_inside(office, t - 8, closed_end=True) for t in ends)  # local = twin - 8
    starts = _rows(e, "infusion", "step_start")["time_h"]
    assert len(starts) >= 10
    clinic = _intervals(d, "clinic")
    assert all(_inside(clinic, t + 1) for t in starts)  # local = twin + 1
