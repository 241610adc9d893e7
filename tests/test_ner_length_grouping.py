"""The Trainer's optional length-grouped batches (used by NER): grouped, seeded per epoch, exact on resume."""

import json

import pytest
import torch
from torch import nn
from transformers.trainer_pt_utils import get_length_grouped_indices

from common.training.callbacks import Callback
from common.training.trainer import TrainConfig, Trainer


class MeanPool(nn.Module):
    """Mean of variable-length inputs -> 2 classes; records the padded length of every batch."""

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3, 2)
        self.seen: list[list[int]] = []

    def forward(self, x, mask, length, labels=None):
        if self.training:
            self.seen.append(length.tolist())
        logits = self.net((x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True))
        return {"loss": nn.functional.cross_entropy(logits, labels) if labels is not None else None, "logits": logits}


def _data(n=96):
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 30, (n,), generator=g).tolist()
    return [{"x": torch.randn(k, 3, generator=g), "labels": torch.tensor(k % 2)} for k in lengths]


def _collate(items):
    T = max(len(i["x"]) for i in items)
    x = torch.zeros(len(items), T, 3)
    mask = torch.zeros(len(items), T)
    for b, it in enumerate(items):
        x[b, :len(it["x"])], mask[b, :len(it["x"])] = it["x"], 1
    return {"x": x, "mask": mask, "length": mask.sum(1).long(), "labels": torch.stack([i["labels"] for i in items])}


class Crash(Callback):
    def on_step_end(self, trainer):
        if trainer.state["global_step"] == 5:
            raise KeyboardInterrupt("simulated crash")


def _trainer(run_dir, callbacks=(), **overrides):
    torch.manual_seed(0)
    data = _data()
    config = TrainConfig(epochs=2, batch_size=8, learning_rate=0.05, warmup_ratio=0.0, group_by_length=True,
                         checkpoint_every_steps=4, log_every_steps=0, **overrides)
    return Trainer(MeanPool(), config, run_dir, data, None, _collate, callbacks=callbacks,
                   lengths=[len(d["x"]) for d in data])


def test_batches_are_length_grouped_and_cover_each_epoch_once(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.train()
    seen = trainer.unwrapped_model.seen
    assert len(seen) == 2 * 12
    lengths = [len(d["x"]) for d in _data()]
    for epoch, batches in enumerate((seen[:12], seen[12:])):
        # the reference order: transformers' grouping with the generator seeded by seed + epoch
        order = get_length_grouped_indices(lengths, 8, generator=torch.Generator().manual_seed(42 + epoch))
        assert [k for b in batches for k in b] == [lengths[i] for i in order]
        assert sorted(k for b in batches for k in b) == sorted(lengths)  # every example once per epoch
        shuffled = torch.randperm(96, generator=torch.Generator().manual_seed(42 + epoch)).tolist()
        plain = sum(max(lengths[i] for i in shuffled[k:k + 8]) * 8 for k in range(0, 96, 8))
        assert sum(max(b) * len(b) for b in batches) < 0.75 * plain  # 1872 vs 2704 padded steps in epoch 1
    assert seen[:12] != seen[12:]  # a new order each epoch


def test_resume_with_length_grouping_reproduces_the_uninterrupted_run(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.train()
    crashed = _trainer(tmp_path / "b", callbacks=[Crash()])
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    assert json.loads((tmp_path / "b" / "checkpoint" / "trainer_state.json").read_text())["global_step"] == 4
    resumed = _trainer(tmp_path / "b", resume=True)
    resumed.train()
    assert crashed.unwrapped_model.seen[:4] + resumed.unwrapped_model.seen == straight.unwrapped_model.seen
    for a, b in zip(straight.unwrapped_model.parameters(), resumed.unwrapped_model.parameters()):
        torch.testing.assert_close(a, b)


def test_group_by_length_without_lengths_is_an_error(tmp_path):
    config = TrainConfig(group_by_length=True)
    with pytest.raises(ValueError, match="one length per training example"):
        Trainer(MeanPool(), config, tmp_path, _data(8), None, _collate)
