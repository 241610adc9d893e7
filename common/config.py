"""Typed run configuration: dataclass -> command-line flags -> resolved JSON.

Each task declares one dataclass (like nanoGPT's ``GPTConfig``). ``parse_config``
builds an ``argparse`` parser from its fields, applies an optional override file
(``--config file.toml``: TOML, so an experiment can say *why* in comments), then
the flags given on the command line, in that order. No ``eval``/``exec``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _field_type(cls: type, field: dataclasses.Field) -> Any:
    hints = typing.get_type_hints(cls)
    tp = hints[field.name]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # Optional[X] -> X
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0]
    return tp


def parse_bool(text: str) -> bool:
    """``true``/``false`` (or 1/0, yes/no, on/off, any case) as a bool; else raises argparse.ArgumentTypeError."""
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def _coerce(cls: type, name: str, value: Any, source: str) -> Any:
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    tp = _field_type(cls, field)
    if value is None:
        return None
    if tp is bool and isinstance(value, str):
        return parse_bool(value)
    if typing.get_origin(tp) in (list, tuple):
        (inner,) = typing.get_args(tp)[:1]
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        return [inner(v) for v in value]
    try:
        return tp(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source}: field {name!r} expects {tp.__name__}, got {value!r}") from err


def load_overrides(cls: type, path: str | Path) -> dict[str, Any]:
    """Read a TOML override file and check its keys against ``cls``'s fields.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a key is not a field of ``cls`` or a value has the wrong type,
            naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"override file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from err
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        near = {k: _near_flags(f"--{k}".replace("_", "-"), [f"--{n}".replace("_", "-") for n in sorted(names)])
                for k in unknown}
        hints = "; ".join(f"{k}: did you mean {', '.join(m[2:].replace('-', '_') for m in near[k])}?"
                          for k in unknown if near[k])
        raise ValueError(f"{path}: unknown config keys {unknown}" + (f" ({hints})" if hints else "")
                         + f"; known: {sorted(names)}")
    return {k: _coerce(cls, k, v, str(path)) for k, v in raw.items()}


class ArgumentParser(argparse.ArgumentParser):
    """The commands' ``argparse`` parser: flags are taken whole (``allow_abbrev=False``: argparse's prefix matching
    read ``--lr 1e-3`` as ``--lr-scheduler 1e-3``, refused only after the run folder was written), and a usage
    error is one line, not the whole usage (``--help`` shows it): an unknown flag with the nearest known ones, once
    under ``accelerate launch`` (rank 0, :func:`common.commands.args.exit_with`), not once per process. Exits 2, as
    argparse does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        from common.commands.args import exit_with  # the commands' one exit path; it imports this module

        if message.startswith("unrecognized arguments: "):
            known = [s for s in self._option_string_actions if s.startswith("--") and s != "--help"]
            near = list(dict.fromkeys(m for flag in message.split()[2:] if flag.startswith("--")
                                      for m in _near_flags(flag.split("=")[0], known)))
            message += f" (did you mean {', '.join(near)}?)" if near else ""
        exit_with(f"{self.prog}: error: {message}; --help lists the options", 2)
        raise AssertionError("unreachable")


def _near_flags(flag: str, known: list[str]) -> list[str]:
    """Up to 3 of ``known`` an unknown ``flag`` may have meant, in this order: the flags whose words' initials it
    spells (``--lr`` → ``--learning-rate``), those it is a prefix of (argparse's abbreviations, which these parsers
    refuse), then the close spellings (``--epoch`` → ``--epochs``)."""
    import difflib

    word = flag[2:]
    close = difflib.get_close_matches(flag, known, n=3, cutoff=0.6)
    prefixed = [k for k in known if k.startswith(flag)]
    initials = [k for k in known if len(word) > 1 and "".join(w[:1] for w in k[2:].split("-")) == word]
    return list(dict.fromkeys(initials + prefixed + close))[:3]


def build_parser(cls: type, description: str = "") -> argparse.ArgumentParser:
    """An :class:`ArgumentParser` with one ``--flag`` per dataclass field (defaults left unset)."""
    parser = ArgumentParser(description=description or cls.__doc__)
    parser.add_argument("--config", action="append", default=None,
                        help="TOML file of overrides, applied before the flags; repeated, the files stack in order "
                             "(a later file's keys win)")
    for field in dataclasses.fields(cls):
        tp = _field_type(cls, field)
        flag = "--" + field.name.replace("_", "-")
        kind = parse_bool if tp is bool else (str if typing.get_origin(tp) in (list, tuple) else tp)
        parser.add_argument(flag, dest=field.name, type=kind, default=None,
                            help=f"({getattr(tp, '__name__', str(tp))}, default {_default(field)!r})")
    return parser


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def parse_config(cls: type[T], argv: list[str] | None = None, description: str = "") -> T:
    """Resolve ``cls`` from defaults, then ``--config`` overrides (each file in the order given), then flags.

    Args:
        cls: a dataclass type whose fields are str/int/float/bool/list.
        argv: the arguments (``sys.argv[1:]`` when None).

    A config with a ``resolve_defaults(explicit)`` method then fixes the defaults that
    depend on other options, given the names set explicitly (file or flags).

    Raises:
        SystemExit: argparse's exit on a bad flag.
        ValueError / FileNotFoundError: from the override file.
    """
    values = explicit_values(cls, argv, description)
    config = cls(**values)
    if hasattr(config, "resolve_defaults"):  # defaults that depend on other options (see EncoderConfig)
        config.resolve_defaults(explicit=set(values))
    return config


def explicit_values(cls: type, argv: list[str] | None = None, description: str = "") -> dict[str, Any]:
    """``{field: value}`` of the options ``argv`` sets: its ``--config`` files' (in order), then its flags; the
    defaults left out (:func:`parse_config` builds ``cls`` from these).

    Raises:
        SystemExit: argparse's exit on a bad flag.
        ValueError / FileNotFoundError: from an override file.
    """
    args = build_parser(cls, description).parse_args(argv)
    values: dict[str, Any] = {}
    for path in args.config or []:  # e.g. a Makefile's --config, then the user's ARGS="--config ..."
        values.update(load_overrides(cls, path))
    for field in dataclasses.fields(cls):
        given = getattr(args, field.name)
        if given is not None:
            values[field.name] = _coerce(cls, field.name, given, "command line")
    return values


def check_ranges(config: Any, rules: typing.Iterable[tuple[str, bool, str]]) -> None:
    """Refuse the first field whose rule fails, as a one-line error naming its flag.

    Args:
        rules: ``(field name, whether its value is allowed, what is expected)``, e.g.
            ``("epochs", config.epochs >= 1, ">= 1")``.

    Raises:
        ValueError: ``--<field> <value>: expected <what>``.
    """
    for name, ok, expected in rules:
        if not ok:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(config, name)!r}: expected {expected}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """The resolved config as a JSON-ready dict."""
    return dataclasses.asdict(config)


# Options added on by default after runs were saved without them: the value those runs had. A saved config.json
# that lacks one is read back with this value (config_from_dict), and a resumed or rerun run folder compares it
# with the options it is continued with (common.run.changed_options). Options added off need no entry.
VALUE_WHEN_ABSENT = {"ngram_match": 0,  # Xiaobu's n-gram match bit, on since 2026-12-05
                     "esim": False, "tta_swap": False,  # Xiaobu's ESIM head and swap TTA, on since 2026-12-05 (later)
                     "mlm_head_masked_only": False,  # MLM pretraining's head at the masked positions, 2026-12-05
                     "metric_for_best_model": "",  # before 2026-12-06 every run kept its best epoch by the task's metric
                     "group_by_text": False,  # --task pair's validation split, grouped since 2026-12-06
                     "decoding": "nested"}  # NER span heads kept every span > 0 before flat decoding, 2026-12-06


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config saved by :func:`config_to_dict`, ignoring keys the class no longer has; a key it lacks
    takes :data:`VALUE_WHEN_ABSENT`'s value if there is one, else the class default."""
    names = {f.name for f in dataclasses.fields(cls)}
    absent = {k: v for k, v in VALUE_WHEN_ABSENT.items() if k in names and k not in data}
    return cls(**{k: v for k, v in data.items() if k in names}, **absent)


def save_config_json(config: Any, path: str | Path) -> Path:
    """Write the resolved config as JSON, atomically."""
    from common.io import write_json_atomic

    return write_json_atomic(path, config_to_dict(config))


def narrow_config(config: Any, cls: type[T], **overrides: Any) -> T:
    """A ``cls`` config holding ``config``'s values for ``cls``'s fields, then ``overrides``.

    For a compound config (e.g. a k-fold or tuning config that inherits a task's
    config) handing one fold or trial its single-run config.

    Raises:
        KeyError: an override that is not a field of ``cls``.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - names
    if unknown:
        raise KeyError(f"not options of {cls.__name__}: {sorted(unknown)}")
    values = {name: getattr(config, name) for name in names}
    values.update(overrides)
    return cls(**values)
