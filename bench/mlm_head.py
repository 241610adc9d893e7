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
}


def pretrain_once(task: str, masked_only: bool, limit: int, folder: Path) -> dict:
    """One epoch of ``task``'s pretraining on ``limit`` rows in a fresh process: its final JSON line."""
    command = [sys.executable, *TASKS[task][0], "--limit", str(limit), "--epochs", "1", "--log-every-steps", "0",
               "--output-dir", str(folder / "out"), "--run-dir", str(folder / "run"),
               "--mlm-head-masked-only", str(masked_only).lower()]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0,
                        help="rows per file (Sohu: per split and subtask); 0: each task's default (TASKS)")
    parser.add_argument("--output", default=str(RESULTS / "mlm_head.json"))
    args = parser.parse_args()
    settings = {"masked positions": True, "every position": False}
    table: dict[str, dict] = {}
    for task in args.tasks:
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
