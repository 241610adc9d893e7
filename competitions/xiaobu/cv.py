"""k-fold cross-validation of the Xiaobu matcher, with a fold-averaged submission.

    python -m competitions.xiaobu.cv --folds 5 --run-name cv5 [--model cache/xiaobu-pretrain] [--flag value ...]

Splits every labelled pair of ``--train-file`` into ``--folds`` folds stratified by
label and grouped by text (pairs sharing a sentence stay in one fold), trains one
model per fold with the shared trainer (the held-out fold picks the best epoch),
and scores the out-of-fold (OOF) probabilities with ROC AUC. The fold models'
probabilities on ``--test-file`` are averaged (ids asserted equal) into
``submissions/xiaobu/<run>-<test file>-cv<auc>.txt``, one probability per line,
validated and written atomically. Rerunning the same command resumes: finished
folds are skipped, an interrupted fold continues from its checkpoint. Ends with
one JSON line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.config import narrow_config, parse_config
from common.cv import CVConfig, FoldResult, fold_overrides, run_cv, text_groups
from common.io import print_result
from common.losses import posthoc_arguments
from common.run import resolve_run_dir, save_config
from common.submission import validate_probability_file, write_probability_submission
from competitions.xiaobu.config import XiaobuConfig
from competitions.xiaobu.data import count_lines, resolve
from competitions.xiaobu.metrics import pair_auc
from competitions.xiaobu.predict import load_run, probabilities
from competitions.xiaobu.train import fit, load_data


@dataclass
class XiaobuCVConfig(CVConfig, XiaobuConfig):
    """Xiaobu k-fold: the single-run options plus the fold options (common.cv.CVConfig)."""


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(XiaobuCVConfig, argv, description=__doc__)
    run_dir = resolve_run_dir(config, "xiaobu")
    save_config(config, run_dir)
    labelled, test = load_data(config)
    sequences = [s for p in labelled + test for s in (p.a, p.b)]
    labels = np.array([p.label for p in labelled])
    groups = text_groups([(tuple(p.a), tuple(p.b)) for p in labelled]) if config.group_by_text else None

    def train_fold(k: int, train_idx: np.ndarray, held_idx: np.ndarray, fold_dir: Path) -> FoldResult:
        cfg = narrow_config(config, XiaobuConfig, **fold_overrides(config, run_dir, k), valid_fraction=0.0)
        held = [labelled[i] for i in held_idx]
        summary, _ = fit(cfg, fold_dir, [labelled[i] for i in train_idx], held, test, sequences)
        fcfg, vocab, model = load_run(fold_dir)  # the fold's best epoch
        adjust = posthoc_arguments(fold_dir, cfg.posthoc_tau)
        return FoldResult(oof=probabilities(fcfg, vocab, model, held, **adjust),
                          test=probabilities(fcfg, vocab, model, test, **adjust),
                          metrics={"best_epoch": summary["best_epoch"], "train_seconds": summary["train_seconds"]})

    def score(rows: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
        return {"auc": pair_auc(labels[rows], predictions)}

    result = run_cv(run_dir, [f"train:{i}" for i in range(len(labelled))], labels, labels.tolist(), train_fold,
                    score, config, groups=groups, test_ids=[f"test:{i}" for i in range(len(test))],
                    metric_name="auc")
    out = {"run_dir": str(run_dir), "folds_done": result["folds_done"], "complete": result["complete"],
           "wall_seconds": round(time.time() - start, 1), "folds": result["folds"]}
    if result["complete"]:
        test_path = resolve(config.data_dir, config.test_file)
        expected = count_lines(test_path) if not config.limit else len(test)
        path = Path(config.submission_dir) / f"{config.run_name}-{test_path.stem}-cv{result['cv_score']:.4f}.txt"
        write_probability_submission(path, result["test"], expected)
        out.update(cv=result["cv"], submission=str(path), rows=validate_probability_file(path, expected))
    print_result(out)
    return out


if __name__ == "__main__":
    main()
