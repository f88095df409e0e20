"""``twin new``: start a scenario from a bundled one, with every section explained.

The copy is made on the text, not through a YAML dumper, so every original comment (they cite
the sources of the numbers) stays where it was: only ``name:`` changes, and a comment block with
the section's :data:`twin.authoring.explain.SECTIONS` text goes above each top-level field. The copy is
validated before it is written and must mean exactly what the bundled scenario means, apart
from its name.
"""

from __future__ import annotations

import contextlib
import os
import re
import textwrap
from pathlib import Path

from twin.authoring.explain import SECTIONS
from twin.core.errors import InputError
from twin.core.files import OutputError
from twin.core.version import __version__
from twin.scenario.catalogue import bundled_dir
from twin.scenario.yamlio import parse_yaml

_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:")
_MODELINE = re.compile(r"^(# yaml-language-server:.*\$schema=)(\S+)(.*)$")
_NAME = re.compile(r"^name:[ \t]*(?:\"[^\"]*\"|'[^']*'|[^#\n]*?)([ \t]*#.*)?$", re.MULTILINE)
_WIDTH = 100


def bundled_scenarios() -> dict[str, Path]:
    """Bundled scenario name -> file: ``centralised``, ``layouts/point_of_care``, ... (every YAML
    under the bundled ``scenarios/`` folder but the sweep files in ``sweeps/``)."""
    root = bundled_dir("scenarios")
    out = {}
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root).with_suffix("")
        if rel.parts[0] != "sweeps":
            out[rel.as_posix()] = path
    return out


def check_name(name: str) -> str:
    """``name`` if it is a valid scenario name (the ``Name`` rule of :mod:`twin.scenario.fields`), else
    an InputError saying what a name may be."""
    from pydantic import TypeAdapter, ValidationError

    from twin.scenario.fields import Name

    try:
        return TypeAdapter(Name).validate_python(name)
    except ValidationError:
        raise InputError(f"bad scenario name {name!r}: use letters, digits, _ and -, starting with a letter "
                         "(at most 64 characters)") from None


def _comment(key: str, section: bool) -> list[str]:
    """The explanation of top-level field ``key`` as comment lines; a section (a mapping or a
    list) gets a rule line with its name above the text."""
    if section:
        rule = f"# -- {key} " + "-" * max(3, _WIDTH - len(key) - 6)
        return [rule, *(f"# {line}" for line in textwrap.wrap(SECTIONS[key], _WIDTH - 2, break_on_hyphens=False))]
    return [f"# {line}" for line in textwrap.wrap(f"{key}: {SECTIONS[key]}", _WIDTH - 2, break_on_hyphens=False)]


def explained_text(text: str, name: str, source: str) -> str:
    """The YAML ``text`` of a scenario with ``name:`` set to ``name`` and the explanation of each
    top-level field in a comment block above it (above the field's own comment lines, if any;
    below the file's opening comment). ``source`` is named in a first comment line."""
    data, _ = parse_yaml(text, source)
    lines = text.splitlines()
    modelines = [ln for ln in lines[:1] if _MODELINE.match(ln)]  # an editor's schema line stays first
    lines = lines[len(modelines):]
    out: list[str] = [
        *modelines,
        f"# Made by `twin new {name} --from {source}` (celltwin {__version__}): a copy of a bundled scenario.",
        "# The comments that start with a field's name or a '-- section --' rule explain what it does in the",
        "# model; the other comments are the original's and say where each number comes from.",
        "",
    ]
    header = 0  # the file's opening comment block ends here
    while header < len(lines) and lines[header].startswith("#"):
        header += 1
    i = 0
    while i < len(lines):
        m = _KEY.match(lines[i])
        if m and m.group(1) in SECTIONS:
            start = i  # the field's own comment lines directly above it stay with it
            while start > header and lines[start - 1].startswith("#"):
                start -= 1
            moved = out[len(out) - (i - start):] if i > start else []
            del out[len(out) - len(moved):]
            if out and out[-1].strip():
                out.append("")
            value = data.get(m.group(1)) if isinstance(data, dict) else None
            out += _comment(m.group(1), isinstance(value, (dict, list)))
            out += ["#", *moved] if moved else []
        out.append(lines[i])
        i += 1
    result = "\n".join(out) + "\n"
    result, n = _NAME.subn(lambda mm: f"name: {name}{mm.group(1) or ''}", result, count=1)
    if n != 1:
        raise InputError(f"{source}: no top-level 'name:' line to set")
    return result


def retarget_modeline(text: str, source_dir: Path, out_dir: Path) -> str:
    """An editor modeline's relative ``$schema`` path (``# yaml-language-server:
    $schema=../docs/scenario.schema.json``) made relative to ``out_dir`` instead of
    ``source_dir``, so editors still find the schema from the copy (absolute where no relative
    path exists; unchanged when the schema file is not there or the path is a URL)."""
    def fix(m: re.Match[str]) -> str:
        target = m.group(2)
        if "://" in target or os.path.isabs(target) or not (source_dir / target).is_file():
            return m.group(0)
        resolved = (source_dir / target).resolve()
        try:
            new = os.path.relpath(resolved, out_dir.resolve())
        except ValueError:  # another drive (Windows)
            new = str(resolved)
        return f"{m.group(1)}{Path(new).as_posix()}{m.group(3)}"

    first, sep, rest = text.partition("\n")
    return _MODELINE.sub(fix, first) + sep + rest


def source_scenario(source: str) -> tuple[str, Path]:
    """(what to call it, its file) for ``--from SOURCE``: a bundled scenario's name
    (``centralised``, ``layouts/hybrid``, ``.yaml`` optional) or the path of a scenario file
    (``scenarios/centralised.yaml``). An unknown name gets the closest bundled one."""
    import difflib

    choices = bundled_scenarios()
    key = source.removesuffix(".yaml")
    if key in choices:
        return key, choices[key]
    given = Path(source)
    if given.is_file():
        return source, given
    stem = key.replace("\\", "/").removeprefix("./").removeprefix("scenarios/")
    if stem in choices:
        return stem, choices[stem]
    close = difflib.get_close_matches(stem, list(choices), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"unknown bundled scenario {source!r} (and no such file); {hint}choose one of: "
                     f"{', '.join(choices)}, or give a scenario file's path")


def new_scenario(name: str, source: str, out: str | Path | None = None) -> Path:
    """Write a copy of bundled scenario ``source`` named ``name``, with every section explained.

    Args:
        name: the new scenario's name (letters, digits, _ and -, starting with a letter).
        source: a bundled scenario's name, e.g. ``centralised`` or ``layouts/point_of_care``
            (``.yaml`` may be added).
        out: the file to write (default: ``NAME.yaml`` in the current folder); never overwritten.

    Returns:
        The path written.

    Raises:
        InputError: a bad name, an unknown source (the message lists the choices) or a file that
            already exists.
    """
    from twin.scenario.loading import load_scenario, scenario_from_yaml_text

    check_name(name)
    key, src = source_scenario(source)
    path = Path(out) if out is not None else Path(f"{name}.yaml")
    if path.exists():
        raise InputError(f"{path} already exists; twin new never overwrites a file (choose another NAME or --out FILE)")
    text = explained_text(src.read_text(encoding="utf-8"), name, key)
    text = retarget_modeline(text, src.parent, path.parent)
    original = load_scenario(src).scenario.model_dump()
    copy = scenario_from_yaml_text(text, str(path), base_dir=path.parent).scenario.model_dump()
    original.pop("name")
    if copy.pop("name") != name or copy != original:  # the text edit must not change the meaning
        raise RuntimeError(f"twin new: the copy of {key!r} does not mean what the bundled scenario means")
    _write_new(path, text)
    return path


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` holding ``text``, never overwriting; a failed write leaves no partial file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = path.open("x", encoding="utf-8")
    except FileExistsError:
        raise InputError(f"{path} already exists; twin new never overwrites a file") from None
    except OSError as err:
        raise OutputError(str(path), err.strerror or str(err)) from None
    try:
        with f:
            f.write(text)
    except OSError as err:  # full disk: remove the part written (the file is ours: "x" made it)
        with contextlib.suppress(OSError):
            path.unlink()
        raise OutputError(str(path), err.strerror or str(err)) from None
