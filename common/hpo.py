"""Hyperparameter search with Optuna: a declared search space, pruning on epochs, resumable storage.

A task declares its search space as a plain dict and gives an objective that
trains one trial with the shared trainer; this module does the rest::

    runs/<task>/<run>/
        study.db                the Optuna storage (SQLite); any RDB URL with --storage instead
        trial<N>/               one shared-trainer run folder per trial
        best_params.toml        the best trial's values: an override file, `--config best_params.toml`
        trials.csv              every trial (values, params, state, duration)
        optimization_history.png, param_importances.png
        tune_summary.json

The sampler (TPE) is seeded. Each epoch's validation metric is reported to the
trial through :class:`OptunaPruning`, a trainer callback, and the pruner (median
by default) stops trials that fall behind. ``--trials`` is the number of finished
trials the study should hold: rerunning the command on the same storage runs only
the missing ones, numbering them after the existing trials; several machines can
share one study through one database URL. Trials left RUNNING by a crashed process
are marked failed after the heartbeat grace period (Optuna's heartbeat).
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from optuna.trial import TrialState

from common.io import write_json_atomic, write_text_atomic
from common.training.callbacks import Callback

logger = logging.getLogger("common.hpo")

# name -> ("float", low, high[, log]) | ("int", low, high) | ("categorical", [choices])
SearchSpace = Mapping[str, tuple]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class TuneConfig:
    """Optuna options; task tuning configs inherit these fields."""

    trials: int = 20  # finished (complete or pruned) trials wanted in the study; a rerun adds only the missing ones
    storage: str = ""  # empty: sqlite:///<run folder>/study.db; or any RDB URL shared by several machines
    study_name: str = ""  # empty: the run name
    sampler_seed: int = 42
    pruner: str = "median"  # median | none
    pruner_startup_trials: int = 3  # trials run to the end before the pruner may stop any
    keep_trial_models: bool = False  # keep every trial's model.pt (the best trial's is always kept)


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Draw one value per entry of ``space``.

    Raises:
        ValueError: an entry whose kind is not float, int or categorical.
    """
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "float":
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=bool(spec[3]) if len(spec) > 3 else False)
        elif kind == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2])
        elif kind == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec[1]))
        else:
            raise ValueError(f"search space {name!r}: kind must be float, int or categorical, got {kind!r}")
    return params


def create_study(config: TuneConfig, run_dir: str | Path, direction: str, default_name: str) -> optuna.Study:
    """Create or load (``load_if_exists``) the study of a tuning run.

    Args:
        config: storage URL, study name, sampler seed, pruner.
        run_dir: folder of the default SQLite storage.
        direction: ``"maximize"`` or ``"minimize"``.
        default_name: study name when ``config.study_name`` is empty.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    url = config.storage or f"sqlite:///{(run_dir / 'study.db').as_posix()}"
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    if config.pruner == "median":
        pruner: optuna.pruners.BasePruner = optuna.pruners.MedianPruner(n_startup_trials=config.pruner_startup_trials)
    elif config.pruner == "none":
        pruner = optuna.pruners.NopPruner()
    else:
        raise ValueError(f"pruner must be median or none, got {config.pruner!r}")
    return optuna.create_study(study_name=config.study_name or default_name, storage=storage,
                               sampler=optuna.samplers.TPESampler(seed=config.sampler_seed), pruner=pruner,
                               direction=direction, load_if_exists=True)


class OptunaPruning(Callback):
    """Trainer callback: report each epoch's validation metric; stop the trial when the pruner says so.

    Args:
        trial: the running trial.
        metric_name: key of the epoch record to report (the trainer's selection metric).

    Raises (from ``on_evaluate``):
        optuna.TrialPruned: the pruner stops this trial (after the epoch's checkpoint is written).
    """

    def __init__(self, trial: optuna.Trial, metric_name: str) -> None:
        self.trial, self.metric_name = trial, metric_name

    def on_evaluate(self, trainer, record: dict[str, Any]) -> None:
        if self.metric_name not in record:
            return
        self.trial.report(float(record[self.metric_name]), step=int(record["epoch"]))
        if self.trial.should_prune():
            logger.info("trial %d pruned after epoch %d (%s %.4f)", self.trial.number, record["epoch"],
                        self.metric_name, record[self.metric_name])
            raise optuna.TrialPruned()


def finished_trials(study: optuna.Study) -> int:
    """Number of complete or pruned trials in the study."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def run_study(study: optuna.Study, objective: Callable[[optuna.Trial], float], trials: int) -> int:
    """Run trials until the study holds ``trials`` finished ones; returns how many ran now."""
    todo = max(trials - finished_trials(study), 0)
    logger.info("study %s: %d finished trials, running %d more", study.study_name, finished_trials(study), todo)
    ran = 0
    while finished_trials(study) < trials:
        study.optimize(objective, n_trials=1)
        ran += 1
        if ran > 3 * trials:  # every trial failing: stop rather than loop forever
            raise RuntimeError(f"{ran} trials ran and only {finished_trials(study)} finished; see the trial logs")
    return ran


# (trial, drawn params, trial folder) -> the trial's objective value
TrialFn = Callable[[optuna.Trial, dict[str, Any], Path], float]


def run_tuning(config: TuneConfig, run_dir: str | Path, space: SearchSpace, train_trial: TrialFn,
               direction: str, default_name: str, command_hint: str = "") -> dict[str, Any]:
    """A whole tuning run: study, trials until ``config.trials`` are finished, outputs.

    Each trial draws from ``space`` and trains in ``run_dir/trial<N>`` (cleared first:
    a number reused after a crash starts clean) through ``train_trial``; its
    resumable ``checkpoint/`` is removed afterwards. Then :func:`save_study_outputs`,
    and every trial's ``model.pt`` but the best one's is deleted unless
    ``config.keep_trial_models``.

    Returns:
        the summary of :func:`save_study_outputs` plus ``trials_run_now``.
    """
    run_dir = Path(run_dir)
    study = create_study(config, run_dir, direction, default_name)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        trial_dir = run_dir / f"trial{trial.number}"
        if trial_dir.exists():
            shutil.rmtree(trial_dir)
        try:
            return float(train_trial(trial, params, trial_dir))
        finally:
            shutil.rmtree(trial_dir / "checkpoint", ignore_errors=True)  # optimizer state: not needed after

    ran = run_study(study, objective, config.trials)
    summary = save_study_outputs(study, run_dir, command_hint)
    if not config.keep_trial_models and "best_trial" in summary:
        for trial in study.trials:
            if trial.number != summary["best_trial"]:
                (run_dir / f"trial{trial.number}" / "model.pt").unlink(missing_ok=True)
    summary["trials_run_now"] = ran
    return summary


def toml_overrides(params: Mapping[str, Any], comment: str) -> str:
    """A TOML override file (``--config``) holding ``params`` (scalars), under a comment line."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for name, value in params.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        elif isinstance(value, str):
            text = json.dumps(value, ensure_ascii=False)
        else:
            raise TypeError(f"{name}: only scalars go into an override file, got {type(value).__name__}")
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def save_study_outputs(study: optuna.Study, run_dir: str | Path, command_hint: str = "") -> dict[str, Any]:
    """Write best_params.toml, trials.csv, tune_summary.json and the two plots (PNG).

    Returns the summary dict (best trial number, value and params, trial counts, files).
    Plots need at least one complete trial (importances: two, and a parameter that varied).
    """
    run_dir = Path(run_dir)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    counts = {state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState}
    summary: dict[str, Any] = {"study": study.study_name, "direction": study.direction.name.lower(),
                               "trials": counts, "files": {}}
    if not complete:
        write_json_atomic(run_dir / "tune_summary.json", summary)
        return summary
    best = study.best_trial
    summary.update(best_trial=best.number, best_value=best.value, best_params=best.params)
    comment = (f"Best of {len(complete)} complete trials of study {study.study_name!r}: "
               f"trial {best.number}, value {best.value:.4f}.\n{command_hint}").strip()
    write_text_atomic(run_dir / "best_params.toml", toml_overrides(best.params, comment))
    summary["files"]["best_params"] = str(run_dir / "best_params.toml")
    frame = study.trials_dataframe()
    write_text_atomic(run_dir / "trials.csv", frame.to_csv(index=False))
    summary["files"]["trials"] = str(run_dir / "trials.csv")
    summary["files"].update(_save_plots(study, run_dir, len(complete)))
    write_json_atomic(run_dir / "tune_summary.json", summary)
    return summary


def _save_plots(study: optuna.Study, run_dir: Path, n_complete: int) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    files = {}
    plots = [("optimization_history", ovm.plot_optimization_history)]
    if n_complete >= 2:
        plots.append(("param_importances", ovm.plot_param_importances))
    for name, plot in plots:
        try:
            with warnings.catch_warnings():  # the matplotlib backend is marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                ax = plot(study)
        except (ValueError, RuntimeError) as err:  # e.g. no parameter varied: no importances
            logger.warning("plot %s skipped: %s", name, err)
            continue
        figure = ax.figure if hasattr(ax, "figure") else ax[0].figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        path = run_dir / f"{name}.png"
        tmp = path.with_suffix(".tmp.png")
        figure.savefig(tmp, dpi=100)
        tmp.replace(path)
        plt.close(figure)
        files[name] = str(path)
    return files
