"""The Sohu multi-task matcher: one encoder, LayerNorms conditioned on the subtask id.

kexue.fm/archives/8337: the six subtasks share one BERT whose LayerNorms are all
Conditional LayerNorms (kexue.fm/archives/7124) on an embedding of the subtask id;
the pair ``[CLS] source [SEP] target [SEP]`` is pooled and classified. Added here: an
exact-match bit per token (does it occur in the other text?) as an extra embedding,
zero-initialised so a pretrained encoder starts unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from common.layers.conditional_layer_norm import ConditionalEncoder
from common.losses import logit_adjusted_cross_entropy


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid positions: hidden (B, T, H), mask (B, T) -> (B, H)."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class SohuMatcher(nn.Module):
    """Pair classifier over a conditioned encoder.

    Args:
        encoder: a HF encoder (BertModel or any ``AutoModel`` with LayerNorms).
        num_tasks: number of subtasks (condition ids).
        condition_size: size of the subtask embedding.
        pooling: ``"cls"`` (first token) or ``"mean"`` (masked mean).
        use_match: add the exact-match embedding.
        dropout: before the classifier.
        logit_adjust_tau: > 0 trains with logit-adjusted cross-entropy on the per-subtask
            priors set by :meth:`set_log_prior` (Menon et al. 2021; kexue.fm/archives/7615).

    ``forward`` takes (B, T) ``input_ids``, ``attention_mask``, ``token_type_ids``,
    ``match_ids``, (B,) ``task_ids`` and optional (B,) ``labels``; returns
    ``SequenceClassifierOutput(loss, logits (B, 2))``.
    """

    def __init__(self, encoder: nn.Module, num_tasks: int = 6, condition_size: int = 64,
                 pooling: str = "mean", use_match: bool = True, dropout: float = 0.1,
                 logit_adjust_tau: float = 0.0) -> None:
        super().__init__()
        self.logit_adjust_tau = logit_adjust_tau
        # (num_tasks, 2) log priors; not saved in model.pt (the run keeps label_prior.json)
        self.register_buffer("log_prior", torch.full((num_tasks, 2), math.log(0.5)), persistent=False)
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.encoder = ConditionalEncoder(encoder, num_tasks, condition_size)
        hidden = encoder.config.hidden_size
        self.pooling = pooling
        self.match_embedding = nn.Embedding(2, hidden) if use_match else None
        if self.match_embedding is not None:
            nn.init.zeros_(self.match_embedding.weight)  # pretrained encoders start unchanged
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task_ids: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, match_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        B, T = input_ids.shape
        embeds = self.encoder.get_input_embeddings()(input_ids)  # (B, T, H)
        if self.match_embedding is not None and match_ids is not None:
            embeds = embeds + self.match_embedding(match_ids)  # (B, T, H)
        kwargs = {"inputs_embeds": embeds, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(condition_ids=task_ids, **kwargs).last_hidden_state  # (B, T, H)
        pooled = hidden[:, 0] if self.pooling == "cls" else masked_mean(hidden, attention_mask)  # (B, H)
        logits = self.classifier(self.dropout(pooled))  # (B, 2)
        loss = None
        if labels is not None and self.logit_adjust_tau > 0:
            loss = logit_adjusted_cross_entropy(logits, labels, self.log_prior[task_ids], self.logit_adjust_tau)
        elif labels is not None:
            loss = F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def set_log_prior(self, log_prior: torch.Tensor) -> None:
        """Set the (num_tasks, 2) log priors used by the logit-adjusted loss."""
        self.log_prior.copy_(log_prior.to(self.log_prior))
