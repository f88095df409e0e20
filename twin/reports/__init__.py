"""HTML reports built from result folders only (never from the simulation).

``twin report DIR`` writes ``DIR/report.html``: a run report for a ``twin run`` folder, a
comparison report for a ``twin compare`` folder, a sweep report for a ``twin sweep`` folder. Each is one self-contained file that works offline
(plotly.js embedded once), with a caption under every figure saying how to read it.
"""

from __future__ import annotations

from pathlib import Path

from twin.core.errors import InputError


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report for a run, comparison or sweep folder and return its path."""
    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"{d}: {'is a file, not a folder' if d.exists() else 'folder does not exist'} (twin report "
                         "takes the folder twin run, twin compare or twin sweep wrote)")
    target = Path(out) if out else d / "report.html"
    if (d / "manifest.json").exists() and (d / "runs").is_dir():
        from twin.reports.sweep_report import sweep_report

        html = sweep_report(d)
    elif (d / "comparison.parquet").exists():
        from twin.reports.compare_report import compare_report

        html = compare_report(d)
    elif (d / "summary.json").exists() and (d / "events.parquet").exists():
        from twin.reports.run_report import run_report

        html = run_report(d)
    else:
        raise InputError(f"{d} is not a run folder (summary.json, events.parquet), a comparison folder "
                         "(comparison.parquet) or a sweep folder (manifest.json, runs/)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(target)
    return target
