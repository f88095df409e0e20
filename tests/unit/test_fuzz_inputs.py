"""Fuzz: mutated bundled scenarios and sweep files never give a traceback, a hang or a long echo.

A fixed-seed corpus of text and byte mutations of every bundled scenario and sweep file (control
characters, bad UTF-8, deep nesting, alias bombs, huge values, merge keys, tags, cut, moved and
re-indented lines, odd numbers, and the sweep-specific classes: tiny range steps, a million
samples, axes on list elements, ``base:`` at ``/dev/zero``, a FIFO, a folder or a text file, a
catalogue at such paths) is put through ``twin validate`` (scenarios) or the sweep loader with
its work estimate (sweeps), in this process. Each must end as "valid" or as exit 2 with one message
that names the file (and, for the parser-level classes, the line), echoes at most ~80 characters
of any value, and never shows a file's content.

Run as a script (``python tests/unit/test_fuzz_inputs.py``) it prints the counts per outcome
(the figures quoted in issue 15), with a 10 s limit per mutation and memory capped at 3 GB.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIO_FILES = sorted(p for p in (REPO / "scenarios").rglob("*.yaml") if "sweeps" not in p.parts)
SWEEP_FILES = sorted((REPO / "scenarios" / "sweeps").glob("*.yaml"))
SEED = 15
N_SCENARIO, N_SWEEP = 440, 120
SECRET = "celltwin-fuzz-secret-line-do-not-echo"  # content of a text file a base: may point at
MAX_MESSAGE = 500  # characters: a message with two temporary paths, a field, a point and an 80-character value fits

CONTROL = [chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127)]
ODD_VALUES = ["-1", "0", "1e308", "-1e308", ".nan", ".inf", "-.inf", "1e-300", "abc", "[]", "{}", "null", "~",
              "99999999999999999999999999", "2262-04-12", "9999-12-31", "0001-01-01", "'1'", "true", "[1, [2, [3]]]",
              "*nowhere", "&a 3", "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [a: 1]", "!foo 3",
              "!!python/object/apply:os.getcwd []", "!!float abc", "!!int 1.5", "2027-02-30", "1:30", "0x1F"]


@dataclass(frozen=True)
class Mutant:
    """One mutated file: which kind of mutation, the bytes, and whether the parser must locate it."""

    kind: str
    source: Path  # the bundled file it came from
    data: bytes
    needs_line: bool = False
    sweep: bool = False


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _value_spots(text: str) -> list[int]:
    """Offsets just after ``key: `` where a scalar value starts."""
    return [i + 2 for i in range(len(text) - 2) if text[i] == ":" and text[i + 1] == " " and text[i + 2] not in "\n#"]


def _replace_value(text: str, rng: random.Random, new: str) -> str:
    spots = _value_spots(text)
    if not spots:
        return text + new
    at = rng.choice(spots)
    end = text.find("\n", at)
    end = len(text) if end < 0 else end
    # replace up to the end of the flow item or line
    stop = min([e for e in (text.find(",", at, end), text.find("}", at, end), end) if e >= 0])
    return text[:at] + new + text[stop:]


def _text_mutation(kind: str, text: str, rng: random.Random) -> tuple[str | bytes, bool]:  # noqa: C901 - one branch per kind
    lines = _lines(text)
    i = rng.randrange(len(lines))
    pos = rng.randrange(len(text) + 1)
    if kind == "control":
        return text[:pos] + rng.choice(CONTROL) + text[pos:], True
    if kind == "bad_utf8":
        b = text.encode()
        pos = rng.randrange(len(b) + 1)
        return b[:pos] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xff", b"\x80\x80"]) + b[pos:], True
    if kind == "deep":
        depth = rng.choice([2000, 5000, 20000])
        opener, closer = rng.choice([("[", "]"), ("{a: ", "}")])
        return _replace_value(text, rng, opener * depth + "1" + closer * depth), False
    if kind == "alias_bomb":
        bomb = ["lol0: &l0 [x, x, x, x, x, x, x, x, x]"]
        bomb += [f"lol{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]" for k in range(1, 9)]
        return text + "\n" + "\n".join(bomb) + "\n", True
    if kind == "huge_value":
        return _replace_value(text, rng, rng.choice(["x" * 200_000, "9" * 5000, "'" + "y" * 100_000 + "'"])), False
    if kind == "odd_value":
        return _replace_value(text, rng, rng.choice(ODD_VALUES)), False
    if kind == "merge_key":
        new = rng.choice(["<<: *nowhere", "<<: 3", "<<: [1, 2]", "<<: {}"])
        lines.insert(i, new)
        return "\n".join(lines), False
    if kind == "delete_line":
        del lines[i]
        return "\n".join(lines), False
    if kind == "duplicate_line":
        lines.insert(i, lines[i])
        return "\n".join(lines), False
    if kind == "swap_lines":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), False
    if kind == "indent":
        lines[i] = rng.choice([" ", "   ", "\t", ""]) + (lines[i] if rng.random() < 0.5 else lines[i].lstrip())
        return "\n".join(lines), False
    if kind == "truncate":
        return text[:pos], False
    if kind == "special_char":
        ch = rng.choice(list(":-[]{}&*!|>%@`'\"#,?"))
        return text[:pos] + ch + text[pos + 1 :], False
    raise AssertionError(kind)


TEXT_KINDS = ["control", "bad_utf8", "deep", "alias_bomb", "huge_value", "odd_value", "merge_key", "delete_line",
              "duplicate_line", "swap_lines", "indent", "truncate", "special_char"]
SWEEP_KINDS = ["tiny_step", "many_samples", "wide_grid", "list_element_axis", "base_dev_zero", "base_fifo",
               "base_folder", "base_text", "catalogue_dev_zero", "catalogue_file"]


def _sweep_mutation(kind: str, text: str, rng: random.Random, where: Path) -> str:
    """A sweep-specific mutation (``where``: the folder holding the fuzz's FIFO and text file)."""
    base_line = next(ln for ln in _lines(text) if ln.startswith("base:"))
    if kind == "tiny_step":
        return text.replace("axes:\n", f"axes:\n  referrals.rate_per_week: {{range: [1, {rng.choice([1e6, 1e12])}, 1e-9]}}\n", 1)
    if kind == "many_samples":
        text = "\n".join(ln for ln in _lines(text) if not ln.startswith(("design:", "samples:")))
        return text + f"\ndesign: {rng.choice(['lhs', 'random'])}\nsamples: {rng.choice([1_000_000, 200_000])}\n"
    if kind == "wide_grid":
        vals = ", ".join(str(v) for v in range(1, 1001))
        text = "\n".join(ln for ln in _lines(text) if not ln.startswith(("design:", "samples:")))
        return text.replace("axes:\n", f"axes:\n  seed: [{vals}]\n  horizon_days: [{vals}]\n", 1) + "\ndesign: grid\n"
    if kind == "list_element_axis":
        path = rng.choice(["couriers[7].transit_h", "recipe[40].duration_h", "outages[3].rate_per_year", "couriers[x].transit_h"])
        return text.replace("axes:\n", f"axes:\n  {path}: [1, 2]\n", 1)
    if kind.startswith("base_"):
        target = {"base_dev_zero": "/dev/zero", "base_fifo": str(where / "fifo.yaml"), "base_folder": str(where),
                  "base_text": str(where / "notes.txt")}[kind]
        return text.replace(base_line, f"base: {target}")
    if kind.startswith("catalogue_"):
        target = "/dev/zero" if kind == "catalogue_dev_zero" else str(where / "notes.txt")
        return text.replace("set:\n", f"set:\n  catalogue: {target}\n", 1)
    raise AssertionError(kind)


def corpus(where: Path, seed: int = SEED) -> list[Mutant]:
    """The fixed-seed corpus (``where``: folder for the FIFO and text file some mutants point at)."""
    rng = random.Random(seed)
    out: list[Mutant] = []
    texts = {p: p.read_text(encoding="utf-8") for p in [*SCENARIO_FILES, *SWEEP_FILES]}
    for k in range(N_SCENARIO):
        src = SCENARIO_FILES[k % len(SCENARIO_FILES)]
        kind = TEXT_KINDS[k % len(TEXT_KINDS)]
        data, located = _text_mutation(kind, texts[src], rng)
        out.append(Mutant(kind, src, data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"), located))
    for k in range(N_SWEEP):
        src = SWEEP_FILES[(k // 2) % len(SWEEP_FILES)]
        if k % 2:
            kind = TEXT_KINDS[(k // 2) % len(TEXT_KINDS)]
            data, located = _text_mutation(kind, texts[src], rng)
        else:
            kind = SWEEP_KINDS[(k // 2) % len(SWEEP_KINDS)]
            data, located = _sweep_mutation(kind, texts[src], rng, where), False
        data = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        out.append(Mutant(kind, src, data, located, sweep=True))
    return out


def _prepare(where: Path) -> None:
    (where / "notes.txt").write_text(f"{SECRET}\nsecond line\n", encoding="utf-8")
    fifo = where / "fifo.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)


def _write(m: Mutant, where: Path, k: int) -> Path:
    """The mutant as a file; a sweep's relative ``base:`` is made absolute to the bundled one."""
    folder = where / f"m{k}"
    folder.mkdir(exist_ok=True)
    data = m.data
    if m.sweep:
        data = data.replace(b"base: ../", f"base: {m.source.parent.parent}/".encode())
    path = folder / m.source.name
    path.write_bytes(data)
    return path


def check_one(path: Path, sweep: bool) -> tuple[int, str]:
    """(exit status, stderr) of ``twin validate`` on a scenario, or of loading and sizing a sweep
    the way ``twin sweep`` does before it runs anything. An exception other than bad input
    propagates (a traceback)."""
    from twin.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        if not sweep:
            rc = main(["validate", str(path)])
        else:
            rc = _check_sweep(path)
    return rc, err.getvalue()


def _check_sweep(path: Path) -> int:
    from twin.core.errors import InputError
    from twin.experiments.sweep.spec import load_sweep

    try:
        load_sweep(path)  # validates every point and checks the work bounds, as twin sweep does first
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def _boom(signum, frame):  # pragma: no cover - only on a hang
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, _boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def judge(m: Mutant, path: Path, run: Callable[[], tuple[int, str]]) -> str:
    """The outcome of one mutant: ok, traceback, hang, exit<N>, unlocated, no_line, long, echo."""
    try:
        with time_limit(10):
            rc, err = run()
    except TimeoutError:
        return "hang"
    except BaseException:  # noqa: BLE001 - what the fuzz counts
        return "traceback"
    if rc == 0:
        return "ok"
    if rc != 2:
        return f"exit{rc}"
    msg = err.strip()
    if "Traceback" in msg:
        return "traceback"
    if SECRET in msg:
        return "echo"
    if len(msg) > MAX_MESSAGE or len(msg.splitlines()) != 1:
        return "long"
    if str(path.parent) not in msg and str(REPO / "scenarios") not in msg and "/dev/zero" not in msg and \
            str(path.parent.parent) not in msg:
        return "unlocated"
    if m.needs_line and f"{path}:" not in msg:
        return "no_line"
    return "ok"


def run_corpus(where: Path) -> Counter:
    _prepare(where)
    counts: Counter = Counter()
    bad: list[tuple[str, str, str]] = []
    for k, m in enumerate(corpus(where)):
        path = _write(m, where, k)
        outcome = judge(m, path, lambda path=path, m=m: check_one(path, m.sweep))
        counts[outcome] += 1
        if outcome != "ok":
            bad.append((outcome, m.kind, m.source.name))
    counts["mutations"] = sum(v for k, v in counts.items() if k != "mutations")
    run_corpus.bad = bad  # type: ignore[attr-defined]
    return counts


def test_fuzzed_inputs_give_a_located_message_never_a_traceback(tmp_path) -> None:
    """Every one of the corpus's 560 mutants is valid, or exit 2 with one located, short line
    (before issue 15: 45 tracebacks, 12 hangs, 20 whole-value echoes, 6 messages without a file)."""
    counts = run_corpus(tmp_path)
    assert counts["mutations"] >= 500
    bad = Counter(run_corpus.bad)  # type: ignore[attr-defined]
    assert counts["ok"] == counts["mutations"], f"{dict(counts)}; failures (outcome, kind, file): {dict(bad)}"


if __name__ == "__main__":  # the before/after figures
    import resource
    import tempfile

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        c = run_corpus(Path(d))
        print(dict(c), f"{time.perf_counter() - t0:.1f} s")
        for (outcome, kind, name), n in sorted(Counter(run_corpus.bad).items()):  # type: ignore[attr-defined]
            print(f"  {outcome:10s} {kind:18s} {name:22s} {n}")
