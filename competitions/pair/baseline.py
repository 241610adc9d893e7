"""Classical reference of a pair contest given by flags: char n-gram TF-IDF pair features + logistic regression.

    python -m competitions.pair.baseline --config my_contest.toml [--ngram-max 3] [--C 4] [--folds-from runs/pair/cv5]
    make pair-baseline PAIR=my_contest.toml

The task's flags (files, columns, ``--metric``) as for ``common.commands.train --task pair``;
:mod:`common.tfidf_reference`'s features with IDF fitted on the training text, one regression
fitted on train and scored on the validation rows (``--dev-file``, or ``--valid-fraction`` of
train) with the task's metric, the threshold tuned there. Writes ``--run-dir``'s (default
``runs/pair/tfidf-<contest file name>``)
``probabilities.npz`` (for ``make pair-blend``), ``thresholds.json``, ``metrics.json`` (with the
options) and ``config.json`` (the task's), and the submission. With
``--folds-from`` a k-fold run, it also scores out-of-fold on that run's saved folds (ids asserted
equal), the run's reference. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from common.config import parse_config
from common.io import print_result
from common.tfidf_reference import PairFeatures, finish_reference, fit_predict, out_of_fold
from competitions.pair.config import PairFilesConfig
from competitions.pair.data import Pair
from competitions.pair.task import TASK


def predict(train: list[Pair], scored: list[list[Pair]], ngram_max: int, C: float) -> list[np.ndarray]:
    """Fit on ``train`` (IDF on its text only); (len(s),) P(label 1) for each list ``s`` of ``scored``.

    The regression fits ``TASK.targets(train)``: the 0/1 labels, or graded labels (``--label-range``) mapped
    to [0, 1] as soft targets, whose prediction is then the predicted target.
    """
    features = PairFeatures("char", ngram_max).fit([t for p in train for t in (p.a, p.b)])
    return fit_predict(features, TASK.texts(train), TASK.targets(train), [TASK.texts(s) for s in scored], C)


def default_run_dir(argv: list[str]) -> str:
    """``runs/pair/tfidf-<stem>`` of the first ``--config`` file in ``argv`` (the contest's, as ``make pair-baseline
    PAIR=...`` passes it first), else ``runs/pair/tfidf-baseline``: one reference folder per contest."""
    configs = argparse.ArgumentParser(add_help=False)
    configs.add_argument("--config", action="append", default=[])  # read as common.config.parse_config reads it
    given = configs.parse_known_args(argv)[0].config
    return f"runs/pair/tfidf-{Path(given[0]).stem}" if given else "runs/pair/tfidf-baseline"


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    parser = argparse.ArgumentParser(description=__doc__, add_help=False)
    parser.add_argument("--run-dir", default="", help="metrics and probabilities go here (default: "
                        "runs/pair/<--run-name>, else runs/pair/tfidf-<contest file name> with --config, else "
                        "runs/pair/tfidf-baseline)")
    parser.add_argument("--ngram-max", type=int, default=3)
    parser.add_argument("--C", type=float, default=4.0, help="inverse L2 strength of the regression")
    parser.add_argument("--folds-from", default="", help="a k-fold run folder: also score out-of-fold on its folds")
    args, rest = parser.parse_known_args(argv)
    config = parse_config(PairFilesConfig, rest, description=__doc__)
    args.run_dir = args.run_dir or (f"runs/pair/{config.run_name}" if config.run_name else default_run_dir(rest))
    data = TASK.load_data(config)
    if not data.valid:
        raise ValueError("no validation rows: give --dev-file or a --valid-fraction above 0")
    valid_probs, test_probs = predict(data.train, [data.valid, data.test], args.ngram_max, args.C)
    oof = None
    if args.folds_from:
        pool = TASK.cv_pool(config, data)
        probs, fold, k = out_of_fold(args.folds_from, TASK.ids(pool), lambda tr, held: predict(
            [pool[i] for i in tr], [[pool[i] for i in held]], args.ngram_max, args.C)[0])
        oof = {**TASK.score(pool, probs)[0], "pairs": len(pool),
               "folds": {f: TASK.score([pool[i] for i in np.flatnonzero(fold == f)], probs[fold == f])[0]
                         for f in range(k)}}
    result = finish_reference(TASK, config, data, valid_probs, test_probs, args.run_dir, vars(args), oof)
    result["wall_seconds"] = round(time.time() - start, 1)
    print_result(result)
    return result


if __name__ == "__main__":
    from common.commands.args import run_cli

    run_cli(main)
