"""Classical reference: char n-gram TF-IDF pair features + logistic regression.

    python -m competitions.sohu.baseline [--data-dir data/sohu2021] [--ngram-max 3]

One scikit-learn model per subtask on ``[tfidf(a) + tfidf(b), |tfidf(a) - tfidf(b)|,
tfidf(a) * tfidf(b), cosine, Jaccard of char sets, length difference]``;
thresholds tuned per group on valid, scored like the neural model
(competitions.sohu.metrics). Writes a submission too and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from common.commands.predict import save_probabilities
from common.io import print_result, write_json_atomic
from common.submission import write_id_label_submission
from competitions.sohu.data import ROOT, SUBTASKS, Example, load_split
from competitions.sohu.metrics import group_of, sohu_scores
from competitions.sohu.task import TASK


def pair_features(vectorizer: TfidfVectorizer, examples: list[Example]) -> sp.csr_matrix:
    """(N, 3V + 3) sparse features of the pairs (rows L2-normalised TF-IDF)."""
    a = vectorizer.transform([e.source for e in examples])
    b = vectorizer.transform([e.target for e in examples])
    cosine = np.asarray(a.multiply(b).sum(axis=1))  # (N, 1)
    jaccard = np.array([[len(set(e.source) & set(e.target)) / max(len(set(e.source) | set(e.target)), 1)]
                        for e in examples])
    length = np.array([[abs(len(e.source) - len(e.target)) / max(len(e.source), len(e.target))]
                       for e in examples])
    dense = sp.csr_matrix(np.hstack([cosine, jaccard, length]))
    return sp.hstack([a + b, abs(a - b), a.multiply(b), dense]).tocsr()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default="data/sohu2021")
    parser.add_argument("--submission-dir", default="submissions/sohu")
    parser.add_argument("--run-dir", default="runs/sohu/tfidf-baseline", help="metrics and probabilities go here")
    parser.add_argument("--ngram-max", type=int, default=3)
    parser.add_argument("--C", type=float, default=4.0, help="inverse L2 strength of the regression")
    args = parser.parse_args(argv)
    start = time.time()
    train, missing = load_split(args.data_dir, "train")
    valid, _ = load_split(args.data_dir, "valid")
    test, _ = load_split(args.data_dir, "test_with_id")
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, args.ngram_max), min_df=2, sublinear_tf=True)
    vectorizer.fit([t for e in train for t in (e.source, e.target)])
    valid_probs = np.zeros(len(valid))
    test_probs = np.zeros(len(test))
    for task in SUBTASKS:
        tr = [e for e in train if e.subtask == task.index]
        if not tr:
            continue
        model = LogisticRegression(C=args.C, max_iter=2000, class_weight="balanced")
        model.fit(pair_features(vectorizer, tr), [e.label for e in tr])
        for examples, probs in ((valid, valid_probs), (test, test_probs)):
            idx = [i for i, e in enumerate(examples) if e.subtask == task.index]
            if idx:
                probs[idx] = model.predict_proba(pair_features(vectorizer, [examples[i] for i in idx]))[:, 1]
    metrics, thresholds = sohu_scores(np.array([e.label for e in valid]), valid_probs,
                                      np.array([e.subtask for e in valid]))
    groups = group_of(np.array([e.subtask for e in test]))
    predictions = {e.id: int(p >= thresholds[g]) for e, p, g in zip(test, test_probs, groups)}
    run_dir = Path(args.run_dir)
    save_probabilities(run_dir / "probabilities.npz", TASK, valid, valid_probs, test, test_probs)
    write_json_atomic(run_dir / "metrics.json", {"valid": metrics, "thresholds": thresholds, "args": vars(args)})
    path = Path(args.submission_dir) / f"tfidf-baseline-score{metrics['score']:.4f}.csv"
    written = write_id_label_submission(path, predictions, Path(args.data_dir) / ROOT / "sample_submission.csv",
                                        fill_value=0)
    result = {"valid": metrics, "thresholds": thresholds, "submission": written["path"], "run_dir": str(run_dir),
              "missing_subtasks": missing, "wall_seconds": round(time.time() - start, 1)}
    print_result(result)
    return result


if __name__ == "__main__":
    from common.commands.args import run_cli

    run_cli(main)
