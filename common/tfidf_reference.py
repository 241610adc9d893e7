"""The classical reference of the pair tasks: TF-IDF n-gram pair features + logistic regression.

Features of a pair (scikit-learn): ``[tfidf(a) + tfidf(b), |tfidf(a) - tfidf(b)|,
tfidf(a) * tfidf(b), cosine, Jaccard of the character (or id) sets, relative length difference]``
over 1..n-grams (rows L2-normalised, sublinear TF, n-grams seen at least twice), the
sum optional. Texts are strings (character n-grams, or n-grams of jieba's words) or sequences of integer ids
(id n-grams, e.g. Xiaobu's desensitized characters).

A task's ``baseline.py`` reads its data, calls :func:`fit_predict` (and
:func:`out_of_fold` on a k-fold run's ``folds.json``, so that the reference and the
neural CV score come from the very same folds), scores with the task's metric and
writes ``probabilities.npz`` and its submission (:func:`finish_reference`).
:func:`reference_parser` gives the flags every such command shares.
"""

from __future__ import annotations

import argparse
import json
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from common.config import ArgumentParser
from common.cv import assert_same_ids, cross_fit
from common.soft_labels import class_probabilities, fit_soft

Text = str | Sequence[int]
Pairs = tuple[Sequence[Text], Sequence[Text]]  # (N first texts, N second texts)


class PairFeatures:
    """TF-IDF pair features over character, word or id n-grams.

    Args:
        tokens: ``"char"`` (texts are strings), ``"word"`` (strings cut into words by
            jieba) or ``"ids"`` (texts are int sequences).
        ngram_max: n-grams of 1..``ngram_max`` tokens.
        with_sum: include ``tfidf(a) + tfidf(b)`` (Xiaobu measured it worse: 0.78
            against 0.81 AUC).

    Raises:
        ValueError: an unknown ``tokens``.
    """

    def __init__(self, tokens: str = "char", ngram_max: int = 3, with_sum: bool = True) -> None:
        if tokens == "char":
            self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, ngram_max), min_df=2, sublinear_tf=True)
        elif tokens in ("ids", "word"):  # word: jieba's words of a string, joined by spaces in _doc
            self.vectorizer = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", ngram_range=(1, ngram_max),
                                              min_df=2, sublinear_tf=True)
        else:
            raise ValueError(f"tokens must be 'char', 'word' or 'ids', got {tokens!r}")
        self.tokens, self.with_sum = tokens, with_sum

    def _doc(self, text: Text) -> str:
        if self.tokens == "char":
            return text
        if self.tokens == "ids":
            return " ".join(map(str, text))
        return segmented(text)

    def fit(self, texts: Iterable[Text]) -> "PairFeatures":
        """Fit the vocabulary and IDF on ``texts`` (any texts: labels are not used)."""
        self.vectorizer.fit([self._doc(t) for t in texts])
        return self

    def tfidf(self, texts: Sequence[Text]) -> sp.csr_matrix:
        """(N, V) TF-IDF rows of N texts over the fitted vocabulary (``vectorizer.get_feature_names_out()``)."""
        return self.vectorizer.transform([self._doc(t) for t in texts])

    def transform(self, first: Sequence[Text], second: Sequence[Text]) -> sp.csr_matrix:
        """(N, 3V + 3) sparse features of N pairs ((N, 2V + 3) without the sum)."""
        a, b = self.tfidf(first), self.tfidf(second)  # (N, V) each
        cosine = np.asarray(a.multiply(b).sum(axis=1))  # (N, 1)
        jaccard = np.array([[len(set(x) & set(y)) / max(len(set(x) | set(y)), 1)] for x, y in zip(first, second)])
        length = np.array([[abs(len(x) - len(y)) / max(len(x), len(y))] for x, y in zip(first, second)])
        dense = sp.csr_matrix(np.hstack([cosine, jaccard, length]))  # (N, 3)
        blocks = [a + b] if self.with_sum else []
        return sp.hstack(blocks + [abs(a - b), a.multiply(b), dense]).tocsr()


@lru_cache(maxsize=1 << 18)
def segmented(text: str) -> str:
    """``text`` cut into words by ``jieba.lcut``, joined by single spaces (whitespace tokens dropped).

    Cached: every fold's vectorizer reads the same texts, so each is cut once per process.
    jieba's start-up message is kept out of the log.
    """
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return " ".join(w for w in jieba.lcut(text) if not w.isspace())


def fit_predict(features: PairFeatures, train: Pairs, labels: Sequence[float], scored: Sequence[Pairs],
                C: float = 4.0, max_iter: int = 3000, class_weight: str | None = None) -> list[np.ndarray]:
    """Fit a logistic regression on the (already fitted) ``features`` of ``train``; P(label 1) for each of ``scored``.

    The regression is fitted by :func:`common.soft_labels.fit_soft`: 0/1 labels give the plain fit,
    graded targets in [0, 1] (``Task.targets``) the soft-target log loss, and the prediction is then
    the predicted target.

    Args:
        train: (first texts, second texts) of N labelled pairs; labels: (N,) 0/1 labels or targets in [0, 1];
            (N, C) one-hot rows of C > 2 classes (a multinomial regression).
        scored: pair lists to predict; an empty one gets an empty array.
        C, max_iter, class_weight: scikit-learn's ``LogisticRegression`` options.

    Returns:
        One (M_i,) probability array per entry of ``scored`` ((M_i, C) of (N, C) labels).

    Raises:
        ValueError: labels outside [0, 1]; ``class_weight`` with targets other than 0/1 (class weights
            need 0/1 labels).
    """
    model = LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight)
    labels = np.asarray(labels)
    fit_soft(model, features.transform(*train), labels)
    classes = labels.shape[1] if labels.ndim == 2 else 0

    def probabilities(pairs: Pairs) -> np.ndarray:
        if not len(pairs[0]):
            return np.zeros((0, classes) if classes else 0)
        X = features.transform(*pairs)
        return class_probabilities(model, X, classes) if classes else model.predict_proba(X)[:, 1]
    return [probabilities(pairs) for pairs in scored]


def out_of_fold(cv_run: str | Path, ids: Sequence[str] | None,
                predict_fold: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """Out-of-fold probabilities on the folds a k-fold run saved (``cv_run/folds.json``).

    Args:
        ids: (N,) ids of the pool the folds split, asserted equal to the saved ones
            (None: only the count is checked).
        predict_fold: ``(train_indices, held_indices) -> (len(held),) probabilities`` (``(len(held), C)`` of C
            classes).

    Returns:
        ``(oof (N,) or (N, C), fold (N,) fold of each row, number of folds)``.

    Raises:
        FileNotFoundError: no ``folds.json`` in ``cv_run``.
        ValueError: the saved folds are for another number of pairs, or other ids.
    """
    path = Path(cv_run) / "folds.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    fold = np.asarray(saved["fold"])
    if ids is not None and len(fold) != len(ids):
        raise ValueError(f"{path}: folds for {len(fold)} pairs, the pool has {len(ids)}")
    if ids is not None:
        assert_same_ids(np.asarray(saved["ids"]), np.asarray(ids), str(path))
    return cross_fit(fold, predict_fold), fold, saved["folds"]


def finish_reference(task, config, data, valid_probs: np.ndarray, test_probs: np.ndarray, run_dir: str | Path,
                     options: dict, oof: dict | None = None) -> dict:
    """Score, save and submit a reference's predictions the way a trained run's are; its result line (no timings).

    The validation rows are scored with the task's metric (its decisions, e.g. a threshold, tuned there);
    ``run_dir`` gets ``probabilities.npz`` (:func:`common.commands.predict.save_probabilities`, what blending
    reads), ``thresholds.json`` (the decision state), ``config.json`` (the task config it read the data with)
    and ``metrics.json`` (the scores, ``oof`` when given, and ``options``); the submission is named after the run
    folder, ``<run folder name>-<task metric name><validation score>`` (``tfidf-baseline-accuracy0.7290``; a pair
    contest's ``score0.8571``, as its trained runs' submissions and the report name it), so the references of two
    contests sharing a submission folder do not overwrite each other.

    Args:
        data: the task's :class:`common.task.Splits`; valid_probs, test_probs: (V,) and (T,) P(label 1).
        oof: out-of-fold scores on a k-fold run's folds, reported as they are.

    Raises:
        FileExistsError: ``run_dir`` holds another kind of run (a trained run, a k-fold run: ``--run-dir`` of one).
        ValueError: ``run_dir`` holds a reference read with another task config (other data files, columns,
            labels: another contest whose contest file has the same name), before anything is written.
    """
    from common.commands.predict import save_probabilities
    from common.config import save_config_json
    from common.io import write_json_atomic
    from common.run import changed_options, check_folder_kind

    run_dir = Path(run_dir)
    check_folder_kind(run_dir, "baseline")  # a trained run's or a k-fold run's folder: its files are not ours
    if (run_dir / "config.json").is_file():
        changed = changed_options(config, run_dir / "config.json")
        if changed:
            raise ValueError(f"{run_dir} holds a reference read with other options ({'; '.join(changed)}): another "
                             "contest's or other data's; give --run-dir (or --run-name) for this one")
    metrics, state = task.score(data.valid, valid_probs)
    save_probabilities(run_dir / "probabilities.npz", task, data.valid, valid_probs, data.test, test_probs)
    write_json_atomic(run_dir / "thresholds.json", state)
    save_config_json(config, run_dir / "config.json")
    result: dict = {"valid": metrics, "thresholds": state}
    if oof is not None:
        result["oof"] = oof
    write_json_atomic(run_dir / "metrics.json", {**result, "args": options})
    name = f"{run_dir.name}-{task.metric_name}{metrics[task.metric_name]:.4f}"
    result.update(task.write_submission(config, data.test, test_probs, state, name), run_dir=str(run_dir),
                  train_pairs=len(data.train))
    return result


def reference_parser(description: str, data_dir: str, submission_dir: str, ngram_max: int,
                     run_dir: str | None = None, folds: bool = False) -> argparse.ArgumentParser:
    """The flags of a task's TF-IDF reference: ``--data-dir --submission-dir [--run-dir] --ngram-max --C [--folds-from]``."""
    parser = ArgumentParser(description=description)
    parser.add_argument("--data-dir", default=data_dir)
    parser.add_argument("--submission-dir", default=submission_dir)
    if run_dir is not None:
        parser.add_argument("--run-dir", default=run_dir, help="metrics and probabilities go here")
    parser.add_argument("--ngram-max", type=int, default=ngram_max)
    parser.add_argument("--C", type=float, default=4.0, help="inverse L2 strength of the regression")
    if folds:
        parser.add_argument("--folds-from", default="",
                            help="a k-fold run folder: also score out-of-fold on its folds")
    return parser
