"""Masked-language-model pretraining on token-id text, with n-gram span masking.

Any task pretrains its encoder here by passing its own token-id sequences (single
texts, or sentence pairs) and a HuggingFace tokenizer that knows the special tokens:

    dataset = MLMPairDataset(pairs, cls_id=tok.cls_token_id, sep_id=tok.sep_token_id, max_length=64)
    collator = NgramMaskingCollator(tok, mlm_probability=0.15, ngram_probs=(0.7, 0.2, 0.1))
    pretrain_mlm(BertForMaskedLM(cfg), tok, dataset, collator, train_config, run_dir, output_dir)

The output folder is a HuggingFace model folder (``save_pretrained`` of the model and
tokenizer) that a fine-tuning command loads with ``--model``.

Method: BERT's MLM (Devlin et al., 2019, arXiv:1810.04805) with n-gram masking as in
SpanBERT (Joshi et al., 2020, arXiv:1907.10529) and the GAIIC 2021 track-3 top
solutions: whole spans of 1, 2 or 3 consecutive tokens are chosen (e.g. 70/20/10%)
until the masking budget is spent, then each chosen token is replaced by ``[MASK]``
(80%), a random token (10%) or kept (10%). The two sentences of a pair are swapped at
random (the task is symmetric). The training loop is the shared
:class:`common.training.trainer.Trainer`; a collate call draws fresh masks, so every
epoch sees new ones.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from transformers import DataCollatorForLanguageModeling

from common.losses import process_mean_count

logger = logging.getLogger("common.pretraining")


@dataclass
class MLMConfig:
    """MLM options; a task's pretraining config inherits these fields."""

    mlm_probability: float = 0.15  # share of (non-special) tokens chosen for prediction
    ngram_probs: list[float] = field(default_factory=lambda: [0.7, 0.2, 0.1])  # P(span of 1, 2, 3 ... tokens)
    mask_replace_prob: float = 0.8  # chosen token -> [MASK]
    random_replace_prob: float = 0.1  # chosen token -> a random token (the rest stay unchanged)
    swap_prob: float = 0.5  # probability of swapping the two sentences of a pair


@dataclass
class MLMPretrainConfig(MLMConfig):
    """Options of an MLM pretraining run (not of fine-tuning): a task's pretraining config inherits these."""

    # The head (dense, GELU, LayerNorm, V-way decoder) at the masked positions only, not all T: the same loss
    # (Sohu's epoch losses agree to 4 digits), a Sohu MLM epoch 468 -> 216 s on 2 CPU cores the same day
    # (RESULTS.md, bench.mlm_head). false: (B, T, V) logits at every position, as runs before 2026-12-05 were trained
    mlm_head_masked_only: bool = True


def masking_collator(tokenizer: Any, config: MLMConfig) -> "NgramMaskingCollator":
    """The :class:`NgramMaskingCollator` of ``config``'s MLM options."""
    return NgramMaskingCollator(tokenizer, mlm_probability=config.mlm_probability,
                                ngram_probs=tuple(config.ngram_probs), mask_replace_prob=config.mask_replace_prob,
                                random_replace_prob=config.random_replace_prob)


def ngram_span_mask(candidates: torch.Tensor, mlm_probability: float, ngram_probs: Sequence[float],
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Choose contiguous n-gram spans of one sequence to mask.

    Span starts are visited in random order; at each, a length n is drawn from
    ``ngram_probs`` (index 0 is n=1) and cut to the remaining budget; the span is
    taken when all its positions are maskable and free, else skipped (so spans never
    cross a special token). The budget is ``max(1, round(mlm_probability *
    candidates.sum()))`` tokens; single tokens fill it if no drawn span fitted. The
    realised span-length shares are close to ``ngram_probs`` with short spans slightly
    favoured (the last span is cut to the budget; long spans collide more often).

    Args:
        candidates: (T,) bool, True where a token may be masked (not special, not padding).
        mlm_probability: share of the candidates to mask.
        ngram_probs: span-length distribution (normalised here).

    Returns:
        (mask (T,) bool, spans [(start, length), ...]); every span lies in one run of
        candidates, spans do not overlap, and ``mask.sum() == sum of lengths``.

    Raises:
        ValueError: an empty or negative ``ngram_probs``.
    """
    probs = torch.as_tensor(list(ngram_probs), dtype=torch.float)
    if probs.numel() == 0 or (probs < 0).any() or probs.sum() <= 0:
        raise ValueError(f"ngram_probs must be non-negative with a positive sum, got {list(ngram_probs)}")
    T = candidates.shape[0]
    mask = torch.zeros(T, dtype=torch.bool)
    n_cand = int(candidates.sum())
    if n_cand == 0 or mlm_probability <= 0:
        return mask, []
    budget = max(1, round(mlm_probability * n_cand))
    starts = torch.nonzero(candidates).flatten()
    order = starts[torch.randperm(len(starts), generator=generator)].tolist()
    lengths = (torch.multinomial(probs, len(order), replacement=True, generator=generator) + 1).tolist()
    cand = candidates.tolist()
    spans: list[tuple[int, int]] = []
    left = budget
    for start, n in zip(order, lengths):
        if left == 0:
            break
        n = min(n, left)
        if start + n > T or not all(cand[start:start + n]) or mask[start:start + n].any():
            continue  # the span would leave its sentence or overlap a taken one: try the next start
        mask[start:start + n] = True
        spans.append((start, n))
        left -= n
    for start in order:  # rare: no drawn span fitted; fill the budget with single tokens
        if left == 0:
            break
        if not mask[start]:
            mask[start] = True
            spans.append((start, 1))
            left -= 1
    return mask, spans


@dataclass
class NgramMaskingCollator(DataCollatorForLanguageModeling):
    """``DataCollatorForLanguageModeling`` whose token choice masks n-gram spans.

    Padding and the ``labels`` convention (-100 where not predicted) are transformers'
    own; only :meth:`torch_mask_tokens` changes: positions come from
    :func:`ngram_span_mask`, per sequence, instead of independent coin flips. Items
    should carry ``special_tokens_mask`` (as :class:`MLMPairDataset` gives); keys in
    ``passthrough_keys`` (e.g. a pair label) are taken out before padding and
    returned as (B,) tensors. Items with a ``mask_seed`` (as :class:`MLMPairDataset`
    gives: :func:`example_seed` of (seed, epoch, index)) get their masks and
    replacements from it, row by row, so an example is masked alike in any batch, at
    any process count and after a resume; without it the batch draws from ``seed``'s
    generator (torch's global one when ``seed`` is None).

    Returns per batch: ``input_ids``, ``attention_mask``, ``token_type_ids`` (B, T)
    and ``labels`` (B, T), plus the passthrough keys.
    """

    ngram_probs: Sequence[float] = (0.7, 0.2, 0.1)
    passthrough_keys: Sequence[str] = ()

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        extra = {k: torch.tensor([ex[k] for ex in examples]) for k in self.passthrough_keys}
        seeds = [ex["mask_seed"] for ex in examples] if examples and "mask_seed" in examples[0] else None
        if extra or seeds is not None:
            examples = [{k: v for k, v in ex.items() if k not in extra and k != "mask_seed"} for ex in examples]
        self._row_seeds = seeds
        try:
            batch = super().torch_call(examples)
        finally:
            self._row_seeds = None
        batch.update(extra)
        return batch

    def _random_token_pool(self) -> torch.Tensor:
        if getattr(self, "_pool", None) is None:
            special = set(self.tokenizer.all_special_ids)
            self._pool = torch.tensor([i for i in range(len(self.tokenizer)) if i not in special])
        return self._pool

    def torch_mask_tokens(self, inputs: torch.Tensor, special_tokens_mask: Any = None,
                          offset_mapping: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, T) -> (masked inputs (B, T), labels (B, T) with -100 where not chosen)."""
        labels = inputs.clone()
        if special_tokens_mask is None:
            special_tokens_mask = [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                                   for row in labels.tolist()]
        special = torch.as_tensor(special_tokens_mask, dtype=torch.bool)
        pad_id = self.tokenizer.pad_token_id
        pad = inputs == pad_id if pad_id is not None else torch.zeros_like(special)  # (B, T)
        special |= pad
        pool = self._random_token_pool()
        seeds = getattr(self, "_row_seeds", None)
        if seeds is None:  # one generator for the batch (``seed``, else torch's global one)
            chosen = torch.stack([ngram_span_mask(~special[b], self.mlm_probability, self.ngram_probs,
                                                  self.generator)[0] for b in range(inputs.shape[0])])  # (B, T)
            draw = torch.rand(inputs.shape, generator=self.generator)  # one draw decides the replacement
            picks = pool[torch.randint(len(pool), inputs.shape, generator=self.generator)]
        else:  # per row, from its own seed over its unpadded positions: the same in any batch and after a resume
            chosen = torch.zeros_like(special)
            draw, picks = torch.ones(inputs.shape), inputs.clone()
            for b, seed in enumerate(seeds):
                generator = torch.Generator().manual_seed(int(seed))
                real = torch.nonzero(~pad[b]).squeeze(1)  # (L,)
                chosen[b, real] = ngram_span_mask(~special[b, real], self.mlm_probability, self.ngram_probs,
                                                  generator)[0]
                draw[b, real] = torch.rand(len(real), generator=generator)
                picks[b, real] = pool[torch.randint(len(pool), (len(real),), generator=generator)]
        labels[~chosen] = -100
        to_mask = chosen & (draw < self.mask_replace_prob)
        to_random = chosen & (draw >= self.mask_replace_prob) & (
            draw < self.mask_replace_prob + self.random_replace_prob)
        inputs[to_mask] = self.tokenizer.mask_token_id
        inputs[to_random] = picks[to_random]
        return inputs, labels


class MLMPairDataset(Dataset):
    """Token-id texts as BERT inputs for MLM: ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``.

    Args:
        sequences: per example, a list of token ids (one text) or a pair ``(a, b)`` of them,
            already in the model's vocabulary (no special tokens).
        cls_id / sep_id: the tokenizer's ``[CLS]`` and ``[SEP]`` ids.
        max_length: longest-first truncation to this many tokens including specials.
        swap_prob: probability of presenting a pair as ``(b, a)``, drawn by
            :func:`example_uniform` from (``seed``, epoch, index): the trainer calls
            ``set_epoch``, so a resumed run at any process count swaps what the
            uninterrupted one swapped.
        seed: the run's seed.
        extras: optional per-example dicts merged into the items (e.g. a pair label).

    Items: ``input_ids``, ``token_type_ids``, ``special_tokens_mask`` lists (T,), and
    ``mask_seed`` (:func:`example_seed`) for :class:`NgramMaskingCollator`.

    Raises:
        ValueError: ``max_length`` too small for the special tokens.
    """

    def __init__(self, sequences: Sequence[Sequence[int] | tuple[Sequence[int], Sequence[int]]], cls_id: int,
                 sep_id: int, max_length: int = 128, swap_prob: float = 0.0,
                 extras: Sequence[dict[str, Any]] | None = None, seed: int = 0) -> None:
        if max_length < 4:
            raise ValueError(f"max_length must leave room for [CLS] and two [SEP], got {max_length}")
        if extras is not None and len(extras) != len(sequences):
            raise ValueError(f"{len(sequences)} sequences but {len(extras)} extras")
        self.sequences, self.extras = sequences, extras
        self.cls_id, self.sep_id, self.max_length, self.swap_prob = cls_id, sep_id, max_length, swap_prob
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return len(self.sequences)

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch (per-example randomness depends on it)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Any]:
        seq = self.sequences[index]
        is_pair = isinstance(seq, tuple)
        a, b = (list(seq[0]), list(seq[1])) if is_pair else (list(seq), None)
        if b is not None and self.swap_prob > 0 and example_uniform(self.seed, self.epoch, index) < self.swap_prob:
            a, b = b, a
        item = encode_pair(a, b, self.cls_id, self.sep_id, self.max_length)
        item["mask_seed"] = example_seed(self.seed, self.epoch, index)
        if self.extras is not None:
            item.update(self.extras[index])
        return item


def example_uniform(seed: int, epoch: int, index: int) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, epoch, index).

    numpy's ``SeedSequence`` hashes the three integers, so the draw is the same in
    any process, in any order and after a resume, unlike a global generator whose
    state depends on everything drawn before.
    """
    return float(np.random.default_rng([seed, epoch, index]).random())


def example_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed that depends only on (seed, epoch, index): example ``index``'s MLM masks in ``epoch``.

    A stream apart from :func:`example_uniform`'s draw (a fourth word, 1, in the hashed key).
    """
    return int(np.random.SeedSequence([seed, epoch, index, 1]).generate_state(1)[0])


def encode_pair(a: list[int], b: list[int] | None, cls_id: int, sep_id: int, max_length: int) -> dict[str, list[int]]:
    """``[CLS] a [SEP] (b [SEP])`` with token types and special-token mask, longest side cut first."""
    budget = max_length - (3 if b is not None else 2)
    b = [] if b is None else b
    while len(a) + len(b) > budget:
        if len(a) >= len(b):
            a = a[:-1]
        else:
            b = b[:-1]
    ids = [cls_id] + a + [sep_id]
    types = [0] * len(ids)
    if b:
        ids += b + [sep_id]
        types += [1] * (len(b) + 1)
    special = [1] + [0] * len(a) + [1] + ([0] * len(b) + [1] if b else [])
    return {"input_ids": ids, "token_type_ids": types, "special_tokens_mask": special}


# HuggingFace masked LMs' prediction heads: position-wise maps of (..., H) hidden states to (..., V) logits
# (BERT, RoFormer, MacBERT: cls; RoBERTa, XLM-R: lm_head; ALBERT: predictions)
MLM_HEAD_NAMES = ("cls", "lm_head", "predictions")
MADE_BY = "pretrain_run.json"  # in a pretrained model folder: the absolute path of the run folder that made it


class MaskedPositionsLM(nn.Module):
    """A HuggingFace masked LM whose prediction head runs at the masked positions only.

    ``forward(labels, input_ids, attention_mask, token_type_ids)`` runs the encoder
    (``mlm.base_model``) on the whole (B, T) batch, keeps the (M, H) hidden states where
    ``labels != -100`` (row-major order) and gives their (M, V) ``logits``. The head is
    position-wise, so these are the rows of the (B, T, V) logits of ``mlm(...)`` at those
    positions, computed without the other B*T - M rows: for a small encoder with a large
    vocabulary the head is most of a step (Sohu's: hidden 256, 2 layers, V 7,984, 15%
    masked: ``bench.mlm_head``). Masking only the positions to predict before the output
    layer is what fairseq's ``masked_tokens`` and Megatron's MLM loss do.

    ``mlm``: the wrapped model, saved with its own ``save_pretrained`` (``mlm`` attribute).
    :func:`masked_token_loss` gives a model with ``logits_at_labels`` (this class;
    :class:`common.joint_mlm.JointMaskedLM`) the labels and takes (M, V) logits back.

    Raises:
        ValueError: ``mlm`` has no ``base_model`` or none of :data:`MLM_HEAD_NAMES`
            (:meth:`supports` says so beforehand).
    """

    logits_at_labels = True  # forward(labels=...) gives the (M, V) logits where labels != -100

    def __init__(self, mlm: nn.Module) -> None:
        super().__init__()
        if not self.supports(mlm):
            raise ValueError(f"{type(mlm).__name__}: no base_model and prediction head "
                             f"({', '.join(MLM_HEAD_NAMES)}) to run at the masked positions")
        self.mlm = mlm
        self.head_name = next(name for name in MLM_HEAD_NAMES if isinstance(getattr(mlm, name, None), nn.Module))

    @staticmethod
    def supports(mlm: nn.Module) -> bool:
        """Whether ``mlm`` splits into an encoder (``base_model``, not itself) and one of :data:`MLM_HEAD_NAMES`."""
        base = getattr(mlm, "base_model", None)
        return isinstance(base, nn.Module) and base is not mlm and any(
            isinstance(getattr(mlm, name, None), nn.Module) for name in MLM_HEAD_NAMES)

    def forward(self, labels: torch.Tensor, **inputs: torch.Tensor) -> Any:
        return logits_at_labels(self.mlm.base_model, getattr(self.mlm, self.head_name), labels, **inputs)


def logits_at_labels(encoder: nn.Module, head: nn.Module, labels: torch.Tensor, *args: Any, **inputs: Any) -> Any:
    """``MaskedLMOutput`` with the (M, V) logits of ``head`` at the M positions where (B, T) ``labels != -100``.

    ``encoder(*args, **inputs)`` runs on the whole batch and gives (B, T, H) hidden states; ``head``
    is position-wise, so the rows are those of the (B, T, V) logits at those positions (row-major
    order), computed without the other B*T - M. Shared by :class:`MaskedPositionsLM` and
    :class:`common.joint_mlm.JointMaskedLM`.
    """
    from transformers.modeling_outputs import MaskedLMOutput

    hidden = encoder(*args, **inputs, return_dict=True).last_hidden_state  # (B, T, H)
    return MaskedLMOutput(logits=head(hidden[labels != -100]))  # (M, V)


def masked_token_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The MLM loss as the mean over the masked tokens of the whole batch, every process's together.

    ``model(**batch)`` without ``labels`` gives (B, T, V) logits (a model with ``logits_at_labels``,
    :class:`MaskedPositionsLM` or :class:`common.joint_mlm.JointMaskedLM`, under DDP or not, is
    given the labels and gives the (M, V) logits of the M positions to predict);
    the cross-entropy is summed over this process's masked tokens (label != -100) and divided
    by the mean masked-token count per process (all-reduced). DDP averages the processes' gradients, so the step's
    gradient is that of the mean over all their masked tokens: what one process computes
    on the whole batch. A model's own mean over its process's tokens weights a token of a
    process with few masked tokens more (HF Trainer's ``average_tokens_across_devices``
    corrects the same). One process: the plain mean.

    Args:
        model: a masked LM (``BertForMaskedLM``): forward(input_ids, attention_mask,
            token_type_ids) -> ``logits`` (B, T, V).
        batch: the collator's batch, with ``labels`` (B, T), -100 where not masked.

    Returns:
        the scalar loss (0 for a batch without a masked token).
    """
    from accelerate.utils import extract_model_from_parallel

    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if getattr(extract_model_from_parallel(model), "logits_at_labels", False):
        logits, targets = model(labels=labels, **inputs).logits, labels[labels != -100]  # (M, V), (M,)
    else:
        logits, targets = model(**inputs).logits.flatten(0, 1), labels.flatten()  # (B*T, V), (B*T,)
    total = F.cross_entropy(logits.float(), targets, ignore_index=-100, reduction="sum")
    return total / process_mean_count(labels != -100)


def pretrain_mlm(model: nn.Module, tokenizer: Any, dataset: Dataset, collator: NgramMaskingCollator,
                 config: Any, run_dir: str | Path, output_dir: str | Path,
                 callbacks: Sequence[Any] = (), save_extra: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """MLM-train ``model`` (e.g. ``BertForMaskedLM``) with the shared trainer and save it.

    Args:
        model: forward(input_ids, attention_mask, token_type_ids, labels) -> loss, logits. With
            ``config.mlm_head_masked_only`` (:class:`MLMPretrainConfig`) and a model
            :meth:`MaskedPositionsLM.supports`, its head runs at the masked positions only.
        tokenizer: saved beside the model (``save_pretrained``).
        dataset / collator: e.g. :class:`MLMPairDataset` and :class:`NgramMaskingCollator`.
        config: a :class:`common.training.trainer.TrainConfig` (epochs, batch size,
            ``max_train_minutes`` budget, ...).
        run_dir: the trainer's folder (log, metrics.json, checkpoint/ for ``--resume``).
        output_dir: the HuggingFace model folder written at the end with the final
            weights (EMA weights when EMA is on), swapped in whole. (The trainer's
            ``model.pt`` holds the epoch of lowest logged training loss, which is a
            smoothed running value, not an evaluation.)
        save_extra: called with the folder before the swap, to add task files
            (e.g. the id vocabulary and the pretraining config).

    Under several processes the main process writes ``output_dir``; every process
    returns once it is in place.

    Returns:
        The trainer's summary plus ``output_dir`` and ``wall_seconds``.
    """
    from common.io import replace_dir_atomic, write_json_atomic
    from common.training.trainer import Trainer

    start = time.time()
    masked_only = getattr(config, "mlm_head_masked_only", True)
    if masked_only and MaskedPositionsLM.supports(model):
        model = MaskedPositionsLM(model)  # trained (and checkpointed) as the wrapper, saved as the model inside
    elif masked_only:
        logger.info("%s has no head to run at the masked positions only: the logits of every position",
                    type(model).__name__)
    # export_encoder off: the MLM model is saved below, whole, into output_dir
    trainer = Trainer(model, config, run_dir, dataset, None, collate_fn=collator, callbacks=callbacks,
                      export_encoder=False, loss_fn=masked_token_loss)
    summary = trainer.train()
    output_dir = Path(output_dir)
    tmp = output_dir.with_name(output_dir.name + ".tmp")
    if trainer.accelerator.is_main_process:  # one writer; the others wait until the folder is in place
        with ExitStack() as stack:  # the final weights (EMA ones when EMA is on)
            for cb in trainer.callbacks:
                stack.enter_context(cb.evaluation_weights(trainer))
            saved = trainer.unwrapped_model
            (saved.mlm if isinstance(saved, MaskedPositionsLM) else saved).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if save_extra is not None:
            save_extra(tmp)
        # which run folder made it, as an absolute path (probe AP: a relative one matched another folder's run
        # from another working directory): common.commands.pretrain.check_output_owner reads it
        write_json_atomic(tmp / MADE_BY, {"run_dir": str(Path(run_dir).resolve())})
        replace_dir_atomic(tmp, output_dir)
    trainer.accelerator.wait_for_everyone()
    summary.update({"output_dir": str(output_dir), "wall_seconds": time.time() - start})
    logger.info("MLM model saved to %s after %d steps", output_dir, summary["global_step"])
    if summary.get("stopped_by_budget"):  # the folder is usable, but not the schedule's end; make sees it as built
        logger.warning("%s holds the weights at the --max-train-minutes cut (step %d of %d), not the end of the "
                       "schedule: rerun with --resume true and a larger budget (or 0) to finish it", output_dir,
                       summary["global_step"], trainer.total_steps)
    return summary
