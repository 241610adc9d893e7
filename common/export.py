"""ONNX export of a trained run, checked against PyTorch on the task's own validation rows.

    python -m common.export --run runs/<task>/<name> [--output DIR] [--opset 18] [--rows 64] [--batch-size 16]
    make export RUN=runs/sohu/<name> [ARGS="--output DIR"]

Exports the part of a run's model that maps input tensors to logits, with dynamic batch
and sequence axes, to ``exports/<task>/<run name>/model.onnx`` (``--output`` overrides
the folder) beside ``export.json`` (inputs, outputs, opset, exporter, parity, and the
``decision`` the graph leaves out: the run's tuned thresholds, swap TTA, post-hoc tau). The run
folder is only read. What the graph computes, per model kind:

- pair classifiers (Sohu, AFQMC, Xiaobu): the inputs the task's collate gives
  (``input_ids``, ``attention_mask``, ``token_type_ids``, the exact-match ``match_ids``
  when the run uses them, likewise ``word_match_ids`` / ``word_ids`` (``--word-match`` /
  ``--word-buckets``, :func:`common.match_features.token_word_features`) and ``ngram_match_ids``
  (``--ngram-match``), Sohu's subtask ``condition_ids`` (B,), the (B, S) float ``statistics``
  of ``--pair-statistics`` / ``--alignment-statistics``, computed by the caller with
  :func:`common.match_features.scaled_statistics`) -> ``logits`` (B, 2);
  Xiaobu's joint variant: the MLM logits of ``[LABEL0]``/``[LABEL1]`` at [CLS] (B, 2),
  what its predict step takes the softmax of;
- NER span heads (GlobalPointer, Efficient GlobalPointer): ``input_ids``,
  ``attention_mask`` (B, T + 2) -> ``logits`` (B, heads, T, T), impossible spans at
  -1e12 as in eager; the CRF head: emissions (B, T, tags), its Viterbi decode stays
  in Python (the tags and transition scores are written to ``export.json``).

Some NER parts do not trace with a dynamic length, so the graph uses an equivalent form
of them, built on the same weights (the parity check compares against the model's own
forward, so a wrong form fails it): the character BiLSTM's packed sequences become each
direction run on the padded batch (the backward one on each sentence reversed within its
length), the rotary embedding's complex product becomes its cos/sin form, and the
cached span grid of the mask becomes index comparisons.

Exporter: torch's default (dynamo, ``torch.export``); when it raises, fixes a dynamic axis
or misses parity, the TorchScript exporter (``dynamo=False``). A graph holding the NER
BiLSTM goes to TorchScript directly: torch.export fixes an ``nn.LSTM``'s sequence length
(torch 2.13). ``export.json`` says which exporter ran and why.
Parity: ``--rows`` validation rows spread evenly over the set (test rows when the run has none), in
batches of ``--batch-size`` collated as prediction collates them (each padded to its
longest row), then the shortest row alone (batch size 1, another length), through eager
PyTorch and ONNX Runtime; the largest absolute logit difference must be at most
``--tolerance`` (1e-4), else nothing is written and the command fails (exit 1). A missing
or incomplete run, or missing data, is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import logging
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from common.config import ArgumentParser
from common.commands.args import run_cli
from common.io import print_result, replace_dir_atomic, temp_dir_beside, write_json_atomic
from common.losses import NEG_INF
from common.run import process_state, trained_task, training_state
from common.task import TASKS

logger = logging.getLogger("common.export")

DEFAULT_OPSET = 18  # torch's ONNX function library (onnxscript torchlib) targets opset 18
TOLERANCE = 1e-4
EXPORTERS = ("dynamo", "torchscript")
# Inputs in this order when the collate gives them; any other key follows, sorted.
INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids", "match_ids", "condition_ids")
# (B, S) inputs whose second axis is a fixed number of columns, not the sequence: the pair statistics
FIXED_WIDTH_INPUTS = ("statistics",)
LABEL_KEYS = ("labels", "soft_labels", "span_labels", "tag_labels")  # targets, never model inputs
OUTPUT_FILES = ("model.onnx", "export.json")
# Measured with torch 2.13: torch.export fixes the sequence length of any graph holding nn.LSTM (computing
# aten.lstm's output shape runs its decomposition, which unbinds the input over time), so the exported
# model either fails on other lengths or declares a fixed output length; TorchScript keeps it dynamic.
LSTM_SPECIALIZES = "torch.export fixes the sequence length of nn.LSTM (aten.lstm's decomposition unbinds over time)"


class ParityError(RuntimeError):
    """ONNX Runtime's logits differ from eager PyTorch's by more than the tolerance."""


@dataclass
class ExportSpec:
    """A loaded run, ready to export.

    Attributes:
        task: ``ner`` or the pair task's registry name.
        run_name: the run folder's name.
        kind: what the graph computes (for ``export.json``), with the output's shape.
        graph: ``forward(*inputs)`` (tensors in ``input_names`` order) -> the (B, ...)
            float logits; what ``torch.onnx.export`` traces.
        reference: the model's own eager path, ``batch dict -> (B, ...) logits`` (the
            parity reference: for NER it is ``NerModel.forward``, not ``graph``).
        input_names: the graph's inputs; ``output_axes``: the output's dynamic axes.
        batches: parity batches (dicts of int64 tensors, labels dropped), as collated for prediction.
        extra: task facts written to ``export.json`` (labels, CRF transitions...).
        skip_dynamo: why ``--exporter auto`` goes straight to TorchScript for this graph ("" = it does not).
    """

    task: str
    run_name: str
    kind: str
    graph: nn.Module
    reference: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    input_names: list[str]
    output_axes: dict[int, str]
    batches: list[dict[str, torch.Tensor]]
    extra: dict[str, Any] = field(default_factory=dict)
    skip_dynamo: str = ""


# ---------------------------------------------------------------- graphs
class NamedInputs(nn.Module):
    """``forward(*tensors)`` -> ``fn(module, {name: tensor})``: positional ONNX inputs for a keyword model.

    Args:
        module: the model (its parameters are the graph's weights).
        names: the input names, in the order ``forward`` receives them.
        fn: ``(module, inputs) -> (B, ...) logits``.
    """

    def __init__(self, module: nn.Module, names: Sequence[str],
                 fn: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]) -> None:
        super().__init__()
        self.module, self.names, self.fn = module, list(names), fn

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.fn(self.module, dict(zip(self.names, tensors)))


def pair_logits(module: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, C) logits of a classifier returning HF-style outputs (:class:`common.pair_classifier.PairClassifier`,
    ``BertPairClassifier``, a custom task's model)."""
    return module(**inputs).logits


def joint_label_logits(label_ids: Sequence[int]) -> Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]:
    """(B, 2) MLM logits of ``label_ids`` at [CLS] of a ``BertForMaskedLM`` (Xiaobu's joint variant).

    The logits :class:`common.joint_mlm.JointPredictStep` takes the softmax of, computed
    the same way (only the [CLS] position through the MLM head).
    """
    ids = list(label_ids)

    def fn(module: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = module.bert(**inputs).last_hidden_state[:, :1]  # (B, 1, H): [CLS] only
        return module.cls(hidden)[:, 0, ids]  # (B, 1, V) -> (B, 2)
    return fn


class CosSinRotary(nn.Module):
    """:class:`common.layers.global_pointer.RotaryEmbedding` as cos/sin products (ONNX has no complex type).

    The same interleaved RoPE (pairs ``(2m, 2m + 1)`` rotated by ``p * inv_freq[m]``,
    arXiv 2104.09864): ``(x0 + i x1) e^{i a} = (x0 cos a - x1 sin a) + i (x0 sin a + x1 cos a)``.
    ``forward(x (B, T, ..., d), positions=None, scale) -> (B, T, ..., d)`` float32, positions 0..T-1.
    """

    def __init__(self, rope: nn.Module) -> None:
        super().__init__()
        self.register_buffer("inv_freq", rope.inv_freq.detach().clone(), persistent=False)  # (d/2,)

    def forward(self, x: torch.Tensor, positions: torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
        if positions is not None:
            raise ValueError("the exported rotary embedding takes positions 0..T-1 only")
        T, d = x.shape[1], x.shape[-1]
        angles = torch.arange(T, dtype=torch.float32, device=x.device)[:, None] * self.inv_freq[None, :]  # (T, d/2)
        shape = (1, T, *([1] * (x.dim() - 3)), d // 2)  # broadcast over batch and middle dims
        cos, sin = (angles.cos() * scale).view(shape), (angles.sin() * scale).view(shape)
        pairs = x.float().reshape(*x.shape[:-1], d // 2, 2)  # (..., d/2, 2)
        x0, x1 = pairs[..., 0], pairs[..., 1]
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)  # (..., d)


class PaddedBiLSTM(nn.Module):
    """:class:`competitions.ner.model.CharBiLSTMEncoder` without packed sequences, on its weights.

    Packing makes each direction start at its sentence's own end; here the forward
    direction runs on the padded batch (padding comes after every character, so it
    changes nothing before it) and the backward one on each sentence reversed within its
    length (padding stays after it), then reversed back. Padding positions are 0, as
    ``pad_packed_sequence`` leaves them.

    ``forward(input_ids (B, L), attention_mask (B, L)) -> (B, L, H)`` states.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        lstm = encoder.lstm
        if not (lstm.bidirectional and lstm.batch_first and lstm.bias) or lstm.proj_size:
            raise ValueError("PaddedBiLSTM expects the encoder's batch-first bidirectional LSTM with biases")
        self.word_embeddings = encoder.word_embeddings
        self.directions = nn.ModuleList()
        for layer in range(lstm.num_layers):
            for suffix in ("", "_reverse"):
                one = nn.LSTM(lstm.input_size if layer == 0 else 2 * lstm.hidden_size, lstm.hidden_size,
                              batch_first=True)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    setattr(one, f"{name}_l0", getattr(lstm, f"{name}_l{layer}{suffix}"))  # shared, not copied
                self.directions.append(one)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        B, L = input_ids.shape
        lengths = attention_mask.sum(1).clamp(min=1)[:, None]  # (B, 1), as the encoder packs them
        pos = torch.arange(L, device=input_ids.device)[None, :]  # (1, L)
        inside = pos < lengths  # (B, L)
        mirror = torch.where(inside, lengths - 1 - pos, pos)  # (B, L): position t <-> its mirror in the sentence
        x = self.word_embeddings(input_ids)  # (B, L, H); dropout is off in eval
        for layer in range(len(self.directions) // 2):
            forward_dir, backward_dir = self.directions[2 * layer], self.directions[2 * layer + 1]
            out_f, _ = forward_dir(x)  # (B, L, H/2)
            index = mirror[..., None].expand(B, L, x.shape[-1])
            out_b, _ = backward_dir(x.gather(1, index))  # (B, L, H/2) on reversed sentences
            out_b = out_b.gather(1, mirror[..., None].expand(B, L, out_b.shape[-1]))  # back in place
            x = torch.cat((out_f, out_b), dim=-1)  # (B, L, H)
        return x * inside[..., None].to(x.dtype)  # padding 0, as pad_packed_sequence leaves it


class NerLogits(nn.Module):
    """``NerModel.forward``'s logits without labels, in traceable form (see the module docstring).

    ``forward(input_ids (B, T + 2), attention_mask (B, T + 2))`` -> (B, heads, T, T)
    span scores with impossible spans at ``NEG_INF`` (span heads) or (B, T, tags)
    emissions (CRF).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from competitions.ner.model import CharBiLSTMEncoder

        self.model, self.crf = model, model.head_name == "crf"
        self.bilstm = PaddedBiLSTM(model.encoder) if isinstance(model.encoder, CharBiLSTMEncoder) else None
        self.head = model.head
        if not self.crf and model.head.rope is not None:
            self.head = copy.copy(model.head)  # the same weights, its own submodule table
            self.head._modules = dict(model.head._modules)
            self.head.rope = CosSinRotary(model.head.rope)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.bilstm is not None:
            hidden = self.bilstm(input_ids, attention_mask)  # (B, T+2, H)
        else:
            hidden = self.model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden, mask = hidden[:, 1:-1], attention_mask[:, 2:]  # (B, T, H), (B, T): char i <-> token i+1
        if self.crf:
            return self.head(hidden)  # (B, T, tags)
        scores = self.head.raw_scores(hidden)  # (B, heads, T, T)
        T = scores.shape[-1]
        i = torch.arange(T, device=scores.device)[:, None]  # (T, 1) start
        j = torch.arange(T, device=scores.device)[None, :]  # (1, T) end
        invalid = j < i  # (T, T): end before start
        if self.head.max_width > 0:
            invalid = invalid | (j - i >= self.head.max_width)  # too wide
        pad = mask == 0  # (B, T)
        invalid = pad[:, None, :, None] | pad[:, None, None, :] | invalid  # (B, 1, T, T)
        return scores.masked_fill(invalid, NEG_INF)


# ------------------------------------------------------------ loading runs

def decision(run_dir: Path) -> dict[str, Any]:
    """How the run's submission turns the graph's logits into labels, which the graph does not hold: its
    ``thresholds.json`` (tuned on validation rows), ``tta_swap`` (P the mean over both text orders: two
    passes of the graph), ``posthoc_tau`` (``logits - tau * log prior`` of its ``label_prior.json``) and a pair
    contest's ``label_values`` (logit i is the i-th value's; ``label_range`` instead: P scales to a graded score)."""
    out: dict[str, Any] = {}
    for name, key in (("thresholds.json", "thresholds"), ("label_prior.json", "log_prior")):
        try:
            out[key] = json.loads((run_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    if "thresholds" not in out and (run_dir.parent / "folds.json").is_file():  # a fold of a k-fold run: the run's
        try:  # submission decides on the fold mean with the state tuned on its OOF (cv_metrics.json)
            kfold = json.loads((run_dir.parent / "cv_metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kfold = {}
        if isinstance(kfold, dict) and "thresholds" in kfold:
            out["thresholds"], out["thresholds_of"] = kfold["thresholds"], f"{run_dir.parent.name} (tuned on its OOF)"
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    out.update({k: config[k] for k in ("tta_swap", "posthoc_tau") if k in config})
    if config.get("label_range"):
        out["label_range"] = config["label_range"]
    elif "label_values" in config:
        out["label_values"] = [v.split("|")[0].strip() for v in str(config["label_values"]).split(",")]  # 1st spelling
    return out


def export_name(run_dir: Path) -> str:
    """The default export folder's name: the run's, ``<k-fold run>-fold<k>`` for a fold of a k-fold run (every
    ``cv5/fold0`` of a task would otherwise share ``exports/<task>/fold0``)."""
    parent = run_dir.resolve().parent
    if (parent / "folds.json").is_file():
        return f"{parent.name}-{run_dir.name}"
    return run_dir.name


def detect_task(run_dir: Path) -> str:
    """The task of a run folder: ``ner`` or a pair task's registry name.

    From the folder's place (``runs/<task>/<name>``) when its parent is a known task, else
    the ``--task`` its training command was given (``environment.json``: a module path for a
    task outside the registry), else from ``config.json``'s keys: NER's head options, or the
    registered task whose config fields match the keys best.

    Raises:
        FileNotFoundError: no ``config.json``.
        ValueError: no task matches (pass ``--task``).
    """
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} missing: is {run_dir} a finished run?")
    if run_dir.resolve().parent.name in (*TASKS, "ner"):
        return run_dir.resolve().parent.name
    given = trained_task(run_dir)
    if given:
        return given
    keys = set(json.loads(config_path.read_text(encoding="utf-8")))
    if {"head", "encoder_type", "lstm_layers"} <= keys:
        return "ner"
    from dataclasses import fields

    from common.task import get_task

    scores = {}
    for name in TASKS:
        names = {f.name for f in fields(get_task(name).config_class)}
        scores[name] = len(keys & names) / len(keys | names)  # Jaccard
    best = max(scores, key=scores.get)
    if scores[best] < 0.9:
        raise ValueError(f"cannot tell the task of {run_dir} from its config.json (best match {best}, "
                         f"{scores[best]:.2f}): pass --task")
    return best


def spread(examples: Sequence, n: int) -> list:
    """``n`` examples evenly spaced over ``examples`` (all when fewer), in order.

    Validation sets are often grouped (Sohu's by subtask), so the first rows alone
    could miss a condition id or a length range.
    """
    if len(examples) <= n:
        return list(examples)
    return [examples[i * len(examples) // n] for i in range(n)]


def _input_names(batch: dict[str, torch.Tensor]) -> list[str]:
    keys = [k for k in batch if k not in LABEL_KEYS]
    return [k for k in INPUT_ORDER if k in keys] + sorted(k for k in keys if k not in INPUT_ORDER)


def _batches(items: Sequence[dict], collate: Callable[[list], dict], batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Items in order, ``batch_size`` at a time, then the shortest item alone; collated as prediction does.

    Each batch is padded to its longest item; the last, one-row batch checks batch size 1
    at another length. Labels are dropped.
    """
    items = [items[i] for i in range(len(items))]
    groups = [items[start:start + batch_size] for start in range(0, len(items), batch_size)]
    if len(items) > 1:
        groups.append([min(items, key=lambda item: len(item["input_ids"]))])
    return [{k: v for k, v in collate(group).items() if k not in LABEL_KEYS} for group in groups]


def load_pair_spec(task_name: str, run_dir: Path, rows: int, batch_size: int, data_dir: str | None) -> ExportSpec:
    """A pair task's run (:func:`common.commands.predict.load_run`) and ``rows`` validation rows (:func:`spread`).

    Raises:
        FileNotFoundError: run files or data files missing.
        ValueError: no rows to check with.
    """
    from transformers import BertForMaskedLM

    from common.commands.predict import load_run, run_data
    from common.task import get_task

    task = get_task(task_name)
    config, model = load_run(task, run_dir)
    module = model.module.eval()
    if data_dir:
        config.data_dir = data_dir
    data = run_data(task, config, False)  # missing files: one line naming where they were read and --data-dir
    examples = spread(data.valid or data.test, rows)
    if not examples:
        raise ValueError(f"no validation or test rows under {config.data_dir} to check the export with")
    dataset = task.dataset(config, model, examples, training=False)
    batches = _batches(dataset, task.collate_fn(config, model, training=False), batch_size)
    names = _input_names(batches[0])
    extra: dict[str, Any] = {"rows_from": "valid" if data.valid else "test"}
    if isinstance(module, BertForMaskedLM):  # Xiaobu's joint variant
        from common.joint_mlm import LABEL_TOKENS

        fn = joint_label_logits([model.processor.token_id(t) for t in LABEL_TOKENS])
        kind = "joint MLM label logits at [CLS] (B, 2)"
        extra["labels"] = list(LABEL_TOKENS)
    else:
        with torch.no_grad():  # the model's own class and class count (a custom task's model too)
            classes = pair_logits(module, batches[0]).shape[-1]
        fn, kind = pair_logits, f"{type(module).__name__} logits (B, {classes})"
    graph = NamedInputs(module, names, fn)
    return ExportSpec(task.name, run_dir.name, kind, graph, lambda batch: fn(module, batch), names,
                      {0: "batch"}, batches, extra)


def load_ner_spec(run_dir: Path, rows: int, batch_size: int, data_dir: str | None) -> ExportSpec:
    """A NER run (:func:`competitions.ner.predict.load_run`) and the pieces of ``rows`` dev texts (:func:`spread`).

    Raises:
        FileNotFoundError: run files or data files missing.
        ValueError: no rows to check with.
    """
    from competitions.ner.data import NerDataset, collate, load_splits, resolve_data_options
    from competitions.ner.predict import load_run

    config, tokenizer, types, model = load_run(run_dir)
    if data_dir:
        config.data_dir = data_dir
    resolve_data_options(config)
    split = "dev"
    examples = spread(load_splits(config, ("dev",))["dev"], rows)
    if not examples:
        split, examples = "test", spread(load_splits(config, ("test",))["test"], rows)
    dataset = NerDataset(examples, tokenizer, types, config.max_length)
    items = [dataset[i] for i in range(min(rows, len(dataset)))]  # pieces: a long text gives several
    if not items:
        raise ValueError(f"no dev or test text under {config.data_dir} to check the export with")
    batches = _batches(items, partial(collate, pad_id=tokenizer.pad_token_id), batch_size)
    names = ["input_ids", "attention_mask"]
    extra: dict[str, Any] = {"rows_from": split, "head": config.head, "encoder": config.model or config.encoder_type}
    if model.head_name == "crf":
        kind, axes = "CRF emissions (B, T, tags); Viterbi decoding stays in Python", {0: "batch", 1: "chars"}
        crf = model.head.crf
        extra.update(tags=model.tags, crf={name: getattr(crf, name).detach().tolist()
                                            for name in ("start_transitions", "end_transitions", "transitions")})
    else:
        kind = f"{'Efficient ' if config.head == 'egp' else ''}GlobalPointer span logits (B, heads, T, T), -1e12 masked"
        axes = {0: "batch", 2: "chars", 3: "chars"}
        extra["types"] = types
    graph = NerLogits(model).eval()
    skip = LSTM_SPECIALIZES if graph.bilstm is not None else ""
    return ExportSpec("ner", run_dir.name, kind, graph, lambda batch: model(**batch).logits, names, axes, batches,
                      extra, skip)


def load_spec(run_dir: str | Path, task: str | None = None, rows: int = 64, batch_size: int = 16,
              data_dir: str | None = None) -> ExportSpec:
    """The :class:`ExportSpec` of a finished run (task from ``task`` or :func:`detect_task`).

    Raises:
        FileNotFoundError: a run file or data file missing.
        ValueError: unknown task, ``rows``/``batch_size`` < 1, no data rows.
    """
    run_dir = Path(run_dir)
    if rows < 1 or batch_size < 1:
        raise ValueError(f"--rows and --batch-size must be >= 1, got {rows} and {batch_size}")
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    task = task or detect_task(run_dir)
    if task == "ner":
        return load_ner_spec(run_dir, rows, batch_size, data_dir)
    return load_pair_spec(task, run_dir, rows, batch_size, data_dir)


# ------------------------------------------------------------ export, parity
def dynamic_axes(spec: ExportSpec) -> dict[str, dict[int, str]]:
    """Per input: batch axis 0 and, for (B, T) inputs, sequence axis 1 (not for the (B, S) columns of
    :data:`FIXED_WIDTH_INPUTS`); the output's from the spec."""
    first = spec.batches[0]
    axes = {name: ({0: "batch", 1: "sequence"} if first[name].dim() == 2 and name not in FIXED_WIDTH_INPUTS
                   else {0: "batch"})
            for name in spec.input_names}
    axes["logits"] = dict(spec.output_axes)
    return axes


def export_onnx(spec: ExportSpec, path: Path, opset: int, exporter: str) -> None:
    """Trace ``spec.graph`` on its first parity batch into ``path`` (one file, weights inside).

    Args:
        exporter: ``"dynamo"`` (``torch.export``) or ``"torchscript"`` (``dynamo=False``).
    """
    example = tuple(spec.batches[0][name] for name in spec.input_names)
    axes = dynamic_axes(spec)
    kwargs: dict[str, Any] = {"input_names": spec.input_names, "output_names": ["logits"], "opset_version": opset,
                              "dynamo": exporter == "dynamo"}
    if exporter == "dynamo":  # torch.export's named dimensions, one per axis name shared by the inputs
        dims = {name: torch.export.Dim(name) for name in ("batch", "sequence")}
        shapes = tuple({axis: dims[label] for axis, label in axes[name].items()} for name in spec.input_names)
        varargs = any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(spec.graph.forward).parameters.values())
        kwargs.update(dynamic_shapes=(shapes,) if varargs else shapes, external_data=False, verbose=False)
    else:
        kwargs.update(dynamic_axes=axes)
    with torch.no_grad(), warnings.catch_warnings():
        if exporter == "dynamo":  # its axis-renaming and pytree deprecation notices, not about this model
            warnings.simplefilter("ignore", (UserWarning, FutureWarning))
        # TorchScript's LSTM notice about other batch sizes: the parity check runs two of them
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        torch.onnx.export(spec.graph, example, str(path), **kwargs)


def name_output_axes(path: Path, axes: dict[int, str]) -> None:
    """Name the dynamic axes of the ``logits`` output in the ONNX file (the exporters write expressions).

    Raises:
        ValueError: the exporter fixed one of them to a number (the graph would not follow other lengths).
    """
    import onnx

    model = onnx.load(str(path))
    dims = next(o for o in model.graph.output if o.name == "logits").type.tensor_type.shape.dim
    for axis, label in axes.items():
        if dims[axis].HasField("dim_value"):
            raise ValueError(f"the exporter fixed logits axis {axis} ({label}) to {dims[axis].dim_value}")
        dims[axis].dim_param = label
    onnx.save(model, str(path))


def ort_session(path: Path, threads: int = 0):
    """An ONNX Runtime CPU session on ``path`` (``threads`` > 0: intra-op threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def parity(spec: ExportSpec, session) -> dict[str, Any]:
    """Largest |eager - ONNX Runtime| over every logit of the parity batches.

    Returns:
        ``{"rows", "batches", "batch_shapes": [[B, T], ...], "padded_rows", "max_abs_diff",
        "max_abs_logit"}`` (masked -1e12 span scores left out of ``max_abs_logit``).
    """
    import numpy as np

    worst, largest, padded = 0.0, 0.0, 0
    for batch in spec.batches:
        eager = spec.reference(batch).float().numpy()
        onnx_out = session.run(["logits"], {name: batch[name].numpy() for name in spec.input_names})[0]
        if onnx_out.shape != eager.shape:
            raise ParityError(f"ONNX Runtime gave logits of shape {onnx_out.shape}, eager {eager.shape}")
        worst = max(worst, float(np.abs(eager - onnx_out).max(initial=0.0)))
        real = np.abs(eager[eager > NEG_INF / 2])
        largest = max(largest, float(real.max(initial=0.0)))
        padded += int((batch["attention_mask"] == 0).any(dim=1).sum())
    return {"rows": sum(len(b["input_ids"]) for b in spec.batches), "batches": len(spec.batches),
            "batch_shapes": [list(b["input_ids"].shape) for b in spec.batches], "padded_rows": padded,
            "max_abs_diff": worst, "max_abs_logit": largest}


def _io_description(path: Path) -> tuple[list[dict], list[dict]]:
    """The ONNX graph's inputs and outputs: name, element type and shape (axis names for dynamic axes)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(values) -> list[dict]:
        return [{"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
                 "shape": [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]} for v in values]
    return describe(model.graph.input), describe(model.graph.output)


def _error_line(err: Exception) -> str:
    """One line of an exporter's error: torch.onnx's "Exception summary" line when there is one."""
    text = "".join(ch for ch in str(err) if ch.isprintable() or ch == "\n")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if line.endswith("Exception summary"):
            return lines[i + 1][:400]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:400]


def _check_output(output: Path, run_dir: Path) -> None:
    """Refuse an output folder inside the run, or one holding files this command did not write."""
    if output.resolve() == run_dir.resolve() or run_dir.resolve() in output.resolve().parents:
        raise ValueError(f"--output {output} is inside the run folder {run_dir}: exporting never writes the run")
    if output.exists():
        foreign = sorted(p.name for p in output.iterdir() if p.name not in OUTPUT_FILES) if output.is_dir() else [""]
        if foreign:
            raise FileExistsError(f"--output {output} holds other files ({foreign[:3]}): give an empty or new folder")


def export_run(run_dir: str | Path, output: str | Path | None = None, task: str | None = None,
               opset: int = DEFAULT_OPSET, rows: int = 64, batch_size: int = 16, data_dir: str | None = None,
               exporter: str = "auto", tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Export a run's logits to ONNX, check parity, write ``model.onnx`` and ``export.json`` atomically.

    Args:
        run_dir: a finished run folder (only read).
        output: the folder to write (default ``exports/<task>/<run name>``, :func:`export_name`); replaced as a
            whole once the export passed, so a failure leaves the previous one.
        task: ``ner`` or a pair task (default: :func:`detect_task`).
        opset: the ONNX opset.
        rows / batch_size: parity rows and rows per parity batch.
        data_dir: where the task's data is (default: the run's).
        exporter: ``"auto"`` (dynamo, then TorchScript when dynamo raises or misses
            parity), ``"dynamo"`` or ``"torchscript"``.
        tolerance: the largest absolute logit difference allowed.

    Returns:
        What ``export.json`` holds, plus ``output`` (the folder).

    Raises:
        FileNotFoundError / ValueError: see :func:`load_spec`; an unusable ``output``.
        ParityError: every exporter tried failed or missed parity (nothing written).
    """
    import onnxruntime

    start = time.time()
    run_dir = Path(run_dir)
    if exporter not in ("auto", *EXPORTERS):
        raise ValueError(f"--exporter must be auto, dynamo or torchscript, got {exporter!r}")
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    task = task or detect_task(run_dir)
    if output is None:
        from common.task import get_task

        output = Path("exports") / ("ner" if task == "ner" else get_task(task).name) / export_name(run_dir)
    output = Path(output)
    _check_output(output, run_dir)  # before the slow part
    spec = load_spec(run_dir, task, rows, batch_size, data_dir)
    tmp = temp_dir_beside(output)  # and deletes what an export killed before left there
    attempts: list[dict[str, Any]] = []
    try:
        for kind in (EXPORTERS if exporter == "auto" else (exporter,)):
            path = tmp / "model.onnx"
            if kind == "dynamo" and exporter == "auto" and spec.skip_dynamo:
                attempts.append({"exporter": kind, "skipped": spec.skip_dynamo})
                continue
            try:
                export_onnx(spec, path, opset, kind)
                name_output_axes(path, spec.output_axes)
                check = parity(spec, ort_session(path))
            except Exception as err:  # noqa: BLE001 - recorded, then the next exporter
                attempts.append({"exporter": kind, "error": _error_line(err)})
                logger.warning("%s exporter failed: %s", kind, attempts[-1]["error"])
                continue
            check.update(tolerance=tolerance, passed=check["max_abs_diff"] <= tolerance)
            attempts.append({"exporter": kind, "max_abs_diff": check["max_abs_diff"]})
            if check["passed"]:
                break
            logger.warning("%s exporter: max |logit diff| %.3g > %g", kind, check["max_abs_diff"], tolerance)
        else:
            raise ParityError(f"no exporter gave a model within {tolerance:g} of eager PyTorch: {attempts}")
        inputs, outputs = _io_description(path)
        info = {"task": spec.task, "run": str(run_dir), "run_name": spec.run_name, "model": spec.kind,
                "onnx": "model.onnx", "onnx_bytes": path.stat().st_size, "exporter": attempts[-1]["exporter"],
                "exporter_attempts": attempts, "opset": opset, "inputs": inputs, "outputs": outputs,
                "parity": check, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                "export_seconds": round(time.time() - start, 1), "decision": decision(run_dir),
                "training": training_state(run_dir), **spec.extra}
        if info["training"].get("finished") is False:
            logger.warning("%s trained %d of its %d epochs (interrupted?): exported its best epoch so far; "
                           "rerun its command with --resume true to finish it", run_dir,
                           info["training"]["epochs_done"], info["training"]["epochs"])
        write_json_atomic(tmp / "export.json", info)
        replace_dir_atomic(tmp, output)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return {**info, "output": str(output)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m common.export``: see the module docstring; returns the result (main process only)."""
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished run folder, e.g. runs/sohu/<name>")
    parser.add_argument("--output", default=None, help="folder for model.onnx and export.json "
                                                       "(default: exports/<task>/<run name>)")
    parser.add_argument("--task", default=None, help="ner | sohu | xiaobu | afqmc | a module path "
                                                     "(default: from the run folder)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--rows", type=int, default=64, help="validation rows of the parity check")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per parity batch (each padded to its longest)")
    parser.add_argument("--data-dir", default=None, help="the task's data folder (default: the run's)")
    parser.add_argument("--exporter", default="auto", choices=("auto", *EXPORTERS),
                        help="auto: dynamo, then TorchScript if it fails")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest |logit diff| allowed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not process_state().is_main_process:  # one writer; nothing here is worth sharding
        return {}
    try:
        result = export_run(args.run, args.output, args.task, args.opset, args.rows, args.batch_size, args.data_dir,
                            args.exporter, args.tolerance)
    except ParityError as err:  # not the user's input, but one line says it all; exit 1, not run_cli's 2
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    print_result({k: result[k] for k in ("task", "model", "exporter", "opset", "parity", "output")})
    return result


if __name__ == "__main__":
    run_cli(main)
