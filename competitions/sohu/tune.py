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


def trial_config(config: SohuTuneConfig, run_dir: Path, number: int, params: dict) -> SohuConfig:
    """The single-run config of trial ``number``: the fixed options, then the drawn ``params``."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(SohuConfig)}
    unknown = set(params) - set(values)
    if unknown:
        raise KeyError(f"search space names unknown options: {sorted(unknown)}")
    values.update(params)
    values.update(run_dir=str(run_dir / f"trial{number}"), run_name=f"{config.run_name}-trial{number}", resume=False)
    return SohuConfig(**values)


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
    study = create_study(config, run_dir, "maximize", default_name=f"sohu-{config.run_name}")

    def objective(trial: optuna.Trial) -> float:
        cfg = trial_config(config, run_dir, trial.number, suggest(trial, SEARCH_SPACE))
        trial_dir = Path(cfg.run_dir)
        if trial_dir.exists():  # a trial number reused after a crash: start it clean
            shutil.rmtree(trial_dir)
        try:
            summary = fit(cfg, trial_dir, train, valid, callbacks=[OptunaPruning(trial, "score")])
        finally:
            shutil.rmtree(trial_dir / "checkpoint", ignore_errors=True)  # optimizer state: not needed after
        return float(summary["best_metric"])

    ran = run_study(study, objective, config.trials)
    summary = save_study_outputs(study, run_dir, command_hint=(
        "Use: python -m competitions.sohu.train --config <this file> (with the same fixed flags as the study)."))
    if not config.keep_trial_models and "best_trial" in summary:
        for trial in study.trials:
            if trial.number != summary["best_trial"]:
                (run_dir / f"trial{trial.number}" / "model.pt").unlink(missing_ok=True)
    summary.update(run_dir=str(run_dir), trials_run_now=ran, wall_seconds=round(time.time() - start, 1))
    print_result(summary)
    return summary


if __name__ == "__main__":
    main()
