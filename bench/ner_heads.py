"""Benchmark the NER heads on one encoder: our GlobalPointer / Efficient GlobalPointer, bert4torch's, and a CRF.

    python -m bench.ner_heads [--dataset cluener] [--encoder bilstm|bert] [--steps 300]
                              [--heads gp8,gp16,egp64,b4t_gp16,b4t_gp64,b4t_egp64,crf] [--threads 1]

Head names: ``gp<d>`` / ``egp<d>`` are ours (``common/layers/global_pointer.py``) with q/k
size ``d``; ``b4t_gp<d>`` / ``b4t_egp<d>`` are bert4torch's ``GlobalPointer`` /
``EfficientGlobalPointer`` trained the way its NER example does it
(``examples/sequence_labeling/task_sequence_labeling_ner_global_pointer.py``: masked
(B, heads, T, T) logits, a dense 0/1 label tensor, ``MultilabelCategoricalCrossentropy``
over the flattened T*T cells; prediction thresholds the whole logits tensor); ``crf``
is ``common/layers/crf_head.py`` (pytorch-crf). The dense labels are built outside the
timed region, as bert4torch's collate function builds them.

All models live in one process, start from the same encoder weights, see the same
batches (length-grouped like ``make ner-train``, unless ``--no-group-by-length``) and
are timed **interleaved step by step** (the order rotates every step), so the load of a
shared machine falls on all of them alike: the ratios to CRF are the fair numbers,
absolute speeds swing from run to run. Measured: training samples/s (forward + loss +
backward + clipping + AdamW step), prediction sentences/s over the dev set (encoder +
decoding to spans, interleaved per batch; batches of similar lengths, as
``competitions.ner.predict`` makes them), and dev micro-F1 after the same steps.
Prints a table and adds a record to the JSON file (key ``--name``, default ``<dataset>-<encoder>``).

bert4torch: ``import bert4torch.layers`` runs the package's ``__init__``, which imports
its models, ``torch4keras``, ``requests``, ``six``, ``httpx``, ``PIL`` and torchvision
(see :func:`load_bert4torch`). This script installs bert4torch with ``pip install
--no-deps`` when it is missing and loads three of its files unmodified:
``layers/global_point.py``, ``layers/position_encoding.py`` and ``losses.py``, with the
package ``__init__`` files skipped. ``position_encoding.py`` needs one name from
``bert4torch.snippets`` (``create_registrar``, a decorator that records RoPE variants
in a dict by name); a stand-in with that behaviour is supplied, nothing else is.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.metadata
import importlib.util
import json
import platform
import re
import subprocess
import sys
import time
import types
from functools import partial
from pathlib import Path

import torch
from torch import nn
from transformers.trainer_pt_utils import get_length_grouped_indices

from common.encoder import EncoderConfig, build_encoder, load_tokenizer
from common.io import write_json_atomic
from common.ner.metric import span_scores
from competitions.ner.config import NerConfig
from competitions.ner.data import NerDataset, collate, entity_types, load_splits, merge_piece_spans, resolve_data_options
from competitions.ner.model import CharBiLSTMEncoder, NerModel

BERT4TORCH = "bert4torch==0.6.2"
HEAD_NAME = re.compile(r"^(crf|(b4t_)?(gp|egp)(\d+))$")


def load_bert4torch() -> types.SimpleNamespace:
    """bert4torch's ``GlobalPointer``, ``EfficientGlobalPointer`` and ``MultilabelCategoricalCrossentropy``.

    Installs ``bert4torch`` with ``--no-deps`` if missing, then imports its
    ``layers/global_point.py`` (which imports ``layers/position_encoding.py``) and
    ``losses.py`` without running the package ``__init__`` files (see the module docstring).
    """
    spec = importlib.util.find_spec("bert4torch")
    if spec is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", BERT4TORCH], check=True)
        spec = importlib.util.find_spec("bert4torch")
    root = Path(spec.submodule_search_locations[0])
    for name, folder in (("bert4torch", root), ("bert4torch.layers", root / "layers")):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]  # a package whose __init__ is not run
        sys.modules[name] = package

    def create_registrar(target_map):  # stand-in for bert4torch.snippets.create_registrar
        def register(callable_or_str=None, name=None):
            def decorator(obj):
                target_map[name or callable_or_str or obj.__name__] = obj
                return obj
            return decorator(callable_or_str) if callable(callable_or_str) else decorator
        return register

    snippets = types.ModuleType("bert4torch.snippets")
    snippets.create_registrar = create_registrar
    sys.modules["bert4torch.snippets"] = snippets
    global_point = importlib.import_module("bert4torch.layers.global_point")
    losses = importlib.import_module("bert4torch.losses")
    version = importlib.metadata.version("bert4torch")
    return types.SimpleNamespace(GlobalPointer=global_point.GlobalPointer, version=version,
                                 EfficientGlobalPointer=global_point.EfficientGlobalPointer,
                                 MultilabelCategoricalCrossentropy=losses.MultilabelCategoricalCrossentropy)


class Bert4torchSpanModel(nn.Module):
    """The same encoder and dropout as :class:`NerModel`, with a bert4torch span head and its loss.

    ``forward(input_ids (B, T+2), attention_mask (B, T+2), dense_labels (B, heads, T, T))``
    returns ``{"loss"}``; ``decode`` returns B lists of ``(start, end, type_id)`` like ``NerModel.decode``.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, loss_fn: nn.Module, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder, self.head, self.loss_fn = encoder, head, loss_fn
        self.dropout = nn.Dropout(dropout)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T+2, H)
        return self.head(self.dropout(hidden[:, 1:-1]), attention_mask[:, 2:])  # (B, heads, T, T), masked

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, dense_labels: torch.Tensor,
                **_: object) -> dict[str, torch.Tensor]:
        logits = self.logits(input_ids, attention_mask)
        B, A = logits.shape[:2]
        return {"loss": self.loss_fn(logits.reshape(B * A, -1), dense_labels.reshape(B * A, -1))}

    @torch.no_grad()
    def decode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               **_: object) -> list[list[tuple[int, int, int]]]:
        logits = self.logits(input_ids, attention_mask)  # (B, heads, T, T)
        per: list[list[tuple[int, int, int]]] = [[] for _ in range(logits.shape[0])]
        for b, t, start, end in (logits > 0).nonzero().tolist():  # (P, 4) rows
            per[b].append((start, end, t))
        return per


def dense_labels(span_labels: torch.Tensor, heads: int, length: int) -> torch.Tensor:
    """(B, S, 3) ``(start, end, type)`` rows (-1 padding) -> (B, heads, T, T) 0/1 float, bert4torch's target."""
    B = span_labels.shape[0]
    out = torch.zeros(B, heads, length, length)
    b, k = (span_labels[..., 0] >= 0).nonzero(as_tuple=True)
    s = span_labels[b, k]
    out[b, s[:, 2], s[:, 0], s[:, 1]] = 1.0
    return out


def build_models(names: tuple[str, ...], encoder: nn.Module, types_: list[str]) -> dict[str, nn.Module]:
    """One NER model per head name (``crf``, ``gp64``, ``egp64``, ``b4t_gp64`` ...), each on a copy of ``encoder``.

    ``b4t_`` names take bert4torch's GlobalPointer / EfficientGlobalPointer and loss; the others are ours.
    """
    b4t = load_bert4torch() if any(n.startswith("b4t_") for n in names) else None
    hidden = encoder.config.hidden_size
    models: dict[str, nn.Module] = {}
    for name in names:
        m = HEAD_NAME.match(name)
        if name == "crf":
            models[name] = NerModel(copy.deepcopy(encoder), "crf", types_)
        elif m.group(2):
            cls = b4t.GlobalPointer if m.group(3) == "gp" else b4t.EfficientGlobalPointer
            models[name] = Bert4torchSpanModel(copy.deepcopy(encoder), cls(hidden, len(types_), int(m.group(4))),
                                               b4t.MultilabelCategoricalCrossentropy())
        else:
            models[name] = NerModel(copy.deepcopy(encoder), m.group(3), types_, head_size=int(m.group(4)))
    return models


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cluener", help="a preset of competitions.ner.data.PRESETS")
    parser.add_argument("--data-dir", default="", help="the folder holding the preset's files (default: the preset's)")
    parser.add_argument("--encoder", default="bilstm", choices=["bilstm", "bert"])
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=4, help="BERT layers (BiLSTM: 2)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--no-group-by-length", dest="group_by_length", action="store_false",
                        help="plain shuffled batches instead of transformers' length grouping")
    parser.add_argument("--dev-limit", type=int, default=0, help="> 0: score/time only the first N dev texts")
    parser.add_argument("--heads", default="gp8,gp16,egp64,b4t_gp16,b4t_gp64,b4t_egp64,crf",
                        help="comma-separated: crf, gp<d>, egp<d>, b4t_gp<d>, b4t_egp<d>; crf is the reference")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="bench/results/ner_heads.json")
    parser.add_argument("--name", default="", help="key of the record in --out (default <dataset>-<encoder>)")
    args = parser.parse_args(argv)
    heads = tuple(h for h in args.heads.split(",") if h)
    if "crf" not in heads or any(not HEAD_NAME.match(h) for h in heads):
        parser.error("--heads must list crf, gp<d>, egp<d>, b4t_gp<d> or b4t_egp<d> names, crf included")
    torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    data = load_splits(resolve_data_options(NerConfig(dataset=args.dataset, data_dir=args.data_dir)))
    dev_examples = data["dev"][:args.dev_limit] if args.dev_limit else data["dev"]
    types_ = entity_types(data["train"])
    enc_cfg = EncoderConfig(hidden_size=args.hidden_size, num_layers=args.num_layers)
    tokenizer = load_tokenizer(enc_cfg)
    if args.encoder == "bert":
        encoder = build_encoder(enc_cfg, tokenizer)
    else:
        encoder = CharBiLSTMEncoder(len(tokenizer), args.hidden_size, 2, 0.1)
    models = build_models(heads, encoder, types_)
    optims = {h: torch.optim.AdamW(m.parameters(), lr=args.learning_rate) for h, m in models.items()}
    coll = partial(collate, pad_id=tokenizer.pad_token_id)
    train_ds = NerDataset(data["train"], tokenizer, types_, 256)
    dev_ds = NerDataset(dev_examples, tokenizer, types_, 256)
    lengths = train_ds.lengths

    def epoch_order(epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(args.seed + epoch)
        if args.group_by_length:
            return get_length_grouped_indices(lengths, args.batch_size, generator=g)
        return torch.randperm(len(train_ds), generator=g).tolist()

    per_epoch = len(train_ds) // args.batch_size
    train_time = {h: 0.0 for h in heads}
    seen, tokens = 0, 0
    orders: dict[int, list[int]] = {}
    for step in range(args.steps):
        epoch, k = divmod(step, per_epoch)
        if epoch not in orders:
            orders[epoch] = epoch_order(epoch)
        order = orders[epoch]
        batch = coll([train_ds[i] for i in order[k * args.batch_size:(k + 1) * args.batch_size]])
        T = batch["input_ids"].shape[1] - 2
        extra = {h: {} for h in heads}
        if any(h.startswith("b4t_") for h in heads):
            dense = dense_labels(batch["span_labels"], len(types_), T)  # built by bert4torch's collate, untimed
            extra.update({h: {"dense_labels": dense} for h in heads if h.startswith("b4t_")})
        for h in heads[step % len(heads):] + heads[:step % len(heads)]:  # rotate who goes first
            model, opt = models[h], optims[h]
            model.train()
            t0 = time.perf_counter()
            loss = model(**batch, **extra[h])["loss"]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            train_time[h] += time.perf_counter() - t0
        seen += args.batch_size
        tokens += (batch["input_ids"].shape[1] - 2) * batch["input_ids"].shape[0]  # padded characters
        if (step + 1) % 25 == 0:
            print(f"step {step + 1}/{args.steps} " + " ".join(f"{h}={seen / train_time[h]:.1f}/s" for h in heads),
                  flush=True)

    pred_time = {h: 0.0 for h in heads}
    outputs: dict[str, list] = {h: [] for h in heads}
    for m in models.values():
        m.eval()
    by_length = sorted(range(len(dev_ds)), key=lambda i: len(dev_ds[i]["input_ids"]))  # as predict.py batches
    with torch.no_grad():
        for k, start in enumerate(range(0, len(dev_ds), args.eval_batch_size)):
            rows = by_length[start:start + args.eval_batch_size]
            batch = coll([dev_ds[i] for i in rows])
            for h in heads[k % len(heads):] + heads[:k % len(heads)]:
                t0 = time.perf_counter()
                spans = models[h].decode(**batch)
                pred_time[h] += time.perf_counter() - t0
                outputs[h].extend(zip(rows, spans))
    outputs = {h: [spans for _, spans in sorted(out, key=lambda r: r[0])] for h, out in outputs.items()}
    results = {}
    for h in heads:
        scores = span_scores([ex.spans for ex in dev_examples], merge_piece_spans(dev_ds, outputs[h]))
        results[h] = {"train_samples_per_s": seen / train_time[h],
                      "predict_sentences_per_s": len(dev_examples) / pred_time[h],
                      "dev_f1": scores["f1"], "dev_precision": scores["precision"], "dev_recall": scores["recall"]}
    for h in heads:
        results[h]["train_speed_vs_crf"] = results[h]["train_samples_per_s"] / results["crf"]["train_samples_per_s"]
        results[h]["predict_speed_vs_crf"] = results[h]["predict_sentences_per_s"] / results["crf"]["predict_sentences_per_s"]

    print(f"\n{args.dataset}, encoder {args.encoder} (hidden {args.hidden_size}), batch {args.batch_size}, "
          f"{args.steps} interleaved steps ({'length-grouped' if args.group_by_length else 'shuffled'}, "
          f"{tokens / seen:.1f} padded chars/sentence), dev {len(dev_examples)} texts, {torch.get_num_threads()} thread(s)")
    print(f"{'head':<11}{'train/s':>10}{'x CRF':>8}{'pred/s':>10}{'x CRF':>8}{'dev F1':>8}")
    for h in heads:
        r = results[h]
        print(f"{h:<11}{r['train_samples_per_s']:10.1f}{r['train_speed_vs_crf']:8.2f}"
              f"{r['predict_sentences_per_s']:10.1f}{r['predict_speed_vs_crf']:8.2f}{r['dev_f1']:8.4f}")
    record = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": "python -m bench.ner_heads " + " ".join(argv or sys.argv[1:]),
              "args": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.machine(), "results": results,
              "bert4torch": importlib.metadata.version("bert4torch") if any(h.startswith("b4t_") for h in heads) else None,
              "note": "timed in one process, interleaved step by step, beside other jobs on the shared machine"}
    try:
        previous = json.loads(Path(args.out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    previous[args.name or f"{args.dataset}-{args.encoder}"] = record
    write_json_atomic(args.out, previous)
    return record


if __name__ == "__main__":
    main()
