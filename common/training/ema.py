"""Exponential moving average of the weights, as a training callback.

Polyak & Juditsky (1992); used by bert4keras (``ExponentialMovingAverage``) and the
top GAIIC 2021 solutions. The average itself is PyTorch's maintained
``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn(decay)``:
``ema = decay * ema + (1 - decay) * w`` after every optimizer step. Evaluation and
best-checkpoint saving run on the EMA weights; training resumes on the raw weights.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from common.training.callbacks import Callback


class EMA(Callback):
    """Keep an EMA of the model's parameters and buffers; evaluate on it.

    Args:
        decay: in (0, 1); 0.999 averages over roughly the last 1000 steps.
    """

    def __init__(self, decay: float = 0.999) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.averaged: AveragedModel | None = None
        self._pending_state: dict[str, Any] | None = None

    def attach(self, model: nn.Module) -> None:
        """Start averaging ``model`` (called by the trainer at ``on_train_begin``)."""
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(self.decay),
                                      use_buffers=True)
        if self._pending_state is not None:
            self.averaged.load_state_dict(self._pending_state)
            self._pending_state = None

    def on_train_begin(self, trainer) -> None:
        self.attach(trainer.unwrapped_model)

    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    def on_step_end(self, trainer) -> None:
        self.update(trainer.unwrapped_model)

    @contextmanager
    def swapped(self, model: nn.Module) -> Iterator[None]:
        """Inside the context ``model`` holds the EMA weights; afterwards its own again."""
        if self.averaged is None:
            yield
            return
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.averaged.module.state_dict())
        try:
            yield
        finally:
            model.load_state_dict(backup)

    @contextmanager
    def evaluation_weights(self, trainer) -> Iterator[None]:
        with self.swapped(trainer.unwrapped_model):
            yield

    def state_dict(self) -> dict[str, Any]:
        return self.averaged.state_dict() if self.averaged is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self.averaged is None:
            self._pending_state = state
        else:
            self.averaged.load_state_dict(state)
