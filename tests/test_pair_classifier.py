"""The shared pair classifier and its inputs (common/pair_classifier.py, common/pair_inputs.py)."""

import torch
import torch.nn.functional as F

from common.pair_classifier import PairClassifier, PairPredictStep, masked_mean
from common.pair_inputs import PairDataset, collate_pairs
from tests.conftest import tiny_bert


def _batch(tokenizer):
    ds = PairDataset(["今天天气很好", "科比"], ["天气很好", "北京顺义两个地区调整为低风险地区"], [1, 0], tokenizer, 12)
    return ds, collate_pairs(ds.items, tokenizer.pad_token_id)


def test_inputs_mark_tokens_shared_with_the_other_text_and_truncate_longest_first(tiny_tokenizer):
    ds, batch = _batch(tiny_tokenizer)
    first = ds.items[0]
    tokens = tiny_tokenizer.convert_ids_to_tokens(first["input_ids"])
    # 6 + 4 characters + 3 specials > 12: the longer first text loses its last character
    assert tokens == ["[CLS]", "今", "天", "天", "气", "很", "[SEP]", "天", "气", "很", "好", "[SEP]"]
    # flags after truncation: 今 is not in the second text, 好 no longer in the first; specials never match
    assert first["match_ids"] == [0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0]
    assert max(ds.lengths) <= 12 and ds.items[1]["token_type_ids"][:4] == [0, 0, 0, 0]
    assert len(ds.items[1]["input_ids"]) == 12  # the long second text lost tokens, not 科比
    T = max(ds.lengths)
    assert batch["input_ids"].shape == batch["match_ids"].shape == batch["attention_mask"].shape == (2, T)
    assert batch["attention_mask"].sum(1).tolist() == ds.lengths and batch["labels"].tolist() == [1, 0]


def test_forward_shapes_loss_and_zero_initialised_match_embedding(tiny_tokenizer):
    torch.manual_seed(0)
    _, batch = _batch(tiny_tokenizer)
    model = PairClassifier(tiny_bert(len(tiny_tokenizer)), dropout=0.0).eval()
    out = model(**batch)
    assert out.logits.shape == (2, 2)
    assert torch.allclose(out.loss, F.cross_entropy(out.logits, batch["labels"]))
    without = model(**{k: v for k, v in batch.items() if k != "match_ids"})
    assert torch.allclose(out.logits, without.logits)  # the match embedding starts at zero
    model.logit_adjust_tau = 1.0
    model.set_log_prior(torch.log(torch.tensor([0.7, 0.3])))
    adjusted = F.cross_entropy(out.logits + torch.log(torch.tensor([0.7, 0.3])), batch["labels"])
    assert torch.allclose(model(**batch).loss, adjusted)
    prob = PairPredictStep()(model, {k: v for k, v in batch.items() if k != "labels"})["prob"]
    assert torch.allclose(prob, torch.softmax(out.logits, -1)[:, 1])


def test_masked_mean_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])  # (1, 3, 1)
    assert masked_mean(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0]]
