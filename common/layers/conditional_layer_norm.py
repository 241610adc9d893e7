"""Conditional LayerNorm, and a wrapper that conditions every LayerNorm of a HF encoder.

Conditional LayerNorm (kexue.fm/archives/7124) makes the affine parameters of a
LayerNorm depend on a condition vector ``c``::

    y = (x - mean) / sqrt(var + eps) * (gamma + W_g c) + (beta + W_b c)

``W_g`` and ``W_b`` are bias-free and initialised to zero (as bert4keras's
``LayerNormalization(conditional=True)``), so a pretrained checkpoint starts exactly
at its own weights. The Sohu 2021 baseline (kexue.fm/archives/8337) uses it to share
one encoder across six subtasks, conditioned on the subtask id.

``ConditionalEncoder`` wraps any HuggingFace model without copying its code: it
swaps each ``nn.LayerNorm`` submodule for a ``ConditionalLayerNorm`` that reads the
condition of the current forward pass from a shared context object.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConditionContext:
    """The condition of the latest forward pass, shared by the ConditionalLayerNorms.

    Kept after the pass, until the next one: gradient checkpointing
    (``--gradient-checkpointing``) reruns each layer's forward inside ``backward``, and the
    rerun must read the same (B, C) condition tensor. Not a module: it holds no parameters
    and is not saved; ``copy.deepcopy`` of the wrapper (EMA copies) gets its own, empty
    context, still shared inside the copy (a condition tensor in a graph cannot be deep-copied).
    """

    def __init__(self) -> None:
        self.condition: torch.Tensor | None = None

    def __deepcopy__(self, memo: dict) -> "ConditionContext":
        return ConditionContext()


class ConditionalLayerNorm(nn.Module):
    """LayerNorm whose gain and bias are shifted by zero-initialised projections of ``c``.

    Args:
        hidden_size: H, the normalised (last) dimension.
        condition_size: C, the size of the condition vector.
        eps: added to the variance.
        context: where the condition is read when ``forward`` gets none.

    Shapes:
        x: (B, ..., H); condition: (B, C). Returns (B, ..., H).

    Raises:
        RuntimeError: no condition given and none set in the context.
    """

    def __init__(self, hidden_size: int, condition_size: int, eps: float = 1e-12,
                 context: ConditionContext | None = None) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.gamma_proj = nn.Linear(condition_size, hidden_size, bias=False)
        self.beta_proj = nn.Linear(condition_size, hidden_size, bias=False)
        nn.init.zeros_(self.gamma_proj.weight)  # start exactly at the unconditioned LayerNorm
        nn.init.zeros_(self.beta_proj.weight)
        self.context = context

    @classmethod
    def from_layer_norm(cls, layer_norm: nn.LayerNorm, condition_size: int,
                        context: ConditionContext | None = None) -> "ConditionalLayerNorm":
        """A ConditionalLayerNorm carrying ``layer_norm``'s gain, bias and eps."""
        (hidden,) = layer_norm.normalized_shape
        cln = cls(hidden, condition_size, layer_norm.eps, context)
        cln.to(layer_norm.weight.device)
        with torch.no_grad():
            if layer_norm.weight is not None:
                cln.weight.copy_(layer_norm.weight)
            if layer_norm.bias is not None:
                cln.bias.copy_(layer_norm.bias)
        return cln

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if condition is None:
            condition = self.context.condition if self.context is not None else None
        if condition is None:
            raise RuntimeError("ConditionalLayerNorm needs a condition: pass it or call through "
                               "ConditionalEncoder.forward(condition_ids=...)")
        B, H = x.shape[0], x.shape[-1]
        if x.dim() < 2 or condition.shape[0] != B:
            raise RuntimeError(f"ConditionalLayerNorm: input of shape {tuple(x.shape)} for {condition.shape[0]} "
                               "conditions: conditioned LayerNorms normalise per-example states (B, ..., H); "
                               "leave this one out (condition_layer_norms' TABLE_NORMS)")
        normed = F.layer_norm(x, (H,), None, None, self.eps)  # (B, ..., H)
        gamma = self.weight + self.gamma_proj(condition)  # (B, H)
        beta = self.bias + self.beta_proj(condition)  # (B, H)
        shape = (B,) + (1,) * (x.dim() - 2) + (H,)  # broadcast over the middle dims
        return normed * gamma.view(shape) + beta.view(shape)


# LayerNorms of a parameter table, not of per-example states, keyed by the table beside them: they have no batch
# dimension to condition. DeBERTa-v2/v3 (``norm_rel_ebd="layer_norm"``) normalises its relative-position
# embeddings, (2 * position_buckets, H), with ``encoder.LayerNorm``.
TABLE_NORMS = {"LayerNorm": "rel_embeddings"}


def condition_layer_norms(module: nn.Module, condition_size: int,
                          context: ConditionContext) -> int:
    """Replace every ``nn.LayerNorm`` inside ``module`` that normalises per-example states by a
    ConditionalLayerNorm, in place; those of a parameter table (:data:`TABLE_NORMS`) stay as they are.

    Returns:
        The number of LayerNorms replaced.

    Raises:
        ValueError: the module has no ``nn.LayerNorm`` (nothing would be conditioned).
    """

    def of_table(name: str) -> bool:
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        return child in TABLE_NORMS and hasattr(parent, TABLE_NORMS[child])

    targets = [(name, sub) for name, sub in module.named_modules()
               if isinstance(sub, nn.LayerNorm) and not of_table(name)]
    if not targets:
        raise ValueError(f"{type(module).__name__} has no nn.LayerNorm to condition")
    for name, layer_norm in targets:
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, ConditionalLayerNorm.from_layer_norm(layer_norm, condition_size, context))
    return len(targets)


class ConditionalEncoder(nn.Module):
    """A HuggingFace encoder whose LayerNorms are all conditioned on a learned condition id.

    Args:
        encoder: any ``transformers`` model with ``nn.LayerNorm`` submodules (BERT:
            the embeddings' LayerNorm and both LayerNorms of every layer).
        num_conditions: number of condition ids (the Sohu subtasks: 6).
        condition_size: C, size of the learned condition embedding.

    ``forward(condition_ids, **kwargs)``: condition_ids (B,) long; the other keyword
    arguments go to the encoder unchanged and its output is returned unchanged. Works with
    the encoder's gradient checkpointing (the condition stays set for the rerun in backward).
    """

    def __init__(self, encoder: nn.Module, num_conditions: int, condition_size: int = 64) -> None:
        super().__init__()
        self.encoder = encoder
        self.condition_embedding = nn.Embedding(num_conditions, condition_size)
        self.context = ConditionContext()
        self.num_conditioned = condition_layer_norms(encoder, condition_size, self.context)

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def forward(self, condition_ids: torch.Tensor, **encoder_kwargs):
        # kept after the pass: a checkpointed layer reruns in backward and reads it (ConditionContext)
        self.context.condition = self.condition_embedding(condition_ids)  # (B, C)
        return self.encoder(**encoder_kwargs)
