"""Match bits above the token: text pairs' char+word inputs (jieba-word match bit, hashed word ids:
--word-match, --word-buckets) and id pairs' n-gram match bit (--ngram-match)."""

import random
from types import SimpleNamespace

import jieba
import pytest
import torch
from transformers import BertConfig

from common.bert_pair_classifier import BertPairClassifier
from common.id_vocab import build_id_vocab

from common.match_features import is_content_word, ngram_match_flags, token_word_features, word_bucket, word_spans
from common.pair_classifier import PairClassifier
from common.pair_inputs import IdPairDataset, PairDataset, collate_pairs
from tests.conftest import tiny_bert

FIRST = ["北京市长江大桥今天通车了", "科比与奥尼尔的湖人王朝"]
SECOND = ["长江大桥通车", "湖人王朝的科比"]


def _reference(text: str, other: str, buckets: int) -> tuple[list[int], list[int]]:
    """Per character of ``text`` (the tiny tokenizer's tokens), straight from jieba.lcut."""
    others = {w.lower() for w in jieba.lcut(other)}
    ids, match = [], []
    for word in jieba.lcut(text):
        content = len(word) > 1 and any(c.isalnum() for c in word)
        for _ in word:
            ids.append(word_bucket(word.lower(), buckets) if content else 0)
            match.append(int(content and word.lower() in others))
    return ids, match


def test_word_spans_tile_the_text_and_features_follow_jieba():
    for text in FIRST + SECOND + ["Apple公司 发布 iPhone"]:
        words, owner = word_spans(text)
        assert "".join(words) == text.lower() and len(owner) == len(text)
    offsets = [(i, i + 1) for i in range(len(FIRST[0]))]
    ids, match = token_word_features(FIRST[0], offsets, SECOND[0], 97)
    assert (ids, match) == _reference(FIRST[0], SECOND[0], 97)
    assert match[3:7] == [1, 1, 1, 1] and match[-1] == 0  # 长江大桥 is a word of both texts; 了 is one character
    assert all(0 < i < 97 for i, w in zip(ids, match) if w)
    # an empty span ([UNK] of nothing, a special token) and one-character words get nothing
    assert token_word_features("的", [(0, 0), (0, 1)], "的", 97) == ([0, 0], [0, 0])
    assert not is_content_word("，，") and is_content_word("a1")


def test_items_carry_the_word_features_of_their_kept_tokens(tiny_tokenizer):
    ds = PairDataset(FIRST, SECOND, [1, 0], tiny_tokenizer, 64, word_match=True, word_buckets=97)
    for item, a, b in zip(ds.items, FIRST, SECOND):
        ids_a, match_a = _reference(a, b, 97)
        ids_b, match_b = _reference(b, a, 97)
        assert item["word_match_ids"] == [0] + match_a + [0] + match_b + [0]
        assert item["word_ids"] == [0] + ids_a + [0] + ids_b + [0]
    batch = collate_pairs(ds.items, tiny_tokenizer.pad_token_id)
    assert batch["word_ids"].shape == batch["word_match_ids"].shape == batch["input_ids"].shape
    # cut pairs: both truncation rules give every kept token its word's features
    for truncation in ("longest_first", "trim_longer"):
        cut = PairDataset(FIRST, SECOND, None, tiny_tokenizer, 12, truncation=truncation, word_match=True,
                          word_buckets=97)
        for item, a, b in zip(cut.items, FIRST, SECOND):
            n_a = item["token_type_ids"].count(0) - 2
            n_b = len(item["input_ids"]) - n_a - 3
            ids_a, match_a = _reference(a, b, 97)
            ids_b, match_b = _reference(b, a, 97)
            assert item["word_ids"] == [0] + ids_a[:n_a] + [0] + ids_b[:n_b] + [0]
            assert item["word_match_ids"] == [0] + match_a[:n_a] + [0] + match_b[:n_b] + [0]
    plain = PairDataset(FIRST, SECOND, [1, 0], tiny_tokenizer, 64)
    assert "word_ids" not in plain.items[0] and "word_match_ids" not in plain.items[0]
    with pytest.raises(ValueError, match="word_buckets"):
        PairDataset(FIRST, SECOND, [1, 0], tiny_tokenizer, 64, word_buckets=1)


def test_a_swapped_item_is_the_item_of_the_swapped_pair(tiny_tokenizer):
    swapped = PairDataset(FIRST, SECOND, [1, 0], tiny_tokenizer, 64, swap_prob=1.0, word_match=True,
                          word_buckets=97)
    direct = PairDataset(SECOND, FIRST, [1, 0], tiny_tokenizer, 64, word_match=True, word_buckets=97)
    for i in range(len(FIRST)):
        assert swapped[i] == direct.items[i]


def test_word_embeddings_start_at_zero_and_learn_the_rows_in_use(tiny_tokenizer):
    ds = PairDataset(FIRST, SECOND, [1, 0], tiny_tokenizer, 64, word_match=True, word_buckets=97)
    batch = collate_pairs(ds.items, tiny_tokenizer.pad_token_id)
    torch.manual_seed(0)
    plain = PairClassifier(tiny_bert(len(tiny_tokenizer)), dropout=0.0).eval()
    torch.manual_seed(0)
    model = PairClassifier(tiny_bert(len(tiny_tokenizer)), dropout=0.0, word_match=True, word_buckets=97).eval()
    without = {k: v for k, v in batch.items() if k not in ("word_ids", "word_match_ids")}
    out = model(**batch)
    # same seed, word tables created last and zero: the model without them, the same weights and logits
    assert torch.equal(out.logits, plain(**without).logits)
    out.loss.backward()
    used = sorted(set(batch["word_ids"].flatten().tolist()))  # row 0 too: tokens outside a content word
    grad = model.word_embedding.weight.grad.abs().sum(1)  # (97,)
    assert 0 in used and len(used) > 5 and torch.nonzero(grad).flatten().tolist() == used
    assert (model.word_match_embedding.weight.grad.abs().sum(1) > 0).all()


def _ngram_reference(a: list[int], b: list[int], n: int, ignore: set[int]) -> list[int]:
    """Per position of ``a``: does any n-gram of ``a`` covering it, free of ``ignore``, occur in ``b``."""
    grams_b = {tuple(b[s:s + n]) for s in range(len(b) - n + 1)}
    return [int(any(tuple(a[s:s + n]) in grams_b and not ignore & set(a[s:s + n])
                    for s in range(max(0, i - n + 1), min(i, len(a) - n) + 1))) for i in range(len(a))]


def test_ngram_match_flags_against_brute_force():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.choice([2, 3])
        a, b = ([rng.randint(1, 4) for _ in range(rng.randint(0, 9))] for _ in range(2))
        flags_a, flags_b = ngram_match_flags(a, b, n, ignore={4})
        assert flags_a == _ngram_reference(a, b, n, {4}) and flags_b == _ngram_reference(b, a, n, {4})
    assert ngram_match_flags([5, 6, 7, 8], [7, 8, 5], 2) == ([0, 0, 1, 1], [1, 1, 0])
    with pytest.raises(ValueError, match="n >= 2"):
        ngram_match_flags([1], [1], 1)


def test_id_pairs_carry_the_ngram_bit_of_the_whole_sides_and_swap_it():
    rng = random.Random(1)
    pairs = [SimpleNamespace(a=[rng.randint(1, 6) for _ in range(rng.randint(2, 12))],
                             b=[rng.randint(1, 6) for _ in range(rng.randint(2, 12))], label=i % 2) for i in range(40)]
    vocab = build_id_vocab([p.a + p.b for p in pairs])
    ds = IdPairDataset(pairs, vocab, max_length=16, ngram_match=2)
    swapped = IdPairDataset(pairs, vocab, max_length=16, ngram_match=2, swap_prob=1.0)
    direct = IdPairDataset([SimpleNamespace(a=p.b, b=p.a, label=p.label) for p in pairs], vocab, max_length=16,
                           ngram_match=2)
    for i, p in enumerate(pairs):
        item = ds[i]
        n_a = item["token_type_ids"].count(0) - 2
        n_b = len(item["input_ids"]) - n_a - 3
        ref_a, ref_b = _ngram_reference(vocab.encode(p.a), vocab.encode(p.b), 2, {vocab.unk_id, vocab.pad_id}), \
            _ngram_reference(vocab.encode(p.b), vocab.encode(p.a), 2, {vocab.unk_id, vocab.pad_id})
        assert item["ngram_match_ids"] == [0] + ref_a[:n_a] + [0] + ref_b[:n_b] + [0]
        assert swapped[i] == direct[i]
    assert "ngram_match_ids" not in IdPairDataset(pairs, vocab, max_length=16)[0]
    with pytest.raises(ValueError, match="ngram_match"):
        IdPairDataset(pairs, vocab, max_length=16, ngram_match=1)


def test_ngram_match_embedding_starts_at_zero_and_learns(tmp_path):
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2, use_match=True)
    torch.manual_seed(0)
    plain = BertPairClassifier(config).eval()
    config.ngram_match = 2
    torch.manual_seed(0)
    model = BertPairClassifier(config).eval()
    batch = {"input_ids": torch.randint(0, 30, (5, 6)), "match_ids": torch.randint(0, 2, (5, 6)),
             "ngram_match_ids": torch.randint(0, 2, (5, 6)), "labels": torch.tensor([0, 1, 0, 0, 1])}
    out = model(**batch)
    assert torch.equal(out.logits, plain(**{k: v for k, v in batch.items() if k != "ngram_match_ids"}).logits)
    out.loss.backward()
    assert (model.ngram_match_embedding.weight.grad.abs().sum(1) > 0).all()
    model.save_pretrained(tmp_path / "run")  # the bit is a config attribute: a reloaded model has the table
    assert BertPairClassifier.from_pretrained(tmp_path / "run").ngram_match_embedding is not None
