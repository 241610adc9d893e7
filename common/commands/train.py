"""Train any task, then predict its validation and test sets and write the submission.

    python -m common.commands.train --task sohu [--config FILE.toml] [--flag value ...]
    accelerate launch [--multi_gpu --num_processes N] -m common.commands.train --task sohu ...

Trains with the shared trainer (the validation metric picks the best epoch), then
runs :func:`common.commands.predict.predict_run` on the best weights. With a
``blend_with`` option (Sohu's TF-IDF reference), also writes the blend's submission.
``--distill-from RUN`` (a finished k-fold or ensemble run) trains a student on the
teacher's soft targets as well (:mod:`common.distillation`): its OOF probability of each
training row and its fold-mean probability of each test row; with ``--distill-thresholds
teacher`` the student decides with the teacher's thresholds, saved in the run
(``teacher_thresholds.json``) for every later prediction; ``--init-from RUN`` starts it from
a trained single run's weights (one trained on the same training rows: it must not have
seen the validation rows' labels, which choose the student's epoch). Ends by printing one JSON line
(main process only).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from accelerate.utils import set_seed

from common.commands.args import compound_config, run_cli, split_task
from common.config import narrow_config, parse_config
from common.encoder import warn_other_pretraining_data
from common.checkpoint import load_model_weights
from common.cv import check_pool_digest, saved_digest
from common.distillation import (TEACHER_THRESHOLDS_FILE, DistillConfig, SoftTargets, check_init_split,
                                 check_options, init_weights_file, transfer_rows)
from common.io import check_output_dir, print_result, write_json_atomic
from common.run import check_resume_config, process_state, resolve_run_dir, save_config, training_lock
from common.task import Splits, Task
from common.teacher import Teacher, load_teacher
from common.training.callbacks import Callback
from common.training.trainer import Trainer, build_callbacks, check_gradient_checkpointing

logger = logging.getLogger("common.train")


def fit(task: Task, config: Any, run_dir: Path, train: list, valid: list, data: Splits,
        callbacks: Sequence[Callback] = (), soft_targets: SoftTargets | None = None) -> dict:
    """Train one model on ``train``, choosing the epoch on ``valid`` (if any); returns the trainer summary.

    Writes into ``run_dir`` everything :func:`common.commands.predict.load_run` needs:
    config.json, the task's files (``Model.save``) and model.pt (best epoch). The
    weights are initialised from ``config.seed``. ``data``: every example known
    (vocabulary building, unlabelled text for tasks that train on it). ``soft_targets``:
    a teacher's probabilities of ``train`` and of unlabelled rows trained on them too
    (a task with ``soft_targets``; the loss weights come from ``config``'s
    :class:`common.distillation.DistillConfig` fields, and its ``init_from``, a run folder or
    ``model.pt``, gives the starting weights). The task's :meth:`~common.task.Task.implied_rows` of
    ``train`` are trained on too (with their label as soft target when distilling). The run folder's training
    lock is held throughout (:func:`common.run.training_lock`: another live process training there is refused
    before anything is written).
    """
    with training_lock(run_dir):
        return _fit(task, config, run_dir, train, valid, data, callbacks, soft_targets)


def _fit(task: Task, config: Any, run_dir: Path, train: list, valid: list, data: Splits,
         callbacks: Sequence[Callback], soft_targets: SoftTargets | None) -> dict:
    check_resume_config(config, run_dir)
    implied = task.implied_rows(config, train, data)
    if implied:  # derived from train's labels: trained on like them, never scored
        logger.info("%d training rows implied by the labels of %d", len(implied), len(train))
        if soft_targets is not None:  # their soft target is their label
            soft_targets = SoftTargets(np.concatenate([soft_targets.probs, task.labels(implied)]),
                                       soft_targets.extra, soft_targets.extra_probs)
        train = train + implied
    set_seed(config.seed)
    model = task.build(config, run_dir, train, data)
    if getattr(config, "gradient_checkpointing", False):  # before the run's files are written
        check_gradient_checkpointing(model.module)
    if getattr(config, "init_from", ""):  # a resumed run's checkpoint replaces these weights
        path = init_weights_file(config.init_from)
        try:
            load_model_weights(model.module, path)
        except RuntimeError as err:  # other heads or encoder sizes (a size mismatch is torch's RuntimeError too)
            reason = " ".join(line.strip() for line in str(err).splitlines() if line.strip())[:800]
            raise ValueError(f"--init-from {config.init_from}: its weights are not this model's ({reason}); give the "
                             "student that run's --model and head options") from None
        model.origin = f"{model.origin}, then {path}" if model.origin else str(path)
    if process_state().is_main_process:
        save_config(config, run_dir)
        model.save(run_dir)
    if soft_targets is None:
        train_ds = task.dataset(config, model, train, training=True, unlabelled=data.test)
    else:
        if len(soft_targets.probs) != len(train):
            raise ValueError(f"{len(soft_targets.probs)} soft targets for {len(train)} training rows")
        train_ds = task.dataset(config, model, train + soft_targets.extra, training=True, unlabelled=data.test,
                                soft_labels=soft_targets.all_probs())
    # With swap TTA each epoch is scored, as the run's predictions are, on the mean of both text orders: the
    # validation set in one order, then swapped (the task's swapped examples), halves averaged
    swapped = task.tta_swapped(config, valid) if valid else None
    valid_ds = task.dataset(config, model, valid + (swapped or []), training=False) if valid else None

    def compute_metrics(outputs: dict, dataset) -> dict[str, float]:
        probs = outputs["prob"]
        if swapped is not None:
            if len(probs) != 2 * len(valid):
                raise RuntimeError(f"{len(probs)} validation predictions for {len(valid)} rows in both orders")
            probs = (probs[:len(valid)] + probs[len(valid):]) / 2
        return task.score(valid, probs)[0]

    trainer = Trainer(model.module, config, run_dir, train_ds, valid_ds,
                      collate_fn=task.collate_fn(config, model, training=True),
                      eval_collate_fn=task.collate_fn(config, model, training=False),
                      compute_metrics=compute_metrics if valid else None,
                      metric_name=task.metric_name if valid else "loss",
                      greater_is_better=task.greater_is_better if valid else False,
                      callbacks=[*build_callbacks(config), *callbacks],
                      predict_step=task.predict_step(config, model),
                      lengths=getattr(train_ds, "lengths", None), loss_fn=model.loss_fn)
    summary = trainer.train()
    summary["origin"] = model.origin
    return summary


def main(argv: list[str] | None = None) -> dict:
    from common.commands.blend import blend_runs
    from common.commands.predict import predict_run

    start = time.time()
    task, rest = split_task(argv, __doc__)
    config = parse_config(compound_config(f"{task.name}Train", DistillConfig, task.config_class), rest,
                          description=__doc__)
    check_options(config)
    if getattr(config, "submission_dir", "") and process_state().is_main_process:  # written after training
        check_output_dir(config.submission_dir, "--submission-dir")
    if config.init_from:
        init_weights_file(config.init_from)  # missing weights fail before any run folder exists
    data = task.load_data(config)  # bad data fails before any run folder exists
    task.check_submission_inputs(config, data)  # and so does a submission that could not be written
    if process_state().is_main_process:  # a cache built on other data is reused as it is
        warn_other_pretraining_data(getattr(config, "model", ""), getattr(config, "data_dir", ""),
                                    task.text_pairs([*data.train, *data.valid, *data.test]))
    soft = teacher = None
    if config.init_from:  # its weights must not have trained on this run's validation rows
        check_init_split(config.init_from, np.asarray(task.ids(data.valid), dtype=str),
                         task.examples_digest(data.valid))
    if config.distill_from:
        soft, teacher = student_targets(task, config, data)
    else:  # config.json as before: the task's options only
        config = narrow_config(config, task.config_class)
    run_dir = resolve_run_dir(config, task.name)
    try:
        blend_with = blend_partner(task, config, data)  # checked before training: a mismatch is known at once
        summary = fit(task, config, run_dir, data.train, data.valid, data, soft_targets=soft)
    except (ValueError, OSError):  # e.g. a --model that cannot be built: no empty run folder left behind
        if process_state().is_main_process and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise
    if teacher is not None and config.distill_thresholds == "teacher":  # read by predict_run, now and later
        if process_state().is_main_process:
            write_json_atomic(run_dir / TEACHER_THRESHOLDS_FILE, teacher.thresholds(task, task.cv_pool(config, data)))
        process_state().wait_for_everyone()
    result = predict_run(task, run_dir, refresh=True)
    if blend_with:
        result["neural_submission"] = result["submission"]
        result["blend"] = blend_runs(task, [str(run_dir), blend_with])
        result["submission"] = result["blend"]["submission"]
    result.update({"run_dir": str(run_dir), "start": summary["origin"], "best_epoch": summary["best_epoch"],
                   "train_examples": len(data.train), "valid_examples": len(data.valid),
                   "train_seconds": round(summary["train_seconds"], 1),
                   "wall_seconds": round(time.time() - start, 1), "missing": data.missing,
                   "metrics_file": str(run_dir / "metrics.json")})
    if soft is not None:  # a student also trains on these test rows, with the teacher's probabilities as targets
        result["transfer_examples"] = len(soft.extra)
        result.update(teacher_reference(task, teacher, data.valid, result.get("valid") or {}))
    if process_state().is_main_process:
        print_result(result)
    return result


def teacher_reference(task: Task, teacher: Teacher, valid: list, student: dict) -> dict:
    """``{"teacher_oof_valid": score}``: the teacher's out-of-fold score of a student's validation rows, where its
    pool holds them all (AFQMC's, Sohu's and the recipes' do), with a warning: those rows trained the teacher's other
    fold models, whose test-row targets the student learnt, so its own validation score is optimistic (probe Y: a
    tiny student's AUC 0.763 beside the teacher's 0.58 on the same rows) and the teacher's is the fair neighbour.
    {} otherwise."""
    ids = np.asarray(task.ids(valid), dtype=str)
    known = set(teacher.ids.tolist())
    if not len(ids) or not all(i in known for i in ids.tolist()):
        return {}
    score = float(task.score(valid, teacher.oof_of(ids))[0][task.metric_name])
    if process_state().is_main_process:
        own = student.get(task.metric_name)
        logger.warning("the student's validation rows are in its teacher's pool, so its validation %s%s is "
                       "optimistic; the teacher's out-of-fold %s of them is %.4f (a held-out comparison: "
                       "python -m bench.student_holdout, docs/cv-tuning.md)", task.metric_name,
                       f" ({own:.4f})" if isinstance(own, (int, float)) else "", task.metric_name, score)
    return {"teacher_oof_valid": score}


def blend_partner(task: Task, config: Any, data: Splits) -> str:
    """The run the trained model is blended with (the ``blend_with`` option, Sohu's TF-IDF reference), or ""
    with a warning when it is missing or was made on other data (other validation or test ids): the default
    reference is one fixed folder, and blending it with a run of another data folder failed after training,
    with exit 2, though the run and its own submission were fine."""
    from common.commands.blend import repredicted_test

    blend_with = getattr(config, "blend_with", "")
    path = Path(blend_with) / "probabilities.npz" if blend_with else None
    if path is None:
        return ""
    if not path.is_file():
        logger.warning("no %s: not blending (run `make %s-baseline`)", path, task.name)
        return ""
    with np.load(path) as saved:
        same = (saved["valid_keys"].astype(str).tolist() == [str(i) for i in task.ids(data.valid)]
                and saved["test_ids"].astype(str).tolist() == [str(i) for i in task.ids(data.test)])
        stale = saved_digest(saved) not in (None, task.examples_digest(data.test))
    if same and stale and repredicted_test(task, config, blend_with, data.test) is None:  # blend would refuse it
        logger.warning("%s predicted another test set than %s holds now (the same ids, other content): not blending "
                       "(rerun the reference: make %s-baseline)", blend_with, task.test_path(config), task.name)
        return ""
    if not same:
        cut = " or --limit" if getattr(config, "limit", 0) else ""
        logger.warning("%s was made on other validation or test rows than this run's (%s%s): not blending (rerun "
                       "the reference with this run's data options, or give --blend-with '')", blend_with,
                       config.data_dir, cut)
        return ""
    return blend_with


def student_targets(task: Task, config: Any, data: Splits) -> tuple[SoftTargets, Teacher]:
    """The teacher ``config.distill_from``'s OOF probabilities of ``data.train`` and fold-mean ones of ``data.test``.

    Returns: (those soft targets, the teacher).

    Raises:
        ValueError: a task without soft-target training, training rows outside the teacher's pool
            or other test ids (the options are checked by :func:`common.distillation.check_options`).
        FileNotFoundError: not a finished k-fold or ensemble run.
    """
    if not task.soft_targets:
        raise ValueError(f"task {task.name} does not train on soft targets (--distill-from needs a PairTask task)")
    teacher = load_teacher(config.distill_from, task.num_classes(config))
    teacher.check_test(task.ids(data.test), task.examples_digest(data.test))
    pool = task.cv_pool(config, data)
    if getattr(config, "limit", 0) and not np.array_equal(np.asarray(task.ids(pool), dtype=str), teacher.ids):
        whole = dataclasses.replace(config, limit=0)  # --limit: the teacher read more rows (or another --limit)
        pool = task.cv_pool(whole, task.load_data(whole))
    position = {str(key): i for i, key in enumerate(task.ids(pool))}
    gone = [key for key in teacher.ids.tolist() if key not in position]

    def file_of(key: str) -> str:  # ids count rows within a file: "train:41", Sohu's "train:0:41"
        return key.rsplit(":", 1)[0]

    read = {file_of(key) for key in position}
    shortened = [key for key in gone if file_of(key) in read]
    if shortened:  # probe AA: a row deleted from a file skipped the check below, and later rows took others' targets
        raise ValueError(f"{teacher.run_dir}: its pool holds {len(shortened)} rows the data files no longer hold "
                         f"(e.g. {shortened[0]!r}): a file edited since the teacher ran (restore it, or run the "
                         "teacher again)")
    if not gone:  # the teacher's rows as the files hold them now, in its order: their texts and labels are checked
        # too (a student of a smaller --limit read an edited row unchecked); a student of fewer files (another dev
        # file, fewer Sohu subtasks) takes the soft targets of the rows it has
        check_pool_digest(teacher.run_dir, task.examples_digest([pool[position[key]] for key in teacher.ids]),
                          config.data_dir)
    rows = transfer_rows(len(data.test), config.distill_test_fraction, config.seed)
    return SoftTargets(teacher.oof_of(task.ids(data.train), task.labels(data.train)), [data.test[i] for i in rows],
                       teacher.test[rows]), teacher


if __name__ == "__main__":
    run_cli(main)
