"""ESIM's local inference and composition on top of a cross-encoder's two segments.

ESIM (Chen, Zhu, Ling, Wei, Jiang and Inkpen, "Enhanced LSTM for Natural Language
Inference", ACL 2017) aligns each token of one sentence with a soft attention over
the other's tokens, enhances it as ``[x; x~; x - x~; x * x~]``, composes and pools
(mean and max of each sentence). Matching-competition solutions put this head on a
BERT's last layer, where the encoder has already attended across ``[CLS] a [SEP] b
[SEP]``; here it is an addition to the pooled vector, not a replacement:

    e_ij   = <h_i, h_j> / sqrt(H)              i in a, j in b (and the transpose)
    x~_i   = sum_j softmax_j(e_ij) h_j          the other side's tokens only
    m_i    = ReLU(W_m [h_i; x~_i; h_i - x~_i; h_i * x~_i])
    v      = [mean_a m; max_a m; mean_b m; max_b m]
    out    = W_o v + b_o                         W_o, b_o zero-initialised

Two departures from the paper: the scores are scaled by ``1/sqrt(H)`` (a transformer's
hidden states have norms an unscaled softmax saturates on), and the composition is one
projection instead of a BiLSTM (the encoder below already composes). ``W_o`` starts at
zero, so a model with the head starts as the model without it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def segment_masks(attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) boolean masks of the first segment (``[CLS] a [SEP]``) and the second (``b [SEP]``), padding excluded."""
    valid = attention_mask.bool()
    return valid & (token_type_ids == 0), valid & (token_type_ids != 0)


class ESIMInteraction(nn.Module):
    """The ESIM head: (B, T, H) hidden states and the two segments' masks -> (B, H), zero at initialisation.

    Args:
        hidden_size: H.

    ``forward(hidden (B, T, H), first (B, T) bool, second (B, T) bool)``; every row needs at least one
    position in each mask (a pair input always has its ``[SEP]`` tokens), else its softmax is uniform
    over the masked positions rather than undefined.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.compose = nn.Linear(4 * hidden_size, hidden_size)
        self.output = nn.Linear(4 * hidden_size, hidden_size)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, hidden: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        B, T, H = hidden.shape
        scores = hidden @ hidden.transpose(1, 2) / math.sqrt(H)  # (B, T, T)
        lowest = torch.finfo(scores.dtype).min
        # a token of the first segment attends over the second's tokens, and the reverse
        # (boolean algebra, not torch.where: ONNX Runtime has no Where on booleans)
        row_first = first.unsqueeze(-1)  # (B, T, 1)
        other = (row_first & second.unsqueeze(1)) | (~row_first & first.unsqueeze(1))  # (B, T, T)
        attention = torch.softmax(scores.masked_fill(~other, lowest), dim=-1)  # (B, T, T)
        aligned = attention @ hidden  # (B, T, H)
        enhanced = torch.cat([hidden, aligned, hidden - aligned, hidden * aligned], dim=-1)  # (B, T, 4H)
        composed = torch.relu(self.compose(enhanced))  # (B, T, H)
        pooled = []
        for mask in (first, second):
            weights = mask.unsqueeze(-1).to(composed.dtype)  # (B, T, 1)
            pooled.append((composed * weights).sum(1) / weights.sum(1).clamp(min=1.0))  # mean (B, H)
            pooled.append(composed.masked_fill(~mask.unsqueeze(-1), lowest).amax(1))  # max (B, H)
        return self.output(torch.cat(pooled, dim=-1))  # (B, 4H) -> (B, H)
