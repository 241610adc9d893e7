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

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from common.config import parse_config
from common.hpo import OptunaPruning, TuneConfig, create_study, run_study, save_study_outputs, suggest
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


def trial_config(config: XiaobuTuneConfig, run_dir: Path, number: int, params: dict) -> XiaobuConfig:
    """The single-run config of trial ``number``: the fixed options, then the drawn ``params``."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(XiaobuConfig)}
    unknown = set(params) - set(values)
    if unknown:
        raise KeyError(f"search space names unknown options: {sorted(unknown)}")
    values.update(params)
    values.update(run_dir=str(run_dir / f"trial{number}"), run_name=f"{config.run_name}-trial{number}", resume=False)
    return XiaobuConfig(**values)


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
    study = create_study(config, run_dir, "maximize", default_name=f"xiaobu-{config.run_name}")

    def objective(trial: optuna.Trial) -> float:
        cfg = trial_config(config, run_dir, trial.number, suggest(trial, SEARCH_SPACE))
        trial_dir = Path(cfg.run_dir)
        if trial_dir.exists():  # a trial number reused after a crash: start it clean
            shutil.rmtree(trial_dir)
        try:
            summary, _ = fit(cfg, trial_dir, train, valid, test, sequences, callbacks=[OptunaPruning(trial, "auc")])
        finally:
            shutil.rmtree(trial_dir / "checkpoint", ignore_errors=True)  # optimizer state: not needed after
        return float(summary["best_metric"])

    ran = run_study(study, objective, config.trials)
    summary = save_study_outputs(study, run_dir, command_hint=(
        "Use: python -m competitions.xiaobu.train --config <this file> (with the same fixed flags as the study)."))
    if not config.keep_trial_models and "best_trial" in summary:
        for trial in study.trials:
            if trial.number != summary["best_trial"]:
                (run_dir / f"trial{trial.number}" / "model.pt").unlink(missing_ok=True)
    summary.update(run_dir=str(run_dir), trials_run_now=ran, wall_seconds=round(time.time() - start, 1))
    print_result(summary)
    return summary


if __name__ == "__main__":
    main()
