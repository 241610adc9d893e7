"""GlobalPointer / Efficient GlobalPointer / RoPE / multilabel categorical cross-entropy."""

import math

import pytest
import torch

from common.layers.global_pointer import EfficientGlobalPointer, GlobalPointer, RotaryEmbedding, span_grid
from common.losses import multilabel_categorical_crossentropy

HEADS = [GlobalPointer, EfficientGlobalPointer]


@pytest.mark.parametrize("cls", HEADS)
def test_shape_and_impossible_spans_never_predicted(cls):
    torch.manual_seed(0)
    head = cls(16, heads=3, head_size=8)
    hidden, mask = torch.randn(2, 5, 16), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    with torch.no_grad():  # every raw score far above 0: only the mask can stop a prediction
        for p in head.parameters():
            p.zero_()
        if cls is EfficientGlobalPointer:
            head.bias.bias.fill_(50.0)
        else:  # q = k = a constant vector: q.k > 0 everywhere (RoPE off so rotation cannot flip signs)
            head.rope = None
            head.dense.bias.fill_(1.0)
    scores = head(hidden, mask)
    assert scores.shape == (2, 3, 5, 5)
    found = {tuple(r) for r in head.decode(scores).tolist()}
    expected = {(b, a, i, j) for b, n in ((0, 5), (1, 2)) for a in range(3) for i in range(n) for j in range(i, n)}
    assert found == expected  # every upper-triangle span inside the text, nothing else
    # decoding raw scores with the mask gives the same spans without the masked copy
    assert {tuple(r) for r in head.decode(head.raw_scores(hidden), mask=mask).tolist()} == expected
    assert {tuple(r) for r in head.predict_spans(hidden, mask).tolist()} == expected  # masked in place


def _direct_mcce(scores, positive):
    """log(1 + sum_neg e^s) + log(1 + sum_pos e^-s), written out with Python floats."""
    neg = sum(math.exp(s) for s, p in zip(scores, positive) if not p)
    pos = sum(math.exp(-s) for s, p in zip(scores, positive) if p)
    return math.log(1 + neg) + math.log(1 + pos)


def test_mcce_matches_direct_formula():
    torch.manual_seed(1)
    y_pred = torch.randn(4, 7) * 3
    y_true = torch.rand(4, 7) > 0.6
    y_true[0] = False  # a row without positives
    got = multilabel_categorical_crossentropy(y_pred, y_true)
    want = [_direct_mcce(y_pred[r].tolist(), y_true[r].tolist()) for r in range(4)]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)


@pytest.mark.parametrize("cls", HEADS)
def test_span_loss_matches_direct_computation_over_valid_upper_triangle(cls):
    torch.manual_seed(2)
    head = cls(12, heads=2, head_size=4)
    hidden, mask = torch.randn(2, 4, 12), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    spans = torch.tensor([[[0, 1, 0], [2, 2, 1], [0, 3, 1]], [[1, 2, 0], [-1, -1, -1], [-1, -1, -1]]])
    raw = head.raw_scores(hidden)
    loss = head.loss(raw, mask, spans)
    gold = {(0, 0, 0, 1), (0, 1, 2, 2), (0, 1, 0, 3), (1, 0, 1, 2)}
    rows = []
    for b, n in ((0, 4), (1, 3)):
        for a in range(2):
            cells = [(i, j) for i in range(n) for j in range(i, n)]
            rows.append(_direct_mcce([raw[b, a, i, j].item() for i, j in cells],
                                     [(b, a, i, j) in gold for i, j in cells]))
    assert loss.item() == pytest.approx(sum(rows) / len(rows), rel=1e-5)
    loss.backward()  # finite gradients although padded cells are masked
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())


def test_span_grid_is_the_triu_order_and_its_band():
    rows, cols, index, invalid = span_grid(6)
    assert torch.equal(torch.stack([rows, cols]), torch.triu_indices(6, 6))
    assert index[rows, cols].tolist() == list(range(21)) and (index[invalid] == -1).all()
    rows, cols, index, invalid = span_grid(6, max_width=2)  # spans of 1 or 2 characters
    assert list(zip(rows.tolist(), cols.tolist())) == [(i, j) for i in range(6) for j in (i, i + 1) if j < 6]
    assert invalid.tolist() == [[not (0 <= j - i < 2) for j in range(6)] for i in range(6)]


@pytest.mark.parametrize("cls", HEADS)
def test_max_width_loss_and_decoding_match_direct_computation(cls):
    """With max_width=2 the loss runs over spans of 1-2 characters only; wider gold spans are dropped."""
    torch.manual_seed(5)
    head = cls(12, heads=2, head_size=4, max_width=2)
    hidden, mask = torch.randn(2, 4, 12), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    spans = torch.tensor([[[0, 1, 0], [2, 2, 1], [0, 3, 1]], [[1, 2, 0], [-1, -1, -1], [-1, -1, -1]]])
    raw = head.raw_scores(hidden)
    gold = {(0, 0, 0, 1), (0, 1, 2, 2), (1, 0, 1, 2)}  # (0, 3) is 4 characters wide
    rows = []
    for b, n in ((0, 4), (1, 3)):
        for a in range(2):
            cells = [(i, j) for i in range(n) for j in range(i, min(n, i + 2))]
            rows.append(_direct_mcce([raw[b, a, i, j].item() for i, j in cells],
                                     [(b, a, i, j) in gold for i, j in cells]))
    assert head.loss(raw, mask, spans).item() == pytest.approx(sum(rows) / len(rows), rel=1e-5)
    big = torch.full_like(raw, 5.0)  # every span scores > 0: decoding keeps exactly the narrow valid ones
    want = {(b, a, i, j) for b, n in ((0, 4), (1, 3)) for a in range(2) for i in range(n) for j in range(i, min(n, i + 2))}
    assert {tuple(r) for r in head.decode(big, mask=mask).tolist()} == want


def test_decode_finds_exactly_the_positive_cells_in_row_major_order():
    torch.manual_seed(6)
    scores = torch.randn(3, 2, 7, 7) - 1.5  # a few positives scattered over the tensor
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 1 + [0] * 6])
    head = GlobalPointer(4, heads=2, head_size=2)
    want = [(b, a, i, j) for b in range(3) for a in range(2) for i in range(7) for j in range(7)
            if scores[b, a, i, j] > 0 and i <= j and mask[b, j]]
    assert [tuple(r) for r in head.decode(scores, mask=mask).tolist()] == want
    assert head.decode(torch.full((1, 2, 3, 3), -1.0)).shape == (0, 4)


def test_rope_scores_depend_on_relative_position_only():
    torch.manual_seed(3)
    rope = RotaryEmbedding(8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(pq, pk):
        return (rope(q, torch.tensor([pq])) * rope(k, torch.tensor([pk]))).sum().item()

    base = score(3, 7)
    assert score(3 + 11, 7 + 11) == pytest.approx(base, abs=1e-4)
    assert score(0, 4) == pytest.approx(base, abs=1e-4)
    assert abs(score(3, 8) - base) > 1e-3  # a different distance gives a different score
    # the cached table agrees with explicit positions
    x = torch.randn(2, 5, 3, 8)
    assert torch.allclose(rope(x), rope(x, torch.arange(5)), atol=1e-6)


def test_gp_scores_shift_invariant_with_rope():
    """The same two tokens scored at positions (i, j) and (i+s, j+s) give the same score."""
    torch.manual_seed(4)
    head = GlobalPointer(6, heads=1, head_size=4)
    a, b, filler = torch.randn(6), torch.randn(6), torch.randn(6)
    x1 = torch.stack([a, b, filler, filler])[None]
    x2 = torch.stack([filler, filler, a, b])[None]
    s1, s2 = head.raw_scores(x1), head.raw_scores(x2)
    assert s1[0, 0, 0, 1].item() == pytest.approx(s2[0, 0, 2, 3].item(), abs=1e-5)


@pytest.mark.parametrize("cls", HEADS)
def test_half_precision_scores_mask_decode_and_loss_as_float32(cls):
    """Under `--mixed-precision fp16` on a GPU the head's scores are float16, whose range ends at 65504: masking
    with -1e12 raised "value cannot be converted to type c10::Half without overflow". Masked float16 scores hold
    the float16 minimum instead, decode to the float32 spans, and the loss (computed in float32) matches."""
    torch.manual_seed(3)
    head = cls(12, heads=2, head_size=4)
    hidden, mask = torch.randn(2, 5, 12), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    spans = torch.tensor([[[0, 1, 0], [2, 4, 1]], [[1, 2, 0], [-1, -1, -1]]])
    raw = head.raw_scores(hidden).detach()
    half = raw.half().requires_grad_()
    masked = head.mask_scores(half, mask)
    assert masked.dtype == torch.float16 and masked[1, :, 3:, :].eq(torch.finfo(torch.float16).min).all()
    assert torch.equal(head.decode(masked), head.decode(head.mask_scores(raw, mask)))
    assert torch.equal(head.decode(half, mask=mask), head.decode(raw, mask=mask))
    loss = head.loss(half, mask, spans)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(head.loss(raw.half().float(), mask, spans).item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(half.grad).all()


@pytest.mark.parametrize("cls", [GlobalPointer, EfficientGlobalPointer])
def test_predict_spans_scores_are_the_cells_scores(cls):
    """``predict_spans(with_scores=True)``: the rows of :meth:`decode` and, for each, its masked score."""
    torch.manual_seed(3)
    head = cls(8, heads=3, head_size=4)
    hidden, mask = torch.randn(2, 6, 8), torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    cells, scores = head.predict_spans(hidden, mask, threshold=-0.5, with_scores=True)
    full = head.decode(head.mask_scores(head.raw_scores(hidden), mask), threshold=-0.5)
    assert torch.equal(cells, full) and len(cells) > 0
    raw = head.raw_scores(hidden)
    assert torch.allclose(scores, raw[tuple(cells.T)].float())


def test_flat_decoding_keeps_the_best_of_overlapping_spans():
    """:func:`best_flat` against brute force: the kept set is the greedy one (each span kept iff no better-scored
    kept span overlaps it), so no two kept spans share a character, and every dropped span overlaps a better kept
    one."""
    import random

    from common.ner.spans import best_flat

    assert best_flat([(0, 1, 0), (0, 1, 1), (1, 3, 0), (4, 4, 2)], [2.0, 3.0, 1.0, 0.5]) == [(0, 1, 1), (4, 4, 2)]
    rng = random.Random(0)
    for _ in range(200):
        spans = sorted({(s, s + rng.randrange(3), rng.randrange(3)) for s in (rng.randrange(10) for _ in range(8))})
        scores = [rng.random() for _ in spans]
        kept = best_flat(spans, scores)
        assert all(a[1] < b[0] for a, b in zip(kept, kept[1:]))  # sorted, disjoint
        best = dict(zip(spans, scores))
        for span, score in zip(spans, scores):
            if span not in kept:
                assert any(best[k] >= score and not (k[1] < span[0] or span[1] < k[0]) for k in kept)
