"""Xiaobu (GAIIC 2021 track 3) for the shared commands: data, model, metric and submission (see common.task).

    make xiaobu-train | xiaobu-predict RUN=... [ARGS="--test-file F"] | xiaobu-cv FOLDS=5 | xiaobu-tune TRIALS=20
    python -m common.commands.train --task xiaobu [--model cache/xiaobu-pretrain] [--joint true] [--flag value ...]

Holds out the fixed stratified ``--valid-fraction`` of the train file (``--split-seed``),
chooses the epoch by ROC AUC, and writes ``<run>-<test file>-auc<S>.txt``: one probability
per test line, in order. ``--joint true``: the label is predicted at [CLS] through the MLM
head while MLM continues on the train and test text (bojone's baseline).
"""

from __future__ import annotations

import dataclasses
import logging
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from transformers import BertConfig

from common.cv import stratified_holdout
from common.data_files import count_lines
from common.distillation import DistillConfig
from common.encoder import check_max_length
from common.id_encoder import VOCAB_FILE
from common.id_vocab import IdVocab
from common.joint_mlm import JointPredictStep, joint_collator, joint_dataset
from common.losses import log_prior, save_log_prior
from common.pair_classifier import PairPredictStep
from common.pair_inputs import IdPairDataset, collate_pairs
from common.pretraining import masked_token_loss
from common.submission import validate_probability_file, write_probability_submission
from common.task import Model, Splits, Task, resolve, training_search_space
from competitions.xiaobu.config import XiaobuConfig
from competitions.xiaobu.data import Pair, read_pairs
from competitions.xiaobu.metrics import pair_auc
from competitions.xiaobu.model import build_vocab_and_model, model_class

logger = logging.getLogger("xiaobu.task")


def _line(pair: Pair) -> int:
    return int(pair.id.split(":")[1])


def _numbered(pairs: list[Pair], split: str) -> list[Pair]:
    """``pairs`` with ids ``<split>:<line index>``."""
    for i, p in enumerate(pairs):
        p.id = f"{split}:{i}"
    return pairs


class XiaobuTask(Task):
    """GAIIC 2021 track 3 (OPPO Xiaobu) query matching on desensitized ids; metric ROC AUC of P(match).

    Text is integer ids with an unknown mapping, so the encoder is pretrained here by MLM on the ids
    (competitions/xiaobu/pretrain.py) or mapped onto a pretrained vocabulary by frequency rank (kexue.fm/archives/8213).
    The submission is one probability per test line, in the file's order.
    """

    name = "xiaobu"
    config_class = XiaobuConfig
    pretrain_module = "competitions.xiaobu.pretrain"  # common.commands.pretrain --task xiaobu runs it
    metric_name = "auc"
    search_space = training_search_space(learning_rate=(5e-5, 1e-3), epochs=(2, 8))
    test_in_name = True
    fold_overrides = {"valid_fraction": 0.0}  # a fold's held-out rows are its validation set
    soft_targets = True  # --distill-from (classification variant): IdPairDataset carries soft_labels

    def load_data(self, config: XiaobuConfig) -> Splits:
        labelled = _numbered(read_pairs(resolve(config.data_dir, config.train_file), True, config.limit), "train")
        test = _numbered(read_pairs(self.test_path(config), labelled=False), "test")  # whole, whatever --limit
        train, valid, _ = stratified_holdout(labelled, [p.label for p in labelled], config.valid_fraction,
                                             config.split_seed)
        return Splits(train, valid, test)

    def load_test(self, config: XiaobuConfig, path: str) -> list[Pair]:
        # a labelled file (ids, ids, label) predicts too, its labels ignored, as AFQMC's and the pair task's do
        return _numbered(read_pairs(path, labelled=None), "test")

    def test_path(self, config: XiaobuConfig) -> Path:
        return resolve(config.data_dir, config.test_file)

    def cv_pool(self, config: XiaobuConfig, data: Splits) -> list[Pair]:
        return sorted(data.train + data.valid, key=_line)  # the train file's order

    def swapped(self, examples: Sequence[Pair]) -> list[Pair]:
        return [dataclasses.replace(p, a=p.b, b=p.a) for p in examples]

    def search_space_for(self, config: XiaobuConfig) -> dict:
        """The joint variant has no classifier logits to adjust (:meth:`build` refuses a tau): its study does not
        draw ``logit_adjust_tau`` (probe AJ: every joint trial failed on the drawn tau)."""
        if config.joint:
            return {k: v for k, v in self.search_space.items() if k != "logit_adjust_tau"}
        return self.search_space

    def text_pairs(self, examples: Sequence[Pair]) -> list[tuple]:
        return [(tuple(p.a), tuple(p.b)) for p in examples]

    def build(self, config: XiaobuConfig, run_dir: Path, train: list[Pair], data: Splits) -> Model:
        """Raises ValueError: logit adjustment, pair statistics or the ESIM head asked of the joint variant."""
        if config.joint and (config.logit_adjust_tau > 0 or config.posthoc_tau > 0):
            raise ValueError("logit adjustment applies to the classification variant, not --joint: leave "
                             "--logit-adjust-tau and --posthoc-tau out (--joint turns them off) or give 0")
        heads = [flag for flag, on in (("--pair-statistics", config.pair_statistics),
                                       ("--alignment-statistics", config.alignment_statistics),
                                       ("--esim", config.esim)) if on]
        if config.joint and heads:
            raise ValueError(f"{' and '.join(heads)} add to the classification variant's pooled output; "
                             "--joint predicts through the MLM head and has none: drop them or --joint")
        labelled = sorted(data.train + data.valid, key=_line)
        sequences = [s for p in labelled + data.test for s in (p.a, p.b)]
        vocab, module, origin = build_vocab_and_model(config, sequences, mlm_head=config.joint)
        check_max_length(module.config, config.max_length)
        prior = log_prior([p.label for p in train], 2)
        if not config.joint:
            module.set_logit_adjustment(prior, config.logit_adjust_tau)
            module.set_distillation(getattr(config, "distill_alpha", DistillConfig.distill_alpha),
                                    getattr(config, "distill_temperature", DistillConfig.distill_temperature))

        def save(run_dir: Path) -> None:
            vocab.save(run_dir / VOCAB_FILE)
            module.config.save_pretrained(run_dir / "encoder")
            save_log_prior(run_dir, prior)

        # the joint variant's MLM loss: the mean over every process's masked tokens, as in pretraining
        return Model(module, vocab, origin, save, loss_fn=masked_token_loss if config.joint else None)

    def load(self, config: XiaobuConfig, run_dir: Path) -> Model:
        for name in (VOCAB_FILE, "encoder"):
            if not (run_dir / name).exists():
                raise FileNotFoundError(f"{run_dir / name} missing: is {run_dir} a finished Xiaobu run?")
        module = model_class(config.joint)(BertConfig.from_pretrained(run_dir / "encoder"))
        return Model(module, IdVocab.load(run_dir / VOCAB_FILE))

    def dataset(self, config: XiaobuConfig, model: Model, examples: list[Pair], training: bool,
                unlabelled: Sequence[Pair] = (), soft_labels: Sequence[float] | None = None):
        """Raises ValueError: soft labels (``--distill-from``) for the joint variant."""
        if soft_labels is not None and config.joint:
            raise ValueError("--distill-from trains the classification variant, not --joint")
        vocab = model.processor
        ids = np.array([t for p in examples for t in vocab.encode(p.a + p.b)])
        if not training and ids.size and (unknown := float(np.mean(ids == vocab.unk_id))) > 0.2:
            logger.warning("%.0f%% of the ids are not in the run's vocabulary: is this file desensitized with the "
                           "same mapping as the training file?", 100 * unknown)
        if config.joint:  # MLM on the labelled train pairs and (training) the unlabelled test pairs
            return joint_dataset(config, vocab, examples, training, unlabelled)
        return IdPairDataset(examples, vocab, config.max_length, swap_prob=config.pair_swap_prob if training else 0.0,
                           use_match=config.use_match, seed=config.seed, soft_labels=soft_labels,
                           use_statistics=config.pair_statistics, use_alignment=config.alignment_statistics,
                           ngram_match=config.ngram_match)

    def collate_fn(self, config: XiaobuConfig, model: Model, training: bool):
        vocab = model.processor
        return joint_collator(config, vocab, training) if config.joint else partial(collate_pairs, pad_id=vocab.pad_id)

    def predict_step(self, config: XiaobuConfig, model: Model, log_prior: Any = None, posthoc_tau: float = 0.0):
        """Raises ValueError: post-hoc adjustment asked of the joint variant."""
        if config.joint:
            if posthoc_tau > 0:
                raise ValueError("logit adjustment applies to the classification variant, not --joint")
            return JointPredictStep(model.processor)
        return PairPredictStep(log_prior, posthoc_tau)

    def score(self, examples: list[Pair], probs: np.ndarray,
              state: dict | None = None) -> tuple[dict[str, float], dict]:
        return {"auc": pair_auc(self.labels(examples), probs)}, {}  # AUC: no decision to fix

    def write_submission(self, config: XiaobuConfig, test: list[Pair], probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        """One probability per line of the test file, validated against its line count."""
        test_path = self.test_file_path(config, test_file) if test_file else resolve(config.data_dir, config.test_file)
        expected = count_lines(test_path, trailing_blank=False)
        path = Path(config.submission_dir) / f"{name}.txt"
        write_probability_submission(path, probs, expected)
        return {"submission": str(path), "rows": validate_probability_file(path, expected), "test_file": str(test_path)}


TASK = XiaobuTask()
