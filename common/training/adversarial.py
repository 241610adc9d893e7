"""Adversarial training on the word embeddings: FGM and PGD, as training callbacks.

FGM (Miyato et al., "Adversarial Training Methods for Semi-Supervised Text
Classification", ICLR 2017; kexue.fm/archives/7234): after the normal backward
pass, move the embedding matrix along its gradient, ``r = eps * g / ||g||_2``,
run forward/backward again so the gradients of both passes add up, then put the
embeddings back. PGD (Madry et al., ICLR 2018) takes ``steps`` smaller steps of
size ``alpha``, projecting back into the eps-ball each time, and keeps only the
last adversarial gradient on top of the clean one.

The direction is the embedding gradient as it stands after the batch's backward pass:
with ``--grad-accum-steps`` > 1, that of the batches accumulated so far in the optimizer
step. Under several processes it is the gradient averaged over them: on the step's last
batch DistributedDataParallel has averaged it; on the batches before it (no
synchronisation) :func:`process_mean_grad` averages the embedding gradient first, so n
processes at batch b perturb as 1 process at n*b does with accumulation too (probe AG: the
local gradient of b rows moved 2-process probabilities up to 0.06 from 1 process's).
Accumulated runs perturb each micro-batch from a partial gradient and so do not match an
unaccumulated run exactly (measured on a tiny Sohu run: probabilities 0.002 apart with 2
accumulated batches of 8 against one of 16).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from common.training.callbacks import Callback, LossFn


def find_embedding_parameter(model: nn.Module, name: str = "word_embeddings") -> nn.Parameter:
    """The word-embedding matrix (V, H) of ``model``: the parameter whose name contains ``name``.

    Raises:
        ValueError: none or several parameters match.
    """
    matches = [(n, p) for n, p in model.named_parameters() if name in n and p.requires_grad]
    if len(matches) != 1:
        found = [n for n, _ in matches]
        raise ValueError(f"expected exactly one trainable parameter named like {name!r}, found {found}")
    return matches[0][1]


def process_mean_grad(trainer, emb: nn.Parameter) -> torch.Tensor:
    """``emb.grad`` (V, H), averaged in place over the processes where they have not synchronised this batch (an
    accumulation batch under several processes: DistributedDataParallel averages only on a step's last batch), so
    the direction is the one 1 process finds for the same rows. Averaging in place leaves the step's gradient as it
    was: the later synchronisation averages what is already equal on every process. Every process calls it on the
    same batches (each runs the same number of batches a step)."""
    accelerator = trainer.accelerator
    if accelerator.num_processes > 1 and not accelerator.sync_gradients and dist.is_initialized():
        dist.all_reduce(emb.grad, op=dist.ReduceOp.SUM)  # gloo has no AVG
        emb.grad.div_(accelerator.num_processes)
    return emb.grad


class FGM(Callback):
    """Fast Gradient Method on the word embeddings (one extra forward/backward per step).

    Args:
        epsilon: L2 norm of the perturbation of the whole (V, H) embedding gradient
            direction (bert4keras's default 0.5-1.0).
        param_name: substring naming the embedding parameter (BERT: ``word_embeddings``).
    """

    def __init__(self, epsilon: float = 1.0, param_name: str = "word_embeddings") -> None:
        if epsilon <= 0:
            raise ValueError(f"FGM epsilon must be > 0, got {epsilon}")
        self.epsilon = epsilon
        self.param_name = param_name

    def on_after_backward(self, trainer, batch, compute_loss: LossFn) -> None:
        emb = find_embedding_parameter(trainer.model, self.param_name)
        if emb.grad is None:
            return
        norm = torch.linalg.vector_norm(process_mean_grad(trainer, emb))
        if not torch.isfinite(norm) or norm == 0:
            return
        backup = emb.data.clone()  # restore by copy: add-then-subtract drifts by rounding
        emb.data.add_(self.epsilon * emb.grad / norm)  # (V, H)
        try:
            trainer.accelerator.backward(compute_loss(batch))
        finally:
            emb.data.copy_(backup)


class PGD(Callback):
    """Projected Gradient Descent on the word embeddings (``steps`` extra passes per step).

    Args:
        epsilon: radius of the L2 ball (over the whole embedding matrix).
        alpha: size of each ascent step.
        steps: number of ascent steps (K in the paper; 3 is usual).
    """

    def __init__(self, epsilon: float = 1.0, alpha: float = 0.3, steps: int = 3,
                 param_name: str = "word_embeddings") -> None:
        if epsilon <= 0 or alpha <= 0 or steps < 1:
            raise ValueError(f"PGD needs epsilon>0, alpha>0, steps>=1; got {epsilon}, {alpha}, {steps}")
        self.epsilon, self.alpha, self.steps, self.param_name = epsilon, alpha, steps, param_name

    def on_after_backward(self, trainer, batch, compute_loss: LossFn) -> None:
        model = trainer.model
        emb = find_embedding_parameter(model, self.param_name)
        if emb.grad is None:
            return
        original = emb.data.clone()
        process_mean_grad(trainer, emb)  # the clean gradient's direction, as 1 process finds it
        clean_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        try:
            for step in range(self.steps):
                norm = torch.linalg.vector_norm(emb.grad if step == 0 else process_mean_grad(trainer, emb))
                if not torch.isfinite(norm) or norm == 0:
                    break
                emb.data.add_(self.alpha * emb.grad / norm)
                delta = emb.data - original
                delta_norm = torch.linalg.vector_norm(delta)
                if delta_norm > self.epsilon:  # project back into the eps-ball
                    emb.data.copy_(original + delta * (self.epsilon / delta_norm))
                if step < self.steps - 1:
                    model.zero_grad(set_to_none=False)
                else:  # last step: adversarial gradient on top of the clean one
                    for n, p in model.named_parameters():
                        if n in clean_grads:
                            p.grad.copy_(clean_grads[n])
                trainer.accelerator.backward(compute_loss(batch))
        finally:
            emb.data.copy_(original)
