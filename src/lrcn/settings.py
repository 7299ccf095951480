"""The settings machinery: how a setting is declared (:class:`Opt`, :func:`arg`), checked
(:func:`validate`, one :class:`~lrcn.errors.ConfigError` naming the flag) and turned into
command-line flags and back (:func:`flags` / :func:`from_args`). The settings themselves, each
declared once, are in :mod:`lrcn.config`.

This module imports nothing heavy: ``lrcn --help`` reads it without torch, numpy or PyAV.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import ConfigError


# --- how a field is declared ----------------------------------------------------------------------

@dataclass(frozen=True)
class Opt:
    """One setting: default, help, command-line spelling and check.

    Args:
        default: the documented default (``None``: "not given", explained in ``help``).
        help: one line for ``--help``; the default is appended by the CLI.
        parse: text -> value for the command line (default: the type of ``default``, else ``str``).
        choices: allowed values (checked by argparse and again when the object is built).
        check: ``value -> problem`` (``None`` when fine), e.g. ``at_least(1)``.
        flag: the command-line name (default ``--field-name``); ``"--no-x"`` makes a switch that
            sets the field to False.
        aliases: other accepted spellings.
        metavar: the placeholder in ``--help``.
        boolean: ``"optional"`` for ``--x/--no-x`` (default when the default is True or None).
    """

    default: Any
    help: str
    parse: Callable[[str], Any] | None = None
    choices: tuple | None = None
    check: Callable[[Any], str | None] | None = None
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None

    def __call__(self, **changes: Any):
        """A dataclass field for this setting (``changes``: e.g. another default for one command)."""
        spec = dataclasses.replace(self, **changes) if changes else self
        default = spec.default
        if isinstance(default, (list, dict, set)):
            raise TypeError("mutable defaults: use a tuple")
        if dataclasses.is_dataclass(default):
            return field(default_factory=lambda: default, metadata={"opt": spec})
        return field(default=default, metadata={"opt": spec})


@dataclass(frozen=True)
class Arg:
    """A required positional argument (``nargs="+"``: one or more, kept as a tuple)."""

    help: str
    metavar: str
    nargs: str | None = None  # "+": one or more (kept as a tuple); "?": optional, then the field's default
    flag: str | None = None  # a required option instead of a positional, e.g. "--out-dir"
    choices: tuple | None = None


def arg(help: str, metavar: str, nargs: str | None = None, flag: str | None = None, choices: tuple | None = None,
        **default: Any):
    """A positional argument (or a required option, ``flag``); ``default=...`` only with ``nargs="?"``."""
    return field(metadata={"arg": Arg(help, metavar, nargs, flag, choices)}, **default)


def nested(default: Any):
    """A field holding another settings dataclass whose fields are flags of their own."""
    return field(default_factory=lambda: default, metadata={"nested": True})


# --- checks (each returns the problem, or None) ----------------------------------------------------

def at_least(n: float) -> Callable[[Any], str | None]:
    return lambda v: None if v is None or v >= n else f"must be >= {n:g}"


def positive(v: Any) -> str | None:
    return None if v is None or v > 0 else "must be positive"


def fraction(v: Any) -> str | None:
    return None if v is None or 0 <= v < 1 else "must be in [0, 1)"


def shard_valid(v: tuple[int, int] | None) -> str | None:
    return None if v is None or (v[1] >= 1 and 0 <= v[0] < v[1]) else "must be i/N with 0 <= i < N"


def validate(obj: Any) -> None:
    """Run every field's choices and check; raise :class:`ConfigError` naming the flag."""
    for f in dataclasses.fields(obj):
        spec = f.metadata.get("opt")
        if spec is None:
            continue
        value = getattr(obj, f.name)
        if spec.choices is not None and value is not None and value not in spec.choices:
            raise ConfigError(f"{flag_of(f)} must be one of {', '.join(map(str, spec.choices))}, got {value!r}")
        problem = spec.check(value) if spec.check else None
        if problem:
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
            raise ConfigError(f"{flag_of(f)} {problem}, got {shown}")


def flag_of(f: dataclasses.Field) -> str:
    spec = f.metadata.get("opt") or f.metadata.get("arg")
    return (spec.flag if spec and spec.flag else None) or "--" + f.name.replace("_", "-")


# --- parsers for the command line -----------------------------------------------------------------

def parse_views(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/N (e.g. 0/4), got {text!r}") from None
    return i, n


def parse_count_or_all(text: str) -> int | None:
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected 'all' or a number >= 1, got {text!r}")
    return n


def parse_size_or_full(text: str) -> int | None:
    if text == "full":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'full', got {text!r}") from None


class Settings:
    """Mixin: every settings dataclass validates its fields on construction."""

    def __post_init__(self) -> None:
        validate(self)
        self.check()

    def check(self) -> None:
        """Checks that involve more than one field (overridden where there are some)."""


# --- the command line, built from the fields ------------------------------------------------------

def flags(parser: argparse.ArgumentParser, cls: type, defaults: Any = None, prefix: str = "",
          optional_positionals: bool = False) -> None:
    """Add one argument per field of ``cls`` (nested settings recursively) to ``parser``.
    ``optional_positionals``: positionals may be left out (a ``--config`` file gives them)."""
    for f in dataclasses.fields(cls):
        if f.name == "_" or f.name == "progress":
            continue
        dest = prefix + f.name
        if f.metadata.get("nested"):
            inner = f.default_factory() if defaults is None else getattr(defaults, f.name)
            flags(parser, type(inner), inner, prefix=dest + ".", optional_positionals=optional_positionals)
            continue
        if "arg" in f.metadata:
            a = f.metadata["arg"]
            if a.flag:
                parser.add_argument(a.flag, dest=dest, required=True, metavar=a.metavar, help=a.help)
            elif a.nargs == "?":
                parser.add_argument(dest, metavar=a.metavar, nargs="?", default=f.default, help=a.help)
            elif optional_positionals:
                parser.add_argument(dest, metavar=a.metavar, nargs="*" if a.nargs == "+" else "?", default=None,
                                    choices=a.choices, help=a.help)
            else:
                parser.add_argument(dest, metavar=a.metavar, nargs=a.nargs, choices=a.choices, help=a.help)
            continue
        spec: Opt = f.metadata["opt"]
        default = getattr(defaults, f.name) if defaults is not None else spec.default
        names = [flag_of(f), *spec.aliases]
        common = dict(dest=dest, default=default, help=spec.help)
        if spec.flag and spec.flag.startswith("--no-"):
            parser.add_argument(*names, action="store_false", **common)
        elif isinstance(default, bool) or spec.parse is bool:
            if default is False:
                parser.add_argument(*names, action="store_true", **common)
            else:
                parser.add_argument(*names, action=argparse.BooleanOptionalAction, **common)
        else:
            parse = spec.parse or (type(default) if default is not None else str)
            metavar = spec.metavar or (None if spec.choices else f.name.upper())
            parser.add_argument(*names, type=parse, choices=spec.choices, metavar=metavar, **common)


def apply_config(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: list[str], path: str,
                 ignore: tuple[str, ...] = ("resume", "overwrite")) -> None:
    """Fill ``args`` from the JSON file ``path`` (a run's ``config.json``: its ``train`` section; or a
    flat or nested object of settings) where the command line did not give a value: flags given in
    ``argv`` win. Run-control settings (``ignore``) are never replayed. A positional still missing
    after that is one :class:`ConfigError`."""
    import json

    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--config {path}: not a readable JSON file ({getattr(exc, 'strerror', None) or exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a JSON object of settings")
    section = data.get("train") if isinstance(data.get("train"), dict) else data

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            if isinstance(v, dict):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    given = set()
    options = parser._option_string_actions  # noqa: SLF001 - argparse keeps no public map of option -> dest
    for token in argv:
        if token.startswith("-") and token.split("=")[0] in options:
            given.add(options[token.split("=")[0]].dest)
    positionals = [a for a in parser._actions if not a.option_strings and a.dest != "help"]  # noqa: SLF001
    for key, value in flat(section).items():
        if key in ignore or key not in vars(args) or key in given or key == "config":
            continue
        if any(a.dest == key for a in positionals) and getattr(args, key) not in (None, []):
            continue  # a positional given on the command line
        setattr(args, key, tuple(value) if isinstance(value, list) else value)
    for a in positionals:  # the commands that take --config have only required positionals
        if getattr(args, a.dest) in (None, [], ()):
            raise ConfigError(f"{a.metavar}: give it, or a --config that holds '{a.dest}'")


def from_args(cls: type, args: argparse.Namespace, prefix: str = "", **overrides: Any):
    """``cls`` built by keyword from the parsed arguments ``flags`` added (nested ones included)."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.name == "_":
            continue
        if f.metadata.get("nested"):
            values[f.name] = from_args(type(f.default_factory()), args, prefix + f.name + ".")
        elif f.name == "progress":
            values[f.name] = not getattr(args, "no_progress", False)
        elif hasattr(args, prefix + f.name):
            value = getattr(args, prefix + f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    values.update(overrides)
    return cls(**values)
