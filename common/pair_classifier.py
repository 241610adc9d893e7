"""A sentence-pair classifier over any HF encoder, for pair tasks without task-specific layers.

``[CLS] a [SEP] b [SEP]`` through the encoder (BERT's sentence-pair recipe, Devlin et
al. 2019), pooled (masked mean or [CLS]) and classified, with two additions the
matching tasks here measured useful: the exact-match bit per token as a
zero-initialised embedding (DrQA, Chen et al. 2017; see common/match_features.py), so
a pretrained encoder starts unchanged, and the loss form of logit adjustment for the
label imbalance (Menon et al. 2021; kexue.fm/archives/7615).

:func:`build_pair_model` / :func:`load_pair_model` give a task's ``Task.build`` /
``Task.load`` in one line: tokenizer and encoder from :mod:`common.encoder`, the run
folder holding ``tokenizer/``, ``encoder/`` and ``label_prior.json``. Inputs come from
:mod:`common.pair_inputs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.modeling_outputs import SequenceClassifierOutput

from common.encoder import build_encoder, load_tokenizer
from common.losses import log_prior, logit_adjusted_cross_entropy, posthoc_logit_adjustment, save_log_prior
from common.task import Model


@dataclass
class PairClassifierConfig:
    """Options of the pair classifier; pair task configs inherit these fields."""

    max_length: int = 64  # tokens of [CLS] a [SEP] b [SEP], longest-first truncation
    pooling: str = "mean"  # mean | cls
    use_match: bool = True  # exact-match bit per token


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unmasked positions: hidden (B, T, H), mask (B, T) of 0/1 -> (B, H)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class PairClassifier(nn.Module):
    """Encoder + pooling + linear classifier over a text pair.

    Args:
        encoder: a HF encoder (``BertModel`` or any ``AutoModel`` taking ``inputs_embeds``).
        num_labels: C.
        pooling: ``"mean"`` (masked mean of the last layer) or ``"cls"`` (first token).
        use_match: add the exact-match embedding (2 rows, zero-initialised).
        dropout: before the classifier.
        logit_adjust_tau: > 0 trains with logit-adjusted cross-entropy on the prior set by
            :meth:`set_log_prior`; predict with the raw logits.

    ``forward`` takes (B, T) ``input_ids``, ``attention_mask``, optional ``token_type_ids``,
    ``match_ids`` and (B,) ``labels``; returns ``SequenceClassifierOutput(loss, logits (B, C))``.

    Raises:
        ValueError: an unknown ``pooling``.
    """

    def __init__(self, encoder: nn.Module, num_labels: int = 2, pooling: str = "mean", use_match: bool = True,
                 dropout: float = 0.1, logit_adjust_tau: float = 0.0) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.encoder, self.pooling, self.logit_adjust_tau = encoder, pooling, logit_adjust_tau
        hidden = encoder.config.hidden_size
        self.match_embedding = nn.Embedding(2, hidden) if use_match else None
        if self.match_embedding is not None:
            nn.init.zeros_(self.match_embedding.weight)  # a pretrained encoder starts exactly where it was
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)
        # (C,) log prior of the training labels; not in model.pt (the run keeps label_prior.json)
        self.register_buffer("log_prior", torch.full((num_labels,), -math.log(num_labels)), persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, match_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        B, T = input_ids.shape
        embeds = self.encoder.get_input_embeddings()(input_ids)  # (B, T, H)
        if self.match_embedding is not None and match_ids is not None:
            embeds = embeds + self.match_embedding(match_ids)  # (B, T, H)
        kwargs = {"inputs_embeds": embeds, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state  # (B, T, H)
        pooled = hidden[:, 0] if self.pooling == "cls" else masked_mean(hidden, attention_mask)  # (B, H)
        logits = self.classifier(self.dropout(pooled))  # (B, C)
        loss = None
        if labels is not None:
            loss = (logit_adjusted_cross_entropy(logits, labels, self.log_prior, self.logit_adjust_tau)
                    if self.logit_adjust_tau > 0 else F.cross_entropy(logits, labels))
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def set_log_prior(self, prior: torch.Tensor) -> None:
        """Set the (C,) log prior of the logit-adjusted loss."""
        self.log_prior.copy_(prior.to(self.log_prior))


class PairPredictStep:
    """``(model, batch) -> {"prob": (B,)}``: P(label 1), after post-hoc logit adjustment when ``posthoc_tau > 0``."""

    def __init__(self, log_prior: torch.Tensor | None = None, posthoc_tau: float = 0.0) -> None:
        self.log_prior, self.tau = log_prior, posthoc_tau

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = model(**batch).logits.float()  # (B, 2)
        if self.tau > 0:
            logits = posthoc_logit_adjustment(logits, self.log_prior, self.tau)
        return {"prob": torch.softmax(logits, dim=-1)[:, 1]}


def _classifier(config: Any, encoder: nn.Module) -> PairClassifier:
    return PairClassifier(encoder, 2, config.pooling, config.use_match, config.dropout, config.logit_adjust_tau)


def build_pair_model(config: Any, run_dir: Path, texts: Sequence[str], labels: Sequence[int]) -> Model:
    """A new 0/1 pair classifier (``Task.build``): tokenizer, encoder and the training labels' prior.

    Args:
        config: a config with :class:`common.encoder.EncoderConfig`,
            :class:`PairClassifierConfig` and ``common.losses.LogitAdjustmentConfig`` fields.
        run_dir: where a character vocab is built when ``config.vocab`` is absent.
        texts: the training texts (for that vocab).
        labels: (N,) training labels 0/1 (for the prior).
    """
    tokenizer = load_tokenizer(config, texts=texts, build_dir=run_dir / "tokenizer")
    encoder = build_encoder(config, tokenizer)
    module = _classifier(config, encoder)
    prior = log_prior(labels, 2)  # (2,)
    module.set_log_prior(prior)

    def save(run_dir: Path) -> None:
        tokenizer.save_pretrained(run_dir / "tokenizer")
        encoder.config.save_pretrained(run_dir / "encoder")
        save_log_prior(run_dir, prior)

    return Model(module, tokenizer, "pretrained" if config.model else "scratch", save)


def load_pair_model(config: Any, run_dir: Path) -> Model:
    """The architecture of a finished pair-classifier run (``Task.load``; the commands load ``model.pt``).

    Raises:
        FileNotFoundError: ``tokenizer/`` or ``encoder/`` missing from ``run_dir``.
    """
    for name in ("tokenizer", "encoder"):
        if not (Path(run_dir) / name).exists():
            raise FileNotFoundError(f"{Path(run_dir) / name} missing: is {run_dir} a finished pair-classifier run?")
    tokenizer = AutoTokenizer.from_pretrained(Path(run_dir) / "tokenizer")
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(Path(run_dir) / "encoder"))
    return Model(_classifier(config, encoder), tokenizer)
