"""Predict with a saved run of any task: validation metrics, then the submission.

    python -m common.commands.predict --task sohu --run runs/sohu/<name> [--test-file FILE] [--data-dir DIR]
    accelerate launch [--multi_gpu --num_processes N] -m common.commands.predict --task sohu --run ...
    python -m common.commands.predict --task xiaobu --run runs/xiaobu/cv5 --tta-swap true   # a k-fold run
    python -m common.commands.predict --task pair --run runs/pair/x --test-file b.jsonl --test-config b.toml

On the run's own data it writes the submission, and ``probabilities.npz`` and ``thresholds.json``
in the run folder (what blending reads) only where they are missing or older than ``model.pt``:
predict leaves a trained run's folder as it was (a read-only one too); a student trained with
``--distill-thresholds teacher`` decides with its saved ``teacher_thresholds.json``.
Another inference setting than the run's (``--tta-swap``, ``--posthoc-tau``) on the run's own
data goes to a folder beside it, ``<run>-tta`` (``-notta``, ``-posthoc<tau>``): the setting's
``probabilities.npz`` and ``thresholds.json``, its ``config.json`` and a ``metrics.json`` naming the
run it was predicted from (:data:`PREDICTED_FROM`), so that ``blend`` and the report take it as a run.
With ``--test-file`` or another ``--data-dir`` the run folder is never written: the submission and its
``<submission>.probabilities.npz`` go to the submission folder; another ``--data-dir``'s validation rows are
scored with the run's own thresholds (``thresholds.json``), not thresholds tuned on them. ``--test-config FILE.toml`` reads
``--test-file`` in another layout than the run's test file: the options a task names in
``Task.test_file_options`` (a pair contest's format, columns, ids and submission format), for that
file and its submission only. Inference goes
through ``accelerate`` (device, the run's mixed precision, the rows sharded across
processes and gathered); only the main process writes and prints the JSON line.

A k-fold run (``common.commands.cv``, a folder with ``folds.json``) predicts with every
fold model (:func:`predict_kfold_run`): another test file gets the fold mean; another
inference setting (``--tta-swap``, ``--posthoc-tau``) gets a new k-fold run folder
``<run>-tta`` beside the trained one, re-predicted out of fold on the same folds, so
that the setting is scored by CV and the folder is an ensemble member.

An OOF ensemble (``common.commands.ensemble``, a folder with ``ensemble.json``) predicts another
test file through every member it weighs
(:func:`common.commands.ensemble.predict_ensemble_run`); its own test set again from its saved
predictions.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import logging

from accelerate import Accelerator

from common.checkpoint import load_model_weights
from common.commands.args import compound_config, run_cli, split_task
from common.config import ArgumentParser, config_from_dict, load_overrides, parse_bool, save_config_json
from common.cv import FOLD_PREDICTIONS, CVConfig, FoldResult, check_pool_digest, run_cv, saved_digest
from common.distillation import saved_teacher_thresholds
from common.io import atomic_path, print_result, write_json_atomic
from common.losses import posthoc_arguments
from common.run import (PREDICTED_FROM, broadcast_from_main, check_run_task, folder_kinds, name_after_folder,
                        predicted_from, process_state, training_state)
from common.task import Model, Splits, Task
from common.training.inference import inference_loader, prepare_model_for_inference, run_inference
from common.training.trainer import release_logging

logger = logging.getLogger(__name__)


def load_run(task: Task, run_dir: str | Path) -> tuple[Any, Model]:
    """Config and best model of a finished run (weights of ``model.pt``, on the CPU).

    Raises:
        FileNotFoundError: config.json or model.pt missing (a k-fold folder: naming its fold folders; an ensemble's
            TF-IDF or gbm member: saying it holds predictions, not a neural model).
        ValueError: an unreadable config.json or model.pt (a truncated copy), naming the file.
    """
    run_dir = Path(run_dir)
    if (run_dir / "member.json").is_file():
        raise FileNotFoundError(f"{run_dir} is an ensemble's TF-IDF or gbm member: it holds OOF and test "
                                "predictions, not a neural model to load or export")
    if (run_dir / "ensemble.json").is_file():
        raise FileNotFoundError(f"{run_dir} is an OOF ensemble of other runs, not a model: export or load one of "
                                "its k-fold members' fold folders, or its distilled student")
    if is_kfold_run(run_dir) and not (run_dir / "model.pt").exists():
        raise FileNotFoundError(f"{run_dir} is a k-fold run: its models are {run_dir}/fold<k> (give one of them, "
                                f"e.g. {run_dir}/fold0; predict takes the k-fold folder itself)")
    source = predicted_from(run_dir)
    if source is not None and not (run_dir / "model.pt").exists():
        raise FileNotFoundError(f"{run_dir} holds predictions of {source} with another inference setting, not a "
                                f"model: use {source} itself (predict it with --tta-swap / --posthoc-tau, export it "
                                "as it is)")
    if "baseline" in folder_kinds(run_dir) and not (run_dir / "model.pt").exists():  # probe Z1
        raise FileNotFoundError(f"{run_dir} is a TF-IDF reference (make {task.name}-baseline): it holds its "
                                "predictions, not a neural model to load or export")
    for name in ("config.json", "model.pt"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name} missing: is {run_dir} a finished {task.name} run?")
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{run_dir / 'config.json'}: unreadable ({err}); expected the JSON config its training "
                         "wrote") from None
    config = config_from_dict(task.config_class, saved)
    model = task.load(config, run_dir)
    load_model_weights(model.module, run_dir / "model.pt")
    return config, model


def inference_tag(task: Task, config: Any, posthoc_tau: float | None, tta_swap: bool | None) -> tuple[float, str]:
    """``(tau, tag)``: the post-hoc tau predictions use (``posthoc_tau``, else the run's) and the name tag of a
    setting other than the run's (``-posthoc<tau>``, then ``-tta`` / ``-notta``; empty for the run's own).

    Raises:
        ValueError: ``--posthoc-tau`` > 0 for a task whose config has no logit adjustment (no
            ``LogitAdjustmentConfig``: its runs keep no label prior), before anything is written.
    """
    own_tau = getattr(config, "posthoc_tau", 0.0)  # a task config without LogitAdjustmentConfig: none
    tau = own_tau if posthoc_tau is None else posthoc_tau
    if tau > 0 and not hasattr(config, "posthoc_tau"):
        raise ValueError(f"--posthoc-tau {tau:g}: task {task.name} has no logit adjustment (its config has no "
                         "LogitAdjustmentConfig, so its runs keep no label prior)")
    tag = f"-posthoc{tau:g}" if tau != own_tau else ""
    if tta_swap is not None and tta_swap != getattr(config, "tta_swap", False):
        tag += "-tta" if tta_swap else "-notta"
    return tau, tag


def setting_folder(run_dir: Path, tag: str) -> Path:
    """``<run><tag>``, the folder of ``run_dir``'s predictions under another inference setting.

    Raises:
        FileExistsError: that folder exists and holds something else (a run of that name, another run's
            predictions): nothing would tell the two apart.
    """
    folder = run_dir.with_name(run_dir.name + tag)
    if folder.exists() and any(folder.iterdir()):
        source = predicted_from(folder)
        if source is None or Path(source).resolve() != run_dir.resolve():
            raise FileExistsError(f"{folder} exists and is not {run_dir}'s predictions with {tag[1:]} "
                                  f"({'predicted from ' + source if source else 'not a prediction folder'}): "
                                  "move it, or rename the run")
    return folder


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
    # With swap TTA one pass over the rows in their order, then swapped, halves averaged: the batches that
    # scored each epoch in training (common.commands.train), so a run's saved probabilities are those its
    # best epoch was chosen on
    swapped = task.tta_swapped(config, examples)
    module = prepare_model_for_inference(model.module, accelerator)
    rows = list(examples) + (swapped or [])
    loader = inference_loader(task.dataset(config, model, rows, training=False), config.eval_batch_size,
                              task.collate_fn(config, model, training=False), accelerator)
    step = task.predict_step(config, model, **adjust)
    probs = run_inference(module, loader, step, accelerator, show_progress=accelerator.is_local_main_process)["prob"]
    if swapped is None:
        return probs
    n = len(examples)
    return (probs[:n] + probs[n:]) / 2


def no_rows(probs: np.ndarray) -> np.ndarray:
    """(0,) or (0, C): no validation rows, shaped as ``probs``' rows are."""
    return np.zeros((0,) + np.shape(probs)[1:])


def save_probabilities(path: Path, task: Task, valid: list, valid_probs: np.ndarray, test: list,
                       test_probs: np.ndarray) -> None:
    """Probabilities with their ids (``valid_keys``, ``test_ids``), for blending and ensembling, and the ids the
    submission gives the test rows (``submission_ids``, :meth:`common.task.Task.submission_ids`: a pair contest's
    id column, where ``test_ids`` count rows)."""
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, valid_keys=np.array(task.ids(valid), dtype=str), valid_probs=valid_probs,
                     valid_digest=np.array(task.examples_digest(valid)),
                     valid_labels=task.labels(valid) if valid else np.zeros(0, dtype=int),
                     test_ids=np.array(task.ids(test), dtype=str), test_probs=test_probs,
                     test_digest=np.array(task.examples_digest(test)),
                     submission_ids=np.array(task.submission_ids(test), dtype=str))


def test_set_change(task: Task, path: Path, test: list) -> str | None:
    """What differs between ``test`` and the test set whose predictions ``path`` holds (a run's
    ``probabilities.npz``, a k-fold run's ``test_predictions.npz``): ``""`` nothing; ``"N rows now against M
    predicted, K ids in both"``; ``"the same N ids, other content"`` (the saved ``test_digest``). None where it
    cannot tell: no such file, or the same ids in a file saved before test digests were (2026-12-07)."""
    if not path.is_file():
        return None
    with np.load(path) as saved:
        before, digest = saved["test_ids"].astype(str), saved_digest(saved)
    now = np.asarray(task.ids(test), dtype=str)
    if not np.array_equal(before, now):
        return f"{len(now)} rows now against {len(before)} predicted, {len(set(now) & set(before))} ids in both"
    if digest is None:
        return None
    return "" if digest == task.examples_digest(test) else f"the same {len(now)} ids, other content"


def test_changed(task: Task, run_dir: Path, test: list, test_path: Path | None = None) -> str:
    """How ``test`` (the run's own test set, read now from ``test_path``) differs from the one the run's
    ``probabilities.npz`` holds (:func:`test_set_change`; a run saved before test digests: ``"modified since"`` when
    ``test_path``'s newest file was modified after that file was written, probe AM); ``""`` when it does not, or the
    run has no such file."""
    path = Path(run_dir) / "probabilities.npz"
    change = test_set_change(task, path, test)
    if change is not None:
        return change
    if not path.is_file() or test_path is None or not test_path.exists():
        return ""
    files = [p for p in test_path.rglob("*") if p.is_file()] if test_path.is_dir() else [test_path]
    return "modified since" if max((p.stat().st_mtime for p in files), default=0.0) > path.stat().st_mtime else ""


def content_digest(path: Path, layout: dict | None = None) -> str:
    """First 8 hex digits of the SHA-256 of a file's bytes (of a folder's: each file's relative path and bytes, in
    path order, as a task whose test set is a folder, Sohu's, names it), and of ``layout`` when given (the
    ``--test-config`` options it is read and submitted with). Raises OSError when ``path`` cannot be read."""
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(path).as_posix()).encode("utf-8") + b"\0")
            with file.open("rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    else:
        digest = hashlib.sha256(path.read_bytes())
    if layout:
        digest.update(json.dumps(layout, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()[:8]


def test_name_parts(path: Path, own: Path | None, layout: dict | None = None) -> list[str]:
    """The parts a prediction's name takes from the test file ``path``: ``[stem]`` for the run's ``own`` test file,
    ``[stem, content digest]`` (:func:`content_digest`, of the file and its ``layout``) for any other (``own``
    None: the run has none), so that two files of one stem (in two folders, or two formats of one file), or one file
    submitted in two layouts, never overwrite each other's prediction, and the same content always gets the same
    name. Raises OSError when a foreign ``path`` is no readable file."""
    if own is not None and path.resolve() == own.resolve() and not layout:
        return [path.stem]
    return [path.stem, content_digest(path, layout)]


def submission_name(task: Task, config: Any, tag: str, score: str, test: Path | None,
                    own_test: Path | None = None, layout: dict | None = None) -> str:
    """``<run><tag>[-<test file stem>[-<digest>]]-<score>``: the submission's file name, no suffix.

    Args:
        test: the test file (a task's test folder) predicted when it is not the run's own, as the task
            reads it (:meth:`common.task.Task.test_file_path`); None: the run's own. Its stem
            is in the name, as the run's own test file's is where the task names test files
            (``Task.test_in_name``).
        own_test: the run's own test file; any other gets its content digest after the stem
            (:func:`test_name_parts`), so predicting a foreign ``test.tsv`` never overwrites the submission the
            run wrote for its own.
        layout: the ``--test-config`` options ``test`` is read with, digested with it.
    """
    parts = [f"{config.run_name}{tag}"]
    if test is not None:
        parts += test_name_parts(test, own_test, layout)
    elif task.test_in_name:
        parts.append(task.test_path(config).stem)
    if score:
        parts.append(score)
    return "-".join(parts)


def read_test_layout(task: Task, path: str | None, test_file: str | None) -> dict:
    """The ``--test-config`` file's options: only ``task.test_file_options``, and only with ``--test-file``.

    Raises:
        ValueError: no ``--test-file``, a task without such options, or a key outside them (naming the file).
        FileNotFoundError: no such file.
    """
    if not path:
        return {}
    if not test_file:
        raise ValueError(f"--test-config {path} describes --test-file's layout: give --test-file too")
    if not task.test_file_options:
        raise ValueError(f"--test-config {path}: task {task.name} lets a test file set: none (its --test-file is "
                         "read in the run's own layout)")
    options = load_overrides(task.config_class, path)
    other = sorted(set(options) - set(task.test_file_options))
    if other:
        raise ValueError(f"{path}: {other} would change the run, not how its test file is read; task {task.name} "
                         f"lets a test file set: {', '.join(task.test_file_options)}")
    return options


def read_test_file(task: Task, config: Any, test_file: str, test_config: dict | None) -> list:
    """The examples of ``predict --test-file`` (:meth:`common.task.Task.test_file_path`: as given when it exists, else
    under the data folder), read in the run's layout with ``test_config``'s options (:meth:`Task.test_layout`).

    Raises:
        FileNotFoundError: neither place holds it (naming both).
    """
    path = task.test_file_path(config, test_file)
    if not path.exists():
        tried = sorted({str(Path(test_file)), str(path)})
        raise FileNotFoundError(f"--test-file {test_file}: no such file ({' nor '.join(tried)})")
    return task.load_test(task.test_layout(config, test_config), str(path))


def other_data_dir(config: Any, data_dir: str | None) -> bool:
    """Whether ``data_dir`` names another data folder than the run's own ``config.data_dir`` (resolved: the run's
    folder written another way, ``../x`` for ``/tmp/x``, is its own; probe AN)."""
    return data_dir is not None and Path(data_dir).resolve() != Path(config.data_dir).resolve()


def recorded_cv(run_dir: Path) -> dict:
    """A finished k-fold run's ``cv_metrics.json`` (its OOF ``cv`` metrics and the ``thresholds`` its submission
    decides with); {} where unreadable."""
    try:
        return json.loads((Path(run_dir) / "cv_metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


RUN_DATA_GONE = "the run's data"  # Splits.missing of run_data's stand-in


def run_data(task: Task, config: Any, recorded: bool) -> Splits:
    """``task.load_data(config)`` for predict: the run's validation rows (and its pool, test set).

    Where its files are gone (a run folder copied to another machine, its data moved) and ``recorded`` (a
    ``--test-file`` is scored and the run saved how it decides): empty splits, ``missing`` ``[RUN_DATA_GONE]``, with a
    warning; the caller decides with what the run recorded (probe AD: a moved run could not score a new file). Not
    for a task whose submission reads the labelled rows (``Task.submission_reads_labels``: Sohu's label
    implication and trained subtasks).

    Raises:
        FileNotFoundError: the files are gone and not ``recorded``: one line, naming the folder read and
            ``--data-dir``.
    """
    try:
        return task.load_data(config)
    except FileNotFoundError as err:
        where = getattr(config, "data_dir", "") or "the run's config.json"
        if not recorded or task.submission_reads_labels:
            raise FileNotFoundError(f"{err} (the run's data is read from {where}: --data-dir names where it is now)"
                                    ) from None
        if process_state().is_main_process:
            logger.warning("the run's data is not there (%s): the test file is decided as the run recorded, without "
                           "scoring its validation rows", err)
        return Splits([], [], [], [RUN_DATA_GONE])


def predict_run(task: Task, run_dir: str | Path, data_dir: str | None = None, test_file: str | None = None,
                submission_dir: str | None = None, posthoc_tau: float | None = None,
                tta_swap: bool | None = None, test_config: dict | None = None, refresh: bool = False) -> dict:
    """Validation metrics and a validated submission of a saved run.

    Args:
        data_dir / submission_dir: override the run's.
        test_file: score this file (the task's test format) instead of the run's test set.
        posthoc_tau: post-hoc logit adjustment (default: the run's ``posthoc_tau``); another
            value than the run's: outputs carry ``-posthoc<tau>`` in their names.
        tta_swap: average both text orders (default: the run's ``tta_swap``); another
            value than the run's: outputs carry ``-tta`` (``-notta``) in their names.
        With either, on the run's own data, the probabilities go to :func:`setting_folder`, not the run folder.
        test_config: options for reading ``test_file`` and writing its submission (:func:`read_test_layout`).
        refresh: (re)write the run's ``probabilities.npz`` and ``thresholds.json`` (train, after
            training); otherwise they are written only when missing or older than ``model.pt``, so
            predict leaves a trained run's folder as it was (a read-only one too).

    Returns:
        ``{"valid": metrics, "thresholds": decision state, "submission", "rows", ...}``, ``"run_dir"``
        the folder holding the run's probabilities of its own data (the run's, or a setting's folder), or
        ``"probabilities"``, the file beside the submission of another test set (the same on every process; files
        written by the main process only).

    Raises:
        FileExistsError: the setting's folder holds something else (:func:`setting_folder`).
        ValueError: (``refresh`` off) a run interrupted before its last epoch (:func:`common.run.training_state`)
            that can resume (it holds its ``checkpoint/``): its model is the best epoch so far, and predicting it
            wrote into its folder and a submission named like a finished run's.
    """
    run_dir = Path(run_dir)
    start = time.time()
    trained = training_state(run_dir)
    if not refresh and trained.get("finished") is False and (run_dir / "checkpoint").is_dir():  # resumable: do that
        # (a pruned tune trial keeps no checkpoint: its model is what it is)
        raise ValueError(f"{run_dir} trained {trained['epochs_done']} of its {trained['epochs']} epochs "
                         "(interrupted?): finish it first (its train command with --resume true), then predict")
    release_logging()  # a run trained in this process: its train.log stays as written
    config, model = load_run(task, run_dir)
    name_after_folder(config, run_dir)
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    moved = other_data_dir(config, data_dir)
    own_data = not moved and test_file is None
    own_test = task.test_path(config)
    if data_dir:
        config.data_dir = data_dir
    if submission_dir:
        config.submission_dir = submission_dir
    tau, tag = inference_tag(task, config, posthoc_tau, tta_swap)
    adjust = posthoc_arguments(run_dir, tau)
    if tta_swap is not None and tta_swap != getattr(config, "tta_swap", False):
        config.tta_swap = tta_swap
    outputs = (setting_folder(run_dir, tag) if tag else run_dir) if own_data else None
    if outputs == run_dir and not refresh and is_current(run_dir):
        outputs = None  # the run's own predictions are there, newer than its model: the folder is left as it was
    own = run_dir / "thresholds.json"
    data = run_data(task, config, test_file is not None)  # thresholds.json: its decisions (none: it needs none)
    test = data.test if test_file is None else read_test_file(task, config, test_file, test_config)
    # the run's own test file replaced since it was predicted (a round-B file): another file's submission, named by
    # its content, beside the run's own, which it overwrote before (probe AK); the run folder stays as it was
    foreign = None if own_data else task.test_file_path(config, test_file) if test_file else task.test_path(config)
    # the run's own file named by --test-file or --data-dir (probe AN: its submission name, overwritten) counts too
    reads_own = own_data or (own_test is not None and foreign.resolve() == own_test.resolve())
    changed = test_changed(task, run_dir, test, own_test) if reads_own and not refresh else ""
    if changed:
        if accelerator.is_main_process:
            logger.warning("%s: the test set changed since the run predicted it (%s); its submission is named by the "
                           "new content, beside the run's own", own_test, changed)
        outputs = None
    valid_probs = probabilities(task, config, model, data.valid, accelerator, **adjust)
    fixed_state = saved_teacher_thresholds(run_dir)  # a student that decides with its teacher's thresholds
    if fixed_state is None and (moved or data.missing == [RUN_DATA_GONE]) and own.is_file():
        # another data folder: its validation rows are scored, but the run decides as it was trained to decide
        # (re-tuned there, the thresholds were fitted to other rows, maybe rows the model trained on)
        fixed_state = json.loads(own.read_text(encoding="utf-8"))
    metrics, state = task.score(data.valid, valid_probs, fixed_state) if data.valid else ({}, fixed_state or {})
    test_probs = probabilities(task, config, model, test, accelerator, **adjust)
    value = metrics.get(task.metric_name)
    if changed and foreign is None:
        foreign = task.test_path(config)
    name = submission_name(task, config, tag, f"{task.metric_name}{value:.4f}" if value is not None else "",
                           foreign, None if changed else own_test, test_config)
    result: dict[str, Any] = {"valid": metrics, "thresholds": state, "posthoc_tau": tau}
    written: dict[str, Any] = {}
    if accelerator.is_main_process:
        written = task.write_submission(task.test_layout(config, test_config), test, test_probs, state, name,
                                        test_file)
        if outputs is not None:
            if outputs != run_dir:  # another setting: a folder blend and the report read as a run
                config.posthoc_tau, config.run_name, config.run_dir = tau, config.run_name + tag, str(outputs)
                outputs.mkdir(parents=True, exist_ok=True)
                save_config_json(config, outputs / "config.json")
            # the record first: a crash after it leaves probabilities.npz older than model.pt, so the next predict
            # writes them again; after them, it would leave the superseded submission for good (probe J)
            replace_superseded(outputs, written["submission"])
            if state:
                write_json_atomic(outputs / "thresholds.json", state)
            save_probabilities(outputs / "probabilities.npz", task, data.valid, valid_probs, test, test_probs)
            if outputs != run_dir:  # last: a folder without it is a half-written one
                write_json_atomic(outputs / "metrics.json", {PREDICTED_FROM: str(run_dir), "posthoc_tau": tau,
                                                             "tta_swap": getattr(config, "tta_swap", None),
                                                             "valid": metrics, "thresholds": state,
                                                             "submission": written.get("submission")})
        elif not own_data or changed:  # another test file or data folder: its probabilities beside its submission
            save_probabilities(Path(written["submission"]).with_suffix(".probabilities.npz"), task, [],
                               no_rows(test_probs), test, test_probs)
    written = broadcast_from_main(written)
    result.update(written)
    if outputs is not None:
        result["run_dir"] = str(outputs)
    elif own_data and not changed:
        result["run_dir"] = str(run_dir)  # its own predictions are there, current
    else:  # another test set: nothing went into a run folder (probe AN: the result named the run's, stale there)
        result["probabilities"] = str(Path(result["submission"]).with_suffix(".probabilities.npz"))
    result.update(missing=data.missing, predict_seconds=round(time.time() - start, 1))
    return result


SUBMISSION_RECORD = "submission.json"  # a run's (or setting folder's) own-data submission, for the next predict


def replace_superseded(folder: Path, submission: str) -> None:
    """Record ``submission`` as ``folder``'s own-data submission (``submission.json``) and remove the one recorded
    before it when that is another file of the same submission folder: a run resumed (e.g. after its
    ``--max-train-minutes``) or predicted after its model changed gets another score, so another name, and the
    superseded model's file stayed beside the new one, ready to be uploaded by mistake. A file elsewhere (another
    ``--submission-dir``) is kept, and so is one a record copied with the folder names (its ``folder`` is another:
    the original run's submission). Main process only."""
    record = folder / SUBMISSION_RECORD
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        previous = Path(saved["submission"]) if Path(saved["folder"]).resolve() == folder.resolve() else None
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    write_json_atomic(record, {"submission": submission, "folder": str(folder.resolve())})
    new = Path(submission)
    if (previous is not None and previous.is_file() and previous.resolve() != new.resolve()
            and previous.parent.resolve() == new.parent.resolve()):
        previous.unlink()
        logger.info("%s replaces %s (the run's earlier model)", new.name, previous.name)


def is_current(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds its own ``probabilities.npz`` written after its ``model.pt``."""
    saved, model = run_dir / "probabilities.npz", run_dir / "model.pt"
    return saved.is_file() and model.is_file() and saved.stat().st_mtime >= model.stat().st_mtime


def is_kfold_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` is a k-fold run folder of :mod:`common.commands.cv` (it holds ``folds.json``)."""
    return (Path(run_dir) / "folds.json").is_file()


def saved_oof(task: Task, run_dir: Path, pool: list, config: Any) -> np.ndarray:
    """(N,) OOF probabilities of a k-fold run's ``oof.npz``, in ``pool``'s order.

    Raises:
        ValueError: its ids are not ``pool``'s (other data than the run was trained on; the callers check the
            content with :func:`common.cv.check_pool_digest`).
    """
    with np.load(run_dir / "oof.npz") as saved:
        if not np.array_equal(saved["ids"].astype(str), np.asarray(task.ids(pool), dtype=str)):
            raise ValueError(f"{run_dir / 'oof.npz'}: ids differ from the data at {config.data_dir}; "
                             "predict with the data the run was trained on")
        return saved["oof"]


def saved_kfold_submission(task: Task, run_dir: Path, config: Any, start: float) -> dict | None:
    """A k-fold run's own submission again, from what it saved: the fold mean of ``test_predictions.npz``, decided
    by the thresholds tuned on ``oof.npz`` (ids asserted equal to the data's), as the k-fold command wrote it. No
    model is loaded and the run folder is not written.

    Returns:
        The result, or None when the test set is no longer what the saved predictions are of (other ids, or the
        same ids and other texts: :meth:`common.task.Task.examples_digest` differs): the caller predicts it with
        the models.

    Raises:
        FileNotFoundError: no ``test_predictions.npz``; ValueError: pool ids other than the data's, or the same ids
            of other rows than the run was made on (:func:`common.cv.check_pool_digest`).
    """
    data = run_data(task, config, False)
    pool = task.cv_pool(config, data)
    path = run_dir / "test_predictions.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: finish the k-fold run first (rerun common.commands.cv with the "
                                "same run name)")
    check_pool_digest(run_dir, task.examples_digest(pool), config.data_dir)  # the rows its OOF was scored on
    oof = saved_oof(task, run_dir, pool, config)
    change = test_set_change(task, path, data.test)
    if change:
        logger.warning("%s: the test set changed since it was predicted (%s); predicting it as it is now", path,
                       change)
        return None
    with np.load(path) as saved:
        test_probs = saved["test"]
    metrics, thresholds = task.score(pool, oof, saved_teacher_thresholds(run_dir))  # a student: as cv decided
    name = submission_name(task, config, "", f"cv{metrics[task.metric_name]:.4f}", None)
    written: dict[str, Any] = {}
    if process_state().is_main_process:
        written = task.write_submission(config, data.test, test_probs, thresholds, name)
        beside = Path(written["submission"]).with_suffix(".probabilities.npz")
        if beside.is_file():  # left by a prediction of the file while it was edited: now of this submission
            save_probabilities(beside, task, [], no_rows(test_probs), data.test, test_probs)
    result: dict[str, Any] = {"cv": metrics, "thresholds": thresholds, "run_dir": str(run_dir),
                              **broadcast_from_main(written), "missing": data.missing,
                              "predict_seconds": round(time.time() - start, 1)}
    return result


def fold_test_probabilities(task: Task, fold_dirs: list[Path], test: list, accelerator: Accelerator,
                            tta_swap: bool | None, tau: float) -> np.ndarray:
    """(K, M) each fold model's probabilities of ``test`` (K folders holding ``model.pt``), float64.

    Args:
        tta_swap: average both text orders (None: each fold model's own setting).
        tau: post-hoc logit adjustment with each fold's saved label prior (0: none).
    """
    per_fold = []
    for fold_dir in fold_dirs:
        fold_config, model = load_run(task, fold_dir)
        if tta_swap is not None:
            fold_config.tta_swap = tta_swap
        per_fold.append(probabilities(task, fold_config, model, test, accelerator,
                                      **posthoc_arguments(fold_dir, tau)))
    return np.stack([np.asarray(p, dtype=np.float64) for p in per_fold])


def kfold_test_probabilities(task: Task, run_dir: Path, test: list, accelerator: Accelerator) -> np.ndarray:
    """(K, M) each fold model's probabilities of ``test``, under the k-fold run folder's own inference setting.

    ``run_dir`` is a finished k-fold run, or the folder of its predictions under another setting
    (``<run>-tta``, made by :func:`predict_kfold_run`): its folds hold predictions only, and fold k's
    model is the one its ``fold_metrics.json`` names, predicting under the folder's ``tta_swap`` and
    ``posthoc_tau``.

    Raises:
        FileNotFoundError: a fold whose model cannot be found.
    """
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    folds = json.loads((run_dir / "folds.json").read_text(encoding="utf-8"))["folds"]
    return fold_test_probabilities(task, fold_model_dirs(run_dir, folds), test, accelerator, config.get("tta_swap"),
                                   float(config.get("posthoc_tau", 0.0)))


def fold_model_dirs(run_dir: Path, folds: int) -> list[Path]:
    """The folder of each fold's model of a k-fold run folder: ``fold<k>``, or for a folder of predictions under
    another inference setting (``<run>-tta``) the trained run's fold its ``fold<k>/fold_metrics.json`` names.

    Raises:
        FileNotFoundError: a fold without a model (an unfinished run).
    """
    fold_dirs = []
    for k in range(folds):
        fold_dir = run_dir / f"fold{k}"
        if not (fold_dir / "model.pt").is_file() and (fold_dir / "fold_metrics.json").is_file():
            fold_dir = Path(json.loads((fold_dir / "fold_metrics.json").read_text(encoding="utf-8")).get("model",
                                                                                                          fold_dir))
        if not (fold_dir / "model.pt").is_file():
            raise FileNotFoundError(f"{fold_dir / 'model.pt'} missing: is {run_dir} a finished k-fold run? (fold {k} "
                                    "has no model to predict with)")
        fold_dirs.append(fold_dir)
    return fold_dirs


def predict_kfold_run(task: Task, run_dir: str | Path, data_dir: str | None = None, test_file: str | None = None,
                      submission_dir: str | None = None, posthoc_tau: float | None = None,
                      tta_swap: bool | None = None, test_config: dict | None = None) -> dict:
    """Predict with every fold model of a finished k-fold run; the trained run folder is never written.

    * Another inference setting (``tta_swap`` or ``posthoc_tau`` other than the run's) on the
      run's own data: a new k-fold run folder ``<run><tag>`` beside it (tags as in
      :func:`predict_run`: ``-tta``, ``-posthoc<tau>``). Fold k's model re-predicts fold k's
      held-out rows and the test set, through :func:`common.cv.run_cv` on a copy of the
      run's ``folds.json``: ``oof.npz``, ``test_predictions.npz``, ``cv_metrics.json`` as the
      k-fold command writes them, resumable fold by fold, and usable wherever a k-fold run
      is (``common.commands.ensemble``, ``bench.oof_compare``, ``--pseudo-from``). Its
      submission is named with its CV score; thresholds, where the task has them, are tuned
      on its OOF rows.
    * The run's own data and settings: its submission again from its saved fold mean
      (:func:`saved_kfold_submission`), unless the test file was edited since (same ids, other content): then
      it is predicted by the fold models as another test file is.
    * Another test set (``test_file`` or ``data_dir``): every fold model predicts it, the
      fold mean is the submission, decided by the thresholds tuned on
      the OOF rows of the run (or of its ``<run><tag>`` folder, made first, for another
      setting); ``<submission>.probabilities.npz`` (test ids and the mean) goes beside it.

    Args:
        run_dir: the k-fold run folder (``folds.json``, ``oof.npz``, ``fold<k>/model.pt``).
        data_dir / test_file / submission_dir / posthoc_tau / tta_swap / test_config: as :func:`predict_run`.

    Returns:
        ``{"cv": OOF metrics, "thresholds", "submission", "rows", "run_dir": the folder whose
        OOF rows were scored, ...}`` (the same on every process).

    Raises:
        FileNotFoundError: an unfinished run (no ``oof.npz``, a fold without ``model.pt``).
        ValueError: data whose ids differ from its ``folds.json``, or a ``<run><tag>`` folder
            holding predictions older than the fold models.
    """
    run_dir = Path(run_dir)
    start = time.time()
    release_logging()  # a run trained in this process: its train.log stays as written
    if not (run_dir / "oof.npz").is_file():
        raise FileNotFoundError(f"{run_dir / 'oof.npz'} missing: finish the k-fold run first "
                                "(rerun common.commands.cv with the same run name)")
    config_class = compound_config(f"{task.name}CVPredict", CVConfig, task.config_class)
    config = config_from_dict(config_class, json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    name_after_folder(config, run_dir)
    folds = json.loads((run_dir / "folds.json").read_text(encoding="utf-8"))
    config.folds, config.only_folds = folds["folds"], ""
    if submission_dir:
        config.submission_dir = submission_dir
    tau, tag = inference_tag(task, config, posthoc_tau, tta_swap)
    other_test = test_file is not None or other_data_dir(config, data_dir)
    edited = False  # the run's own test file, edited since it was predicted
    if not other_test and not tag:
        saved = saved_kfold_submission(task, run_dir, config, start)
        if saved is not None:
            return saved
        other_test = edited = True  # predicted by the fold models like any other, named as the run's own
    accelerator = Accelerator(mixed_precision=config.mixed_precision)
    state = process_state()
    fold_dirs = fold_model_dirs(run_dir, config.folds)  # every fold model is there before anything is written

    setting = getattr(config, "tta_swap", None) if tta_swap is None else tta_swap  # a <run>-tta folder's own

    def fold_model(k: int) -> tuple[Any, Model, dict]:
        fold_config, model = load_run(task, fold_dirs[k])
        if setting is not None:
            fold_config.tta_swap = setting
        return fold_config, model, posthoc_arguments(fold_dirs[k], tau)

    # another test set on the run's own setting decides as cv recorded, where the run's data is gone
    recorded = recorded_cv(run_dir)
    as_recorded = other_test and not tag and "thresholds" in recorded
    data = run_data(task, config, as_recorded)
    gone = data.missing == [RUN_DATA_GONE]
    pool = task.cv_pool(config, data)
    pool_digest = task.examples_digest(pool)
    if not gone:
        try:
            check_pool_digest(run_dir, pool_digest, config.data_dir)  # the fold models' rows, whatever the setting
        except ValueError as err:  # edited since: another test file is still decided as cv recorded (not Sohu's)
            if not as_recorded or task.submission_reads_labels:
                raise
            if state.is_main_process:
                logger.warning("%s: the test file is decided as the run recorded, without scoring its rows again", err)
            gone = True
    scored = run_dir
    if gone:
        oof = test_probs = None
    elif tag:  # the setting's own OOF rows: a new k-fold run folder beside the trained one
        scored = run_dir.with_name(run_dir.name + tag)
        for k, fold_dir in enumerate(fold_dirs):  # a resumed folder must hold these models' predictions
            done = scored / f"fold{k}" / FOLD_PREDICTIONS
            if done.is_file() and done.stat().st_mtime < (fold_dir / "model.pt").stat().st_mtime:
                raise ValueError(f"{done} is older than {fold_dir / 'model.pt'}: predictions of earlier fold "
                                 f"models; remove {scored} to predict again")
        test_digest = task.examples_digest(data.test)
        change = test_set_change(task, run_dir / "test_predictions.npz", data.test)
        edited = bool(change)
        if edited and state.is_main_process:  # probe AN: no word, and no digest in its submission's name
            logger.warning("%s: the test set changed since %s predicted it (%s); %s holds the setting's "
                           "predictions of it as it is now, its submission named by the new content", data_dir
                           or config.data_dir, run_dir, change, scored)
        for k in range(config.folds):  # a setting's fold predictions of another test set: predicted again, as
            done = scored / f"fold{k}" / FOLD_PREDICTIONS  # they are derived from the fold models (probe AN: run_cv
            if done.is_file():  # refused them, advising to restore a file the user had just restored)
                with np.load(done) as part:
                    stale = saved_digest(part) not in (None, test_digest)
                if stale and state.is_main_process:
                    logger.info("%s: of another test set; fold %d predicts again", done, k)
                    done.unlink()
        state.wait_for_everyone()
        config.run_name, config.run_dir = f"{config.run_name}{tag}", str(scored)
        config.tta_swap, config.posthoc_tau = getattr(config, "tta_swap", False) if tta_swap is None else tta_swap, tau
        if state.is_main_process:
            scored.mkdir(parents=True, exist_ok=True)
            if not (scored / "folds.json").is_file():
                write_json_atomic(scored / "folds.json", folds)
            save_config_json(config, scored / "config.json")
        state.wait_for_everyone()

        def predict_fold(k: int, train_idx: np.ndarray, held_idx: np.ndarray, fold_dir: Path) -> FoldResult:
            fold_config, model, adjust = fold_model(k)
            held = [pool[i] for i in held_idx]
            return FoldResult(oof=probabilities(task, fold_config, model, held, accelerator, **adjust),
                              test=probabilities(task, fold_config, model, data.test, accelerator, **adjust),
                              metrics={"model": str(fold_dirs[k])})

        def score_rows(rows: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
            return task.score([pool[i] for i in rows], predictions)[0]

        cv = run_cv(scored, task.ids(pool), task.labels(pool), task.strata(pool), predict_fold, score_rows, config,
                    test_ids=task.ids(data.test), metric_name=task.metric_name,
                    test_digest=test_digest, pool_digest=pool_digest)
        oof, test_probs = cv["oof"], cv["test"]
    else:
        oof, test_probs = saved_oof(task, run_dir, pool, config), None
    if gone:  # as cv scored and decided (a student: with its teacher's thresholds)
        metrics, thresholds = recorded.get("cv_teacher_thresholds", recorded["cv"]), recorded["thresholds"]
    else:
        metrics, thresholds = task.score(pool, oof, saved_teacher_thresholds(run_dir))  # a student: as cv decided
    score = f"cv{metrics[task.metric_name]:.4f}"
    result: dict[str, Any] = {"cv": metrics, "thresholds": thresholds, "posthoc_tau": tau, "run_dir": str(scored)}
    if other_test:
        own_test = task.test_path(config)
        if data_dir:
            config.data_dir = data_dir
        test = read_test_file(task, config, test_file, test_config) if test_file else task.load_data(config).test
        test_probs = fold_test_probabilities(task, fold_dirs, test, accelerator, setting, tau).mean(axis=0)
        # the run's own test set edited or replaced since: named by its content, beside the run's own (probe AK),
        # also where --test-file or --data-dir names that file (probe AN: it overwrote the run's own submission)
        foreign = task.test_file_path(config, test_file) if test_file else task.test_path(config)
        if not edited and own_test is not None and foreign.resolve() == own_test.resolve():
            change = test_set_change(task, run_dir / "test_predictions.npz", test)
            if change and state.is_main_process:
                logger.warning("%s: the test set changed since the run predicted it (%s); its submission is named by "
                               "the new content, beside the run's own", foreign, change)
            edited = bool(change)
        name = submission_name(task, config, "", score, foreign, None if edited else own_test, test_config)
    else:  # the setting folder's own submission; named by the content of a test set the run did not predict
        test = data.test
        name = submission_name(task, config, "", score, task.test_path(config) if edited else None)
    written: dict[str, Any] = {}
    if state.is_main_process:
        written = task.write_submission(task.test_layout(config, test_config), test, test_probs, thresholds, name,
                                        test_file)
        if other_test:
            save_probabilities(Path(written["submission"]).with_suffix(".probabilities.npz"), task, [],
                               no_rows(test_probs), test, test_probs)
    result.update(broadcast_from_main(written))
    result.update(missing=data.missing, predict_seconds=round(time.time() - start, 1))
    return result


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    task, rest = split_task(argv, __doc__)
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, help=f"run folder, e.g. runs/{task.name}/<name>")
    parser.add_argument("--data-dir", default=None, help="default: the run's data_dir")
    parser.add_argument("--test-file", default=None,
                        help="score this file (the task's test format) instead of the run's test set")
    parser.add_argument("--test-config", default=None,
                        help="a TOML file of how --test-file is laid out (Task.test_file_options: for --task pair "
                             "its format, columns, id column and submission format)")
    parser.add_argument("--submission-dir", default=None, help="default: the run's submission_dir")
    parser.add_argument("--posthoc-tau", type=float, default=None,
                        help="post-hoc logit adjustment (default: the run's posthoc_tau; 0 turns it off)")
    parser.add_argument("--tta-swap", type=parse_bool, default=None,
                        help="average P over both text orders, true/false (default: the run's tta_swap)")
    args = parser.parse_args(rest)
    layout = read_test_layout(task, args.test_config, args.test_file)
    check_run_task(args.run, task)
    if (Path(args.run) / "ensemble.json").is_file():
        if args.posthoc_tau is not None or args.tta_swap is not None:
            raise ValueError(f"{args.run} is an OOF ensemble: its members predict under the settings it weighed them "
                             "in; for another setting, predict a k-fold member with it (a <run>-tta folder) and "
                             "build an ensemble with that member")
        from common.commands.ensemble import predict_ensemble_run  # it imports this module
        result = predict_ensemble_run(task, args.run, args.data_dir, args.test_file, args.submission_dir, layout)
    elif is_kfold_run(args.run):
        result = predict_kfold_run(task, args.run, args.data_dir, args.test_file, args.submission_dir,
                                   args.posthoc_tau, args.tta_swap, layout)
    else:
        result = predict_run(task, args.run, args.data_dir, args.test_file, args.submission_dir,
                             args.posthoc_tau, args.tta_swap, layout)
    if process_state().is_main_process:
        print_result(result)
    return result


if __name__ == "__main__":
    run_cli(main)
