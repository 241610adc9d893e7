"""Classical reference: char n-gram TF-IDF pair features + logistic regression (common.tfidf_reference).

    python -m competitions.afqmc.baseline [--data-dir DIR] [--limit N] [--ngram-max 3] [--folds-from runs/afqmc/cv5]

The pair features of character 1..n-grams with IDF fitted on the training text; one
regression fitted on train and scored on dev with the task's metric (accuracy at
P >= 0.5, and AUC). Writes ``runs/afqmc/tfidf-baseline/probabilities.npz`` (for
``make afqmc-blend``), ``metrics.json`` and the CLUE submission. With ``--folds-from`` a
k-fold run, it also scores out-of-fold on exactly that run's saved folds (train + dev
pool, ids asserted equal: use the run's ``--limit``), the reference for its CV score.
Ends with one JSON line.
"""

from __future__ import annotations

import time

import numpy as np

from common.io import print_result
from common.tfidf_reference import PairFeatures, finish_reference, fit_predict, out_of_fold, reference_parser
from competitions.afqmc.config import AfqmcConfig
from competitions.afqmc.data import Pair
from competitions.afqmc.task import TASK, afqmc_scores


def predict(train: list[Pair], scored: list[list[Pair]], ngram_max: int, C: float) -> list[np.ndarray]:
    """Fit on ``train`` (IDF on its text only); P(label 1) for each list in ``scored``."""
    features = PairFeatures("char", ngram_max).fit([t for p in train for t in (p.a, p.b)])
    return fit_predict(features, TASK.texts(train), TASK.labels(train), [TASK.texts(s) for s in scored], C)


def oof_scores(pool: list[Pair], cv_run: str, ngram_max: int, C: float) -> dict:
    """The task's metric of out-of-fold predictions on the folds a k-fold run saved: overall, per fold, pool size.

    Raises:
        FileNotFoundError, ValueError: as :func:`common.tfidf_reference.out_of_fold` (no
            ``folds.json``; folds of another pool).
    """
    labels = TASK.labels(pool)
    oof, fold, k = out_of_fold(cv_run, TASK.ids(pool), lambda tr, held: predict(
        [pool[i] for i in tr], [[pool[i] for i in held]], ngram_max, C)[0])
    per_fold = {f: afqmc_scores(labels[fold == f], oof[fold == f]) for f in range(k)}
    return {**afqmc_scores(labels, oof), "folds": per_fold, "pairs": len(pool)}


def main(argv: list[str] | None = None) -> dict:
    defaults = AfqmcConfig()
    parser = reference_parser(__doc__, defaults.data_dir, defaults.submission_dir, 3,
                              run_dir="runs/afqmc/tfidf-baseline", folds=True)
    parser.add_argument("--limit", type=int, default=0, help="> 0: the first N pairs of train and of dev")
    args = parser.parse_args(argv)
    start = time.time()
    config = AfqmcConfig(data_dir=args.data_dir, submission_dir=args.submission_dir, limit=args.limit)
    data = TASK.load_data(config)
    valid_probs, test_probs = predict(data.train, [data.valid, data.test], args.ngram_max, args.C)
    oof = oof_scores(TASK.cv_pool(config, data), args.folds_from, args.ngram_max, args.C) if args.folds_from else None
    result = finish_reference(TASK, config, data, valid_probs, test_probs, args.run_dir, vars(args), oof)
    result["wall_seconds"] = round(time.time() - start, 1)
    print_result(result)
    return result


if __name__ == "__main__":
    from common.commands.args import run_cli

    run_cli(main)
