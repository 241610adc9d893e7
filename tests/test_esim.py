"""``--esim``: ESIM's alignment head on a cross-encoder's two segments (common/layers/esim.py)."""

import math

import numpy as np
import pytest
import torch

from common.layers.esim import ESIMInteraction, segment_masks
from tests.test_pair_tta_statistics import TINY, TINY_PAIR_BERT, classifier_and_plain


def reference(head: ESIMInteraction, hidden: torch.Tensor, first: list[int], second: list[int]) -> torch.Tensor:
    """One example by the paper's equations, over explicit token index lists: (T, H) -> (H,)."""
    a, b = hidden[first], hidden[second]  # (La, H), (Lb, H)
    e = a @ b.T / math.sqrt(hidden.shape[1])  # (La, Lb)
    a_aligned = torch.softmax(e, dim=1) @ b  # each a token over b's tokens
    b_aligned = torch.softmax(e, dim=0).T @ a  # each b token over a's tokens
    m_a = torch.relu(head.compose(torch.cat([a, a_aligned, a - a_aligned, a * a_aligned], -1)))
    m_b = torch.relu(head.compose(torch.cat([b, b_aligned, b - b_aligned, b * b_aligned], -1)))
    v = torch.cat([m_a.mean(0), m_a.max(0).values, m_b.mean(0), m_b.max(0).values])
    return head.output(v)


def test_esim_head_matches_the_equations_per_example_with_padding():
    torch.manual_seed(0)
    H = 8
    head = ESIMInteraction(H)
    assert torch.count_nonzero(head.output.weight) == 0 and torch.count_nonzero(head.output.bias) == 0
    torch.nn.init.normal_(head.output.weight)
    torch.nn.init.normal_(head.output.bias)
    # [CLS] a a [SEP] b b b [SEP] and [CLS] a [SEP] b [SEP] + 3 padding
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0, 0]])
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    first, second = segment_masks(mask, types)
    assert first.tolist()[1] == [True, True, True, False, False, False, False, False]
    assert second.tolist()[1] == [False, False, False, True, True, False, False, False]
    hidden = torch.randn(2, 8, H) * 3
    out = head(hidden, first, second)  # (2, H)
    for row, (fa, fb) in enumerate([([0, 1, 2, 3], [4, 5, 6, 7]), ([0, 1, 2], [3, 4])]):
        torch.testing.assert_close(out[row], reference(head, hidden[row], fa, fb))
    hidden[1, 5:] = 100.0  # padding changes nothing
    torch.testing.assert_close(head(hidden, first, second)[1], out[1])


def test_bert_pair_classifier_with_esim_starts_as_without_and_learns():
    model, plain = classifier_and_plain(esim=True)
    missing = plain.load_state_dict(model.state_dict(), strict=False)
    assert {k.split(".")[0] for k in missing.unexpected_keys} == {"esim"}
    ids, types = torch.randint(0, 30, (3, 6)), torch.tensor([[0, 0, 0, 1, 1, 1]] * 3)
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids, token_type_ids=types).logits,
                              plain(input_ids=ids, token_type_ids=types).logits, atol=1e-6)
    model.train()
    model(input_ids=ids, token_type_ids=types, labels=torch.tensor([0, 1, 1])).loss.backward()
    assert model.esim.output.weight.grad.abs().sum() > 0  # zero start, yet it learns
    with pytest.raises(ValueError, match="--esim"):
        model(input_ids=ids)


def test_pair_classifier_esim_keeps_the_seeded_weights_and_reaches_the_logits():
    """The shared PairClassifier (Sohu, AFQMC): the same weights as without the head at a fixed seed."""
    from transformers import BertConfig, BertModel

    from common.pair_classifier import PairClassifier

    def make(esim):
        torch.manual_seed(0)
        encoder = BertModel(BertConfig(**TINY_PAIR_BERT))
        return PairClassifier(encoder, esim=esim).eval()

    plain, model = make(False), make(True)
    ids, mask = torch.randint(0, 30, (3, 6)), torch.ones(3, 6, dtype=torch.long)
    types = torch.tensor([[0, 0, 0, 1, 1, 1]] * 3)
    with torch.no_grad():
        assert torch.equal(model(ids, mask, types).logits, plain(ids, mask, types).logits)
        model.esim.output.weight.normal_()
        assert not torch.allclose(model(ids, mask, types).logits, plain(ids, mask, types).logits)
    with pytest.raises(ValueError, match="--esim"):
        model(ids, mask)


def test_xiaobu_run_with_esim_trains_and_reloads_as_trained(tmp_path):
    from common.commands import predict, train
    from common.task import get_task

    run = tmp_path / "run"
    result = train.main(["--task", "xiaobu"] + TINY + ["--esim", "true", "--run-dir", str(run),
                                                      "--submission-dir", str(tmp_path / "sub")])
    config, model = predict.load_run(get_task("xiaobu"), run)
    assert config.esim and model.module.esim is not None
    assert torch.count_nonzero(model.module.esim.output.weight) > 0  # trained away from its zero start
    again = predict.main(["--task", "xiaobu", "--run", str(run), "--submission-dir", str(tmp_path / "again")])
    assert again["valid"] == result["valid"]
    assert np.isfinite(result["valid"]["auc"])


def test_joint_variant_refuses_the_heads_it_does_not_have(tmp_path):
    from common.commands import train

    joint = ["--joint", "true", "--logit-adjust-tau", "0", "--posthoc-tau", "0"]
    for flag in ("--esim", "--pair-statistics"):
        with pytest.raises(ValueError, match=f"{flag} add to the classification variant"):
            train.main(["--task", "xiaobu"] + TINY + joint + [flag, "true", "--run-dir", str(tmp_path / flag),
                                                                "--submission-dir", str(tmp_path / "sub")])
