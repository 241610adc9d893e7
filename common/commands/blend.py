"""Blend saved runs of any task: weighted mean of their probabilities, decisions re-tuned on valid.

    python -m common.commands.blend --task sohu --runs runs/sohu/default runs/sohu/tfidf-baseline [--weights 1 1]

Each run folder holds ``probabilities.npz`` (written by ``predict``/``train`` and by the
task's baseline). Keys (valid rows, test ids) are asserted equal to the task's data
before averaging. Writes ``<submission_dir>/blend-<names>-<metric><S>`` and
``runs/<task>/blend-<names>/metrics.json`` (``blend-<names>-w<weights>`` for unequal weights); ends with one JSON
line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from common.commands.args import run_cli, split_task
from common.config import ArgumentParser, config_from_dict
from common.cv import assert_same_ids, saved_digest
from common.io import print_result, write_json_atomic
from common.run import broadcast_from_main, check_run_task, process_state
from common.task import Task


def load_probabilities(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The arrays of ``run_dir/probabilities.npz``. Raises FileNotFoundError naming the file."""
    path = Path(run_dir) / "probabilities.npz"
    if not path.is_file() and (Path(run_dir) / "folds.json").is_file():
        raise FileNotFoundError(f"{run_dir} is a k-fold run: blend averages single runs' validation rows; combine "
                                "k-fold runs by their out-of-fold predictions with the ensemble command "
                                "(make <task>-ensemble RUNS=...)")
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run the task's predict (or baseline) on {run_dir} first")
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def blend(runs: list[dict[str, np.ndarray]], weights: list[float], names: list[str]) -> dict[str, np.ndarray]:
    """Weighted mean of the runs' valid and test probabilities.

    Raises:
        ValueError: the runs' valid keys or test ids differ (order included), or their test sets do (the same ids
            of other content: their saved ``test_digest``, where both have one; probe AN: a round-A and a round-B
            run of row-number ids were averaged without a word).
    """
    first = runs[0]
    for run, name in zip(runs[1:], names[1:]):
        for key in ("valid_keys", "test_ids"):
            if not np.array_equal(run[key], first[key]):
                raise ValueError(f"{name}: {key} differ from {names[0]}'s; refusing to average misaligned rows")
        if None not in (saved_digest(run), saved_digest(first)) and saved_digest(run) != saved_digest(first):
            raise ValueError(f"{name}: its test predictions are of another test set than {names[0]}'s (the same ids, "
                             "other content); predict both runs on one test set first (make <task>-predict RUN=...)")
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    out = dict(first)
    out["valid_probs"] = sum(wi * r["valid_probs"] for wi, r in zip(w, runs))
    out["test_probs"] = sum(wi * r["test_probs"] for wi, r in zip(w, runs))
    return out


def repredicted_test(task: Task, config: Any, run_dir: str, test: list) -> dict[str, np.ndarray] | None:
    """The test probabilities ``predict --run run_dir`` wrote for the test set ``config`` reads now, when the run's
    own file changed since it was trained: predict leaves the run folder as it was and saves them beside the
    submission it names by the file's content, ``<run>-<stem>-<digest>-<score>.probabilities.npz``
    (:func:`common.commands.predict.submission_name`) in the run's submission folder or ``config``'s (blend's
    ``--submission-dir``). The newest such file whose ids and test digest are ``test``'s (N rows) and that is newer
    than the run's own ``probabilities.npz`` (so of this run's model, not of an earlier run of its name; probe AQ),
    as ``{"test_ids", "test_probs", "test_digest", "submission_ids"}``; None when there is none."""
    from common.commands.predict import content_digest

    saved = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8")) \
        if (Path(run_dir) / "config.json").is_file() else {}
    folders = {Path(f).resolve(): Path(f) for f in (getattr(config, "submission_dir", ""), saved.get("submission_dir"))
               if f and Path(f).is_dir()}
    path = task.test_path(config)
    prefix = f"{Path(run_dir).name}-{path.stem}-{content_digest(path)}-"
    ids, digest = np.asarray(task.ids(test), dtype=str), task.examples_digest(test)
    trained = (Path(run_dir) / "probabilities.npz").stat().st_mtime
    found = []
    for file in (f for folder in folders.values() for f in folder.rglob(f"{prefix}*.probabilities.npz")):
        if file.stat().st_mtime < trained:
            continue
        with np.load(file) as arrays:
            if saved_digest(arrays) == digest and np.array_equal(arrays["test_ids"].astype(str), ids):
                found.append((file.stat().st_mtime, file, {k: arrays[k] for k in (
                    "test_ids", "test_probs", "test_digest", "submission_ids") if k in arrays}))
    return max(found, key=lambda f: f[0])[2] if found else None


def _config(task: Task, run_dirs: list[str], data_dir: str | None, submission_dir: str | None) -> Any:
    """The first run's config that has one (its data and limit), with the given overrides."""
    for run in run_dirs:
        path = Path(run) / "config.json"
        if path.is_file():
            config = config_from_dict(task.config_class, json.loads(path.read_text(encoding="utf-8")))
            break
    else:
        config = task.config_class()
    if data_dir:
        config.data_dir = data_dir
    if submission_dir:
        config.submission_dir = submission_dir
    return config


def blend_runs(task: Task, run_dirs: list[str], weights: list[float] | None = None, data_dir: str | None = None,
               submission_dir: str | None = None) -> dict:
    """Blend ``run_dirs``, tune decisions on valid, write the submission and metrics.

    Under several processes the main process writes; every process returns the same.

    Returns ``{"valid", "thresholds", "submission", "rows", "run_dir"}``.

    Raises:
        FileNotFoundError: a run without probabilities.npz (a k-fold run: pointing to the ensemble).
        ValueError: misaligned runs, rows that are not the task's valid/test rows, weights not one per run or not
        >= 0 with a positive sum, a run given twice.
    """
    names = [Path(r).name for r in run_dirs]
    given = weights is not None
    weights = weights or [1.0] * len(run_dirs)
    if len(weights) != len(run_dirs):
        raise ValueError(f"--weights: {len(weights)} weights for {len(run_dirs)} runs")
    if not all(np.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"--weights {' '.join(f'{w:g}' for w in weights)}: expected numbers >= 0 with a positive "
                         "sum (a weighted mean of probabilities)")
    for run in run_dirs:  # another task's run: named as such, not by its rows
        check_run_task(run, task)
    resolved = [str(Path(r).resolve()) for r in run_dirs]
    twice = sorted({r for r in resolved if resolved.count(r) > 1})
    if twice:
        raise ValueError(f"--runs: {', '.join(twice)} given more than once (give it a larger --weights instead)")
    loaded = [load_probabilities(r) for r in run_dirs]
    repredicted = False  # a run's test predictions read from its predict of the file as it is now
    config = _config(task, run_dirs, data_dir, submission_dir)
    data = task.load_data(config)
    digest = task.examples_digest(data.test)
    for i, (run, saved) in enumerate(zip(run_dirs, loaded)):  # the test file edited since they predicted (probe AN:
        if saved_digest(saved) not in (None, digest):  # Sohu's label implication read the new texts on the old
            again = repredicted_test(task, config, run, data.test)  # probabilities): their predict of it (probe AP)
            if again is None:
                raise ValueError(f"{task.test_path(config)}: the test set changed since {run} predicted it (the same "
                                 f"ids, other content); predict it on the file as it is now first (make "
                                 f"{task.name}-predict RUN={run}), and blend reads those predictions")
            loaded[i] = {**saved, **again}
            repredicted = True
    mixed = blend(loaded, weights, names)
    assert_same_ids(np.array(task.ids(data.valid)), mixed["valid_keys"], f"{run_dirs[0]} valid rows")
    assert_same_ids(np.array(task.ids(data.test)), mixed["test_ids"], f"{run_dirs[0]} test rows")
    metrics, state = task.score(data.valid, mixed["valid_probs"])
    tag = "blend-" + "+".join(names)
    if given and len(set(weights)) > 1:  # blends of other weights get other folders and submissions
        tag += "-w" + ",".join(f"{w:g}" for w in weights)
    config.run_name = tag
    from common.commands.predict import submission_name

    run_dir = Path(run_dirs[0]).parent / tag
    written: dict[str, Any] = {}
    if process_state().is_main_process:  # under accelerate launch (train's blend): one writer
        # of a test file edited since the runs trained: named by its content, as predict names theirs, so the blend
        # of the file they trained with is kept (probe AQ: overwritten)
        written = task.write_submission(config, data.test, mixed["test_probs"], state,
                                        submission_name(task, config, "",
                                                        f"{task.metric_name}{metrics[task.metric_name]:.4f}",
                                                        task.test_path(config) if repredicted else None))
        write_json_atomic(run_dir / "metrics.json", {"valid": metrics, "thresholds": state,
                                                     "runs": list(run_dirs), "weights": weights})
    written = broadcast_from_main(written)
    return {"valid": metrics, "thresholds": state, **written, "run_dir": str(run_dir)}


def main(argv: list[str] | None = None) -> dict:
    task, rest = split_task(argv, __doc__)
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--weights", type=float, nargs="+", default=None, help="one per run, default equal")
    parser.add_argument("--data-dir", default=None, help="default: the first run's")
    parser.add_argument("--submission-dir", default=None, help="default: the first run's")
    args = parser.parse_args(rest)
    result = blend_runs(task, args.runs, args.weights, args.data_dir, args.submission_dir)
    if process_state().is_main_process:
        print_result(result)
    return result


if __name__ == "__main__":
    run_cli(main)
