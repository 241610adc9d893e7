"""Sohu 2021 for the shared commands: data, model, metric and submission (see common.task).

    make sohu-train | sohu-predict RUN=... | sohu-cv FOLDS=5 | sohu-tune TRIALS=20 | sohu-blend RUNS="..."
    python -m common.commands.train --task sohu [--flag value ...]

One encoder for every subtask present, Conditional LayerNorm on the subtask id
(kexue.fm/archives/8337); F1 per group (A, B) with thresholds tuned on the validation
set, the score their mean; the submission is ``id,label`` in the sample's order.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from common.encoder import build_encoder, load_tokenizer
from common.losses import log_prior, posthoc_logit_adjustment, save_log_prior
from common.submission import (SubmissionError, read_sample_ids, validate_rows, validate_submission_file,
                               write_id_label_submission)
from common.task import Model, Splits, Task
from competitions.sohu.config import SohuConfig
from competitions.sohu.data import (ROOT, SUBTASKS, Example, PairDataset, collate, limit_per_subtask, load_split,
                                    read_pairs_file, subtask_of_id)
from competitions.sohu.metrics import group_of, sohu_scores
from competitions.sohu.model import SohuMatcher

logger = logging.getLogger("sohu.task")

# Optuna search space (common.hpo.suggest); every key is a SohuConfig field.
SEARCH_SPACE = {
    "learning_rate": ("float", 1e-4, 1e-3, True),
    "epochs": ("int", 1, 3),
    "dropout": ("float", 0.0, 0.3),
    "fgm_epsilon": ("categorical", [0.0, 0.1, 0.3]),
    "ema_decay": ("categorical", [0.0, 0.99, 0.995]),
    "logit_adjust_tau": ("float", 0.0, 1.5),
}


def build_model(config: SohuConfig, encoder: torch.nn.Module) -> SohuMatcher:
    return SohuMatcher(encoder, num_tasks=len(SUBTASKS), condition_size=config.condition_size,
                       pooling=config.pooling, use_match=config.use_match, dropout=config.dropout,
                       logit_adjust_tau=config.logit_adjust_tau)


class SohuPredictStep:
    """``{"prob": (B,)}`` positive-class probability; post-hoc logit adjustment by each row's subtask prior."""

    def __init__(self, log_prior: torch.Tensor | None = None, posthoc_tau: float = 0.0) -> None:
        self.log_prior, self.tau = log_prior, posthoc_tau

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = model(**batch).logits.float()  # (B, 2)
        if self.tau > 0:
            prior = self.log_prior.to(logits.device)[batch["task_ids"]]  # (B, 2)
            logits = posthoc_logit_adjustment(logits, prior, self.tau)
        return {"prob": torch.softmax(logits, dim=-1)[:, 1]}


class SohuTask(Task):
    name = "sohu"
    config_class = SohuConfig
    metric_name = "score"
    search_space = SEARCH_SPACE

    def load_data(self, config: SohuConfig) -> Splits:
        subtasks = config.subtasks or None
        bad = [i for i in subtasks or [] if not 0 <= i < len(SUBTASKS)]
        if bad:
            raise ValueError(f"--subtasks: ids must be 0-{len(SUBTASKS) - 1}, got {bad}")
        train, missing = load_split(config.data_dir, "train", subtasks)
        valid, _ = load_split(config.data_dir, "valid", subtasks)
        test, _ = load_split(config.data_dir, "test_with_id", subtasks)
        if config.limit:
            train, valid = limit_per_subtask(train, config.limit), limit_per_subtask(valid, config.limit)
        return Splits(train, valid, test, missing)

    def load_test(self, config: SohuConfig, path: str) -> list[Example]:
        return read_pairs_file(path)

    def test_path(self, config: SohuConfig) -> Path:
        return Path(config.data_dir) / ROOT

    def strata(self, examples: Sequence[Example]) -> list[str]:
        return [f"{e.subtask}:{e.label}" for e in examples]

    def text_pairs(self, examples: Sequence[Example]) -> list[tuple]:
        return [(e.source, e.target) for e in examples]

    def build(self, config: SohuConfig, run_dir: Path, train: list[Example], data: Splits) -> Model:
        tokenizer = load_tokenizer(config, texts=[t for e in train for t in (e.source, e.target)],
                                   build_dir=run_dir / "tokenizer")
        encoder = build_encoder(config, tokenizer)
        module = build_model(config, encoder)
        prior = log_prior([e.label for e in train], 2, groups=[e.subtask for e in train], num_groups=len(SUBTASKS))
        module.set_log_prior(prior)

        def save(run_dir: Path) -> None:
            tokenizer.save_pretrained(run_dir / "tokenizer")
            encoder.config.save_pretrained(run_dir / "encoder")
            save_log_prior(run_dir, prior)

        return Model(module, tokenizer, "pretrained" if config.model else "scratch", save)

    def load(self, config: SohuConfig, run_dir: Path) -> Model:
        for name in ("tokenizer", "encoder"):
            if not (run_dir / name).exists():
                raise FileNotFoundError(f"{run_dir / name} missing: is {run_dir} a finished Sohu run?")
        tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(run_dir / "encoder"))
        return Model(build_model(config, encoder), tokenizer)

    def dataset(self, config: SohuConfig, model: Model, examples: list[Example], training: bool,
                unlabelled: Sequence = ()) -> PairDataset:
        return PairDataset(examples, model.processor, config.max_length)

    def collate_fn(self, config: SohuConfig, model: Model, training: bool):
        return partial(collate, pad_id=model.processor.pad_token_id)

    def predict_step(self, config: SohuConfig, model: Model, log_prior: Any = None,
                     posthoc_tau: float = 0.0) -> SohuPredictStep:
        return SohuPredictStep(log_prior, posthoc_tau)

    def score(self, examples: list[Example], probs: np.ndarray) -> tuple[dict[str, float], dict]:
        return sohu_scores(self.labels(examples), probs, np.array([e.subtask for e in examples]))

    def write_submission(self, config: SohuConfig, test: list[Example], probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        """``id,label`` rows; a group without tuned threshold (not trained) falls back to 0.5.

        Official test set: the sample's ids, in its order; only ids of subtasks absent from
        the data are filled with 0. ``test_file``: that file's ids, in its order.

        Raises:
            SubmissionError: an official id of a present subtask without a prediction.
        """
        groups = group_of(np.array([e.subtask for e in test]))
        predictions = {e.id: int(p >= state.get(g, 0.5)) for e, p, g in zip(test, probs, groups)}
        path = Path(config.submission_dir) / f"{name}.csv"
        if test_file is not None:
            header, rows = ["id", "label"], [[e.id, str(predictions[e.id])] for e in test]
            validate_rows(header, rows, header, [e.id for e in test], ["0", "1"], str(path))
            from common.io import write_text_atomic

            write_text_atomic(path, "id,label\n" + "".join(f"{i},{y}\n" for i, y in rows))
            return {"submission": str(path), "rows": len(rows), "filled_ids": 0}
        sample = Path(config.data_dir) / ROOT / "sample_submission.csv"
        present = {e.subtask for e in test}
        unpredicted = [i for i in read_sample_ids(sample)[1] if i not in predictions and subtask_of_id(i) in present]
        if unpredicted:
            raise SubmissionError(f"{len(unpredicted)} ids of {sample} are missing from the test files of their "
                                  f"subtasks, e.g. {unpredicted[:5]}")
        written = write_id_label_submission(path, predictions, sample, fill_value=0)
        if written["filled"]:
            logger.warning("subtasks without data: their %d test ids are filled with label 0", len(written["filled"]))
        return {"submission": str(path), "rows": validate_submission_file(path, sample),
                "filled_ids": len(written["filled"])}


TASK = SohuTask()
