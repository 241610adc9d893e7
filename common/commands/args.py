"""The ``--task`` flag every shared command takes first, and the config class per command."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from common.task import Task, get_task


def split_task(argv: list[str] | None, description: str) -> tuple[Task, list[str]]:
    """``(task, remaining flags)`` from ``--task NAME`` (a registry key or a module path).

    Raises:
        SystemExit: no ``--task`` (argparse's usage error), or ``--help`` without one.
    """
    parser = argparse.ArgumentParser(description=description, add_help=False)
    parser.add_argument("--task", required=True, help="sohu | xiaobu | afqmc | a module path defining TASK")
    known, rest = parser.parse_known_args(argv)
    try:
        return get_task(known.task), rest
    except ValueError as err:
        parser.error(str(err))
        raise  # unreachable


def compound_config(name: str, *bases: type) -> type:
    """A dataclass inheriting ``bases`` (e.g. CVConfig and the task's config), for one command's flags."""
    return dataclasses.make_dataclass(name, [], bases=bases)


def fields_of(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
