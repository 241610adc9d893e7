"""Batched inference shared by the trainer and the predict commands."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

PredictStep = Callable[[nn.Module, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def default_predict_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Forward pass returning ``{"logits": (B, ...)}``."""
    outputs = model(**batch)
    return {"logits": outputs["logits"] if isinstance(outputs, dict) else outputs.logits}


def stack_outputs(chunks: list[torch.Tensor]) -> np.ndarray | list[np.ndarray]:
    """Concatenate per-batch outputs along dim 0 (float32 numpy).

    When the trailing shapes differ between batches (e.g. (B, heads, T, T) span
    scores with per-batch T) the result is a list with one array per example.
    """
    arrays = [c.detach().float().cpu().numpy() if c.is_floating_point() else c.detach().cpu().numpy()
              for c in chunks]
    if len({a.shape[1:] for a in arrays}) <= 1:
        return np.concatenate(arrays, axis=0)
    return [row for a in arrays for row in a]


@torch.no_grad()
def run_inference(model: nn.Module, loader: DataLoader, predict_step: PredictStep = default_predict_step,
                  accelerator: Any = None, show_progress: bool = True) -> dict[str, Any]:
    """Apply ``predict_step`` to every batch of ``loader`` (in order) with the model in eval mode.

    With an ``accelerate.Accelerator``, outputs are gathered from all processes
    (``gather_for_metrics`` drops the duplicated tail) and autocast follows its
    mixed-precision setting. The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    for batch in tqdm(loader, desc="predict", leave=False, disable=not show_progress):
        if accelerator is not None:
            with accelerator.autocast():
                out = predict_step(model, batch)
            out = accelerator.gather_for_metrics(out)
        else:
            out = predict_step(model, batch)
        for key, value in out.items():
            chunks.setdefault(key, []).append(value)
    model.train(was_training)
    return {k: stack_outputs(v) for k, v in chunks.items()}
