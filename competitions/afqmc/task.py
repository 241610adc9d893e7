"""CLUE AFQMC for the shared commands: data, model, metric and submission (see common.task).

    make afqmc-train | afqmc-predict RUN=... [ARGS="--test-file F"] | afqmc-cv FOLDS=5 | afqmc-baseline
    python -m common.commands.train --task afqmc [--flag value ...]

Ant Financial question matching (CLUE, Xu et al. 2020): do two customer questions ask
the same thing? The model is the shared pair classifier (common/pair_classifier.py);
the metric is CLUE's accuracy of the 0/1 labels on dev, the label being
``P(1) >= 0.5`` (the decision that maximises accuracy for calibrated probabilities; no
threshold is tuned), with ROC AUC beside it. The submission is CLUE's
``{"id": n, "label": "0|1"}`` JSON lines.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from common.pair_classifier import PairPredictStep, build_pair_model, load_pair_model
from common.pair_inputs import PairDataset, collate_pairs
from common.submission import validate_clue_submission_file, write_clue_submission
from common.task import Model, Splits, Task, resolve
from competitions.afqmc.config import AfqmcConfig
from competitions.afqmc.data import Pair, clue_id, read_pairs

THRESHOLD = 0.5  # label 1 when P(1) >= THRESHOLD

# Optuna search space (common.hpo.suggest); every key is an AfqmcConfig field.
SEARCH_SPACE = {
    "learning_rate": ("float", 1e-4, 1e-3, True),
    "epochs": ("int", 2, 5),
    "dropout": ("float", 0.0, 0.3),
    "fgm_epsilon": ("categorical", [0.0, 0.1, 0.5]),
    "ema_decay": ("categorical", [0.0, 0.99, 0.995]),
}


def afqmc_scores(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """``accuracy`` of ``probs >= 0.5`` against (N,) 0/1 ``labels``, and ``auc`` (NaN with one class)."""
    accuracy = float(np.mean((probs >= THRESHOLD).astype(int) == labels))
    auc = float(roc_auc_score(labels, probs)) if len(set(labels.tolist())) == 2 else float("nan")
    return {"accuracy": accuracy, "auc": auc}


class AfqmcTask(Task):
    name = "afqmc"
    config_class = AfqmcConfig
    metric_name = "accuracy"
    search_space = SEARCH_SPACE

    def load_data(self, config: AfqmcConfig) -> Splits:
        train = read_pairs(resolve(config.data_dir, config.train_file), True, "train", config.limit)
        dev = read_pairs(resolve(config.data_dir, config.dev_file), True, "dev", config.limit)
        return Splits(train, dev, self.load_test(config, str(self.test_path(config))))

    def load_test(self, config: AfqmcConfig, path: str) -> list[Pair]:
        return read_pairs(path, False, "test")

    def test_path(self, config: AfqmcConfig) -> Path:
        return resolve(config.data_dir, config.test_file)

    def text_pairs(self, examples: Sequence[Pair]) -> list[tuple]:
        return [(e.a, e.b) for e in examples]  # folds keep questions that share a text together

    def build(self, config: AfqmcConfig, run_dir: Path, train: list[Pair], data: Splits) -> Model:
        return build_pair_model(config, run_dir, [t for e in train for t in (e.a, e.b)], self.labels(train))

    def load(self, config: AfqmcConfig, run_dir: Path) -> Model:
        return load_pair_model(config, run_dir)

    def dataset(self, config: AfqmcConfig, model: Model, examples: list[Pair], training: bool,
                unlabelled: Sequence = ()) -> PairDataset:
        labels = None if examples[0].label is None else self.labels(examples)
        return PairDataset([e.a for e in examples], [e.b for e in examples], labels, model.processor,
                           config.max_length)

    def collate_fn(self, config: AfqmcConfig, model: Model, training: bool):
        return partial(collate_pairs, pad_id=model.processor.pad_token_id)

    def predict_step(self, config: AfqmcConfig, model: Model, log_prior: Any = None,
                     posthoc_tau: float = 0.0) -> PairPredictStep:
        return PairPredictStep(log_prior, posthoc_tau)

    def score(self, examples: list[Pair], probs: np.ndarray) -> tuple[dict[str, float], dict]:
        return afqmc_scores(self.labels(examples), np.asarray(probs)), {"threshold": THRESHOLD}

    def write_submission(self, config: AfqmcConfig, test: list[Pair], probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        """CLUE's ``{"id": line - 1, "label": "0|1"}`` lines, in the test file's order, validated after writing."""
        path = Path(config.submission_dir) / f"{name}.json"
        ids = [clue_id(e) for e in test]
        write_clue_submission(path, ids, [str(int(p >= state.get("threshold", THRESHOLD))) for p in probs])
        return {"submission": str(path), "rows": validate_clue_submission_file(path, ids)}


TASK = AfqmcTask()
