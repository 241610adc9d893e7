"""Predict with a saved run of any task: validation metrics, then the submission.

    python -m common.commands.predict --task sohu --run runs/sohu/<name> [--test-file FILE] [--data-dir DIR]
    accelerate launch [--multi_gpu --num_processes N] -m common.commands.predict --task sohu --run ...

On the run's own data it (re)writes ``probabilities.npz`` and ``thresholds.json`` in
the run folder (what blending reads) and the submission; a student trained with
``--distill-thresholds teacher`` decides with its saved ``teacher_thresholds.json``.
With ``--test-file`` or another ``--data-dir`` the run folder is never written: the submission and its
``<submission>.probabilities.npz`` go to the submission folder. Inference goes
through ``accelerate`` (device, the run's mixed precision, the rows sharded across
processes and gathered); only the main process writes and prints the JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import logging

from accelerate import Accelerator

from common.checkpoint import load_model_weights
from common.commands.args import run_cli, split_task
from common.config import config_from_dict, parse_bool
from common.distillation import TEACHER_THRESHOLDS_FILE
from common.io import atomic_path, print_result, write_json_atomic
from common.losses import posthoc_arguments
from common.run import broadcast_from_main, process_state
from common.task import Model, Task
from common.training.inference import inference_loader, prepare_model_for_inference, run_inference


def load_run(task: Task, run_dir: str | Path) -> tuple[Any, Model]:
    """Config and best model of a finished run (weights of ``model.pt``, on the CPU).

    Raises:
        FileNotFoundError: config.json or model.pt missing.
    """
    run_dir = Path(run_dir)
    for name in ("config.json", "model.pt"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name} missing: is {run_dir} a finished {task.name} run?")
    config = config_from_dict(task.config_class, json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    model = task.load(config, run_dir)
    load_model_weights(model.module, run_dir / "model.pt")
    return config, model


def probabilities(task: Task, config: Any, model: Model, examples: list, accelerator: Accelerator,
                  **adjust: Any) -> np.ndarray:
    """(N,) or (N, C) probabilities of ``examples`` in order, through ``accelerator`` (sharded, gathered).

    ``adjust``: ``log_prior`` and ``posthoc_tau`` for post-hoc logit adjustment. With
    ``config.tta_swap`` (:class:`common.task.SymmetricPairConfig`) the mean of both text
    orders (:meth:`common.task.Task.swapped`).

    Raises:
        ValueError: ``tta_swap`` for a task without symmetric pairs.
    """
    if not examples:
        return np.zeros(0, dtype=np.float32)
    swapped = task.swapped(examples) if getattr(config, "tta_swap", False) else None
    if getattr(config, "tta_swap", False) and swapped is None:
        raise ValueError(f"--tta-swap: task {task.name} has no symmetric text pairs (Task.swapped)")
    module = prepare_model_for_inference(model.module, accelerator)
    loader = inference_loader(task.dataset(config, model, examples, training=False), config.eval_batch_size,
                              task.collate_fn(config, model, training=False), accelerator)
    step = task.predict_step(config, model, **adjust)
    probs = run_inference(module, loader, step, accelerator, show_progress=accelerator.is_local_main_process)["prob"]
    if swapped is None:
        return probs
    loader = inference_loader(task.dataset(config, model, swapped, training=False), config.eval_batch_size,
                              task.collate_fn(config, model, training=False), accelerator)
    return (probs + run_inference(module, loader, step, accelerator,
                                  show_progress=accelerator.is_local_main_process)["prob"]) / 2


def save_probabilities(path: Path, task: Task, valid: list, valid_probs: np.ndarray, test: list,
                       test_probs: np.ndarray) -> None:
    """Probabilities with their ids (``valid_keys``, ``test_ids``), for blending and ensembling."""
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, valid_keys=np.array(task.ids(valid), dtype=str), valid_probs=valid_probs,
                     valid_labels=task.labels(valid) if valid else np.zeros(0, dtype=int),
                     test_ids=np.array(task.ids(test), dtype=str), test_probs=test_probs)


def submission_name(task: Task, config: Any, tag: str, score: str, test_file: str | None) -> str:
    """``<run><tag>[-<test file stem>]-<score>``; the stem when the task names it or the file is not the run's."""
    parts = [f"{config.run_name}{tag}"]
    if test_file or task.test_in_name:
        parts.append(Path(test_file or task.test_path(config)).stem)
    if score:
        parts.append(score)
    return "-".join(parts)


def predict_run(task: Task, run_dir: str | Path, data_dir: str | None = None, test_file: str | None = None,
                submission_dir: str | None = None, posthoc_tau: float | None = None,
                tta_swap: bool | None = None) -> dict:
    """Validation metrics and a validated submission of a saved run.

    Args:
        data_dir / submission_dir: override the run's.
        test_file: score this file (the task's test format) instead of the run's test set.
        posthoc_tau: post-hoc logit adjustment (default: the run's ``posthoc_tau``); outputs
            then carry ``-posthoc<tau>`` in their names.
        tta_swap: average both text orders (default: the run's ``tta_swap``); turned on
            here for a run trained without it, outputs carry ``-tta`` in their names.

    Returns:
        ``{"valid": metrics, "thresholds": decision state, "submission", "rows", ...}``
        (the same on every process; files written by the main process only).
    """
    run_dir = Path(run_dir)
    start = time.time()
    config, model = load_run(task, run_dir)
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    own_data = (data_dir is None or Path(data_dir) == Path(config.data_dir)) and test_file is None
    if data_dir:
        config.data_dir = data_dir
    if submission_dir:
        config.submission_dir = submission_dir
    tau = config.posthoc_tau if posthoc_tau is None else posthoc_tau
    adjust = posthoc_arguments(run_dir, tau)
    tag = f"-posthoc{tau:g}" if tau > 0 else ""
    if tta_swap is not None and tta_swap != getattr(config, "tta_swap", False):
        config.tta_swap = tta_swap
        tag += "-tta" if tta_swap else "-notta"
    data = task.load_data(config)
    test = data.test if test_file is None else task.load_test(config, test_file)
    valid_probs = probabilities(task, config, model, data.valid, accelerator, **adjust)
    fixed = run_dir / TEACHER_THRESHOLDS_FILE  # a student that decides with its teacher's thresholds
    fixed_state = json.loads(fixed.read_text(encoding="utf-8")) if fixed.is_file() else None
    metrics, state = task.score(data.valid, valid_probs, fixed_state) if data.valid else ({}, fixed_state or {})
    test_probs = probabilities(task, config, model, test, accelerator, **adjust)
    value = metrics.get(task.metric_name)
    name = submission_name(task, config, tag, f"{task.metric_name}{value:.4f}" if value is not None else "",
                           test_file)
    result: dict[str, Any] = {"valid": metrics, "thresholds": state, "posthoc_tau": tau}
    written: dict[str, Any] = {}
    if accelerator.is_main_process:
        written = task.write_submission(config, test, test_probs, state, name, test_file)
        if own_data:
            if state:
                write_json_atomic(run_dir / f"thresholds{tag}.json", state)
            save_probabilities(run_dir / f"probabilities{tag}.npz", task, data.valid, valid_probs, test, test_probs)
        else:
            save_probabilities(Path(written["submission"]).with_suffix(".probabilities.npz"), task, [],
                               np.zeros(0), test, test_probs)
    written = broadcast_from_main(written)
    result.update(written)
    result.update(missing=data.missing, predict_seconds=round(time.time() - start, 1))
    return result


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    task, rest = split_task(argv, __doc__)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, help=f"run folder, e.g. runs/{task.name}/<name>")
    parser.add_argument("--data-dir", default=None, help="default: the run's data_dir")
    parser.add_argument("--test-file", default=None,
                        help="score this file (the task's test format) instead of the run's test set")
    parser.add_argument("--submission-dir", default=None, help="default: the run's submission_dir")
    parser.add_argument("--posthoc-tau", type=float, default=None,
                        help="post-hoc logit adjustment (default: the run's posthoc_tau; 0 turns it off)")
    parser.add_argument("--tta-swap", type=parse_bool, default=None,
                        help="average P over both text orders, true/false (default: the run's tta_swap)")
    args = parser.parse_args(rest)
    result = predict_run(task, args.run, args.data_dir, args.test_file, args.submission_dir, args.posthoc_tau,
                         args.tta_swap)
    result["run_dir"] = args.run
    if process_state().is_main_process:
        print_result(result)
    return result


if __name__ == "__main__":
    run_cli(main)
