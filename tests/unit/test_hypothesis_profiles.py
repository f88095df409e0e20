"""The Hypothesis profiles of tests/conftest.py: derandomized on CI, a random search locally."""

from __future__ import annotations

from conftest import hypothesis_profile
from hypothesis import settings


def test_ci_is_derandomized_and_local_runs_keep_searching():
    for environ in ({"CI": "true"}, {"CI": "1"}, {"CI": "True"}):
        assert hypothesis_profile(environ) == "twin-ci"
    for environ in ({}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}):
        assert hypothesis_profile(environ) == "twin-dev"
    ci, dev = settings.get_profile("twin-ci"), settings.get_profile("twin-dev")
    assert ci.derandomize and ci.database is None and ci.print_blob
    assert not dev.derandomize
    assert ci.max_examples == dev.max_examples == settings.get_profile("default").max_examples  # no slower suite
