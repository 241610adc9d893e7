"""Any 0/1 sentence-pair contest for the shared commands, from flags: files, columns, labels, metric, submission.

    python -m common.commands.train --task pair --data-dir DIR --train-file train.csv --test-file test.csv \\
        [--dev-file dev.csv] [--text-a-column q1 --text-b-column q2 --label-column label --id-column id] \\
        [--metric accuracy|f1|auc] [--submission-format csv|tsv|jsonl|lines]
    make pair-train PAIR=my_contest.toml     # the same flags in a TOML file (competitions/pair/examples/)

The model, inputs, training, k-fold, tuning, ensembles, MLM pretraining and distillation are the
shared pair task's (:class:`common.pair_task.PairTask`, the AFQMC model); this module reads the
files (:mod:`competitions.pair.data`), scores with the chosen metric and writes the submission in
the format asked (:mod:`competitions.pair.submission`). The metric is reported as ``score`` (it
names submissions and is the k-fold score), beside ``accuracy``, ``f1`` and ``auc``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.cv import make_folds, stratified_holdout, text_groups
from common.pair_task import PairTask
from common.task import Splits, resolve, training_search_space
from common.thresholds import accuracy_threshold, best_threshold, binary_scores
from competitions.pair.config import PairFilesConfig
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
    metric: str | None = None  # the loaded config's --metric

    def configure(self, config: PairFilesConfig) -> None:
        """Take the metric of ``config`` (the run's) for :meth:`score`."""
        self.metric = config.metric

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
            only = config.label_values.split(",")[labelled[0].label].strip()
            raise ValueError(f"{train_path}: every pair is labelled {only!r}; a 0/1 classifier needs both labels "
                             "(--label-column, --label-values)")
        if config.dev_file:
            train = labelled
            valid = read_pair_file(resolve(config.data_dir, config.dev_file), config, True, "dev", config.limit)
        else:
            train, valid = self.holdout(config, labelled)
        return Splits(train, valid, self.load_test(config, str(self.test_path(config))))

    def holdout(self, config: PairFilesConfig, labelled: list[Pair]) -> tuple[list[Pair], list[Pair]]:
        """(train, valid) of the train file without a dev file: about ``valid_fraction`` of its pairs, stratified
        by label; with ``group_by_text``, whole text groups (:func:`common.cv.text_groups`): one fold of
        ``round(1 / valid_fraction)`` grouped folds (:func:`common.cv.make_folds`), so no validation text is
        trained on.

        Raises:
            ValueError: fewer text groups than those folds (naming the options that avoid it).
        """
        if config.valid_fraction <= 0 or not config.group_by_text:
            train, valid, _ = stratified_holdout(labelled, self.labels(labelled), config.valid_fraction,
                                                 config.split_seed)
            return train, valid
        k, groups = max(2, round(1 / config.valid_fraction)), text_groups(self.text_pairs(labelled))
        if len(set(groups.tolist())) < k:
            raise ValueError(f"{resolve(config.data_dir, config.train_file)}: its {len(labelled)} pairs share their "
                             f"texts in {len(set(groups.tolist()))} "
                             f"groups, too few to hold out whole groups as 1/{k} of them: give --dev-file, a larger "
                             "--valid-fraction, or --group-by-text false (k-fold: --valid-fraction 0, its folds "
                             "validate)")
        fold = make_folds(self.labels(labelled).tolist(), k, config.split_seed, groups)
        return [p for p, k in zip(labelled, fold) if k], [p for p, k in zip(labelled, fold) if not k]

    def load_test(self, config: PairFilesConfig, path: str) -> list[Pair]:
        self.configure(config)
        return read_pair_file(path, config, False, "test")

    def test_path(self, config: PairFilesConfig) -> Path:
        return resolve(config.data_dir, config.test_file)

    def cv_pool(self, config: PairFilesConfig, data: Splits) -> list[Pair]:
        if config.dev_file:
            return data.train + data.valid
        return sorted(data.train + data.valid, key=lambda p: p.row)  # the train file's order

    def score(self, examples: list[Pair], probs: np.ndarray,
              state: dict | None = None) -> tuple[dict[str, float], dict]:
        """(``score`` = the ``--metric`` value, with ``accuracy``, ``f1``, ``auc``; ``{"threshold": t}``).

        ``state`` None tunes ``t`` on these rows (for F1 when the metric is ``f1``, else for accuracy);
        otherwise ``state["threshold"]`` decides (tuned beforehand, e.g. on OOF rows).

        Raises:
            RuntimeError: no config loaded yet (see the class docstring).
        """
        if self.metric is None:
            raise RuntimeError("PairFilesTask.score before load_data/load_test: the metric is the run config's")
        labels, probs = self.labels(examples), np.asarray(probs)
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
        or its 0-based row) and its label (``--label-values``' at the state's threshold) or probability, validated."""
        probability = config.submission_value == "probability" or (config.submission_value == "auto"
                                                                   and config.metric == "auc")
        label_values = [v.strip() for v in config.label_values.split(",")]
        probs = np.asarray(probs, dtype=float)
        values = [float(p) for p in probs] if probability else \
            [label_values[int(p >= state["threshold"])] for p in probs]
        path = Path(config.submission_dir) / f"{name}{EXTENSIONS[config.submission_format]}"
        rows = write_pair_submission(path, config.submission_format, [p.key for p in test], values,
                                     config.submission_id_column, config.submission_label_column,
                                     None if probability else label_values)
        return {"submission": str(path), "rows": rows}


TASK = PairFilesTask()
