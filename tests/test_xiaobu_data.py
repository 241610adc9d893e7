"""Xiaobu readers: the desensitized_oppo files, an official test file, hand-made bad lines, the fixed split."""

import numpy as np
import pytest
import torch

from common.id_vocab import build_id_vocab
from common.cv import stratified_holdout
from common.data_files import count_lines
from common.joint_mlm import LABEL_TOKENS, JointCollator
from common.pair_inputs import collate_pairs as collate
from common.pair_inputs import IdPairDataset as PairDataset
from competitions.xiaobu.data import DataError, Pair, read_pairs
from tests.conftest import DATA, ROOT

XIAOBU = DATA / "xiaobu"
FIXTURES = ROOT / "tests" / "fixtures" / "xiaobu"
real = pytest.mark.skipif(not (XIAOBU / "desensitized_oppo").is_dir(), reason=f"Xiaobu data not linked at {XIAOBU}")


@real
def test_reads_desensitized_oppo_files():
    train = read_pairs(XIAOBU / "desensitized_oppo" / "train.tsv", labelled=True)
    assert len(train) == 8500 and sum(p.label for p in train) == 2578  # counts from SOURCE.md
    assert train[2] == Pair([1320, 1722, 290, 1945, 561, 3316, 713], [1320, 1722, 1993, 290, 1945, 561, 3316, 713], 1)
    test = read_pairs(XIAOBU / "desensitized_oppo" / "test.tsv", labelled=False, limit=1000)
    assert len(test) == 1000 and all(p.label is None for p in test)
    assert count_lines(XIAOBU / "desensitized_oppo" / "test.tsv") == 50000


@real
def test_reads_official_round1_test_file():
    path = next(XIAOBU.glob("gaiic_track3_round1_testA_*.tsv"))
    pairs = read_pairs(path, labelled=False)
    assert len(pairs) == 25000 == count_lines(path)
    assert pairs[0] == Pair([12, 23, 4160, 276], [29, 23, 169, 1495])
    assert max(max(p.a + p.b) for p in pairs) <= 21962


@pytest.mark.parametrize("line, message", [
    ("1 2\t3 x\t1\n", r"bad.tsv:2: second sentence holds 'x', expected integer ids"),
    ("1 2\t3 4\n", r"bad.tsv:2: 2 tab-separated columns, expected 3 columns"),
    ("1 2\t3 4\t2\n", r"bad.tsv:2: label '2', expected 0 or 1"),
    ("1 2\t3 4\t0.5\n", r"bad.tsv:2: label '0.5', expected 0 or 1"),
    ("\t3 4\t0\n", r"bad.tsv:2: first sentence is empty"),
    ("1 2\t3 4\t0\t9\n", r"bad.tsv:2: 4 tab-separated columns"),
])
def test_reader_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text("5 6\t7 8\t0\n" + line, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_pairs(path, labelled=True)


def test_blank_lines_may_end_a_file_but_not_sit_between_pairs(tmp_path):
    """An editor's blank lines at the end are no pairs, and the submission's row count leaves them out; a blank
    line between pairs (each pair's line is its place in the submission) is refused, naming it."""
    path = tmp_path / "t.tsv"
    path.write_text("5 6\t7 8\n9\t10\n\n \r\n", encoding="utf-8")
    assert read_pairs(path, labelled=False) == [Pair([5, 6], [7, 8]), Pair([9], [10])]
    assert count_lines(path, trailing_blank=False) == 2 and count_lines(path) == 4
    path.write_text("5 6\t7 8\n\n9\t10\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.tsv:2: blank line before the record on line 3"):
        read_pairs(path, labelled=False)


def test_reader_unlabelled_and_either(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("5 6\t7 8\n9\t10\r\n", encoding="utf-8")
    assert read_pairs(path, labelled=False) == [Pair([5, 6], [7, 8]), Pair([9], [10])]
    with pytest.raises(DataError, match="t.tsv:1: 2 tab-separated columns, expected 3"):
        read_pairs(path, labelled=True)
    assert len(read_pairs(FIXTURES / "train.tsv", labelled=None)) == 48
    with pytest.raises(DataError, match="expected 2 columns"):
        read_pairs(FIXTURES / "train.tsv", labelled=False)
    with pytest.raises(FileNotFoundError):
        read_pairs(tmp_path / "missing.tsv", labelled=False)


def test_fixed_stratified_split():
    pairs = read_pairs(FIXTURES / "train.tsv", labelled=True)
    tr, va, idx = stratified_holdout(pairs, [p.label for p in pairs], 0.25, seed=42)
    tr2, va2, idx2 = stratified_holdout(pairs, [p.label for p in pairs], 0.25, seed=42)
    assert np.array_equal(idx, idx2) and len(va) == 12 and len(tr) == 36
    assert sum(p.label for p in va) == 4  # 16 positives of 48, stratified
    assert {id(p) for p in tr}.isdisjoint({id(p) for p in va})


def test_pair_dataset_and_joint_collator():
    pairs = [Pair([5, 6, 7], [7, 5], 1), Pair([8], [9, 9], None)]
    vocab = build_id_vocab([s for p in pairs for s in (p.a, p.b)], extra_special_tokens=LABEL_TOKENS)
    batch = collate([PairDataset(pairs[:1], vocab, 16)[0], PairDataset(pairs[:1], vocab, 16)[0]], vocab.pad_id)
    assert batch["input_ids"][0].tolist() == [vocab.cls_id, *vocab.encode([5, 6, 7]), vocab.sep_id,
                                              *vocab.encode([7, 5]), vocab.sep_id]
    assert batch["labels"].tolist() == [1, 1]
    from common.pretraining import MLMPairDataset

    ds = MLMPairDataset([(vocab.encode(p.a), vocab.encode(p.b)) for p in pairs], vocab.cls_id, vocab.sep_id, 16,
                        extras=[{"pair_label": 1}, {"pair_label": -1}])
    evaluation = JointCollator(vocab)([ds[0], ds[1]])
    assert evaluation["labels"][:, 0].tolist() == [vocab.token_id("[LABEL1]"), -100]
    assert (evaluation["labels"][:, 1:] == -100).all()
    test_only = JointCollator(vocab)([ds[1]])
    assert "labels" not in test_only
    assert torch.equal(test_only["input_ids"][0, :2], torch.tensor([vocab.cls_id, vocab.encode([8])[0]]))


def test_exact_match_ids_follow_truncation_and_swapping():
    from common.id_vocab import build_id_vocab

    a, b = [5, 6, 7, 8, 9, 10], [7, 11, 5]
    vocab = build_id_vocab([a, b], min_freq=1)
    full = PairDataset([Pair(a, b, 1)], vocab, max_length=64, use_match=True)[0]
    #                      [CLS] 5 6 7 8 9 10 [SEP] 7 11 5 [SEP]
    assert full["match_ids"] == [0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0]
    assert len(full["match_ids"]) == len(full["input_ids"])
    cut = PairDataset([Pair(a, b, 1)], vocab, max_length=8, use_match=True)[0]  # longest first: a keeps 2 tokens
    assert cut["input_ids"] == full["input_ids"][:3] + full["input_ids"][7:]
    assert cut["match_ids"] == [0, 1, 0, 0, 1, 0, 1, 0]
    batch = collate([full, cut], pad_id=vocab.pad_id)
    assert batch["match_ids"].shape == batch["input_ids"].shape and batch["match_ids"][1, 8:].sum() == 0
    plain = PairDataset([Pair(a, b, 1)], vocab, max_length=64)[0]
    assert "match_ids" not in plain


def test_match_embedding_starts_at_zero_so_the_encoder_is_unchanged():
    import torch
    from transformers import BertConfig

    from common.bert_pair_classifier import BertPairClassifier as PairClassifier

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2, use_match=True)
    model = PairClassifier(config).eval()
    ids = torch.randint(0, 30, (3, 6))
    match = torch.randint(0, 2, (3, 6))
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids, match_ids=match).logits, model(input_ids=ids).logits)
        model.match_embedding.weight.normal_()
        assert not torch.allclose(model(input_ids=ids, match_ids=match).logits, model(input_ids=ids).logits)


def test_labels_written_as_floats_read_as_0_and_1(tmp_path):
    """A file written by pandas from a float column (``1.0``) reads as the pair task reads it (probe X: Xiaobu
    refused it); other numbers are refused."""
    path = tmp_path / "t.tsv"
    path.write_text("5 6\t7 8\t1.0\n9\t10\t0.0\n", encoding="utf-8")
    assert [p.label for p in read_pairs(path, labelled=True)] == [1, 0]
