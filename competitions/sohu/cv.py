"""k-fold cross-validation of the Sohu matcher, with a fold-averaged submission.

    python -m competitions.sohu.cv --folds 5 --run-name cv5 [--config ...] [--flag value ...]

Pools the train and valid splits of the subtasks present, splits them into
``--folds`` folds stratified by subtask and label and grouped by text (pairs that
share a text stay in one fold), and trains one model per fold with the shared
trainer (the held-out fold picks the best epoch). The out-of-fold (OOF)
probabilities give the CV score, with the per-group thresholds tuned on them; the
fold models' test probabilities are averaged (ids asserted equal) and thresholded
into ``submissions/sohu/<run>-cv<score>.csv``. Rerunning the same command resumes:
finished folds are skipped, an interrupted fold continues from its checkpoint.
Ends with one JSON line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.config import narrow_config, parse_config
from common.cv import CVConfig, FoldResult, fold_overrides, run_cv, text_groups
from common.io import print_result
from common.losses import posthoc_arguments
from common.run import resolve_run_dir, save_config
from common.submission import validate_submission_file, write_id_label_submission
from competitions.sohu.config import SohuConfig
from competitions.sohu.data import ROOT, Example, PairDataset, limit_per_subtask, load_split
from competitions.sohu.metrics import group_of, sohu_scores
from competitions.sohu.predict import load_run, parse_subtasks, probabilities
from competitions.sohu.train import fit

logger = logging.getLogger("sohu.cv")


@dataclass
class SohuCVConfig(CVConfig, SohuConfig):
    """Sohu k-fold: the single-run options plus the fold options (common.cv.CVConfig)."""

    blend_with: str = ""  # the TF-IDF reference has no OOF predictions to blend with


def example_ids(split: str, examples: list[Example]) -> list[str]:
    """``<split>:<subtask>:<line index within that subtask's file>`` for every example."""
    seen: dict[int, int] = {}
    ids = []
    for e in examples:
        ids.append(f"{split}:{e.subtask}:{seen.get(e.subtask, 0)}")
        seen[e.subtask] = seen.get(e.subtask, 0) + 1
    return ids


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(SohuCVConfig, argv, description=__doc__)
    run_dir = resolve_run_dir(config, "sohu")
    save_config(config, run_dir)
    subtasks = parse_subtasks(config.subtasks)
    train, missing = load_split(config.data_dir, "train", subtasks)
    valid, _ = load_split(config.data_dir, "valid", subtasks)
    test, _ = load_split(config.data_dir, "test_with_id", subtasks)
    if config.limit:
        train, valid = limit_per_subtask(train, config.limit), limit_per_subtask(valid, config.limit)
    pool = train + valid
    ids = example_ids("train", train) + example_ids("valid", valid)
    labels = np.array([e.label for e in pool])
    tasks = np.array([e.subtask for e in pool])
    groups = text_groups([(e.source, e.target) for e in pool]) if config.group_by_text else None

    def train_fold(k: int, train_idx: np.ndarray, held_idx: np.ndarray, fold_dir: Path) -> FoldResult:
        cfg = narrow_config(config, SohuConfig, **fold_overrides(config, run_dir, k))
        summary = fit(cfg, fold_dir, [pool[i] for i in train_idx], [pool[i] for i in held_idx])
        fcfg, tokenizer, model = load_run(fold_dir)  # the fold's best epoch
        adjust = posthoc_arguments(fold_dir, cfg.posthoc_tau)
        pad = tokenizer.pad_token_id

        def probs(examples: list[Example]) -> np.ndarray:
            return probabilities(model, PairDataset(examples, tokenizer, cfg.max_length), cfg.eval_batch_size,
                                 pad, **adjust)

        return FoldResult(oof=probs([pool[i] for i in held_idx]), test=probs(test),
                          metrics={"best_epoch": summary["best_epoch"], "train_seconds": summary["train_seconds"]})

    def score(rows: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        return sohu_scores(labels[rows], predictions, tasks[rows])[0]

    result = run_cv(run_dir, ids, labels, [f"{t}:{y}" for t, y in zip(tasks, labels)], train_fold, score,
                    config, groups=groups, test_ids=[e.id for e in test], metric_name="score")
    out = {"run_dir": str(run_dir), "folds_done": result["folds_done"], "complete": result["complete"],
           "missing_subtasks": missing, "wall_seconds": round(time.time() - start, 1),
           "folds": result["folds"]}
    if result["complete"]:
        _, thresholds = sohu_scores(labels, result["oof"], tasks)
        groups_test = group_of(np.array([e.subtask for e in test]))
        predictions = {e.id: int(p >= thresholds.get(g, 0.5)) for e, p, g in zip(test, result["test"], groups_test)}
        sample = Path(config.data_dir) / ROOT / "sample_submission.csv"
        path = Path(config.submission_dir) / f"{config.run_name}-cv{result['cv_score']:.4f}.csv"
        written = write_id_label_submission(path, predictions, sample, fill_value=0)
        out.update(cv=result["cv"], thresholds=thresholds, submission=str(path),
                   rows=validate_submission_file(path, sample), filled_ids=len(written["filled"]))
    print_result(out)
    return out


if __name__ == "__main__":
    main()
