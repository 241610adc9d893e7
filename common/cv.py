"""k-fold cross-validation: stratified (grouped) folds, out-of-fold predictions, fold averaging.

A task supplies one function that trains a fold and returns that fold's
predictions on its held-out rows and on the test rows; :func:`run_cv` does the
rest, the same way for every task::

    runs/<task>/<run>/
        folds.json              fold of every training id (the split is fixed on first run), and the digest
                                of the labelled rows it was made on (a rerun on edited files is refused)
        fold<k>/                one shared-trainer run folder per fold (model.pt, metrics.json, ...)
        fold<k>/predictions.npz its OOF rows (ids, predictions) and its test predictions; marks the fold done
        oof.npz                 ids, labels, fold and OOF predictions of every training row
        test_predictions.npz    test ids, the fold mean and every fold's predictions
        cv_metrics.json         the task's metric on the OOF set, and per fold

A rerun of the same command skips the folds whose ``predictions.npz`` exists and
resumes a fold that left a checkpoint, so an interrupted k-fold run loses at most
the steps since the last checkpoint. Ids are asserted equal before any averaging.
Folds are first-class as in bestfitting's Kaggle solutions: the CV score goes in the
submission's file name (the task writes it).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from common.io import atomic_path, write_json_atomic

logger = logging.getLogger("common.cv")

FOLD_PREDICTIONS = "predictions.npz"


@dataclass
class CVConfig:
    """k-fold options; task CV configs inherit these fields."""

    folds: int = 5
    fold_seed: int = 42  # seed of the split (independent of the training seed)
    group_by_text: bool = True  # pairs sharing a text (transitively) stay in one fold
    only_folds: str = ""  # comma-separated fold numbers to run now (e.g. one per machine); empty: all
    keep_fold_checkpoints: bool = False  # keep each finished fold's resumable checkpoint/ (optimizer state)


def fold_overrides(config: Any, run_dir: str | Path, k: int) -> dict[str, Any]:
    """Options that make a task's single-run config train fold ``k``.

    Its own folder ``run_dir/fold<k>`` and run name, seed ``config.seed + k``, and
    ``resume`` when that folder holds a checkpoint (an interrupted fold continues).
    Use with :func:`common.config.narrow_config`.
    """
    fold_dir = Path(run_dir) / f"fold{k}"
    return {"run_dir": str(fold_dir), "run_name": f"{config.run_name}-fold{k}", "seed": config.seed + k,
            "resume": (fold_dir / "checkpoint" / "trainer_state.json").is_file()}


def text_groups(pairs: Sequence[tuple[Hashable, Hashable]]) -> np.ndarray:
    """Group id per pair: pairs connected through a shared text get the same group.

    Union-find over the texts of each ``(a, b)`` pair, so that no text seen in a
    training fold appears again in the held-out fold (which would inflate the score).

    Args:
        pairs: N ``(text_a, text_b)`` of hashable texts (strings, tuples of ids).

    Returns:
        (N,) int64 group ids, numbered from 0 in order of first appearance.
    """
    parent: dict[Hashable, Hashable] = {}

    def find(x: Hashable) -> Hashable:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    numbering: dict[Hashable, int] = {}
    return np.array([numbering.setdefault(find(a), len(numbering)) for a, _ in pairs], dtype=np.int64)


def make_folds(strata: Sequence[Hashable], n_folds: int, seed: int,
               groups: Sequence[int] | None = None) -> np.ndarray:
    """Fold number of every row: stratified k-fold, grouped when ``groups`` is given.

    scikit-learn's ``StratifiedKFold`` (or ``StratifiedGroupKFold``) with shuffling.

    Args:
        strata: (N,) the label, or any key to balance across folds (e.g. ``"subtask:label"``).
        n_folds: k >= 2.
        seed: shuffling seed.
        groups: (N,) optional group ids; a group never spans two folds.

    Returns:
        (N,) int64 fold numbers in ``[0, n_folds)``.

    Raises:
        ValueError: ``n_folds < 2`` or more folds than rows (or groups).
    """
    n = len(strata)
    if n_folds < 2:
        raise ValueError(f"k-fold needs at least 2 folds, got {n_folds}")
    if n_folds > n:
        raise ValueError(f"{n_folds} folds for {n} rows")
    keys = np.unique(np.asarray([str(s) for s in strata]), return_inverse=True)[1]
    fold = np.full(n, -1, dtype=np.int64)
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(n), keys)
    else:
        groups = np.asarray(groups)
        if len(np.unique(groups)) < n_folds:
            raise ValueError(f"{n_folds} folds for {len(np.unique(groups))} groups")
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(n), keys, groups)
    try:
        for k, (_, held_out) in enumerate(splits):
            fold[held_out] = k
    except ValueError as err:  # scikit-learn's: e.g. more folds than rows of every stratum
        raise ValueError(f"{n_folds} stratified folds of {n} rows: {err} (the strata are the task's labels, "
                         "Task.strata: give fewer --folds, or more rows)") from None
    return fold


def stratified_holdout(items: Sequence, strata: Sequence[Hashable], valid_fraction: float,
                       seed: int) -> tuple[list, list, np.ndarray]:
    """A fixed stratified hold-out split (scikit-learn ``train_test_split``), the order of ``items`` kept.

    Returns (train, valid, valid_indices) with the indices into ``items`` sorted.
    ``valid_fraction <= 0`` returns all items as train and no valid.
    """
    if valid_fraction <= 0:
        return list(items), [], np.zeros(0, dtype=int)
    try:
        _, valid_idx = train_test_split(np.arange(len(items)), test_size=valid_fraction, random_state=seed,
                                        stratify=list(strata))
    except ValueError as err:  # scikit-learn's: e.g. a stratum of one row
        raise ValueError(f"a stratified {valid_fraction:g} validation split of {len(items)} rows: {err} (the strata "
                         "are the task's labels, Task.strata: give a dev file, another --valid-fraction, or more "
                         "rows)") from None
    valid_idx = np.sort(valid_idx)
    chosen = set(valid_idx.tolist())
    return [x for i, x in enumerate(items) if i not in chosen], [items[i] for i in valid_idx], valid_idx


def assert_same_ids(reference: np.ndarray, other: np.ndarray, what: str) -> None:
    """Raise ValueError unless ``other`` holds exactly ``reference``'s ids in the same order."""
    if len(reference) != len(other) or not np.array_equal(np.asarray(reference), np.asarray(other)):
        raise ValueError(f"{what}: ids differ from the reference ({len(other)} vs {len(reference)} rows, "
                         "or another order); refusing to combine misaligned predictions")


def average_predictions(ids: Sequence[np.ndarray], predictions: Sequence[np.ndarray],
                        names: Sequence[str] | None = None) -> np.ndarray:
    """Mean of several models' predictions over the same rows.

    Args:
        ids: one (N,) id array per model.
        predictions: one (N, ...) array per model (probabilities or logits).
        names: labels for the error message (default ``model0``, ...).

    Returns:
        (N, ...) float64 mean.

    Raises:
        ValueError: no model, or any model's ids differ from the first's (order included).
    """
    if not predictions:
        raise ValueError("nothing to average")
    names = list(names or [f"model{i}" for i in range(len(predictions))])
    for i in range(1, len(ids)):
        assert_same_ids(ids[0], ids[i], names[i])
    for name, i, p in zip(names, ids, predictions):
        if len(p) != len(i):
            raise ValueError(f"{name}: {len(p)} predictions for {len(i)} ids")
    return np.mean(np.stack([np.asarray(p, dtype=np.float64) for p in predictions]), axis=0)


@dataclass
class FoldResult:
    """What a task's fold function returns.

    Attributes:
        oof: (n_held_out, ...) predictions on the fold's held-out rows, in the order given.
        test: (n_test, ...) predictions on the test rows, in test order (None: no test set).
        metrics: anything worth keeping (best epoch, fold score, ...).
    """

    oof: np.ndarray
    test: np.ndarray | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


# (fold, train row indices, held-out row indices, fold folder) -> FoldResult
FoldFn = Callable[[int, np.ndarray, np.ndarray, Path], FoldResult]


def _is_main() -> bool:
    from common.run import process_state

    return process_state().is_main_process


def _barrier() -> None:
    """Wait until every process got here (files the main process wrote are then readable by all)."""
    from common.run import process_state

    process_state().wait_for_everyone()


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` atomically (main process only: every process holds the same gathered arrays)."""
    if not _is_main():
        return
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, **arrays)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def cross_fit(fold: np.ndarray, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Out-of-fold predictions of a combiner: fold k predicted by one fitted on the other folds.

    Args:
        fold: (N,) fold number of every row.
        fit_predict: ``(train_rows, held_rows) -> (len(held_rows),)`` (or ``(len(held_rows), C)``) fits on
            ``train_rows`` only and predicts ``held_rows``.

    Returns:
        (N,) (or (N, C)) float64, every row predicted without its own fold's labels.
    """
    out = None
    for k in np.unique(fold).tolist():
        held = np.flatnonzero(fold == k)
        part = np.asarray(fit_predict(np.flatnonzero(fold != k), held), dtype=np.float64)
        if out is None:
            out = np.zeros((len(fold),) + part.shape[1:])
        out[held] = part
    return np.zeros(len(fold)) if out is None else out


def load_or_make_folds(run_dir: Path, ids: np.ndarray, strata: Sequence[Hashable], config: CVConfig,
                       groups: Sequence[int] | None, pool_digest: str | None = None) -> np.ndarray:
    """The run's fold assignment: read from ``folds.json`` if present, else made and saved (with ``pool_digest``,
    the labelled rows' content digest, when given).

    Raises:
        ValueError: a saved assignment for other ids, another number of folds, or other labelled rows (same ids,
            other texts or labels: :func:`check_pool_digest`): a resumed run must train on exactly the data it
            started with.
    """
    path = run_dir / "folds.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        assert_same_ids(np.asarray(saved["ids"]), ids, f"{path} (saved folds)")
        if saved["folds"] != config.folds:
            raise ValueError(f"{path}: {saved['folds']} folds saved, {config.folds} asked; use a new run name")
        check_pool_digest(run_dir, pool_digest)
        return np.asarray(saved["fold"], dtype=np.int64)
    fold = make_folds(strata, config.folds, config.fold_seed, groups)  # deterministic: the same on every process
    if _is_main():
        write_json_atomic(path, {"folds": config.folds, "fold_seed": config.fold_seed,
                                 "grouped": groups is not None, "ids": ids.tolist(), "fold": fold.tolist(),
                                 **({} if pool_digest is None else {"pool_digest": pool_digest})})
    return fold


def check_pool_digest(run_dir: str | Path, digest: str | None, data: str = "") -> None:
    """Refuse labelled rows other than those a k-fold run (or an ensemble, which copies its first run's
    ``folds.json``) was made on: ids count rows (``train:0:k``) or repeat the file's, so a training or validation
    file edited since keeps them, and the saved folds' models and OOF predictions are of the old texts and labels.

    Args:
        run_dir: the run folder; its ``folds.json``'s ``pool_digest`` (:meth:`common.task.Task.examples_digest` of
            the pool) is compared. Runs saved before it was recorded, or ``digest`` None: not checked.
        digest: the pool read now.
        data: where the pool was read (the data folder), for the message.

    Raises:
        ValueError: one line naming the run folder.
    """
    path = Path(run_dir) / "folds.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8")).get("pool_digest")
    except (OSError, ValueError, AttributeError):
        return
    if None not in (saved, digest) and saved != digest:
        raise ValueError(f"{path}: made on other labelled rows than {data or 'the data'} holds now (same ids, other "
                         "texts or labels: a training or validation file was edited since); restore those files, or "
                         "train on the new ones under another run name")


def parse_only_folds(text: str, n_folds: int) -> list[int]:
    """``"0,2"`` -> [0, 2]; empty -> every fold.

    Raises:
        ValueError: (naming ``--only-folds``) an item that is not a whole number, an empty item, or a fold outside
            0..n_folds-1.
    """
    if not text.strip():
        return list(range(n_folds))
    items = [t.strip() for t in text.split(",")]
    if not all(t.isdigit() for t in items):
        raise ValueError(f"--only-folds {text!r}: expected fold numbers 0-{n_folds - 1} separated by commas, e.g. 0,2")
    chosen = sorted({int(t) for t in items})
    bad = [k for k in chosen if not 0 <= k < n_folds]
    if bad:
        raise ValueError(f"--only-folds {text!r}: fold numbers must be 0-{n_folds - 1}, got {bad}")
    return chosen


def run_cv(run_dir: str | Path, ids: Sequence[str], labels: np.ndarray, strata: Sequence[Hashable],
           train_fold: FoldFn, score: Callable[[np.ndarray, np.ndarray], dict[str, float]],
           config: CVConfig, groups: Sequence[int] | None = None,
           test_ids: Sequence[str] | None = None, metric_name: str = "score",
           test_digest: str | None = None, pool_digest: str | None = None) -> dict[str, Any]:
    """Train every fold (skipping finished ones), collect OOF predictions, average the test ones.

    Args:
        run_dir: the CV run folder; fold k trains in ``run_dir/fold<k>``.
        ids: (N,) unique string id of every training row (saved with the OOF predictions).
        labels: (N,) the labels (saved with the OOF predictions).
        strata: (N,) keys to stratify on (see :func:`make_folds`).
        train_fold: trains fold k on the given rows; returns a :class:`FoldResult`
            whose ``oof`` follows the held-out indices' order.
        score: ``(rows, predictions) -> {metric: value}``, the task's own metric of the
            predictions for the training rows ``rows`` (indices; look up labels and any
            per-row key such as a subtask with them).
        config: number of folds, split seed, folds to run now.
        groups: (N,) optional group ids (see :func:`text_groups`).
        test_ids: (M,) test ids; fold test predictions are checked against them.
        metric_name: the key of ``score``'s result that names the CV score.
        test_digest: the test set's content digest (:meth:`common.task.Task.examples_digest`), saved with
            each fold's and the mean's test predictions; folds saved with another are refused.
        pool_digest: the labelled rows' content digest, saved in ``folds.json``; a rerun on others is refused
            before any fold trains or is scored (:func:`check_pool_digest`).

    Returns:
        ``{"cv": metrics on the OOF set, "folds": per-fold metrics, "oof": (N, ...),
        "test": (M, ...) fold mean or None, "complete": all folds done, "run_dir"}``.
        With ``only_folds`` covering part of the folds, the OOF set is incomplete and
        ``cv`` is computed only once every fold's predictions exist.

    Raises:
        ValueError: duplicate ids, misaligned fold outputs, a changed split, labelled rows other than the run's
            (same ids, other content), or folds that predicted another test set (same ids, other content: the test
            file was edited since they were trained).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ids = np.asarray([str(i) for i in ids])
    if len(set(ids.tolist())) != len(ids):
        raise ValueError("training ids are not unique; OOF predictions need one id per row")
    test_ids = None if test_ids is None else np.asarray([str(i) for i in test_ids])
    fold = load_or_make_folds(run_dir, ids, strata, config, groups, pool_digest)
    if test_digest is not None:  # finished folds of an edited test file: refused before another fold trains
        check_fold_digests(run_dir, {k: _load_npz(run_dir / f"fold{k}" / FOLD_PREDICTIONS)
                                     for k in range(config.folds)
                                     if (run_dir / f"fold{k}" / FOLD_PREDICTIONS).is_file()}, test_digest)
    for k in parse_only_folds(config.only_folds, config.folds):
        fold_dir = run_dir / f"fold{k}"
        done = fold_dir / FOLD_PREDICTIONS
        if done.is_file():
            logger.info("fold %d/%d: done already (%s), skipped", k + 1, config.folds, done)
            continue
        train_idx, held_idx = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        logger.info("fold %d/%d: %d train rows, %d held out", k + 1, config.folds, len(train_idx), len(held_idx))
        start = time.time()
        result = train_fold(k, train_idx, held_idx, fold_dir)
        if len(result.oof) != len(held_idx):
            raise ValueError(f"fold {k}: {len(result.oof)} OOF predictions for {len(held_idx)} held-out rows")
        arrays = {"ids": ids[held_idx], "oof": np.asarray(result.oof)}
        if test_ids is not None:
            if result.test is None or len(result.test) != len(test_ids):
                raise ValueError(f"fold {k}: test predictions missing or not one per test id")
            arrays.update(test_ids=test_ids, test=np.asarray(result.test))
            arrays.update(digest_arrays(test_digest))
        metrics = {**result.metrics, "fold_seconds": round(time.time() - start, 1)}
        if _is_main():
            write_json_atomic(fold_dir / "fold_metrics.json", metrics)
        _save_npz(done, **arrays)  # written last: its presence marks the fold done
        if not config.keep_fold_checkpoints and _is_main():
            shutil.rmtree(fold_dir / "checkpoint", ignore_errors=True)  # model.pt stays
    return collect_cv(run_dir, ids, labels, fold, score, config, test_ids, metric_name, test_digest)


def saved_digest(arrays: Mapping[str, np.ndarray]) -> str | None:
    """The test-set digest saved with test predictions (``test_digest`` of a dict or an open ``.npz``), None for
    runs saved before it was."""
    return str(arrays["test_digest"]) if "test_digest" in arrays else None


def digest_arrays(digest: str | None) -> dict[str, np.ndarray]:
    """``{"test_digest": digest}`` to save beside test predictions; empty when the digest is unknown."""
    return {} if digest is None else {"test_digest": np.asarray(digest)}


def check_fold_digests(run_dir: Path, parts: dict[int, dict[str, np.ndarray]], test_digest: str | None) -> None:
    """Refuse finished folds (``{k: fold k's predictions.npz}``) that predicted another test set than the one of
    content digest ``test_digest`` (the test file was edited since they trained; unknown digests pass), before
    any further fold trains on the edited file. Raises ValueError: one line, naming the folds."""
    other = sorted(k for k, part in parts.items() if None not in (test_digest, saved_digest(part))
                   and saved_digest(part) != test_digest)
    if other:
        raise ValueError(f"{run_dir}: folds {other} predicted another test set than the one read now (same ids, "
                         "other content: the test file changed since they trained); restore the file to finish "
                         f"this run, then predict the new one with `predict --run {run_dir} --test-file <file>` "
                         "(or remove those folds' predictions.npz to train them again on it)")


def collect_cv(run_dir: Path, ids: np.ndarray, labels: np.ndarray, fold: np.ndarray,
               score: Callable[[np.ndarray, np.ndarray], dict[str, float]], config: CVConfig,
               test_ids: np.ndarray | None, metric_name: str, test_digest: str | None = None) -> dict[str, Any]:
    """Assemble ``oof.npz``, ``test_predictions.npz`` and ``cv_metrics.json`` from the fold folders."""
    _barrier()
    parts = {}
    for k in range(config.folds):
        path = run_dir / f"fold{k}" / FOLD_PREDICTIONS
        if path.is_file():
            parts[k] = _load_npz(path)
    complete = len(parts) == config.folds
    per_fold = {}
    for k, part in parts.items():
        assert_same_ids(ids[fold == k], part["ids"], f"fold{k}/{FOLD_PREDICTIONS} (OOF)")
        metrics_path = run_dir / f"fold{k}" / "fold_metrics.json"
        fold_metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
        per_fold[k] = {**fold_metrics, **{f"fold_{n}": v for n, v in
                                          score(np.flatnonzero(fold == k), part["oof"]).items()}}
    result: dict[str, Any] = {"run_dir": str(run_dir), "complete": complete, "folds": per_fold,
                              "folds_done": sorted(parts), "cv": None, "oof": None, "test": None}
    if not complete:
        logger.info("folds done: %s of %d; the CV score needs them all", sorted(parts), config.folds)
        return result
    if test_ids is not None:
        check_fold_digests(run_dir, parts, test_digest)  # before oof.npz, which marks the run finished
    first = parts[0]["oof"]
    oof = np.zeros((len(ids),) + first.shape[1:], dtype=np.float64)
    for k, part in parts.items():
        oof[fold == k] = part["oof"]
    cv = score(np.arange(len(ids)), oof)
    if metric_name not in cv:
        raise KeyError(f"the score function returned {sorted(cv)}, not {metric_name!r}")
    _save_npz(run_dir / "oof.npz", ids=ids, labels=labels, fold=fold, oof=oof)
    result.update(cv=cv, oof=oof, cv_score=cv[metric_name])
    if test_ids is not None:
        names = [f"fold{k}" for k in range(config.folds)]
        fold_tests = [parts[k]["test"] for k in range(config.folds)]
        assert_same_ids(test_ids, parts[0]["test_ids"], "fold0 test predictions")
        result["test"] = average_predictions([parts[k]["test_ids"] for k in range(config.folds)], fold_tests, names)
        _save_npz(run_dir / "test_predictions.npz", test_ids=test_ids, test=result["test"],
                  per_fold=np.stack(fold_tests), **digest_arrays(test_digest))
    if _is_main():
        write_json_atomic(run_dir / "cv_metrics.json", {"cv": cv, "metric": metric_name, "folds": per_fold,
                                                    "n_folds": config.folds, "fold_seed": config.fold_seed})
    logger.info("CV %s = %.4f over %d folds (%d rows)", metric_name, cv[metric_name], config.folds, len(ids))
    return result
