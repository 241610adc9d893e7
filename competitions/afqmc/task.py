"""CLUE AFQMC for the shared commands: data, metric and submission (see common.task, common.pair_task).

    make afqmc-train | afqmc-predict RUN=... [ARGS="--test-file F"] | afqmc-cv FOLDS=5 | afqmc-baseline
    python -m common.commands.train --task afqmc [--flag value ...]

Ant Financial question matching (CLUE, Xu et al. 2020): do two customer questions ask
the same thing? The model, inputs and prediction are :class:`common.pair_task.PairTask`'s
(the shared pair classifier on the ``a`` / ``b`` texts, unconditioned); the metric is
CLUE's accuracy of the 0/1 labels on dev, the label being ``P(1) >= threshold``, with ROC AUC
beside it. The threshold is tuned for accuracy on the rows scored (validation rows, a k-fold
run's OOF rows, an ensemble's OOF rows) and the submission decides with it: the models here are
not calibrated, and 0.5 cost a k-fold run 0.0036 of accuracy cross-fitted (RESULTS.md). The best
epoch is picked by AUC (``AfqmcConfig.metric_for_best_model``). The submission is CLUE's
``{"id": n, "label": "0|1"}`` JSON lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.pair_task import PairTask
from common.submission import validate_clue_submission_file, write_clue_submission
from common.task import Splits, resolve, training_search_space
from common.thresholds import accuracy_threshold, binary_scores
from competitions.afqmc.config import AfqmcConfig
from competitions.afqmc.data import Pair, clue_id, read_pairs

THRESHOLD = 0.5  # label 1 when P(1) >= THRESHOLD: runs saved before the threshold was tuned


def afqmc_scores(labels: np.ndarray, probs: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """``accuracy`` of ``probs >= threshold`` against (N,) 0/1 ``labels``, and ``auc`` (NaN with one class)."""
    scores = binary_scores(labels, probs, threshold)
    return {"accuracy": scores["accuracy"], "auc": scores["auc"]}


class AfqmcTask(PairTask):
    """CLUE AFQMC (Ant Financial question matching) on the shared pair classifier; accuracy at a tuned threshold, AUC.

    Data: ``train.txt`` / ``dev.txt`` (``s1<TAB>s2<TAB>label``) and ``test.txt`` (``s1<TAB>s2``) under ``--data-dir``;
    the submission holds one ``{"id", "label"}`` JSON line per test pair, in the file's order (CLUE's format).
    """

    name = "afqmc"
    config_class = AfqmcConfig
    metric_name = "accuracy"
    # plain accuracy is the metric, so logit adjustment (which targets balanced error) is not searched
    search_space = training_search_space(learning_rate=(1e-4, 1e-3), epochs=(2, 5), logit_adjustment=False)

    def load_data(self, config: AfqmcConfig) -> Splits:
        train = read_pairs(resolve(config.data_dir, config.train_file), True, "train", config.limit)
        dev = read_pairs(resolve(config.data_dir, config.dev_file), True, "dev", config.limit)
        return Splits(train, dev, self.load_test(config, str(self.test_path(config))))

    def load_test(self, config: AfqmcConfig, path: str) -> list[Pair]:
        return read_pairs(path, False, "test")

    def test_path(self, config: AfqmcConfig) -> Path:
        return resolve(config.data_dir, config.test_file)

    def score(self, examples: list[Pair], probs: np.ndarray,
              state: dict | None = None) -> tuple[dict[str, float], dict]:
        """Accuracy at the threshold tuned on these rows for accuracy (``state`` None), or at ``state["threshold"]``
        (decided beforehand, e.g. on OOF rows), and AUC; the state is ``{"threshold": t}``."""
        labels, probs = self.labels(examples), np.asarray(probs)
        threshold = accuracy_threshold(labels, probs)[0] if state is None else state.get("threshold", THRESHOLD)
        return afqmc_scores(labels, probs, threshold), {"threshold": threshold}

    def write_submission(self, config: AfqmcConfig, test: list[Pair], probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        """CLUE's ``{"id": line - 1, "label": "0|1"}`` lines, in the test file's order, validated after writing."""
        path = Path(config.submission_dir) / f"{name}.json"
        ids = [clue_id(e) for e in test]
        write_clue_submission(path, ids, [str(int(p >= state.get("threshold", THRESHOLD))) for p in probs])
        return {"submission": str(path), "rows": validate_clue_submission_file(path, ids)}


TASK = AfqmcTask()
