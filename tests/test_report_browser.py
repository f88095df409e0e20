"""End to end: run and sweep reports open in a real headless Chromium, offline, with no
JavaScript error, and every figure draws. Needs Debian's chromium (installed by .ci/run) and
the playwright package (test extra); never downloads a browser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import RISK_SMALL, SCENARIOS

from twin.cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


#: Per figure div: its id, the names of its drawn traces and how many shapes its SVG drew.
FIGURES_JS = ("() => Array.from(document.querySelectorAll('div.plotly-graph-div')).map(d => ({id: d.id, "
              "traces: d._fullData.map(t => t.name), shapes: d.querySelectorAll('.shapelayer path').length}))")


def open_and_check(path: Path, figures_out: list | None = None) -> int:
    """Open ``path``; fail on any JS error or non-file request; return the number of figures
    (and append what each drew, see FIGURES_JS, to ``figures_out``)."""
    errors, outside = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)

            def route(r):
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(path.resolve().as_uri())
            figures = page.locator("div.plotly-graph-div")
            n = figures.count()
            for i in range(n):
                figures.nth(i).locator("svg.main-svg").first.wait_for(state="attached", timeout=20_000)
            drawn = page.evaluate(
                "() => Array.from(document.querySelectorAll('div.plotly-graph-div'))"
                ".filter(d => d.querySelector('svg.main-svg') && d._fullLayout).length")
            assert page.title().startswith("celltwin")
            if figures_out is not None:
                figures_out.extend(page.evaluate(FIGURES_JS))
        finally:
            browser.close()
    assert not errors, errors
    assert not outside, f"the report asked the network for {outside}"
    assert drawn == n
    return n


def test_run_report_in_chromium(tmp_path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "centralised.yaml"), "--out", str(out), "-r", "2", "-q",
                 "--set", "horizon_days=150", "--set", "warmup_days=30", "--report"]) == 0
    figures: list = []
    # timeline, utilisation, WIP, vein-to-vein, outcomes, harvest cells against culture length, viability
    assert open_and_check(out / "report.html", figures) == 7
    # no outages, but breakdowns, maintenance and shifts on the Gantt
    assert {"breakdown", "maintenance/changeover"} <= set(figures[0]["traces"])
    harvest, viability = figures[5]["traces"], figures[6]["traces"]
    assert any(t.startswith("target reached") for t in harvest)  # the expansion step's end point (1.6e9)
    assert any(t.startswith("dose spec: ") for t in harvest) and any(t.startswith("target: expansion") for t in harvest)
    assert any(t.startswith("target reached") for t in viability) and figures[6]["shapes"] >= 1  # viability spec
    assert "No outages in this run." in (out / "report.html").read_text()


def test_run_report_with_outages_in_chromium(tmp_path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "outage_power.yaml"), "--out", str(out), "-r", "1", "-q", "--report"]) == 0
    figures: list = []
    # timeline, utilisation, WIP, vein-to-vein, outcomes, the two culture figures, outage timeline
    assert open_and_check(out / "report.html", figures) == 8
    gantt, outages = figures[0], figures[-1]
    # the blackout's power loss and the cleanroom's loss of grade after it, as bands across the Gantt
    assert gantt["shapes"] >= 2
    assert {"breakdown", "maintenance/changeover"} <= set(gantt["traces"])
    assert "on duty (staff)" in gantt["traces"]  # staff rows: on-duty bands under the hands-on work
    assert "outage (from start to end)" in outages["traces"] and "backup carried it" in outages["traces"]
    assert any(t.startswith("lost") for t in outages["traces"])
    assert any(t.startswith("knock-on") for t in outages["traces"])
    page = (out / "report.html").read_text()
    assert "Outage log" in page and "grid_blackout" in page and "No outages in this run." not in page


def test_sweep_report_in_chromium(tmp_path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"""
name: browser_sweep
base: {SCENARIOS / 'centralised.yaml'}
set: {{horizon_days: 120, warmup_days: 30}}
axes:
  referrals.rate_per_week: [3, 6]
  sites.central_factory.devices.clinimacs_prodigy.count: [6, 12]
replications: 1
targets: {{vein_to_vein_p90_days: {{max: 40}}}}
answer:
  demand: referrals.rate_per_week
  cost_per_unit: {{sites.central_factory.devices.clinimacs_prodigy.count: 1}}
""")
    out = tmp_path / "sw"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1", "-q"]) == 0
    assert main(["report", str(out)]) == 0
    # heatmaps for the target KPI and two defaults, the tornado, the frontier
    assert open_and_check(out / "report.html") == 5


def test_comparison_report_in_chromium(tmp_path) -> None:
    base = tmp_path / "base.yaml"
    text = (SCENARIOS / "centralised.yaml").read_text().replace("horizon_days: 365", "horizon_days: 150")
    text = text.replace("warmup_days: 60 ", "warmup_days: 30 ")
    base.write_text(text)
    more = tmp_path / "more.yaml"
    more.write_text(text.replace("name: centralised", "name: more").replace("count: 14}", "count: 18}"))
    out = tmp_path / "cmp"
    assert main(["compare", str(base), str(more), "-r", "2", "--out", str(out), "-q", "--report"]) == 0
    assert open_and_check(out / "report.html") == 2  # side by side, paired differences


def test_risk_report_in_chromium(tmp_path) -> None:
    import yaml

    sc = tmp_path / "small.yaml"
    sc.write_text(RISK_SMALL)
    lib = tmp_path / "lib.yaml"
    lib.write_text(yaml.safe_dump({"utilities": {"power": {"frequency_per_year": 2, "duration_h": 24}}}))
    out = tmp_path / "risk"
    assert main(["risk", str(sc), "--library", str(lib), "--only", "power@f", "--only", "device:clinimacs*",
                 "-r", "2", "--out", str(out), "-w", "1", "-q", "--report"]) == 0
    figures: list = []
    # the risk matrix, what each backup buys, the batches each occurrence hit
    assert open_and_check(out / "report.html", figures) == 3
    page = (out / "report.html").read_text()
    assert "Vulnerabilities, most harmful first" in page and "power@f" in page
    backup = figures[1]
    assert {"stepped up", "stepped down"} <= set(backup["traces"])
