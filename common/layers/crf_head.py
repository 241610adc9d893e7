"""A linear-chain CRF tagging head over any encoder, through ``pytorch-crf`` (the baseline).

Emissions are a linear map of the encoder states to tag scores; ``torchcrf.CRF``
(Lafferty et al. 2001; the ``pytorch-crf`` package) adds the transition scores,
the forward-algorithm normaliser for training and Viterbi decoding. Nothing of the
CRF itself is reimplemented here.
"""

from __future__ import annotations

import torch
from torch import nn


class CrfHead(nn.Module):
    """Emission layer + CRF.

    Args:
        hidden_size: ``H`` of the encoder states.
        num_tags: size of the tag set (e.g. BIO: ``1 + 2 * types``).

    Shapes: ``forward(hidden (B, T, H)) -> emissions (B, T, num_tags)``.
    """

    def __init__(self, hidden_size: int, num_tags: int) -> None:
        super().__init__()
        self.emission = nn.Linear(hidden_size, num_tags)
        from torchcrf import CRF  # imported here: only a CRF head needs pytorch-crf installed

        self.crf = CRF(num_tags, batch_first=True)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, num_tags) emission scores."""
        return self.emission(hidden)

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the gold tags.

        Args:
            emissions: (B, T, num_tags).
            tags: (B, T) long, any valid tag id at padding.
            mask: (B, T), 1 for characters; ``mask[:, 0]`` must be 1 (pytorch-crf's rule).

        A batch of one-character pieces (T = 1) never reads ``crf.transitions``; the zero term keeps it in the
        graph, so that under several processes DistributedDataParallel still gets a gradient for it from every
        process (without one it stops: "Expected to have finished reduction in the prior iteration").
        """
        nll = -self.crf(emissions.float(), tags, mask=mask.bool(), reduction="mean")
        return nll + 0.0 * self.crf.transitions.sum()

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Viterbi paths: one list of tag ids per sentence, of its unpadded length."""
        return self.crf.decode(emissions.float(), mask=mask.bool())
