"""FGM / PGD restore the embeddings; EMA follows its formula and swaps cleanly."""

import types

import pytest
import torch
from torch import nn

from common.training.adversarial import FGM, PGD
from common.training.ema import EMA


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, input_ids, labels):
        logits = self.out(self.word_embeddings(input_ids).mean(1))
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def _fake_trainer(model):
    accelerator = types.SimpleNamespace(backward=lambda loss: loss.backward(), num_processes=1, sync_gradients=True)
    return types.SimpleNamespace(model=model, unwrapped_model=model, accelerator=accelerator)


@pytest.mark.parametrize("trick", [FGM(epsilon=0.5), PGD(epsilon=0.5, alpha=0.2, steps=3)])
def test_adversarial_step_restores_embeddings_and_adds_gradient(trick):
    torch.manual_seed(0)
    model = Toy()
    batch = {"input_ids": torch.randint(0, 10, (4, 3)), "labels": torch.tensor([0, 1, 0, 1])}
    loss_fn = lambda b: model(**b)["loss"]  # noqa: E731
    before = model.word_embeddings.weight.detach().clone()
    loss_fn(batch).backward()
    clean = model.out.weight.grad.clone()
    trick.on_after_backward(_fake_trainer(model), batch, loss_fn)
    torch.testing.assert_close(model.word_embeddings.weight, before, rtol=0, atol=0)
    # the adversarial pass added its own gradient on top of the clean one
    assert not torch.allclose(model.out.weight.grad, clean)


def test_ema_matches_formula_and_swap_restores():
    torch.manual_seed(0)
    model = Toy()
    ema = EMA(decay=0.9)
    ema.attach(model)
    ema.update(model)  # AveragedModel's first update copies the weights
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.swapped(model):
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, 0.9 * start[key] + 0.1 * raw[key])
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, raw[key], rtol=0, atol=0)


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError):
        FGM(epsilon=0)
    with pytest.raises(ValueError):
        EMA(decay=1.0)
