"""Is one k-fold run better than another, or is it fold noise? Per-fold and pooled OOF scores, paired bootstrap.

    python -m bench.oof_compare --task sohu --runs runs/sohu/cv5-quick-mlm8-stats runs/sohu/cv5-quick-mlm-tfidf

Every run folder holds an ``oof.npz`` on the same rows and folds (asserted, as the ensemble command does): k-fold runs,
ensemble runs, and the cached ``tfidf`` / ``gbm`` members an ensemble run leaves beside
its first run (``<run>-tfidf``). The data comes from the first folder with a
``config.json``. Each run is scored by the task's metric (``--metric``: another key of the task's
scores, e.g. AFQMC's ``auc`` beside its accuracy) on every fold's rows and on all
rows pooled (thresholds, where the metric has them, tuned on the rows scored, as the
k-fold command does; with ``--decisions cross-fit``, each fold decided by the thresholds tuned on
the other folds' OOF rows, and "pooled" the fold-size-weighted mean of the folds' scores: the
honest figure for a task whose decision is tuned, e.g. AFQMC's accuracy threshold), and compared
with the first run by a paired bootstrap over rows
(Efron and Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 16): the same
resampled rows score both runs, so the interval is that of the difference. Writes
``bench/results/oof_compare_<task>_<name>.json`` (``--name``, default the first run's folder name, so a
second comparison against the same reference needs its own ``--name`` to keep the first); prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bench import check_result_name
from common.commands.args import run_cli
from common.commands.ensemble import run_config
from common.cv import assert_same_ids
from common.ensemble import check_members, load_member
from common.io import write_json_atomic
from common.task import get_task

RESULTS = Path(__file__).resolve().parent / "results"


def paired_bootstrap(score: Callable[[np.ndarray, np.ndarray], float], reference: np.ndarray,
                     other: np.ndarray, rounds: int, seed: int = 0,
                     score_other: Callable[[np.ndarray, np.ndarray], float] | None = None) -> dict[str, float]:
    """The bootstrap distribution of ``score_other(rows, other) - score(rows, reference)``.

    Args:
        score: ``score(rows, probs)``, the metric of (N,) ``probs`` restricted to the
            (n,) row indices ``rows`` (with repeats).
        reference, other: (N,) predictions of the same N rows.
        rounds: resamples of N rows drawn with replacement (one generator seeded by ``seed``).
        score_other: how ``other`` is scored, when its decisions differ from the reference's (each run's
            own cross-fitted thresholds); default ``score``.

    Returns:
        ``{"diff": on all rows, "low": 2.5th percentile, "high": 97.5th percentile,
        "p_better": share of resamples where other scores above reference}``.

    Raises:
        ValueError: ``reference`` and ``other`` differ in length, or ``rounds < 1``.
    """
    if len(reference) != len(other):
        raise ValueError(f"paired bootstrap: {len(reference)} reference rows against {len(other)}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    score_other = score_other or score
    n = len(reference)
    everything = np.arange(n)
    rng = np.random.default_rng(seed)
    diffs = np.empty(rounds)
    for b in range(rounds):
        rows = rng.integers(0, n, n)
        diffs[b] = score_other(rows, other) - score(rows, reference)
    return {"diff": float(score_other(everything, other) - score(everything, reference)),
            "low": float(np.percentile(diffs, 2.5)), "high": float(np.percentile(diffs, 97.5)),
            "p_better": float((diffs > 0).mean())}


class CrossFittedScore:
    """``score(rows, probs)`` with every fold decided as a submission would be, blind to it: fold k's rows by the
    decision state (e.g. thresholds) the task tunes on the other folds' OOF rows of ``member`` (tuned once, here).
    On rows of several folds: the mean of the folds' scores weighted by their rows among ``rows``.

    Attributes:
        states: ``{fold: the task's decision state tuned without that fold}``.
    """

    def __init__(self, task, examples: list, member, metric: str) -> None:
        self.task, self.examples, self.fold, self.metric = task, examples, member.fold, metric
        self.states = {}
        for k in np.unique(member.fold).tolist():
            other = np.flatnonzero(member.fold != k)
            self.states[int(k)] = task.score([examples[i] for i in other], member.oof[other])[1]

    def __call__(self, rows: np.ndarray, probs: np.ndarray) -> float:
        total = 0.0
        for k, state in self.states.items():
            part = rows[self.fold[rows] == k]
            if len(part):
                scored = self.task.score([self.examples[i] for i in part], probs[part], state)[0][self.metric]
                total += scored * len(part)
        return total / len(rows)


def result_path(task: str, reference: Path, name: str = "") -> Path:
    """Where a comparison is saved: ``bench/results/oof_compare_<task>_<name or the reference's folder name>.json``.

    Raises:
        ValueError: ``name`` holds a path separator or starts with a dot (it names one file in bench/results).
    """
    return RESULTS / f"oof_compare_{task}_{check_result_name(name) or reference.name}.json"


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="folders with oof.npz on the same folds; the first is the reference")
    parser.add_argument("--data-dir", default=None, help="override the data folder in the runs' config.json")
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metric", default="", help="a key of the task's scores (default: its metric_name)")
    parser.add_argument("--name", default="", help="the JSON's name: bench/results/oof_compare_<task>_<name>.json "
                                                   "(default: the first run's folder name)")
    parser.add_argument("--decisions", choices=("pooled", "cross-fit"), default="pooled",
                        help="pooled: thresholds (where the task tunes them) tuned on the rows scored; cross-fit: "
                             "each fold decided by the thresholds tuned on the other folds' OOF rows")
    args = parser.parse_args(argv)
    start = time.time()
    task = get_task(args.task)
    try:
        out = result_path(task.name, Path(args.runs[0]), args.name)  # a bad --name fails before the bootstrap
    except ValueError as err:
        parser.error(str(err))
    members = [load_member(Path(r)) for r in args.runs]
    with_config = [m for m in members if (m.run_dir / "config.json").exists()]
    if not with_config:
        raise SystemExit(f"none of {args.runs} has a config.json: give a k-fold or ensemble run among them")
    config = run_config(task, with_config[0].run_dir, args.data_dir, None)
    check_members(members)  # same ids, labels, folds and test ids as the first, or one line naming the run
    examples = task.cv_pool(config, task.load_data(config))
    assert_same_ids(np.asarray(task.ids(examples), dtype=str), members[0].ids,
                    f"{members[0].run_dir}/oof.npz against the task's pool (the run's data and --limit)")
    ref = members[0]

    metric = args.metric or task.metric_name
    scored = task.score(examples, ref.oof)[0]
    if metric not in scored:
        parser.error(f"--metric {metric}: {task.name} scores {', '.join(sorted(scored))}")

    def pooled(rows: np.ndarray, probs: np.ndarray) -> float:
        return task.score([examples[i] for i in rows], probs[rows])[0][metric]

    everything = np.arange(len(examples))
    table = {}
    for m in members:
        score = pooled if args.decisions == "pooled" else CrossFittedScore(task, examples, m, metric)
        per_fold = {int(k): score(np.flatnonzero(m.fold == k), m.oof) for k in np.unique(m.fold).tolist()}
        row = {"oof": score(everything, m.oof), "per_fold": per_fold}
        if args.decisions == "cross-fit":
            row["decisions"] = score.states
        if m is ref:
            ref_score = score
        else:
            row["folds_above_reference"] = sum(v > table[str(ref.run_dir)]["per_fold"][k] for k, v in per_fold.items())
            row["vs_reference"] = paired_bootstrap(ref_score, ref.oof, m.oof, args.rounds, args.seed, score)
        table[str(m.run_dir)] = row
    result = {"task": task.name, "metric": metric, "decisions": args.decisions, "reference": str(ref.run_dir),
              "rounds": args.rounds, "rows": len(examples), "runs": table, "seconds": round(time.time() - start, 1)}
    write_json_atomic(out, result)
    how = "" if args.decisions == "pooled" else " (each fold decided by thresholds tuned on the other folds)"
    print(f"{task.name}: {metric}{how} on {len(examples)} OOF rows; difference against {ref.run_dir} "
          f"with its 95% paired-bootstrap interval ({args.rounds} resamples)")
    for name, row in table.items():
        folds = " ".join(f"{v:.4f}" for v in row["per_fold"].values())
        versus = row.get("vs_reference")
        extra = "" if versus is None else (f"  {versus['diff']:+.4f} [{versus['low']:+.4f}, {versus['high']:+.4f}]"
                                           f" P(better) {versus['p_better']:.2f}, {row['folds_above_reference']} folds above")
        print(f"{row['oof']:.4f}  folds {folds}{extra}  {name}")
    return result


if __name__ == "__main__":
    run_cli(main)  # a missing or foreign run: one "error:" line, exit 2
