"""Batched inference shared by the trainer and the predict commands, through ``accelerate``.

Every prediction goes through an ``Accelerator`` the way training does: the model on
``accelerator.device``, batches from a prepared (sharded) loader, autocast with the
run's mixed precision, outputs gathered from every process with ``gather_for_metrics``
(which drops the duplicated tail of the last batch), so N processes predict each row
once and every process ends with all rows in dataset order.

A dataset with example lengths (a ``lengths`` attribute, as the pair datasets have, or
``lengths=`` given) is predicted shortest first: each batch is padded only to its own
longest row, so a length-skewed set pads far less than in dataset order, and the outputs
are put back in dataset order. The rows do not interact (attention masks), so the
predictions are those of dataset order up to float rounding.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
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


class ByLength(Subset):
    """A dataset's rows in ascending length (stable: ties keep dataset order), for inference.

    Args:
        dataset: any map-style dataset of N rows.
        lengths: (N,) row lengths (e.g. tokens with the special ones).

    Attributes:
        order: (N,) int64, ``order[j]`` the dataset index of row j of this view;
        :func:`run_inference` uses it to put outputs back in dataset order.

    Raises:
        ValueError: ``lengths`` of another length than ``dataset``.
    """

    def __init__(self, dataset: Dataset, lengths: Sequence[int]) -> None:
        if len(lengths) != len(dataset):
            raise ValueError(f"{len(lengths)} lengths for a dataset of {len(dataset)} rows")
        self.order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
        super().__init__(dataset, self.order.tolist())


def inference_loader(dataset: Dataset, batch_size: int, collate_fn: Callable, accelerator: Any = None,
                     lengths: Sequence[int] | None = None) -> DataLoader:
    """A loader over ``dataset`` for :func:`run_inference`; with an accelerator, sharded across its processes.

    Args:
        lengths: (N,) row lengths; default the dataset's ``lengths`` attribute when it has
            one. With lengths the batches are made shortest first (:class:`ByLength`), and
            :func:`run_inference` returns the outputs in dataset order all the same.
            Without, the loader is in dataset order.

    Raises:
        ValueError: lengths of another length than ``dataset``.
    """
    lengths = getattr(dataset, "lengths", None) if lengths is None else lengths
    if lengths is not None:
        dataset = ByLength(dataset, lengths)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
    return accelerator.prepare_data_loader(loader) if accelerator is not None else loader


def forget_loader(accelerator: Any, loader: DataLoader | None) -> None:
    """Unregister a loader ``accelerator.prepare`` registered, once it is spent.

    The accelerator keeps every prepared loader: without this, every past epoch's and evaluation's loader stayed
    referenced for the whole run, and each checkpoint's ``save_state`` went over all of them (logging a sampler state
    for each; it writes ``sampler_<i>.bin`` only for accelerate's seedable samplers). The trainer's resume needs
    none of them (each epoch's order comes from ``seed + epoch``).
    """
    registered = getattr(accelerator, "_dataloaders", None)
    if loader is not None and isinstance(registered, list):
        registered[:] = [x for x in registered if x is not loader]


def _in_dataset_order(value: np.ndarray | list, order: np.ndarray) -> np.ndarray | list:
    """Rows of a :class:`ByLength` view's output (row j = dataset row ``order[j]``) back in dataset order."""
    if isinstance(value, np.ndarray):
        restored = np.empty_like(value)
        restored[order] = value
        return restored
    restored_list: list = [None] * len(value)
    for j, i in enumerate(order.tolist()):
        restored_list[i] = value[j]
    return restored_list


@torch.no_grad()
def run_inference(model: nn.Module, loader: DataLoader, predict_step: PredictStep = default_predict_step,
                  accelerator: Any = None, show_progress: bool = True) -> dict[str, Any]:
    """Apply ``predict_step`` to every batch of ``loader`` (in order) with the model in eval mode.

    Args:
        model: on the accelerator's device (see :func:`prepare_model_for_inference`).
        loader: from :func:`inference_loader` (sharded when an accelerator is given; over a
            :class:`ByLength` view, the outputs are put back in the underlying dataset's order).
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
    forget_loader(accelerator, loader)
    result: dict[str, Any] = {k: stack_outputs(v) for k, v in tensors.items()}
    result.update(objects)
    view = getattr(loader, "dataset", None)
    if isinstance(view, ByLength):
        for key, value in result.items():
            if len(value) != len(view.order):
                raise RuntimeError(f"inference returned {len(value)} rows of {key!r} for {len(view.order)} examples")
            result[key] = _in_dataset_order(value, view.order)
    return result


def prepare_model_for_inference(model: nn.Module, accelerator: Any) -> nn.Module:
    """``model`` in eval mode on ``accelerator.device`` (no DDP wrapper: inference needs no gradient sync)."""
    return model.to(accelerator.device).eval()
