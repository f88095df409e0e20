"""The sweep's result store: a partitioned parquet dataset that survives crashes.

Layout of a sweep folder::

    manifest.json                 sweep name, hash and celltwin version (resume refuses others)
    plan.json                     the points (axis values) and task ids
    runs/point_id=P/S.parquet     one file per scenario id S: its KPIs in long form
    summary.parquet               KPI mean and 95% CI per point (written at the end)

Each run file is written to a dot-file and renamed when complete, so a killed process leaves
either a whole file or none (pyarrow's dataset reader skips dot-files). Resume = run the
planned ids that have no file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from twin.core.errors import InputError
from twin.core.files import OutputError, write_text_whole, write_whole
from twin.core.version import __version__

RUN_COLUMNS = ["scenario_id", "replication", "status", "error", "kpi", "value", "wall_s",
               "scenario_hash", "root_seed", "celltwin_version"]


class SweepStore:
    """A sweep folder (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"

    def open(self, manifest: dict[str, Any], plan: dict[str, Any], resume: bool) -> None:
        """Create the store, or check that an existing one is this sweep's (for ``resume``)."""
        mpath = self.root / "manifest.json"
        if mpath.exists():
            if not resume:
                raise InputError(
                    f"{self.root} already holds a sweep; pass --resume to continue it, --replace to start it afresh, or --out for a new folder"
                )
            try:
                old = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise InputError(f"cannot resume {self.root}: its manifest.json cannot be read ({err})") from None
            for key in ("sweep_hash", "celltwin_version"):
                if old.get(key) != manifest.get(key):
                    raise InputError(
                        f"cannot resume {self.root}: its {key} is {old.get(key)!r} but this sweep's is "
                        f"{manifest.get(key)!r} (the sweep file, its base scenario or celltwin changed)"
                    )
            return
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(str(self.runs), err.strerror or str(err)) from None
        _atomic_text(self.root / "plan.json", json.dumps(plan, indent=1, default=str))
        _atomic_text(mpath, json.dumps(manifest, indent=2))

    def done_ids(self) -> set[str]:
        """Scenario ids that have a complete result file."""
        if not self.runs.exists():
            return set()
        return {p.stem for p in self.runs.glob("point_id=*/*.parquet") if not p.name.startswith(".")}

    def write(self, point_id: str, row: dict[str, Any]) -> None:
        """Store one task's result (from :func:`twin.experiments.sweep.execute.run_task`) atomically."""
        kp = row.get("kpis") or {}
        base = {k: row[k] for k in ("scenario_id", "replication", "status", "error", "wall_s",
                                    "scenario_hash", "root_seed")}
        base["celltwin_version"] = __version__
        recs = [{**base, "kpi": k, "value": float(v)} for k, v in kp.items()] or [
            {**base, "kpi": "", "value": float("nan")}
        ]
        df = pd.DataFrame.from_records(recs, columns=RUN_COLUMNS)
        write_whole(self.runs / f"point_id={point_id}" / f"{row['scenario_id']}.parquet",
                    lambda p: df.to_parquet(p, index=False))

    def read(self) -> pd.DataFrame:
        """Every stored result row (long form), with the ``point_id`` partition column."""
        if not self.done_ids():
            return pd.DataFrame(columns=["point_id", *RUN_COLUMNS])
        df = pd.read_parquet(self.runs)
        df["point_id"] = df["point_id"].astype(str)
        return df


def _atomic_text(path: Path, text: str) -> None:
    write_text_whole(path, text)
