"""Shortest-first inference (common/training/inference.py): outputs in dataset order, predictions as in order."""

import random

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from common.training.inference import ByLength, inference_loader, run_inference


class Rows(Dataset):
    """Row i: ``input_ids`` of length lengths[i] (values i + 1), and the row's index."""

    def __init__(self, lengths):
        self.lengths = list(lengths)

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i):
        return {"input_ids": [i + 1] * self.lengths[i], "index": i}


def collate(items):
    T = max(len(it["input_ids"]) for it in items)
    return {"input_ids": torch.tensor([it["input_ids"] + [0] * (T - len(it["input_ids"])) for it in items]),
            "index": torch.tensor([it["index"] for it in items])}


def step(model, batch):
    """(B,) index and row sum, a (B, T) padded tensor and a list of per-row token lists."""
    ids = batch["input_ids"]  # (B, T)
    return {"index": batch["index"], "total": ids.sum(1).float(), "padded": ids,
            "tokens": [row[row > 0].tolist() for row in ids]}


def test_rows_come_back_in_dataset_order_and_batches_pad_less():
    rng = random.Random(0)
    lengths = [rng.choice([2, 3, 40]) for _ in range(37)]
    ds, model = Rows(lengths), torch.nn.Identity()
    sorted_out = run_inference(model, inference_loader(ds, 8, collate), step, show_progress=False)
    plain_out = run_inference(model, torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate), step,
                              show_progress=False)
    assert sorted_out["index"].tolist() == list(range(37))
    np.testing.assert_array_equal(sorted_out["total"], plain_out["total"])
    assert sorted_out["tokens"] == plain_out["tokens"] == [[i + 1] * n for i, n in enumerate(lengths)]
    # (B, T) outputs of per-batch T come back one array per row, each row's own padding trimmed alike
    assert [r[r > 0].tolist() for r in sorted_out["padded"]] == sorted_out["tokens"]
    padded_tokens = sum(r.size for r in sorted_out["padded"])
    assert padded_tokens < plain_out["padded"].size  # shortest first pads less than dataset order
    assert padded_tokens < 1.5 * sum(lengths)


def test_given_lengths_override_and_are_checked():
    ds = Rows([5, 1, 3])
    loader = inference_loader(ds, 2, collate, lengths=[0, 2, 1])
    assert isinstance(loader.dataset, ByLength) and loader.dataset.order.tolist() == [0, 2, 1]
    assert run_inference(torch.nn.Identity(), loader, step, show_progress=False)["index"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="2 lengths for a dataset of 3 rows"):
        inference_loader(ds, 2, collate, lengths=[1, 2])
    assert ByLength(Rows([2, 1, 2, 1]), [2, 1, 2, 1]).order.tolist() == [1, 3, 0, 2]  # stable on ties


@pytest.mark.parametrize("esim", [False, True])
def test_pair_model_predicts_the_same_shortest_first_as_in_order(tiny_tokenizer, esim):
    """Padding to each batch's own longest pair changes no probability: the encoder, mean pooling and
    ESIM's alignment all mask the padding (a model that read it would fail here)."""
    from common.pair_classifier import PairClassifier, PairPredictStep
    from common.pair_inputs import PairDataset, collate_pairs
    from tests.conftest import tiny_bert

    rng = random.Random(1)
    chars = "今天气很好我们去公园散步北京顺义两个地区调整为低风险科比与奥尼尔的湖人王朝"
    texts = ["".join(rng.choice(chars) for _ in range(rng.choice([1, 2, 4, 25]))) for _ in range(2 * 23)]
    ds = PairDataset(texts[::2], texts[1::2], None, tiny_tokenizer, 60)
    torch.manual_seed(0)
    model = PairClassifier(tiny_bert(len(tiny_tokenizer)), esim=esim).eval()
    if esim:
        torch.nn.init.normal_(model.esim.output.weight)
    coll = lambda items: collate_pairs(items, tiny_tokenizer.pad_token_id)  # noqa: E731
    by_length = run_inference(model, inference_loader(ds, 8, coll), PairPredictStep(), show_progress=False)
    in_order = run_inference(model, torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=coll),
                             PairPredictStep(), show_progress=False)
    np.testing.assert_allclose(by_length["prob"], in_order["prob"], rtol=0, atol=2e-6)
    assert np.ptp(in_order["prob"]) > 1e-3  # the rows are told apart: the comparison is not of constants


def test_id_pair_lengths_are_the_encoded_token_counts():
    """Xiaobu's id pairs: ``lengths`` follows encode_pair's cut (longest side first, empty second side)."""
    from types import SimpleNamespace

    from common.id_vocab import build_id_vocab
    from common.pair_inputs import IdPairDataset

    rng = random.Random(2)
    side = lambda: [rng.randint(1, 50) for _ in range(rng.choice([0, 1, 3, 9, 30]))]  # noqa: E731
    pairs = [SimpleNamespace(a=side() or [7], b=side(), label=None) for _ in range(60)]
    vocab = build_id_vocab([p.a + p.b for p in pairs])
    ds = IdPairDataset(pairs, vocab, max_length=16)
    assert ds.lengths == [len(ds[i]["input_ids"]) for i in range(len(ds))]
    assert max(ds.lengths) == 16 and min(ds.lengths) <= 4


def test_bench_counts_the_padded_tokens_of_an_order():
    from bench.sorted_inference import padded_tokens

    lengths = [1, 5, 2, 2]
    assert padded_tokens(lengths, 2, [0, 1, 2, 3]) == 2 * 5 + 2 * 2
    assert padded_tokens(lengths, 2, [0, 2, 3, 1]) == 2 * 2 + 2 * 5
    assert padded_tokens(lengths, 3, [0, 2, 3, 1]) == 3 * 2 + 1 * 5
