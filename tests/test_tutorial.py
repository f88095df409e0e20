"""docs/tutorial.md stays true: every command on the page runs, and every change it claims holds.

The tutorial's commands are the ``twin ...`` lines of its ``bash`` blocks; its claims are the
``<!-- check: A.KPI OP B.KPI -->`` comments under them, where A and B are run folders under
``results/tutorial/`` (a comparison's layouts are ``FOLDER/layouts/NAME``) and KPI is a key of
their ``summary.json``. The claims are directions (``<``, ``>``) or identities (``==``), never
pinned figures: the page quotes figures from an actual run, the test holds their signs.
"""

from __future__ import annotations

import json
import operator
import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO

from twin.cli import main

TUTORIAL = REPO / "docs" / "tutorial.md"
OPS = {"<": operator.lt, ">": operator.gt, "==": operator.eq}
CHECK = re.compile(r"<!--\s*check:\s*(\S+)\s*(<|>|==)\s*(\S+)\s*-->")


def tutorial_commands(text: str) -> list[str]:
    """The ``twin`` command lines of the page's bash blocks, in page order."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("twin ")]


def tutorial_checks(text: str) -> list[tuple[str, str, str]]:
    """(left, op, right) of every check comment, e.g. ('rapid_sterility.infused', '>', 'baseline.infused')."""
    return CHECK.findall(text)


def _kpi(results: Path, ref: str) -> float:
    folder, kpi = ref.split(".", 1)
    kpis = json.loads((results / folder / "summary.json").read_text())["kpis"]
    assert kpi in kpis, f"{ref}: no KPI {kpi!r} in {folder}/summary.json"
    return kpis[kpi]["mean"]


def test_the_page_has_commands_and_checks() -> None:
    text = TUTORIAL.read_text()
    cmds = tutorial_commands(text)
    assert any(c.startswith("twin run") for c in cmds) and any(c.startswith("twin compare") for c in cmds)
    assert len(tutorial_checks(text)) >= 8
    # every check comment parses (a typo in one would silently drop a claim)
    assert text.count("<!-- check:") == len(tutorial_checks(text))


@pytest.mark.slow
def test_every_tutorial_command_runs_and_every_claim_holds(tmp_path, monkeypatch, capsys) -> None:
    text = TUTORIAL.read_text()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").symlink_to(REPO / "scenarios")
    for cmd in tutorial_commands(text):
        argv = shlex.split(cmd)[1:]
        assert main(argv) == 0, f"tutorial command failed: {cmd}\n{capsys.readouterr().out}"
    results = tmp_path / "results" / "tutorial"
    failed = []
    for left, op, right in tutorial_checks(text):
        a, b = _kpi(results, left), _kpi(results, right)
        if not OPS[op](a, b):
            failed.append(f"{left} = {a:g} is not {op} {right} = {b:g}")
    assert not failed, "tutorial claims that no longer hold:\n" + "\n".join(failed)
