"""Validation of the staff and cost fields the rota added: located messages, never a traceback."""

from __future__ import annotations

import pytest
import yaml
from conftest import SCENARIOS, tiny_data

from twin.core.errors import ScenarioError
from twin.scenario.loading import scenario_from_yaml_text


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(costs={"labour_per_h": {"op": 1, "qc": 1, "qp": 1}, "paid_hours_per_fte_year": 1650}),
     ("costs.paid_hours_per_fte_year", "contract_h_per_week")),
    (lambda d: d["sites"]["f"]["staff"].update(op={"count": 2, "contract_h_per_week": 50}),
     ("staff.op.contract_h_per_week", "more than max_h_per_week")),
    (lambda d: d["sites"]["f"]["staff"].update(op={"count": 2, "turnover": {"hiring_lead_days": 3}}),
     ("staff.op.turnover", "exactly one of per_person_per_year or leavers_per_year")),
    (lambda d: d["sites"]["f"]["staff"].update(op={"count": 2, "turnover": {"per_person_per_year": 0.2,
                                                                              "leavers_per_year": 1}}),
     ("exactly one of",)),
    (lambda d: (d.update(shifts={"day": [{"days": ["mon"], "start_h": 8, "end_h": 16}]}),
                d["sites"]["f"]["staff"].update(op={"count": 2, "shift": "day", "always_on_duty": True})),
     ("staff.op.shift", "give no shift")),
])
def test_bad_staff_and_cost_fields_say_what_is_wrong(change, words) -> None:
    d = tiny_data()
    change(d)
    with pytest.raises(ScenarioError) as err:
        scenario_from_yaml_text(yaml.safe_dump(d, sort_keys=False), "my.yaml", base_dir=SCENARIOS)
    text = str(err.value)
    assert text.startswith("my.yaml:"), text  # located: file, line, column
    assert all(w in text for w in words), text
