"""Optuna search over the Sohu matcher's training options, on the validation score.

    python -m competitions.sohu.tune --trials 20 --run-name tune [--storage URL] [--flag value ...]

Every other flag fixes that option for all trials (e.g. ``--limit 2000`` for quick
trials, ``--max-train-minutes 3`` as a per-trial budget). Trials train into
``runs/sohu/<run>/trial<N>/``; the study lives in ``runs/sohu/<run>/study.db``
(rerun the command to add the missing trials). The best values are written as
``best_params.toml``, which ``competitions.sohu.train --config`` accepts; the
optimisation history and parameter importances as PNG. Ends with one JSON line.
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
from competitions.sohu.config import SohuConfig
from competitions.sohu.data import limit_per_subtask, load_split
from competitions.sohu.predict import parse_subtasks
from competitions.sohu.train import fit

# The search space (a plain dict, see common.hpo.suggest); every key is a SohuConfig field.
SEARCH_SPACE = {
    "learning_rate": ("float", 1e-4, 1e-3, True),
    "epochs": ("int", 1, 3),
    "dropout": ("float", 0.0, 0.3),
    "fgm_epsilon": ("categorical", [0.0, 0.1, 0.3]),
    "ema_decay": ("categorical", [0.0, 0.99, 0.995]),
    "logit_adjust_tau": ("float", 0.0, 1.5),
}


@dataclass
class SohuTuneConfig(TuneConfig, SohuConfig):
    """A Sohu tuning run: the fixed options of every trial plus the study options."""

    blend_with: str = ""  # trials are scored alone


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(SohuTuneConfig, argv, description=__doc__)
    run_dir = resolve_run_dir(config, "sohu")
    save_config(config, run_dir)
    subtasks = parse_subtasks(config.subtasks)
    train, _ = load_split(config.data_dir, "train", subtasks)
    valid, _ = load_split(config.data_dir, "valid", subtasks)
    if config.limit:
        train, valid = limit_per_subtask(train, config.limit), limit_per_subtask(valid, config.limit)

    def train_trial(trial: optuna.Trial, params: dict, trial_dir: Path) -> float:
        cfg = narrow_config(config, SohuConfig, **params, run_dir=str(trial_dir),
                            run_name=f"{config.run_name}-trial{trial.number}", resume=False)
        return fit(cfg, trial_dir, train, valid, callbacks=[OptunaPruning(trial, "score")])["best_metric"]

    summary = run_tuning(config, run_dir, SEARCH_SPACE, train_trial, "maximize", f"sohu-{config.run_name}",
                         "Use: python -m competitions.sohu.train --config <this file> "
                         "(with the same fixed flags as the study).")
    summary.update(run_dir=str(run_dir), wall_seconds=round(time.time() - start, 1))
    print_result(summary)
    return summary


if __name__ == "__main__":
    main()
