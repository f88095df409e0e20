"""Result folders: default names, refusing to mix two runs in one folder, and saying what was kept.

``twin run``, ``twin compare`` and ``twin sweep`` write into a folder. :func:`prepare_folder`
checks it before any simulation: a folder that already holds results is refused (two runs' files
side by side would read as one run) unless the user passes ``--replace``, which clears the old
results first; a folder that cannot be made or written is an :class:`OutputError` before hours of
simulation are spent.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

from twin.core.errors import InputError
from twin.core.files import OutputError, write_text_whole

RESULT_MARKERS = ("summary.json", "scenario.json", "events.parquet", "comparison.parquet", "manifest.json", "runs",
                  "layouts", "report.html", "risk.json")
"""Files and folders that mark a folder as celltwin's (what ``--replace`` may clear)."""


def safe_name(name: str) -> str:
    """``name`` with every character other than letters, digits, ``_``, ``-`` and ``.`` made ``_``
    (no ``#``, spaces or slashes in a folder name)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "run"


def new_folder(name: str, under: str | Path = "results") -> Path:
    """A folder path that does not exist yet: ``UNDER/NAME-YYYYmmdd-HHMMSS`` (``-2``, ``-3``... if taken)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(under) / f"{safe_name(name)}-{stamp}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


def prepare_folder(out: Path, replace: bool = False) -> None:
    """Make ``out`` ready for a new result: absent or empty, or (with ``replace``) cleared of an
    old celltwin result; then check that a file can be written there.

    Raises:
        InputError: ``out`` is a file, or holds results and ``replace`` is False, or is not empty
            and holds no celltwin result (``--replace`` never clears a folder celltwin did not write).
        OutputError: ``out`` cannot be made, cleared or written.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; --out needs a folder")
    if out.is_dir() and any(out.iterdir()):
        ours = [m for m in RESULT_MARKERS if (out / m).exists()]
        if not ours:
            raise InputError(f"{out} is not empty and holds no celltwin result; choose another --out")
        if not replace:
            raise InputError(f"{out} already holds results ({', '.join(ours)}); pass --replace to clear them and "
                             "write there, or choose another --out")
        try:
            shutil.rmtree(out)
        except OSError as err:
            raise OutputError(str(out), f"cannot clear the old results: {err.strerror or err}") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(str(out), err.strerror or str(err)) from None
    probe = write_text_whole(out / ".celltwin-write-check", "")
    probe.unlink()


def kept_files(out: Path) -> list[str]:
    """The files under ``out`` that were written whole (temporary dot-files excluded), for a message."""
    if not out.is_dir():
        return []
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
