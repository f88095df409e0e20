"""Start-up of the ``twin`` command: ``twin --help`` wall time in fresh processes, and what it imports.

* ``twin --help``: ``python -m twin.cli --help`` in a fresh interpreter (this tree first on
  ``PYTHONPATH``), ``--runs`` times; min and median wall seconds. Target (issue 8): under 0.3 s.
* ``python -c pass``: bare interpreter start-up on the same machine, for reference (what no CLI
  can beat).
* heavy imports: in a fresh interpreter, ``twin.cli.main(["--help"])`` is run and ``sys.modules``
  checked for numba, pandas, plotly, dask (and numpy, simpy, scipy, pyarrow, for information):
  each belongs only in the commands that need it.

    python benchmarks/bench_cli.py [--runs 10] [--json benchmarks/results/cli.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from machine import machine_info  # noqa: E402

HELP_TARGET_S = 0.3
HEAVY = ("numba", "pandas", "plotly", "dask")  # must not be imported by `twin --help`
INFO = ("numpy", "simpy", "scipy", "pyarrow", "yaml")

_PROBE = """
import json, sys
import twin.cli
try:
    twin.cli.main(["--help"])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {mods!r} if m in sys.modules)))
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def wall(cmd: list[str], runs: int) -> dict:
    """Min and median wall seconds of ``cmd`` over ``runs`` fresh processes (one untimed first)."""
    env = _env()
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # file cache, .pyc
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return {"min_s": min(times), "median_s": statistics.median(times), "runs": runs}


def imported_by_help() -> list[str]:
    """Which of HEAVY + INFO are in sys.modules after ``twin --help`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _PROBE.format(mods=HEAVY + INFO)], env=_env(),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(runs: int = 10) -> dict:
    help_ = wall([sys.executable, "-m", "twin.cli", "--help"], runs)
    bare = wall([sys.executable, "-c", "pass"], runs)
    mods = imported_by_help()
    return {"twin_help": help_, "python_pass": bare, "imported": mods,
            "heavy_imported": [m for m in mods if m in HEAVY], "target_s": HELP_TARGET_S}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "cli.json")
    args = ap.parse_args()
    res = measure(args.runs)
    h, b = res["twin_help"], res["python_pass"]
    print(f"twin --help     min {h['min_s']:.3f} s  median {h['median_s']:.3f} s  (target < {HELP_TARGET_S} s)")
    print(f"python -c pass  min {b['min_s']:.3f} s  median {b['median_s']:.3f} s")
    print(f"imported by twin --help: {', '.join(res['imported']) or 'none of ' + ', '.join(HEAVY + INFO)}")
    print(f"heavy ({', '.join(HEAVY)}): {', '.join(res['heavy_imported']) or 'none'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine_info(), **res}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
