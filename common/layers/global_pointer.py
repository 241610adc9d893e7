"""GlobalPointer and Efficient GlobalPointer span heads, with rotary position embedding.

GlobalPointer (Su et al., kexue.fm/archives/8373; arXiv 2208.03054) scores every
span ``[i, j]`` (``i <= j``) of a sentence for every entity type ``a`` as the inner
product of a start vector and an end vector::

    s_a(i, j) = (R_i q_{i,a}) . (R_j k_{j,a}) / sqrt(d)

where ``R_i`` is the rotary position embedding (RoPE, Su et al. 2021, arXiv
2104.09864), which makes the score depend on ``j - i`` only through the relative
rotation ``R_i^T R_j = R_{j-i}``. A span is predicted when its score is > 0; nested
and flat entities are the same problem, and decoding is one threshold over the
(B, heads, T, T) tensor. Trained with the multilabel categorical cross-entropy
(:func:`common.losses.multilabel_categorical_crossentropy`).

Efficient GlobalPointer (kexue.fm/archives/8877) shares one ``(q, k)`` projection
between all types and adds a per-type start bias and end bias::

    s_a(i, j) = (R_i q_i) . (R_j k_j) / sqrt(d) + w_a^T [h'_i ; h'_j] / 2

which cuts the head's parameters from ``2 * heads * d * H`` to about ``2 * d * H``.

Speed (this is the part measured against bert4torch's heads, see bench/ner_heads.py):
the loss is taken over the upper triangle only (``T(T+1)/2`` spans instead of
``T^2``), with the triangle's indices cached per length, and targets are given as
sparse ``(start, end, type)`` triples rather than a dense (B, heads, T, T) tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from common.losses import NEG_INF, multilabel_categorical_crossentropy


class RotaryEmbedding(nn.Module):
    """Rotary position embedding on the last dimension (pairs ``(2m, 2m + 1)`` rotated).

    Position ``p``'s pair ``m`` is rotated by the angle ``p * base^(-2m/d)`` (RoPE,
    arXiv 2104.09864, the interleaved layout bojone's GlobalPointer uses), computed as
    one complex multiplication ``(x_2m + i x_2m+1) * e^{i p theta_m}`` (a single
    kernel forward and backward, where the cos/sin form takes five). The rotation
    table is cached for the longest length seen.

    Args:
        dim: the rotated size ``d`` (even).
        base: the frequency base (10000).

    Raises:
        ValueError: odd ``dim``.
    """

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f"RoPE needs an even dimension, got {dim}")
        self.dim = dim
        inv_freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (d/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._cache: torch.Tensor | None = None

    def rotation(self, length: int, device: torch.device, positions: torch.Tensor | None = None) -> torch.Tensor:
        """(T, d/2) complex ``e^{i p theta_m}`` for positions 0..T-1 (cached) or ``positions`` (T,)."""
        if positions is not None:
            angles = torch.outer(positions.float().to(device), self.inv_freq.to(device))
            return torch.polar(torch.ones_like(angles), angles)
        if self._cache is None or self._cache.shape[0] < length or self._cache.device != device:
            pos = torch.arange(max(length, 64), dtype=torch.float32, device=device)
            angles = torch.outer(pos, self.inv_freq.to(device))  # (L, d/2)
            self._cache = torch.polar(torch.ones_like(angles), angles)
        return self._cache[:length]

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
        """Rotate ``x`` (B, T, ..., d) by its positions (0..T-1, or ``positions`` (T,)), times ``scale``.

        Returns:
            (B, T, ..., d) float32.
        """
        T, d = x.shape[1], x.shape[-1]
        rot = self.rotation(T, x.device, positions) * scale  # (T, d/2) complex
        rot = rot.view(1, T, *([1] * (x.dim() - 3)), d // 2)  # broadcast over batch and middle dims
        pairs = torch.view_as_complex(x.float().contiguous().view(*x.shape[:-1], d // 2, 2))  # (..., d/2) complex
        return torch.view_as_real(pairs * rot).flatten(-2)


_TRIANGLES: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def upper_triangle(length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices ``(i, j)``, ``i <= j < length``, row-major; cached per (length, device).

    Returns:
        Two (N,) long tensors, ``N = length * (length + 1) / 2``. Span ``(i, j)`` sits at
        :func:`triangle_index` ``(i, j, length)``.
    """
    key = (length, str(device))
    if key not in _TRIANGLES:
        rows, cols = torch.triu_indices(length, length, device=device)
        _TRIANGLES[key] = (rows, cols)
    return _TRIANGLES[key]


def triangle_index(start: torch.Tensor, end: torch.Tensor, length: int) -> torch.Tensor:
    """Flat position of span ``(start, end)`` (``start <= end``) in :func:`upper_triangle`'s order."""
    return start * length - start * (start - 1) // 2 + (end - start)


_TRIL: dict[tuple[int, str], torch.Tensor] = {}


def _strict_lower(length: int, device: torch.device) -> torch.Tensor:
    """(T, T) bool, True below the diagonal (end < start); cached per (length, device)."""
    key = (length, str(device))
    if key not in _TRIL:
        _TRIL[key] = torch.ones(length, length, dtype=torch.bool, device=device).tril(-1)
    return _TRIL[key]


class _SpanHead(nn.Module):
    """What GlobalPointer and Efficient GlobalPointer share: masking, loss, decoding."""

    heads: int

    def raw_scores(self, hidden: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Span scores with impossible spans masked.

        Args:
            hidden: (B, T, H) encoder states, one per character.
            mask: (B, T) 1 for characters, 0 for padding.

        Returns:
            (B, heads, T, T) scores; entry ``[b, a, i, j]`` scores span ``[i, j]`` (end
            inclusive) of type ``a``. Spans with ``j < i`` or touching padding hold
            ``-1e12`` and are never predicted.
        """
        return self.mask_scores(self.raw_scores(hidden), mask)

    @staticmethod
    def mask_scores(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, heads, T, T) scores -> masked copy (padding rows/columns and the lower triangle)."""
        T = scores.shape[-1]
        pad = ~mask.bool()  # (B, T)
        invalid = pad[:, None, :, None] | pad[:, None, None, :] | _strict_lower(T, scores.device)  # (B, 1, T, T)
        return scores.masked_fill(invalid, NEG_INF)

    def loss(self, scores: torch.Tensor, mask: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        """Multilabel categorical cross-entropy over the valid upper triangle, mean over (B, heads).

        Args:
            scores: (B, heads, T, T) raw or masked scores.
            mask: (B, T) 1 for characters.
            spans: (B, S, 3) long ``(start, end, type)`` gold spans, rows of -1 as padding.

        Returns:
            Scalar loss.
        """
        B, A, T, _ = scores.shape
        rows, cols = upper_triangle(T, scores.device)
        tri = scores[:, :, rows, cols].reshape(B * A, -1)  # (B*heads, N)
        m = mask.bool()
        valid = (m[:, rows] & m[:, cols])[:, None, :].expand(B, A, -1).reshape(B * A, -1)  # (B*heads, N)
        target = torch.zeros_like(valid)
        keep = spans[..., 0] >= 0  # (B, S)
        b, _ = keep.nonzero(as_tuple=True)
        s = spans[keep]  # (P, 3)
        target[b * A + s[:, 2], triangle_index(s[:, 0], s[:, 1], T)] = True
        return multilabel_categorical_crossentropy(tri, target, valid).mean()

    @staticmethod
    def decode(scores: torch.Tensor, threshold: float = 0.0, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Spans with score > ``threshold``, all at once.

        Args:
            scores: (B, heads, T, T) masked scores (from ``forward``), or raw scores
                together with ``mask``.
            mask: (B, T) 1 for characters, which come first (a prefix mask). When given,
                candidates with ``end < start`` or past the length are dropped (no masked
                copy of the scores is made).

        Returns:
            (P, 4) long rows ``(batch, type, start, end)``, end inclusive.
        """
        found = (scores > threshold).nonzero()  # (P, 4)
        if mask is not None:
            lengths = mask.sum(1)[found[:, 0]]
            found = found[(found[:, 2] <= found[:, 3]) & (found[:, 3] < lengths)]
        return found


class GlobalPointer(_SpanHead):
    """Multi-head span scoring with RoPE on q and k (kexue.fm/archives/8373).

    Args:
        hidden_size: ``H`` of the encoder states.
        heads: number of entity types (one head each).
        head_size: ``d``, size of q and k per head (64 in the post).
        rope: apply rotary position embedding to q and k (True in the post).

    Shapes: ``forward(hidden (B, T, H), mask (B, T)) -> (B, heads, T, T)``.
    """

    def __init__(self, hidden_size: int, heads: int, head_size: int = 64, rope: bool = True) -> None:
        super().__init__()
        self.heads, self.head_size = heads, head_size
        self.dense = nn.Linear(hidden_size, heads * head_size * 2)
        self.rope = RotaryEmbedding(head_size) if rope else None

    def raw_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, heads, T, T) unmasked scores."""
        B, T, _ = hidden.shape
        qk = self.dense(hidden).view(B, T, self.heads * 2, self.head_size)  # (B, T, heads*2, d)
        scale = self.head_size ** -0.25  # 1/sqrt(d) split between q and k, folded into the rotation
        qk = self.rope(qk, scale=scale) if self.rope is not None else qk * scale  # q and k rotated at once
        qk = qk.view(B, T, self.heads, 2, self.head_size)
        q, k = qk[..., 0, :].transpose(1, 2), qk[..., 1, :].transpose(1, 2)  # (B, heads, T, d) each
        return torch.matmul(q, k.transpose(-1, -2))  # (B, heads, T, T)


class EfficientGlobalPointer(_SpanHead):
    """GlobalPointer with one shared (q, k) projection and per-type start/end biases (kexue.fm/archives/8877).

    Args:
        hidden_size: ``H`` of the encoder states.
        heads: number of entity types.
        head_size: ``d`` of the shared q and k (64 in the post).
        rope: rotary position embedding on q and k.

    Shapes: ``forward(hidden (B, T, H), mask (B, T)) -> (B, heads, T, T)``.
    """

    def __init__(self, hidden_size: int, heads: int, head_size: int = 64, rope: bool = True) -> None:
        super().__init__()
        self.heads, self.head_size = heads, head_size
        self.dense = nn.Linear(hidden_size, head_size * 2)
        self.bias = nn.Linear(head_size * 2, heads * 2)
        self.rope = RotaryEmbedding(head_size) if rope else None

    def raw_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, heads, T, T) unmasked scores."""
        B, T, _ = hidden.shape
        proj = self.dense(hidden)  # (B, T, 2d)
        scale = self.head_size ** -0.25
        qk = proj.view(B, T, self.head_size, 2).transpose(-1, -2)  # (B, T, 2, d): q = proj[..., ::2], k = proj[..., 1::2]
        qk = self.rope(qk, scale=scale) if self.rope is not None else qk * scale
        shared = torch.matmul(qk[:, :, 0], qk[:, :, 1].transpose(-1, -2))  # (B, T, T)
        bias = self.bias(proj).transpose(1, 2) / 2  # (B, 2*heads, T)
        start, end = bias[:, 0::2, :, None], bias[:, 1::2, None, :]  # (B, heads, T, 1), (B, heads, 1, T)
        return shared[:, None] + start + end  # (B, heads, T, T)
