"""OOF scores of the non-neural ensemble members (``tfidf``, ``gbm``) on the folds a k-fold run would draw.

    python -m bench.feature_members --task xiaobu [--members tfidf gbm:statistics gbm:alignment] [--folds 5]

No neural run is needed: the folds are those ``common.commands.cv`` makes for the task's
pool with its defaults (:func:`common.commands.cv.draw_folds`: stratified by ``Task.strata``,
pairs that share a text in one fold, ``fold_seed`` 42), so the numbers line up with a later
``make <task>-recipe``. Each member (``tfidf``, ``tfidf-word``, ``gbm`` or
``gbm:<gbm_features>``) is fitted by :func:`common.ensemble.feature_member` and scored on
every fold and pooled; the others are compared with the first by a paired bootstrap
(:func:`bench.oof_compare.paired_bootstrap`). Writes
``bench/results/feature_members_<task>.json``; prints a table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.oof_compare import RESULTS, paired_bootstrap
from common.commands.cv import draw_folds
from common.cv import CVConfig
from common.ensemble import FeatureOptions, condition_groups, feature_member
from common.io import write_json_atomic
from common.task import get_task


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--data-dir", default=None, help="default: the task config's")
    parser.add_argument("--members", nargs="+", default=["tfidf", "gbm:statistics", "gbm:alignment"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1000, help="paired bootstrap resamples")
    args = parser.parse_args(argv)
    task = get_task(args.task)
    config = task.config_class()
    if args.data_dir:
        config.data_dir = args.data_dir
    data = task.load_data(config)
    pool = task.cv_pool(config, data)
    pairs, test_pairs = task.text_pairs(pool), task.text_pairs(data.test)
    if pairs is None:
        raise ValueError(f"task {task.name} gives no text pairs (Task.text_pairs) to fit the members on")
    fold = draw_folds(task, pool, CVConfig(folds=args.folds))
    groups, test_groups = condition_groups(task, pool, data.test)
    labels = np.asarray(task.labels(pool))
    metric = task.metric_name

    def score(rows: np.ndarray, probs: np.ndarray) -> float:
        return task.score([pool[r] for r in rows], probs[rows])[0][metric]

    start, rows, oofs = time.time(), {}, {}
    for name in args.members:
        spec, _, features = name.partition(":")
        options = FeatureOptions(**({"gbm_features": features} if features else {}))
        began = time.time()
        oofs[name] = feature_member(spec, pairs, labels, fold, test_pairs, groups, test_groups, options)[0]
        rows[name] = {"oof": score(np.arange(len(pool)), oofs[name]), "seconds": round(time.time() - began, 1),
                      "per_fold": {int(k): score(np.flatnonzero(fold == k), oofs[name]) for k in np.unique(fold)}}
    first = args.members[0]
    print(f"{task.name}: {metric} on {len(pool)} OOF rows, {args.folds} folds; against {first} "
          f"(95% paired bootstrap, {args.rounds} resamples)")
    for name in args.members:
        if name != first:
            rows[name]["vs_first"] = paired_bootstrap(score, oofs[first], oofs[name], args.rounds)
        gap = rows[name].get("vs_first")
        interval = f"{gap['diff']:+.4f} [{gap['low']:+.4f}, {gap['high']:+.4f}]" if gap else ""
        folds_text = " ".join(f"{v:.4f}" for v in rows[name]["per_fold"].values())
        print(f"{rows[name]['oof']:.4f}  folds {folds_text}  {interval}  {name}")
    result = {"task": task.name, "metric": metric, "rows": len(pool), "folds": args.folds,
              "fold_seed": CVConfig.fold_seed, "rounds": args.rounds, "members": rows,
              "seconds": round(time.time() - start, 1)}
    write_json_atomic(RESULTS / f"feature_members_{task.name}.json", result)
    return result


if __name__ == "__main__":
    main()
