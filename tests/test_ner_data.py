"""Spans -> model inputs -> spans: nested spans and long texts cut into pieces round-trip."""

import torch

from common.layers.global_pointer import GlobalPointer
from common.ner.spans import NerExample, Span
from competitions.ner.data import NerDataset, bio_tags, collate, load_dataset, merge_piece_spans
from tests.conftest import DATA


def test_nested_spans_round_trip_through_encode_and_decode(tiny_tokenizer):
    types = ["bod", "sym"]
    examples = [NerExample("今天天气很好，我们去公园散步。", [Span(0, 3, "bod"), Span(2, 3, "sym"), Span(2, 3, "bod"),
                                                   Span(9, 10, "sym")]),
                NerExample("北京顺义两个地区", [Span(0, 3, "bod"), Span(0, 1, "bod"), Span(6, 7, "sym")]),
                NerExample("", [])]
    ds = NerDataset(examples, tiny_tokenizer, types, max_length=6)  # texts cut into pieces of 6 chars
    assert [(p.example, p.offset, p.length) for p in ds.pieces] == [(0, 0, 6), (0, 6, 6), (0, 12, 3),
                                                                     (1, 0, 6), (1, 6, 2)]
    batch = collate([ds[i] for i in range(len(ds))], pad_id=tiny_tokenizer.pad_token_id)
    B, L = batch["input_ids"].shape
    assert L == 8 and batch["tag_labels"].shape == (B, 6) and batch["span_labels"].shape[-1] == 3
    # characters map 1:1 to tokens after [CLS]
    vocab = tiny_tokenizer.get_vocab()
    assert batch["input_ids"][0, 1:7].tolist() == [vocab[c] for c in "今天天气很好"]
    # a perfect score tensor built from the targets decodes back to the gold spans
    T = L - 2
    scores = torch.full((B, len(types), T, T), -5.0)
    for b in range(B):
        for s, e, t in batch["span_labels"][b].tolist():
            if s >= 0:
                scores[b, t, s, e] = 5.0
    mask = batch["attention_mask"][:, 2:]
    found = GlobalPointer.decode(GlobalPointer.mask_scores(scores, mask))
    per_piece = [[] for _ in range(B)]
    for b, t, s, e in found.tolist():
        per_piece[b].append((s, e, t))
    assert merge_piece_spans(ds, per_piece) == [sorted(ex.spans) for ex in examples]
    # the CRF targets hold the flattened spans (longest first): bod(0,3) and sym(9,10) for text 0
    tags = bio_tags(types)
    assert [tags[i] for i in ds[0]["tag_labels"]] == ["B-bod", "I-bod", "I-bod", "I-bod", "O", "O"]


def test_registered_datasets_read_when_linked():
    import pytest

    if not (DATA / "ner" / "cluener" / "dev.json").is_file():
        pytest.skip("NER data not linked")
    data = load_dataset("cluener", DATA, limit=5)
    assert [len(v) for v in data.values()] == [5, 5, 5] and data["test"][0].id == 0
