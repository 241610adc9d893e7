"""Run folders: ``runs/<task>/<run name>/`` holding config, log, metrics and checkpoint; the process state."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from common.config import save_config_json


def process_state():
    """accelerate's ``PartialState`` (this process's rank, the process group), CPU launches included.

    A bare ``PartialState()`` ignores ``ACCELERATE_USE_CPU``: on a machine without GPU,
    under ``ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2``, it
    sets up a one-process state in each process (both "main", both writing every file),
    and since the state is shared, every later ``Accelerator`` inherits it. Whichever
    of the two is created first decides, so the commands ask here.
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def resolve_run_dir(config: Any, task: str, root: str | Path = "runs") -> Path:
    """The run folder of ``config``: ``config.run_dir`` if set, else ``root/task/<run_name>``.

    ``run_name`` defaults to a timestamp (``YYYYmmdd-HHMMSS``); the resolved name is
    written back into the config so that config.json records it.

    Raises:
        FileExistsError: a new (non-resumed) run would overwrite a folder holding a model.
    """
    if not config.run_dir:
        config.run_name = config.run_name or time.strftime("%Y%m%d-%H%M%S")
        config.run_dir = str(Path(root) / task / config.run_name)
    run_dir = Path(config.run_dir)
    config.run_name = config.run_name or run_dir.name
    if (run_dir / "model.pt").exists() and not getattr(config, "resume", False):
        raise FileExistsError(f"{run_dir} already holds a trained model: pass --resume true to continue "
                              "it, or another --run-name")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def save_config(config: Any, run_dir: Path) -> Path:
    """Write the resolved config as ``run_dir/config.json`` (atomically)."""
    return save_config_json(config, Path(run_dir) / "config.json")
