"""Prediction time of a trained run's test set in dataset order against shortest first, on this CPU.

    python -m bench.sorted_inference --task sohu --run runs/sohu/<k-fold run>/fold0 [--rounds 3] [--rows 0]

Every prediction of the trainer and of ``common.commands.predict`` batches rows shortest first
when the dataset knows its rows' lengths (:func:`common.training.inference.inference_loader`),
so each batch is padded to its own longest row and not to the longest of ``eval_batch_size``
consecutive rows. This bench measures what that is worth on real rows: the run folder's model
(``config.json``, ``model.pt``; a k-fold run's ``fold<k>`` is one) predicts its task's test set
(``--rows`` > 0: the first rows only) at the run's ``eval_batch_size``, once in dataset order
(a plain ``DataLoader``, what every prediction did before) and once shortest first, both through
:func:`common.training.inference.run_inference`. After a warm-up batch each round times one pass of
each, the order alternating between rounds; the reported time is the median over rounds.
Also reported: the padded tokens per row of each order (what the encoder computes on) and the
largest difference between the two orders' probabilities (float rounding only: the rows do not
interact). Prints a table and writes ``bench/results/sorted_inference_<task>.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from common.commands.predict import load_run
from common.io import write_json_atomic
from common.task import get_task
from common.training.inference import inference_loader, run_inference

RESULTS = Path(__file__).resolve().parent / "results"


def padded_tokens(lengths: list[int], batch_size: int, order: list[int]) -> int:
    """Tokens the encoder sees when ``order``'s rows are cut into batches, each padded to its longest row."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return sum(len(b) * max(lengths[j] for j in b) for b in batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--run", required=True, help="a run folder with config.json and model.pt")
    parser.add_argument("--rows", type=int, default=0, help="the first rows of the test set only (0: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=None, help="default bench/results/sorted_inference_<task>.json")
    args = parser.parse_args()
    task = get_task(args.task)
    config, model = load_run(task, args.run)
    rows = task.load_data(config).test
    rows = rows[:args.rows] if args.rows > 0 else rows
    dataset = task.dataset(config, model, rows, training=False)
    lengths = getattr(dataset, "lengths", None)
    if lengths is None:
        raise SystemExit(f"{task.name}'s dataset has no lengths: its predictions are made in dataset order")
    collate, step = task.collate_fn(config, model, training=False), task.predict_step(config, model)
    module, batch_size = model.module.eval(), config.eval_batch_size
    loaders = {"dataset order": DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate),
               "shortest first": inference_loader(dataset, batch_size, collate)}
    run_inference(module, DataLoader(dataset, batch_size=batch_size, collate_fn=collate, sampler=[0]), step,
                  show_progress=False)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in loaders}
    outputs: dict[str, dict] = {}
    for r in range(args.rounds):
        for name in (list(loaders) if r % 2 == 0 else list(loaders)[::-1]):
            start = time.perf_counter()
            outputs[name] = run_inference(module, loaders[name], step, show_progress=False)
            seconds[name].append(time.perf_counter() - start)
            print(f"round {r + 1}/{args.rounds} {name}: {seconds[name][-1]:.1f} s", flush=True)
    key = next(iter(outputs["dataset order"]))
    a, b = (np.asarray(outputs[n][key], dtype=np.float64) for n in loaders)
    order = {"dataset order": list(range(len(dataset))),
             "shortest first": np.argsort(np.asarray(lengths), kind="stable").tolist()}
    table = {name: {"median_seconds": round(statistics.median(s), 2), "seconds": [round(x, 2) for x in s],
                    "rows_per_s": round(len(dataset) / statistics.median(s), 1),
                    "padded_tokens_per_row": round(padded_tokens(lengths, batch_size, order[name]) / len(dataset), 1)}
             for name, s in seconds.items()}
    result = {"task": task.name, "run": args.run, "rows": len(dataset), "eval_batch_size": batch_size,
              "max_length": getattr(config, "max_length", None),
              "mean_tokens_per_row": round(float(np.mean(lengths)), 1), "rounds": args.rounds,
              "speedup": round(table["dataset order"]["median_seconds"] / table["shortest first"]["median_seconds"], 2),
              "max_abs_difference": float(np.max(np.abs(a - b))), "output": key, "orders": table,
              "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "platform": platform.platform(), "load_average": os.getloadavg()},
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{task.name}: {len(dataset)} test rows, batch {batch_size}, mean {result['mean_tokens_per_row']} tokens/row")
    print(f"{'order':16} {'median s':>9} {'rows/s':>8} {'padded tokens/row':>18}")
    for name, row in table.items():
        print(f"{name:16} {row['median_seconds']:9.1f} {row['rows_per_s']:8.1f} {row['padded_tokens_per_row']:18.1f}")
    print(f"speedup {result['speedup']}x; largest |difference| of {key!r}: {result['max_abs_difference']:.2e}")
    write_json_atomic(Path(args.output) if args.output else RESULTS / f"sorted_inference_{task.name}.json", result)


if __name__ == "__main__":
    main()
