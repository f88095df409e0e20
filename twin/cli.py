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
    _set_option(run, "override a scenario field by its dotted path before validation, e.g. --set "
                "referrals.rate_per_week=10 --set sites.central_factory.devices.clinimacs_prodigy.count=16 (repeatable)")

    cmp_ = sub.add_parser("compare", help="compare layouts with common random numbers (paired differences)")
    cmp_.add_argument("scenarios", nargs="+", help="two or more scenario files sharing their patients")
    cmp_.add_argument("--out", help="comparison folder (default: a new folder under results/)")
    cmp_.add_argument("--replications", "-r", type=_int_in(2, 10_000), help="replications (default: the first file's)")
    cmp_.add_argument("--quiet", "-q", action="store_true", help="print only the comparison folder")

    sw = sub.add_parser("sweep", help="run many scenarios generated from a sweep file")
    sw.add_argument("sweep", help="sweep YAML file")
    sw.add_argument("--out", help="sweep folder (default: results/sweeps/NAME)")
    sw.add_argument("--workers", "-w", type=_int_in(1, 1024), help="local worker processes (default: all cores)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (e.g. tcp://host:8786)")
    sw.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out, skipping finished ids")
    sw.add_argument("--quiet", "-q", action="store_true", help="print only the sweep folder")

    rep = sub.add_parser("report", help="write the HTML report of a run or sweep folder")
    rep.add_argument("folder", help="a folder written by twin run or twin sweep")
    rep.add_argument("--out", help="HTML file to write (default: FOLDER/report.html)")
    for p_ in (run, sw, cmp_):
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
                     help="a bundled scenario, e.g. centralised, academic_grex, outage_power, layouts/point_of_care")
    new.add_argument("--out", help="file to write (default: NAME.yaml here; never overwritten)")
    return p


def _safety_options(p: argparse.ArgumentParser) -> None:
    """``--allow-large`` and ``--replace`` (README: When things go wrong)."""
    p.add_argument("--allow-large", action="store_true",
                   help="run even when the up-front estimate of the work is over the limits (README: When things go wrong)")
    p.add_argument("--replace", action="store_true",
                   help="--out may name a folder holding an earlier result: clear it first (never mixes two results)")


def _set_option(p: argparse.ArgumentParser, help: str = "override a field before validation (as for run)") -> None:
    """The repeatable ``--set FIELD=VALUE`` option (into ``args.overrides``)."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE", help=help)


def _int_in(low: int, high: int):
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= v <= high:
            raise argparse.ArgumentTypeError(f"expected {low} to {high}, got {v}")
        return v

    return parse


def _fmt(v: float, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v - round(v)) < 1e-9 and unit != "%":
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.1f}"


def kpi_table_text(summary, n_reps: int) -> str:  # summary: pandas DataFrame from results.summarise
    """The console KPI table: headline KPIs, then utilisation per resource."""
    from twin.results.kpis import HEADLINE

    by = {row.kpi: row for row in summary.itertuples(index=False)}
    rows: list[tuple[str, str]] = []

    def line(label: str, key: str, unit: str, scale: float = 1.0) -> None:
        row = by.get(key)
        if row is None:
            return
        val = _fmt(row.mean * scale, unit)
        if n_reps > 1 and not math.isnan(row.ci_low):
            val += f" [{_fmt(row.ci_low * scale, 'x')}, {_fmt(row.ci_high * scale, 'x')}]"
        label = f"{label} ({unit})" if unit and unit != "patients" else label
        rows.append((label, val))

    for key, label, unit in HEADLINE:
        line(label, key, unit)
    util = [r for r in by if r.startswith("utilisation.")]
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


def cmd_validate(args: argparse.Namespace) -> int:
    from twin.scenario.loading import load_scenario

    loaded = load_scenario(args.scenario, args.overrides)
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
    from twin.scenario.loading import load_scenario

    print(describe(load_scenario(args.scenario, args.overrides)))
    return EXIT_OK  # the load warnings are advice


def cmd_new(args: argparse.Namespace) -> int:
    from twin.authoring.new import new_scenario

    path = new_scenario(args.name, args.source, args.out)
    print(f"wrote {path}: a copy of the bundled scenario {args.source.removesuffix('.yaml')!r} named {args.name!r}, every section "
          f"explained\nnext: twin explain {path}   (then: twin run {path})")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from twin.experiments.folders import kept_files, new_folder, prepare_folder
    from twin.experiments.run import run_scenario, write_run
    from twin.scenario.loading import load_scenario
    from twin.scenario.size import check_work

    overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed is not None else [])
    loaded = load_scenario(args.scenario, overrides)
    sc = loaded.scenario
    n = args.replications or sc.replications
    check_work(sc, n, args.scenario, args.allow_large)
    out = Path(args.out) if args.out else new_folder(sc.name)
    prepare_folder(out, args.replace)

    def progress(rep: int, secs: float) -> None:
        if not args.quiet:
            print(f"  replication {rep + 1}/{n} done in {secs:.2f} s", file=sys.stderr)

    result = run_scenario(loaded, replications=n, on_replication=progress)
    if not args.quiet:  # before writing: if the disk fails, the figures are still on screen
        prov = result.provenance
        print(
            f"\ncelltwin {prov['celltwin_version']} · scenario {sc.name!r} · seed {prov['root_seed']} · "
            f"{n} replication{'s' if n != 1 else ''} · window day {sc.warmup_days:g}-{sc.horizon_days:g} · "
            f"{prov['wall_time_s']:.2f} s"
        )
        print(kpi_table_text(result.summary, result.provenance["replications_completed"]))
    write_run(result, out)
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


def comparison_text(table, names: list[str]) -> str:  # table: pandas DataFrame from twin.experiments.compare
    """Console table: each headline KPI and cost per layout (mean [CI]) and the paired difference
    from the first layout (utilisation per pool is in comparison.parquet and the report)."""
    from twin.results.kpis import HEADLINE

    rows = [("KPI", *[f"{n}" for n in names], *[f"{n} - {names[0]}" for n in names[1:]])]
    by = {(r.layout, r.kpi): r for r in table.itertuples(index=False)}
    keys = [(k, f"{label} ({unit})" if unit else label) for k, label, unit in HEADLINE]
    present = set(table["kpi"])
    if "cost_per_dose" in present:
        keys += [("cost_per_dose", "cost per dose"), ("cost.total", "cost in the window")]
        keys += [(f"cost.{c}", f"  {c}") for c in ("capital", "cleanroom", "labour", "consumables", "qc", "courier", "overhead")]
    for key, label in keys:
        scale = 100.0 if key.startswith("utilisation.") else 1.0
        cells = [label]
        for n in names:
            r = by.get((n, key))
            cells.append("-" if r is None else f"{_fmt(r.mean * scale)} [{_fmt(r.ci_low * scale)}, {_fmt(r.ci_high * scale)}]")
        for n in names[1:]:
            r = by.get((n, key))
            ok = r is not None and r.diff_mean == r.diff_mean  # not NaN
            cells.append(f"{_fmt(r.diff_mean * scale)} [{_fmt(r.diff_ci_low * scale)}, {_fmt(r.diff_ci_high * scale)}]"
                         if ok else "-")
        rows.append(tuple(cells))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    from twin.core.files import OutputError, write_whole
    from twin.experiments.compare import compare
    from twin.experiments.folders import kept_files, new_folder, prepare_folder
    from twin.experiments.run import write_run
    from twin.scenario.loading import load_scenario
    from twin.scenario.size import check_work

    layouts = [load_scenario(p) for p in args.scenarios]
    for p, lay in zip(args.scenarios, layouts):
        check_work(lay.scenario, args.replications or layouts[0].scenario.replications, p, args.allow_large)
    out = Path(args.out) if args.out else new_folder("compare-" + "-vs-".join(lay.scenario.name for lay in layouts))
    prepare_folder(out, args.replace)
    result = compare(layouts, args.replications)
    try:
        for name, run in zip(result.names, result.runs):
            write_run(run, out / "layouts" / name)
        write_whole(out / "comparison.parquet", lambda p: result.table.to_parquet(p, index=False))
    except OutputError as err:
        err.kept = kept_files(out)
        raise
    if args.quiet:
        print(out)
    else:
        n = result.runs[0].provenance["replications"]
        print(f"\n{len(result.names)} layouts, {n} replications each, common random numbers (seed "
              f"{layouts[0].scenario.seed}); mean [95% CI], and paired difference vs {result.names[0]!r}:")
        print(comparison_text(result.table, result.names))
        print(f"\nresults in {out}/ (comparison.parquet, layouts/NAME/ run folders)")
    if args.report:
        _report(out, args.quiet)
    return EXIT_INTERNAL if any(r.failures for r in result.runs) else EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from twin.core.files import OutputError, write_whole
    from twin.experiments.folders import prepare_folder
    from twin.experiments.progress import Progress
    from twin.experiments.sweep.answer import planners_answer, point_summary, wide
    from twin.experiments.sweep.execute import execute
    from twin.experiments.sweep.spec import load_sweep
    from twin.experiments.sweep.store import SweepStore

    plan = load_sweep(args.sweep, allow_large=args.allow_large)
    out = Path(args.out) if args.out else Path("results") / "sweeps" / plan.spec.name
    if not args.resume and (args.replace or not (out / "manifest.json").exists()):
        prepare_folder(out, args.replace)
    store = SweepStore(out)
    store.open(plan.manifest(), {"spec": plan.spec.model_dump(mode="json"), "points": plan.points, "tasks": [
        {"scenario_id": t.scenario_id, "point_id": t.point_id, "replication": t.replication} for t in plan.tasks
    ]}, resume=args.resume)
    where = f"Dask at {args.scheduler}" if args.scheduler else f"{args.workers or os.cpu_count()} local workers"
    if not args.quiet:
        print(f"sweep {plan.spec.name!r}: {len(plan.points)} points x {plan.spec.replications} replications "
              f"= {len(plan.tasks)} scenarios on {where} -> {out}", file=sys.stderr)
    progress = Progress(len(plan.tasks), enabled=not args.quiet)
    try:
        counts = execute(plan, store, workers=args.workers, scheduler=args.scheduler, on_result=progress.update)
        progress.close()
        summary = point_summary(plan, store.read())
        write_whole(out / "summary.parquet", lambda p: summary.to_parquet(p, index=False))
        answer = planners_answer(plan, summary)
        if len(answer):
            write_whole(out / "answer.csv", lambda p: answer.to_csv(p, index=False))
    except KeyboardInterrupt:
        progress.close()
        print(f"\ninterrupted; finished scenarios are kept. Resume with:\n  twin sweep {args.sweep} "
              f"--out {out} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OutputError as err:
        progress.close()
        err.kept = [f"{len(store.done_ids())} finished scenarios in {store.runs} (resume with --resume once "
                    "there is room)"]
        raise
    if args.quiet:
        print(out)
    else:
        lost = (f", {counts['lost']} lost to worker deaths (not stored; `--resume` retries them)"
                if counts.get("lost") else "")
        print(f"\n{counts['ok']} ok, {counts['failed']} failed{lost}, {counts['skipped']} already done "
              f"(of {counts['planned']})")
        shown = [k for k in ("vein_to_vein_p90_days", "dropped_out_fraction", "throughput_per_year") if k in set(summary["kpi"])]
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
        print(f"\nresults in {out}/ (runs/, summary.parquet{', answer.csv' if len(answer) else ''})")
    if args.report:
        _report(out, args.quiet)
    return EXIT_INTERNAL if counts["failed"] or counts.get("lost") else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` console script; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    handler = {"run": cmd_run, "validate": cmd_validate, "sweep": cmd_sweep, "report": cmd_report,
               "compare": cmd_compare, "schema": cmd_schema, "explain": cmd_explain, "new": cmd_new}[args.command]
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
