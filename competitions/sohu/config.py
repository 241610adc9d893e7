"""Sohu 2021 run configuration (flags generated from the fields; see common.config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.encoder import EncoderConfig
from common.losses import LogitAdjustmentConfig
from common.pair_classifier import PairClassifierConfig
from common.task import SymmetricPairConfig
from common.training.trainer import TrainConfig


@dataclass
class SohuConfig(TrainConfig, LogitAdjustmentConfig, SymmetricPairConfig, EncoderConfig, PairClassifierConfig):
    """Sohu 2021 multi-task text matching: one encoder, Conditional LayerNorm on the subtask.

    Logit adjustment uses one prior per subtask (B's positives: 12.6% of 短短B train).
    """

    data_dir: str = "data/sohu2021"
    submission_dir: str = "submissions/sohu"
    max_length: int = 96  # [CLS] source [SEP] target [SEP], the longer side cut first
    condition_size: int = 64  # size of the subtask embedding feeding the ConditionalLayerNorms
    subtasks: list[int] = field(default_factory=list)  # subtask ids 0-5 to use (--subtasks 0,1); empty: all present
    limit: int = 0  # > 0: keep only the first N examples of each split and subtask (smoke tests)
    # After training, average probabilities with this saved run (the TF-IDF reference by default:
    # `make sohu-baseline` writes it) and write that blend's submission too; "" or absent: no blend.
    blend_with: str = "runs/sohu/tfidf-baseline"
    # The submission sets an A row to 1 when the same pair is labelled 1 in B (train or valid files), and a
    # B row to 0 when it is labelled 0 in A: an event match is a topic match (competitions/sohu/implication.py).
    label_implication: bool = True
    # Train also on the rows the same rule implies: a pair labelled 1 in B as an A positive, one labelled 0 in A
    # as a B negative, for pairs no split asks in that group (986 and 5,768 rows from the short-short train files).
    # none | A (the A positives only) | B (the B negatives only) | both
    implied_labels: str = "none"
    # Sized for `make sohu-train` in under 20 minutes on 2 CPU cores (about 65 samples/s).
    num_layers: int = 2
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 3e-4
