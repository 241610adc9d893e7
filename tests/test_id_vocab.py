"""The desensitized-id vocabulary and bojone's frequency-rank mapping (keep_tokens), on hand-made examples."""

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

from common.id_vocab import (SPECIAL_TOKENS, IdVocab, apply_keep_tokens, build_id_vocab, frequency_rank_keep_tokens,
                             load_char_counts)

# id 7 x4, id 5 x3, id 9 x2, id 3 x2, id 11 x1
SEQS = [[7, 5, 9], [7, 7, 5], [3, 9, 7], [5, 3, 11]]


def test_vocab_order_threshold_and_encode(tmp_path):
    vocab = build_id_vocab(SEQS, min_freq=2, extra_special_tokens=["[LABEL0]", "[LABEL1]"])
    # specials, reserved, then falling count with ties by integer value (3 before 9); 11 is below the threshold
    assert vocab.tokens == list(SPECIAL_TOKENS) + ["[LABEL0]", "[LABEL1]", "7", "5", "3", "9"]
    assert vocab.counts == [0] * 7 + [4, 3, 2, 2]
    assert vocab.encode([9, 11, 7]) == [10, vocab.unk_id, 7]
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.sep_id, vocab.mask_id) == (0, 1, 2, 3, 4)
    assert IdVocab.load(vocab.save(tmp_path / "v.json")) == vocab
    with pytest.raises(ValueError, match="min_freq"):
        build_id_vocab(SEQS, min_freq=0)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        IdVocab.load(tmp_path / "bad.json")


def test_tokenizer_over_id_strings():
    vocab = build_id_vocab(SEQS)
    tok = vocab.to_tokenizer()
    enc = tok("7 9 404", "5")
    assert enc["input_ids"] == [vocab.cls_id] + vocab.encode([7, 9, 404]) + [vocab.sep_id, vocab.token_id("5"),
                                                                               vocab.sep_id]
    assert enc["token_type_ids"] == [0] * 5 + [1] * 2
    assert len(tok) == len(vocab) and tok.mask_token_id == vocab.mask_id


def test_frequency_rank_mapping_hand_made(tmp_path):
    vocab = build_id_vocab(SEQS, min_freq=1, extra_special_tokens=["[LABEL0]"])  # ids: 7, 5, 3, 9, 11
    pretrained = ["[PAD]", "的", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "是", "了", "我", "[unused1]"]
    counts = {"的": 100, "了": 50, "是": 80, "我": 50, "你": 1000, "[unused1]": 10**9}  # 你 absent from the vocab
    keep = frequency_rank_keep_tokens(vocab, pretrained, counts)
    # specials -> namesakes; [LABEL0] -> [UNK]; 7->的, 5->是, 3->了 (tie with 我 broken by the character), 9->我,
    # 11 -> [UNK] (characters exhausted)
    assert keep == [0, 2, 3, 4, 5, 2, 1, 6, 7, 8, 2]
    (tmp_path / "c.json").write_text('{"的": 3}', encoding="utf-8")
    assert load_char_counts(tmp_path / "c.json") == {"的": 3}
    with pytest.raises(ValueError, match="lacks"):
        frequency_rank_keep_tokens(vocab, ["的", "是"], counts)


@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForSequenceClassification])
def test_apply_keep_tokens_slices_rows_and_bias(cls):
    torch.manual_seed(0)
    model = cls(BertConfig(vocab_size=12, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=16, max_position_embeddings=16))
    if cls is BertForMaskedLM:
        model.cls.predictions.bias.data = torch.arange(12.0)
    old = model.get_input_embeddings().weight.detach().clone()
    keep = [0, 2, 3, 4, 5, 2, 11, 7]
    apply_keep_tokens(model, keep)
    assert model.config.vocab_size == len(keep)
    assert torch.equal(model.get_input_embeddings().weight, old[keep])
    if cls is BertForMaskedLM:
        assert torch.equal(model.cls.predictions.bias.detach(), torch.tensor(keep, dtype=torch.float))
        assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
        out = model(input_ids=torch.tensor([[1, 7]]))
        assert out.logits.shape == (1, 2, len(keep))
    with pytest.raises(IndexError):
        apply_keep_tokens(model, [0, 99])
