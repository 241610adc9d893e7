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
the loss's negative term is taken over the upper triangle only (``T(T+1)/2`` spans
instead of ``T^2``; a band of ``max_width`` diagonals when a width limit is set),
with the indices cached per length; its positive term only over the gold spans, which
come as sparse ``(start, end, type)`` triples, so no dense (B, heads, T, T) target is
built. Decoding looks for ends only in the (sentence, type, start) rows whose maximum
passes the threshold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from common.losses import NEG_INF


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


_GRIDS: dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def span_grid(length: int, max_width: int = 0, device: torch.device | str = "cpu"
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The spans a head scores: ``i <= j < length`` and, when ``max_width > 0``, ``j - i < max_width``.

    Cached per (length, max_width, device).

    Returns:
        rows, cols: (N,) long start and end of every span, row-major (``torch.triu_indices``
            order); ``N = length * (length + 1) / 2`` without a width limit.
        index: (length, length) long, the position of span ``(i, j)`` in ``rows``/``cols``,
            -1 for spans that are not scored.
        invalid: (length, length) bool, True where ``index`` is -1 (below the diagonal or too wide).
    """
    key = (length, max_width, str(device))
    if key not in _GRIDS:
        invalid = torch.ones(length, length, dtype=torch.bool, device=device).tril(-1)  # end < start
        if max_width > 0:
            invalid |= torch.ones_like(invalid).triu(max_width)  # end - start >= max_width
        rows, cols = (~invalid).nonzero(as_tuple=True)  # row-major
        index = torch.full((length, length), -1, dtype=torch.long, device=device)
        index[rows, cols] = torch.arange(len(rows), device=device)
        _GRIDS[key] = (rows, cols, index, invalid)
    return _GRIDS[key]


class _SpanHead(nn.Module):
    """What GlobalPointer and Efficient GlobalPointer share: masking, loss, decoding.

    ``max_width > 0`` limits the spans to ``end - start < max_width`` characters: the
    loss then runs over a band of about ``T * max_width`` spans instead of ``T^2 / 2``, and
    wider spans are never predicted (gold spans wider than that are left out of the loss).
    """

    heads: int
    max_width: int = 0

    def raw_scores(self, hidden: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Span scores with impossible spans masked.

        Args:
            hidden: (B, T, H) encoder states, one per character.
            mask: (B, T) 1 for characters, 0 for padding.

        Returns:
            (B, heads, T, T) scores; entry ``[b, a, i, j]`` scores span ``[i, j]`` (end
            inclusive) of type ``a``. Spans with ``j < i``, wider than ``max_width`` or
            touching padding hold ``-1e12`` (float16 scores: -65504, :func:`masked_value`) and are
            never predicted.
        """
        return self.mask_scores(self.raw_scores(hidden), mask)

    def _invalid(self, mask: torch.Tensor, length: int) -> torch.Tensor:
        """(B, 1, T, T) bool: True for spans touching padding, below the diagonal or too wide."""
        pad = ~mask.bool()  # (B, T)
        return pad[:, None, :, None] | pad[:, None, None, :] | span_grid(length, self.max_width, mask.device)[3]

    def mask_scores(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, heads, T, T) scores -> masked copy (padding rows/columns, lower triangle, too wide), in their dtype:
        masked cells hold ``-1e12``, or the dtype's minimum where that is larger (float16: -65504)."""
        return scores.masked_fill(self._invalid(mask, scores.shape[-1]), masked_value(scores.dtype))

    def loss(self, scores: torch.Tensor, mask: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        """Multilabel categorical cross-entropy over the valid spans, mean over (B, heads).

        Per sentence ``b`` and type ``a``, with ``s`` the scores, ``P`` the gold spans and
        ``N`` every other valid span (kexue.fm/archives/7359)::

            log(1 + sum_{N} e^{s}) + log(1 + sum_{P} e^{-s})

        The first term runs over the (band of the) upper triangle, gathered once; the
        second only over the gold spans (a (B, heads, S) tensor), so no dense
        (B, heads, T, T) target is ever built.

        Args:
            scores: (B, heads, T, T) raw or masked scores.
            mask: (B, T) 1 for characters (a prefix mask).
            spans: (B, S, 3) long ``(start, end, type)`` gold spans, rows of -1 as padding.
                Each span must appear once (a repeated row counts twice in the second term).

        Returns:
            Scalar float32 loss (computed in float32 whatever the scores' dtype: float16 scores under
            fp16 mixed precision included).
        """
        B, A, T, _ = scores.shape
        S = spans.shape[1]
        rows, cols, index, _ = span_grid(T, self.max_width, scores.device)
        tri = scores.flatten(2).index_select(2, rows * T + cols)  # (B, heads, N); index_add_ backward
        m = mask.bool()
        valid = m[:, rows] & m[:, cols]  # (B, N)
        keep = spans[..., 0] >= 0  # (B, S)
        flat = index[spans[..., 0].clamp(min=0), spans[..., 1].clamp(min=0)]  # (B, S) position in tri
        keep &= flat >= 0  # spans wider than max_width are not scored
        b, k = keep.nonzero(as_tuple=True)  # (P,) sentence and row of each gold span
        types, flat = spans[b, k, 2], flat[b, k]  # (P,)
        neg = tri.float().masked_fill(~valid[:, None, :], NEG_INF)  # (B, heads, N) float32, a fresh tensor
        neg[b, types, flat] = NEG_INF  # gold spans are not negatives (in place: no copy)
        neg_term = F.softplus(torch.logsumexp(neg, dim=-1))  # (B, heads)
        pos = torch.full((B, A, S), NEG_INF, dtype=torch.float32, device=scores.device)
        pos = pos.index_put((b, types, k), -tri[b, types, flat].float())  # (B, heads, S): -s of gold spans
        pos_term = F.softplus(torch.logsumexp(pos, dim=-1))  # (B, heads)
        return (neg_term + pos_term).mean()

    def decode(self, scores: torch.Tensor, threshold: float = 0.0, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Spans with score > ``threshold``, all at once.

        Args:
            scores: (B, heads, T, T) masked scores (from ``forward``), or raw scores
                together with ``mask``.
            mask: (B, T) 1 for characters. When given, the scores are masked first
                (padding, lower triangle, spans wider than ``max_width``; a copy).

        Returns:
            (P, 4) long rows ``(batch, type, start, end)``, end inclusive, in row-major order.
        """
        if mask is not None:
            scores = self.mask_scores(scores, mask)
        return _positive_cells(scores, threshold)

    @torch.no_grad()
    def predict_spans(self, hidden: torch.Tensor, mask: torch.Tensor, threshold: float = 0.0,
                      with_scores: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Decode straight from encoder states: raw scores, masked in place (no copy), thresholded.

        Args:
            hidden: (B, T, H) encoder states; mask: (B, T) 1 for characters.
            with_scores: also return the (P,) float scores of the rows (for flat decoding).

        Returns:
            (P, 4) long rows ``(batch, type, start, end)``, as :meth:`decode` (and their scores).
        """
        scores = self.raw_scores(hidden)  # (B, heads, T, T), a fresh tensor
        scores.masked_fill_(self._invalid(mask, scores.shape[-1]), masked_value(scores.dtype))
        cells = _positive_cells(scores, threshold)
        if not with_scores:
            return cells
        b, a, i, j = cells.unbind(dim=1)
        return cells, scores[b, a, i, j].float()


def masked_value(dtype: torch.dtype) -> float:
    """The score masked spans hold: ``NEG_INF`` (-1e12), or ``dtype``'s minimum where -1e12 does not fit (float16
    scores under fp16 mixed precision: -65504). Either is far below any decoding threshold."""
    return max(NEG_INF, torch.finfo(dtype).min)


def _positive_cells(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, heads, T, T) -> (P, 4) indices of the cells > ``threshold``, row-major.

    Finds the (sentence, type, start) rows whose maximum passes first, then the ends
    within those rows only: on a trained head few rows pass, and ``nonzero`` over the
    whole tensor is what costs on a CPU.
    """
    b, a, i = (scores.amax(-1) > threshold).nonzero(as_tuple=True)  # rows holding a span
    r, j = (scores[b, a, i] > threshold).nonzero(as_tuple=True)  # (R, T) -> span ends
    return torch.stack([b[r], a[r], i[r], j], dim=1)


class GlobalPointer(_SpanHead):
    """Multi-head span scoring with RoPE on q and k (kexue.fm/archives/8373).

    Args:
        hidden_size: ``H`` of the encoder states.
        heads: number of entity types (one head each).
        head_size: ``d``, size of q and k per head (64 in the post).
        rope: apply rotary position embedding to q and k (True in the post).
        max_width: > 0: only spans of at most this many characters (see ``_SpanHead``).

    Shapes: ``forward(hidden (B, T, H), mask (B, T)) -> (B, heads, T, T)``.
    """

    def __init__(self, hidden_size: int, heads: int, head_size: int = 64, rope: bool = True,
                 max_width: int = 0) -> None:
        super().__init__()
        self.heads, self.head_size, self.max_width = heads, head_size, max_width
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

    Arguments and shapes as :class:`GlobalPointer`, except that ``head_size`` is the size
    of the one q and k shared by all types (64 in the post).
    """

    def __init__(self, hidden_size: int, heads: int, head_size: int = 64, rope: bool = True,
                 max_width: int = 0) -> None:
        super().__init__()
        self.heads, self.head_size, self.max_width = heads, head_size, max_width
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
