"""One test per fault class of issue 15: what a user sees when the disk, the input or the
machine misbehaves. Never a traceback, never a lost or mixed result.

Read-only folders and full disks are simulated by patching the writers (the suite runs as root on
CI, where permissions do not stop a write); killed processes are real SIGKILLs of subprocesses.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, SCENARIOS, TINY

import twin.model
from twin.cli import main
from twin.core.files import MAX_INPUT_BYTES


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    got = capsys.readouterr()
    assert "Traceback" not in got.err + got.out
    return rc, got.out, got.err


def tiny(tmp_path: Path, text: str = TINY, name: str = "tiny.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp")]


# -- reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder", "too_big"])
@pytest.mark.parametrize("where", ["scenario", "base", "catalogue"])
def test_only_regular_files_of_a_stated_size_are_read(tmp_path, capsys, kind, where) -> None:
    """A FIFO, /dev/zero, a folder or a file over MAX_INPUT_BYTES as a scenario, a sweep's base:
    or a catalogue entry: exit 2 at once, naming the file (no hang, no memory exhausted)."""
    target = {"fifo": tmp_path / "pipe.yaml", "dev_zero": Path("/dev/zero"), "folder": tmp_path / "dir.yaml",
              "too_big": tmp_path / "big.yaml"}[kind]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "too_big":
        target.write_bytes(b"# " + b"x" * MAX_INPUT_BYTES + b"\n")
    cat = tmp_path / "cat"
    if where == "scenario":
        path = target
    elif where == "base":
        path = tiny(tmp_path, f"name: s\nbase: {target}\naxes: {{seed: [1, 2]}}\n", "sweep.yaml")
    else:
        cat.mkdir()
        for p in (SCENARIOS.parent / "equipment").glob("*.yaml"):
            (cat / p.name).write_bytes(p.read_bytes())
        os.unlink(cat / "ln2_storage.yaml")
        os.symlink(target, cat / "ln2_storage.yaml")
        path = tiny(tmp_path, f"catalogue: {cat}\n" + TINY)
    t0 = time.monotonic()
    rc, out, err = cli(["sweep" if where == "base" else "validate", path, "--out", tmp_path / "o"]
                       if where == "base" else ["validate", path], capsys)
    assert rc == 2, err
    assert time.monotonic() - t0 < 30
    named = cat / "ln2_storage.yaml" if where == "catalogue" else target
    assert str(named) in err and len(err) < 600
    assert any(w in err for w in ("FIFO", "device", "folder", "bytes")), err


def test_a_base_pointing_at_a_text_file_never_shows_its_content(tmp_path, capsys) -> None:
    secret = "the-password-is-swordfish"
    notes = tmp_path / "notes.txt"
    notes.write_text(f"{secret}\n", encoding="utf-8")
    rc, _, err = cli(["sweep", tiny(tmp_path, f"name: s\nbase: {notes}\naxes: {{seed: [1]}}\n", "s.yaml")], capsys)
    assert rc == 2 and str(notes) in err and secret not in err


@pytest.mark.parametrize("data, where, words", [
    (b"name: x\x01\n", (1, 8), "control character"),
    ("name: caf\u00e9\n".encode("latin-1"), (1, 10), "not UTF-8"),
    (b"name: " + b"[" * 5000 + b"]" * 5000 + b"\n", (1, 70), "nested"),
], ids=["control", "latin-1", "5000-deep"])
def test_unreadable_yaml_is_located(tmp_path, capsys, data, where, words) -> None:
    p = tmp_path / "bad.yaml"
    p.write_bytes(data)
    rc, _, err = cli(["validate", p], capsys)
    assert rc == 2
    assert err.startswith(f"error: {p}:{where[0]}:{where[1]}:") and words in err, err


def test_an_alias_bomb_is_refused_at_a_line(tmp_path, capsys) -> None:
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]" for k in range(1, 9)]
    p = tiny(tmp_path, "\n".join(bomb) + "\n", "bomb.yaml")
    rc, _, err = cli(["validate", p], capsys)
    assert rc == 2 and re.match(rf"error: {re.escape(str(p))}:\d+:\d+: ", err) and "too large" in err, err


def test_a_huge_value_is_echoed_in_at_most_80_characters(tmp_path, capsys) -> None:
    p = tiny(tmp_path, TINY.replace("name: tiny", "name: " + "n" * 2_000_000))
    rc, _, err = cli(["validate", p], capsys)
    assert rc == 2 and "name" in err and len(err) < 400, err[:500]


def test_merge_keys_work_and_keep_lines_and_duplicate_refusal(tmp_path, capsys) -> None:
    """``<<: *anchor`` merges the anchored mapping (the keys written win); a key written twice is
    still refused; a bad merged value is reported at the anchor's line."""
    from twin.scenario.loading import load_scenario

    staff = TINY[TINY.index("    staff:"):TINY.index("referrals:")]
    assert "always_on_duty" in staff  # the fixture's staff block, replaced by a merge of the same people
    crew = "{op: {count: 1, always_on_duty: true}, qc: {count: 1, always_on_duty: true}, qp: {count: 1, always_on_duty: true}}"
    merged = TINY.replace(staff, f"    staff:\n      <<: &crew {crew}\n      qp: {{count: 1, always_on_duty: true}}\n")
    a, b = load_scenario(tiny(tmp_path, merged, "m.yaml")), load_scenario(tiny(tmp_path))
    assert a.scenario.sites == b.scenario.sites
    dup = merged.replace("      qp: {count: 1, always_on_duty: true}\n", "      qp: {count: 1, always_on_duty: true}\n      qp: {count: 2}\n")
    rc, _, err = cli(["validate", tiny(tmp_path, dup, "d.yaml")], capsys)
    assert rc == 2 and "duplicate key 'qp'" in err
    bad = merged.replace("{op: {count: 1,", "{op: {count: -1,")
    p = tiny(tmp_path, bad, "b.yaml")
    rc, _, err = cli(["validate", p], capsys)
    line = next(i for i, s in enumerate(bad.splitlines(), 1) if s.startswith("      <<: &crew"))
    assert rc == 2 and err.startswith(f"error: {p}:{line}:") and "staff.op" in err, err


def test_a_sweep_axis_on_a_missing_list_element_is_located(tmp_path, capsys) -> None:
    text = f"name: s\nbase: {tiny(tmp_path)}\naxes:\n  seed: [1]\n  couriers[7].transit_h: [1, 2]\n"
    p = tiny(tmp_path, text, "s.yaml")
    rc, _, err = cli(["sweep", p], capsys)
    assert rc == 2
    assert err.startswith(f"error: {p}:5:3: axes.couriers[7].transit_h:"), err
    assert "couriers has 2 items" in err


# -- work bounds ------------------------------------------------------------------------------


def test_an_enormous_run_is_refused_before_it_starts_unless_allowed(tmp_path, capsys) -> None:
    from twin.scenario.loading import load_scenario
    from twin.scenario.size import MAX_RUN_EVENTS, check_work

    big = TINY.replace("referrals: {times_h: [0, 1]}", "referrals: {rate_per_week: 100000}").replace(
        "horizon_days: 30", "horizon_days: 36500")
    p = tiny(tmp_path, big)
    t0 = time.monotonic()
    rc, _, err = cli(["run", p, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and time.monotonic() - t0 < 20
    assert "too large" in err and "--allow-large" in err and f"{MAX_RUN_EVENTS:,}" in err
    assert "~521,428,571 patients" in err, err  # 100,000 a week x 36,500 days / 7
    assert not (tmp_path / "o").exists()
    work = check_work(load_scenario(p).scenario, 1, str(p), allow_large=True)  # --allow-large: past the check
    assert work.events > MAX_RUN_EVENTS


@pytest.mark.parametrize("axes", [
    "referrals.rate_per_week: {range: [1, 1000000, 0.000001]}",
    "seed: {range: [1, 1000, 1]}\n  horizon_days: {range: [1, 1000, 1]}",
])
def test_a_huge_grid_is_refused_before_any_point_is_made(tmp_path, capsys, axes) -> None:
    p = tiny(tmp_path, f"name: s\nbase: {tiny(tmp_path)}\naxes:\n  {axes}\n", "s.yaml")
    t0 = time.monotonic()
    rc, _, err = cli(["sweep", p], capsys)
    assert rc == 2 and time.monotonic() - t0 < 10
    assert f"{p}:" in err and ("values" in err or "points" in err), err


def test_a_million_samples_are_refused_before_any_is_drawn(tmp_path, capsys) -> None:
    p = tiny(tmp_path, f"name: s\nbase: {tiny(tmp_path)}\naxes:\n  seed: {{range: [1, 9]}}\ndesign: lhs\n"
             "samples: 1000000\n", "s.yaml")
    t0 = time.monotonic()
    rc, _, err = cli(["sweep", p], capsys)
    assert rc == 2 and time.monotonic() - t0 < 10
    assert err.startswith(f"error: {p}:6:") and "1,000,000 points" in err and "--allow-large" in err, err


# -- results never lost -------------------------------------------------------------------------


def _full_disk(monkeypatch, after: int) -> None:
    """Parquet writes succeed ``after`` times, then fail half-way as on a full disk."""
    real = pd.DataFrame.to_parquet
    calls = {"n": 0}

    def to_parquet(self, path, *a, **kw):
        calls["n"] += 1
        if calls["n"] > after:
            Path(path).write_bytes(b"PAR1 half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *a, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)


def test_run_on_a_full_disk_says_what_it_kept_and_leaves_no_temp_file(tmp_path, capsys, monkeypatch) -> None:
    _full_disk(monkeypatch, after=1)
    out = tmp_path / "o"
    rc, stdout, err = cli(["run", tiny(tmp_path), "--out", out], capsys)
    assert rc == 1
    assert f"cannot write {out}/" in err and "No space left on device" in err and "kept: events.parquet" in err, err
    assert "throughput" in stdout  # the KPI table was shown before writing
    assert leftovers(out) == [] and (out / "events.parquet").exists()


def test_run_into_a_read_only_folder_fails_before_simulating(tmp_path, capsys, monkeypatch) -> None:
    ro = tmp_path / "ro"
    real = Path.mkdir

    def mkdir(self, *a, **kw):
        if str(self).startswith(str(ro)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    called = []
    monkeypatch.setattr(twin.model, "simulate", lambda *a, **k: called.append(1))
    for cmd in (["run", tiny(tmp_path), "--out", ro / "run"], ["compare", tiny(tmp_path), tiny(tmp_path, name="b.yaml"),
                "--out", ro / "cmp"], ["sweep", tiny(tmp_path, f"name: s\nbase: {tiny(tmp_path)}\naxes: {{seed: [1]}}\n",
                                                "s.yaml"), "--out", ro / "sw", "-w", "1"],
                ["new", "mine", "--from", "centralised", "--out", ro / "mine.yaml"]):
        rc, _, err = cli(cmd, capsys)
        assert rc == 1 and "cannot write" in err and "Read-only file system" in err, (cmd, err)
    assert called == []


def test_report_and_compare_on_a_full_disk(tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "o"
    assert cli(["run", tiny(tmp_path), "--out", out], capsys)[0] == 0
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name.endswith(".tmp") and "report" in self.name:
            real(self, data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    rc, _, err = cli(["report", out], capsys)
    assert rc == 1 and "No space left on device" in err and leftovers(out) == []
    monkeypatch.undo()
    _full_disk(monkeypatch, after=3)
    cmp = tmp_path / "cmp"
    rc, _, err = cli(["compare", tiny(tmp_path), tiny(tmp_path, name="b.yaml"), "-r", "2", "--out", cmp], capsys)
    assert rc == 1 and "No space left on device" in err and "kept:" in err and leftovers(cmp) == []


def test_sweep_on_a_full_disk_keeps_finished_tasks_for_resume(tmp_path, capsys, monkeypatch) -> None:
    sweep = tiny(tmp_path, f"name: s\nbase: {tiny(tmp_path)}\naxes: {{seed: [1, 2, 3, 4]}}\n", "s.yaml")
    out = tmp_path / "sw"
    _full_disk(monkeypatch, after=2)
    rc, _, err = cli(["sweep", sweep, "--out", out, "-w", "1", "-q"], capsys)
    assert rc == 1 and "No space left on device" in err and "2 finished scenarios" in err, err
    assert leftovers(out) == []
    monkeypatch.undo()
    rc, stdout, err = cli(["sweep", sweep, "--out", out, "-w", "1", "--resume"], capsys)
    assert rc == 0, err
    assert "2 ok, 0 failed, 2 already done (of 4)" in stdout, stdout


def test_out_into_an_existing_run_is_refused_and_replace_clears_it(tmp_path, capsys) -> None:
    out = tmp_path / "o"
    assert cli(["run", tiny(tmp_path), "--out", out, "-q"], capsys)[0] == 0
    (out / "outages.parquet").write_bytes(b"old run's")
    (out / "report.html").write_text("old report")
    rc, _, err = cli(["run", tiny(tmp_path), "--out", out, "-q"], capsys)
    assert rc == 2 and "already holds results" in err and "--replace" in err
    assert (out / "report.html").read_text() == "old report"
    rc, _, err = cli(["run", tiny(tmp_path), "--out", out, "-q", "--replace"], capsys)
    assert rc == 0, err
    assert not (out / "outages.parquet").exists() and not (out / "report.html").exists()
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("years of work")
    rc, _, err = cli(["run", tiny(tmp_path), "--out", stranger, "--replace"], capsys)
    assert rc == 2 and (stranger / "thesis.tex").exists()  # --replace never clears a folder it did not write


def test_default_folder_names_have_no_hash_or_space(tmp_path, monkeypatch) -> None:
    from twin.experiments.folders import new_folder

    monkeypatch.chdir(tmp_path)
    for name in ("compare-a#2-vs-b c", "x/y"):
        folder = new_folder(name)
        assert not set(folder.name) & set("# /") and folder.parent == Path("results")


# -- empty, failed and far-future runs ---------------------------------------------------------


def test_a_run_with_no_batches_says_so_and_report_explains(tmp_path, capsys) -> None:
    out = tmp_path / "o"
    p = tiny(tmp_path, TINY.replace("referrals: {times_h: [0, 1]}", "referrals: {times_h: [800]}"))
    rc, stdout, err = cli(["run", p, "--out", out, "--report"], capsys)
    assert rc == 0, err
    assert "batches.parquet" not in stdout and not (out / "batches.parquet").exists()
    assert "no batches" in err and "no report" in err
    rc, _, err = cli(["report", out], capsys)
    assert rc == 2 and "no patient was referred" in err
    rc, _, err = cli(["compare", p, tiny(tmp_path, TINY.replace("referrals: {times_h: [0, 1]}",
                      "referrals: {times_h: [800]}"), "b.yaml"), "-r", "2", "--out", tmp_path / "c"], capsys)
    assert rc == 0, err


def test_every_replication_failed_gives_a_message_not_a_crash(tmp_path, capsys, monkeypatch) -> None:
    def broken(*a, **k):
        raise RuntimeError("model bug")

    monkeypatch.setattr(twin.model, "simulate", broken)
    out = tmp_path / "o"
    rc, stdout, err = cli(["run", tiny(tmp_path), "--out", out, "-r", "2", "--report"], capsys)
    assert rc == 1 and "no replication completed" in stdout + err and "model bug" in err
    assert (out / "failures.txt").exists()
    rc, _, err = cli(["report", out], capsys)
    assert rc == 2 and "no replication" in err
    rc, _, err = cli(["compare", tiny(tmp_path), tiny(tmp_path, name="b.yaml"), "-r", "2", "--out", tmp_path / "c"],
                     capsys)
    assert rc == 1 and "internal error" not in err, err


def test_far_future_dates_report_or_are_refused(tmp_path, capsys) -> None:
    """2262 and later: pandas' nanosecond timestamps end in April 2262; the report uses
    microseconds. A run ending past 9999 is refused at start_date."""
    p = tiny(tmp_path, TINY.replace("start_date: 2027-01-04", "start_date: 2262-04-01"))
    out = tmp_path / "o"
    rc, _, err = cli(["run", p, "--out", out, "--report", "-q"], capsys)
    assert rc == 0 and (out / "report.html").exists(), err
    assert "2262-04-1" in (out / "report.html").read_text(encoding="utf-8")
    p = tiny(tmp_path, TINY.replace("start_date: 2027-01-04", "start_date: 9999-12-20"), "far.yaml")
    rc, _, err = cli(["run", p], capsys)
    assert rc == 2 and err.startswith(f"error: {p}:3:") and "9999" in err, err


# -- sweeps: killed processes ----------------------------------------------------------------


DRIVER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {repo!r})
    import twin.model
    from twin.cli import main

    def slow(loaded, replication=0):
        open(os.path.join({pids!r}, str(os.getpid())), "w").close()
        time.sleep(120)

    twin.model.simulate = slow
    sys.exit(main(["sweep", {sweep!r}, "--out", {out!r}, "-w", "2", "-q"]))
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped by init) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")
def test_sweep_workers_end_when_the_driver_is_killed(tmp_path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    sweep = tiny(tmp_path, f"name: s\nbase: {tiny(tmp_path)}\naxes: {{seed: [1, 2, 3, 4]}}\n", "s.yaml")
    script = DRIVER.format(repo=str(REPO), pids=str(pids), sweep=str(sweep), out=str(tmp_path / "o"))
    driver = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 60
        while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.1)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2, "the workers did not start"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = [w for w in workers if _alive(w)]
    finally:
        driver.kill()
        for w in [int(p.name) for p in pids.iterdir()]:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
    assert orphans == [], "workers outlived their driver"


@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
def test_a_worker_killed_once_loses_nothing(tmp_path, monkeypatch) -> None:
    """SIGKILL of a worker mid-task (the machine's doing, not the scenario's): the task is run
    again alone and every task is stored ok; its neighbours never see it."""
    from twin.experiments.sweep.execute import execute
    from twin.experiments.sweep.spec import load_sweep
    from twin.experiments.sweep.store import SweepStore

    real = twin.model.simulate
    marker = tmp_path / "killed-once"

    def killed_once(loaded, replication=0):
        if loaded.scenario.seed == 2 and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(loaded, replication)

    monkeypatch.setattr(twin.model, "simulate", killed_once)
    plan = load_sweep(tiny(tmp_path, f"name: s\nbase: {tiny(tmp_path)}\naxes: {{seed: [1, 2, 3, 4]}}\n", "s.yaml"))
    store = SweepStore(tmp_path / "o")
    store.open(plan.manifest(), {}, resume=False)
    counts = execute(plan, store, workers=2)
    assert marker.exists()
    assert counts == {"planned": 4, "skipped": 0, "ok": 4, "failed": 0, "lost": 0}
    assert store.read()["status"].eq("ok").all()
