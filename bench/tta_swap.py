"""Swap test-time augmentation on a finished k-fold run: each fold model's OOF rows in one order, the other, both.

    python -m bench.tta_swap --task xiaobu --run runs/xiaobu/cv5
    python -m bench.tta_swap --task sohu --run runs/sohu/cv5-quick-scratch

Nothing is trained: every fold model predicts its own held-out rows as given, with the
two texts exchanged (:meth:`common.task.Task.swapped`), and as the mean of both (what
``--tta-swap true`` does, through :func:`common.commands.predict.probabilities`). The
pooled OOF score of each is the task's metric; the first column must equal the run's
``oof.npz`` (checked). Writes ``bench/results/tta_swap_<task>_<run>.json``; prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from accelerate import Accelerator

from common.commands.predict import load_run, probabilities
from common.io import write_json_atomic
from common.task import get_task

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--run", required=True, help="a finished k-fold run folder (oof.npz, fold<k>/)")
    args = parser.parse_args(argv)
    start = time.time()
    task, run = get_task(args.task), Path(args.run)
    saved = np.load(run / "oof.npz")
    fold, ids = saved["fold"], saved["ids"]
    config, _ = load_run(task, run / "fold0")
    config.tta_swap = False
    data = task.load_data(config)
    pool = task.cv_pool(config, data)
    by_id = dict(zip(task.ids(pool), pool))
    pool = [by_id[i] for i in ids.tolist()]  # oof.npz's row order
    accelerator = Accelerator(cpu=True)
    plain, swapped = np.zeros(len(pool)), np.zeros(len(pool))
    per_fold = {}
    for k in np.unique(fold).tolist():
        fold_config, model = load_run(task, run / f"fold{k}")
        fold_config.tta_swap = False
        rows = np.flatnonzero(fold == k)
        held = [pool[i] for i in rows]
        plain[rows] = probabilities(task, fold_config, model, held, accelerator)
        swapped[rows] = probabilities(task, fold_config, model, task.swapped(held), accelerator)
        per_fold[k] = {name: task.score(held, p[rows])[0][task.metric_name]
                       for name, p in (("plain", plain), ("swapped", swapped), ("tta", (plain + swapped) / 2))}
    drift = float(np.abs(plain - saved["oof"]).max())
    if drift > 1e-4:
        raise RuntimeError(f"{run}: re-predicted OOF differs from oof.npz by {drift:.2g}: not the run's fold models?")
    oof = {name: task.score(pool, p)[0][task.metric_name]
           for name, p in (("plain", plain), ("swapped", swapped), ("tta", (plain + swapped) / 2))}
    result = {"task": task.name, "run": str(run), "metric": task.metric_name, "oof": oof, "per_fold": per_fold,
              "folds_improved": sum(v["tta"] > v["plain"] for v in per_fold.values()),
              "max_drift_from_oof_npz": drift, "seconds": round(time.time() - start, 1)}
    write_json_atomic(RESULTS / f"tta_swap_{task.name}_{run.name}.json", result)
    print(f"{task.name} {run} ({task.metric_name}, OOF)")
    print(f"{'fold':>6} {'plain':>8} {'swapped':>8} {'tta':>8}")
    for k, v in per_fold.items():
        print(f"{k:>6} {v['plain']:8.4f} {v['swapped']:8.4f} {v['tta']:8.4f}")
    print(f"{'all':>6} {oof['plain']:8.4f} {oof['swapped']:8.4f} {oof['tta']:8.4f}")
    return result


if __name__ == "__main__":
    main()
