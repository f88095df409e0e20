"""HTML reports built from result folders only (never from the simulation).

``twin report DIR`` writes ``DIR/report.html``: a run report for a ``twin run`` folder, a
comparison report for a ``twin compare`` folder, a sweep report for a ``twin sweep`` folder, a risk report for a ``twin risk`` folder. Each is one self-contained file that works offline
(plotly.js embedded once), with a caption under every figure saying how to read it.
"""

from __future__ import annotations

from pathlib import Path

from twin.core.errors import InputError
from twin.core.files import write_text_whole


def _why_no_batches(d: Path) -> str:
    """Why a run folder has no batches.parquet: no replication completed, or no patient came."""
    import json

    try:
        prov = json.loads((d / "summary.json").read_text(encoding="utf-8"))["provenance"]
        done = int(prov["replications_completed"])
    except (OSError, ValueError, KeyError, TypeError):
        return "the run has no batches and its summary.json cannot be read"
    if done == 0:
        return "no replication of this run completed (see failures.txt), so it has no batches"
    return "this run has no batches: no patient was referred within its horizon"


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report for a run, comparison or sweep folder and return its path."""
    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"{d}: {'is a file, not a folder' if d.exists() else 'folder does not exist'} (twin report "
                         "takes the folder twin run, twin compare or twin sweep wrote)")
    target = Path(out) if out else d / "report.html"
    if (d / "risk.json").exists():
        from twin.reports.risk_report import risk_report

        html = risk_report(d)
    elif (d / "manifest.json").exists() and (d / "runs").is_dir():
        from twin.reports.sweep_report import sweep_report

        html = sweep_report(d)
    elif (d / "comparison.parquet").exists():
        from twin.reports.compare_report import compare_report

        html = compare_report(d)
    elif (d / "summary.json").exists() and (d / "events.parquet").exists() and (d / "batches.parquet").exists():
        from twin.reports.run_report import run_report

        html = run_report(d)
    elif (d / "summary.json").exists():
        raise InputError(f"{d}: {_why_no_batches(d)}; there is nothing to draw (summary.json holds the provenance)")
    else:
        raise InputError(f"{d} is not a run folder (summary.json, events.parquet), a comparison folder "
                         "(comparison.parquet) or a sweep folder (manifest.json, runs/)")
    return write_text_whole(target, html)
