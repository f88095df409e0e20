"""The ``twin`` command line: thin wrappers over library functions.

Exit status: 0 ok, 2 bad input (one message naming file, line and field; no traceback),
1 internal error or a failed replication, 130 interrupted.

Heavy libraries (pandas, pyarrow, scipy, simpy) are imported inside the commands that need them
so that ``twin --help`` and ``twin validate`` start fast.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from twin.core.version import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="twin",
        description="celltwin: discrete-event digital twin of a cell-therapy facility.",
    )
    p.add_argument("--version", action="version", version=f"celltwin {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="simulate a scenario and write a run folder")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", help="run folder (default: a new folder under results/)")
    run.add_argument("--replications", "-r", type=_int_in(1, 10_000), help="number of replications (default: the scenario's)")
    run.add_argument("--seed", type=_int_in(0, 2**63 - 1), help="root seed (default: the scenario's); same as --set seed=S")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the run folder")
    _workers_option(run, "the replications")
    _precision_options(run)
    _set_option(run, "override a scenario field by its dotted path before validation, e.g. --set "
                "referrals.rate_per_week=10 --set sites.central_factory.devices.clinimacs_prodigy.count=16 (repeatable)")

    cmp_ = sub.add_parser("compare", help="compare layouts with common random numbers (paired differences)")
    cmp_.add_argument("scenarios", nargs="+", help="two or more scenario files sharing their patients (or one, with "
                      "--set)")
    cmp_.add_argument("--out", help="comparison folder (default: a new folder under results/)")
    cmp_.add_argument("--replications", "-r", type=_int_in(2, 10_000), help="replications (default: the first file's)")
    cmp_.add_argument("--quiet", "-q", action="store_true", help="print only the comparison folder")
    _workers_option(cmp_, "every layout's replications")
    _precision_options(cmp_)
    _set_option(cmp_, "compare the first scenario with itself with this field changed (a variant; repeatable: "
                "every --set goes into the one variant), e.g. --set sites.central_factory.utilities.co2.backup_l=40000")
    cmp_.add_argument("--kpis", metavar="KPI,KPI", help="the KPIs to print, comma separated (default: the headline "
                      "KPIs and costs; every KPI is in comparison.parquet), e.g. vein_to_vein_p90_days,"
                      "utilisation.device.central_factory.clinimacs_prodigy")

    sw = sub.add_parser("sweep", help="run many scenarios generated from a sweep file")
    sw.add_argument("sweep", help="sweep YAML file")
    sw.add_argument("--out", help="sweep folder (default: results/sweeps/NAME)")
    sw.add_argument("--workers", "-w", type=_int_in(1, 1024), help="local worker processes (default: all cores)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (e.g. tcp://host:8786)")
    sw.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out, skipping finished ids")
    sw.add_argument("--quiet", "-q", action="store_true", help="print only the sweep folder")

    rk = sub.add_parser("risk", help="rank the facility's vulnerabilities by expected annual impact, and what each "
                        "backup buys (common random numbers against the baseline)")
    rk.add_argument("scenario", help="scenario YAML file")
    rk.add_argument("--out", help="run folder (default: a new folder under results/)")
    rk.add_argument("--replications", "-r", type=_int_in(2, 10_000), help="replications (default: the scenario's)")
    rk.add_argument("--occurrences", type=_int_in(1, 20), default=2,
                    help="scripted occurrences of each outage-like vulnerability per replication (default 2)")
    rk.add_argument("--library", metavar="FILE", help="a risk library laid over the bundled risks/defaults.yaml")
    rk.add_argument("--rank-by", default="patients_not_infused",
                    choices=["patients_not_infused", "batches_lost", "extra_v2v_median_days", "extra_v2v_p90_days",
                             "contaminated_infused", "cost", "batches_hit"], help="the expected annual impact that orders the ranking")
    rk.add_argument("--only", action="append", default=[], metavar="PATTERN",
                    help="measure only the vulnerabilities whose id matches (shell-style, e.g. 'power@*'; repeatable)")
    rk.add_argument("--no-backups", action="store_true", help="skip what each backup buys (fewer simulations)")
    rk.add_argument("--resume", action="store_true", help="continue an interrupted analysis in --out")
    rk.add_argument("--quiet", "-q", action="store_true", help="print only the run folder")
    _workers_option(rk, "the simulations")
    _set_option(rk)

    rep = sub.add_parser("report", help="write the HTML report of a run, comparison or sweep folder")
    rep.add_argument("folder", help="a folder written by twin run, twin compare or twin sweep")
    rep.add_argument("--out", help="HTML file to write (default: FOLDER/report.html)")
    _export_parser(sub)
    for p_ in (run, sw, cmp_, rk):
        p_.add_argument("--report", action="store_true", help="also write FOLDER/report.html")
        _safety_options(p_)

    val = sub.add_parser("validate", help="check a scenario without running it")
    val.add_argument("scenario", help="scenario YAML file")
    _set_option(val)

    sch = sub.add_parser("schema", help="write the scenario file's JSON schema (for editors) or its reference")
    what = sch.add_mutually_exclusive_group(required=True)
    what.add_argument("--json", action="store_true",
                      help="the JSON Schema of a scenario file, for editor validation and completion "
                      "(committed as docs/scenario.schema.json)")
    what.add_argument("--markdown", action="store_true",
                      help="the scenario reference: every field with its unit, default and range "
                      "(committed as docs/scenario-reference.md)")
    sch.add_argument("--out", help="file to write (default: standard output)")

    exp = sub.add_parser("explain", help="say in plain words what a scenario models and how loaded it will be")
    exp.add_argument("scenario", help="scenario YAML file")
    _set_option(exp)

    new = sub.add_parser("new", help="start a scenario from a bundled one, every section explained")
    new.add_argument("name", help="the new scenario's name (letters, digits, _ and -)")
    new.add_argument("--from", dest="source", required=True, metavar="SCENARIO",
                     help="a bundled scenario, e.g. centralised, academic_grex, outage_power, layouts/point_of_care, "
                     "or a scenario file's path")
    new.add_argument("--out", help="file to write (default: NAME.yaml here; never overwritten)")
    return p


def _export_parser(sub: argparse._SubParsersAction) -> None:
    """``twin export FOLDER --csv DIR | --xlsx FILE``."""
    exp = sub.add_parser("export", help="write a run, comparison or sweep folder's tables as CSV files or an Excel workbook")
    exp.add_argument("folder", help="a folder written by twin run, twin compare or twin sweep")
    exp.add_argument("--csv", metavar="DIR", help="write one CSV file per table into DIR")
    exp.add_argument("--xlsx", metavar="FILE", help="write one Excel workbook, a sheet per table (needs openpyxl: "
                     "pip install 'celltwin[excel]')")


def cmd_export(args: argparse.Namespace) -> int:
    from twin import api

    for path in api.export(args.folder, csv=args.csv, xlsx=args.xlsx):
        print(path)
    return EXIT_OK


def _safety_options(p: argparse.ArgumentParser) -> None:
    """``--allow-large`` and ``--replace`` (README: When things go wrong)."""
    p.add_argument("--allow-large", action="store_true",
                   help="run even when the up-front estimate of the work is over the limits (README: When things go wrong)")
    p.add_argument("--replace", action="store_true",
                   help="--out may name a folder holding an earlier result: clear it first (never mixes two results)")


def _set_option(p: argparse.ArgumentParser, help: str = "override a field before validation (as for run)") -> None:
    """The repeatable ``--set FIELD=VALUE`` option (into ``args.overrides``)."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE", help=help)


def _workers_option(p: argparse.ArgumentParser, what: str) -> None:
    """``--workers N``: local processes for ``what`` (into ``args.workers``; None: all cores)."""
    p.add_argument("--workers", "-w", type=_int_in(1, 1024), help=f"local worker processes for {what} (default: "
                   "all cores; 1 runs them in this process); the results are the same whatever the number")


def _precision_options(p: argparse.ArgumentParser) -> None:
    """``--precision REL`` and ``--max-replications N`` (see twin.experiments.run.Precision)."""
    from twin.experiments import DEFAULT_MAX_REPLICATIONS  # light: no pandas

    p.add_argument("--precision", type=_float_in(1e-6, 10.0), metavar="REL",
                   help="add replications (from --replications or the scenario's) until the 95%% half-width of "
                   "vein-to-vein median and p90, throughput and cost per dose is under REL times the mean, "
                   "e.g. 0.05 for 5%%, or until --max-replications")
    p.add_argument("--max-replications", type=_int_in(2, 10_000), default=DEFAULT_MAX_REPLICATIONS, metavar="N",
                   help=f"the cap for --precision (default {DEFAULT_MAX_REPLICATIONS})")


def _precision(args: argparse.Namespace):
    """The Precision rule the options ask for, or None."""
    from twin.experiments.run import Precision

    return None if args.precision is None else Precision(args.precision, args.max_replications)


def _number_in(kind: type, low: float, high: float):
    """An argparse type: a number of ``kind`` (float or int) in [low, high]."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"expected {low:g} to {high:g}, got {v:g}")
        return v

    return parse


def _float_in(low: float, high: float):
    """An argparse type: a number in [low, high]."""
    return _number_in(float, low, high)


def _int_in(low: int, high: int):
    """An argparse type: a whole number in [low, high]."""
    return _number_in(int, low, high)


def _fmt(v: float, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v - round(v)) < 1e-9 and unit != "%":
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.1f}"


NOT_USABLE = "!"
"""Marks a mean whose interval is not usable (too few replications, or wider than the mean)."""


def mean_ci_text(row, scale: float = 1.0, unit: str = "") -> str:  # row: a summarise() row
    """A KPI's mean and 95% interval as the console prints it: ``mean [low, high]``; a constant
    (the same value in every replication) without brackets; :data:`NOT_USABLE` after an
    interval with a warning."""
    val = _fmt(row.mean * scale, unit)
    if (getattr(row, "constant", False) or row.ci_low is None or math.isnan(row.ci_low)
            or row.ci_low == row.ci_high):  # a constant: no interval to show
        return val
    val += f" [{_fmt(row.ci_low * scale, 'x')}, {_fmt(row.ci_high * scale, 'x')}]"
    return val + f" {NOT_USABLE}" if getattr(row, "warning", "") else val


def kpi_table_text(summary, n_reps: int) -> str:  # summary: pandas DataFrame from results.summarise
    """The console KPI table: headline KPIs, then utilisation per resource, then what a value
    without brackets and a :data:`NOT_USABLE` mark mean, and the run's warnings."""
    from twin.results.kpis import HEADLINE
    from twin.results.stats import MIN_REPLICATIONS, summary_warnings

    by = {row.kpi: row for row in summary.itertuples(index=False)}
    rows: list[tuple[str, str]] = []
    shown: list = []

    def line(label: str, key: str, unit: str, scale: float = 1.0) -> None:
        row = by.get(key)
        if row is None:
            return
        shown.append(row)
        label = f"{label} ({unit})" if unit and unit != "patients" else label
        rows.append((label, mean_ci_text(row, scale, unit)))

    for key, label, unit in HEADLINE:
        line(label, key, unit)
    util = [r for r in by if r.startswith("utilisation.") and "@" not in r]  # per period: the report
    if util:
        rows.append(("utilisation, % of on-duty time:", ""))
        for key in util:
            _, kind, site, name = key.split(".", 3)
            line(f"  {name} @ {site}", key, "", 100.0)
    if not rows:
        return "  no KPIs: no replication completed (see failures.txt)" if n_reps == 0 else "  no KPIs"
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    head = "mean [95% CI]" if n_reps > 1 else "value"
    out = [f"  {'KPI':<{width}}  {head:>{vwidth}}", f"  {'-' * width}  {'-' * vwidth}"]
    out += [f"  {label:<{width}}  {val:>{vwidth}}" for label, val in rows]
    if n_reps > 1 and any(r.constant for r in shown):
        out.append("  a value without an interval was the same in every replication")
    if any(r.warning and not r.constant for r in shown):
        out.append(f"  {NOT_USABLE} interval not usable (under {MIN_REPLICATIONS} replications, or wider than the mean): "
                   "run more with --replications N or --precision REL")
    out += [f"  warning: {w}" for w in summary_warnings(summary, n_reps, [r.kpi for r in shown])]
    return "\n".join(out)


def _report(folder: Path, quiet: bool) -> Path | None:
    from twin.core.errors import InputError
    from twin.reports import write_report

    try:
        path = write_report(folder)
    except InputError as err:  # e.g. a run with no batches: the results stand, the report says why not
        print(f"no report: {err}", file=sys.stderr)
        return None
    if not quiet:
        print(f"report: {path}")
    return path


def cmd_report(args: argparse.Namespace) -> int:
    from twin.reports import write_report

    print(write_report(args.folder, args.out))
    return EXIT_OK


def _load(path: str, overrides: list[str]):
    """:func:`twin.api.load`, printing its advice as ``warning:`` lines on stderr."""
    from twin import api

    loaded = api.load(path, overrides, warn=False)
    for text in loaded.warnings:
        print(f"warning: {text}", file=sys.stderr)
    return loaded


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args.scenario, args.overrides)
    sc = loaded.scenario
    print(
        f"{args.scenario}: ok — scenario {sc.name!r}, {len(sc.sites)} sites, {len(sc.recipe)} recipe "
        f"steps, {sc.horizon_days:g} days, hash {loaded.scenario_hash[:12]}"
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from twin.authoring.schema import json_schema_text, markdown_reference
    from twin.core.errors import InputError

    text = json_schema_text() if args.json else markdown_reference()
    if args.out is None:
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # a console that cannot show °C or ≤: write the UTF-8 bytes
            sys.stdout.flush()
            sys.stdout.buffer.write(text.encode("utf-8"))
        return EXIT_OK
    path = Path(args.out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))  # the same bytes on every platform (no CRLF)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    print(path)
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from twin.authoring.explain import describe

    print(describe(_load(args.scenario, args.overrides)))
    return EXIT_OK  # the load warnings are advice


def cmd_new(args: argparse.Namespace) -> int:
    from twin.authoring.new import new_scenario

    path = new_scenario(args.name, args.source, args.out)
    what = (f"the bundled scenario {args.source.removesuffix('.yaml')!r}" if not Path(args.source).is_file()
            else args.source)
    print(f"wrote {path}: a copy of {what} named {args.name!r}, every section "
          f"explained\nnext: twin explain {path}   (then: twin run {path})")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from twin import api
    from twin.experiments.folders import kept_files, new_folder, prepare_folder
    from twin.scenario.size import check_work

    loaded = _load(args.scenario, list(args.overrides) + ([f"seed={args.seed}"] if args.seed is not None else []))
    sc = loaded.scenario
    n = args.replications or sc.replications
    check_work(sc, n, args.scenario, args.allow_large)
    out = Path(args.out) if args.out else new_folder(sc.name)
    prepare_folder(out, args.replace)
    precision = _precision(args)
    of = f"{n}" if precision is None else f"{max(n, precision.max_replications)} at most"

    def progress(rep: int, secs: float) -> None:
        if not args.quiet:
            print(f"  replication {rep + 1}/{of} done in {secs:.2f} s", file=sys.stderr)

    run = api.run(loaded, replications=n, on_replication=progress, precision=precision, workers=args.workers)
    result = run.result
    n = result.provenance["replications"]
    if not args.quiet:  # before writing: if the disk fails, the figures are still on screen
        prov = result.provenance
        print(
            f"\ncelltwin {prov['celltwin_version']} · scenario {sc.name!r} · seed {prov['root_seed']} · "
            f"{n} replication{'s' if n != 1 else ''} · window day {sc.warmup_days:g}-{sc.horizon_days:g} · "
            f"{prov['wall_time_s']:.2f} s"
        )
        print(kpi_table_text(result.summary, result.provenance["replications_completed"]))
        if result.precision:
            print(precision_text(result.precision))
    run.save(out)
    if args.quiet:
        print(out)
    else:
        print(f"\nresults in {out}/ ({', '.join(f for f in kept_files(out) if '/' not in f)})")
        if not len(result.batches):
            print("no batches: no patient was referred within the horizon" if not result.failures
                  else "no batches: no replication completed", file=sys.stderr)
    if args.report:
        _report(out, args.quiet)
    for f in result.failures:
        print(f"replication {f['replication']} failed: {f['error']} (see {out}/failures.txt)", file=sys.stderr)
    return EXIT_INTERNAL if result.failures else EXIT_OK


def precision_text(status: dict) -> str:
    """One line on what ``--precision`` reached (``status``: a run's ``precision`` record)."""
    rel, n = status["rel"], status["replications"]
    kpis = status["kpis"]
    worst = max(kpis, key=lambda k: kpis[k]["rel_half_width"] or math.inf) if kpis else None
    if status["reached"]:
        return f"  precision: every main KPI's 95% half-width under {rel:.1%} of its mean after {n} replications"
    where = (f"; widest {worst} at {kpis[worst]['rel_half_width']:.1%}" if worst and kpis[worst]["rel_half_width"]
             is not None else "")
    return (f"  precision: NOT reached: half-width under {rel:.1%} of the mean not met at the cap of "
            f"{status['max_replications']} replications{where}")


def _compare_keys(present: set[str], currency: str, chosen: list[str] | None,
                  nonzero: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(KPI, label with unit) of the rows the comparison table shows: ``chosen``, or the
    headline KPIs, the outage impacts (batches hit, hours lost, paused and on backup; those in
    ``nonzero``, the KPIs some layout has a non-zero mean of) and, with costs, cost per dose and
    the cost in the window by category."""
    from twin.results.kpis import HEADLINE

    labels = {k: f"{label} ({unit})" if unit else label for k, label, unit in HEADLINE}
    cur = f" ({currency})" if currency else ""
    labels.update({"cost_per_dose": f"cost per dose{cur}", "cost.total": f"cost in the window{cur}"})
    labels.update({f"cost.{c}": f"  {c}" for c in ("capital", "cleanroom", "labour", "consumables", "qc", "courier",
                                                   "overhead")})
    if chosen:
        return [(k, labels.get(k, _kpi_label(k))) for k in chosen]
    keys = [k for k, _, _ in HEADLINE]
    labels.update({"outages.batches_hit": "batches hit by outages", "outages.lost_h": "hours lost to outages (h)",
                   "outages.delay_h": "batch hours paused (h)", "outages.backup_h": "backup hours (h)"})
    keys += [k for k in ("outages.batches_hit", "outages.lost_h", "outages.delay_h", "outages.backup_h")
             if k in nonzero]
    if "cost_per_dose" in present:
        keys += ["cost_per_dose", "cost.total", *[k for k in labels if k.startswith("cost.") and k != "cost.total"]]
    return [(k, labels[k]) for k in keys]


def _kpi_label(key: str) -> str:
    """A per-pool KPI's console label: ``clinimacs_prodigy @ central_factory, utilisation (%)``."""
    metric, _, rest = key.partition(".")
    if metric in ("utilisation", "availability", "wait_h_mean") and rest.count(".") >= 2:
        _, site, name = rest.split(".", 2)
        unit = "h" if metric == "wait_h_mean" else "%"
        return f"{name} @ {site}, {metric.replace('_h_mean', '')} ({unit})"
    return key


def _pm(mean: float, low: float, high: float, scale: float, sign: bool = False) -> str:
    """``mean ±half-width`` of a 95% interval; just the mean when the interval has no width
    (a fixed cost) or is unknown."""
    if mean is None or mean != mean:
        return "-"

    def num(v: float) -> str:  # whole above 1,000 so a cost fits a column
        return f"{v:,.0f}" if abs(v) >= 1000 else _fmt(v)

    text = num(mean * scale)
    if sign and mean * scale > 0:
        text = "+" + text
    half = (high - low) / 2 * scale if low == low and high == high else 0.0
    return f"{text} ±{num(half)}" if half > 1e-9 * max(1.0, abs(mean * scale)) else text


def comparison_text(table, names: list[str], currency: str = "", kpis: list[str] | None = None,
                    width: int | None = None) -> str:  # table: pandas DataFrame from twin.experiments.compare
    """Console table, KPIs by layout: each KPI's mean ±95% half-width per layout, and under it
    the paired change from the first layout (±its own half-width). Layouts that do not fit in
    ``width`` columns (default: the terminal's, at least 100) go into further blocks below."""
    import shutil

    width = width or max(100, shutil.get_terminal_size((100, 24)).columns)
    by = {(r.layout, r.kpi): r for r in table.itertuples(index=False)}
    nonzero = frozenset(table.loc[table["mean"].fillna(0) != 0, "kpi"])
    keys = _compare_keys(set(table["kpi"]), currency, kpis, nonzero)
    first = names[0]
    rows: list[tuple[str, list[str]]] = []
    for key, label in keys:
        scale = 100.0 if key.startswith(("utilisation.", "availability.")) else 1.0
        cells = [mean_ci_text(r, scale) if (r := by.get((n, key))) is not None else "-" for n in names]
        rows.append((label, cells))
        diffs = ["" if n == first or (r := by.get((n, key))) is None
                 else _pm(r.diff_mean, r.diff_ci_low, r.diff_ci_high, scale, sign=True) for n in names]
        if any(d not in ("", "-", "0") for d in diffs):
            indent = label[: len(label) - len(label.lstrip())]
            rows.append((f"{indent}  change vs {first}"[:40], diffs))
    lw = max(len(label) for label, _ in rows)
    col = max(12, *(len(c) for _, cells in rows for c in cells), *(len(n) for n in names))
    col = min(col, max(12, width - lw - 4))
    per = max(1, (width - 2 - lw) // (col + 2))
    blocks = []
    for start in range(0, len(names), per):
        idx = range(start, min(start + per, len(names)))
        head = "  " + "KPI".ljust(lw) + "".join("  " + names[i][:col].rjust(col) for i in idx)
        lines = [head, "  " + "-" * lw + "".join("  " + "-" * col for _ in idx)]
        lines += ["  " + label.ljust(lw) + "".join("  " + cells[i][:col].rjust(col) for i in idx)
                  for label, cells in rows]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _check_kpis(chosen: list[str] | None, layouts) -> None:
    """Refuse a ``--kpis`` name no layout's runs report, before anything runs."""
    if not chosen:
        return
    import difflib

    from twin.core.errors import InputError
    from twin.experiments.sweep.spec import OPEN_FAMILIES, kpi_names

    known = set().union(*(kpi_names(ld) for ld in layouts))
    for k in chosen:
        if k not in known and not k.startswith(OPEN_FAMILIES):
            close = difflib.get_close_matches(k, sorted(known), n=1, cutoff=0.6)
            raise InputError(f"--kpis: no run reports a KPI named {k!r}" + (f"; did you mean {close[0]!r}?" if close else ""))


def comparison_notes(result) -> str:  # result: twin.api.Comparison
    """What the comparison table's marks mean, its warnings and what ``--precision`` reached."""
    from twin.results.kpis import HEADLINE
    from twin.results.stats import summary_warnings

    lines = ["  a value without an interval was the same in every replication; "
             f"{NOT_USABLE}: interval not usable (too few replications, or wider than the mean)"]
    heads = [k for k, _, _ in HEADLINE]
    runs = [(name, result.runs[name].result) for name in result.names]
    for name, run in runs:
        lines += [f"  warning ({name}): {w}" for w in
                  summary_warnings(run.summary, run.provenance["replications_completed"], heads)]
    for name, run in runs:
        if run.precision:
            lines.append(precision_text(run.precision).replace("precision:", f"precision ({name}):", 1))
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    from twin import api
    from twin.experiments.folders import new_folder, prepare_folder
    from twin.scenario.size import check_work

    layouts = [_load(p, []) for p in args.scenarios]
    paths = list(args.scenarios)
    if args.overrides:  # the first scenario against itself with the changed fields
        layouts.append(_load(args.scenarios[0], args.overrides))
        paths.append(args.scenarios[0])
    elif len(layouts) < 2:
        from twin.core.errors import InputError

        raise InputError("compare needs two or more scenario files, or one with --set FIELD=VALUE (a variant of it)")
    n = args.replications or layouts[0].scenario.replications
    for p, lay in zip(paths, layouts):
        check_work(lay.scenario, n, p, args.allow_large)
    chosen = [k.strip() for k in args.kpis.split(",") if k.strip()] if args.kpis else None
    _check_kpis(chosen, layouts)
    out = Path(args.out) if args.out else new_folder("compare-" + "-vs-".join(lay.scenario.name for lay in layouts))
    prepare_folder(out, args.replace)

    def progress(layout: str, rep: int, secs: float) -> None:
        if not args.quiet:
            print(f"  {layout}: replication {rep + 1}/{n} done in {secs:.2f} s", file=sys.stderr)

    result = api.compare(layouts, args.replications, on_replication=progress, precision=_precision(args),
                         workers=args.workers)
    result.save(out)
    if args.quiet:
        print(out)
    else:
        print(f"\n{len(result.names)} layouts, {n} replications each, common random numbers (seed "
               f"{layouts[0].scenario.seed}); mean [95% CI] per layout, and the paired change vs {result.names[0]!r} "
              "(±95% half-width):")
        costs = layouts[0].scenario.costs
        if args.overrides:
            print(f"  ({result.names[-1]} = {result.names[0]} with --set {' --set '.join(args.overrides)})")
        print(comparison_text(result.table, result.names, costs.currency if costs else "", chosen))
        print(comparison_notes(result))
        print(f"\nresults in {out}/ (comparison.parquet, layouts/NAME/ run folders)")
    if args.report:
        _report(out, args.quiet)
    return EXIT_INTERNAL if any(r.failures for r in result.runs.values()) else EXIT_OK


def sensitivity_text(path: Path) -> str:
    """The first KPI's standardised regression coefficients from a sweep's ``sensitivity.csv``
    (random and lhs designs), largest first; "" without one."""
    import pandas as pd

    if not path.exists():
        return ""
    t = pd.read_csv(path)
    t = t[(t["measure"] == "SRC") & (t["kpi"] == t["kpi"].iloc[0])] if len(t) else t
    if not len(t):
        return ""
    lines = [f"\nSensitivity of {t['kpi'].iloc[0]} (standardised regression coefficient [95% CI], "
             f"R² {t['r2'].iloc[0]:.2f}):"]
    lines += [f"  {r.axis}: {r.value:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" for r in t.head(5).itertuples(index=False)]
    return "\n".join(lines) + "\n"


def cmd_sweep(args: argparse.Namespace) -> int:
    from twin import api
    from twin.experiments.progress import Progress
    from twin.experiments.sweep.answer import wide

    plan = api.plan_sweep(args.sweep, allow_large=args.allow_large)
    out = Path(args.out) if args.out else Path("results") / "sweeps" / plan.spec.name
    where = f"Dask at {args.scheduler}" if args.scheduler else f"{args.workers or os.cpu_count()} local workers"
    if not args.quiet:
        print(f"sweep {plan.spec.name!r}: {len(plan.points)} points x {plan.spec.replications} replications "
              f"= {len(plan.tasks)} scenarios on {where} -> {out}", file=sys.stderr)
    progress = Progress(len(plan.tasks), enabled=not args.quiet)
    try:
        done = api.run_sweep(plan, out, args.workers, api.SweepOptions(
            resume=args.resume, replace=args.replace, scheduler=args.scheduler, on_result=progress.update))
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted; finished scenarios are kept. Resume with:\n  twin sweep {args.sweep} "
              f"--out {out} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException:
        progress.close()
        raise
    progress.close()
    counts, summary, answer = done.counts, done.summary, done.answer
    if args.quiet:
        print(out)
    else:
        lost = (f", {counts['lost']} lost to worker deaths (not stored; `--resume` retries them)"
                if counts.get("lost") else "")
        print(f"\n{counts['ok']} ok, {counts['failed']} failed{lost}, {counts['skipped']} already done "
              f"(of {counts['planned']})")
        shown = [k for k in ("vein_to_vein_p90_days", "dropped_out_fraction_of_resolved", "throughput_per_year") if k in set(summary["kpi"])]
        shown += [k for k in plan.spec.targets if k not in shown]
        import pandas as pd

        def short(df: pd.DataFrame) -> pd.DataFrame:  # last two parts of each axis path
            return df.rename(columns={a: ".".join(a.replace("[", ".").replace("]", "").split(".")[-2:]) for a in plan.spec.axes})

        axes = list(plan.spec.axes)
        with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_rows", 200):
            print("\nKPI means per point:")
            table = wide(summary, plan, shown).drop(columns="point_id").sort_values(axes)
            print(short(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
            if len(answer):
                print("\nCheapest configuration meeting the targets, per demand level:")
                print(short(answer).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            if done.by_period is not None and len(done.by_period):
                print("\nCheapest plan meeting the targets in every period up to each:")
                print(short(done.by_period).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
                print("\nFirst period where each plan misses a target:")
                print(short(done.first_failure.drop(columns="point_id")).to_string(
                    index=False, float_format=lambda v: f"{v:.4g}"))
        sens = out / "sensitivity.csv"
        print(sensitivity_text(sens), end="")
        extra = ", answer.csv" if len(answer) else ""
        extra += ", answer_by_period.csv, first_failure.csv" if (out / "answer_by_period.csv").exists() else ""
        extra += ", sensitivity.csv" if sens.exists() else ""
        print(f"\nresults in {out}/ (runs/, summary.parquet{extra})")
    if args.report:
        _report(out, args.quiet)
    return EXIT_INTERNAL if counts["failed"] or counts.get("lost") else EXIT_OK


def risk_text(ranking, top: int = 15) -> str:  # ranking: RiskResult.ranking
    """The ranked vulnerabilities as a console table: expected a year with 95% intervals."""
    def iv(r, m: str) -> str:
        mean, lo, hi = r.get(f"annual.{m}"), r.get(f"annual_ci_low.{m}"), r.get(f"annual_ci_high.{m}")
        if mean is None or mean != mean:
            return "n/a"
        return f"{mean:.3g} [{lo:.3g}, {hi:.3g}]" if lo == lo else f"{mean:.3g}"

    lines = [f"{'#':>3}  {'vulnerability':<44} {'per yr':>7}  {'patients not infused /yr':<26} "
             f"{'extra p90 days /yr':<24} {'batches hit /occ':>8}"]
    for _, r in ranking.head(top).iterrows():
        if r["status"] != "ok":
            lines.append(f"{int(r['rank']):>3}  {r['id']:<44} not applicable: {str(r['status'])[:80]}")
            continue
        hit = r.get("per_occurrence.batches_hit")
        lines.append(f"{int(r['rank']):>3}  {r['id']:<44} {r['frequency_per_year']:>7.3g}  "
                     f"{iv(r, 'patients_not_infused'):<26} {iv(r, 'extra_v2v_p90_days'):<24} "
                     f"{(f'{hit:.2g}' if hit == hit else ''):>8}")
    if len(ranking) > top:
        lines.append(f"  ... {len(ranking) - top} more in ranking.csv")
    return "\n".join(lines)


def cmd_risk(args: argparse.Namespace) -> int:
    from twin import api
    from twin.experiments.folders import new_folder
    from twin.experiments.progress import Progress
    from twin.experiments.risk.analysis import RiskOptions
    from twin.scenario.size import check_work

    loaded = _load(args.scenario, args.overrides)
    n = args.replications or loaded.scenario.replications
    check_work(loaded.scenario, n, args.scenario, args.allow_large)
    out = Path(args.out) if args.out else new_folder(f"risk-{loaded.scenario.name}")
    progress = Progress(1, enabled=not args.quiet)
    opts = RiskOptions(replications=n, occurrences=args.occurrences, workers=args.workers, resume=args.resume,
                       replace=args.replace, backups=not args.no_backups, rank_by=args.rank_by,
                       only=tuple(args.only), on_result=progress.update)
    try:
        result = api.risk(loaded, out, args.library, opts)
    finally:
        progress.close()
    if args.quiet:
        print(out)
    else:
        print(f"\n{len(result.ranking)} vulnerabilities, {n} replications each against the baseline (common random "
              f"numbers, seed {loaded.scenario.seed}); expected a year, mean [95% CI], ranked by {args.rank_by}:")
        print(risk_text(result.ranking))
        print(f"\nresults in {out}/ (ranking.csv, impacts, occurrences, backups, vulnerabilities; risk.json)")
    if args.report:
        _report(out, args.quiet)
    c = result.counts
    return EXIT_INTERNAL if c.get("failed") or c.get("lost") else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` console script; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    handler = {"run": cmd_run, "validate": cmd_validate, "sweep": cmd_sweep, "report": cmd_report,
               "compare": cmd_compare, "schema": cmd_schema, "explain": cmd_explain, "new": cmd_new,
               "export": cmd_export, "risk": cmd_risk}[args.command]
    return _guarded(handler, args)


def _guarded(handler, args: argparse.Namespace) -> int:  # handler: one of the cmd_* functions
    """Run a command; every failure becomes one ``error:`` line and an exit status, never a
    traceback (set TWIN_TRACEBACK=1 to see one for an internal error)."""
    from twin.core.errors import InputError
    from twin.core.files import OutputError

    try:
        return handler(args)
    except InputError as err:
        print(f"error: {_short(str(err))}", file=sys.stderr)
        return EXIT_INPUT
    except OutputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("error: out of memory (a smaller horizon, demand or fewer replications need less)", file=sys.stderr)
        return EXIT_INTERNAL
    except OSError as err:  # a file the command needed (a result folder to read, say)
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as err:  # a bug: say so in one line rather than a traceback
        if os.environ.get("TWIN_TRACEBACK"):
            raise
        print(f"internal error: {type(err).__name__}: {_short(str(err))} (please report it; set TWIN_TRACEBACK=1 "
              "to see where)", file=sys.stderr)
        return EXIT_INTERNAL


def _short(text: str, limit: int = 2000) -> str:
    """A message cut to ``limit`` characters (the last guard against echoing a huge value)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
