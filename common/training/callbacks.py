"""The callback interface of the training loop.

Tricks plug into :class:`common.training.trainer.Trainer` as callbacks, one line
each (``callbacks=[FGM(epsilon=1.0), EMA(decay=0.999)]``), never as ``if`` branches
inside the loop. Every hook is optional.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch

if TYPE_CHECKING:  # pragma: no cover
    from common.training.trainer import Trainer

LossFn = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class Callback:
    """Base class: override the hooks you need."""

    def on_train_begin(self, trainer: "Trainer") -> None:
        """After the model and optimizer are prepared, before the first step."""

    def on_after_backward(self, trainer: "Trainer", batch: dict[str, torch.Tensor],
                          compute_loss: LossFn) -> None:
        """After ``loss.backward()`` on ``batch``, before clipping and the optimizer step.

        ``compute_loss(batch)`` runs a fresh forward pass (for adversarial training).
        """

    def on_step_end(self, trainer: "Trainer") -> None:
        """After an optimizer step that really updated the weights (end of accumulation)."""

    def on_evaluate(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        """After an epoch's evaluation, once its checkpoint and metrics.json are written.

        ``record`` holds the epoch number, train loss and the validation metrics. A
        callback may raise here to stop the run (an Optuna pruner raises
        ``optuna.TrialPruned``); the last checkpoint stays usable.
        """

    @contextmanager
    def evaluation_weights(self, trainer: "Trainer") -> Iterator[None]:
        """Context in which evaluation and best-checkpoint saving happen (EMA swaps here)."""
        yield

    def state_dict(self) -> dict[str, Any]:
        """State to save in the checkpoint, for ``--resume``."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
