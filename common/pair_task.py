"""A :class:`common.task.Task` for text-pair classification on the shared pair classifier.

The model, input and probability methods of a pair task are the same logic whatever
the contest: :func:`common.pair_classifier.build_pair_model` /
:func:`~common.pair_classifier.load_pair_model`, :class:`common.pair_inputs.PairDataset`
with :func:`~common.pair_inputs.collate_pairs`, and
:class:`~common.pair_classifier.PairPredictStep`. A contest subclasses :class:`PairTask`,
names the fields of its examples that hold the two texts (and, for a conditioned
model, the condition id), and writes only its data, metric and submission methods.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

from common.distillation import IGNORE_INDEX
from common.pair_classifier import PairPredictStep, build_pair_model, load_pair_model
from common.pair_inputs import PairDataset, collate_pairs
from common.task import Model, Splits, Task


@dataclass
class SmallPairModelDefaults:
    """A pair task's default encoder and training length on 2 CPU cores (AFQMC's, competitions/afqmc/RESULTS.md).

    A 2-layer hidden-128 BERT (from scratch on the 21128-token Chinese vocab unless ``--model``), 3 epochs
    of batch 64 at 3e-4: ``make afqmc-train`` (34k pairs) in about 5 minutes. Listed first among a
    config's bases, these override :class:`common.training.trainer.TrainConfig`'s and
    :class:`common.encoder.EncoderConfig`'s defaults.
    """

    num_layers: int = 2
    hidden_size: int = 128
    intermediate_size: int = 512
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 3e-4


class PairTask(Task):
    """Build, inputs and prediction of a 0/1 text-pair task (data, metric, submission left to the subclass); of C
    classes with :meth:`num_classes`.

    Attributes:
        text_fields: the two attributes of an example holding its texts.
        condition_field: the attribute holding its condition id (0..``num_conditions``-1),
            with ``num_conditions`` > 0: the classifier is conditioned on it
            (kexue.fm/archives/8337), with one label prior per condition.
        truncation: :class:`common.pair_inputs.PairDataset`'s rule.

    The config needs :class:`common.encoder.EncoderConfig`,
    :class:`common.pair_classifier.PairClassifierConfig` and
    ``common.losses.LogitAdjustmentConfig`` fields (and ``condition_size`` when conditioned).
    """

    text_fields: tuple[str, str] = ("a", "b")
    condition_field: str = ""
    num_conditions: int = 0
    truncation: str = "longest_first"
    soft_targets = True  # --distill-from: PairDataset carries soft_labels, PairClassifier's loss uses them

    def texts(self, examples: Sequence) -> tuple[list[str], list[str]]:
        """(N,) first and (N,) second texts of ``examples``."""
        first, second = self.text_fields
        return [getattr(e, first) for e in examples], [getattr(e, second) for e in examples]

    def conditions(self, examples: Sequence) -> list[int] | None:
        """(N,) condition ids, or None for an unconditioned task."""
        return [getattr(e, self.condition_field) for e in examples] if self.num_conditions else None

    def swapped(self, examples: Sequence) -> list:
        """Copies of ``examples`` with the two ``text_fields`` exchanged (dataclass examples)."""
        first, second = self.text_fields
        return [dataclasses.replace(e, **{first: getattr(e, second), second: getattr(e, first)}) for e in examples]

    def text_pairs(self, examples: Sequence) -> list[tuple]:
        return list(zip(*self.texts(examples)))  # folds keep pairs that share a text together

    def build(self, config: Any, run_dir: Path, train: list, data: Splits) -> Model:
        first, second = self.texts(train)
        return build_pair_model(config, run_dir, [t for pair in zip(first, second) for t in pair],
                                self.labels(train), self.conditions(train), self.num_conditions,
                                self.num_classes(config))  # C outputs; (N, C) probabilities when C > 2

    def load(self, config: Any, run_dir: Path) -> Model:
        return load_pair_model(config, run_dir, self.num_conditions, self.num_classes(config))

    def dataset(self, config: Any, model: Model, examples: list, training: bool,
                unlabelled: Sequence = (), soft_labels: Sequence[float] | None = None) -> PairDataset:
        """:class:`PairDataset` of ``examples``; ``soft_labels``: (N,) teacher P(label 1) (NaN: none).

        Labels are left out when no example has one; beside labelled examples, an
        unlabelled one (a test row trained on its soft target) gets ``IGNORE_INDEX``.
        """
        labelled = [e.label is not None for e in examples]
        labels = None if not any(labelled) else [e.label if has else IGNORE_INDEX for e, has in zip(examples, labelled)]
        return PairDataset(*self.texts(examples), labels, model.processor, config.max_length,
                           self.conditions(examples), self.truncation, soft_labels,
                           getattr(config, "pair_statistics", False),
                           getattr(config, "pair_swap_prob", 0.0) if training else 0.0, config.seed,
                           getattr(config, "alignment_statistics", False), getattr(config, "word_match", False),
                           getattr(config, "word_buckets", 0))

    def collate_fn(self, config: Any, model: Model, training: bool):
        return partial(collate_pairs, pad_id=model.processor.pad_token_id)

    def predict_step(self, config: Any, model: Model, log_prior: Any = None,
                     posthoc_tau: float = 0.0) -> PairPredictStep:
        return PairPredictStep(log_prior, posthoc_tau)
