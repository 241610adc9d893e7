"""Held-out check of the Xiaobu recipe's distilled student: is its k-fold score honest?

    python -m bench.student_holdout [--source runs/xiaobu/cv5] [--holdout-fold 0]

A distilled student scored by k-fold CV on its teacher's folds is optimistic: a training
row of fold j carries a soft target from the teacher's fold-j models, which trained on
fold k's labels, so fold k's student has seen them second-hand (docs/cv-tuning.md). This
bench measures the whole recipe where nothing saw the scored rows' labels: one fold of
``--source`` (a finished Xiaobu k-fold run) is set aside with its labels hidden, written as
the test file; on the other rows it runs the recipe's steps with their default flags (a
(K-1)-fold neural run, ``tfidf`` and ``gbm`` on its folds, their ensemble, one distilled
student as in ``make xiaobu-recipe``, and one plainly trained model as the control) and
scores every model's predictions of the held-out rows by ROC AUC.

Writes ``runs/xiaobu/holdout-fold<k>/`` (derived data files, the runs) and
``bench/results/student_holdout_xiaobu.json``; prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from common.io import write_json_atomic, write_text_atomic
from competitions.xiaobu.config import XiaobuData

RESULTS = Path(__file__).resolve().parent / "results" / "student_holdout_xiaobu.json"
STUDENT = ["--distill-alpha", "1", "--distill-test-fraction", "0.25", "--epochs", "3"]  # the Makefile's xiaobu_STUDENT


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="runs/xiaobu/cv5", help="a finished Xiaobu k-fold run (its pool and folds)")
    parser.add_argument("--holdout-fold", type=int, default=0)
    parser.add_argument("--model", default="cache/xiaobu-pretrain")
    args = parser.parse_args(argv)
    from common.commands import cv, ensemble, train

    source = Path(args.source)
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    oof = np.load(source / "oof.npz")
    lines = (Path(config.get("data_dir", XiaobuData.data_dir)) / config.get("train_file", XiaobuData.train_file)).read_text(
        encoding="utf-8").splitlines()
    index = np.array([int(i.split(":")[1]) for i in oof["ids"]])  # "train:<line>"
    held = np.sort(index[oof["fold"] == args.holdout_fold])
    kept = np.sort(index[oof["fold"] != args.holdout_fold])
    root = source.parent / f"holdout-fold{args.holdout_fold}"
    data = root / "data"
    write_text_atomic(data / "train.tsv", "".join(lines[i] + "\n" for i in kept))
    write_text_atomic(data / "test.tsv", "".join("\t".join(lines[i].split("\t")[:2]) + "\n" for i in held))
    labels = np.array([int(lines[i].split("\t")[2]) for i in held])
    folds = len(np.unique(oof["fold"])) - 1
    common = ["--task", "xiaobu", "--data-dir", str(data), "--train-file", "train.tsv", "--test-file", "test.tsv",
              "--model", args.model, "--submission-dir", str(root / "submissions")]
    start, seconds = time.time(), {}

    def timed(name, fn, argv):
        t = time.time()
        fn(argv)
        seconds[name] = round(time.time() - t, 1)

    timed("neural k-fold", cv.main, common + ["--folds", str(folds), "--run-dir", str(root / "cv")])
    timed("ensemble (tfidf, gbm fitted)", ensemble.main,
          ["--task", "xiaobu", "--data-dir", str(data), "--runs", str(root / "cv"), "tfidf", "gbm",
           "--run-dir", str(root / "ensemble")])
    timed("student", train.main, common + ["--run-dir", str(root / "student"), "--distill-from", str(root / "ensemble"),
                                            *STUDENT])
    timed("plain model", train.main, common + ["--run-dir", str(root / "plain")])

    def test_of(run: str, row: int | None = None) -> np.ndarray:
        arrays = np.load(root / run / "test_predictions.npz")
        return arrays["test"] if row is None else arrays["per_fold"][row]

    def single(run: str) -> np.ndarray:
        return np.load(root / run / "probabilities.npz")["test_probs"]

    rows = [("neural, fold-model mean", test_of("cv")), ("neural, one fold model", test_of("cv", 0)),
            ("tfidf", test_of("cv-tfidf")), ("gbm", test_of("cv-gbm")), ("ensemble", test_of("ensemble")),
            ("student (one model)", single("student")), ("plain model (one, same budget as a fold)", single("plain"))]
    kfold = {"neural": json.loads((root / "cv" / "cv_metrics.json").read_text())["cv"]["auc"],
             "ensemble": json.loads((root / "ensemble" / "ensemble.json").read_text())["oof"]["auc"]}
    table = [{"model": name, "holdout_auc": round(float(roc_auc_score(labels, p)), 4)} for name, p in rows]
    print(f"{'model':<44} {'held-out AUC':>12}")
    for row in table:
        print(f"{row['model']:<44} {row['holdout_auc']:>12}")
    result = {"source": str(source), "holdout_fold": args.holdout_fold, "holdout_rows": len(held),
              "holdout_positives": int(labels.sum()), "training_rows": len(kept), "inner_folds": folds,
              "student_flags": STUDENT, "rows": table, "inner_oof_auc": kfold, "seconds": seconds,
              "wall_seconds": round(time.time() - start, 1), "load_average": os.getloadavg()}
    write_json_atomic(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
