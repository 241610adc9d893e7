"""Xiaobu (GAIIC 2021 track 3) run configurations (flags generated from the fields; see common.config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.encoder import EncoderConfig
from common.losses import LogitAdjustmentConfig
from common.pretraining import MLMConfig, MLMPretrainConfig
from common.task import SymmetricPairConfig
from common.training.trainer import TrainConfig


@dataclass
class XiaobuData:
    """Where the desensitized pairs are; file names resolve under ``data_dir`` unless absolute."""

    data_dir: str = "data/xiaobu"
    train_file: str = "desensitized_oppo/train.tsv"  # ids \t ids \t label
    test_file: str = "desensitized_oppo/test.tsv"  # ids \t ids (unlabelled: MLM text, and the submission's rows)
    counts_file: str = "counts.json"  # character frequencies for --model <general BERT> (frequency-rank mapping)
    min_freq: int = 2  # ids seen fewer times in train + test become [UNK]
    max_length: int = 64  # [CLS] a [SEP] b [SEP], longest side cut first (pairs here: at most 40)
    limit: int = 0  # > 0: keep only the first N lines of the train file and of MLM's files (smoke tests); the
    # test file is always read and submitted whole
    # a small BERT: sequences are short (mean 6 ids a side) and pretrain + train must fit 30 min on 2 CPU
    # cores; measured ~130 pretraining pairs/s under load with this size (4x fewer with hidden 256, 4 layers)
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 512
    max_position: int = 64


@dataclass
class XiaobuConfig(TrainConfig, LogitAdjustmentConfig, SymmetricPairConfig, MLMConfig, XiaobuData, EncoderConfig):
    """Fine-tuning: pair classification (or the joint MLM variant) on the labelled pairs.

    ``--model`` is a folder written by ``competitions.xiaobu.pretrain`` (it holds
    ``id_vocab.json``), a finished Xiaobu run or its ``encoder/`` (the fine-tuned encoder on
    the run's ids), any pretrained BERT-architecture checkpoint (ids mapped by frequency rank;
    its tokenizer beside it), or empty: a small BERT from scratch
    (:func:`common.id_encoder.build_id_vocab_and_model`). Logit adjustment (both forms) applies to
    the classification variant only.
    """

    submission_dir: str = "submissions/xiaobu"
    # the fixed stratified validation split of the train file (pretraining has none: --valid-fraction is not its flag)
    valid_fraction: float = 0.15
    split_seed: int = 42  # seed of that split (independent of the training seed)
    joint: bool = False  # bojone's variant: label as the MLM target at [CLS], MLM continued on all text
    use_match: bool = True  # classification: add the exact-match bit per token (common/match_features.py)
    # classification (the joint variant ignores it, as use_match), n >= 2: bit per token, it lies in an n-gram of
    # ids the other side shares (0: off). Bigrams
    # on the small encoder, 5 folds: OOF AUC 0.8196 -> 0.8248, 5 of 5 folds up, ensemble 0.8350 -> 0.8364 (RESULTS.md)
    ngram_match: int = 2
    pair_statistics: bool = False  # classification: 13 pair statistics added to the pooled output (match_features.py)
    alignment_statistics: bool = False  # classification: the gbm's 15 alignment statistics too (ids: overlap, runs)
    # classification: ESIM's alignment head on the two segments, added to the pooled output (common/layers/esim.py),
    # and every probability the mean of both text orders (swap TTA, common/task.py). Together, on the small encoder
    # with the n-gram bit, 5 folds: OOF AUC 0.8248 -> 0.8296, 5 of 5 folds up (RESULTS.md), for about a third more
    # training time and twice the prediction time
    esim: bool = True
    tta_swap: bool = True
    pair_swap_prob: float = 0.5  # classification: swap the two sentences of a training pair (symmetric task)
    # Defaults from `make xiaobu-tune TRIALS=6` (2026-11-23, competitions/xiaobu/results/tune/),
    # rounded: its best trial scored 0.812 valid AUC, and 5-fold CV with them 0.820 OOF AUC against
    # 0.810 with the earlier defaults (lr 2e-4, 6 epochs, no FGM/EMA/logit adjustment).
    epochs: int = 7
    batch_size: int = 64
    eval_batch_size: int = 512
    # 9e-4: the small encoder's (cache/xiaobu-pretrain, or --model ''). The Makefile's default encoder, the
    # larger cache/xiaobu-pretrain-large, trains at --learning-rate 2e-4 (at 9e-4 it did no better than the small
    # one on two folds; at 2e-4, 5-fold OOF AUC 0.850 against 0.830: RESULTS.md)
    learning_rate: float = 9e-4
    fgm_epsilon: float = 0.5
    ema_decay: float = 0.99
    logit_adjust_tau: float = 0.5  # classification only: the joint variant has it off unless given (then refused)

    def resolve_defaults(self, explicit: set[str]) -> None:
        """The joint variant (``--joint true``) keeps the ESIM head, swap TTA and logit adjustment off unless they
        were given: it has no pooled output for the head and no classifier logits to adjust (asking for either is
        an error, XiaobuTask.build) and was measured in one text order. Then :meth:`EncoderConfig.resolve_defaults`."""
        if self.joint:
            for name, off in (("esim", False), ("tta_swap", False), ("logit_adjust_tau", 0.0)):
                if name not in explicit:
                    setattr(self, name, off)
        super().resolve_defaults(explicit)


@dataclass
class XiaobuPretrainConfig(TrainConfig, MLMPretrainConfig, XiaobuData, EncoderConfig):
    """MLM pretraining on the id text of the train and test files (labels unused)."""

    extra_files: list[str] = field(default_factory=list)  # more unlabelled pair files (comma-separated), e.g. official test files
    output_dir: str = "cache/xiaobu-pretrain"
    epochs: int = 1  # 458 steps of 128 pairs (RESULTS.md's cache: 333 steps, cut by the old 14-min budget)
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.05
