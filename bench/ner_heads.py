"""Benchmark the NER heads on one encoder: GlobalPointer vs Efficient GlobalPointer vs CRF.

    python -m bench.ner_heads [--encoder bilstm|bert] [--steps 200] [--batch-size 32] [--out bench/results/ner_heads.json]

All heads live in one process, start from the same encoder weights, see the same
batches and are timed **interleaved step by step** (the order of the heads rotates
every step), so the load of a shared machine falls on all of them alike: the
ratios to CRF are the fair numbers, absolute speeds swing from run to run.
Measured: training samples/s (forward + backward + AdamW step), prediction
sentences/s over the dev set (encoder + decoding to spans, interleaved per batch),
and dev micro-F1 after the same number of steps. Prints a table and writes JSON.

bert4torch's heads are not included: ``pip install bert4torch`` pulls torchvision,
httpx and more into the environment (tried; see the README).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from functools import partial

import torch

from common.encoder import EncoderConfig, build_encoder, load_tokenizer
from common.io import write_json_atomic
from common.ner.metric import span_scores
from competitions.ner.data import NerDataset, collate, entity_types, load_dataset, merge_piece_spans
from competitions.ner.model import CharBiLSTMEncoder, NerModel

# name -> (head, head_size): GlobalPointer at bojone's head size 64 and at 32 (a 256-wide encoder)
VARIANTS = {"gp": ("gp", 64), "gp_d32": ("gp", 32), "egp": ("egp", 64), "crf": ("crf", 64)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cluener")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--encoder", default="bilstm", choices=["bilstm", "bert"])
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=4, help="BERT layers (BiLSTM: 2)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--dev-limit", type=int, default=0, help="> 0: score/time only the first N dev texts")
    parser.add_argument("--heads", default="gp,egp,crf", help=f"comma-separated, from {list(VARIANTS)}; crf needed")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="bench/results/ner_heads.json")
    args = parser.parse_args(argv)
    heads = tuple(h for h in args.heads.split(",") if h)
    if "crf" not in heads or any(h not in VARIANTS for h in heads):
        parser.error(f"--heads must list names from {list(VARIANTS)}, crf included (the reference)")

    torch.manual_seed(args.seed)
    data = load_dataset(args.dataset, args.data_root)
    dev_examples = data["dev"][:args.dev_limit] if args.dev_limit else data["dev"]
    types = entity_types(data["train"])
    enc_cfg = EncoderConfig(hidden_size=args.hidden_size, num_layers=args.num_layers)
    tokenizer = load_tokenizer(enc_cfg)
    if args.encoder == "bert":
        encoder = build_encoder(enc_cfg, tokenizer)
    else:
        encoder = CharBiLSTMEncoder(len(tokenizer), args.hidden_size, 2, 0.1)
    models = {h: NerModel(copy.deepcopy(encoder), VARIANTS[h][0], types, head_size=VARIANTS[h][1]) for h in heads}
    optims = {h: torch.optim.AdamW(m.parameters(), lr=args.learning_rate) for h, m in models.items()}
    coll = partial(collate, pad_id=tokenizer.pad_token_id)
    train_ds = NerDataset(data["train"], tokenizer, types, 256)
    dev_ds = NerDataset(dev_examples, tokenizer, types, 256)
    order = torch.randperm(len(train_ds), generator=torch.Generator().manual_seed(args.seed)).tolist()

    train_time = {h: 0.0 for h in heads}
    seen = 0
    for step in range(args.steps):
        idx = [order[(step * args.batch_size + i) % len(order)] for i in range(args.batch_size)]
        batch = coll([train_ds[i] for i in idx])
        for h in heads[step % len(heads):] + heads[:step % len(heads)]:  # rotate who goes first
            model, opt = models[h], optims[h]
            model.train()
            t0 = time.perf_counter()
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
            train_time[h] += time.perf_counter() - t0
        seen += args.batch_size
        if (step + 1) % 20 == 0:
            print(f"step {step + 1}/{args.steps} " + " ".join(f"{h}={seen / train_time[h]:.1f}/s" for h in heads),
                  flush=True)

    pred_time = {h: 0.0 for h in heads}
    outputs: dict[str, list] = {h: [] for h in heads}
    for m in models.values():
        m.eval()
    with torch.no_grad():
        for k, start in enumerate(range(0, len(dev_ds), args.eval_batch_size)):
            batch = coll([dev_ds[i] for i in range(start, min(start + args.eval_batch_size, len(dev_ds)))])
            for h in heads[k % len(heads):] + heads[:k % len(heads)]:
                t0 = time.perf_counter()
                spans = models[h].decode(**batch)
                pred_time[h] += time.perf_counter() - t0
                outputs[h].extend(spans.numpy())
    results = {}
    for h in heads:
        scores = span_scores([ex.spans for ex in dev_examples], merge_piece_spans(dev_ds, outputs[h]))
        results[h] = {"train_samples_per_s": seen / train_time[h], "predict_sentences_per_s": len(dev_examples) / pred_time[h],
                      "dev_f1": scores["f1"], "dev_precision": scores["precision"], "dev_recall": scores["recall"]}
    for h in heads:
        results[h]["train_speed_vs_crf"] = results[h]["train_samples_per_s"] / results["crf"]["train_samples_per_s"]
        results[h]["predict_speed_vs_crf"] = results[h]["predict_sentences_per_s"] / results["crf"]["predict_sentences_per_s"]

    print(f"\n{args.dataset}, encoder {args.encoder} (hidden {args.hidden_size}), batch {args.batch_size}, "
          f"{args.steps} interleaved steps, dev {len(dev_examples)} texts")
    print(f"{'head':<8}{'train/s':>10}{'x CRF':>8}{'pred/s':>10}{'x CRF':>8}{'dev F1':>8}")
    for h in heads:
        r = results[h]
        print(f"{h:<8}{r['train_samples_per_s']:10.1f}{r['train_speed_vs_crf']:8.2f}"
              f"{r['predict_sentences_per_s']:10.1f}{r['predict_speed_vs_crf']:8.2f}{r['dev_f1']:8.4f}")
    record = {"date": time.strftime("%Y-%m-%d %H:%M"), "args": vars(args), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "machine": platform.machine(), "results": results,
              "note": "timed in one process, interleaved step by step, under the shared machine's load"}
    try:
        previous = json.load(open(args.out, encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    previous[f"{args.dataset}-{args.encoder}"] = record
    write_json_atomic(args.out, previous)
    return record


if __name__ == "__main__":
    main()
