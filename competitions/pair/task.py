"""Any sentence-pair contest for the shared commands, from flags: files, columns, labels, metric, submission.

    python -m common.commands.train --task pair --data-dir DIR --train-file train.csv --test-file test.csv \\
        [--dev-file dev.csv] [--text-a-column q1 --text-b-column q2 --label-column label --id-column id] \\
        [--metric accuracy|f1|auc] [--submission-format csv|tsv|jsonl|lines] \\
        [--label-range 0,5 --metric spearman|pearson]      # graded labels: a similarity score (STS-B)
        [--label-values entailment,neutral,contradiction --metric accuracy|macro_f1]   # 3+ classes (NLI)
    make pair-train PAIR=my_contest.toml     # the same flags in a TOML file (competitions/pair/examples/)

The model, inputs, training, k-fold, tuning, ensembles, MLM pretraining and distillation are the
shared pair task's (:class:`common.pair_task.PairTask`, the AFQMC model); this module reads the
files (:mod:`competitions.pair.data`), scores with the chosen metric and writes the submission in
the format asked (:mod:`competitions.pair.submission`). The metric is reported as ``score`` (it
names submissions and is the k-fold score), beside ``accuracy``, ``f1`` and ``auc``.

Graded labels (``--label-range lo,hi``, e.g. Chinese STS-B's 0-5 similarity): the same model predicts
P = (label - lo) / (hi - lo), trained with cross-entropy against the soft target ``[1 - y, y]`` (the
:class:`common.pair_classifier.PairClassifier` head unchanged; sentence-transformers' cross-encoder
trains STS-B so, with BCE on score / 5), scored by Spearman's or Pearson's correlation
(scipy.stats), submitted as the score ``lo + P * (hi - lo)``. Everything built on P carries over
(k-fold, swap TTA, the ensemble, distillation); pseudo-labels and logit adjustment, which need 0/1
labels, are refused.

Three or more classes (``--label-values`` naming each, e.g. an NLI contest's
``entailment,neutral,contradiction``, KUAKE-QQR's ``0,1,2``): the classifier has one output per class,
trained with cross-entropy (logit-adjusted with ``--logit-adjust-tau``), its probabilities are (N, C),
scored by ``accuracy`` (of the most probable class) or ``macro_f1`` (scikit-learn's, of ``argmax(log p + b)``
with per-class shifts b tuned on the rows scored and kept for the submission, :func:`class_scores`) and
submitted as the decided class's label value. k-fold, tuning, swap TTA (an NLI label is not symmetric: leave it off there),
the ensemble and its TF-IDF and gbm members, distillation (a student of the (N, C) soft targets) and pseudo-labels
(the most probable class of the test rows a fold's teacher is sure of) take (N, C) probabilities.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score

from common.cv import make_folds, stratified_holdout, text_groups
from common.distillation import soft_cross_entropy
from common.pair_task import PairTask
from common.run import process_state
from common.shift import pairs_digest
from common.task import Model, Splits, resolve, training_search_space
from common.thresholds import accuracy_threshold, best_threshold, binary_scores, class_decisions, macro_f1_bias
from competitions.pair.config import PairFilesConfig

logger = logging.getLogger(__name__)
from competitions.pair.data import Pair, read_pair_file
from competitions.pair.submission import EXTENSIONS, write_pair_submission


class PairFilesTask(PairTask):
    """A 0/1 sentence-pair contest given by :class:`PairFilesConfig` flags; ``score`` is its ``--metric``.

    ``accuracy`` / ``f1``: of ``P(1) >= t``, ``t`` tuned on the rows scored for that metric
    (:func:`common.thresholds.accuracy_threshold`, :func:`~common.thresholds.best_threshold`) and
    kept in the decision state for the submission; ``auc``: threshold-free (a label submission then
    decides at the accuracy-tuned ``t``). Without ``--dev-file``, a stratified, text-grouped
    ``--valid-fraction`` of the train file validates a single run (:meth:`holdout`); a k-fold run pools
    train (and dev) rows.

    The metric is the config's, so :meth:`score` needs :meth:`load_data` or :meth:`load_test` of
    the run's config first (every command reads the data before scoring).
    """

    name = "pair"
    config_class = PairFilesConfig
    metric_name = "score"
    search_space = training_search_space(learning_rate=(1e-4, 1e-3), epochs=(2, 5), logit_adjustment=False)
    fold_overrides = {"valid_fraction": 0.0}  # a fold's held-out rows are its validation set
    # predict --test-config: another file's layout and submission format
    test_file_options = ("file_format", "text_a_column", "text_b_column", "id_column", "positional_header",
                         "submission_format", "submission_value", "submission_id_column", "submission_label_column")
    metric: str | None = None  # the loaded config's --metric
    bounds: tuple[float, float] | None = None  # the loaded config's --label-range (graded labels), else None
    classes: int = 2  # the loaded config's number of classes (3+ label values), else 2

    def configure(self, config: PairFilesConfig) -> None:
        """Take the metric, label range and classes of ``config`` (the run's) for :meth:`score` and :meth:`targets`."""
        self.metric, self.bounds, self.classes = config.metric, config.graded_range(), config.num_classes()

    def num_classes(self, config: PairFilesConfig) -> int:
        return config.num_classes()

    def load_data(self, config: PairFilesConfig) -> Splits:
        """Raises FileNotFoundError (naming the options to set), DataFileError (a bad row), ValueError (the split)."""
        self.configure(config)
        train_path = resolve(config.data_dir, config.train_file)
        if not train_path.is_file():
            raise FileNotFoundError(f"{train_path}: no such file; --task pair reads the files its options name "
                                    "(--data-dir, --train-file, --dev-file, --test-file, columns: a contest file, "
                                    "make pair-train PAIR=contest.toml; competitions/pair/README.md)")
        labelled = read_pair_file(train_path, config, True, "train", config.limit)
        if len(set(self.labels(labelled).tolist())) < 2:
            if self.bounds is not None:
                raise ValueError(f"{train_path}: every pair is labelled {labelled[0].label:g}; graded labels need "
                                 "two values at least (--label-column, --label-range)")
            only = config.label_names()[labelled[0].label]
            raise ValueError(f"{train_path}: every pair is labelled {only!r}; a 0/1 classifier needs both labels "
                             "(--label-column, --label-values)")
        present = set(self.labels(labelled).tolist()) if self.classes > 2 else set()
        absent = [v for i, v in enumerate(config.label_names()) if self.classes > 2 and i not in present]
        swaps = [f"--{k.replace('_', '-')}" for k in ("tta_swap", "pair_swap_prob") if getattr(config, k, 0)]
        if self.classes > 2 and swaps and process_state().is_main_process:
            logger.warning("%s with %d classes: the pair (b, a) is given a's label for (a, b); right for a symmetric "
                           "label, wrong for a directional one (NLI's entailment)", " and ".join(swaps), self.classes)
        if absent and process_state().is_main_process:
            logger.warning("%s: no pair labelled %s: the model is never trained on %s (--label-values %s)",
                           train_path, " or ".join(map(repr, absent)), "it" if len(absent) == 1 else "them",
                           config.label_values)
        if positive_first(config.label_names()) and (self.classes == 2 and self.bounds is None) and (
                config.metric in ("f1", "auc") or config.submission_value == "probability") \
                and process_state().is_main_process:  # last note's low item: scored the other class, silently
            negative, positive = config.label_names()
            logger.warning("--label-values %s: %r is read as the negative class and %r as the positive one (its F1, "
                           "P(%s) in a submission); is it the other way? --label-values %s,%s", config.label_values,
                           negative, positive, positive, positive, negative)
        if config.dev_file:
            train = labelled
            valid = read_pair_file(resolve(config.data_dir, config.dev_file), config, True, "dev", config.limit)
        else:
            train, valid = self.holdout(config, labelled)
        return Splits(train, valid, self.load_test(config, str(self.test_path(config))))

    def holdout(self, config: PairFilesConfig, labelled: list[Pair]) -> tuple[list[Pair], list[Pair]]:
        """(train, valid) of the train file without a dev file: about ``valid_fraction`` of its pairs, stratified
        by label (:meth:`strata`); with ``group_by_text``, whole text groups (:func:`common.cv.text_groups`): one fold of
        ``round(1 / valid_fraction)`` grouped folds (:func:`common.cv.make_folds`), so no validation text is
        trained on.

        With ``valid_from_shift`` (a ``make pair-shift`` run of this train file): the text groups (each pair, without
        ``group_by_text``) with the highest mean P(test) in its ``shift.npz``, taken in that order until each label
        (:meth:`strata`) holds ``valid_fraction`` of its pairs (a group that would add to a label already there is
        passed over): a validation set that looks like the test file (:mod:`common.shift`) with the labels' balance.

        Raises:
            ValueError: fewer text groups than those folds (naming the options that avoid it); a shift run of other
                pairs than the train file's.
            FileNotFoundError: no ``shift.npz`` in ``valid_from_shift``.
        """
        if config.valid_from_shift and config.valid_fraction > 0:
            return self.test_like_holdout(config, labelled)
        if config.valid_fraction <= 0 or not config.group_by_text:
            train, valid, _ = stratified_holdout(labelled, np.asarray(self.strata(labelled)), config.valid_fraction,
                                                 config.split_seed)
            return train, valid
        k, groups = max(2, round(1 / config.valid_fraction)), text_groups(self.text_pairs(labelled))
        if len(set(groups.tolist())) < k:
            raise ValueError(f"{resolve(config.data_dir, config.train_file)}: its {len(labelled)} pairs share their "
                             f"texts in {len(set(groups.tolist()))} "
                             f"groups, too few to hold out whole groups as 1/{k} of them: give --dev-file, a larger "
                             "--valid-fraction, or --group-by-text false (k-fold: --valid-fraction 0, its folds "
                             "validate)")
        fold = make_folds(self.strata(labelled), k, config.split_seed, groups)
        share = float(np.mean(fold == 0))
        if abs(share - config.valid_fraction) > config.valid_fraction / 2:
            if process_state().is_main_process:
                logger.warning("%s: the text-grouped validation split holds %.1f%% of the pairs, not the %.1f%% of "
                               "--valid-fraction (its largest text group has %d of %d pairs): --group-by-text false "
                               "splits by pair", resolve(config.data_dir, config.train_file), 100 * share,
                               100 * config.valid_fraction, np.bincount(groups).max(), len(labelled))
        return [p for p, k in zip(labelled, fold) if k], [p for p, k in zip(labelled, fold) if not k]

    def test_like_holdout(self, config: PairFilesConfig, labelled: list[Pair]) -> tuple[list[Pair], list[Pair]]:
        """(train, valid): the most test-like text groups of ``valid_from_shift`` as validation (see :meth:`holdout`)."""
        path = Path(config.valid_from_shift) / "shift.npz"
        if not path.is_file():
            raise FileNotFoundError(f"--valid-from-shift {config.valid_from_shift}: no {path} "
                                    "(make pair-shift PAIR=<this contest file> writes it)")
        saved, ids, pairs = np.load(path), self.ids(labelled), self.text_pairs(labelled)
        digest = str(saved["pairs_digest"]) if "pairs_digest" in saved.files else ""
        if saved["ids"].tolist() != ids or digest != pairs_digest(pairs):
            raise ValueError(f"--valid-from-shift {path}: its {len(saved['ids'])} pool pairs are not this train "
                             f"file's {len(ids)} (a shift run of another file or contest, of one with a dev file, "
                             "or made before shift.npz named its pairs: make pair-shift again)")
        groups = text_groups(pairs) if config.group_by_text else np.arange(len(labelled))
        sizes = np.bincount(groups)  # (G,) pairs per group (numbered 0..G-1)
        means = np.bincount(groups, weights=saved["p_test"]) / np.maximum(sizes, 1)
        strata = np.asarray(self.strata(labelled))
        keys = np.unique(strata)
        per_group = np.stack([np.bincount(groups[strata == k], minlength=len(sizes)) for k in keys])  # (S, G)
        quota = np.maximum(np.round(config.valid_fraction * per_group.sum(axis=1)), 1)  # (S,) each label's share
        count, taken = np.zeros(len(keys)), []
        for g in np.argsort(-means, kind="stable"):  # most test-like first; ties by group number
            if (count >= quota).all():
                break
            adds = per_group[:, g]
            if ((adds > 0) & (count >= quota)).any():
                continue  # a group that would add to a label already at its share
            taken.append(g)
            count += adds
        valid = np.isin(groups, taken)
        return [p for p, v in zip(labelled, valid) if not v], [p for p, v in zip(labelled, valid) if v]

    def test_layout(self, config: PairFilesConfig, options: dict | None) -> PairFilesConfig:
        """:meth:`common.task.Task.test_layout` without a label column: a test file is read unlabelled, so the run's
        label column (say a position) need not be of the kind of the file's text columns (say names); text columns
        given replace the run's test text columns (``test_text_a_column``) too."""
        if not options:
            return super().test_layout(config, options)
        texts = {"test_text_a_column": "", "test_text_b_column": ""} if {"text_a_column", "text_b_column"} & set(
            options) else {}
        return super().test_layout(config, {"label_column": "", **texts, **options})

    def load_test(self, config: PairFilesConfig, path: str) -> list[Pair]:
        self.configure(config)
        return read_pair_file(path, config.test_files(), False, "test")

    def test_path(self, config: PairFilesConfig) -> Path:
        return resolve(config.data_dir, config.test_file)

    def submission_ids(self, examples: Sequence[Pair]) -> list[str]:
        return [p.key for p in examples]  # the --id-column's value (or the row), as write_submission gives it

    def cv_pool(self, config: PairFilesConfig, data: Splits) -> list[Pair]:
        if config.dev_file:
            return data.train + data.valid
        return sorted(data.train + data.valid, key=lambda p: p.row)  # the train file's order

    def targets(self, examples: Sequence[Pair]) -> np.ndarray:
        """(N,) the 0/1 labels as floats, or graded labels as ``(label - lo) / (hi - lo)`` in [0, 1]; (N, C) one-hot
        rows of 3+ classes."""
        if self.classes > 2:
            return np.eye(self.classes)[np.asarray(self.labels(examples), dtype=int)]
        labels = np.asarray(self.labels(examples), dtype=float)
        return labels if self.bounds is None else (labels - self.bounds[0]) / (self.bounds[1] - self.bounds[0])

    def strata(self, examples: Sequence[Pair]) -> list:
        """(N,) what k-fold and the validation split balance: the 0/1 label, or a graded label's fifth of its range
        (five equal-width bins of :meth:`targets`)."""
        if self.bounds is None:
            return super().strata(examples)
        # 1e-9: a grade on a bin's edge stays there ((-4.2 + 5) / 4 * 5 is 0.999...: it fell a bin short on -5,-1)
        return np.clip(np.floor(self.targets(examples) * 5 + 1e-9), 0, 4).astype(int).tolist()

    def with_labels(self, examples: Sequence[Pair], labels: Sequence[int]) -> list[Pair]:
        """Raises ValueError for graded labels (pseudo-labels are 0/1, or class indices of 3+ label values); else
        :meth:`common.task.Task.with_labels`."""
        if self.bounds is not None:
            raise ValueError("pseudo-labels are 0/1 labels; graded labels (--label-range) learn from a teacher by "
                             "--distill-from")
        return super().with_labels(examples, labels)

    def build(self, config: PairFilesConfig, run_dir: Path, train: list[Pair], data: Splits) -> Model:
        """The shared pair classifier; with graded labels, trained by :func:`graded_loss` (its 0/1 prior, unused: the
        labels at or above the middle of the range)."""
        if self.bounds is None:
            return super().build(config, run_dir, train, data)
        halves = [dataclasses.replace(p, label=int(y >= 0.5)) for p, y in zip(train, self.targets(train))]
        return dataclasses.replace(super().build(config, run_dir, halves, data), loss_fn=graded_loss)

    def dataset(self, config: PairFilesConfig, model: Model, examples: list[Pair], training: bool,
                unlabelled: Sequence = (), soft_labels: Sequence[float] | None = None):
        """:meth:`common.pair_task.PairTask.dataset`; with graded labels, every row's soft target is its
        :meth:`targets` value, or with a teacher's ``soft_labels`` (N,) (NaN: none)
        ``(1 - alpha) * target + alpha * teacher`` (``--distill-alpha``; at temperature 1 the cross-entropy of
        that mix is the mix of the two cross-entropies), a row without a label its teacher's alone."""
        if self.bounds is None:
            return super().dataset(config, model, examples, training, unlabelled, soft_labels)
        target = np.array([np.nan if p.label is None else 0.0 for p in examples])
        labelled = ~np.isnan(target)
        target[labelled] = self.targets([p for p in examples if p.label is not None])
        if soft_labels is not None:
            teacher = np.asarray(soft_labels, dtype=float)
            alpha = getattr(config, "distill_alpha", 0.5)
            both = labelled & np.isfinite(teacher)
            target[both] = (1 - alpha) * target[both] + alpha * teacher[both]
            target[~labelled] = teacher[~labelled]
        unlabelled_rows = [dataclasses.replace(p, label=None) for p in examples]
        return super().dataset(config, model, unlabelled_rows, training, unlabelled, target.tolist())

    def predict_step(self, config: PairFilesConfig, model: Model, log_prior=None, posthoc_tau: float = 0.0):
        """Raises ValueError: post-hoc logit adjustment of graded labels (no 0/1 prior to adjust)."""
        if posthoc_tau > 0 and config.graded_range() is not None:
            raise ValueError("--posthoc-tau: logit adjustment corrects a 0/1 label prior; graded labels "
                             "(--label-range) have none")
        return super().predict_step(config, model, log_prior, posthoc_tau)

    def score(self, examples: list[Pair], probs: np.ndarray,
              state: dict | None = None) -> tuple[dict[str, float], dict]:
        """(``score`` = the ``--metric`` value, with ``accuracy``, ``f1``, ``auc``; ``{"threshold": t}``).

        ``state`` None tunes ``t`` on these rows (for F1 when the metric is ``f1``, else for accuracy);
        otherwise ``state["threshold"]`` decides (tuned beforehand, e.g. on OOF rows). Graded labels: ``score``
        with ``spearman`` and ``pearson`` (scipy.stats; no decision, state ``{}``; NaN for constant ``probs``).
        3+ classes: (N, C) ``probs``, ``score`` with ``accuracy`` and ``macro_f1`` (:func:`class_scores`): of the
        most probable class (state ``{}``), or for ``macro_f1`` of ``argmax(log p + b)`` with per-class shifts ``b``
        tuned on these rows (state ``{"class_bias": b}``) or taken from ``state``.

        Raises:
            RuntimeError: no config loaded yet (see the class docstring).
        """
        return self.label_scores(self.labels(examples), probs, state)

    def label_scores(self, labels: np.ndarray, probs: np.ndarray,
                     state: dict | None = None) -> tuple[dict[str, float], dict]:
        """:meth:`score` of (N,) ``labels`` (:meth:`labels`) and (N,) ``probs``. Raises RuntimeError: no config."""
        if self.metric is None:
            raise RuntimeError("PairFilesTask.score before load_data/load_test: the metric is the run config's")
        if self.bounds is not None:
            return graded_scores(labels, probs, self.metric), {}
        if self.classes > 2:
            return class_scores(labels, probs, self.metric, state)
        labels, probs = np.asarray(labels), np.asarray(probs)
        threshold = state["threshold"] if state is not None else self.threshold(labels, probs)
        metrics = binary_scores(labels, probs, threshold)
        return {"score": metrics[self.metric], **metrics}, {"threshold": float(threshold)}

    def threshold(self, labels: np.ndarray, probs: np.ndarray) -> float:
        """The cut of (N,) ``probs`` that :meth:`score` tunes on (N,) 0/1 ``labels``: for F1 when the metric is
        ``f1``, else for accuracy. Raises RuntimeError: no config loaded yet."""
        if self.metric is None:
            raise RuntimeError("PairFilesTask.score before load_data/load_test: the metric is the run config's")
        return float((best_threshold if self.metric == "f1" else accuracy_threshold)(labels, probs)[0])

    def write_submission(self, config: PairFilesConfig, test: list[Pair], probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        """``<submission_dir>/<name>.<ext>`` in ``--submission-format``: each test pair's id (``--id-column``'s value,
        or its 0-based row) and its label (``--label-values``' at the state's threshold) or probability, validated.
        Graded labels: the score ``lo + P * (hi - lo)`` (``--submission-value label``: rounded to a whole number)."""
        if config.graded_range() is not None:
            return self.write_graded(config, test, probs, name)
        if config.num_classes() > 2:
            return self.write_classes(config, test, probs, name, state)
        probability = config.submission_value == "probability" or (config.submission_value == "auto"
                                                                   and config.metric == "auc")
        label_values = config.label_names()
        probs = np.asarray(probs, dtype=float)
        values = [float(p) for p in probs] if probability else \
            [label_values[int(p >= state["threshold"])] for p in probs]
        path = Path(config.submission_dir) / f"{name}{EXTENSIONS[config.submission_format]}"
        rows = write_pair_submission(path, config.submission_format, [p.key for p in test], values,
                                     config.submission_id_column, config.submission_label_column,
                                     None if probability else label_values, text_ids=[p.text_id for p in test])
        return {"submission": str(path), "rows": rows}

    def write_classes(self, config: PairFilesConfig, test: list[Pair], probs: np.ndarray, name: str,
                      state: dict | None = None) -> dict:
        """The submission of 3+ classes: each pair's class, as its ``--label-values`` value: the most probable one, or
        ``argmax(log p + b)`` with the state's ``class_bias`` b (tuned for macro-F1 on validation or OOF rows).

        Raises:
            ValueError: ``probs`` not (N, C) for the config's C classes.
        """
        values, probs = config.label_names(), np.asarray(probs, dtype=float)
        if probs.shape != (len(test), len(values)):
            raise ValueError(f"probabilities of shape {probs.shape} for {len(test)} test pairs of {len(values)} "
                             "classes (--label-values)")
        path = Path(config.submission_dir) / f"{name}{EXTENSIONS[config.submission_format]}"
        rows = write_pair_submission(path, config.submission_format, [p.key for p in test],
                                     [values[k] for k in class_decisions(probs, (state or {}).get("class_bias"))],
                                     config.submission_id_column,
                                     config.submission_label_column, values, text_ids=[p.text_id for p in test])
        return {"submission": str(path), "rows": rows}

    def write_graded(self, config: PairFilesConfig, test: list[Pair], probs: np.ndarray, name: str) -> dict:
        """The submission of graded labels (see :meth:`write_submission`)."""
        lo, hi = config.graded_range()
        probs = np.clip(np.asarray(probs, dtype=float), 0.0, 1.0)
        bounds = (0.0, 1.0) if config.submission_value == "probability" else (lo, hi)
        values = probs.tolist() if config.submission_value == "probability" else (lo + probs * (hi - lo)).tolist()
        labels = None
        if config.submission_value == "label":
            labels = [str(v) for v in range(int(np.ceil(lo)), int(np.floor(hi)) + 1)]
            # the nearest whole grade, halves up (numpy's round takes halves to even)
            values = [str(int(np.clip(np.floor(v + 0.5), int(labels[0]), int(labels[-1])))) for v in values]
        path = Path(config.submission_dir) / f"{name}{EXTENSIONS[config.submission_format]}"
        rows = write_pair_submission(path, config.submission_format, [p.key for p in test], values,
                                     config.submission_id_column, config.submission_label_column, labels, bounds,
                                     text_ids=[p.text_id for p in test])
        return {"submission": str(path), "rows": rows}



# labels that name the positive class of a 0/1 pair contest (yes: similar, the same, entailed), lower-cased
POSITIVE_WORDS = {"yes", "y", "true", "t", "positive", "pos", "similar", "same", "match", "matched", "paraphrase",
                  "entailment", "entailed", "是", "相似", "相同", "匹配", "同义"}


def positive_first(values: Sequence[str]) -> bool:
    """Whether two label values look written positive first (``1,0``, ``yes,no``, ``相似,不相似``): numbers in
    decreasing order, or a first value in :data:`POSITIVE_WORDS` whose second is not. A heuristic for a warning."""
    if len(values) != 2:
        return False
    try:
        return float(values[0]) > float(values[1])
    except ValueError:
        first, second = (v.strip().lower() for v in values)
        return first in POSITIVE_WORDS and second not in POSITIVE_WORDS


def class_scores(labels: np.ndarray, probs: np.ndarray, metric: str,
                 state: dict | None = None) -> tuple[dict[str, float], dict]:
    """(``{"score": the metric's, "accuracy", "macro_f1"}``, decision state) of (N, C) ``probs`` against (N,) class
    labels 0..C-1 (scikit-learn's ``accuracy_score`` and ``f1_score(average="macro")`` over all C classes: a class
    neither present nor predicted counts 0).

    The decision: ``state`` None tunes it on these rows for ``macro_f1`` (per-class log-probability shifts,
    :func:`common.thresholds.macro_f1_bias`; state ``{"class_bias": b}``, slightly optimistic on the rows it was
    tuned on, as a binary threshold is) and takes the most probable class for ``accuracy`` (state ``{}``);
    a given ``state`` decides with its ``class_bias`` (none: the most probable class).

    Raises:
        ValueError: ``probs`` not (N, C) for the (N,) labels.
    """
    labels, probs = np.asarray(labels, dtype=int), np.asarray(probs, dtype=float)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(f"class probabilities of shape {probs.shape} for {len(labels)} labels, expected (N, C)")
    if state is not None:
        bias = state.get("class_bias")
    else:
        bias = macro_f1_bias(labels, probs)[0].tolist() if metric == "macro_f1" and len(labels) else None
    predicted = class_decisions(probs, bias)
    metrics = {"accuracy": float(accuracy_score(labels, predicted)),
               "macro_f1": float(f1_score(labels, predicted, labels=np.arange(probs.shape[1]), average="macro",
                                          zero_division=0))}
    return {"score": metrics[metric], **metrics}, ({} if bias is None else {"class_bias": list(bias)})


def graded_scores(labels: np.ndarray, probs: np.ndarray, metric: str) -> dict[str, float]:
    """``{"score": the metric's, "spearman", "pearson"}`` of (N,) predictions against (N,) graded labels.

    Spearman's rank correlation is STS-B's usual measure (SBERT, CoSENT); both are invariant to the
    label range's affine map, so P scores as ``lo + P * (hi - lo)`` does. NaN when either side is constant.
    """
    labels, probs = np.asarray(labels, dtype=float), np.asarray(probs, dtype=float)
    constant = len(labels) < 2 or np.ptp(labels) == 0 or np.ptp(probs) == 0
    metrics = {"spearman": float("nan") if constant else float(spearmanr(labels, probs).statistic),
               "pearson": float("nan") if constant else float(pearsonr(labels, probs).statistic)}
    return {"score": metrics[metric], **metrics}


def graded_loss(module: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean soft cross-entropy of a 2-class pair model against ``batch["soft_labels"]``, (B,) targets in [0, 1].

    ``-(y log p + (1 - y) log(1 - p))`` of ``p = softmax(logits)[:, 1]`` (:func:`common.distillation.soft_cross_entropy`
    at temperature 1): BCE on a graded label scaled to [0, 1], as sentence-transformers' cross-encoder is trained on
    STS-B (``score / 5``). Rows with a NaN target are left out.
    """
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "soft_labels")}
    logits = module(**inputs).logits  # (B, 2)
    target = batch["soft_labels"]  # (B,)
    has = torch.isfinite(target)
    if not has.any():
        return logits.float().sum() * 0.0
    return soft_cross_entropy(logits[has].float(), target[has], 1.0).mean()


TASK = PairFilesTask()
