# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # celltwin in a notebook: the tutorial's what-ifs in Python
#
# The same three what-ifs as [`tutorial.md`](tutorial.md) (a rapid sterility test, one more
# Prodigy, a CO2 supply failure), with the Python API instead of the `twin` command. Open this
# file in Jupyter with jupytext (`pip install jupytext`, then *Open as notebook*), or run it as a
# script: `python docs/notebook.py`. A test (`tests/unit/test_api.py`) runs it on every change.
#
# Every function here is what the command line calls: `twin.load` is `twin validate`,
# `twin.run` is `twin run`, `twin.compare` is `twin compare`, `twin.export` is `twin export`.
# Tables are pandas DataFrames and figures are plotly figures.

# %%
import os
from pathlib import Path

import twin

# The repository root: this file lives in docs/ (Jupyter starts there and has no __file__).
HERE = Path(globals().get("__file__", Path.cwd() / "notebook.py")).resolve().parent
ROOT = next(p for p in (HERE.parent, Path.cwd(), Path.cwd().parent) if (p / "scenarios" / "centralised.yaml").is_file())
CENTRALISED = ROOT / "scenarios" / "centralised.yaml"
RESULTS = Path(os.environ.get("CELLTWIN_RESULTS", "results")) / "notebook"

# Overrides applied to every scenario below. Empty: the scenario's own 5 replications of a year
# (about 10 s a run). For a quick try, e.g. QUICK = ["replications=1", "horizon_days=200"].
QUICK = os.environ.get("CELLTWIN_QUICK", "").split()

# %% [markdown]
# ## 1. Look before you run
#
# `twin.load` reads and validates a scenario; a mistake raises `twin.core.errors.ScenarioError`
# naming the file, line and field, just as `twin validate` prints it.

# %%
baseline_scenario = twin.load(CENTRALISED, overrides=QUICK)
sc = baseline_scenario.scenario
print(f"{sc.name}: {len(sc.sites)} sites, {len(sc.recipe)} recipe steps, {sc.horizon_days:g} days, "
      f"{sc.replications} replications, seed {sc.seed}")

# %% [markdown]
# ## 2. Run the baseline
#
# `run.summary` holds each KPI's mean over the replications and its 95% confidence interval;
# `run.kpi(name)` is one mean. `run.batches` has one row per patient with every milestone.

# %%
baseline = twin.run(baseline_scenario)
headline = ["infused", "dropped_out", "failed", "vein_to_vein_median_days", "vein_to_vein_p90_days"]
baseline.summary.set_index("kpi").loc[headline, ["mean", "ci_low", "ci_high"]]

# %%
baseline.batches[["patient", "referral_h", "outcome", "vein_to_vein_days"]].head()

# %%
baseline.figures["vein_to_vein"]  # a plotly figure: in Jupyter it draws itself

# %% [markdown]
# ## 3. What-if: a rapid sterility test
#
# A rapid sterility method gives its result in about 3 days instead of 14 (Ph. Eur. 2.6.27;
# `shared/domain/parameters.md`). Sterility is the QC panel's first test; an override changes
# its duration without copying the file.

# %%
rapid = twin.run(twin.load(CENTRALISED, overrides=[*QUICK, "qc.tests[0].duration_h=72"]))


def change(what_if: twin.Run, kpis: list[str] = headline):
    """The what-if's KPI means next to the baseline's, and the change."""
    import pandas as pd

    rows = [(k, baseline.kpi(k), what_if.kpi(k)) for k in kpis]
    table = pd.DataFrame(rows, columns=["kpi", "baseline", "what-if"]).set_index("kpi")
    table["change"] = table["what-if"] - table["baseline"]
    return table.round(2)


change(rapid)

# %% [markdown]
# ## 4. What-if: one more Prodigy

# %%
PRODIGIES = "sites.central_factory.devices.clinimacs_prodigy.count"
one_more = twin.run(twin.load(CENTRALISED, overrides=[*QUICK, f"{PRODIGIES}=15"]))
change(one_more, ["utilisation.device.central_factory.clinimacs_prodigy", *headline[3:]])

# %% [markdown]
# ## 5. What-if: a CO2 supply failure, compared with common random numbers
#
# `scenarios/outage_co2.yaml` is the baseline with the bulk CO2 supply failing on day 150 for
# 14 days. `twin.compare` runs both with the same patients; `comparison.wide("diff_mean")` is the
# paired change (outage minus baseline), replication by replication, averaged.

# %%
co2 = twin.compare([baseline_scenario, twin.load(ROOT / "scenarios" / "outage_co2.yaml", overrides=QUICK)])
co2.wide("mean").loc[headline]

# %%
co2.wide("diff_mean").loc[headline, co2.names[1:]]

# %% [markdown]
# ## 6. Keep the results
#
# `save` writes the run folder `twin report` and `twin export` read; `report` writes the HTML
# report; `export` writes the KPIs with their intervals, every patient's milestones and the
# outages as CSV files or one Excel workbook (a sheet each, units in the headers).

# %%
folder = baseline.save(RESULTS / "baseline")
written = twin.export(folder, csv=RESULTS / "baseline_csv")
co2.save(RESULTS / "co2")
report = co2.report()  # RESULTS/co2/report.html
print(*written, report, sep="\n")
