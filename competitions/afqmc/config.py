"""CLUE AFQMC run configuration (flags generated from the fields; see common.config)."""

from __future__ import annotations

from dataclasses import dataclass

from common.encoder import EncoderConfig
from common.losses import LogitAdjustmentConfig
from common.pair_classifier import PairClassifierConfig
from common.pair_task import SmallPairModelDefaults
from common.task import SymmetricPairConfig
from common.training.trainer import TrainConfig


@dataclass
class AfqmcConfig(SmallPairModelDefaults, TrainConfig, LogitAdjustmentConfig, SymmetricPairConfig, EncoderConfig,
                  PairClassifierConfig):
    """AFQMC (Ant Financial question matching): one pair classifier, accuracy on CLUE's dev set.

    Defaults sized for `make afqmc-train` in about 20 minutes on 2 CPU cores (103k pair
    passes at about 100 pairs/s; see RESULTS.md): a 2-layer hidden-128 BERT from scratch on
    the 21128-token Chinese vocab, pairs cut at 64 tokens (99% are under 65 characters). The
    Makefile's targets add ``--model cache/afqmc-mlm``: the same BERT MLM-pretrained on AFQMC's
    text first (``make afqmc-mlm``, common.commands.pretrain; RESULTS.md).
    """

    data_dir: str = "data/xiaobu/pairs/csts_afqmc"
    submission_dir: str = "submissions/afqmc"
    train_file: str = "train.txt"  # s1<TAB>s2<TAB>label, relative to data_dir (or absolute)
    dev_file: str = "dev.txt"  # the same format; the validation set (CLUE reports accuracy on it)
    test_file: str = "test.txt"  # s1<TAB>s2; the submission's rows, ids = line - 1 as in CLUE's test.json
    limit: int = 0  # > 0: keep only the first N pairs of train and of dev (smoke tests, quick runs)
    # the best epoch by AUC: accuracy at the tuned threshold sits at the always-0 floor in every epoch (RESULTS.md)
    metric_for_best_model: str = "auc"
