"""Score finished ``--task pair`` runs on test labels that came afterwards: held-out scores, paired bootstrap.

    python -m bench.pair_heldout --labels-file data/xiaobu/pairs/iceflame_bq_corpus/test.csv \\
        --runs runs/pair/tfidf-bq_corpus runs/pair/bq-scratch runs/pair/ensemble-cv5-recipe [--name bq]

For a contest whose test labels are published after the end, or a labelled file kept aside
(never read while the runs were chosen). Each run's test probabilities, and the decision its
submission made: a single run (and the TF-IDF reference) has ``probabilities.npz`` and the
``thresholds.json`` tuned on its validation rows (a student: ``teacher_thresholds.json`` first);
a k-fold or ensemble run has ``test_predictions.npz`` and decides at the threshold tuned on its
``oof.npz``, as its submission did. The labels file is read with the first run's ``config.json``
(its columns and label values; the test rows' ids, asserted equal to every run's). Each run is
scored as the task scores (:meth:`PairFilesTask.label_scores`: accuracy, F1 and AUC; graded labels
Spearman and Pearson; 3+ classes accuracy and macro-F1), at that decision; every run after the first is compared with it by a
paired bootstrap over the test rows (:func:`bench.oof_compare.paired_bootstrap`). Prints a table;
writes ``bench/results/pair_heldout_<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bench import check_result_name
from bench.oof_compare import paired_bootstrap
from common.commands.args import run_cli
from common.config import config_from_dict
from common.cv import assert_same_ids
from common.distillation import TEACHER_THRESHOLDS_FILE
from common.io import write_json_atomic
from competitions.pair.config import PairFilesConfig
from competitions.pair.data import read_pair_file
from competitions.pair.task import TASK

RESULTS = Path(__file__).resolve().parent / "results"


def run_decisions(run_dir: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(test ids (N,), test P(1) (N,), decision state)`` of a finished run, as its submission decided (a k-fold or
    ensemble run: :meth:`PairFilesTask.label_scores`' on its OOF rows; the task configured first).

    Raises:
        FileNotFoundError: a folder with neither a single run's nor a k-fold run's files.
    """
    if (run_dir / "probabilities.npz").is_file():
        files = [run_dir / name for name in (TEACHER_THRESHOLDS_FILE, "thresholds.json") if (run_dir / name).is_file()]
        state = json.loads(files[0].read_text(encoding="utf-8")) if files else {}  # graded labels decide nothing
        if files or TASK.bounds is not None or TASK.classes > 2:  # nor does the argmax of 3+ classes
            saved = np.load(run_dir / "probabilities.npz")
            return saved["test_ids"], saved["test_probs"], state
    if (run_dir / "oof.npz").is_file() and (run_dir / "test_predictions.npz").is_file():
        oof, test = np.load(run_dir / "oof.npz"), np.load(run_dir / "test_predictions.npz")
        return test["test_ids"], test["test"], TASK.label_scores(oof["labels"], oof["oof"])[1]
    raise FileNotFoundError(f"{run_dir}: neither probabilities.npz with thresholds.json (a single run; graded labels: "
                            "probabilities.npz) "
                            "nor oof.npz with test_predictions.npz (a k-fold or ensemble run)")


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels-file", required=True, help="the test file with its labels")
    parser.add_argument("--runs", nargs="+", required=True, help="finished --task pair runs; the first is the reference")
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--name", default="", help="result file name part (default: the first run's folder name)")
    args = parser.parse_args(argv)
    start = time.time()
    runs = [Path(r) for r in args.runs]
    config = config_from_dict(PairFilesConfig, json.loads((runs[0] / "config.json").read_text(encoding="utf-8")))
    TASK.configure(config)
    test = read_pair_file(args.labels_file, config, True, "test")
    labels = TASK.labels(test)
    rows = {}
    reference = None
    for run_dir in runs:
        ids, probs, state = run_decisions(run_dir)
        assert_same_ids(np.array(TASK.ids(test)), ids, f"{run_dir}'s test rows against {args.labels_file}")

        def score(picked: np.ndarray, p: np.ndarray, decided: dict = state) -> float:
            return TASK.label_scores(labels[picked], p[picked], decided)[0]["score"]

        metrics = TASK.label_scores(labels, probs, state)[0]
        row = {k: v for k, v in metrics.items() if k != "score"}
        row.update({"threshold": state["threshold"]} if "threshold" in state else {})
        if reference is None:
            reference = (score, probs)
        else:
            row["against_first"] = paired_bootstrap(reference[0], reference[1], probs, args.rounds, seed=0,
                                                    score_other=score)
        rows[str(run_dir)] = row
    result = {"labels_file": args.labels_file, "rows": len(test), "metric": config.metric, "runs": rows,
              "rounds": args.rounds, "wall_seconds": round(time.time() - start, 1)}
    name = check_result_name(args.name) or runs[0].name
    write_json_atomic(RESULTS / f"pair_heldout_{name}.json", result)
    columns = [k for k in metrics if k != "score"]
    print(f"{'run':<48}" + "".join(f" {c:>9}" for c in columns) + f"  {config.metric} against the first [95%]")
    for run, row in rows.items():
        against = row.get("against_first")
        text = f"{against['diff']:+.4f} [{against['low']:+.4f}, {against['high']:+.4f}]" if against else ""
        print(f"{run:<48}" + "".join(f" {row[c]:>9.4f}" for c in columns) + f"  {text}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run_cli(main)
