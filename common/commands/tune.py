"""Optuna search over any task's training options, on its validation metric.

    python -m common.commands.tune --task sohu --trials 20 --run-name tune [--storage URL] [--flag value ...]

The search space is the task's ``search_space`` (``competitions/<task>/task.py``).
Every other flag fixes that option for all trials (e.g. ``--limit 2000`` for quick
trials); a flag (or ``--config`` file) of a searched option too takes it out of the search
(``--epochs 1``: every trial trains 1 epoch; it was overridden by the trial's draw). Trials train into ``runs/<task>/<run>/trial<N>/``; the study lives in
``runs/<task>/<run>/study.db`` or ``--storage`` (rerun to add the missing trials).
The best values are written as ``best_params.toml``, which ``train --config``
accepts; plots as PNG. Ends with one JSON line. Trials in parallel: run several
commands (GPUs, machines) on one ``--storage``. One trial on several GPUs: ``accelerate
launch --num_processes N -m common.commands.tune ...`` (the main process holds the
study and sends each trial to the others; see common.hpo).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from typing import Any, Callable, Mapping
from pathlib import Path

import optuna

from common.commands.args import compound_config, given_task, run_cli, split_task
from common.commands.train import fit
from common.config import explicit_values, narrow_config, parse_config
from common.hpo import OptunaPruning, TuneConfig, run_tuning
from common.io import print_result
from common.run import RESUME_FREE, changed_options, process_state, resolve_run_dir, save_config
from common.training.trainer import selection_metric

logger = logging.getLogger("common.commands.tune")


# options a rerun of a study may change: how many trials, and how the trials are run and kept
STUDY_RERUN_FREE = RESUME_FREE | {"trials", "keep_trial_models", "heartbeat_interval", "heartbeat_grace",
                                  "trial_retries", "report_only"}


def check_study_rerun(config: Any, run_dir: Path) -> None:
    """Refuse to add trials to a study folder started with other options: its earlier trials trained with those
    (another fixed ``--epochs`` or data), and its best trial and ``best_params.toml`` would mix two settings.

    Raises:
        ValueError: naming ``run_dir/config.json`` and every changed option (old -> new).
    """
    path = run_dir / "config.json"
    changed = changed_options(config, path, STUDY_RERUN_FREE) if path.is_file() else []
    if changed:
        raise ValueError(f"{path}: this study was started with other options ({'; '.join(changed)}); rerun it with "
                         "the same options to add trials, or start another --run-name")



def tune(config: Any, given: Mapping[str, Any], task_name: str, base_class: type, searched: Mapping[str, tuple],
         load_data: Callable[[Any], Any], fit_trial: Callable[[Any, Any, Path, list], float], metric: str,
         greater: bool, use: str) -> dict:
    """One worker of a study: any task's tuning run, from parsed options to its outputs and result line.

    Args:
        config: the parsed options, a :class:`common.hpo.TuneConfig` combined with ``base_class``.
        given: the options the command line or its ``--config`` files set (:func:`common.config.explicit_values`):
            a searched one among them is fixed (not searched), and all of them go into ``best_params.toml``.
        task_name: the run folder's task (``runs/<task_name>/<run>``) and the study name's prefix.
        base_class: the single-run config each trial gets (:func:`common.config.narrow_config`).
        searched: the search space (:func:`common.hpo.suggest`'s entries).
        load_data: reads the data once for every trial; bad data fails before a run folder exists.
        fit_trial: ``(trial config, data, trial folder, callbacks) -> best value of metric`` trains one trial.
        metric, greater: what the study optimises (the trial's epoch-selection metric) and its direction.
        use: the command that trains ``best_params.toml`` (``--config <this file>`` is appended).

    Raises:
        ValueError: every searched option fixed by a flag; a study folder rerun with other options
            (:func:`check_study_rerun`); and what ``load_data`` and ``fit_trial`` raise.
    """
    start = time.time()
    fixed = {name: getattr(config, name) for name in searched if name in given}
    space = {name: spec for name, spec in searched.items() if name not in fixed}
    if fixed:  # a warning: logging is not set up before the first trial, and this must be seen
        logger.warning("fixed by the command line, not searched: %s",
                       ", ".join(f"{name} = {value!r}" for name, value in fixed.items()))
    if not space:
        raise ValueError(f"every option of task {task_name}'s search space is fixed by a flag "
                         f"({', '.join(fixed)}): every trial would train the same options")
    data = load_data(config)  # bad data fails before any run folder exists
    run_dir = resolve_run_dir(config, task_name, kind="tune")
    check_study_rerun(config, run_dir)
    if process_state().is_main_process:
        save_config(config, run_dir)

    def train_trial(trial: optuna.Trial, params: dict, trial_dir: Path) -> float:
        cfg = narrow_config(config, base_class, **params, run_dir=str(trial_dir),
                            run_name=f"{config.run_name}-trial{trial.number}", resume=False)
        return fit_trial(cfg, data, trial_dir, [OptunaPruning(trial, metric)])

    # the study's other options too (its flags and --config files: a pair contest's file, --joint): this file alone
    # trains the best trial's model (probes AJ, AK: its "Use:" line trained the plain variant, or found no data)
    # (not --limit: a quick study's row cut would train the final model on a sample too; probe AM)
    task_fields = {f.name for f in dataclasses.fields(base_class)} - {"run_name", "run_dir", "resume", "limit"}
    study = {name: getattr(config, name) for name in given if name in task_fields and getattr(config, name) is not None}
    cut = f" (the study's --limit {config.limit} is not in it: this trains on every row)" if \
        getattr(config, "limit", 0) else ""
    summary = run_tuning(config, run_dir, space, train_trial,
                         "maximize" if greater else "minimize", f"{task_name}-{config.run_name}",
                         f"Use: {use} --config <this file>{cut}", {**study, **fixed})
    summary.update(run_dir=str(run_dir), wall_seconds=round(time.time() - start, 1))
    if process_state().is_main_process:
        print_result(summary)
    return summary


def main(argv: list[str] | None = None) -> dict:
    task, rest = split_task(argv, __doc__)
    config_class = compound_config(f"{task.name}Tune", TuneConfig, task.config_class)
    config = parse_config(config_class, rest, description=__doc__)
    if not task.search_space:
        raise ValueError(f"task {task.name} declares no search_space (Task.search_space): every trial would train "
                         "the same options; give the task one (common.task.training_search_space)")
    given = explicit_values(config_class, rest)  # flags and --config files alike

    def fit_trial(cfg: Any, data: Any, trial_dir: Path, callbacks: list) -> float:
        return fit(task, cfg, trial_dir, data.train, data.valid, data, callbacks=callbacks)["best_metric"]

    # the study optimises what picks each trial's best epoch: the task's metric or --metric-for-best-model
    metric, greater = selection_metric(config.metric_for_best_model, task.metric_name, task.greater_is_better)
    task_flag = given_task(sys.argv[1:] if argv is None else argv)  # a module path as the user gave it
    return tune(config, given, task.name, task.config_class, task.search_space_for(config), task.load_data,
                fit_trial, metric, greater, f"python -m common.commands.train --task {task_flag}")

if __name__ == "__main__":
    run_cli(main)
