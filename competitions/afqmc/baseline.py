"""Classical reference: char n-gram TF-IDF pair features + logistic regression.

    python -m competitions.afqmc.baseline [--data-dir DIR] [--ngram-max 3] [--folds-from runs/afqmc/cv5]

Features of a pair (scikit-learn): ``[tfidf(a) + tfidf(b), |tfidf(a) - tfidf(b)|,
tfidf(a) * tfidf(b), cosine, Jaccard of the character sets, relative length
difference]`` over character 1..n-grams (rows L2-normalised, IDF fitted on the
training text). Fitted on train, scored on dev with the task's metric (accuracy at
P >= 0.5, and AUC); writes ``runs/afqmc/tfidf-baseline/probabilities.npz`` (for
``make afqmc-blend``) and the CLUE submission. With ``--folds-from`` a k-fold run's
``folds.json``, it also scores out-of-fold on exactly those folds (train + dev pool,
ids asserted equal), the reference for that run's CV score. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from common.commands.predict import save_probabilities
from common.cv import assert_same_ids
from common.io import print_result, write_json_atomic
from competitions.afqmc.config import AfqmcConfig
from competitions.afqmc.data import Pair
from competitions.afqmc.task import TASK, afqmc_scores


def pair_features(vectorizer: TfidfVectorizer, pairs: list[Pair]) -> sp.csr_matrix:
    """(N, 3V + 3) sparse features of the pairs."""
    a = vectorizer.transform([p.a for p in pairs])
    b = vectorizer.transform([p.b for p in pairs])
    cosine = np.asarray(a.multiply(b).sum(axis=1))  # (N, 1)
    jaccard = np.array([[len(set(p.a) & set(p.b)) / max(len(set(p.a) | set(p.b)), 1)] for p in pairs])
    length = np.array([[abs(len(p.a) - len(p.b)) / max(len(p.a), len(p.b))] for p in pairs])
    return sp.hstack([a + b, abs(a - b), a.multiply(b), sp.csr_matrix(np.hstack([cosine, jaccard, length]))]).tocsr()


def fit_predict(train: list[Pair], scored: list[list[Pair]], ngram_max: int, C: float) -> list[np.ndarray]:
    """Fit on ``train``; P(label 1) for each list in ``scored``."""
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, ngram_max), min_df=2, sublinear_tf=True)
    vectorizer.fit([t for p in train for t in (p.a, p.b)])
    model = LogisticRegression(C=C, max_iter=3000)
    model.fit(pair_features(vectorizer, train), [p.label for p in train])
    return [model.predict_proba(pair_features(vectorizer, pairs))[:, 1] for pairs in scored]


def oof_scores(pool: list[Pair], cv_run: Path, ngram_max: int, C: float) -> dict:
    """The metric of out-of-fold predictions on the folds a k-fold run saved.

    Raises:
        FileNotFoundError: no ``folds.json`` in ``cv_run``.
        ValueError: the saved folds are for other pairs (ids or order differ).
    """
    saved = json.loads((cv_run / "folds.json").read_text(encoding="utf-8"))
    assert_same_ids(np.asarray(saved["ids"]), np.asarray(TASK.ids(pool)), f"{cv_run / 'folds.json'}")
    fold, labels, oof = np.asarray(saved["fold"]), TASK.labels(pool), np.zeros(len(pool))
    per_fold = {}
    for k in range(saved["folds"]):
        held = np.flatnonzero(fold == k)
        train = [pool[i] for i in np.flatnonzero(fold != k)]
        oof[held] = fit_predict(train, [[pool[i] for i in held]], ngram_max, C)[0]
        per_fold[k] = afqmc_scores(labels[held], oof[held])
    return {**afqmc_scores(labels, oof), "folds": per_fold, "pairs": len(pool)}


def main(argv: list[str] | None = None) -> dict:
    defaults = AfqmcConfig()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=defaults.data_dir)
    parser.add_argument("--submission-dir", default=defaults.submission_dir)
    parser.add_argument("--run-dir", default="runs/afqmc/tfidf-baseline", help="metrics and probabilities go here")
    parser.add_argument("--limit", type=int, default=0, help="> 0: the first N pairs of train and of dev")
    parser.add_argument("--ngram-max", type=int, default=3)
    parser.add_argument("--C", type=float, default=4.0, help="inverse L2 strength of the regression")
    parser.add_argument("--folds-from", default="", help="a k-fold run folder: also score out-of-fold on its folds")
    args = parser.parse_args(argv)
    start = time.time()
    config = AfqmcConfig(data_dir=args.data_dir, submission_dir=args.submission_dir, limit=args.limit)
    data = TASK.load_data(config)
    valid_probs, test_probs = fit_predict(data.train, [data.valid, data.test], args.ngram_max, args.C)
    metrics, state = TASK.score(data.valid, valid_probs)
    run_dir = Path(args.run_dir)
    save_probabilities(run_dir / "probabilities.npz", TASK, data.valid, valid_probs, data.test, test_probs)
    result: dict = {"valid": metrics}
    if args.folds_from:
        result["oof"] = oof_scores(TASK.cv_pool(config, data), Path(args.folds_from), args.ngram_max, args.C)
    write_json_atomic(run_dir / "metrics.json", {**result, "args": vars(args)})
    written = TASK.write_submission(config, data.test, test_probs, state,
                                    f"tfidf-baseline-accuracy{metrics['accuracy']:.4f}")
    result.update(written, run_dir=str(run_dir), train_pairs=len(data.train),
                  wall_seconds=round(time.time() - start, 1))
    print_result(result)
    return result


if __name__ == "__main__":
    main()
