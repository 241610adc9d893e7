"""Blend saved runs: weighted mean of their probabilities, thresholds re-tuned on valid.

    python -m competitions.sohu.blend --runs runs/sohu/default runs/sohu/tfidf-baseline [--weights 1,1]

Each run folder holds ``probabilities.npz`` (written by ``predict``/``train`` and by
``baseline``). Keys (valid rows, test ids) are asserted equal before averaging. Writes
``submissions/sohu/blend-<names>-score<S>.csv`` and ``runs/sohu/blend-<names>/metrics.json``;
ends with one JSON line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common.io import print_result, write_json_atomic
from common.submission import write_id_label_submission
from competitions.sohu.data import ROOT
from competitions.sohu.metrics import group_of, sohu_scores


def load_probabilities(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The arrays of ``run_dir/probabilities.npz``. Raises FileNotFoundError naming the file."""
    path = Path(run_dir) / "probabilities.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run `make sohu-predict RUN={run_dir}` first")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def blend(runs: list[dict[str, np.ndarray]], weights: list[float], names: list[str]) -> dict[str, np.ndarray]:
    """Weighted mean of the runs' valid and test probabilities.

    Raises:
        ValueError: the runs' valid keys or test ids differ (order included).
    """
    first = runs[0]
    for run, name in zip(runs[1:], names[1:]):
        for key in ("valid_keys", "test_ids"):
            if not np.array_equal(run[key], first[key]):
                raise ValueError(f"{name}: {key} differ from {names[0]}'s; refusing to average misaligned rows")
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    out = dict(first)
    out["valid_probs"] = sum(wi * r["valid_probs"] for wi, r in zip(w, runs))
    out["test_probs"] = sum(wi * r["test_probs"] for wi, r in zip(w, runs))
    return out


def blend_runs(run_dirs: list[str], weights: list[float] | None = None, data_dir: str = "data/sohu2021",
               submission_dir: str = "submissions/sohu") -> dict:
    """Blend ``run_dirs``, tune thresholds on valid, write the submission and metrics.

    Returns ``{"valid", "thresholds", "submission", "run_dir"}``.

    Raises:
        FileNotFoundError: a run without probabilities.npz. ValueError: misaligned runs.
    """
    names = [Path(r).name for r in run_dirs]
    weights = weights or [1.0] * len(run_dirs)
    if len(weights) != len(run_dirs):
        raise ValueError(f"{len(weights)} weights for {len(run_dirs)} runs")
    mixed = blend([load_probabilities(r) for r in run_dirs], weights, names)
    metrics, thresholds = sohu_scores(mixed["valid_labels"], mixed["valid_probs"], mixed["valid_tasks"])
    groups = group_of(mixed["test_tasks"])
    predictions = {str(i): int(p >= thresholds[g]) for i, p, g in zip(mixed["test_ids"], mixed["test_probs"], groups)}
    tag = "blend-" + "+".join(names)
    path = Path(submission_dir) / f"{tag}-score{metrics['score']:.4f}.csv"
    written = write_id_label_submission(path, predictions, Path(data_dir) / ROOT / "sample_submission.csv",
                                        fill_value=0)
    run_dir = Path(run_dirs[0]).parent / tag
    write_json_atomic(run_dir / "metrics.json", {"valid": metrics, "thresholds": thresholds,
                                                 "runs": list(run_dirs), "weights": weights})
    return {"valid": metrics, "thresholds": thresholds, "submission": written["path"], "run_dir": str(run_dir)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--weights", default="", help="comma-separated, default equal")
    parser.add_argument("--data-dir", default="data/sohu2021")
    parser.add_argument("--submission-dir", default="submissions/sohu")
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    result = blend_runs(args.runs, weights, args.data_dir, args.submission_dir)
    print_result(result)
    return result


if __name__ == "__main__":
    main()
