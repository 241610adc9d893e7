"""k-fold cross-validation of any task, with a fold-averaged submission.

    python -m common.commands.cv --task sohu --folds 5 --run-name cv5 [--config ...] [--flag value ...]

The task's labelled pool (``Task.cv_pool``: Sohu train + valid, Xiaobu its train
file) is split by :func:`common.cv.make_folds`, stratified by ``Task.strata`` and
grouped by text when the task gives ``text_pairs``. One shared-trainer run per fold
(its held-out fold picks the epoch); OOF probabilities give the CV score (the task's
metric, thresholds tuned on them); the fold models' test probabilities are averaged
(ids asserted equal) into ``<submission_dir>/<run>[-<test>]-cv<score>``. Rerunning
resumes: finished folds are skipped, an interrupted fold continues from its checkpoint.
Ends with one JSON line.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from accelerate import Accelerator

from common.commands.args import compound_config, run_cli, split_task
from common.commands.predict import load_run, probabilities, submission_name
from common.commands.train import fit
from common.config import narrow_config, parse_config
from common.cv import CVConfig, FoldResult, fold_overrides, run_cv, text_groups
from common.io import print_result
from common.losses import posthoc_arguments
from common.run import process_state, resolve_run_dir, save_config


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    task, rest = split_task(argv, __doc__)
    config = parse_config(compound_config(f"{task.name}CV", CVConfig, task.config_class), rest, description=__doc__)
    data = task.load_data(config)  # bad data fails before any run folder exists
    run_dir = resolve_run_dir(config, task.name)
    if process_state().is_main_process:
        save_config(config, run_dir)
    pool = task.cv_pool(config, data)
    labels = task.labels(pool)
    pairs = task.text_pairs(pool) if config.group_by_text else None
    groups = text_groups(pairs) if pairs is not None else None

    def train_fold(k: int, train_idx: np.ndarray, held_idx: np.ndarray, fold_dir: Path) -> FoldResult:
        cfg = narrow_config(config, task.config_class, **fold_overrides(config, run_dir, k), **task.fold_overrides)
        held = [pool[i] for i in held_idx]
        summary = fit(task, cfg, fold_dir, [pool[i] for i in train_idx], held, data)
        fcfg, model = load_run(task, fold_dir)  # the fold's best epoch
        accelerator = Accelerator(mixed_precision=fcfg.mixed_precision)
        adjust = posthoc_arguments(fold_dir, cfg.posthoc_tau)
        return FoldResult(oof=probabilities(task, fcfg, model, held, accelerator, **adjust),
                          test=probabilities(task, fcfg, model, data.test, accelerator, **adjust),
                          metrics={"best_epoch": summary["best_epoch"], "train_seconds": summary["train_seconds"]})

    def score(rows: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        return task.score([pool[i] for i in rows], predictions)[0]

    result = run_cv(run_dir, task.ids(pool), labels, task.strata(pool), train_fold, score, config,
                    groups=groups, test_ids=task.ids(data.test), metric_name=task.metric_name)
    out = {"run_dir": str(run_dir), "folds_done": result["folds_done"], "complete": result["complete"],
           "missing": data.missing, "wall_seconds": round(time.time() - start, 1), "folds": result["folds"]}
    if result["complete"]:
        _, state = task.score(pool, result["oof"])
        name = submission_name(task, config, "", f"cv{result['cv_score']:.4f}", None)
        out.update(cv=result["cv"], thresholds=state)
        if process_state().is_main_process:
            out.update(task.write_submission(config, data.test, result["test"], state, name))
    if process_state().is_main_process:
        print_result(out)
    return out


if __name__ == "__main__":
    run_cli(main)
