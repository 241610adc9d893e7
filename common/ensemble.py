"""Ensembles of k-fold runs: Caruana's greedy selection and a logistic stack, scored honestly on the folds.

A member is anything with out-of-fold (OOF) probabilities on one labelled pool and
probabilities on the test set, saved as a k-fold run folder (:mod:`common.cv`):
``oof.npz`` (ids, labels, fold, oof) and ``test_predictions.npz`` (test_ids, test =
the fold mean, per_fold). Neural k-fold runs are such folders; :func:`feature_member`
makes two non-neural ones on the same folds (TF-IDF + logistic regression, and a
gradient-boosted model on dense pair statistics). Every member must hold the same
ids, labels and folds (:func:`check_members`) before anything is combined.

Two ways to combine (N,) probabilities of label 1 from K members (or (N, C) probabilities of a task of
C > 2 classes: the same, class by class):

* :func:`caruana_select`: ensemble selection from a library of models (Caruana,
  Niculescu-Mizil, Crew and Ksikes, ICML 2004): sorted initialisation with the best
  n members, then greedy forward steps *with replacement*, each adding the member
  whose inclusion gives the best metric of the averaged probabilities; the weights
  are the selection counts normalised, taken at the best step seen.
* :func:`fit_stack`: stacked generalization (Wolpert, Neural Networks 5(2), 1992)
  with a logistic regression on the members' OOF logits as the level-1 model
  (one per group, e.g. Sohu's subtask, when the task gives groups); of C > 2 classes,
  a multinomial one on the members' K * C log-probabilities.

The stack and the non-neural members are fitted to the task's targets in [0, 1]
(``Task.targets``: the 0/1 labels, or graded labels mapped to [0, 1]) by
:func:`common.soft_labels.fit_soft`, which is the plain fit for 0/1 labels.

Both are fitted on OOF rows and so both scores on those rows are optimistic: the
weights were chosen on the labels they are scored against. :func:`cross_fit` gives
the honest number: for each fold k the combiner is fitted on the OOF rows of the
other folds and predicts fold k, the same scheme that made the members' OOF.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from common.cv import assert_same_ids, cross_fit, saved_digest
from common.match_features import alignment_statistics, pair_statistics, word2vec_alignment
from common.soft_labels import check_targets, class_probabilities, fit_soft
from common.tfidf_reference import PairFeatures


OOF_FILE, TEST_FILE = "oof.npz", "test_predictions.npz"
Score = Callable[[np.ndarray], float]  # (N,) or (N, C) probabilities of fixed rows -> the task's metric


def weighted(weights: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """(N,) or (N, C): the ``weights`` (K,) mix of (K, N) or (K, N, C) member ``predictions``."""
    return np.tensordot(np.asarray(weights, dtype=np.float64), predictions, axes=1)


# ------------------------------------------------------------------ members
@dataclass
class Member:
    """One k-fold run's predictions.

    Attributes:
        run_dir: where it was read from.
        ids, labels, fold: (N,) pool ids (str), 0/1 labels (class indices of C > 2 classes) and fold numbers.
        oof: (N,) out-of-fold P(label 1); (N, C) every class's of C > 2 classes (so are the test arrays).
        test_ids: (M,) test ids; test: (M,) fold-mean P(label 1); per_fold: (K, M).
        name: the member spec (e.g. ``tfidf``); default the run folder's name.
        test_digest: the content digest of the test set it predicted (:meth:`common.task.Task.examples_digest`);
            None for runs saved before it was recorded.
    """

    run_dir: Path
    ids: np.ndarray
    labels: np.ndarray
    fold: np.ndarray
    oof: np.ndarray
    test_ids: np.ndarray
    test: np.ndarray
    per_fold: np.ndarray
    name: str = ""
    test_digest: str | None = None

    def __post_init__(self) -> None:
        if not self.name and self.run_dir is not None:
            self.name = Path(self.run_dir).name

    def other_labels(self, labels: np.ndarray, rows: np.ndarray | None = None) -> int:
        """How many of ``labels`` (n,) differ from the member's own at its pool rows ``rows`` (n,; None: all N):
        ids count rows by position (``train:0:k``), so a training file reordered or edited since the member
        was made keeps the ids and moves the labels. All n when the shapes differ."""
        theirs, ours = (self.labels if rows is None else self.labels[rows]), np.asarray(labels)
        return int(np.sum(theirs != ours)) if theirs.shape == ours.shape else len(ours)

    def check_test_digest(self, digest: str | None, what: str) -> None:
        """Refuse test predictions of another test set than ``what``'s, of content digest ``digest``: ids count
        rows (``test:k``) or repeat the file's, so a test file edited since keeps them and changes the texts.
        Either digest None (a run saved before digests): not checked.

        Raises:
            ValueError: one line naming the run folder.
        """
        if None not in (digest, self.test_digest) and digest != self.test_digest:
            raise ValueError(f"{self.run_dir}/{TEST_FILE}: predictions of another test set than {what} (same ids, "
                             "other content: the test file changed between them); restore the test file the run "
                             f"predicted, and predict a new file with `predict --run {self.run_dir} --test-file "
                             "<file>` (or train on the new one under another run name)")


def load_member(run_dir: str | Path, name: str | None = None) -> Member:
    """Read a k-fold run folder (``oof.npz`` and ``test_predictions.npz``).

    Raises:
        FileNotFoundError: either file missing (not a finished k-fold run).
        ValueError: predictions that are not (N,) probabilities of label 1 or (N, C) of C > 2 classes, or test
            predictions of another shape than the OOF ones.
    """
    run_dir = Path(run_dir)
    arrays = {}
    for file in (OOF_FILE, TEST_FILE):
        path = run_dir / file
        if not path.is_file():
            if (run_dir / "folds.json").is_file():  # a k-fold run with folds to train (--only-folds, a kill)
                done = len(list(run_dir.glob("fold*/model.pt")))
                raise FileNotFoundError(f"{path} missing: {run_dir} is a k-fold run not finished ({done} fold "
                                        "models): rerun its cv command without --only-folds to train the rest")
            raise FileNotFoundError(f"{path} missing: is {run_dir} a finished k-fold run (common.commands.cv)?")
        with np.load(path, allow_pickle=False) as data:
            arrays.update({k: data[k] for k in data.files})
    for key in ("oof", "test"):
        shape = arrays[key].shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] > 2)):
            raise ValueError(f"{run_dir}: {key} has shape {shape}; ensembles combine (N,) probabilities of label 1 "
                             "or (N, C) of C > 2 classes")
    if arrays["oof"].shape[1:] != arrays["test"].shape[1:]:
        raise ValueError(f"{run_dir}: OOF predictions of shape {arrays['oof'].shape}, test {arrays['test'].shape}: "
                         "not of the same classes")
    test = arrays["test"]
    return Member(run_dir, arrays["ids"].astype(str), arrays["labels"], arrays["fold"],
                  arrays["oof"].astype(np.float64), arrays["test_ids"].astype(str), test.astype(np.float64),
                  arrays.get("per_fold", test[None]).astype(np.float64), name or run_dir.name,
                  saved_digest(arrays))


def check_members(members: Sequence[Member]) -> None:
    """Refuse to combine members that are not on the same rows, labels, folds and test ids as the first.

    Raises:
        ValueError: one line naming the member's run folder and what differs.
    """
    ref = members[0]
    for m in members[1:]:
        assert_same_ids(ref.ids, m.ids, f"{m.run_dir}/{OOF_FILE} (against {ref.run_dir})")
        if m.oof.shape[1:] != ref.oof.shape[1:]:
            raise ValueError(f"{m.run_dir}/{OOF_FILE}: predictions of shape {m.oof.shape}, {ref.run_dir}'s "
                             f"{ref.oof.shape}: members must predict the same classes")
        if not np.array_equal(ref.labels, m.labels):
            raise ValueError(f"{m.run_dir}/{OOF_FILE}: labels differ from {ref.run_dir}'s on the same ids")
        if not np.array_equal(ref.fold, m.fold):
            raise ValueError(f"{m.run_dir}/{OOF_FILE}: folds differ from {ref.run_dir}'s; members must be "
                             "scored on the same folds (same folds.json)")
        assert_same_ids(ref.test_ids, m.test_ids, f"{m.run_dir}/{TEST_FILE} (against {ref.run_dir})")
        m.check_test_digest(ref.test_digest, f"{ref.run_dir}'s")


# ------------------------------------------------------- combining members
def better(a: float, b: float, greater_is_better: bool) -> bool:
    """Is score ``a`` strictly better than ``b``?"""
    return a > b if greater_is_better else a < b


@dataclass
class Selection:
    """Caruana's ensemble: how often each member was picked, and the path that led there.

    Attributes:
        counts: (K,) selection counts of the returned ensemble (initialisation included).
        score: its metric on the rows it was selected on (optimistic: chosen on them).
        init: n, the number of best members the sorted initialisation started from.
        history: the metric after the initialisation and after every greedy step.
    """

    counts: np.ndarray
    score: float
    init: int
    history: list[float]

    @property
    def weights(self) -> np.ndarray:
        """(K,) counts / their sum: non-negative, summing to 1."""
        return self.counts / self.counts.sum()


def caruana_select(predictions: np.ndarray, score: Score, greater_is_better: bool = True, iterations: int = 50,
                   init_max: int = 0, patience: int = 10) -> Selection:
    """Greedy forward ensemble selection with replacement (Caruana et al., ICML 2004).

    Sorted initialisation: the members ranked by their own score; the ensemble starts
    as the mean of the best n of them, n in 1..``init_max`` chosen by its score. Then
    each step adds (again, if already in) the member whose addition gives the best
    score of the mean probability; the returned ensemble is the best one seen (ties:
    the earlier, smaller one), so its score is at least the best member's. Stops after
    ``iterations`` steps or ``patience`` steps without improvement.

    Args:
        predictions: (K, N) each member's probabilities of the same N rows ((K, N, C) of C classes).
        score: (N,) (or (N, C)) ensemble probabilities -> the metric on those rows.
        greater_is_better: the metric's direction.
        iterations: greedy steps at most.
        init_max: largest n tried for the initialisation (0: all K).
        patience: stop after this many steps without a better score (0: never early).

    Returns:
        The :class:`Selection` (``weights`` sum to 1).

    Raises:
        ValueError: no member, or predictions that are not (K, N) or (K, N, C).
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim not in (2, 3) or not len(predictions):
        raise ValueError(f"caruana_select needs (K, N) or (K, N, C) predictions, got shape {predictions.shape}")
    K = len(predictions)
    own = np.array([score(p) for p in predictions])
    order = np.argsort(-own if greater_is_better else own, kind="stable")  # best member first
    best_n, best = 1, own[order[0]]
    for n in range(2, min(init_max or K, K) + 1):
        s = score(predictions[order[:n]].mean(axis=0))
        if better(s, best, greater_is_better):
            best_n, best = n, s
    counts = np.zeros(K, dtype=np.int64)
    counts[order[:best_n]] = 1
    total = predictions[order[:best_n]].sum(axis=0)  # (N,) or (N, C) sum of the chosen members' probabilities
    best_counts, history, stale = counts.copy(), [float(best)], 0
    for _ in range(iterations):
        size = counts.sum() + 1
        step = [score((total + predictions[j]) / size) for j in range(K)]
        j = int(np.argmax(step) if greater_is_better else np.argmin(step))  # first of the ties
        counts[j] += 1
        total += predictions[j]
        history.append(float(step[j]))
        if better(step[j], best, greater_is_better):
            best, best_counts, stale = step[j], counts.copy(), 0
        else:
            stale += 1
            if patience and stale >= patience:
                break
    return Selection(best_counts, float(best), best_n, history)


def logit(probs: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """log(p / (1 - p)) of probabilities clipped to [eps, 1 - eps]; same shape."""
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def stack_features(predictions: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The level-1 inputs of (K, N) member probabilities of label 1: (N, K) logits; of (K, N, C) class
    probabilities: (N, K * C) log-probabilities clipped at ``eps`` (member k's class c in column k * C + c)."""
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim == 2:
        return logit(predictions, eps).T
    K, N, C = predictions.shape
    return np.log(np.clip(predictions, eps, 1.0)).transpose(1, 0, 2).reshape(N, K * C)


@dataclass
class Stack:
    """Fitted level-1 logistic regressions: one over all rows, and one per group when groups were given.

    ``models[g]`` is a ``LogisticRegression`` or, for a group whose training rows hold
    one target value only (one class of 0/1 labels), that value as a float constant ((C,) array
    of C > 2 classes). Rows of a group not seen in fitting use the model of all rows (``models[None]``).
    ``classes``: C > 2 for a stack of class probabilities, else 0.
    """

    models: dict
    classes: int = 0


def fit_stack(predictions: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None,
              C: float = 1.0) -> Stack:
    """Stacked generalization (Wolpert 1992): a logistic regression on the members' logits.

    Args:
        predictions: (K, N) members' OOF probabilities of label 1; (K, N, C) of C > 2 classes.
        labels: (N,) 0/1 labels or targets in [0, 1] (``Task.targets``; fitted by
            :func:`common.soft_labels.fit_soft`, the plain fit for 0/1); (N, C) class probabilities (one-hot
            labels) with (K, N, C) predictions: a multinomial regression on :func:`stack_features`.
        groups: (N,) optional group keys (e.g. a subtask): one regression per group.
        C: inverse L2 strength (scikit-learn's).

    Returns:
        The :class:`Stack`; :func:`apply_stack` predicts with it.

    Raises:
        ValueError: labels outside [0, 1].
    """
    X, y = stack_features(predictions), np.asarray(labels)  # (N, K) or (N, K * C)
    classes = y.shape[1] if y.ndim == 2 else 0

    def one(rows: np.ndarray) -> LogisticRegression | float | np.ndarray:
        if len(np.unique(y[rows], axis=0)) < 2:  # one target value (one class): that value
            if classes:
                return y[rows][0].astype(np.float64) if len(rows) else np.full(classes, 1.0 / classes)
            return float(y[rows][0]) if len(rows) else 0.5
        return fit_soft(LogisticRegression(C=C, max_iter=1000), X[rows], y[rows])

    models = {None: one(np.arange(len(y)))}
    if groups is not None:
        groups = np.asarray(groups)
        models.update({g: one(np.flatnonzero(groups == g)) for g in np.unique(groups).tolist()})
    return Stack(models, classes)


def apply_stack(stack: Stack, predictions: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """(N,) P(label 1) of the stack given (K, N) member probabilities (and (N,) groups if fitted with them);
    (N, C) of (K, N, C) class probabilities."""
    X = stack_features(predictions)  # (N, K) or (N, K * C)
    out = np.zeros((len(X), stack.classes) if stack.classes else len(X))
    keys = np.zeros(len(X), dtype=int) if groups is None else np.asarray(groups)
    for g in np.unique(keys).tolist():
        rows = np.flatnonzero(keys == g)
        model = stack.models[None] if groups is None else stack.models.get(g, stack.models[None])
        if isinstance(model, (float, np.ndarray)):
            out[rows] = model
        else:
            out[rows] = class_probabilities(model, X[rows], stack.classes) if stack.classes else \
                model.predict_proba(X[rows])[:, 1]
    return out


def condition_groups(task, pool: Sequence, test: Sequence) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(N,) and (M,) the condition id (e.g. Sohu's subtask) of each pool and test row: the groups of the
    per-group stack and of a feature member's per-group fits. (None, None) for a task without conditions
    (``PairTask.conditions`` gives None, or the task has no such method)."""
    conditions = getattr(task, "conditions", None)
    pool_conditions = None if conditions is None else conditions(pool)
    if pool_conditions is None:
        return None, None
    return np.asarray(pool_conditions), np.asarray(conditions(test))


def stack_coefficients(stack: Stack, names: Sequence[str]) -> dict:
    """The all-rows regression's ``{member: coefficient on its logit, "intercept": b}``; of C > 2 classes,
    ``{member: [class c's coefficient on the member's log P(c), for each c], "intercept": [b_c]}``."""
    model = stack.models[None]
    if isinstance(model, (float, np.ndarray)):
        return {"constant": np.asarray(model).round(4).tolist()}
    if stack.classes:
        C, coef = stack.classes, np.zeros((stack.classes, len(names) * stack.classes))
        coef[np.asarray(model.classes_, dtype=int)] = model.coef_  # (C, K * C); a class never seen keeps zeros
        return {**{name: [round(float(coef[c, k * C + c]), 4) for c in range(C)] for k, name in enumerate(names)},
                "intercept": model.intercept_.round(4).tolist()}
    return {**dict(zip(names, model.coef_[0].round(4).tolist())), "intercept": round(float(model.intercept_[0]), 4)}


# -------------------------------------------------- non-neural members
FEATURE_MEMBERS = ("tfidf", "tfidf-word", "gbm")
GBM_FEATURES = ("statistics", "alignment")


@dataclass
class FeatureOptions:
    """Options of the non-neural members.

    Attributes:
        ngram_max: TF-IDF 1..n-grams (0: 3 for characters, 2 for ids as the task
            references use, 2 for words).
        with_sum: include ``tfidf(a) + tfidf(b)`` (None: for string texts only; the
            Xiaobu reference measured it worse on ids).
        C: the TF-IDF regression's inverse L2 strength (the references' 4).
        gbm_iterations, gbm_learning_rate, gbm_leaves: ``HistGradientBoostingClassifier``'s
            ``max_iter``, ``learning_rate``, ``max_leaf_nodes``.
        gbm_svd: components of a truncated SVD of ``tfidf(a) + tfidf(b)`` added to the
            pair statistics (what the pair is about; 0: none; at most the vocabulary size - 1).
        gbm_features: ``"statistics"``: the pair statistics, the TF-IDF cosine and the SVD;
            ``"alignment"`` (default): also word- and sequence-level overlap
            (:func:`common.match_features.alignment_statistics`), word2vec soft matches
            (:func:`common.match_features.word2vec_alignment`), the cosine of the word (or id)
            TF-IDF vectors and of the two texts' SVD vectors (LSA).
        seed: random state of the SVD and the boosting.
    """

    ngram_max: int = 0
    with_sum: bool | None = None
    C: float = 4.0
    gbm_iterations: int = 200
    gbm_learning_rate: float = 0.05
    gbm_leaves: int = 15
    gbm_svd: int = 16
    gbm_features: str = "alignment"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.gbm_features not in GBM_FEATURES:
            raise ValueError(f"gbm_features must be one of {list(GBM_FEATURES)}, got {self.gbm_features!r}")


# the FeatureOptions each member is fitted with (the others change nothing in it)
MEMBER_OPTIONS = {"tfidf": ("ngram_max", "with_sum", "C"), "tfidf-word": ("ngram_max", "with_sum", "C"),
                  "gbm": ("ngram_max", "with_sum", "gbm_iterations", "gbm_learning_rate", "gbm_leaves", "gbm_svd",
                          "gbm_features", "seed")}


def member_options(spec: str, options: FeatureOptions | dict) -> dict:
    """``{option: value}`` of the options member ``spec`` is fitted with (:data:`MEMBER_OPTIONS`)."""
    values = options if isinstance(options, dict) else asdict(options)
    return {k: values[k] for k in MEMBER_OPTIONS[spec] if k in values}


def text_kind(pairs: Sequence[tuple]) -> str:
    """``"char"`` when the texts are strings, ``"ids"`` for sequences of token ids."""
    return "char" if pairs and isinstance(pairs[0][0], str) else "ids"


def tfidf_rows(features: PairFeatures, texts: Sequence) -> sp.csr_matrix:
    """(N, V) L2-normalised TF-IDF rows of ``texts`` under the fitted ``features``."""
    return features.vectorizer.transform([features._doc(t) for t in texts])


def row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 1) cosine of the rows of two (N, D) arrays (0 for a zero row)."""
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return ((a * b).sum(axis=1) / norms)[:, None]


def member_tokens(spec: str, pairs: Sequence[tuple], options: FeatureOptions) -> tuple[str, int, bool]:
    """``(tokens, ngram_max, with_sum)`` of a member's :class:`PairFeatures`: characters (1-3-grams, with the sum)
    for string texts, ids (1-2-grams, without) for id texts, jieba words for ``tfidf-word``; options override.

    Raises:
        ValueError: ``tfidf-word`` on id texts.
    """
    kind = text_kind(pairs)
    if spec == "tfidf-word":
        if kind != "char":
            raise ValueError("tfidf-word: the texts are token ids, not strings that jieba can cut into words")
        kind = "word"
    ngram_max = options.ngram_max or (3 if kind == "char" else 2)
    with_sum = options.with_sum if options.with_sum is not None else kind != "ids"
    return kind, ngram_max, with_sum


GROUP_COLUMN = 13  # the gbm's categorical group column: after the 13 pair statistics


def gbm_row_columns(first: Sequence, second: Sequence, groups: np.ndarray | None = None,
                    options: FeatureOptions | None = None, fit_rows: int | None = None) -> np.ndarray:
    """(R, C) the gbm member's label-free columns of R pairs, fitted on nothing but these texts.

    :func:`pair_statistics` (13), then the group id when ``groups`` (R,) is given (column
    :data:`GROUP_COLUMN`, categorical), then with ``options.gbm_features == "alignment"``
    :func:`alignment_statistics` (15) and :func:`word2vec_alignment` (3; its vectors are trained
    without labels on these R pairs' texts, so the member passes the pool and the test set together;
    with ``fit_rows``, on the first ``fit_rows`` pairs' texts only).
    """
    options = options or FeatureOptions()
    columns = [pair_statistics(first, second)]
    if groups is not None:
        columns.append(np.asarray(groups).astype(np.float64)[:, None])
    if options.gbm_features == "alignment":
        columns += [alignment_statistics(first, second),
                    word2vec_alignment(first, second, seed=options.seed, fit_rows=fit_rows)]
    return np.hstack(columns)


@dataclass
class GbmFoldColumns:
    """The gbm member's columns fitted on one fold's training pairs (the IDF, the SVD, the word IDF).

    Attributes:
        features: the member's TF-IDF (:class:`PairFeatures`, tokens from :func:`member_tokens`).
        svd: a truncated SVD of ``tfidf(a) + tfidf(b)`` (``options.gbm_svd`` components), or None
            when the vocabulary is too small.
        words: unigram word (ids: id) TF-IDF for the word cosine, with ``gbm_features == "alignment"`` only.
    """

    features: PairFeatures
    svd: TruncatedSVD | None
    words: PairFeatures | None

    @classmethod
    def fit(cls, first: Sequence, second: Sequence, kind: str, ngram_max: int, with_sum: bool,
            options: FeatureOptions) -> "GbmFoldColumns":
        """Fit on the (T,) training pairs ``zip(first, second)`` of a fold; nothing else is seen."""
        texts = [t for pair in zip(first, second) for t in pair]
        features = PairFeatures(kind, ngram_max, with_sum).fit(texts)
        a, b = tfidf_rows(features, first), tfidf_rows(features, second)
        components = min(options.gbm_svd, a.shape[1] - 1)  # TruncatedSVD needs fewer than V
        svd = TruncatedSVD(components, random_state=options.seed).fit(a + b) if components > 0 else None
        words = PairFeatures("word" if kind == "char" else kind, 1, False).fit(texts) \
            if options.gbm_features == "alignment" else None
        return cls(features, svd, words)

    def transform(self, first: Sequence, second: Sequence) -> np.ndarray:
        """(R, D) columns of R pairs: the TF-IDF cosine, the SVD of ``tfidf(a) + tfidf(b)``, and with alignment
        the cosine of the two texts' SVD vectors (LSA) and of their word TF-IDF vectors."""
        a, b = tfidf_rows(self.features, first), tfidf_rows(self.features, second)  # (R, V) each
        columns = [np.asarray(a.multiply(b).sum(axis=1))]
        if self.svd is not None:
            columns.append(self.svd.transform(a + b))
            if self.words is not None:
                columns.append(row_cosine(self.svd.transform(a), self.svd.transform(b)))
        if self.words is not None:
            columns.append(np.asarray(tfidf_rows(self.words, first).multiply(tfidf_rows(self.words, second)).sum(axis=1)))
        return np.hstack(columns)


def gbm_classifier(options: FeatureOptions, grouped: bool) -> HistGradientBoostingClassifier:
    """The gbm member's unfitted model; ``grouped``: column :data:`GROUP_COLUMN` is the categorical group."""
    return HistGradientBoostingClassifier(
        max_iter=options.gbm_iterations, learning_rate=options.gbm_learning_rate, max_leaf_nodes=options.gbm_leaves,
        early_stopping=False, random_state=options.seed, categorical_features=[GROUP_COLUMN] if grouped else None)


@dataclass
class ExtraRows:
    """Labelled rows a feature member trains on and never scores: a task's implied rows (``Task.implied_rows``).

    Attributes:
        pairs: (E,) ``(text_a, text_b)``; labels: (E,) the targets the models fit (``Task.targets``:
            0/1 labels, or graded labels mapped to [0, 1]).
        fold: (E,) the fold of the pool rows each was derived from: fold k's model trains on
            those with another fold, as a neural fold model does.
        groups: (E,) condition ids, or None (the task has none).
    """

    pairs: list
    labels: np.ndarray
    fold: np.ndarray
    groups: np.ndarray | None = None


def implied_extra_rows(task, config: Any, pool: Sequence, fold: np.ndarray, data: Any) -> ExtraRows | None:
    """The task's implied rows (``task.implied_rows``) of each fold's pool rows, each given that fold.

    Args:
        task, config, data: the task, the first run's config and its loaded splits.
        pool: N pool examples; fold: (N,) their folds.

    Returns:
        The E rows with their (E,) folds and targets (``task.targets``), or None when the task implies none.
    """
    folds, examples = [], []
    for k in np.unique(fold).tolist():
        implied = task.implied_rows(config, [pool[i] for i in np.flatnonzero(fold == k)], data)
        examples += implied
        folds += [k] * len(implied)
    if not examples:
        return None
    pairs, labels = task.text_pairs(examples), task.targets(examples)
    groups = condition_groups(task, examples, [])[0]
    return ExtraRows(pairs, np.asarray(labels), np.asarray(folds), groups)


def member_threads() -> threadpool_limits:
    """Context in which the feature members compute and fit: one BLAS and one OpenMP thread (threadpoolctl).

    The word2vec similarities and the SVD sum floats in an order that depends on the BLAS thread count
    (measured differences of 1e-7 and 4e-14 between 1 and 2 threads), and ``HistGradientBoostingClassifier``
    bins its columns at quantiles, so a last-bit change moved the Sohu gbm member's 5-fold OOF score from
    0.6755 (1 thread) to 0.6744 (2 threads) on the same folds; the boosting itself gave the same model at
    either count. Under this context the member is the same for a seed at any thread count (the same
    library versions and OpenBLAS kernel set assumed: :mod:`common.blas` pins one on x86-64, since the
    SkylakeX and Haswell kernels gave 0.6762 and 0.6749 on the same machine). One thread also keeps the
    member's loops from fighting another process for the cores: ``tests/test_feature_members_bench.py`` took 52 s beside a two-thread torch load
    without it and 18 s with it, 12 s alone either way. The caller's limits are restored on exit.
    """
    return threadpool_limits(limits=1)


def feature_member(spec: str, pairs: Sequence[tuple], labels: np.ndarray, fold: np.ndarray,
                   test_pairs: Sequence[tuple], groups: np.ndarray | None = None,
                   test_groups: np.ndarray | None = None,
                   options: FeatureOptions | None = None, extra: ExtraRows | None = None,
                   fit_test_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """OOF and per-fold test probabilities of a non-neural member, on given folds.

    ``tfidf``: :mod:`common.tfidf_reference`'s pair features and logistic regression
    (one per group when ``groups`` are given); ``tfidf-word``: the same over n-grams of
    jieba's words instead of characters (string texts only). ``gbm``: scikit-learn's
    ``HistGradientBoostingClassifier`` (histogram gradient boosting as in LightGBM, Ke et
    al., NeurIPS 2017) on :func:`pair_statistics`, the TF-IDF cosine, an SVD of
    ``tfidf(a) + tfidf(b)`` and the group as a categorical feature, and with
    ``options.gbm_features == "alignment"`` the alignment features (:class:`FeatureOptions`). In both, fold k's
    vectorizer (IDF), SVD and model see only the other folds' pairs; ``per_fold[k]``
    holds fold k's model's test probabilities. ``extra`` rows train the models but not the
    vocabulary, IDF or SVD, which count each pool pair's texts once. Everything runs in
    :func:`member_threads`, so the output does not depend on the machine's thread count.

    Args:
        spec: ``"tfidf"``, ``"tfidf-word"`` or ``"gbm"``.
        pairs: (N,) ``(text_a, text_b)`` (strings, or sequences of ids) of the pool.
        labels: (N,) 0/1 labels or targets in [0, 1] (``Task.targets``): the models are fitted to them by
            :func:`common.soft_labels.fit_soft` (the plain fit for 0/1); (N, C) one-hot rows of C > 2 classes
            (multinomial models); fold: (N,) fold numbers (a k-fold run's).
        test_pairs: (M,) test pairs; groups / test_groups: optional (N,) / (M,) int group ids.
        extra: rows fold k's model also trains on (those of another fold), never scored.
        fit_test_rows: the gbm's word2vec (:func:`gbm_row_columns`) learns from the texts of the pool, the
            extra rows and the first ``fit_test_rows`` test pairs only (None: every test pair). A member
            predicting a later test set passes the set it was fitted with first and counts it here: the
            same vectors, so the same OOF predictions and fold models.

    Returns:
        ``(oof (N,), per_fold (K, M))``; of (N, C) labels ``(oof (N, C), per_fold (K, M, C))``.

    Raises:
        ValueError: an unknown spec; ``tfidf-word`` on id texts; labels outside [0, 1].
    """
    if spec not in FEATURE_MEMBERS:
        raise ValueError(f"unknown member {spec!r}: a k-fold run folder or one of {list(FEATURE_MEMBERS)}")
    check_targets(labels, len(pairs), f"member {spec}")  # before any feature is computed
    with member_threads():
        return _feature_member(spec, pairs, labels, fold, test_pairs, groups, test_groups, options, extra,
                               fit_test_rows)


def _feature_member(spec: str, pairs: Sequence[tuple], labels: np.ndarray, fold: np.ndarray,
                    test_pairs: Sequence[tuple], groups: np.ndarray | None, test_groups: np.ndarray | None,
                    options: FeatureOptions | None, extra: ExtraRows | None,
                    fit_test_rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`feature_member`'s work, called under :func:`member_threads`."""
    options = options or FeatureOptions()
    kind, ngram_max, with_sum = member_tokens(spec, pairs, options)
    labels = np.asarray(labels)
    N = len(pairs)
    if extra is not None and len(extra.pairs):  # rows N..L-1: the extra rows, labelled like the pool
        pairs, labels = list(pairs) + list(extra.pairs), np.concatenate([labels, np.asarray(extra.labels)])
        if groups is not None:
            groups = np.concatenate([groups, np.asarray(extra.groups)])
    L = len(pairs)  # rows 0..N-1 of first/second are the pool, N..L-1 the extra rows, L.. the test set
    first, second = [p[0] for p in pairs] + [p[0] for p in test_pairs], [p[1] for p in pairs] + [p[1] for p in test_pairs]
    folds = np.unique(fold).tolist()
    per_fold = np.zeros((len(folds), len(test_pairs)) + labels.shape[1:])  # (K, M) or (K, M, C)
    if spec == "gbm":  # (L + M, C) label-free columns, the same for every fold
        rows = gbm_row_columns(first, second, None if groups is None else np.concatenate([groups, test_groups]),
                               options, None if fit_test_rows is None else L + fit_test_rows)

    def fit_predict(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        k = folds.index(int(fold[held[0]]))
        # The vocabulary, IDF and SVD come from the fold's pool rows only: an extra row copies a pool row's texts,
        # and counting them twice lowered the IDF of exactly the texts it copies (with Sohu's A-only implied rows,
        # B's TF-IDF member lost 0.015 F1 though no B row was added). The models train on the extra rows too.
        texts_from = train
        if L > N:
            train = np.concatenate([train, N + np.flatnonzero(np.asarray(extra.fold) != folds[k])])
        if spec != "gbm":
            features = PairFeatures(kind, ngram_max, with_sum).fit([t for i in texts_from for t in (first[i], second[i])])
            X = features.transform(first, second)  # (L + M, F) sparse
            model = partial(LogisticRegression, C=options.C, max_iter=3000)
            return _fit_per_group(model, X[:L], X[L:], labels, train, held, groups, test_groups, per_fold[k])
        columns = GbmFoldColumns.fit([first[i] for i in texts_from], [second[i] for i in texts_from], kind, ngram_max,
                                     with_sum, options)
        X = np.hstack([rows, columns.transform(first, second)])
        model = fit_soft(gbm_classifier(options, grouped=groups is not None), X[train], labels[train])
        per_fold[k] = predicted(model, X[L:], labels) if len(test_pairs) else per_fold[k]
        return predicted(model, X[held], labels)

    return cross_fit(fold, fit_predict), per_fold


def predicted(model: Any, X: Any, labels: np.ndarray) -> np.ndarray:
    """(R,) P(label 1) of a model fitted to (N,) ``labels``; (R, C) every class's of one fitted to (N, C) ones."""
    return class_probabilities(model, X, labels.shape[1]) if labels.ndim == 2 else model.predict_proba(X)[:, 1]


def _fit_per_group(make: Callable, X, X_test, labels: np.ndarray, train: np.ndarray, held: np.ndarray,
                   groups: np.ndarray | None, test_groups: np.ndarray | None, test_out: np.ndarray) -> np.ndarray:
    """Fit ``make()`` on the ``train`` rows of ``X`` to ``labels`` (one per group when given; :func:`fit_soft`).

    Fills ``test_out`` (M,) ((M, C) of (N, C) labels) with its test probabilities and returns the ``held`` rows'.
    A group whose ``train`` rows hold one target value (one class of 0/1 labels) predicts
    that value; rows of a group absent from ``train`` get the training rows' mean target
    (the positive rate of 0/1 labels; the class shares of (N, C) ones).
    """
    prior = labels[train].mean(axis=0)  # a float, or (C,)
    held_out = np.full((len(held),) + labels.shape[1:], prior, dtype=np.float64)
    test_out[:] = prior
    group_of = (lambda rows: np.zeros(len(rows), dtype=int)) if groups is None else \
        (lambda rows: np.asarray(groups)[rows])
    test_group = np.zeros(X_test.shape[0], dtype=int) if groups is None else np.asarray(test_groups)
    for g in np.unique(group_of(train)).tolist():
        tr = train[group_of(train) == g]
        he, te = np.flatnonzero(group_of(held) == g), np.flatnonzero(test_group == g)
        if len(np.unique(labels[tr], axis=0)) < 2:  # every target equal: that value (no classifier fits one class)
            held_out[he], test_out[te] = labels[tr][0], labels[tr][0]
            continue
        model = fit_soft(make(), X[tr], labels[tr])
        if len(he):
            held_out[he] = predicted(model, X[held[he]], labels)
        if len(te):
            test_out[te] = predicted(model, X_test[te], labels)
    return held_out
