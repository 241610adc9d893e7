"""Logit adjustment (common.losses) against its formula, and wired into the Sohu and Xiaobu models."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from common.losses import log_prior, logit_adjusted_cross_entropy, posthoc_logit_adjustment


def test_log_prior_counts_labels_per_group():
    labels = [0, 0, 0, 1, 1, 0]
    prior = log_prior(labels, 2, smoothing=0.0)
    assert torch.allclose(prior, torch.log(torch.tensor([4 / 6, 2 / 6])))
    per = log_prior(labels, 2, groups=[0, 0, 1, 1, 1, 1], num_groups=3, smoothing=1.0)
    expected = torch.log(torch.tensor([[3 / 4, 1 / 4], [3 / 6, 3 / 6], [1 / 2, 1 / 2]]))
    assert per.shape == (3, 2) and torch.allclose(per, expected)  # group 2 has no labels: uniform
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        log_prior([0, 2], 2)


def test_adjusted_loss_matches_direct_computation():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 2, 1, 1, 0, 2])
    prior = torch.log(torch.tensor([0.7, 0.2, 0.1]))
    tau = 1.3
    direct = []
    for z, y in zip(logits, labels):  # -log( e^{z_y + tau log pi_y} / sum_j e^{z_j + tau log pi_j} )
        num = math.exp(z[y] + tau * prior[y])
        den = sum(math.exp(z[j] + tau * prior[j]) for j in range(3))
        direct.append(-math.log(num / den))
    assert logit_adjusted_cross_entropy(logits, labels, prior, tau).item() == pytest.approx(np.mean(direct), rel=1e-5)
    # tau = 0 is plain cross-entropy; per-row priors (B, C) work the same as a shared (C,) one
    assert logit_adjusted_cross_entropy(logits, labels, prior, 0.0).item() == pytest.approx(
        F.cross_entropy(logits, labels).item(), rel=1e-6)
    rows = prior.expand(6, 3)
    assert torch.allclose(logit_adjusted_cross_entropy(logits, labels, rows, tau),
                          logit_adjusted_cross_entropy(logits, labels, prior, tau))


def test_adjusted_loss_widens_the_margin_of_the_rare_class():
    # equal logits: the plain loss is indifferent, the adjusted one pushes the rare class up
    logits = torch.zeros(1, 2, requires_grad=True)
    prior = torch.log(torch.tensor([0.9, 0.1]))
    logit_adjusted_cross_entropy(logits, torch.tensor([1]), prior, 1.0).backward()
    adjusted_grad = logits.grad.clone()
    logits.grad = None
    F.cross_entropy(logits, torch.tensor([1])).backward()
    assert -adjusted_grad[0, 1] > -logits.grad[0, 1] > 0


def test_posthoc_shift_moves_decisions_but_not_auc():
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.15).astype(int)
    logits = torch.tensor(np.stack([np.zeros(400), 2 * labels + rng.normal(0, 1.5, 400) - 1.5], axis=1),
                          dtype=torch.float32)
    prior = log_prior(labels, 2)
    adjusted = posthoc_logit_adjustment(logits, prior, 1.0)
    assert torch.allclose(adjusted, logits - prior)
    p_raw, p_adj = (torch.softmax(z, -1)[:, 1].numpy() for z in (logits, adjusted))
    assert roc_auc_score(labels, p_adj) == pytest.approx(roc_auc_score(labels, p_raw), abs=1e-12)
    assert (p_adj >= 0.5).sum() > (p_raw >= 0.5).sum()  # the rare class is predicted more often
    assert torch.equal(posthoc_logit_adjustment(logits, prior, 0.0), logits)


def test_conditioned_pair_classifier_uses_per_condition_priors(tiny_tokenizer):
    from common.pair_classifier import PairClassifier
    from tests.conftest import tiny_bert

    torch.manual_seed(0)
    model = PairClassifier(tiny_bert(len(tiny_tokenizer)), num_conditions=6, condition_size=8,
                           logit_adjust_tau=0.7).eval()
    prior = torch.log(torch.tensor([[0.6, 0.4]] * 3 + [[0.9, 0.1]] * 3))
    model.set_log_prior(prior)
    batch = {"input_ids": torch.randint(5, len(tiny_tokenizer), (4, 7)), "attention_mask": torch.ones(4, 7, dtype=torch.long),
             "condition_ids": torch.tensor([0, 1, 4, 5]), "labels": torch.tensor([1, 0, 1, 1])}
    out = model(**batch)
    expected = F.cross_entropy(out.logits + 0.7 * prior[batch["condition_ids"]], batch["labels"])
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert "log_prior" not in model.state_dict()  # runs keep it in label_prior.json


def test_xiaobu_classifier_loss_forms():
    from transformers import BertConfig

    from common.bert_pair_classifier import BertPairClassifier as PairClassifier

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)
    model = PairClassifier(config).eval()
    batch = {"input_ids": torch.randint(0, 30, (5, 6)), "labels": torch.tensor([0, 1, 0, 0, 1])}
    plain = model(**batch)
    assert plain.loss.item() == pytest.approx(F.cross_entropy(plain.logits, batch["labels"]).item(), rel=1e-6)
    prior = torch.log(torch.tensor([0.7, 0.3]))
    model.set_logit_adjustment(prior, 1.0)
    adjusted = model(**batch)
    assert torch.allclose(adjusted.logits, plain.logits)  # logits stay raw
    assert adjusted.loss.item() == pytest.approx(F.cross_entropy(plain.logits + prior, batch["labels"]).item(),
                                                 rel=1e-5)


def test_a_run_trained_with_posthoc_tau_keeps_its_predictions_and_another_tau_goes_beside_it(tmp_path):
    """The run's own ``--posthoc-tau`` is its setting: ``probabilities.npz`` in its folder (what blend reads) and
    an untagged submission; predict with another tau writes ``<run>-posthoc<tau>``, the decisions shifted."""
    import json

    from common.commands import predict, train
    from tests.test_run_integrity import TINY

    run = tmp_path / "run"
    trained = train.main(["--task", "xiaobu", *TINY, "--epochs", "1", "--posthoc-tau", "1", "--run-dir", str(run),
                          "--submission-dir", str(tmp_path / "sub")])
    assert (run / "probabilities.npz").is_file() and "posthoc" not in trained["submission"]
    assert not list(run.glob("*posthoc*"))
    plain = predict.main(["--task", "xiaobu", "--run", str(run), "--posthoc-tau", "0",
                          "--submission-dir", str(tmp_path / "sub")])
    assert plain["run_dir"] == str(tmp_path / "run-posthoc0") and "run-posthoc0-" in plain["submission"]
    assert json.loads((tmp_path / "run-posthoc0" / "config.json").read_text())["posthoc_tau"] == 0
    own, other = (np.load(folder / "probabilities.npz")["test_probs"] for folder in (run, tmp_path / "run-posthoc0"))
    assert not np.allclose(own, other)  # the shift took effect
    assert np.all(np.diff(other[np.argsort(own)]) >= 0)  # a monotone one
