"""One tuning worker with a cheap objective (no model): for the multi-worker tests and measurement.

    python -m tests.hpo_worker --run-dir DIR --storage URL --trials N [--seconds 0.3] [--module common.hpo]

Calls ``run_tuning`` exactly as the tune commands do (positional arguments). Each trial
"trains" for ``--seconds`` over three reported epochs, writing a ``checkpoint/`` and a
``model.pt`` like a real trial, and scores its parameters with a smooth function.
Prints the summary as one JSON line. ``--module`` picks the implementation (e.g. an
older copy of common/hpo.py, to measure before and after).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import time
from pathlib import Path

import optuna

SPACE = {"lr": ("float", 1e-4, 1e-2, True), "layers": ("int", 1, 4), "dropout": ("float", 0.0, 0.5),
         "act": ("categorical", ["gelu", "relu"])}


def score(params: dict) -> float:
    """A smooth objective with its maximum near lr=1e-3, layers=2, dropout=0.1, gelu."""
    return (-(math.log10(params["lr"]) + 3) ** 2 - 0.1 * (params["layers"] - 2) ** 2
            - (params["dropout"] - 0.1) ** 2 + 0.2 * (params["act"] == "gelu"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--storage", default="")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--name", default="cheap")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pruner", default="none")
    parser.add_argument("--heartbeat", type=int, default=1)
    parser.add_argument("--grace", type=int, default=3)
    parser.add_argument("--module", default="common.hpo")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    hpo = importlib.import_module(args.module)
    config = hpo.TuneConfig(trials=args.trials, storage=args.storage, sampler_seed=args.seed, pruner=args.pruner)
    for name, value in (("heartbeat_interval", args.heartbeat), ("heartbeat_grace", args.grace)):
        if hasattr(config, name):
            setattr(config, name, value)

    def train_trial(trial: optuna.Trial, params: dict, trial_dir: Path) -> float:
        (trial_dir / "checkpoint").mkdir(parents=True, exist_ok=True)
        value = score(params)
        for epoch in (1, 2, 3):
            time.sleep(args.seconds / 3)
            trial.report(value - 0.1 * (3 - epoch), step=epoch)
        (trial_dir / "model.pt").write_bytes(b"weights")
        return value

    summary = hpo.run_tuning(config, args.run_dir, SPACE, train_trial, "maximize", args.name, "cheap objective")
    print(json.dumps(summary, default=str), flush=True)
    return summary


if __name__ == "__main__":
    main()
