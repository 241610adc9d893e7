"""k-fold cross-validation of any task, with a fold-averaged submission.

    python -m common.commands.cv --task sohu --folds 5 --run-name cv5 [--config ...] [--flag value ...]

The task's labelled pool (``Task.cv_pool``: Sohu train + valid, Xiaobu its train
file) is split by :func:`common.cv.make_folds`, stratified by ``Task.strata`` and
grouped by text when the task gives ``text_pairs``. One shared-trainer run per fold
(its held-out fold picks the epoch); OOF probabilities give the CV score (the task's
metric, thresholds tuned on them); the fold models' test probabilities are averaged
(ids asserted equal) into ``<submission_dir>/<run>[-<test>]-cv<score>``. Rerunning
resumes: finished folds are skipped, an interrupted fold continues from its checkpoint; a rerun
with other options than the run folder's config.json (except where things go and --only-folds) is
refused, since its finished folds would be mixed with the new setting's.
Ends with one JSON line.

A second round learns from a finished k-fold or ensemble run (the teacher) on exactly
its folds (ids and folds asserted equal), fold k only from models that never saw fold k:

* ``--pseudo-from RUN [--pseudo-min-accuracy 0.95]`` (:mod:`common.pseudo_labels`): fold k
  also trains on the test rows that the teacher's fold-k model predicts with confidence
  at least the threshold chosen on the other folds' OOF rows, with hard labels (0/1, or the most
  probable of 3+ classes); the threshold and row count per fold go to ``cv_metrics.json``;
* ``--distill-from RUN [--distill-alpha A] [--distill-temperature T]``
  (:mod:`common.distillation`): fold k trains on the teacher's OOF probabilities of its
  training rows and its fold-k test probabilities as soft targets; with
  ``--distill-thresholds teacher`` the submission decides with the teacher's thresholds
  (its OOF scored so: ``cv_teacher_thresholds``); ``--init-from RUN`` starts fold k from the
  fold-k model of a k-fold run on the same folds (asserted), e.g. the teacher's neural member.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from accelerate import Accelerator

from common.commands.args import compound_config, run_cli, split_task
from common.commands.predict import load_run, probabilities, submission_name
from common.commands.train import fit
from common.config import narrow_config, parse_config
from common.encoder import warn_other_pretraining_data
from common.cv import (CVConfig, FoldResult, check_pool_digest, fold_overrides, make_folds, parse_only_folds, run_cv,
                       text_groups)
from common.distillation import (TEACHER_THRESHOLDS_FILE, DistillConfig, SoftTargets, check_init_folds, check_options,
                                 init_weights_file, transfer_rows)
from common.io import check_output_dir, print_result, write_json_atomic
from common.losses import posthoc_arguments
from common.pseudo_labels import PseudoLabelConfig, fold_pseudo_labels
from common.run import check_rerun_config, process_state, resolve_run_dir, save_config
from common.teacher import Teacher, load_teacher

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    task, rest = split_task(argv, __doc__)
    config = parse_config(compound_config(f"{task.name}CV", CVConfig, PseudoLabelConfig, DistillConfig,
                                          task.config_class), rest, description=__doc__)
    pseudo, distill = bool(config.pseudo_from), bool(config.distill_from)
    if pseudo and distill:
        raise ValueError("--pseudo-from and --distill-from: one teacher use at a time")
    check_options(config)
    if getattr(config, "submission_dir", "") and process_state().is_main_process:  # written after every fold
        check_output_dir(config.submission_dir, "--submission-dir")
    if distill and not task.soft_targets:
        raise ValueError(f"task {task.name} does not train on soft targets (--distill-from needs a PairTask task)")
    # config.json and each fold's hold the options in use only (a plain run's are as before)
    extras = [c for c, on in ((PseudoLabelConfig, pseudo), (DistillConfig, distill)) if on]
    config = narrow_config(config, compound_config(f"{task.name}CV", CVConfig, *extras, task.config_class))
    fold_class = compound_config(f"{task.name}Student", DistillConfig, task.config_class) \
        if distill else task.config_class  # the fold model's loss reads the distillation options
    data = task.load_data(config)  # bad data fails before any run folder exists
    task.check_submission_inputs(config, data)  # and so does a submission that could not be written
    if process_state().is_main_process:  # a cache built on other data is reused as it is
        warn_other_pretraining_data(getattr(config, "model", ""), getattr(config, "data_dir", ""),
                                    task.text_pairs([*data.train, *data.valid, *data.test]))
    pool = task.cv_pool(config, data)
    labels = task.labels(pool)
    groups = pool_groups(task, pool, config)
    draw_folds(task, pool, config, groups)  # folds that cannot be drawn fail before any run folder exists
    parse_only_folds(config.only_folds, config.folds)  # so does a bad --only-folds
    run_dir = resolve_run_dir(config, task.name, kind="k-fold")
    check_rerun_config(config, run_dir)  # its finished folds are kept: they must be this setting's
    teacher = None
    fresh = not any(run_dir.iterdir())  # made just now: a refusal below leaves no empty folder behind
    pool_digest = task.examples_digest(pool)
    try:
        check_pool_digest(run_dir, pool_digest, config.data_dir)  # a rerun on edited files: before anything runs
        if pseudo or distill:  # checked before anything is written
            teacher = round_one(task, config.pseudo_from if pseudo else config.distill_from, config, run_dir, pool,
                                data.test, groups, pool_digest)
        if distill and config.init_from:
            check_init_folds(config.init_from, np.asarray(task.ids(pool), dtype=str), teacher.fold)
            for k in range(config.folds):  # every fold's weights are there before any fold trains
                init_weights_file(config.init_from, k)
    except (ValueError, FileNotFoundError):
        if fresh and process_state().is_main_process and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    if process_state().is_main_process:
        save_config(config, run_dir)

    def train_fold(k: int, train_idx: np.ndarray, held_idx: np.ndarray, fold_dir: Path) -> FoldResult:
        init = {"init_from": str(init_weights_file(config.init_from, k))} if distill and config.init_from else {}
        cfg = narrow_config(config, fold_class, **fold_overrides(config, run_dir, k), **task.fold_overrides, **init)
        held, train, soft, extra = [pool[i] for i in held_idx], [pool[i] for i in train_idx], None, {}
        if pseudo:
            chosen = fold_pseudo_labels(teacher, k, config.pseudo_min_accuracy, config.pseudo_min_oof_rows)
            train += task.with_labels([data.test[i] for i in chosen.rows], chosen.labels)
            extra = chosen.metrics()
        if distill:  # the pool rows' OOF, the test rows' fold-k slice: models that never saw fold k
            rows = transfer_rows(len(data.test), config.distill_test_fraction, config.seed)
            soft = SoftTargets(teacher.oof[train_idx], [data.test[i] for i in rows], teacher.per_fold[k][rows])
        summary = fit(task, cfg, fold_dir, train, held, data, soft_targets=soft)
        fcfg, model = load_run(task, fold_dir)  # the fold's best epoch
        accelerator = Accelerator(mixed_precision=fcfg.mixed_precision)
        adjust = posthoc_arguments(fold_dir, getattr(cfg, "posthoc_tau", 0.0))
        return FoldResult(oof=probabilities(task, fcfg, model, held, accelerator, **adjust),
                          test=probabilities(task, fcfg, model, data.test, accelerator, **adjust),
                          metrics={"best_epoch": summary["best_epoch"], "train_seconds": summary["train_seconds"],
                                   **extra})

    def score(rows: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        return task.score([pool[i] for i in rows], predictions)[0]

    result = run_cv(run_dir, task.ids(pool), labels, task.strata(pool), train_fold, score, config,
                    groups=groups, test_ids=task.ids(data.test), metric_name=task.metric_name,
                    test_digest=task.examples_digest(data.test), pool_digest=pool_digest)
    out = {"run_dir": str(run_dir), "folds_done": result["folds_done"], "complete": result["complete"],
           "missing": data.missing, "wall_seconds": round(time.time() - start, 1), "folds": result["folds"]}
    cut = folds_cut_by_budget(run_dir, result["folds_done"])
    if cut:  # a fold's predictions mark it done: the run does not go on training it
        out["folds_cut_by_budget"] = cut
        logger.warning("folds %s stopped at --max-train-minutes and count as done (their predictions are of the cut "
                       "model); for more training, start another --run-name with a larger budget or 0", cut)
    if result["complete"]:
        fixed = teacher.thresholds(task, pool) if distill and config.distill_thresholds == "teacher" else None
        metrics, state = task.score(pool, result["oof"], fixed)
        # named by the OOF score as the submission decides: with the teacher's thresholds, that score, not the
        # student's own-tuned one (predict --run names it alike)
        name = submission_name(task, config, "", f"cv{metrics[task.metric_name]:.4f}", None)
        out.update(cv=result["cv"], thresholds=state)
        if fixed is not None:  # the student's OOF as its submission decides (the teacher's thresholds)
            out["cv_teacher_thresholds"] = metrics
        if process_state().is_main_process:
            if fixed is not None:  # every later predict decides so too (it re-tuned them on the OOF)
                write_json_atomic(run_dir / TEACHER_THRESHOLDS_FILE, fixed)
            summary = json.loads((run_dir / "cv_metrics.json").read_text(encoding="utf-8"))
            # how the submission decides (a fold's export reports it: the fold folders hold none)
            write_json_atomic(run_dir / "cv_metrics.json", {**summary, "thresholds": state, **(
                {"cv_teacher_thresholds": metrics} if fixed is not None else {})})
            out.update(task.write_submission(config, data.test, result["test"], state, name))
    if process_state().is_main_process:
        print_result(out)
    return out


def folds_cut_by_budget(run_dir: Path, folds: list[int]) -> list[int]:
    """The finished folds whose training ``--max-train-minutes`` stopped (``stopped_by_budget`` in their
    ``metrics.json``)."""
    cut = []
    for k in folds:
        try:
            if json.loads((run_dir / f"fold{k}" / "metrics.json").read_text(encoding="utf-8")).get("stopped_by_budget"):
                cut.append(k)
        except (OSError, ValueError, AttributeError):
            continue
    return cut


def pool_groups(task, pool: list, config: CVConfig) -> np.ndarray | None:
    """(N,) text-group ids of the pool's rows (:func:`common.cv.text_groups`: pairs sharing a text, transitively,
    share an id), or None when ``config.group_by_text`` is off or the task gives no text pairs."""
    pairs = task.text_pairs(pool) if config.group_by_text else None
    return text_groups(pairs) if pairs is not None else None


def draw_folds(task, pool: list, config: CVConfig, groups: np.ndarray | None = None) -> np.ndarray:
    """(N,) the fold of each pool row as a new k-fold run with ``config`` draws it (:func:`common.cv.make_folds`:
    stratified by ``Task.strata``, grouped by ``groups``, default :func:`pool_groups`). Deterministic; writes nothing."""
    groups = pool_groups(task, pool, config) if groups is None else groups
    return make_folds(task.strata(pool), config.folds, config.fold_seed, groups)


def round_one(task, path: str, config, run_dir: Path, pool: list, test: list, groups: np.ndarray | None,
              pool_digest: str | None = None) -> Teacher:
    """The teacher at ``path`` (``--pseudo-from`` / ``--distill-from``), checked against this run's pool, folds and test set.
    ``pool_digest``: the pool's :meth:`common.task.Task.examples_digest` (computed when None).

    This run's folds are its saved ``folds.json`` (a rerun) or those :func:`common.cv.make_folds`
    will make; nothing is written here.

    Raises:
        ValueError: other ids, folds, labelled rows or test ids than the teacher's (one line).
        FileNotFoundError: not a finished k-fold or ensemble run.
    """
    teacher = load_teacher(path, task.num_classes(config))
    ids = np.asarray(task.ids(pool), dtype=str)
    saved = run_dir / "folds.json"
    if saved.is_file():
        fold = np.asarray(json.loads(saved.read_text(encoding="utf-8"))["fold"])
    else:
        fold = draw_folds(task, pool, config, groups)
    teacher.check_pool(ids, fold if len(fold) == len(ids) else None, str(run_dir), task.labels(pool))
    digest = task.examples_digest(pool) if pool_digest is None else pool_digest
    check_pool_digest(path, digest, config.data_dir)  # same ids and labels, other texts
    teacher.check_test(task.ids(test), task.examples_digest(test))
    return teacher


if __name__ == "__main__":
    run_cli(main)
