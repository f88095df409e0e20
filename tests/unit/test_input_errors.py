"""The user-facing error contract of ``twin validate`` / ``twin run``.

Bad input must give exit status 2 and exactly one line on stderr, naming the file, the line
(``path:LINE:``), the dotted field and what was expected, with no traceback. Each case starts from
the text of the bundled ``scenarios/centralised.yaml`` and changes one thing by text replacement;
the expected line number is computed from the edited text, so the tests follow edits of the
bundled file.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from twin.cli import main
from twin.scenario.loading import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "centralised.yaml"
BASE = SCENARIO.read_text(encoding="utf-8")


# -- helpers ---------------------------------------------------------------------------------


def edit(old: str, new: str, text: str = BASE) -> str:
    """``text`` with the single occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"test setup: {old!r} must occur exactly once in the scenario"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based number of the line holding the single occurrence of ``needle``."""
    assert text.count(needle) == 1, f"test setup: {needle!r} must occur exactly once"
    return text.count("\n", 0, text.index(needle)) + 1


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_one_line_error(rc: int, out: str, err: str) -> str:
    """Exit status 2, nothing on stdout, one stderr line without a traceback; returns the line."""
    assert rc == 2, f"expected exit status 2, got {rc}; stderr: {err!r}"
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {err!r}"
    assert out == "", f"nothing should reach stdout on bad input, got {out!r}"
    return lines[0]


def assert_located(msg: str, path: Path, line: int | None, field: str | None, words: tuple[str, ...]) -> None:
    """``msg`` is ``error: PATH:LINE[:COL]: FIELD: ...`` and contains every one of ``words``."""
    assert str(path) in msg, msg
    if line is not None:
        assert msg.startswith(f"error: {path}:{line}:"), f"expected line {line}: {msg}"
    if field is not None:
        assert f" {field}: " in msg, f"expected field {field!r}: {msg}"
    for word in words:
        assert word.lower() in msg.lower(), f"expected {word!r} in: {msg}"


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (POSIX main thread only; elsewhere a no-op)."""

    def _boom(signum, frame):  # pragma: no cover - only on a hang
        raise TimeoutError(f"took more than {seconds} s")

    try:
        old = signal.signal(signal.SIGALRM, _boom)
    except (AttributeError, ValueError):  # no SIGALRM (Windows) or not the main thread
        yield
        return
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- the bundled scenario is valid -------------------------------------------------------------


def test_bundled_scenario_validates(capsys) -> None:
    """The reference scenario passes ``twin validate`` (exit 0, an 'ok' line, nothing on stderr)."""
    rc, out, err = run_cli(["validate", str(SCENARIO)], capsys)
    assert rc == 0, err
    assert err == ""
    assert "ok" in out and "centralised" in out


# -- one located error per kind of mistake ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    old: str  # text in the bundled scenario ...
    new: str  # ... replaced by this
    at: str  # unique text in the edited file on the line the error must name
    field: str | None  # dotted field the error must name
    words: tuple[str, ...]  # words saying what was expected


TRANSDUCTION = "duration_h: {dist: fixed, value: 48}"
SELECTION_DEVICE = "    device: clinimacs_prodigy\n    duration_h: {dist: triangular, low: 20"
PRODIGY_POOL = "clinimacs_prodigy: {count: 14}"
QP_STAFF = "      qualified_person: {count: 1, shift: office, absence_per_day: 0.03}\n"

CASES = [
    Case(
        "syntax-mapping-value",  # a key indented one column too far continues the previous scalar
        "  tests:\n", "   tests:\n", "   tests:", None, ("YAML syntax error", "mapping values are not allowed"),
    ),
    Case(
        "syntax-tab-indent",
        "  role: qc_analyst\n", "\trole: qc_analyst\n", "\trole: qc_analyst", None,
        ("YAML syntax error", "'\\t'"),
    ),
    Case(
        "missing-required-field",
        "qc:\n  role: qc_analyst\n", "qc:\n", "qc:\n  tests:", "qc.role", ("required", "missing"),
    ),
    Case(
        "wrong-type",
        PRODIGY_POOL, "clinimacs_prodigy: {count: many}", "{count: many}",
        "sites.central_factory.devices.clinimacs_prodigy.count", ("integer", "'many'"),
    ),
    Case(
        "negative-duration",
        TRANSDUCTION, "duration_h: {dist: fixed, value: -48}", "value: -48",
        "recipe[1].duration_h.value", ("greater than or equal to 0", "-48"),
    ),
    Case(
        "unknown-device-in-recipe",
        SELECTION_DEVICE, SELECTION_DEVICE.replace("prodigy", "prodigee"), "device: clinimacs_prodigee",
        "recipe[0].device", ("unknown device type 'clinimacs_prodigee'", "catalogue", "'clinimacs_prodigy'"),
    ),
    Case(
        "unknown-device-pool",
        PRODIGY_POOL, "clinimacs_prodigee: {count: 14}", "clinimacs_prodigee:",
        "sites.central_factory.devices.clinimacs_prodigee", ("unknown device type", "catalogue", "lonza_cocoon"),
    ),
    Case(
        "typo-suggests-field",
        "rate_per_week: 6", "rate_per_wek: 6", "rate_per_wek",
        "referrals.rate_per_wek", ("unknown field", "did you mean 'rate_per_week'"),
    ),
    Case(
        "litres-for-compressed-air",
        "compressed_air: {backup_h: 4}", "compressed_air: {backup_l: 400}", "compressed_air: {backup_l",
        "sites.central_factory.utilities.compressed_air.backup_l", ("CO2 and O2 bottle banks", "backup_h"),
    ),
    Case(
        "typo-top-level",
        "warmup_days: 60", "warmup_dayz: 60", "warmup_dayz",
        "warmup_dayz", ("unknown field", "did you mean 'warmup_days'"),
    ),
    Case(
        "duplicate-key",
        "seed: 20261125\n", "seed: 20261125\nseed: 7\n", "seed: 7",
        "seed", ("duplicate key 'seed'", f"line {line_of(BASE, 'seed: 20261125')}"),
    ),
    Case(
        "unknown-distribution",
        TRANSDUCTION, "duration_h: {dist: gamma, value: 48}", "{dist: gamma",
        "recipe[1].duration_h", ("'gamma'", "fixed", "exponential", "triangular", "lognormal", "empirical"),
    ),
    Case(
        "distribution-without-dist",
        TRANSDUCTION, "duration_h: {value: 48}", "duration_h: {value: 48}",
        "recipe[1].duration_h", ("needs 'dist'", "plain number"),
    ),
    Case(
        "triangular-low-above-high",
        "{dist: triangular, low: 20, mode: 24, high: 30}", "{dist: triangular, low: 40, mode: 24, high: 30}",
        "low: 40", "recipe[0].duration_h", ("low <= mode <= high",),
    ),
    Case(
        "infinite-value",
        TRANSDUCTION, "duration_h: {dist: fixed, value: .inf}", "value: .inf",
        "recipe[1].duration_h.value", ("finite",),
    ),
    Case(
        "role-without-staff",
        QP_STAFF, "", "role: qualified_person", "release.role",
        ("no staff", "qualified_person", "sites.central_factory.staff.qualified_person"),
    ),
    Case(
        "role-with-zero-staff",
        "      qc_analyst: {count: 2,", "      qc_analyst: {count: 0,", "  role: qc_analyst", "qc.role", ("no staff",),
    ),
    Case(
        "bad-override",
        PRODIGY_POOL, "clinimacs_prodigy: {count: 14, override: {batches_per_unit: 0}}", "override:",
        "sites.central_factory.devices.clinimacs_prodigy.override", ("batches_per_unit", "greater than or equal to 1"),
    ),
    Case(
        "changeover-role-without-staff",
        PRODIGY_POOL, "clinimacs_prodigy: {count: 14, override: {changeover_role: cleaner}}", "override:",
        "sites.central_factory.devices.clinimacs_prodigy", ("'cleaner' for changeovers", "staff.cleaner"),
    ),
    # YAML 1.1 reads yes/no/on/off as booleans; a count or a name must not silently become 0/False.
    Case(
        "yaml11-count-no",
        PRODIGY_POOL, "clinimacs_prodigy: {count: no}", "{count: no}",
        "sites.central_factory.devices.clinimacs_prodigy.count", ("integer",),
    ),
    Case(
        "yaml11-staff-on",
        "      qc_analyst: {count: 2,", "      qc_analyst: {count: on,", "count: on",
        "sites.central_factory.staff.qc_analyst.count", ("integer",),
    ),
    Case(
        "yaml11-processing-yes",
        "processing: closed\n    transfer: sterile_weld", "processing: yes\n    transfer: sterile_weld",
        "processing: yes", "recipe[0].processing", ("'open' or 'closed'",),
    ),
    Case(
        "scheduling-unknown-site",
        "\ndropout:\n", "\nscheduling: {sites: {city_hospital: slot_booking}}\ndropout:\n",
        "scheduling: {sites:", "scheduling.sites.city_hospital", ("makes no batches", "central_factory"),
    ),
    Case(
        "scheduling-bad-policy",
        "\ndropout:\n", "\nscheduling: {policy: booked}\ndropout:\n",
        "scheduling: {policy", "scheduling.policy", ("first_come", "slot_booking"),
    ),
    Case(
        "remanufacture-attempts-without-a-way",
        "\ndropout:\n", "\nremanufacture: {max_attempts: 2}\ndropout:\n",
        "remanufacture: {max", "remanufacture.max_attempts", ("new_apheresis",),
    ),
    Case(
        "quoted-number-is-not-a-number",
        "horizon_days: 365", "horizon_days: '365'", "horizon_days: '365'", "horizon_days", ("valid number",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_validate_reports_one_located_error(case: Case, tmp_path, capsys) -> None:
    """Each mistake gives exit 2 and one line naming file, line, field and what was expected."""
    text = edit(case.old, case.new)
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert_located(msg, path, line_of(text, case.at), case.field, case.words)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("negative-duration", "syntax-tab-indent", "role-without-staff")], ids=lambda c: c.id)
def test_run_reports_the_same_error_and_writes_nothing(case: Case, tmp_path, capsys) -> None:
    """``twin run`` checks its input the same way, before simulating or creating the run folder."""
    text = edit(case.old, case.new)
    path = write(tmp_path, text)
    out = tmp_path / "out"
    msg = assert_one_line_error(*run_cli(["run", str(path), "--out", str(out)], capsys))
    assert_located(msg, path, line_of(text, case.at), case.field, case.words)
    assert not out.exists()


def test_unclosed_bracket_is_a_located_syntax_error(tmp_path, capsys) -> None:
    """An unclosed flow sequence is a syntax error located at, or just after, the open bracket.

    PyYAML notices the problem at the next token, which may be some lines further down (here the
    next key after the comment lines).
    """
    text = edit("  rate_per_week: 6 ", "  rate_per_week: [6 ")
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    opened = line_of(text, "rate_per_week: [6")
    next_key = line_of(text, "\napheresis:\n") + 1
    assert any(msg.startswith(f"error: {path}:{n}:") for n in range(opened, next_key + 1)), msg
    assert "YAML syntax error" in msg and "expected ',' or ']'" in msg


def test_unclosed_bracket_names_the_line_it_opened_on(tmp_path, capsys) -> None:
    """The message of an unclosed bracket names the line where the bracket was opened."""
    text = edit("  rate_per_week: 6 ", "  rate_per_week: [6 ")
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    opened = line_of(text, "rate_per_week: [6")
    assert msg.startswith(f"error: {path}:{opened}:") or f"line {opened}" in msg, msg


def test_missing_file(tmp_path, capsys) -> None:
    """A scenario path that does not exist: exit 2, one line saying so, for validate and run."""
    path = tmp_path / "no_such_scenario.yaml"
    for argv in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        msg = assert_one_line_error(*run_cli(argv, capsys))
        assert str(path) in msg and "file not found" in msg
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"], ids=["empty", "list", "scalar"])
def test_document_that_is_not_a_mapping(text, tmp_path, capsys) -> None:
    """A file whose top level is not a mapping of fields is refused at line 1."""
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert_located(msg, path, 1, None, ("mapping",))


def test_warmup_not_before_horizon_is_refused(tmp_path, capsys) -> None:
    """warmup_days >= horizon_days is an input error that names both fields."""
    text = edit("warmup_days: 60 ", "warmup_days: 365 ")
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert_located(msg, path, None, None, ("warmup_days", "less than horizon_days"))


def test_warmup_not_before_horizon_names_the_warmup_line(tmp_path, capsys) -> None:
    """The warmup_days >= horizon_days error points at the warmup_days line and field."""
    text = edit("warmup_days: 60 ", "warmup_days: 365 ")
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert_located(msg, path, line_of(text, "warmup_days: 365"), "warmup_days", ("less than horizon_days",))


def test_repeated_recipe_step_name_names_the_step(tmp_path, capsys) -> None:
    """Two recipe steps with the same name: the error points at the second one (recipe[3].name)."""
    text = edit("  - name: harvest", "  - name: expansion")
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert "repeated" in msg and "expansion" in msg  # holds today
    assert_located(msg, path, line_of(text, "- name: expansion\n    device: clinimacs_prodigy\n    duration_h: {dist: triangular, low: 4"), "recipe[3].name", ())


@pytest.mark.parametrize("bad", ["2027-13-04", "2027-02-30"])
def test_impossible_date_is_refused(bad, tmp_path, capsys) -> None:
    """An impossible calendar date is an input error (exit 2, one line), not a crash."""
    text = edit("start_date: 2027-01-04", f"start_date: {bad}")
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert str(path) in msg


def test_impossible_date_names_its_line_and_field(tmp_path, capsys) -> None:
    """An impossible date names the start_date line and field."""
    text = edit("start_date: 2027-01-04", "start_date: 2027-13-04")
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert_located(msg, path, line_of(text, "start_date:"), "start_date", ())


# YAML 1.1 number forms that PyYAML resolves silently to something else than a reader expects.
YAML11_NUMBERS = [
    # "1:30" is base 60 in YAML 1.1: 1*60 + 30 = 90 hours, where the writer meant 1.5 h.
    pytest.param(
        "  hands_on_h: 3               # assumption: a nurse", "  hands_on_h: 1:30           # assumption: a nurse",
        "hands_on_h: 1:30", id="sexagesimal-hours",
    ),
    # "0x1F" is hexadecimal 31 in YAML 1.1; the twin reads numbers the YAML 1.2 way and
    # accepts only decimal, so it is refused rather than silently converted.
    pytest.param("seed: 20261125", "seed: 0x1F", "seed: 0x1F", id="hexadecimal"),
]


@pytest.mark.parametrize("old,new,at", YAML11_NUMBERS)
def test_yaml11_number_forms_are_refused(old, new, at, tmp_path, capsys) -> None:
    """A number whose meaning differs between YAML 1.1 and what a reader sees is an error."""
    text = edit(old, new)
    path = write(tmp_path, text)
    msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert_located(msg, path, line_of(text, at), None, ())


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["lol0: &lol0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("inside_scenario", [False, True], ids=["alone", "inside-scenario"])
def test_alias_bomb_is_refused_quickly(inside_scenario, tmp_path, capsys) -> None:
    """A "billion laughs" file (9**10 strings once expanded) is refused with exit 2 in well under
    a second or two, not a hang or a MemoryError."""
    bomb = billion_laughs()
    text = BASE + "\n" + bomb if inside_scenario else bomb
    path = write(tmp_path, text)
    start = time.perf_counter()
    with time_limit(20):
        result = run_cli(["validate", str(path)], capsys)
    elapsed = time.perf_counter() - start
    msg = assert_one_line_error(*result)
    assert str(path) in msg and "too large" in msg
    assert elapsed < 5.0, f"took {elapsed:.1f} s"


def test_deep_nesting_is_refused(tmp_path, capsys) -> None:
    """Nesting deeper than the parser can recurse is an input error, not a RecursionError crash."""
    path = write(tmp_path, "name: " + "[" * 5000 + "]" * 5000 + "\n")
    with time_limit(20):
        msg = assert_one_line_error(*run_cli(["validate", str(path)], capsys))
    assert str(path) in msg


def test_anchors_and_aliases_still_work(tmp_path) -> None:
    """Ordinary anchors and aliases are allowed: the bomb guard does not refuse reuse."""
    text = edit(
        "  - from: city_hospital\n    to: central_factory\n    transit_h: {dist: triangular, low: 12, mode: 20, high: 36}",
        "  - from: city_hospital\n    to: central_factory\n    transit_h: &transit {dist: triangular, low: 12, mode: 20, high: 36}",
    )
    text = edit(
        "    to: city_hospital\n    transit_h: {dist: triangular, low: 12, mode: 20, high: 36}",
        "    to: city_hospital\n    transit_h: *transit",
        text,
    )
    sc = load_scenario(write(tmp_path, text)).scenario
    assert sc.couriers[0].transit_h == sc.couriers[1].transit_h
    assert sc.couriers[1].transit_h.mean == pytest.approx((12 + 20 + 36) / 3)


def test_leading_zero_is_decimal_as_a_reader_expects(tmp_path) -> None:
    """YAML 1.1 reads "017" as octal 15 and "no" as False; the twin reads them the YAML 1.2 way:
    17, and the string "no"."""
    from twin.scenario.yamlio import parse_yaml

    data, _ = parse_yaml("seed: 017\nname: no\nflag: true\nbig: 1e3\n")
    assert data == {"seed": 17, "name": "no", "flag": True, "big": 1000.0}


@pytest.mark.parametrize("command", ["validate", "run", "explain"])
def test_a_sweep_file_given_as_a_scenario_says_to_use_twin_sweep(command, capsys) -> None:
    """A student who runs a sweep file with ``twin run`` is told what it is, not shown 19 missing fields."""
    path = SCENARIO.parent / "sweeps" / "scale_up.yaml"
    msg = assert_one_line_error(*run_cli([command, str(path)], capsys))
    assert "sweep file" in msg and f"twin sweep {path}" in msg
