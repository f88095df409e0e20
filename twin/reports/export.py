"""Result folders -> tables people open: CSV files or one Excel workbook (``twin export``).

A run folder gives ``kpis`` (each KPI's unit, mean and 95% interval), ``batches`` (one row per
patient and replication with every milestone) and ``outages`` (one row per occurrence); a
comparison folder gives ``comparison`` (each KPI per layout with its interval and the paired
difference from the first layout) and the layouts' ``batches`` and ``outages`` with a ``layout``
column; a sweep folder gives ``summary`` (per point and KPI) and ``answer`` (the planner's
answer). Column headers carry their units: ``referral (h)``, ``vein_to_vein (days)``; KPI tables
have a ``unit`` column since each row is a different KPI. Reads the folder only (never the model).

Excel needs openpyxl (``pip install 'celltwin[excel]'``): an optional extra, because only
export to ``.xlsx`` uses it and CSV needs nothing beyond pandas.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from twin.core.errors import InputError
from twin.reports.run_report import OUTAGE_COLUMNS
from twin.results.kpis import HEADLINE

#: Units of column names by suffix, for the headers (longest suffix first).
SUFFIX_UNITS = (("_days", "days"), ("_h", "h"), ("_cfu", "CFU"), ("_cells", "cells"), ("_viability", "fraction"),
                ("_fraction", "fraction"), ("_per_year", "per year"))

#: Excel's limit on the rows of one sheet (with the header row).
EXCEL_MAX_ROWS = 1_048_575


def kpi_unit(kpi: str, currency: str = "") -> str:
    """The unit of a KPI by its name (``days``, ``h``, ``fraction``, ``patients``, a currency, ...)."""
    units = {k: u for k, _, u in HEADLINE}
    kpi = kpi.partition("@")[0]  # <kpi>@<period>: the KPI's unit
    if kpi in units:
        return units[kpi] or "patients"
    if kpi.startswith(("utilisation.", "availability.")) or kpi.endswith("_fraction"):
        return "fraction"
    if kpi.startswith(("wait_h_mean.", "delay_h.", "backup_h.")):
        return "h"
    if kpi.startswith(("cost.", "cost_per_dose")):
        return currency or "currency"
    if kpi.startswith(("lost_by_cause.", "failed_by_cause.")):
        return "patients"
    return ""


def unit_header(column: str) -> str:
    """``referral_h`` -> ``referral (h)``; a name without a unit suffix is kept."""
    for suffix, unit in SUFFIX_UNITS:
        if column.endswith(suffix) and len(column) > len(suffix):
            stem = column[: -len(suffix)] if suffix in ("_h", "_days") else column
            return f"{stem} ({unit})"
    return column


def _with_units(df: pd.DataFrame) -> pd.DataFrame:
    drop = [c for c in ("scenario_hash", "root_seed", "celltwin_version") if c in df.columns]
    return df.drop(columns=drop).rename(columns=unit_header)


def _currency(run_dir: Path) -> str:
    path = run_dir / "scenario.json"
    if not path.exists():
        return ""
    costs = json.loads(path.read_text()).get("scenario", {}).get("costs") or {}
    return str(costs.get("currency") or "")


def run_kpis(run_dir: Path) -> pd.DataFrame:
    """KPI table of a run folder: ``kpi, unit, n, mean, ci_low, ci_high`` (95% interval)."""
    kpis = json.loads((run_dir / "summary.json").read_text())["kpis"]
    cur = _currency(run_dir)
    rows = [{"kpi": k, "unit": kpi_unit(k, cur), "n": v.get("n"), "mean": v.get("mean"),
             "ci_low": v.get("ci_low"), "ci_high": v.get("ci_high")} for k, v in kpis.items()]
    return pd.DataFrame(rows, columns=["kpi", "unit", "n", "mean", "ci_low", "ci_high"])


def _optional(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The parquet table at ``path``, or an empty one with ``columns`` (a run without outages
    writes no outages.parquet)."""
    return pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=columns)


def run_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """The exported tables of a run folder: kpis, batches, outages."""
    return {"kpis": run_kpis(run_dir), "batches": _with_units(_optional(run_dir / "batches.parquet")),
            "outages": _with_units(_optional(run_dir / "outages.parquet", OUTAGE_COLUMNS))}


def comparison_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """The exported tables of a comparison folder: comparison, batches, outages (with ``layout``)."""
    table = pd.read_parquet(folder / "comparison.parquet")
    layouts = list(dict.fromkeys(table["layout"]))
    cur = next((c for c in (_currency(folder / "layouts" / n) for n in layouts) if c), "")
    table.insert(2, "unit", table["kpi"].map(lambda k: kpi_unit(k, cur)))
    out = {"comparison": table}
    for name in ("batches", "outages"):
        parts = [_optional(folder / "layouts" / n / f"{name}.parquet").assign(layout=n) for n in layouts]
        parts = [p for p in parts if len(p)]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["layout", *(OUTAGE_COLUMNS if name == "outages" else [])])
        if len(df):
            df = df[["layout", *[c for c in df.columns if c != "layout"]]]
        out[name] = _with_units(df)
    return out


def sweep_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """The exported tables of a sweep folder: summary (per point and KPI, with units) and answer."""
    summary = _optional(folder / "summary.parquet")
    if len(summary):
        summary.insert(summary.columns.get_loc("kpi") + 1, "unit", summary["kpi"].map(kpi_unit))
    answer = pd.read_csv(folder / "answer.csv") if (folder / "answer.csv").exists() else pd.DataFrame()
    return {"summary": summary, "answer": answer}


def folder_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of a run, comparison or sweep folder, by sheet name."""
    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"{d}: folder does not exist")
    if (d / "manifest.json").exists() and (d / "runs").is_dir():
        if not (d / "summary.parquet").exists():
            raise InputError(f"{d}: the sweep has no summary.parquet yet (finish it with twin sweep --resume)")
        return sweep_tables(d)
    if (d / "comparison.parquet").exists():
        return comparison_tables(d)
    if (d / "summary.json").exists():
        return run_tables(d)
    raise InputError(f"{d} is not a run folder (summary.json), a comparison folder (comparison.parquet) "
                     "or a sweep folder (manifest.json, runs/)")


def write_csv(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    """One ``NAME.csv`` per table in ``out_dir`` (created); returns the files."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        path = d / f"{name}.csv"
        tmp = path.with_name(f".{path.name}.tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(path)
        paths.append(path)
    return paths


def write_xlsx(tables: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """One sheet per table in the workbook ``path``; refuses tables beyond Excel's row limit."""
    try:
        import openpyxl  # noqa: F401 - pandas' engine
    except ImportError:
        raise InputError("--xlsx needs openpyxl: pip install 'celltwin[excel]' (or use --csv)") from None
    p = Path(path)
    if p.suffix.lower() != ".xlsx":
        raise InputError(f"{p}: an Excel file name ends in .xlsx")
    for name, df in tables.items():
        if len(df) > EXCEL_MAX_ROWS:
            raise InputError(f"table {name!r} has {len(df):,} rows, more than an Excel sheet holds "
                             f"({EXCEL_MAX_ROWS:,}); export it with --csv")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.tmp.xlsx")
    with pd.ExcelWriter(tmp, engine="openpyxl") as xl:
        for name, df in tables.items():
            df.to_excel(xl, sheet_name=name[:31], index=False)
            sheet = xl.sheets[name[:31]]
            sheet.freeze_panes = "A2"
            for col in sheet.columns:  # wide enough for the header
                sheet.column_dimensions[col[0].column_letter].width = max(10, min(40, len(str(col[0].value)) + 2))
    tmp.replace(p)
    return p


def export_folder(folder: str | Path, csv: str | Path | None = None, xlsx: str | Path | None = None) -> list[Path]:
    """Export ``folder`` to CSV files in ``csv`` and/or the workbook ``xlsx``; returns the files."""
    if csv is None and xlsx is None:
        raise InputError("say where to export: --csv DIR and/or --xlsx FILE")
    tables = folder_tables(folder)
    written: list[Path] = []
    if csv is not None:
        written += write_csv(tables, csv)
    if xlsx is not None:
        written.append(write_xlsx(tables, xlsx))
    return written
