"""A sentence-pair classifier over any HF encoder, optionally conditioned on a group id.

``[CLS] a [SEP] b [SEP]`` through the encoder (BERT's sentence-pair recipe, Devlin et
al. 2019), pooled (masked mean or [CLS]) and classified, with the additions the
matching tasks here measured useful: the exact-match bit per token as a
zero-initialised embedding (DrQA, Chen et al. 2017; see common/match_features.py), so
a pretrained encoder starts unchanged, and the loss form of logit adjustment for the
label imbalance (Menon et al. 2021; kexue.fm/archives/7615). With ``num_conditions``
(Sohu's six subtasks) every LayerNorm of the encoder becomes a Conditional LayerNorm
on an embedding of each pair's condition id, so one encoder serves several related
tasks (kexue.fm/archives/8337; :mod:`common.layers.conditional_layer_norm`), and the
logit-adjustment prior is kept per condition.

:func:`build_pair_model` / :func:`load_pair_model` give a task's ``Task.build`` /
``Task.load`` in one line: tokenizer and encoder from :mod:`common.encoder`, the run
folder holding ``tokenizer/``, ``encoder/`` and ``label_prior.json``. ``encoder/``
starts with the encoder's config; whenever the best epoch is saved the trainer swaps in
the fine-tuned encoder itself (``save_pretrained``, :func:`common.training.trainer.save_encoder`),
so ``AutoModel.from_pretrained(run/"encoder")`` works outside this repository (a
conditioned encoder at a zero condition). Inputs come from :mod:`common.pair_inputs`.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.modeling_outputs import SequenceClassifierOutput

from common.distillation import DistillConfig, distillation_loss
from common.encoder import build_encoder, check_max_length, load_tokenizer
from common.layers.conditional_layer_norm import ConditionalEncoder
from common.layers.esim import ESIMInteraction
from common.layers.pooled_heads import add_pooled_heads
from common.losses import log_prior, logit_adjusted_cross_entropy, posthoc_logit_adjustment, save_log_prior
from common.match_features import num_statistics
from common.task import Model


@dataclass
class PairClassifierConfig:
    """Options of the pair classifier; pair task configs inherit these fields."""

    max_length: int = 64  # tokens of [CLS] a [SEP] b [SEP], longest-first truncation
    pooling: str = "mean"  # mean | cls
    use_match: bool = True  # exact-match bit per token
    pair_statistics: bool = False  # 13 pair statistics (common/match_features.py) added to the pooled output
    alignment_statistics: bool = False  # the gbm's 15 alignment statistics (word, substring, number, name overlap) too
    esim: bool = False  # ESIM's alignment head on the two segments added to the pooled output (common/layers/esim.py)
    pair_swap_prob: float = 0.0  # training: present a pair as (b, a) with this probability (symmetric tasks)
    word_match: bool = False  # exact-match bit of each token's jieba word (char+word inputs)
    word_buckets: int = 0  # > 1: each token's jieba word, hashed into this many embedding rows (char+word inputs)


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the unmasked positions: hidden (B, T, H), mask (B, T) of 0/1 -> (B, H)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class PairClassifier(nn.Module):
    """Encoder (optionally conditioned) + exact-match embedding + pooling + linear classifier over a text pair.

    Args:
        encoder: a HF encoder (``BertModel`` or any ``AutoModel`` taking ``inputs_embeds``;
            with ``num_conditions`` it must hold ``nn.LayerNorm`` modules).
        num_labels: C.
        pooling: ``"mean"`` (masked mean of the last layer) or ``"cls"`` (first token).
        use_match: add the exact-match embedding (2 rows, zero-initialised; DrQA).
        dropout: before the classifier.
        logit_adjust_tau: > 0 trains with logit-adjusted cross-entropy on the prior set by
            :meth:`set_log_prior`; predict with the raw logits.
        num_conditions: G > 0 wraps the encoder in a
            :class:`common.layers.conditional_layer_norm.ConditionalEncoder` (G condition ids,
            an embedding of ``condition_size``; its projections start at zero, so the model
            starts as the unconditioned one) and keeps a (G, C) prior; 0: no conditioning.
        condition_size: size of the condition embedding.
        distill_alpha, distill_temperature: the soft-target loss's weight and temperature,
            used for batches that carry ``soft_labels`` (:func:`common.distillation.distillation_loss`).
        num_statistics: S > 0 adds a zero-initialised linear map of the (B, S) ``statistics``
            (:func:`common.match_features.scaled_statistics`) to the pooled output (hand
            features beside the encoder, as the Quora question-pairs solutions did).
        esim: add :class:`common.layers.esim.ESIMInteraction` of the last layer's two segments
            (from ``token_type_ids``) to the pooled output; zero at initialisation.
        word_match: add a zero-initialised 2-row embedding of ``word_match_ids``, the exact-match
            bit of each token's jieba word (:func:`common.match_features.token_word_features`).
        word_buckets: W > 1 adds a zero-initialised (W, H) embedding of ``word_ids``, each token's
            hashed jieba word (row 0, learned too: a token outside a content word): char+word inputs
            on a character encoder.

    Parameters are created in the order: condition embedding and Conditional LayerNorm
    projections, match embedding, classifier, statistics map, ESIM head, word-match and word
    embeddings (a fixed seed gives the same weights as the Sohu matcher it replaces, and as
    before the word inputs).

    ``forward`` takes (B, T) ``input_ids``, ``attention_mask``, optional ``token_type_ids``,
    ``match_ids``, ``word_match_ids``, ``word_ids``, (B, S) float ``statistics`` (required with
    ``num_statistics``), (B,)
    ``condition_ids`` (required with ``num_conditions``), (B,)
    ``labels`` and (B,) float ``soft_labels`` (a teacher's P(label 1), NaN for none; labels
    then may hold -100 for none); returns ``SequenceClassifierOutput(loss, logits (B, C))``.
    With ``soft_labels`` the loss is ``(1 - alpha) * CE(hard) + alpha * T^2 * CE(soft)``
    (Hinton et al. 2015), the hard term logit-adjusted when ``logit_adjust_tau > 0``.

    Raises:
        ValueError: an unknown ``pooling``; ``forward`` without ``condition_ids`` on a
            conditioned model, without ``statistics`` on a model with ``num_statistics``, or
            without ``token_type_ids`` on a model with ``esim``.
    """

    def __init__(self, encoder: nn.Module, num_labels: int = 2, pooling: str = "mean", use_match: bool = True,
                 dropout: float = 0.1, logit_adjust_tau: float = 0.0, num_conditions: int = 0,
                 condition_size: int = 64, distill_alpha: float = DistillConfig.distill_alpha,
                 distill_temperature: float = DistillConfig.distill_temperature, num_statistics: int = 0,
                 esim: bool = False, word_match: bool = False, word_buckets: int = 0) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.pooling, self.logit_adjust_tau, self.num_conditions = pooling, logit_adjust_tau, num_conditions
        self.distill_alpha, self.distill_temperature = distill_alpha, distill_temperature
        hidden = encoder.config.hidden_size
        # the width of the token embeddings the input tables add to: hidden_size, except where the model factorises
        # its embeddings (ALBERT's and ELECTRA's embedding_size, projected to hidden_size inside the model)
        width = encoder.get_input_embeddings().embedding_dim
        # the segment ids reach the encoder only where it embeds 2+ segments (RoBERTa and XLM-R have one row, so
        # segment 1 was an IndexError; DeBERTa-v2 none, DistilBERT no such input); the heads that tell the two texts
        # apart (ESIM, alignment statistics) read them all the same
        self.encoder_segments = getattr(encoder.config, "type_vocab_size", 0) >= 2 and \
            "token_type_ids" in inspect.signature(encoder.forward).parameters
        self.encoder = ConditionalEncoder(encoder, num_conditions, condition_size) if num_conditions else encoder
        self.match_embedding = nn.Embedding(2, width) if use_match else None
        if self.match_embedding is not None:
            nn.init.zeros_(self.match_embedding.weight)  # a pretrained encoder starts exactly where it was
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)
        self.statistics_projection = nn.Linear(num_statistics, hidden) if num_statistics else None
        if self.statistics_projection is not None:  # starts as the model without statistics
            nn.init.zeros_(self.statistics_projection.weight)
            nn.init.zeros_(self.statistics_projection.bias)
        self.esim = ESIMInteraction(hidden) if esim else None
        self.word_match_embedding = nn.Embedding(2, width) if word_match else None
        self.word_embedding = nn.Embedding(word_buckets, width) if word_buckets > 1 else None
        for table in (self.word_match_embedding, self.word_embedding):
            if table is not None:
                nn.init.zeros_(table.weight)  # starts as the model without word inputs
        # (C,) or (G, C) log prior of the training labels; not in model.pt (the run keeps label_prior.json)
        shape = (num_conditions, num_labels) if num_conditions else (num_labels,)
        self.register_buffer("log_prior", torch.full(shape, -math.log(num_labels)), persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, match_ids: torch.Tensor | None = None,
                condition_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                soft_labels: torch.Tensor | None = None,
                statistics: torch.Tensor | None = None, word_match_ids: torch.Tensor | None = None,
                word_ids: torch.Tensor | None = None) -> SequenceClassifierOutput:
        B, T = input_ids.shape
        embeds = self.encoder.get_input_embeddings()(input_ids)  # (B, T, E)
        for table, ids in ((self.match_embedding, match_ids), (self.word_match_embedding, word_match_ids),
                           (self.word_embedding, word_ids)):
            if table is not None and ids is not None:
                embeds = embeds + table(ids)  # (B, T, E): E the embedding width, H but for ALBERT / ELECTRA
        kwargs = {"inputs_embeds": embeds, "attention_mask": attention_mask}
        if token_type_ids is not None and self.encoder_segments:
            kwargs["token_type_ids"] = token_type_ids
        if self.num_conditions:
            if condition_ids is None:
                raise ValueError("a conditioned PairClassifier needs (B,) condition_ids")
            kwargs["condition_ids"] = condition_ids
        hidden = self.encoder(**kwargs).last_hidden_state  # (B, T, H)
        pooled = hidden[:, 0] if self.pooling == "cls" else masked_mean(hidden, attention_mask)  # (B, H)
        pooled = add_pooled_heads(self.dropout(pooled), hidden, attention_mask, token_type_ids, statistics,
                                  self.statistics_projection, self.esim)  # (B, H)
        logits = self.classifier(pooled)  # (B, C)
        loss = None
        if soft_labels is not None:
            hard = logits.float()  # (B, C)
            if labels is not None and self.logit_adjust_tau > 0:
                prior = self.log_prior[condition_ids] if self.num_conditions else self.log_prior  # (B, C) or (C,)
                hard = hard + self.logit_adjust_tau * prior
            loss = distillation_loss(logits, labels, soft_labels, self.distill_alpha, self.distill_temperature, hard)
        elif labels is not None and self.logit_adjust_tau > 0:
            prior = self.log_prior[condition_ids] if self.num_conditions else self.log_prior  # (B, C) or (C,)
            loss = logit_adjusted_cross_entropy(logits, labels, prior, self.logit_adjust_tau)
        elif labels is not None:
            loss = F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def set_log_prior(self, prior: torch.Tensor) -> None:
        """Set the (C,) log prior of the logit-adjusted loss ((G, C): one per condition)."""
        self.log_prior.copy_(prior.to(self.log_prior))


class PairPredictStep:
    """``(model, batch) -> {"prob": (B,)}``: P(label 1) of a 2-class pair model; ``{"prob": (B, C)}``, every class's
    probability, of a model of C > 2 classes.

    With ``posthoc_tau > 0`` the logits are first shifted by ``-tau * log_prior``
    (post-hoc logit adjustment; a (G, C) prior is indexed by the batch's
    ``condition_ids``). For two classes that shifts the log-odds: probabilities move,
    a ranking (ROC AUC) does not. ``labels`` in the batch are not passed to the model.

    Raises:
        ValueError: ``posthoc_tau > 0`` without ``log_prior``.
    """

    def __init__(self, log_prior: torch.Tensor | None = None, posthoc_tau: float = 0.0) -> None:
        if posthoc_tau > 0 and log_prior is None:
            raise ValueError("post-hoc logit adjustment needs the training label prior")
        self.log_prior, self.tau = log_prior, posthoc_tau

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()  # (B, C)
        if self.tau > 0:
            prior = self.log_prior.to(logits.device)
            if prior.dim() == 2:
                prior = prior[batch["condition_ids"]]  # (G, C) -> (B, C)
            logits = posthoc_logit_adjustment(logits, prior, self.tau)
        probs = torch.softmax(logits, dim=-1)  # (B, C)
        return {"prob": probs[:, 1] if probs.shape[-1] == 2 else probs}


def _classifier(config: Any, encoder: nn.Module, num_conditions: int, num_labels: int = 2) -> PairClassifier:
    return PairClassifier(encoder, num_labels, config.pooling, config.use_match, config.dropout, config.logit_adjust_tau,
                          num_conditions, getattr(config, "condition_size", 64),
                          getattr(config, "distill_alpha", DistillConfig.distill_alpha),
                          getattr(config, "distill_temperature", DistillConfig.distill_temperature),
                          num_statistics(getattr(config, "pair_statistics", False),
                                         getattr(config, "alignment_statistics", False)),
                          getattr(config, "esim", False), getattr(config, "word_match", False),
                          getattr(config, "word_buckets", 0))


def build_pair_model(config: Any, run_dir: Path, texts: Sequence[str], labels: Sequence[int],
                     conditions: Sequence[int] | None = None, num_conditions: int = 0, num_labels: int = 2) -> Model:
    """A new pair classifier of ``num_labels`` classes (``Task.build``): tokenizer, encoder and the training labels'
    prior.

    Args:
        config: a config with :class:`common.encoder.EncoderConfig`,
            :class:`PairClassifierConfig` and ``common.losses.LogitAdjustmentConfig`` fields
            (and ``condition_size`` when conditioned; default 64).
        run_dir: where a character vocab is built when ``config.vocab`` is absent.
        texts: the training texts (for that vocab).
        labels: (N,) training labels 0..``num_labels``-1 (for the prior).
        conditions: (N,) condition ids of the training pairs (one prior per condition),
            with ``num_conditions`` G > 0 (a :class:`PairClassifier` conditioned on them).
    """
    tokenizer = load_tokenizer(config, texts=texts, build_dir=run_dir / "tokenizer")
    encoder = build_encoder(config, tokenizer)
    check_max_length(encoder.config, config.max_length)
    module = _classifier(config, encoder, num_conditions, num_labels)
    prior = log_prior(labels, num_labels, groups=conditions, num_groups=num_conditions or None)  # (C,) or (G, C)
    module.set_log_prior(prior)

    def save(run_dir: Path) -> None:
        tokenizer.save_pretrained(run_dir / "tokenizer")
        # the trainer adds the best weights beside it with save_pretrained, which names the class: named here too,
        # so a resumed run's save leaves that file as it was (probe AC: an MLM cache's BertForMaskedLM came back)
        encoder.config.architectures = [type(encoder).__name__]
        encoder.config.save_pretrained(run_dir / "encoder")
        save_log_prior(run_dir, prior)

    return Model(module, tokenizer, "pretrained" if config.model else "scratch", save)


def load_pair_model(config: Any, run_dir: Path, num_conditions: int = 0, num_labels: int = 2) -> Model:
    """The architecture of a finished pair-classifier run (``Task.load``; the commands load ``model.pt``).

    ``num_conditions``, ``num_labels``: as the run was built with (see :func:`build_pair_model`).

    Raises:
        FileNotFoundError: ``tokenizer/`` or ``encoder/`` missing from ``run_dir``.
    """
    for name in ("tokenizer", "encoder"):
        if not (Path(run_dir) / name).exists():
            raise FileNotFoundError(f"{Path(run_dir) / name} missing: is {run_dir} a finished pair-classifier run?")
    tokenizer = AutoTokenizer.from_pretrained(Path(run_dir) / "tokenizer")
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(Path(run_dir) / "encoder"))
    return Model(_classifier(config, encoder, num_conditions, num_labels), tokenizer)
