"""The one training loop of the repository, on HuggingFace ``accelerate``.

Written once, the way ``transformers/examples/pytorch/*_no_trainer.py`` do it
(``accelerator.prepare``, ``accelerator.accumulate``, ``save_state``/``load_state``,
``gather_for_metrics``); tasks never copy it. A task supplies a model whose forward
takes the batch's keys and returns HuggingFace-style outputs (``loss``, ``logits``),
a collate function, and ``compute_metrics``. Tricks (FGM, PGD, EMA) come in as
callbacks.

Run folder (``TrainConfig.run_dir``)::

    config.json       the resolved task config (written by the task)
    train.log         the log
    metrics.json      per-epoch history, best epoch and best metrics (atomic)
    model.pt          best weights (EMA weights when EMA is on) + config + metrics (atomic)
    checkpoint/       accelerate state of the last finished step, for --resume (swapped atomically)
    encoder/          the best epoch's transformers encoder, ``save_pretrained`` (swapped atomically),
                      so ``AutoModel.from_pretrained(run/"encoder")`` works outside this repository
    learning_curve.png  train loss and the validation metric per epoch (common.training.curves)
    tracking/         experiment tracking (``--report-to``): TensorBoard events, a wandb offline run

Experiment tracking goes through accelerate's trackers (``Accelerator(log_with=...)``,
``init_trackers``, ``log``), on the main process only, at the optimizer step
(``global_step``) as x axis, the way HF ``Trainer``'s ``report_to`` does:

    train/loss, train/learning_rate           every optimizer step
    eval/<metric>, train/epoch_loss,          every epoch (at its last step)
    train/samples_per_second, train/epoch
    hparams                                   the resolved config, once per start

``tensorboard --logdir runs/`` shows every run. A resumed run continues at its
checkpoint's step and hides what the killed attempt logged after it (TensorBoard's
``purge_step``), so its curves equal the uninterrupted run's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import re
import shutil
import sys
import time
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import get_scheduler
from transformers.trainer_pt_utils import LengthGroupedSampler

from common.config import check_ranges
from common.io import disk_full_named, replace_dir_atomic, torch_save_atomic, write_json_atomic
from common.losses import rdrop_kl
from common.run import check_checkpoint_processes, training_lock
from common.training.callbacks import Callback
from common.training.curves import plot_run
from common.training.inference import (PredictStep, default_predict_step, forget_loader, inference_loader,
                                       run_inference)

logger = logging.getLogger("common.trainer")


@dataclass
class TrainConfig:
    """Options of the shared training loop; task configs inherit these fields."""

    run_dir: str = ""  # empty: runs/<task>/<run_name>
    run_name: str = ""  # empty: a timestamp
    seed: int = 42
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    lr_scheduler: str = "linear"  # any name transformers.get_scheduler knows
    grad_accum_steps: int = 1
    max_grad_norm: float = 1.0  # 0 disables clipping
    # no | fp16 | bf16; default: what `accelerate launch --mixed_precision` / `accelerate config` set, else no
    mixed_precision: str = field(default_factory=lambda: os.environ.get("ACCELERATE_MIXED_PRECISION", "no"))
    max_train_minutes: float = 0.0  # 0: no time budget; else stop after this many minutes
    checkpoint_every_steps: int = 0  # 0: checkpoint at epoch ends only
    # > 0: also evaluate every this many optimizer steps inside an epoch (HF's eval_strategy="steps", Lightning's
    # val_check_interval), each evaluation a history record (fractional epoch), a best-model candidate and a
    # checkpoint; the epoch's end is always evaluated. 0: at epoch ends only
    eval_every_steps: int = 0
    resume: bool = False  # continue from run_dir/checkpoint
    log_every_steps: int = 50
    fgm_epsilon: float = 0.0  # > 0 turns FGM on (kexue.fm/archives/7234)
    pgd_epsilon: float = 0.0  # > 0 turns PGD on
    ema_decay: float = 0.0  # > 0 turns EMA on, evaluation on EMA weights
    # > 0: R-Drop (kexue.fm/archives/8496), each training batch twice through dropout, loss + alpha * their symmetric KL
    rdrop_alpha: float = 0.0
    group_by_length: bool = False  # training batches of similar lengths (needs Trainer(lengths=...))
    layer_lr_decay: float = 1.0  # < 1: layer-wise learning-rate decay (layer l of L gets lr * d^(L-l)); 1 off
    gradient_checkpointing: bool = False  # recompute encoder activations in backward (less memory, ~30% slower)
    # experiment tracking into run_dir/tracking: auto (tensorboard when installed, else none) | tensorboard |
    # wandb (offline unless WANDB_API_KEY or WANDB_MODE is set) | none, or a comma list (tensorboard,wandb)
    report_to: str = "auto"
    # the validation metric that picks the best epoch (a key of the task's scores, e.g. auc); empty: the task's own
    # metric. Greater is better, except for a name ending in "loss" (HF Trainer's metric_for_best_model)
    metric_for_best_model: str = ""
    # > 0: stop once the best evaluation (by that metric) is this many evaluations back (epochs, or
    # --eval-every-steps intervals), as HF Trainer's EarlyStoppingCallback(early_stopping_patience); the
    # learning-rate schedule still spans --epochs. 0: off
    early_stopping_patience: int = 0

    def __post_init__(self) -> None:
        """Raises ValueError (naming the flag): fewer than 1 epoch, example per batch or accumulation step; a negative
        learning rate; a warmup ratio outside [0, 1]; a negative budget, clipping norm, step interval, FGM/PGD epsilon,
        R-Drop alpha, early-stopping patience or evaluation interval; an EMA decay outside [0, 1); a layer-wise
        decay outside (0, 1]."""
        rules = (("epochs", self.epochs >= 1, ">= 1"), ("batch_size", self.batch_size >= 1, ">= 1"),
                 ("eval_batch_size", self.eval_batch_size >= 1, ">= 1"),
                 ("grad_accum_steps", self.grad_accum_steps >= 1, ">= 1"),
                 ("learning_rate", self.learning_rate >= 0, ">= 0 (0: the weights stay as they start)"),
                 ("warmup_ratio", 0 <= self.warmup_ratio <= 1, "in [0, 1]"),
                 ("max_grad_norm", self.max_grad_norm >= 0, ">= 0 (0: no clipping)"),
                 ("max_train_minutes", self.max_train_minutes >= 0, ">= 0 (0: no budget)"),
                 ("checkpoint_every_steps", self.checkpoint_every_steps >= 0, ">= 0 (0: at epoch ends)"),
                 ("eval_every_steps", self.eval_every_steps >= 0, ">= 0 (0: at epoch ends)"),
                 ("log_every_steps", self.log_every_steps >= 0, ">= 0 (0: off)"),
                 ("fgm_epsilon", self.fgm_epsilon >= 0, ">= 0 (0: off)"),
                 ("pgd_epsilon", self.pgd_epsilon >= 0, ">= 0 (0: off)"),
                 ("ema_decay", 0 <= self.ema_decay < 1, "in [0, 1) (0: off)"),
                 ("rdrop_alpha", self.rdrop_alpha >= 0, ">= 0 (0: off)"),
                 ("layer_lr_decay", 0 < self.layer_lr_decay <= 1, "in (0, 1] (1: off)"),
                 ("early_stopping_patience", self.early_stopping_patience >= 0, ">= 0 (0: off)"))
        check_ranges(self, rules)


def selection_metric(chosen: str, metric_name: str, greater_is_better: bool) -> tuple[str, bool]:
    """The metric that picks the best (epoch, trial, ensemble combiner) and its direction: ``chosen``
    (``--metric-for-best-model``) when set, else the task's ``(metric_name, greater_is_better)``. A chosen name
    ending in ``loss`` is lower-is-better, any other (``auc``, ``accuracy``, ``f1``, ``score``) higher-is-better,
    as in HF Trainer's ``metric_for_best_model``."""
    if not chosen:
        return metric_name, greater_is_better
    return chosen, not chosen.endswith("loss")


TRACKING_DIR = "tracking"  # the trackers' folder inside the run folder
TRACKERS = ("tensorboard", "wandb")


def resolve_trackers(report_to: str) -> list[str]:
    """The trackers ``--report-to`` names: ``auto`` is TensorBoard when installed, else none.

    Args:
        report_to: ``auto``, ``none``, or a comma list of :data:`TRACKERS` names.

    Returns:
        The tracker names, in the order given, without repeats (empty: no tracking).

    Raises:
        ValueError: an unknown name, ``auto``/``none`` inside a list, or a tracker whose
            package is not installed (naming the package to install).
    """
    from accelerate.utils import is_tensorboard_available, is_wandb_available

    names = [n.strip().lower() for n in report_to.split(",") if n.strip()]
    if names == ["auto"]:
        return ["tensorboard"] if is_tensorboard_available() else []
    if names in ([], ["none"]):
        return []
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ValueError(f"--report-to {report_to!r}: unknown tracker {unknown[0]!r}; choose auto, none, or a "
                         f"comma list of {', '.join(TRACKERS)}")
    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available}
    for name in names:
        if not available[name]():
            raise ValueError(f"--report-to {name}: the {name} package is not installed (pip install {name}), "
                             f"or choose --report-to none")
    return list(dict.fromkeys(names))


def hparams(config: Any) -> dict[str, bool | int | float | str]:
    """The config as flat tracker hyperparameters: ``{"a.b": value}``; lists, None and others as ``str``.

    TensorBoard's hparams plugin takes only bool/int/float/str values.
    """
    flat: dict[str, bool | int | float | str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        else:
            flat[prefix] = value if isinstance(value, (bool, int, float, str)) else str(value)

    walk("", dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config))
    return flat


@contextmanager
def rng_untouched() -> Iterator[None]:
    """Restore the Python, NumPy and torch CPU RNG states on exit.

    Around the trackers' start, so tracking can never shift a seeded run's draws
    (a tracker may draw a run id from ``random``).
    """
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def exportable_encoder(model: nn.Module) -> nn.Module | None:
    """The ``transformers`` encoder a run exports as ``encoder/``, or None.

    The outermost ``PreTrainedModel`` inside ``model`` (the model itself, e.g.
    Xiaobu's ``BertForSequenceClassification``; or a sub-module, e.g. the pair
    classifier's or the NER model's BERT), reduced to its ``base_model`` (the encoder
    without task heads). None when the model holds none (NER's character BiLSTM).
    """
    from transformers import PreTrainedModel

    for module in model.modules():
        if isinstance(module, PreTrainedModel):
            return module.base_model
    return None


def save_encoder(encoder: nn.Module, folder: Path) -> Path:
    """``encoder.save_pretrained`` into ``folder``, swapped in whole (:func:`common.io.replace_dir_atomic`).

    Only the weights the encoder's stock class has are written, so
    ``AutoModel.from_pretrained(folder)`` loads without unexpected keys: a Conditional
    LayerNorm (Sohu's conditioned encoder, :mod:`common.layers.conditional_layer_norm`)
    keeps its gain and bias, i.e. the encoder is exported at a zero condition vector;
    the per-condition projections stay in ``model.pt``. Returns ``folder``.
    """
    with torch.device("meta"):  # the stock class's parameter names, without allocating them
        stock = set(type(encoder)(encoder.config).state_dict())
    weights = {k: v for k, v in encoder.state_dict().items() if k in stock}
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    encoder.save_pretrained(tmp, state_dict=weights)
    replace_dir_atomic(tmp, folder)
    return folder


def build_callbacks(config: TrainConfig) -> list[Callback]:
    """The trick callbacks switched on by ``config`` (one flag each, all off by default)."""
    from common.training.adversarial import FGM, PGD
    from common.training.ema import EMA

    callbacks: list[Callback] = []
    if config.fgm_epsilon > 0:
        callbacks.append(FGM(epsilon=config.fgm_epsilon))
    if config.pgd_epsilon > 0:
        callbacks.append(PGD(epsilon=config.pgd_epsilon))
    if config.ema_decay > 0:
        callbacks.append(EMA(decay=config.ema_decay))
    return callbacks


def setup_logging(run_dir: Path, main_process: bool = True) -> None:
    """Log to ``run_dir/train.log`` and stderr (main process only)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    release_logging()
    if not main_process:
        return
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    for handler in (logging.FileHandler(run_dir / "train.log", encoding="utf-8"),
                    logging.StreamHandler(sys.stderr)):
        handler.setFormatter(fmt)
        handler._common_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def release_logging() -> None:
    """Detach (and close) the handlers :func:`setup_logging` attached: the last run's ``train.log`` gets no more lines.

    For commands that read a finished run in the process that trained it (predict after
    k-fold in one script): the run folder stays as it was written.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_common_handler", False):
            root.removeHandler(handler)
            handler.close()


def _depth(name: str, num_layers: int, relative: tuple[str, ...] = ()) -> int:
    """0 for embeddings (ALBERT's projection of them to the hidden size too), l + 1 for encoder layer l,
    num_layers + 1 for everything else (pooler, heads). ``relative``: the prefixes (``encoder.``) beside which a
    DeBERTa-v2 holds ``rel_embeddings``; its ``LayerNorm`` there normalizes them (depth 0, where another encoder's
    ``encoder.LayerNorm`` is a final one) and its ``conv`` follows layer 0 (depth 1)."""
    match = re.search(r"\.layers?\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    for prefix in relative:
        if name.startswith(prefix + "LayerNorm."):
            return 0
        if name.startswith(prefix + "conv."):
            return 1
    embedding = ("embeddings", "embed_tokens", "embedding_hidden_mapping_in")
    return 0 if any(part in name for part in embedding) else num_layers + 1


def parameter_groups(model: nn.Module, learning_rate: float, weight_decay: float,
                     layer_decay: float = 1.0) -> list[dict[str, Any]]:
    """AdamW parameter groups: no weight decay on biases and norms; optional layer-wise lr decay.

    With ``layer_decay`` d < 1 (layer-wise learning-rate decay, as in ELECTRA and
    Sun et al. 2019 "How to Fine-Tune BERT for Text Classification"), a parameter at
    depth k (0 embeddings, l + 1 encoder layer l, L + 1 heads) gets
    ``learning_rate * d ** (L + 1 - k)``; layers are found by ``.layer.<i>.`` /
    ``.layers.<i>.`` in parameter names (HF encoders).

    Returns:
        groups with ``params``, ``weight_decay`` and, with decay, ``lr``.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if layer_decay == 1.0:
        decay = [p for n, p in named if not (p.ndim < 2 or "norm" in n.lower())]
        no_decay = [p for n, p in named if p.ndim < 2 or "norm" in n.lower()]
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    depths = [int(m.group(1)) for n, _ in named if (m := re.search(r"\.layers?\.(\d+)\.", n))]
    num_layers = max(depths) + 1 if depths else 0
    if not depths:  # ALBERT shares one layer's weights across depths: no per-layer names to decay by
        logger.warning("--layer-lr-decay %g: no encoder layers found in the parameter names (.layer.<i>.); only the "
                       "embeddings get a lower learning rate (lr * %g)", layer_decay, layer_decay)
    relative = tuple(n[:-len("rel_embeddings.weight")] for n, _ in named if n.endswith("rel_embeddings.weight"))
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in named:
        depth, no_wd = _depth(name, num_layers, relative), param.ndim < 2 or "norm" in name.lower()
        group = groups.setdefault((depth, no_wd), {
            "params": [], "weight_decay": 0.0 if no_wd else weight_decay,
            "lr": learning_rate * layer_decay ** (num_layers + 1 - depth)})
        group["params"].append(param)
    return [groups[k] for k in sorted(groups)]


def enable_gradient_checkpointing(model: nn.Module) -> int:
    """Turn on HF gradient checkpointing in every sub-model that supports it; returns how many.

    Raises:
        ValueError: no sub-module is a ``transformers`` model with gradient checkpointing.
    """
    from transformers import PreTrainedModel

    count = 0
    for module in model.modules():
        if isinstance(module, PreTrainedModel) and module.supports_gradient_checkpointing:
            # transformers >= 5.x: activation_checkpointing_*; the gradient_checkpointing_* names go in v6
            if hasattr(module, "activation_checkpointing_enable"):
                if not module.is_activation_checkpointing:
                    module.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            elif not getattr(module, "is_gradient_checkpointing", False):
                module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            count += 1
    if not count:
        check_gradient_checkpointing(model)
    return count


def check_gradient_checkpointing(model: nn.Module) -> None:
    """Refuse ``--gradient-checkpointing true`` for a model none of whose ``transformers`` sub-models supports it,
    before a run writes anything (the trainer turns it on only once the run folder is written).

    Raises:
        ValueError: naming the model's ``transformers`` classes (e.g. ``AlbertModel``), or saying it has none.
    """
    from transformers import PreTrainedModel

    models = [m for m in model.modules() if isinstance(m, PreTrainedModel)]
    if any(m.supports_gradient_checkpointing for m in models):
        return
    names = ", ".join(sorted({type(m).__name__ for m in models}))
    raise ValueError("--gradient-checkpointing: " + (f"{names} does not support it in transformers (train without "
                                                     "it, or with a smaller --batch-size)" if names else
                                                     "the model holds no transformers encoder"))


def _without_start_draw(batches: Iterable[Any]) -> Iterator[Any]:
    """The batches of a resumed epoch, its start leaving the global torch RNG as it found it.

    A DataLoader without a generator of its own (the length-grouped one: its sampler
    holds the per-epoch generator) draws its base seed from the global torch RNG when
    its iteration starts. The uninterrupted run made that draw at the epoch's start,
    before the checkpoint, so the checkpoint's RNG state already holds it; drawing it
    again on resume shifted every later dropout mask (issue 12: a NER run killed inside
    an epoch resumed to other weights). The tasks' datasets and collate functions draw
    nothing from the global RNG (they derive randomness from (seed, epoch, index)), so
    nothing else is undone.
    """
    state = torch.get_rng_state()
    iterator = iter(batches)
    try:
        first = next(iterator)  # starts the loader: the base seed draw, the first fetches
    except StopIteration:  # resumed after the epoch's last batch, before its evaluation
        torch.set_rng_state(state)
        return
    torch.set_rng_state(state)
    yield first
    yield from iterator


class Trainer:
    """Train, evaluate each epoch, keep the best checkpoint, resume.

    Args:
        model: ``forward(**batch)`` returns an object/dict with ``loss`` (scalar, when
            the batch has labels) and ``logits``.
        config: the shared options (a task config inherits :class:`TrainConfig`).
        run_dir: the run folder (created).
        train_dataset / eval_dataset: map-style datasets; eval may be None.
        collate_fn: list of examples -> dict of tensors (training batches).
        eval_collate_fn: the same for evaluation batches (default ``collate_fn``), e.g.
            without the training augmentation (masking, swapping).
        compute_metrics: ``(outputs, dataset) -> {name: float}``, where outputs holds
            the predict step's arrays in dataset order.
        metric_name: key of the metric that picks the best epoch (``config.metric_for_best_model``,
            when set, replaces it: :func:`selection_metric`).
        greater_is_better: direction of ``metric_name``.
        callbacks: e.g. ``build_callbacks(config)``.
        predict_step: ``(model, batch) -> {name: (B, ...) tensor}``; defaults to logits.
        checkpoint_extra: called with the run folder whenever the best model is saved
            (e.g. to write the tokenizer and encoder config beside it).
        export_encoder: whenever the best model is saved, also write its transformers
            encoder (:func:`exportable_encoder`) to ``run_dir/encoder`` with
            ``save_pretrained`` (:func:`save_encoder`); False where the caller saves the
            model itself (MLM pretraining).
        loss_fn: ``(model, batch) -> scalar loss`` in place of ``model(**batch).loss``
            (MLM pretraining: the mean over the masked tokens of every process,
            :func:`common.pretraining.masked_token_loss`).
        A training dataset with a ``set_epoch(epoch)`` method is told the epoch before
        each one, so per-example randomness can derive from (seed, epoch, index) and a
        resumed run draws what the uninterrupted one drew, at any process count.
        lengths: (len(train_dataset),) example lengths, used when ``config.group_by_length``:
            training batches then come from ``transformers``' ``LengthGroupedSampler``
            (shuffle, cut into mega-batches of up to 50 optimizer steps' rows, sort each by length), seeded
            per epoch like the plain shuffle, so a resumed run sees the same batches; its mega-batches are
            sized by the effective batch, so n processes (or accumulation) order the rows as 1 process does.

    Raises:
        ValueError: on an impossible config (no training data, bad mixed precision,
            ``group_by_length`` without one length per training example, an unknown
            or uninstalled ``report_to`` tracker, ``loss_fn`` with R-Drop,
            ``metric_for_best_model`` other than loss without validation rows).
            At the first evaluation: a selection metric ``compute_metrics`` does not return.
        FileNotFoundError: ``resume`` without a checkpoint in the run folder.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, run_dir: str | Path,
                 train_dataset: Dataset, eval_dataset: Dataset | None,
                 collate_fn: Callable[[list[Any]], dict[str, torch.Tensor]],
                 compute_metrics: Callable[[dict[str, Any], Dataset], dict[str, float]] | None = None,
                 metric_name: str = "loss", greater_is_better: bool = False,
                 callbacks: Sequence[Callback] = (),
                 predict_step: PredictStep = default_predict_step,
                 checkpoint_extra: Callable[[Path], None] | None = None,
                 lengths: Sequence[int] | None = None,
                 eval_collate_fn: Callable[[list[Any]], dict[str, torch.Tensor]] | None = None,
                 export_encoder: bool = True,
                 loss_fn: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor] | None = None) -> None:
        if len(train_dataset) == 0:
            raise ValueError("the training set is empty")
        if config.group_by_length and (lengths is None or len(lengths) != len(train_dataset)):
            raise ValueError(f"group_by_length needs one length per training example: got "
                             f"{'none' if lengths is None else len(lengths)} for {len(train_dataset)}")
        if config.mixed_precision not in ("no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be no|fp16|bf16, got {config.mixed_precision!r}")
        self.trackers = resolve_trackers(config.report_to)
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # The scheduler is stepped by the loop, once per optimizer step (step_scheduler_with_optimizer=False):
        # accelerate's default steps it num_processes times per optimizer step, a schedule declared in
        # one-process batches whose rounded warmup differs from the 1-process run's at equal effective batch.
        self.accelerator = Accelerator(gradient_accumulation_steps=config.grad_accum_steps,
                                       step_scheduler_with_optimizer=False,
                                       mixed_precision=config.mixed_precision,
                                       log_with=self._tracker_specs() or None, project_dir=str(self.run_dir))
        setup_logging(self.run_dir, self.accelerator.is_main_process)
        set_seed(config.seed)
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.collate_fn = collate_fn
        self.eval_collate_fn = eval_collate_fn or collate_fn
        self.compute_metrics = compute_metrics
        if config.metric_for_best_model not in ("", "loss") and eval_dataset is None:
            raise ValueError(f"--metric-for-best-model {config.metric_for_best_model}: this run has no validation "
                             "rows to score it on")
        self.metric_name, self.greater_is_better = selection_metric(config.metric_for_best_model, metric_name,
                                                                    greater_is_better)
        self.callbacks = list(callbacks)
        self.predict_step = predict_step
        self.checkpoint_extra = checkpoint_extra
        self.export_encoder = export_encoder
        self.loss_fn = loss_fn
        if loss_fn is not None and config.rdrop_alpha > 0:
            raise ValueError("--rdrop-alpha needs the model's own loss and logits, not a loss_fn")
        self.lengths = list(lengths) if lengths is not None else None

        if config.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        optimizer = torch.optim.AdamW(parameter_groups(model, config.learning_rate, config.weight_decay,
                                                       config.layer_lr_decay), lr=config.learning_rate)
        # Each process takes every n-th batch, so an optimizer step consumes n x batch x accum examples:
        # steps_per_epoch counts real optimizer steps, and the schedule (warmup included) is declared in
        # them, so n processes at --batch-size b follow the 1-process run at --batch-size n x b step by step.
        batches = math.ceil(len(train_dataset) / config.batch_size)
        self.steps_per_epoch = math.ceil(math.ceil(batches / self.accelerator.num_processes) / config.grad_accum_steps)
        self.total_steps = self.steps_per_epoch * config.epochs
        scheduler = get_scheduler(config.lr_scheduler, optimizer,
                                  num_warmup_steps=int(config.warmup_ratio * self.total_steps),
                                  num_training_steps=self.total_steps)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        self.state: dict[str, Any] = {"epoch": 0, "batch_in_epoch": 0, "global_step": 0,
                                      "best_metric": None, "best_epoch": None, "history": [],
                                      "train_seconds": 0.0}

    # ----------------------------------------------------------------- helpers
    @property
    def unwrapped_model(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool, epoch: int = 0) -> DataLoader:
        generator = torch.Generator().manual_seed(self.config.seed + epoch)  # same order on resume
        if shuffle and self.config.group_by_length:
            # one global order, sized by the effective batch: accelerate deals its consecutive batches out to the
            # processes, so n processes at b train on the rows 1 process at n·b does (the per-process b made
            # mega-batches n times smaller: another order, another training, at each process count)
            step_rows = batch_size * self.accelerator.num_processes * self.config.grad_accum_steps
            sampler = LengthGroupedSampler(step_rows, lengths=self.lengths, generator=generator)
            loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=self.collate_fn)
        else:
            loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                collate_fn=self.collate_fn, generator=generator)
        return self.accelerator.prepare(loader)

    def _compute_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's loss on ``batch``; with ``rdrop_alpha > 0`` R-Drop's.

        R-Drop (Liang et al. 2021): the batch is stacked on itself, so each row goes
        through two dropout masks in one forward pass; the loss is the model's loss over
        the 2B rows (the mean of the two passes' losses) plus ``rdrop_alpha`` times
        :func:`common.losses.rdrop_kl` of the two halves' (B, C) logits: exactly half the
        paper's eq. 3 at the same alpha, so learning rates keep their meaning.

        Raises:
            ValueError: no loss returned; R-Drop on a model without (B, C) logits.
        """
        if self.loss_fn is not None:
            return self.loss_fn(self.model, batch)
        alpha = self.config.rdrop_alpha
        if alpha > 0:
            B = len(batch["input_ids"]) if "input_ids" in batch else len(next(iter(batch.values())))
            batch = {k: torch.cat([v, v]) if torch.is_tensor(v) and v.dim() and len(v) == B else v
                     for k, v in batch.items()}
        outputs = self.model(**batch)
        loss = outputs.get("loss") if isinstance(outputs, dict) else getattr(outputs, "loss", None)
        if loss is None:
            raise ValueError("the model returned no loss: does the batch carry its labels?")
        if alpha > 0:
            logits = outputs.get("logits") if isinstance(outputs, dict) else getattr(outputs, "logits", None)
            if logits is None or logits.dim() != 2:
                raise ValueError("--rdrop-alpha needs a classifier returning (B, C) logits")
            loss = loss + alpha * rdrop_kl(logits[:B], logits[B:])
        return loss

    # ---------------------------------------------------------------- tracking
    def _tracker_specs(self) -> list[Any]:
        """``log_with`` for the Accelerator: ``"tensorboard"``, and wandb as a tracker object.

        wandb's project is ``$WANDB_PROJECT`` or the run folder's parent (the task under
        ``runs/``), its run name the run folder's, its files under ``tracking/``; offline
        unless ``WANDB_API_KEY`` or ``WANDB_MODE`` says otherwise.
        """
        specs: list[Any] = []
        if "tensorboard" in self.trackers:
            specs.append("tensorboard")
        if "wandb" in self.trackers:
            from accelerate.tracking import WandBTracker

            kwargs: dict[str, Any] = {"name": self.run_dir.name, "dir": str(self.run_dir / TRACKING_DIR)}
            if not os.environ.get("WANDB_API_KEY") and not os.environ.get("WANDB_MODE"):
                kwargs["mode"] = "offline"
            specs.append(WandBTracker(os.environ.get("WANDB_PROJECT") or self.run_dir.parent.name or "runs",
                                      **kwargs))
        return specs

    def _start_tracking(self) -> None:
        """Start the trackers (main process) at the loop's position; the config as hparams.

        After ``--resume`` TensorBoard gets ``purge_step`` = the checkpoint's step + 1:
        what the killed attempt logged after the checkpoint is hidden, and the resumed
        run logs those steps again.
        """
        if not self.trackers or not self.accelerator.is_main_process:
            return
        (self.run_dir / TRACKING_DIR).mkdir(exist_ok=True)
        init_kwargs = {"tensorboard": {"purge_step": self.state["global_step"] + 1}} if self.config.resume else {}
        with rng_untouched():
            self.accelerator.init_trackers(TRACKING_DIR, config=hparams(self.config), init_kwargs=init_kwargs)
        logger.info("tracking with %s in %s", ", ".join(self.trackers), self.run_dir / TRACKING_DIR)

    def _end_tracking(self) -> None:
        """Flush and close the trackers (not ``accelerator.end_training``: it also ends the process group).

        A tracker that fails to close (one whose start failed, a wandb sync error) is
        logged, not raised: it must neither hide the error that stopped training nor
        fail a run whose files are written.
        """
        for tracker in self.accelerator.trackers:
            try:
                tracker.finish()
            except Exception as err:  # noqa: BLE001 - see the docstring
                logger.warning("could not close the %s tracker: %s: %s", tracker.name, type(err).__name__, err)
        self.accelerator.trackers = []

    def _log(self, values: dict[str, float], step: int) -> None:
        """``values`` to the trackers at ``step`` (main process; nothing without trackers)."""
        if self.trackers:
            self.accelerator.log(values, step=step)

    def _is_better(self, value: float) -> bool:
        best = self.state["best_metric"]
        if best is None:
            return True
        return value > best if self.greater_is_better else value < best

    # ------------------------------------------------------------- checkpoints
    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoint"

    def save_checkpoint(self) -> None:
        """Save the resumable state; the previous checkpoint stays whole until the swap.

        Every process calls ``save_state`` (the main one writes the weights and
        optimizer, each process its own ``random_states_<rank>.pkl``), so a resumed
        run restores every rank's RNG, not only rank 0's.
        """
        acc = self.accelerator
        tmp = self.run_dir / "checkpoint.tmp"
        acc.wait_for_everyone()
        if acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        acc.wait_for_everyone()
        with disk_full_named(tmp):
            acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if acc.is_main_process:
            with disk_full_named(tmp):
                torch.save({"callbacks": [cb.state_dict() for cb in self.callbacks]}, tmp / "callbacks.pt")
            (tmp / "trainer_state.json").write_text(json.dumps(self.state, indent=2), encoding="utf-8")
            replace_dir_atomic(tmp, self.checkpoint_dir)
        acc.wait_for_everyone()

    def load_checkpoint(self) -> None:
        """Restore model, optimizer, scheduler, RNG, callbacks and loop position.

        Raises:
            FileNotFoundError: no checkpoint.
            ValueError: the checkpoint was written by another number of processes (one
                ``random_states_<rank>.pkl`` each): its position counts batches of that many
                processes and its schedule their optimizer steps, so it resumes only with as many.
        """
        ckpt = self.checkpoint_dir
        if not (ckpt / "trainer_state.json").is_file():
            raise FileNotFoundError(f"--resume: no checkpoint in {ckpt} (trainer_state.json missing)")
        check_checkpoint_processes(ckpt)
        self.accelerator.load_state(str(ckpt))
        # on the CPU: the main process saved it from its device (cuda:0), and every rank loading it there would
        # put an EMA copy and a CUDA context on GPU 0; the callbacks copy it into their own device's tensors
        extra = torch.load(ckpt / "callbacks.pt", map_location="cpu", weights_only=False)
        for cb, state in zip(self.callbacks, extra["callbacks"]):
            cb.load_state_dict(state)
        self.state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        logger.info("resumed from %s at epoch %d, batch %d (step %d)", ckpt, self.state["epoch"],
                    self.state["batch_in_epoch"], self.state["global_step"])

    def save_best(self, metrics: dict[str, float]) -> None:
        """Write ``model.pt`` (current weights, i.e. EMA ones inside the evaluation context)."""
        if not self.accelerator.is_main_process:
            return
        payload = {"state_dict": self.unwrapped_model.state_dict(),
                   "config": dataclasses.asdict(self.config), "metrics": metrics,
                   "epoch": self.state["epoch"], "global_step": self.state["global_step"]}
        torch_save_atomic(payload, self.run_dir / "model.pt")
        encoder = exportable_encoder(self.unwrapped_model) if self.export_encoder else None
        if encoder is not None:
            save_encoder(encoder, self.run_dir / "encoder")
        if self.checkpoint_extra is not None:
            self.checkpoint_extra(self.run_dir)

    # -------------------------------------------------------------- main loop
    def train(self) -> dict[str, Any]:
        """Run the epochs; returns ``{"best_metric", "best_epoch", "history", ...}``.

        Raises:
            common.run.RunLocked: another live process trains in the run folder (:func:`common.run.training_lock`).
        """
        with training_lock(self.run_dir):
            try:
                return self._train()
            finally:
                self._end_tracking()

    def _train(self) -> dict[str, Any]:
        cfg = self.config
        aside = self.checkpoint_dir.with_name(self.checkpoint_dir.name + ".old")
        if cfg.resume and not self.checkpoint_dir.exists() and (aside / "trainer_state.json").is_file():
            # killed inside replace_dir_atomic, between moving the old checkpoint aside and the new one in
            if self.accelerator.is_main_process:
                os.replace(aside, self.checkpoint_dir)
            self.accelerator.wait_for_everyone()
        if cfg.resume and (self.checkpoint_dir / "trainer_state.json").is_file():
            self.load_checkpoint()
        elif cfg.resume:  # killed before the first checkpoint: nothing to resume, the start is deterministic
            logger.warning("--resume: no checkpoint in %s yet (stopped before the first one): training from the "
                           "start", self.checkpoint_dir)
        self._start_tracking()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        n = self.accelerator.num_processes
        logger.info("train examples %d | effective batch %d (%d x %d accum x %d procs) | "
                    "%d optimizer steps/epoch x %d epochs = %d | callbacks %s | device %s, mixed precision %s",
                    len(self.train_dataset), cfg.batch_size * cfg.grad_accum_steps * n,
                    cfg.batch_size, cfg.grad_accum_steps, n, self.steps_per_epoch, cfg.epochs,
                    self.total_steps, [type(c).__name__ for c in self.callbacks] or "none",
                    self.accelerator.device, self.accelerator.mixed_precision)
        repeated = math.ceil(len(self.train_dataset) / (cfg.batch_size * n)) * cfg.batch_size * n - len(self.train_dataset)
        if n > 1 and repeated:  # a 1-process run at the same effective batch takes a short last batch instead
            logger.info("each epoch's last step repeats %d rows from the epoch's start, so every process has a "
                        "full batch (accelerate's even_batches)", repeated)
        budget = cfg.max_train_minutes * 60 if cfg.max_train_minutes > 0 else math.inf
        start = time.time() - self.state["train_seconds"]
        out_of_time = stop = False
        loader = None
        if self.state["global_step"] and self._budget_spent(budget):  # resumed with the budget it used up
            logger.info("--resume: the time budget of %g min is spent (%.0f s trained): nothing more to train; "
                        "give a larger --max-train-minutes, or 0, to go on", cfg.max_train_minutes,
                        self.state["train_seconds"])
            self.state["stopped_by_budget"] = True  # so metrics.json says it stopped there, as the cut run's did
            self.write_metrics()
            return self.summary()
        self.state["stopped_by_budget"] = False
        while self.state["epoch"] < cfg.epochs and not out_of_time and not self.stopped_early():
            epoch = self.state["epoch"]
            self.model.train()
            if hasattr(self.train_dataset, "set_epoch"):
                self.train_dataset.set_epoch(epoch)
            forget_loader(self.accelerator, loader)  # the last epoch's: later checkpoints need no state of it
            loader = self._loader(self.train_dataset, cfg.batch_size, shuffle=True, epoch=epoch)
            skip = self.state["batch_in_epoch"]
            batches = _without_start_draw(self.accelerator.skip_first_batches(loader, skip)) if skip else loader
            bar = tqdm(batches, total=len(loader), initial=skip, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                       disable=not self.accelerator.is_local_main_process, dynamic_ncols=True)
            seen, t0, running, loss_sum, loss_count = 0, time.time(), None, 0.0, 0
            window_sum, window_count = 0.0, 0  # the batches of the current optimizer step (accumulation)
            for batch in bar:
                with self.accelerator.accumulate(self.model):
                    loss = self._compute_loss(batch)
                    self.accelerator.backward(loss)
                    for cb in self.callbacks:
                        cb.on_after_backward(self, batch, self._compute_loss)
                    if self.accelerator.sync_gradients and cfg.max_grad_norm > 0:
                        self.accelerator.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                    if self.accelerator.sync_gradients:  # the rate this step applies (heads' under layer decay)
                        step_lr = max(group["lr"] for group in self.optimizer.param_groups)
                    self.optimizer.step()
                    if self.accelerator.sync_gradients and not self.accelerator.optimizer_step_was_skipped:
                        self.scheduler.step()  # skipped: an accumulation batch, an fp16 step with inf gradients
                    self.optimizer.zero_grad()
                self.state["batch_in_epoch"] += 1
                if self.accelerator.sync_gradients:
                    self.state["global_step"] += 1
                    for cb in self.callbacks:
                        cb.on_step_end(self)
                value = loss.detach().float().item()
                running = value if running is None else 0.98 * running + 0.02 * value  # for the bar
                loss_sum, loss_count = loss_sum + value, loss_count + 1
                window_sum, window_count = window_sum + value, window_count + 1
                if self.accelerator.sync_gradients:  # the mean loss over the step's batches, every process's
                    self._log({"train/loss": self._mean_over_processes(window_sum, window_count),
                               "train/learning_rate": step_lr}, self.state["global_step"])
                    window_sum, window_count = 0.0, 0
                seen += next(iter(batch.values())).shape[0] * n
                rate = seen / max(time.time() - t0, 1e-9)
                bar.set_postfix(loss=f"{running:.4f}", samples_s=f"{rate:.1f}",
                                lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                step = self.state["global_step"]
                if self.accelerator.sync_gradients and cfg.log_every_steps and step % cfg.log_every_steps == 0:
                    logger.info("step %d loss %.4f samples/s %.1f", step, running, rate)
                self.state["train_seconds"] = time.time() - start
                evaluate = (cfg.eval_every_steps and self.accelerator.sync_gradients
                            and step % cfg.eval_every_steps == 0
                            and self.state["batch_in_epoch"] < len(loader))  # the epoch's end is evaluated below
                if (cfg.checkpoint_every_steps and self.accelerator.sync_gradients
                        and step % cfg.checkpoint_every_steps == 0 and not evaluate):
                    # (an evaluation checkpoints after its record: one here, before it, would let a kill during
                    # the evaluation resume past it, and the resumed run would never make that record)
                    self.save_checkpoint()
                if self._budget_spent(budget):
                    logger.info("time budget of %g min reached at step %d", cfg.max_train_minutes, step)
                    out_of_time = True
                    break
                if evaluate:
                    self._evaluate_and_record(self._record(epoch, len(loader), t0, seen, loss_sum, loss_count, skip))
                    self.model.train()
                    if self.stopped_early():
                        stop = True
                        break
            bar.close()
            if stop:  # early stopping inside the epoch: its end is not reached
                self._log_early_stop()
                break
            if out_of_time and self.state["batch_in_epoch"] < len(loader):
                # cut inside the epoch: scored there, and the loop stays at this batch, so --resume (with a larger
                # budget) trains the rest of the epoch, as the uninterrupted run does
                self.state["stopped_by_budget"] = True
                self._evaluate_and_record(self._record(epoch, len(loader), t0, seen, loss_sum, loss_count, skip))
                break
            self.state["stopped_by_budget"] = out_of_time
            self._evaluate_and_record(self._record(epoch, len(loader), t0, seen, loss_sum, loss_count, skip),
                                      end_of_epoch=True)
            if self.stopped_early() and self.state["epoch"] < cfg.epochs:
                self._log_early_stop()
        return self.summary()

    def _record(self, epoch: int, batches: int, t0: float, seen: int, loss_sum: float, loss_count: int,
                skip: int) -> dict[str, Any]:
        """The history record of an evaluation at the loop's position in 0-based ``epoch`` of ``batches`` batches:
        its ``epoch`` (the epoch's number at its end, else fractional, e.g. 1.4), ``step``, the mean training loss of
        the epoch's batches so far (since a resume at batch ``skip``: ``train_loss_from_batch``), samples per second
        and seconds since ``t0``, and ``complete`` (the epoch's end)."""
        done = self.state["batch_in_epoch"] >= batches
        seconds = time.time() - t0
        record = {"epoch": epoch + 1 if done else round(epoch + self.state["batch_in_epoch"] / batches, 4),
                  "step": self.state["global_step"], "train_loss": self._mean_over_processes(loss_sum, loss_count),
                  "train_samples_per_s": seen / max(seconds, 1e-9), "epoch_seconds": seconds, "complete": done}
        if skip:  # resumed inside this epoch: train_loss covers only the batches after the resume
            record["train_loss_from_batch"] = skip
        return record

    def _evaluate_and_record(self, record: dict[str, Any], end_of_epoch: bool = False) -> None:
        """Score the validation rows (on the callbacks' evaluation weights), append ``record`` (:meth:`_record`) with
        the metrics to the history (at ``end_of_epoch``, the loop's position moves to the next epoch first), keep
        ``model.pt`` when it is the best so far, log, checkpoint, write ``metrics.json`` and the curve, then the
        callbacks' ``on_evaluate``."""
        epoch = record["epoch"]
        with ExitStack() as stack:
            for cb in self.callbacks:
                stack.enter_context(cb.evaluation_weights(self))
            with rng_untouched() if not end_of_epoch else nullcontext():  # inside an epoch: evaluating more
                metrics = self.evaluate() if self.eval_dataset is not None else {}  # often never changes training
            record.update(metrics)
            if end_of_epoch:
                self.state["epoch"] = int(epoch)
                self.state["batch_in_epoch"] = 0
            self.state["history"].append(record)
            if metrics and self.metric_name not in metrics:
                named = "--metric-for-best-model " if self.config.metric_for_best_model else ""
                raise ValueError(f"{named}{self.metric_name!r}: the validation metrics are "
                                 f"{', '.join(sorted(k for k in metrics if k != 'eval_examples'))}")
            value = metrics.get(self.metric_name, record["train_loss"])
            if value is not None and self._is_better(value):
                self.state["best_metric"], self.state["best_epoch"] = value, epoch
                self.save_best(record)
        logger.info("epoch %s: %s", epoch, json.dumps(record, ensure_ascii=False))
        self._log({"train/epoch": epoch, "train/samples_per_second": record["train_samples_per_s"],
                   **({"train/epoch_loss": record["train_loss"]} if record["train_loss"] is not None else {}),
                   **{f"eval/{k}": v for k, v in metrics.items() if k != "eval_examples"}},
                  self.state["global_step"])  # before the checkpoint: a resume keeps it
        self.save_checkpoint()
        self.write_metrics()
        self.write_learning_curve()
        for cb in self.callbacks:
            cb.on_evaluate(self, record)

    def _log_early_stop(self) -> None:
        history = self.state["history"]
        logger.info("early stopping after epoch %s: the best %s is epoch %s's, %d evaluations back "
                    "(--early-stopping-patience %d)", history[-1]["epoch"], self.metric_name,
                    self.state["best_epoch"], self._evaluations_since_best(), self.config.early_stopping_patience)

    def _evaluations_since_best(self) -> int:
        """How many history records follow the best one (0: the last is the best; none yet: 0)."""
        epochs = [h["epoch"] for h in self.state["history"]]
        best = self.state["best_epoch"]
        return len(epochs) - 1 - epochs.index(best) if best in epochs else 0

    def stopped_early(self) -> bool:
        """Whether ``--early-stopping-patience`` P ends the run: P > 0 and P or more evaluations (epochs, or
        ``--eval-every-steps`` intervals) follow the best one. Read from the loop's state alone (the checkpoint's on
        ``--resume``), which every process holds alike (the metrics are computed on gathered predictions), so all
        stop after the same evaluation."""
        patience = self.config.early_stopping_patience
        return patience > 0 and self._evaluations_since_best() >= patience

    def _mean_over_processes(self, total: float, count: int) -> float | None:
        """``total / count`` summed over every process (a loss sum and its batch count); None for no batch.

        Each process's loss is the mean over its own rows, so with equal batches the mean
        of the processes' batch losses is the loss a 1-process run at the same effective
        batch logs, and every process holds the same value (an epoch chosen by training
        loss is chosen alike). Several processes: one all-reduce of two numbers.
        """
        if self.accelerator.num_processes > 1:
            sums = torch.tensor([total, float(count)], device=self.accelerator.device)
            total, count = self.accelerator.reduce(sums, reduction="sum").tolist()
        return total / count if count else None

    def _budget_spent(self, budget: float) -> bool:
        """Whether ``--max-train-minutes`` (``budget``, seconds) is spent on any process.

        Each process reads its own clock, so they can cross the budget at different
        batches; one stopping alone would leave the others waiting in the next gradient
        all-reduce. With a budget and several processes the decision is all-reduced
        every batch (one scalar), so every process stops at the same batch.
        """
        spent = self.state["train_seconds"] > budget
        if math.isinf(budget) or self.accelerator.num_processes == 1:
            return spent
        flag = torch.tensor([float(spent)], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)

    def summary(self) -> dict[str, Any]:
        best = next((h for h in self.state["history"] if h["epoch"] == self.state["best_epoch"]), {})
        return {"best_epoch": self.state["best_epoch"], "best_metric": self.state["best_metric"],
                "metric_name": self.metric_name, "best": best, "history": self.state["history"],
                "stopped_early": self.stopped_early() and self.state["epoch"] < self.config.epochs,
                "stopped_by_budget": bool(self.state.get("stopped_by_budget")),
                "train_seconds": self.state["train_seconds"], "global_step": self.state["global_step"]}

    def write_metrics(self) -> Path:
        path = self.run_dir / "metrics.json"
        if self.accelerator.is_main_process:
            write_json_atomic(path, self.summary())
        return path

    def write_learning_curve(self) -> None:
        """``run_dir/learning_curve.png`` from metrics.json (main process; :func:`common.training.curves.plot_run`)."""
        if self.accelerator.is_main_process:
            plot_run(self.run_dir)

    # ------------------------------------------------------------- inference
    def predict(self, dataset: Dataset) -> dict[str, Any]:
        """Run ``predict_step`` over ``dataset`` in order, sharded over the processes, gathered on each.

        The step gets the unwrapped model (no DDP wrapper), so it may call the model's
        own methods (e.g. a decoder or a sub-module).
        """
        loader = inference_loader(dataset, self.config.eval_batch_size, self.eval_collate_fn, self.accelerator)
        return run_inference(self.unwrapped_model, loader, self.predict_step, self.accelerator,
                             show_progress=self.accelerator.is_local_main_process)

    def evaluate(self) -> dict[str, float]:
        """The validation metrics, plus ``eval_examples``: how many predictions they cover (every row of
        ``eval_dataset`` once; a task scoring both text orders puts each pair in it twice), unless
        ``compute_metrics`` counts its own examples (NER: texts, not the pieces long texts are cut into)."""
        outputs = self.predict(self.eval_dataset)
        if self.compute_metrics is None:
            return {}
        metrics = {k: float(v) for k, v in self.compute_metrics(outputs, self.eval_dataset).items()}
        metrics["eval_examples"] = int(metrics.get("eval_examples", len(next(iter(outputs.values()), []))))
        return metrics
