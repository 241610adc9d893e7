"""What Sohu's label implication (a pair's B label decides its A, and back) is worth, on rows whose labels it never reads.

    python -m bench.label_implication --runs runs/sohu/tfidf-baseline runs/sohu/ensemble-cv5-quick-mlm8-stats

For each run (see ``competitions/sohu/implication.py`` for the rule):

- a ``train`` run or the TF-IDF baseline (``probabilities.npz``, trained on the official train files):
  its valid rows, the evidence the **train** files only, as a test row's twin is labelled when it lies
  in train or valid. This is the honest check: no valid label decides another valid row.
- a k-fold or ensemble run (``oof.npz``): its out-of-fold rows, the evidence every other labelled row.
  The folds group pairs sharing a text, so a row's twin is always in its own fold: the model never saw
  it, but its label is one the scored rows would not have at test time when the twin is itself a test
  row (265 of the 887 A test rows with a twin in B), so this figure is an upper bound.

Scores use the thresholds tuned on the run's own probabilities without the rule (as the submission
does), then re-tuned with it; the difference has a paired bootstrap interval over rows
(:func:`bench.oof_compare.paired_bootstrap`). The test rows the rule decides, and how many of their
decisions change at the run's thresholds, are counted with the train and valid files as evidence, as
the submission does. Writes ``bench/results/label_implication_sohu.json``; prints a table.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.oof_compare import RESULTS, paired_bootstrap
from common.io import write_json_atomic
from competitions.sohu.data import load_split
from competitions.sohu.implication import apply_label_implication
from competitions.sohu.metrics import group_of, sohu_scores


@functools.lru_cache(maxsize=4)
def _splits(data_dir: str) -> tuple[list, list, list]:
    """The train, valid and test rows under ``data_dir``, read once per folder."""
    return tuple(load_split(data_dir, split)[0] for split in ("train", "valid", "test_with_id"))


def _by_id(examples: list, ids: np.ndarray, where: str) -> list:
    """The rows of ``ids`` in that order; SystemExit naming ``where`` when one is not among ``examples``."""
    index = {e.id: e for e in examples}
    missing = [i for i in ids.tolist() if i not in index]
    if missing:
        raise SystemExit(f"{where}: {len(missing)} ids not in the data's files, e.g. {missing[:3]}")
    return [index[i] for i in ids.tolist()]


def _rows(run: Path, data_dir: str) -> tuple[str, list, np.ndarray, list, np.ndarray | None, np.ndarray | None]:
    """(kind, scored examples, their probs, evidence, test probs, test ids) of one run folder."""
    train, valid, _ = _splits(data_dir)
    if (run / "oof.npz").exists():
        saved = np.load(run / "oof.npz", allow_pickle=False)
        scored = _by_id(train + valid, saved["ids"], f"{run}/oof.npz")
        test = np.load(run / "test_predictions.npz", allow_pickle=False) if (run / "test_predictions.npz").exists() else None
        return ("oof", scored, saved["oof"].astype(float), train + valid,
                None if test is None else test["test"].astype(float), None if test is None else test["test_ids"])
    saved = np.load(run / "probabilities.npz", allow_pickle=False)
    scored = _by_id(valid, saved["valid_keys"], f"{run}/probabilities.npz")
    return "valid", scored, saved["valid_probs"].astype(float), train, saved["test_probs"].astype(float), saved["test_ids"]


def measure(run: Path, data_dir: str, rounds: int, seed: int) -> dict:
    """One run's row of the table (see the module docstring).

    Raises:
        SystemExit: an id of the run's files absent from ``data_dir``'s files.
    """
    kind, scored, probs, evidence, test_probs, test_ids = _rows(run, data_dir)
    labels = np.array([e.label for e in scored])
    subtasks = np.array([e.subtask for e in scored])
    before, thresholds = sohu_scores(labels, probs, subtasks)
    implied, counts = apply_label_implication(scored, probs, evidence)
    fixed = sohu_scores(labels, implied, subtasks, thresholds)[0]
    retuned = sohu_scores(labels, implied, subtasks)[0]

    def score(rows: np.ndarray, p: np.ndarray) -> float:
        return sohu_scores(labels[rows], p[rows], subtasks[rows], thresholds)[0]["score"]

    row = {"kind": kind, "rows": len(scored), "set": counts, "before": before["score"], "after": fixed["score"],
           "after_retuned": retuned["score"], "f1_A": [before["f1_A"], fixed["f1_A"]],
           "f1_B": [before["f1_B"], fixed["f1_B"]], "thresholds": thresholds,
           "vs_before": paired_bootstrap(score, probs, implied, rounds, seed)}
    if test_probs is not None:
        train, valid, test = _splits(data_dir)
        test = _by_id(test, test_ids, f"{run}: test ids")
        test_implied, test_counts = apply_label_implication(test, test_probs, train + valid)  # as the submission
        cut = np.array([thresholds[g] for g in group_of(np.array([e.subtask for e in test]))])
        row["test"] = {"rows": len(test), "set": test_counts,
                       "decisions_changed": int(((test_probs >= cut) != (test_implied >= cut)).sum())}
    return row


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="+", required=True,
                        help="Sohu run folders: train runs (probabilities.npz) or k-fold/ensemble runs (oof.npz)")
    parser.add_argument("--data-dir", default="data/sohu2021")
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "label_implication_sohu.json"))
    args = parser.parse_args(argv)
    start = time.time()
    table = {r: measure(Path(r), args.data_dir, args.rounds, args.seed) for r in args.runs}
    result = {"data_dir": args.data_dir, "rounds": args.rounds, "runs": table, "seconds": round(time.time() - start, 1)}
    write_json_atomic(Path(args.output), result)
    print("score: thresholds of the run without the rule -> with it (re-tuned); difference, 95% paired bootstrap")
    for name, row in table.items():
        v = row["vs_before"]
        test = row.get("test")
        extra = "" if test is None else (f"; test: {test['set']['A']} A set to 1, {test['set']['B']} B set to 0, "
                                         f"{test['decisions_changed']} decisions changed")
        print(f"{row['kind']:5s} {row['before']:.4f} -> {row['after']:.4f} ({row['after_retuned']:.4f})  "
              f"{v['diff']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}]  set A {row['set']['A']} B {row['set']['B']} "
              f"of {row['rows']}{extra}  {name}")
    return result


if __name__ == "__main__":
    main()
