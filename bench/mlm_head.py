"""MLM pretraining speed with the prediction head at the masked positions only, against every position.

    python -m bench.mlm_head [--tasks sohu xiaobu-large] [--rounds 2] [--limit N]

:class:`common.pretraining.MaskedPositionsLM` runs the head (dense, GELU, LayerNorm, the V-way
decoder) on the ~15% of positions the loss reads, instead of computing (B, T, V) logits. This bench
runs each task's real pretraining command on the first rows of its data for one epoch (``--limit``;
by default enough rows for most of the full vocabulary, whose size sets the head's cost),
once with ``--mlm-head-masked-only true`` and once ``false``, in a fresh process each, the order
alternating between rounds, and reports the median training steps/s (the trainer's
``train_seconds``, so start-up and data loading are left out) and the first epoch's MLM loss of
each (the same loss up to float rounding, so they should agree to a few digits). Tasks:
``sohu`` (hidden 256, 2 layers, the pruned vocabulary: 7,984 tokens on all pairs, ``make sohu-mlm``'s encoder) and
``xiaobu-large`` (hidden 256, 4 layers, the id vocabulary, ``make xiaobu-pretrain-large``'s).

``xiaobu-joint``: Xiaobu's joint variant (``--joint true``: MLM targets and the label at [CLS]),
whose model :class:`common.joint_mlm.JointMaskedLM` runs the head at its target positions, against
``BertForMaskedLM``'s (B, T, V) logits. It has no option to switch (the class is the variant's), so
it is timed in this process: the same ``--joint-steps`` batches of the joint collator (train pairs
labelled, test pairs not; the larger encoder's shape, random weights), forward, backward and an
AdamW step under :func:`common.pretraining.masked_token_loss`, from the same initial weights, each
class in turn (the order alternating between rounds); it reports steps/s and the mean loss over
the steps (the same up to rounding).
Prints a table and writes ``bench/results/mlm_head.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.io import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = {  # the command's flags and the default --limit (Sohu: pairs per split and subtask; Xiaobu: lines per file)
    "sohu": (["-m", "competitions.sohu.pretrain_mlm", "--data-dir", "data/sohu2021"], 1500),
    "xiaobu-large": (["-m", "competitions.xiaobu.pretrain", "--data-dir", "data/xiaobu", "--hidden-size", "256",
                      "--num-layers", "4", "--num-heads", "4", "--intermediate-size", "1024"], 8000),
    "xiaobu-joint": ([], 8000),  # in this process (joint_steps); lines a file
}


def pretrain_once(task: str, masked_only: bool, limit: int, folder: Path) -> dict:
    """One epoch of ``task``'s pretraining on ``limit`` rows in a fresh process: its final JSON line."""
    command = [sys.executable, *TASKS[task][0], "--limit", str(limit), "--epochs", "1", "--log-every-steps", "0",
               "--output-dir", str(folder / "out"), "--run-dir", str(folder / "run"),
               "--mlm-head-masked-only", str(masked_only).lower()]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def joint_steps(limit: int, steps: int, rounds: int) -> dict:
    """The joint variant's training steps/s with the head at the target positions and at every position.

    ``limit`` lines of Xiaobu's train and test files, ``steps`` batches of the default joint
    batch size, ``rounds`` timings of each class. Returns the task's table row (as :func:`main`'s).
    """
    import torch
    from transformers import BertForMaskedLM

    from common.encoder import small_bert_config
    from common.id_vocab import build_id_vocab
    from common.joint_mlm import LABEL_TOKENS, JointMaskedLM, joint_collator, joint_dataset
    from common.pretraining import masked_token_loss
    from common.task import resolve
    from competitions.xiaobu.config import XiaobuConfig
    from competitions.xiaobu.data import read_pairs

    config = XiaobuConfig(data_dir="data/xiaobu", joint=True, hidden_size=256, num_layers=4, num_heads=4,
                          intermediate_size=1024, dropout=0.0, learning_rate=2e-4)
    train = read_pairs(resolve(config.data_dir, config.train_file), labelled=True, limit=limit)
    test = read_pairs(resolve(config.data_dir, config.test_file), labelled=False, limit=limit)
    vocab = build_id_vocab([s for p in train + test for s in (p.a, p.b)], min_freq=config.min_freq,
                           extra_special_tokens=LABEL_TOKENS)
    dataset = joint_dataset(config, vocab, train, training=True, unlabelled=test)
    collate = joint_collator(config, vocab, training=True)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0)).tolist()
    batches = [collate([dataset[i] for i in order[k * config.batch_size:(k + 1) * config.batch_size]])
               for k in range(min(steps, len(order) // config.batch_size))]
    torch.manual_seed(0)
    initial = BertForMaskedLM(small_bert_config(config, len(vocab))).state_dict()
    classes = {"masked positions": JointMaskedLM, "every position": BertForMaskedLM}
    found: dict[str, list[dict]] = {name: [] for name in classes}
    for r in range(rounds):
        for name in (list(classes) if r % 2 == 0 else list(classes)[::-1]):
            model = classes[name](small_bert_config(config, len(vocab)))
            model.load_state_dict(initial)  # copies the tensors
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
            losses, start = [], time.perf_counter()
            for batch in batches:
                loss = masked_token_loss(model, batch)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss.item())
            seconds = time.perf_counter() - start
            found[name].append({"train_seconds": round(seconds, 2), "loss": statistics.fmean(losses)})
            print(f"xiaobu-joint round {r + 1}/{rounds} {name}: {len(batches)} steps in {seconds:.1f} s", flush=True)
    rows = {name: {"steps": len(batches),
                   "steps_per_s": round(statistics.median(len(batches) / x["train_seconds"] for x in runs), 3),
                   "train_seconds": [x["train_seconds"] for x in runs],
                   "first_epoch_loss": runs[0]["loss"]} for name, runs in found.items()}  # mean over the steps
    return {"limit": limit, "pairs": len(dataset), "vocab_size": len(vocab), "settings": rows,
            "speedup": round(rows["masked positions"]["steps_per_s"] / rows["every position"]["steps_per_s"], 2),
            "batch_size": config.batch_size, "shape": "hidden 256, 4 layers, random weights",
            "loss": "mean over the steps, not an epoch's"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0,
                        help="rows per file (Sohu: per split and subtask); 0: each task's default (TASKS)")
    parser.add_argument("--joint-steps", type=int, default=100, help="xiaobu-joint: training steps timed")
    parser.add_argument("--output", default=str(RESULTS / "mlm_head.json"))
    args = parser.parse_args()
    settings = {"masked positions": True, "every position": False}
    table: dict[str, dict] = {}
    for task in args.tasks:
        if task == "xiaobu-joint":
            table[task] = joint_steps(args.limit or TASKS[task][1], args.joint_steps, args.rounds)
            continue
        runs: dict[str, list[dict]] = {name: [] for name in settings}
        for r in range(args.rounds):
            for name in (list(settings) if r % 2 == 0 else list(settings)[::-1]):
                with tempfile.TemporaryDirectory() as tmp:
                    result = pretrain_once(task, settings[name], args.limit or TASKS[task][1], Path(tmp))
                runs[name].append(result)
                print(f"{task} round {r + 1}/{args.rounds} {name}: {result['steps']} steps in "
                      f"{result['train_seconds']} s", flush=True)
        rows = {name: {"steps": found[0]["steps"],
                       "steps_per_s": round(statistics.median(x["steps"] / x["train_seconds"] for x in found), 3),
                       "train_seconds": [x["train_seconds"] for x in found],
                       "first_epoch_loss": found[0]["first_epoch_loss"]} for name, found in runs.items()}
        table[task] = {"limit": args.limit or TASKS[task][1], "pairs": runs["masked positions"][0]["pairs"],
                       "vocab_size": runs["masked positions"][0]["vocab_size"], "settings": rows,
                       "speedup": round(rows["masked positions"]["steps_per_s"] / rows["every position"]["steps_per_s"],
                                        2)}
    result = {"rounds": args.rounds, "tasks": table,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average": os.getloadavg(),
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{'task':13} {'head at':17} {'vocab':>6} {'steps':>6} {'steps/s':>8} {'epoch-1 loss':>13}")
    for task, row in table.items():
        for name, setting in row["settings"].items():
            print(f"{task:13} {name:17} {row['vocab_size']:6d} {setting['steps']:6d} {setting['steps_per_s']:8.3f} "
                  f"{setting['first_epoch_loss']:13.4f}")
        print(f"{task:13} speedup {row['speedup']}x")
    write_json_atomic(Path(args.output), result)


if __name__ == "__main__":
    main()
