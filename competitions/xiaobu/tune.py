"""Optuna search over the Xiaobu classifier's training options, on the validation ROC AUC.

    python -m competitions.xiaobu.tune --trials 20 --run-name tune [--model cache/xiaobu-pretrain] [--flag value ...]

Every other flag fixes that option for all trials. Trials train into
``runs/xiaobu/<run>/trial<N>/`` on the fixed validation split; the study lives in
``runs/xiaobu/<run>/study.db`` (rerun the command to add the missing trials). The
best values are written as ``best_params.toml``, which ``competitions.xiaobu.train
--config`` accepts; the optimisation history and parameter importances as PNG.
Ends with one JSON line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from common.config import narrow_config, parse_config
from common.hpo import OptunaPruning, TuneConfig, run_tuning
from common.io import print_result
from common.run import resolve_run_dir, save_config
from competitions.xiaobu.config import XiaobuConfig
from competitions.xiaobu.data import split_train_valid
from competitions.xiaobu.train import fit, load_data

# The search space (a plain dict, see common.hpo.suggest); every key is a XiaobuConfig field.
SEARCH_SPACE = {
    "learning_rate": ("float", 5e-5, 1e-3, True),
    "epochs": ("int", 2, 8),
    "dropout": ("float", 0.0, 0.3),
    "fgm_epsilon": ("categorical", [0.0, 0.1, 0.5]),
    "ema_decay": ("categorical", [0.0, 0.99, 0.995]),
    "logit_adjust_tau": ("float", 0.0, 1.5),
}


@dataclass
class XiaobuTuneConfig(TuneConfig, XiaobuConfig):
    """A Xiaobu tuning run: the fixed options of every trial plus the study options."""


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(XiaobuTuneConfig, argv, description=__doc__)
    if config.valid_fraction <= 0:
        raise ValueError("tuning needs a validation split: --valid-fraction > 0")
    run_dir = resolve_run_dir(config, "xiaobu")
    save_config(config, run_dir)
    labelled, test = load_data(config)
    train, valid, _ = split_train_valid(labelled, config.valid_fraction, config.split_seed)
    sequences = [s for p in labelled + test for s in (p.a, p.b)]

    def train_trial(trial: optuna.Trial, params: dict, trial_dir: Path) -> float:
        cfg = narrow_config(config, XiaobuConfig, **params, run_dir=str(trial_dir),
                            run_name=f"{config.run_name}-trial{trial.number}", resume=False)
        summary, _ = fit(cfg, trial_dir, train, valid, test, sequences, callbacks=[OptunaPruning(trial, "auc")])
        return summary["best_metric"]

    summary = run_tuning(config, run_dir, SEARCH_SPACE, train_trial, "maximize", f"xiaobu-{config.run_name}",
                         "Use: python -m competitions.xiaobu.train --config <this file> "
                         "(with the same fixed flags as the study).")
    summary.update(run_dir=str(run_dir), wall_seconds=round(time.time() - start, 1))
    print_result(summary)
    return summary


if __name__ == "__main__":
    main()
