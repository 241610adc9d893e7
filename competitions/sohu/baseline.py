"""Classical reference: char n-gram TF-IDF pair features + logistic regression (common.tfidf_reference).

    python -m competitions.sohu.baseline [--data-dir data/sohu2021] [--ngram-max 3]

One class-balanced regression per subtask on the pair features of one vectorizer
fitted on all train text; thresholds tuned per group on valid, scored like the neural
model (competitions.sohu.metrics). Writes probabilities.npz and a submission too and
ends with one JSON line.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common.commands.predict import save_probabilities
from common.io import print_result, write_json_atomic
from common.run import check_folder_kind
from common.tfidf_reference import PairFeatures, fit_predict, reference_parser
from common.submission import write_id_label_submission
from competitions.sohu.data import ROOT, SUBTASKS, load_split
from competitions.sohu.metrics import group_of, sohu_scores
from competitions.sohu.task import TASK


def main(argv: list[str] | None = None) -> dict:
    args = reference_parser(__doc__, "data/sohu2021", "submissions/sohu", 3, run_dir="runs/sohu/tfidf-baseline"
                            ).parse_args(argv)
    check_folder_kind(Path(args.run_dir), "baseline")  # another run's folder: refused before anything is fitted
    start = time.time()
    (train, missing), (valid, _), (test, _) = (load_split(args.data_dir, s) for s in ("train", "valid", "test_with_id"))
    features = PairFeatures("char", args.ngram_max).fit([t for e in train for t in (e.source, e.target)])
    valid_probs, test_probs = np.zeros(len(valid)), np.zeros(len(test))
    for subtask in SUBTASKS:
        tr = [e for e in train if e.subtask == subtask.index]
        if not tr:
            continue
        idx = [[i for i, e in enumerate(examples) if e.subtask == subtask.index] for examples in (valid, test)]
        scored = [TASK.texts([examples[i] for i in rows]) for examples, rows in zip((valid, test), idx)]
        probs = fit_predict(features, TASK.texts(tr), TASK.labels(tr), scored, args.C, 2000, "balanced")
        valid_probs[idx[0]], test_probs[idx[1]] = probs
    metrics, thresholds = sohu_scores(TASK.labels(valid), valid_probs, np.array([e.subtask for e in valid]))
    groups = group_of(np.array([e.subtask for e in test]))
    predictions = {e.id: int(p >= thresholds[g]) for e, p, g in zip(test, test_probs, groups)}
    run_dir = Path(args.run_dir)
    save_probabilities(run_dir / "probabilities.npz", TASK, valid, valid_probs, test, test_probs)
    write_json_atomic(run_dir / "metrics.json", {"valid": metrics, "thresholds": thresholds, "args": vars(args)})
    path = Path(args.submission_dir) / f"{run_dir.name}-score{metrics['score']:.4f}.csv"  # named as its run folder
    written = write_id_label_submission(path, predictions, Path(args.data_dir) / ROOT / "sample_submission.csv",
                                        fill_value=0)
    result = {"valid": metrics, "thresholds": thresholds, "submission": written["path"], "run_dir": str(run_dir),
              "missing_subtasks": missing, "wall_seconds": round(time.time() - start, 1)}
    print_result(result)
    return result


if __name__ == "__main__":
    from common.commands.args import run_cli

    run_cli(main)
