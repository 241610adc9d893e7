"""Batched inference shared by the trainer and the predict commands, through ``accelerate``.

Every prediction goes through an ``Accelerator`` the way training does: the model on
``accelerator.device``, batches from a prepared (sharded) loader, autocast with the
run's mixed precision, outputs gathered from every process with ``gather_for_metrics``
(which drops the duplicated tail of the last batch), so N processes predict each row
once and every process ends with all rows in dataset order.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

PredictStep = Callable[[nn.Module, dict[str, torch.Tensor]], dict[str, Any]]


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


def inference_loader(dataset: Dataset, batch_size: int, collate_fn: Callable, accelerator: Any = None) -> DataLoader:
    """An in-order loader over ``dataset``; with an accelerator, sharded across its processes and on its device."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
    return accelerator.prepare_data_loader(loader) if accelerator is not None else loader


@torch.no_grad()
def run_inference(model: nn.Module, loader: DataLoader, predict_step: PredictStep = default_predict_step,
                  accelerator: Any = None, show_progress: bool = True) -> dict[str, Any]:
    """Apply ``predict_step`` to every batch of ``loader`` (in order) with the model in eval mode.

    Args:
        model: on the accelerator's device (see :func:`prepare_model_for_inference`).
        loader: from :func:`inference_loader` (sharded when an accelerator is given).
        predict_step: ``(model, batch) -> {name: value}`` where a value is a (B, ...)
            tensor, or a Python list of B objects (e.g. each example's decoded spans,
            whose sizes differ between examples and processes).
        accelerator: an ``accelerate.Accelerator``, or None for a plain local loop.

    Returns:
        ``{name: (N, ...) float32/int numpy array}`` for tensors (a list of per-example
        arrays when trailing shapes differ between batches) and ``{name: list of N
        objects}`` for lists, N = ``len(loader.dataset)`` in dataset order, on every
        process. Autocast follows the accelerator's mixed precision; the model's
        train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    tensors: dict[str, list[torch.Tensor]] = {}
    objects: dict[str, list[Any]] = {}
    for batch in tqdm(loader, desc="predict", leave=False, disable=not show_progress):
        if accelerator is not None:
            with accelerator.autocast():
                out = predict_step(model, batch)
        else:
            out = predict_step(model, batch)
        for key, value in out.items():
            if isinstance(value, list):
                if accelerator is not None:
                    value = accelerator.gather_for_metrics(value, use_gather_object=True)
                objects.setdefault(key, []).extend(value)
            else:
                if accelerator is not None:
                    value = accelerator.gather_for_metrics(value.contiguous())
                tensors.setdefault(key, []).append(value)
    model.train(was_training)
    result: dict[str, Any] = {k: stack_outputs(v) for k, v in tensors.items()}
    result.update(objects)
    return result


def prepare_model_for_inference(model: nn.Module, accelerator: Any) -> nn.Module:
    """``model`` in eval mode on ``accelerator.device`` (no DDP wrapper: inference needs no gradient sync)."""
    return model.to(accelerator.device).eval()
