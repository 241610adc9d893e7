"""One static HTML page over every run folder: ``make report`` -> ``reports/index.html``.

    python -m common.report --runs-dir runs --output-dir reports

Reads ``runs/<task>/<run>/`` (never writes there) and shows, per task, a table of its
runs: the kind of run, its config's difference from the task's default config (the
task's config dataclass; a k-fold or tuning run's adds ``CVConfig`` / ``TuneConfig``),
the best metric with its name and epoch, train and wall time where recorded, and the
submission the run wrote (``submissions/<task>/<run>-...``, see
:func:`common.commands.predict.submission_name`). Below the table, per run:

- single run (``metrics.json`` of :mod:`common.training.trainer`): its learning curve,
  the run's ``learning_curve.png`` or else drawn from ``metrics.json`` into
  ``<output-dir>/curves/``;
- k-fold (:mod:`common.cv`: ``cv_metrics.json``, ``oof.npz``, ``folds.json``): the OOF
  score and a per-fold table;
- tune (:mod:`common.hpo`: ``tune_summary.json``): the Optuna plots, the best params
  and the best trial's learning curve;
- blend (:mod:`common.commands.blend`: ``metrics.json`` with ``runs`` and ``weights``):
  its members, their scores and weights;
- ensemble (:mod:`common.commands.ensemble`: ``ensemble.json``): the honest OOF score,
  each member's OOF score, weight and stack coefficient, both combiners' scores, and
  whatever else the file holds; its cached feature members (``member.json``) as k-fold runs;
- baseline (a TF-IDF reference: ``metrics.json`` with ``args``): valid and OOF scores;
- inference setting (``predict --tta-swap`` / ``--posthoc-tau`` on a single run: ``metrics.json``
  with ``predicted_from``): the valid score under that setting and the run it was predicted from;
- shift (:mod:`common.commands.shift`: ``shift.json``): the adversarial-validation AUC, its interval,
  and the n-grams that tell the test pairs from the training pairs;
- anything else (power-term mining, unknown folders): a plain listing of its files.

A run folder that is half written (a killed run: ``config.json`` only, a truncated
JSON file, a k-fold run with folds missing) is listed as incomplete, with the reason;
no run folder can fail the page. Images are embedded as ``data:`` URIs and the page
loads nothing (no script, no network), so ``index.html`` is one movable file. It is
written atomically, and the command ends with one JSON line (page, runs per task).
"""

from __future__ import annotations

import argparse
import base64
import csv
import dataclasses
import datetime
import html
import importlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from common.config import ArgumentParser
from common.io import print_result, write_text_atomic
from common.run import ENVIRONMENT_FILE, KIND_MARKERS, PREDICTED_FROM, completed_epochs, folder_kinds

logger = logging.getLogger("common.report")

# Config classes of run folders whose task is not in common.task.TASKS (module path, class name).
OTHER_CONFIGS = {
    "ner": ("competitions.ner.config", "NerConfig"),
    "power_terms": ("competitions.power_terms.config", "PowerMineConfig"),
}
# Config keys that differ in every run by construction, or say how it was started, not what it is: never part of
# the diff.
NAMING_KEYS = {"run_dir", "run_name", "run", "resume"}
SUBMISSION_SUFFIXES = {".json", ".csv", ".tsv", ".txt", ".zip", ".gz", ".jsonl"}
MAX_LISTED_FILES = 40
DIFF_SHOWN = 6  # config differences shown in the runs table before a "more" fold-out


class Incomplete(Exception):
    """A run file missing or unreadable: the run is listed as incomplete, with this message."""


@dataclass
class TaskInfo:
    """What the report knows of a task: its default configs (per kind), metric and direction."""

    name: str
    defaults: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # kind -> defaults (None: unknown)
    metric_name: str = ""
    greater_is_better: bool = True
    config_class: str = ""  # "module.Class" for the page, empty when unknown


@dataclass
class Run:
    """One run folder as the page shows it.

    ``problems`` lists why the run is incomplete (empty: complete); ``diff`` is None
    when no default config is known (the config is then shown whole); ``details`` are
    HTML blocks shown under the task's table.
    """

    task: str
    name: str
    path: Path
    kind: str = "other"
    problems: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None
    diff: list[tuple[str, Any, Any]] | None = None
    metric_label: str = ""  # e.g. "valid accuracy", "OOF accuracy"
    metric: float | None = None
    best_epoch: Any = None
    train_seconds: float | None = None
    wall_seconds: float | None = None
    wall_note: str = ""
    score_suffix: str = ""  # the score part of its submission's name, e.g. "accuracy0.6895"
    submission_prefix: str = ""  # its submission's name before the score (default: the run name)
    submission_dir: str = ""
    submissions: list[Path] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"run-{self.task}-{self.name}".replace(" ", "_")


# ------------------------------------------------------------------ reading files

def _read_json(path: Path, required: bool = True) -> Any:
    """``path``'s JSON; None when absent and not ``required``.

    Raises:
        Incomplete: the file is missing (when ``required``), unreadable or not valid JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise Incomplete(f"no {path.name}") from None
        return None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = "not valid JSON (truncated?)" if isinstance(err, ValueError) else type(err).__name__
        raise Incomplete(f"{path.name}: {reason}") from None


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else None (JSON may hold null, NaN or text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# ------------------------------------------------------------------ defaults and diff

def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as it reads back from ``config.json`` (tuples become lists, paths strings)."""
    return json.loads(json.dumps(data, default=str))


def task_info(task: str, folders: Sequence[Path] = ()) -> TaskInfo:
    """Default configs, metric and direction of the task named by a ``runs/`` folder.

    Registered tasks (:data:`common.task.TASKS`) give their ``config_class`` (plus
    ``CVConfig`` for k-fold runs and ``TuneConfig`` for tuning runs) and metric; NER
    and power-term mining give their config class (:data:`OTHER_CONFIGS`); a task given
    by module path (``--task mypackage.mytask``) is found in the ``environment.json`` of
    one of its run ``folders``. Anything else, or a class that fails to import or build,
    gives no defaults (never raises).
    """
    from common.task import TASKS

    info = TaskInfo(task)
    cls = None
    try:
        if task in TASKS:
            from common.task import get_task

            spec = get_task(task)
            cls, info.metric_name, info.greater_is_better = spec.config_class, spec.metric_name, spec.greater_is_better
        elif task in OTHER_CONFIGS:
            module, name = OTHER_CONFIGS[task]
            cls = getattr(importlib.import_module(module), name)
        else:  # a task outside the registry: the module path its runs were started with
            from common.run import trained_task
            from common.task import get_task

            given = next((t for t in map(trained_task, folders) if t and t not in TASKS), None)
            spec = get_task(given) if given else None
            if spec is not None and spec.name == task:
                cls, info.metric_name, info.greater_is_better = (spec.config_class, spec.metric_name,
                                                                 spec.greater_is_better)
        if cls is not None:
            base = _jsonable(dataclasses.asdict(cls()))
            info.config_class = f"{cls.__module__}.{cls.__qualname__}"
    except Exception as err:  # a broken task module must not fail the page
        logger.warning("%s: no default config (%s: %s)", task, type(err).__name__, err)
        return TaskInfo(task)
    if cls is None:
        return info
    from common.cv import CVConfig
    from common.distillation import DistillConfig
    from common.hpo import TuneConfig
    from common.pseudo_labels import PseudoLabelConfig

    # the shared commands' own options beside a Task's (train: a student's; cv: pseudo-labels and students too);
    # NER and power-term mining have their own commands
    student = base if task in OTHER_CONFIGS else {**_jsonable(dataclasses.asdict(DistillConfig())), **base}
    kfold = {**_jsonable(dataclasses.asdict(CVConfig())), **_jsonable(dataclasses.asdict(PseudoLabelConfig())),
             **student}
    info.defaults = {"single run": student, "k-fold": kfold, "ensemble": kfold,
                     "tune": {**_jsonable(dataclasses.asdict(TuneConfig())), **base}, "other": base}
    return info


def config_diff(config: dict[str, Any], defaults: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """The options of ``config`` that differ from ``defaults``, sorted by name.

    Args:
        config: a run's ``config.json``.
        defaults: the default config as a dict (``dataclasses.asdict`` of the config class).

    Returns:
        ``[(key, default, value)]``; a key that is no field of the class has the default
        :data:`MISSING_DEFAULT`. Keys naming the run (:data:`NAMING_KEYS`) are left out,
        and so are fields the run's config lacks (added to the class since).
    """
    out = []
    for key in sorted(config):
        if key in NAMING_KEYS:
            continue
        default = defaults.get(key, MISSING_DEFAULT)
        if default != config[key]:
            out.append((key, default, config[key]))
    return out


class _Missing:
    def __repr__(self) -> str:
        return "(not a field)"


MISSING_DEFAULT = _Missing()


# ------------------------------------------------------------------ kinds of run

def run_kind(run_dir: Path) -> str:
    """``ensemble``, ``ensemble member``, ``k-fold``, ``tune``, ``blend``, ``baseline``, ``shift``,
    ``inference setting``, ``single run`` or ``other``.

    Decided from the files present (and the keys of ``metrics.json``); never raises.
    """
    if (run_dir / "ensemble.json").exists():
        return "ensemble"
    if any((run_dir / n).exists() for n in KIND_MARKERS["shift"]):
        return "shift"
    if (run_dir / "member.json").exists():
        return "ensemble member"  # common/commands/ensemble.py's cached tfidf / gbm member, k-fold-like
    if any((run_dir / n).exists() for n in KIND_MARKERS["k-fold"]):
        return "k-fold"
    if any((run_dir / n).exists() for n in KIND_MARKERS["tune"]):
        return "tune"
    if run_dir.name.startswith("blend-"):
        return "blend"
    if (run_dir / "metrics.json").is_file():
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            metrics = None
        if isinstance(metrics, dict):
            if "runs" in metrics and "weights" in metrics:
                return "blend"
            if PREDICTED_FROM in metrics:
                return "inference setting"
            if "history" in metrics or "best_metric" in metrics:
                return "single run"
            if "args" in metrics:  # a reference writes the task's config.json beside it (common.tfidf_reference)
                return "baseline"
    if "baseline" in run_dir.name and not (run_dir / "config.json").exists():
        return "baseline"
    if any((run_dir / n).exists() for n in ("train.log", "checkpoint", "model.pt")):
        return "single run"
    config = run_dir / "config.json"
    if config.is_file():
        try:
            keys = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return "single run"  # a truncated config: most likely a training run killed at its start
        if isinstance(keys, dict) and {"epochs", "learning_rate"} <= set(keys):
            return "single run"
    return "other"


def _read_config(run: Run, info: TaskInfo) -> None:
    """``run.config`` and its diff from the task's defaults for ``run.kind`` (None when unknown)."""
    config = _read_json(run.path / "config.json", required=False)
    if config is None:
        return
    if not isinstance(config, dict):
        raise Incomplete("config.json: not an object")
    run.config = config
    run.submission_dir = str(config.get("submission_dir") or config.get("submissions_dir") or "")
    defaults = info.defaults.get(run.kind)
    if defaults is not None:
        run.diff = config_diff(config, defaults)


def _read_single(run: Run, info: TaskInfo, curves_dir: Path) -> None:
    summary = _read_json(run.path / "metrics.json")
    _trainer_summary(run, summary, "valid", info.metric_name)
    history = summary.get("history") or []
    epochs = (run.config or {}).get("epochs")
    budget = (run.config or {}).get("max_train_minutes")
    done = completed_epochs(history)
    if isinstance(epochs, int) and done < epochs and not budget and not summary.get("stopped_early"):
        run.problems.append(f"{done} of {epochs} epochs in metrics.json")
    for key, says in (("stopped_early", "stopped early (--early-stopping-patience)"),
                      ("stopped_by_budget", "stopped by its time budget (--max-train-minutes)")):
        if summary.get(key):
            run.details.append(f'<p class="note">{says} after epoch {_e(str(history[-1].get("epoch")))} of '
                               f'{_e(str(epochs))}</p>')
    if run.metric is not None and run.metric_label.startswith("valid"):  # as predict names the submission
        run.score_suffix = f"{run.metric_label.split()[-1]}{run.metric:.4f}"
    run.details.append(_curve_html(run.path, summary, curves_dir / run.task / f"{run.name}.png",
                                   f"{run.task}/{run.name}"))


def _trainer_summary(run: Run, summary: Any, prefix: str, task_metric: str = "") -> None:
    """Metric, best epoch and train time of a trainer ``metrics.json`` into ``run``: the task's metric at the best
    epoch when its record holds it (a run whose epochs were picked by another, ``--metric-for-best-model auc``,
    is shown in the task's metric as its k-fold runs, ensembles and inference settings are), else the metric
    the epochs were picked by."""
    if not isinstance(summary, dict):
        raise Incomplete("metrics.json: not an object")
    name = summary.get("metric_name") or "score"
    best = summary.get("best") if isinstance(summary.get("best"), dict) else {}
    if task_metric and task_metric != name and _number(best.get(task_metric)) is not None:
        run.metric_label, run.metric = f"{prefix} {task_metric}", _number(best.get(task_metric))
    elif name not in best and f"train_{name}" in best:  # picked by its training loss (pretraining, no validation):
        run.metric_label, run.metric = f"train {name}", _number(summary.get("best_metric"))  # not a valid loss (probe AC)
    else:
        run.metric_label, run.metric = f"{prefix} {name}", _number(summary.get("best_metric"))
    run.best_epoch = summary.get("best_epoch")
    run.train_seconds = _number(summary.get("train_seconds"))


def _curve_html(run_dir: Path, summary: dict | None, drawn: Path, title: str) -> str:
    """The run's ``learning_curve.png``, else one drawn from ``summary`` into ``drawn`` (never in ``run_dir``)."""
    from common.training.curves import CURVE_FILE, plot_learning_curve

    own = run_dir / CURVE_FILE
    if own.is_file():
        return _figure(own, f"learning curve ({CURVE_FILE} of the run)")
    history = (summary or {}).get("history") or []
    if not history:
        return '<p class="note">No learning curve: no epoch finished.</p>'
    if len(history) == 1 and isinstance(history[0], dict):  # one point is no curve
        record = {k: v for k, v in history[0].items() if k != "complete"}
        return _kv_table(record, "its one epoch (no curve drawn)")
    try:
        plot_learning_curve(summary, drawn, title=title)
    except Exception as err:  # a history in an unexpected shape: say so, keep the page
        return f'<p class="note">No learning curve: {_e(err)}</p>'
    return _figure(drawn, "learning curve (drawn from metrics.json)")


def _read_kfold(run: Run, info: TaskInfo) -> None:
    folds_meta = _read_json(run.path / "folds.json", required=False) or {}
    n_folds = folds_meta.get("folds") if isinstance(folds_meta, dict) else None
    n_folds = n_folds or (run.config or {}).get("folds")
    cv = _read_json(run.path / "cv_metrics.json", required=False)
    metric = (cv or {}).get("metric") or info.metric_name or "score"
    run.metric_label = f"OOF {metric}"
    per_fold: dict[str, dict] = {}
    member = _read_json(run.path / "member.json", required=False)
    if isinstance(member, dict):  # a non-neural ensemble member fitted on another run's folds
        run.details.append(f"<p>Ensemble member <code>{_e(member.get('spec', ''))}</code> fitted on the folds of "
                           f"<code>{_e(member.get('folds_from', ''))}</code>.</p>")
    if isinstance(cv, dict):
        run.metric = _number((cv.get("cv") or {}).get(metric))
        run.train_seconds = _number(cv.get("fit_seconds"))
        per_fold = {str(k): v for k, v in (cv.get("folds") or {}).items() if isinstance(v, dict)}
        n_folds = cv.get("n_folds", n_folds)
        if run.metric is not None:
            run.score_suffix = f"cv{run.metric:.4f}"
    else:  # unfinished: what the fold folders say
        for fold_dir in run.path.glob("fold[0-9]*"):
            k = fold_dir.name[4:]
            done = (fold_dir / "predictions.npz").is_file() or (fold_dir / "oof_spans.json").is_file()  # NER's
            fold = _read_json(fold_dir / "fold_metrics.json", required=False) if done else None
            summary = _read_json(fold_dir / "metrics.json", required=False)
            row = dict(fold or {})
            if isinstance(summary, dict) and summary.get("metric_name"):
                row.setdefault("best_epoch", summary.get("best_epoch"))
                row[f"valid_{summary['metric_name']}"] = summary.get("best_metric")
            row["state"] = "done" if done else "unfinished"
            per_fold[k] = row
        finished = sum(r.get("state") == "done" for r in per_fold.values())
        run.problems.append(f"{finished} of {n_folds or '?'} folds done, no cv_metrics.json")
    per_fold = dict(sorted(per_fold.items(), key=lambda kv: (len(kv[0]), kv[0])))  # fold 2 before fold 10
    epochs = [str(v["best_epoch"]) for v in per_fold.values() if v.get("best_epoch") is not None]
    run.best_epoch = ", ".join(epochs) or None
    trains = [_number(v.get("train_seconds")) for v in per_fold.values()]
    walls = [_number(v.get("fold_seconds")) for v in per_fold.values()]
    run.train_seconds = sum(t for t in trains if t is not None) or run.train_seconds
    run.wall_seconds = sum(w for w in walls if w is not None) or None
    run.wall_note = "sum of the folds' times"
    rows = _oof_rows(run.path / "oof.npz")
    lines = [f"<p><b>OOF {_e(metric)}: {_fmt(run.metric)}</b>"
             + (f" over {rows} rows" if rows else "") + (f", {n_folds} folds" if n_folds else "")
             + (f", split seed {folds_meta.get('fold_seed')}" if isinstance(folds_meta, dict)
                and "fold_seed" in folds_meta else "") + "</p>"]
    if isinstance(cv, dict) and isinstance(cv.get("cv"), dict):
        lines.append(_kv_table({f"OOF {k}": v for k, v in cv["cv"].items()}))
    if per_fold:
        keys = _union_keys(per_fold.values())
        lines.append(_table(["fold"] + keys, [[k] + [v.get(c) for c in keys] for k, v in per_fold.items()],
                            "per-fold scores (fold_*: the fold's held-out rows; seconds: train and whole fold)"))
    run.details.append("".join(lines))


def _oof_rows(path: Path) -> int | None:
    """Rows of a k-fold run's ``oof.npz`` (None when absent or unreadable)."""
    if not path.is_file():
        return None
    try:
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            return len(data["ids"])
    except Exception:  # a truncated archive: the table says what cv_metrics.json says
        return None


def _read_tune(run: Run, info: TaskInfo, curves_dir: Path) -> None:
    summary = _read_json(run.path / "tune_summary.json", required=False)
    # what the trials were scored by: their --metric-for-best-model (AFQMC's auc), not always the task's metric
    config = run.config if isinstance(run.config, dict) else {}
    run.metric_label = f"best trial {config.get('metric_for_best_model') or info.metric_name or 'value'}"
    if summary is None:
        run.problems.append("no tune_summary.json (study still running, or killed before its first output)")
        return
    if not isinstance(summary, dict):
        raise Incomplete("tune_summary.json: not an object")
    run.metric = _number(summary.get("best_value"))
    run.best_epoch = f"trial {summary['best_trial']}" if "best_trial" in summary else None
    counts = summary.get("trials") or {}
    if "best_trial" not in summary:
        run.problems.append("no complete trial yet")
    parts = [f"<p>Study {_e(summary.get('study', ''))} ({_e(summary.get('direction', ''))}); trials: "
             + ", ".join(f"{_e(k)} {_e(v)}" for k, v in counts.items() if v) + "</p>"]
    if isinstance(summary.get("best_params"), dict):
        parts.append(_kv_table(summary["best_params"], f"best params (trial {summary.get('best_trial')}, "
                                                        f"value {_fmt(run.metric)}): best_params.toml"))
    for name in ("optimization_history", "param_importances"):
        png = run.path / f"{name}.png"
        if png.is_file():
            parts.append(_figure(png, name.replace("_", " ")))
    trials = sorted(run.path.glob("trial[0-9]*/metrics.json"))
    seconds = []
    for path in trials:
        try:
            seconds.append(_number(json.loads(path.read_text(encoding="utf-8")).get("train_seconds")))
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            continue
    run.train_seconds = sum(s for s in seconds if s is not None) or None
    run.wall_seconds = _csv_span(run.path / "trials.csv")
    run.wall_note = "first trial start to last trial end (trials.csv)"
    if "best_trial" in summary:
        best = run.path / f"trial{summary['best_trial']}"
        try:
            best_summary = _read_json(best / "metrics.json", required=False)
        except Incomplete:
            best_summary = None
        if isinstance(best_summary, dict) and best_summary.get("best_epoch") is not None:
            run.best_epoch = f"trial {summary['best_trial']}, epoch {best_summary['best_epoch']}"
        if best.is_dir():
            parts.append(_curve_html(best, best_summary, curves_dir / run.task / f"{run.name}.best-trial.png",
                                     f"{run.task}/{run.name}/{best.name}"))
    run.details.append("".join(parts))


def _csv_span(path: Path) -> float | None:
    """Seconds from the first ``datetime_start`` to the last ``datetime_complete`` of Optuna's trials.csv."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        starts = [datetime.datetime.fromisoformat(r["datetime_start"]) for r in rows if r.get("datetime_start")]
        ends = [datetime.datetime.fromisoformat(r["datetime_complete"]) for r in rows if r.get("datetime_complete")]
    except (OSError, ValueError, KeyError):
        return None
    return (max(ends) - min(starts)).total_seconds() if starts and ends else None


def _read_blend(run: Run, info: TaskInfo, runs: dict[str, Run]) -> None:
    metrics = _read_json(run.path / "metrics.json")
    if not isinstance(metrics, dict):
        raise Incomplete("metrics.json: not an object")
    _valid_metric(run, info, metrics)
    members = [str(m) for m in metrics.get("runs") or []]
    weights = list(metrics.get("weights") or [1.0] * len(members))
    rows = []
    for member, weight in zip(members, weights + [None] * (len(members) - len(weights))):
        known = runs.get(Path(member).name)
        rows.append([member, weight, known.metric_label if known else "", known.metric if known else None])
    run.details.append(_table(["member", "weight", "its metric", "value"], rows, "blended runs (weights as given)"))
    run.submission_dir = run.submission_dir or _member_submission_dir(members, runs)


def _read_setting(run: Run, info: TaskInfo) -> None:
    metrics = _read_json(run.path / "metrics.json")
    if not isinstance(metrics, dict):
        raise Incomplete("metrics.json: not an object")
    _valid_metric(run, info, metrics)
    run.details.append(_kv_table({"predicted from": metrics.get(PREDICTED_FROM), "tta_swap": metrics.get("tta_swap"),
                                  "posthoc_tau": metrics.get("posthoc_tau")}))


def _member_submission_dir(members: list[str], runs: dict[str, Run]) -> str:
    """The submission folder of the first member with a config.json (where blend.py writes)."""
    for member in members:
        known = runs.get(Path(member).name)
        if known and known.submission_dir and (known.path / "config.json").is_file():
            return known.submission_dir
    return ""


def _valid_metric(run: Run, info: TaskInfo, metrics: dict) -> None:
    """The task's metric in ``metrics['valid']`` (or its first entry) as ``run.metric``."""
    valid = metrics.get("valid") if isinstance(metrics.get("valid"), dict) else {}
    name = info.metric_name if info.metric_name in valid else next(iter(valid), "")
    run.metric_label = f"valid {name}" if name else ""
    run.metric = _number(valid.get(name)) if name else None
    if run.metric is not None:
        run.score_suffix = f"{name}{run.metric:.4f}"
    if valid:
        run.details.append(_kv_table({f"valid {k}": v for k, v in valid.items()}))


def _read_baseline(run: Run, info: TaskInfo) -> None:
    metrics = _read_json(run.path / "metrics.json")
    if not isinstance(metrics, dict):
        raise Incomplete("metrics.json: not an object")
    _valid_metric(run, info, metrics)
    args = metrics.get("args") if isinstance(metrics.get("args"), dict) else None
    if args is not None and run.config is None:
        run.config = args  # the reference's flags: no dataclass to diff against
        run.submission_dir = str(args.get("submission_dir") or "")
    run.submission_prefix = run.name  # competitions/*/baseline.py name their submission after their run folder
    oof = metrics.get("oof")
    if isinstance(oof, dict):
        folds = oof.get("folds") if isinstance(oof.get("folds"), dict) else {}
        scores = {k: v for k, v in oof.items() if k != "folds"}
        run.details.append(_kv_table({f"OOF {k}": v for k, v in scores.items()},
                                     "out-of-fold, on the folds of " + _e(str((args or {}).get("folds_from", "")))))
        if folds:  # per fold: a dict of metrics (AFQMC) or the one metric (Xiaobu)
            keys = _union_keys(v for v in folds.values() if isinstance(v, dict)) or [info.metric_name or "score"]
            rows = [[k] + ([v.get(c) for c in keys] if isinstance(v, dict) else [v]) for k, v in sorted(folds.items())]
            run.details.append(_table(["fold"] + keys, rows, "per-fold scores"))


def _read_ensemble(run: Run, info: TaskInfo, runs: dict[str, Run], runs_dir: Path) -> None:
    """An ensemble run (:mod:`common.commands.ensemble`): its honest OOF score, members, combiners.

    ``ensemble.json`` holds ``metric``, ``method``, ``oof`` (the chosen combiner's
    cross-fitted metrics), ``members`` (``name``, ``run_dir``, ``oof`` metrics,
    ``caruana_weight``), ``caruana`` / ``stack`` (in-sample and cross-fitted metrics,
    weights, coefficients). Other shapes (``runs`` + ``weights``, plain numbers) are read
    too, and whatever else the file holds is shown as it is.
    """
    data = _read_json(run.path / "ensemble.json")
    if not isinstance(data, dict):
        raise Incomplete("ensemble.json: not an object")
    metric = str(data.get("metric") or info.metric_name or "score")
    for key in ("oof", "cv", "oof_score", "cv_score", "score"):
        if _metric_of(data.get(key), metric) is not None:
            run.metric_label, run.metric = f"OOF {metric}", _metric_of(data[key], metric)
            break
    if run.metric is not None:
        run.score_suffix = f"cv{run.metric:.4f}"
    run.wall_seconds = _number(data.get("wall_seconds"))
    method = data.get("method")
    run.details.append(f"<p><b>OOF {_e(metric)}: {_fmt(run.metric)}</b>"
                       + (f" ({_e(method)}, cross-fitted over the folds)" if method else "") + "</p>")
    caruana = data.get("caruana") if isinstance(data.get("caruana"), dict) else {}
    stack = data.get("stack") if isinstance(data.get("stack"), dict) else {}
    weights = caruana.get("weights") if isinstance(caruana.get("weights"), dict) else {}
    coefficients = stack.get("coefficients") if isinstance(stack.get("coefficients"), dict) else {}
    rows = []
    for member in _ensemble_members(data):
        name = str(member.get("name") or Path(str(member.get("run") or member.get("run_dir") or "")).name)
        path = str(member.get("run_dir") or member.get("run") or member.get("path") or "")
        score = next((_metric_of(member.get(k), metric) for k in ("oof", "oof_score", "cv_score", "score", metric)
                      if _metric_of(member.get(k), metric) is not None), None)
        if score is None and path:
            score = _member_oof(path, metric, runs, runs_dir)
        weight = next((member[k] for k in ("weight", "caruana_weight") if k in member), weights.get(name))
        rows.append([name, path, score, weight, coefficients.get(name)])
    if rows:
        run.details.append(_table(["member", "folder", f"its OOF {metric}", "weight", "stack coefficient"], rows,
                                  "members (weight: Caruana selection; coefficient: the logistic stack's, on logits)"))
    combiners = [[name, "yes" if name == method else "", _metric_of(block.get("oof_in_sample"), metric),
                  _metric_of(block.get("oof_cross_fitted"), metric)]
                 for name, block in (("caruana", caruana), ("stack", stack)) if block]
    if combiners:
        run.details.append(_table(["combiner", "chosen", f"in-sample {metric}", f"cross-fitted {metric}"], combiners,
                                  "combiners (in-sample: fitted and scored on all OOF rows, optimistic)"))
    shown = {"members", "runs", "weights", "caruana", "stack", "oof"}
    run.details.append(_json_html({k: v for k, v in data.items() if k not in shown}))


def _metric_of(value: Any, metric: str) -> float | None:
    """``value[metric]`` of a dict of metrics, or ``value`` itself when a number."""
    return _number(value.get(metric)) if isinstance(value, dict) else _number(value)


def _ensemble_members(data: dict) -> list[dict]:
    """Members as dicts, from ``members`` (dicts, paths, or ``{name: weight}``) or ``runs`` + ``weights``."""
    members = data.get("members")
    weights = data.get("weights")
    if isinstance(members, dict):
        return [{"run": k, **(v if isinstance(v, dict) else {"weight": v})} for k, v in members.items()]
    if not isinstance(members, list):
        members = data.get("runs") if isinstance(data.get("runs"), list) else []
    out = []
    for i, member in enumerate(members):
        entry = dict(member) if isinstance(member, dict) else {"run": member}
        if isinstance(weights, list) and i < len(weights) and "weight" not in entry:
            entry["weight"] = weights[i]
        out.append(entry)
    return out


def _member_oof(path: str, metric: str, runs: dict[str, Run], runs_dir: Path) -> float | None:
    """A member's OOF score: from the report's runs, else its ``cv_metrics.json``."""
    known = runs.get(Path(path).name)
    if known and known.kind == "k-fold":
        return known.metric
    for folder in (Path(path), runs_dir.parent / path):
        try:
            cv = json.loads((folder / "cv_metrics.json").read_text(encoding="utf-8"))
            return _number(cv["cv"][cv.get("metric", metric)])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            continue
    return None


def _read_shift(run: Run) -> None:
    """An adversarial-validation run: its AUC as the metric, the interval and counts, the separating n-grams."""
    report = _read_json(run.path / "shift.json")
    if not isinstance(report, dict):
        raise Incomplete("shift.json: not an object")
    run.metric_label, run.metric = "shift AUC (0.5: alike)", _number(report.get("auc"))
    run.config = report.get("options") if isinstance(report.get("options"), dict) else None
    keys = ("auc", "low", "high", "train_pairs", "test_pairs", "grouped", "test_pairs_sharing_a_train_text")
    keys += ("warning",) if report.get("warning") else ()
    run.details.append(_kv_table({k: report.get(k) for k in keys}, "adversarial validation (shift.json)"))
    sides = [report.get(k) if isinstance(report.get(k), list) else [] for k in ("test_like", "train_like")]
    rows = [[i + 1, *(side[i][0] if i < len(side) and isinstance(side[i], list) else "" for side in sides)]
            for i in range(max(map(len, sides)))]
    if rows:
        run.details.append(_table(["rank", "test-like n-gram", "training-like n-gram"], rows, "what separates them"))


def _read_other(run: Run) -> None:
    """A plain listing: the files of the folder and the scalar values of its ``metrics.json``; a folder holding no
    file at all is incomplete (a run that made its folder and died, or a stray ``mkdir``)."""
    if not any(p.is_file() for p in run.path.rglob("*")):
        run.problems.append("empty folder: no file in it")
        return
    try:
        metrics = _read_json(run.path / "metrics.json", required=False)
    except Incomplete as err:
        run.problems.append(str(err))
        metrics = None
    if isinstance(metrics, dict):
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}
        if scalars:
            run.details.append(_kv_table(dict(list(scalars.items())[:16]), "metrics.json (scalar values)"))


def _listing(run_dir: Path) -> str:
    """The folder's files and subfolders with their sizes, on one wrapped line."""
    entries = sorted(run_dir.iterdir(), key=lambda p: p.name)
    items = "".join(f"<span>{_e(p.name)}{'/' if p.is_dir() else ''} <i>{_e(_size(p))}</i></span>"
                    for p in entries[:MAX_LISTED_FILES])
    more = f" (first {MAX_LISTED_FILES} of {len(entries)})" if len(entries) > MAX_LISTED_FILES else ""
    return f'<div class="files"><span class="note">files{more}:</span>{items}</div>'


def _size(path: Path) -> str:
    if path.is_dir():
        return ""
    try:
        n = path.stat().st_size
    except OSError:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


# ------------------------------------------------------------------ submissions

def _stem(name: str) -> str:
    """A submission's name without its extensions (``x-accuracy0.6895.json`` -> ``x-accuracy0.6895``)."""
    while Path(name).suffix.lower() in SUBMISSION_SUFFIXES:
        name = name[: -len(Path(name).suffix)]
    return name


def _submission_files(folders: Iterable[Path]) -> list[Path]:
    """Files of the submission folders and their subfolders (NER: ``<dir>/<dataset>/``), side files left out."""
    files: list[Path] = []
    for folder in folders:
        for path in sorted(folder.glob("*")) + sorted(folder.glob("*/*")):
            if path.is_file() and not path.name.startswith(".") and ".probabilities." not in path.name \
                    and path.name != "README.md" and Path(path.name).suffix.lower() in SUBMISSION_SUFFIXES:
                files.append(path)
    return files


def find_submissions(run: Run, sibling_names: list[str], files: list[Path]) -> list[Path]:
    """The submissions ``run`` wrote, best guess first.

    A submission is named ``<run>[-<test file>]-<score>`` (:func:`common.commands.predict.submission_name`;
    the TF-IDF references ``<run folder>-<score>``). A file whose name starts with a
    longer sibling run's name (``limit2000-x-...`` for runs ``limit2000`` and
    ``limit2000-x``) belongs to that sibling, and one named after a fold of the run
    (``<run>-fold<k>``, a fold model's own prediction: ``ner.predict --run <run>/fold0``) to that fold, not the
    run. Files ending with the run's own score
    come first; a baseline's file must end with it (all baselines share one prefix).
    """
    prefix = run.submission_prefix or run.name
    longer = [s for s in sibling_names if s != prefix and s.startswith(prefix + "-")]
    longer += [f"{prefix}-{p.name}" for p in run.path.glob("fold[0-9]*") if p.is_dir()]  # probe AL
    found = []
    for path in files:
        stem = _stem(path.name)
        if not (stem == prefix or stem.startswith(prefix + "-")):
            continue
        if any(stem == s or stem.startswith(s + "-") for s in longer):
            continue
        scored = bool(run.score_suffix) and stem.endswith(run.score_suffix)
        if run.submission_prefix and not scored:
            continue
        found.append((not scored, path.name, path))
    return [p for _, _, p in sorted(found)]


def _submission_folders(run: Run, runs_dir: Path) -> list[Path]:
    """Where ``run``'s submissions may lie: its config's folder (as given, or under the repo), then ``submissions/<task>``."""
    candidates = []
    if run.submission_dir:
        given = Path(run.submission_dir)
        candidates += [given] if given.is_absolute() else [given, runs_dir.parent / given]
    candidates.append(runs_dir.parent / "submissions" / run.task)
    out: list[Path] = []
    for c in candidates:
        if c.is_dir() and all(c.resolve() != o.resolve() for o in out):
            out.append(c)
    return out


# ------------------------------------------------------------------ collecting

def describe_run(run_dir: Path, info: TaskInfo, curves_dir: Path, runs: dict[str, Run], runs_dir: Path) -> Run:
    """Everything the page shows of one run folder; never raises (problems make it incomplete)."""
    run = Run(info.name, run_dir.name, run_dir)
    try:
        run.kind = run_kind(run_dir)
        try:
            _read_config(run, info)
        except Incomplete as err:
            run.problems.append(str(err))
        if run.kind == "single run":
            _read_single(run, info, curves_dir)
        elif run.kind in ("k-fold", "ensemble member"):
            _read_kfold(run, info)
        elif run.kind == "tune":
            _read_tune(run, info, curves_dir)
        elif run.kind == "blend":
            _read_blend(run, info, runs)
        elif run.kind == "baseline":
            _read_baseline(run, info)
        elif run.kind == "inference setting":
            _read_setting(run, info)
        elif run.kind == "ensemble":
            _read_ensemble(run, info, runs, runs_dir)
        elif run.kind == "shift":
            _read_shift(run)
        else:
            _read_other(run)
    except Incomplete as err:
        run.problems.append(str(err))
    except Exception as err:  # any other surprise in a run folder: listed, not fatal
        logger.warning("%s: %s: %s", run_dir, type(err).__name__, err)
        run.problems.append(f"unreadable ({type(err).__name__}: {err})")
    try:
        run.details.append(_environment_html(run_dir))
    except Incomplete as err:  # informational: an unreadable one does not make the run incomplete
        run.details.append(f'<div class="note">{_e(str(err))}</div>')
    except Exception as err:  # a readable file of another shape: the same, named
        run.details.append(f'<div class="note">{ENVIRONMENT_FILE}: unreadable ({_e(type(err).__name__)})</div>')
    try:
        run.details.append(_listing(run_dir))
    except OSError as err:
        run.problems.append(f"cannot list the folder ({err})")
    return run


def _environment_html(run_dir: Path) -> str:
    """The last start recorded in ``environment.json`` (:func:`common.run.record_environment`) as one row: the
    code's commit, the versions that compute, the threads, processes and device (on a CPU, its model and the
    kernel sets of torch and OpenBLAS); "" when there is none.

    Raises:
        Incomplete: the file is unreadable or not valid JSON.
    """
    data = _read_json(run_dir / ENVIRONMENT_FILE, required=False)
    starts = data.get("starts") if isinstance(data, dict) else None
    if not isinstance(starts, list) or not starts or not isinstance(starts[-1], dict):
        return ""
    last = starts[-1]
    git, packages, cuda = (last.get(k) if isinstance(last.get(k), dict) else {} for k in ("git", "packages", "cuda"))
    libraries = [p for p in last.get("threadpools") or [] if isinstance(p, dict)]
    pools = [p["num_threads"] for p in libraries if isinstance(p.get("num_threads"), int)]
    # on a CPU, its model and the kernel sets its floats depend on (torch's own, OpenBLAS's), as far as recorded
    openblas = next((p["architecture"] for p in libraries if p.get("architecture")), None)
    kernels = ", ".join(f"{name} {value}" for name, value in
                        (("torch", last.get("torch_cpu_capability")), ("OpenBLAS", openblas)) if value)
    cpu = "CPU" + (f" {last['cpu']}" if last.get("cpu") else "") + (f" (kernels: {kernels})" if kernels else "")
    row = {"code": f"{str(git.get('commit', '?'))[:10]}{' + changes' if git.get('dirty') else ''}" if git
           else "not a git checkout",
           **{name: packages.get(name) for name in ("torch", "transformers", "scikit-learn", "numpy")},
           "threads (torch / BLAS, OpenMP)": f"{last.get('torch_threads')} / {max(pools) if pools else '?'}",
           "processes": last.get("processes"), "device": ", ".join(map(str, cuda.get("devices") or [])) or cpu}
    caption = ENVIRONMENT_FILE + (f": the last of {len(starts)} starts" if len(starts) > 1 else "")
    return _kv_table(row, caption)


def collect(runs_dir: Path, curves_dir: Path) -> tuple[dict[str, list[Run]], dict[str, TaskInfo]]:
    """``({task: [Run]}, {task: TaskInfo})`` for every ``runs_dir/<task>/<run>/`` folder, sorted by name.

    Blends and ensembles are read after the runs they combine (they show their members' scores).
    """
    tasks: dict[str, list[Run]] = {}
    infos: dict[str, TaskInfo] = {}
    for task_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        folders = sorted(p for p in task_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        info = task_info(task_dir.name, folders)
        later = [p for p in folders if run_kind(p) in ("blend", "ensemble")]
        runs: dict[str, Run] = {}
        for folder in [p for p in folders if p not in later] + later:
            runs[folder.name] = describe_run(folder, info, curves_dir, runs, runs_dir)
        names = sorted(runs)
        for run in runs.values():
            files = _submission_files(_submission_folders(run, runs_dir))
            run.submissions = find_submissions(run, names, files)
        tasks[task_dir.name] = [runs[n] for n in names]
        infos[task_dir.name] = info
    return tasks, infos


# ------------------------------------------------------------------ HTML

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """Numbers to 4 decimals (integers as they are), None as a dash, anything else as text."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(value)


def _short(value: Any) -> str:
    """A config value as JSON writes it (``1.0``, ``true``, ``"mean"``), cut at 60 characters."""
    if value is MISSING_DEFAULT:
        return repr(value)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _union_keys(rows: Iterable[dict]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return keys


def _cell(key: Any, value: Any) -> str:
    """A table cell's text: times (keys ending in ``seconds``) as durations, numbers to 4 decimals."""
    if str(key).endswith("seconds") and _number(value) is not None:
        return _duration(_number(value))
    return _fmt(value)


def _table(headers: list[str], rows: list[list[Any]], caption: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(_cell(h, c))}</td>" for h, c in zip(headers, row)) + "</tr>"
                   for row in rows)
    cap = f'<div class="note">{_e(caption)}</div>' if caption else ""
    return f'{cap}<table class="small"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kv_table(data: dict, caption: str = "") -> str:
    """A few values as one row under their names; many as a wrapped list of ``name value``."""
    if len(data) <= 8:
        return _table([str(k) for k in data], [list(data.values())], caption)
    items = "".join(f"<span><code>{_e(k)}</code> {_e(_cell(k, v))}</span>" for k, v in data.items())
    cap = f'<div class="note">{_e(caption)}</div>' if caption else ""
    return f'{cap}<div class="kv">{items}</div>'


def _json_html(data: dict) -> str:
    """What an unknown-shaped JSON holds: scalars as a table, each nested object as a list, the rest as JSON."""
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
    out = _kv_table(scalars) if scalars else ""
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out += _kv_table(value, str(key))
        elif isinstance(value, list):
            text = json.dumps(value, ensure_ascii=False, indent=1, default=str)
            out += f'<div class="note">{_e(key)}</div><pre>{_e(text if len(text) <= 2000 else text[:2000] + " ...")}</pre>'
    return out


def _figure(png: Path, caption: str) -> str:
    """``png`` embedded as a ``data:`` URI (the page stays one file)."""
    try:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
    except OSError as err:
        return f'<p class="note">{_e(png.name)} unreadable: {_e(err)}</p>'
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _diff_html(run: Run) -> str:
    if run.config is None:
        return '<span class="note">no config</span>'
    if run.diff is None:
        return f'<span class="note">{len(run.config)} options, no defaults known (below)</span>'
    if not run.diff:
        return '<span class="note">defaults</span>'
    items = [f'<li><code>{_e(k)}</code> <span class="old">{_e(_short(d))}</span> → <b>{_e(_short(v))}</b></li>'
             for k, d, v in run.diff]
    if len(items) <= DIFF_SHOWN + 1:
        return f'<ul class="diff">{"".join(items)}</ul>'
    return (f'<ul class="diff">{"".join(items[:DIFF_SHOWN])}</ul><details><summary>{len(items) - DIFF_SHOWN} more'
            f'</summary><ul class="diff">{"".join(items[DIFF_SHOWN:])}</ul></details>')


def _submission_html(run: Run, output_dir: Path) -> str:
    if not run.submissions:
        return "—"
    links = []
    for path in run.submissions:
        href = Path(os.path.relpath(path.resolve(), output_dir.resolve())).as_posix()
        links.append(f'<a href="{_e(href)}">{_e(path.name)}</a>')
    return "<br>".join(links)


def _best_runs(runs: list[Run], info: TaskInfo) -> set[str]:
    """Names of the best run per metric label (e.g. the best valid accuracy, the best OOF accuracy) and data: runs of
    other data or another contest metric do not compete (``pair``: a Spearman contest's "score" and a macro-F1
    one's; their configs' ``metric``, ``data_dir`` and ``train_file``)."""
    best: dict[tuple[str, ...], Run] = {}
    for run in runs:
        if run.metric is None or run.problems:
            continue
        key = (run.metric_label, *(str((run.config or {}).get(k, "")) for k in ("metric", "data_dir", "train_file")))
        other = best.get(key)
        if other is None or (run.metric > other.metric if info.greater_is_better else run.metric < other.metric):
            best[key] = run
    return {r.name for r in best.values()} if len(runs) > 1 else set()


def render(tasks: dict[str, list[Run]], infos: dict[str, TaskInfo], runs_dir: Path, output_dir: Path) -> str:
    """The whole page."""
    total = sum(len(r) for r in tasks.values())
    nav = " · ".join(f'<a href="#task-{_e(t)}">{_e(t)}</a> ({len(r)})' for t, r in tasks.items())
    intro = (f"<h1>Runs</h1><p class=\"note\">{total} run folders in {len(tasks)} task folders under "
             f"<code>{_e(runs_dir)}</code>, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}. "
             "Bold: the best of its metric among the task's runs on the same data. Config: options that differ "
             "from the task's defaults (default → run).</p>")
    parts = [intro, f"<nav>{nav}</nav>" if tasks else "<p>No run folders.</p>"]
    for task, runs in tasks.items():
        info = infos[task]
        best = _best_runs(runs, info)
        source = f"defaults from <code>{_e(info.config_class)}</code>" if info.config_class else \
            "no config class known: configs are shown whole"
        parts.append(f'<h2 id="task-{_e(task)}">{_e(task)}</h2><p class="note">{len(runs)} runs; {source}.</p>')
        rows = []
        for run in runs:
            status = ('<span class="bad">incomplete: ' + _e("; ".join(run.problems)) + "</span>") if run.problems \
                else "complete" if run.metric is not None or not run.metric_label else \
                f'complete, <span class="bad">no {_e(run.metric_label)}: missing, NaN or infinite</span>'
            metric = f"{_fmt(run.metric)}" + (f'<br><span class="note">{_e(run.metric_label)}</span>'
                                               if run.metric_label else "")
            if run.name in best:
                metric = f"<b>{metric}</b>"
            wall = f'<span title="{_e(run.wall_note)}">{_duration(run.wall_seconds)}</span>'
            rows.append(f'<tr><td><a href="#{_e(run.anchor)}">{_e(run.name)}</a></td><td>{_e(run.kind)}</td>'
                        f"<td>{status}</td><td class=\"num\">{metric}</td><td>{_e(_fmt(run.best_epoch))}</td>"
                        f"<td class=\"num\">{_duration(run.train_seconds)}</td><td class=\"num\">{wall}</td>"
                        f"<td>{_submission_html(run, output_dir)}</td><td>{_diff_html(run)}</td></tr>")
        parts.append('<table class="runs"><thead><tr><th>run</th><th>kind</th><th>status</th><th>best metric</th>'
                     "<th>best epoch</th><th>train time</th><th>wall time</th><th>submission</th>"
                     f"<th>config diff</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
        for run in runs:
            parts.append(f'<section id="{_e(run.anchor)}"><h3>{_e(task)} / {_e(run.name)} '
                         f'<span class="note">{_e(run.kind)}</span></h3>')
            if run.problems:
                parts.append(f'<p class="bad">Incomplete: {_e("; ".join(run.problems))}</p>')
            parts.extend(run.details)
            if run.config is not None and run.diff is None:
                parts.append(_kv_table({k: v for k, v in run.config.items()}, "config (no defaults known)"))
            parts.append("</section>")
    return PAGE.format(body="\n".join(parts))


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Runs report</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1600px; }}
h1 {{ margin-bottom: 0; }} h2 {{ border-bottom: 2px solid #ccc; margin-top: 36px; }}
h3 {{ margin: 28px 0 6px; }}
table {{ border-collapse: collapse; margin: 2px 0 14px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }}
table.runs tr:nth-child(even) td {{ background: #fafafa; }}
table.small {{ font-size: 13px; }} td.num {{ white-space: nowrap; }}
summary {{ font-size: 12px; color: #555; cursor: pointer; }}
ul.diff {{ margin: 0; padding-left: 16px; font-size: 12px; }}
.old {{ color: #888; text-decoration: line-through; }}
.note {{ color: #666; font-size: 12px; }} .bad {{ color: #b00020; }}
div.kv, div.files {{ display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin: 6px 0 10px; max-width: 1100px; }}
div.files i {{ color: #888; font-style: normal; }}
figure {{ display: inline-block; margin: 6px 12px 6px 0; }}
img {{ max-width: 640px; border: 1px solid #eee; }} figcaption {{ font-size: 12px; color: #666; }}
section {{ border-left: 3px solid #e5e5e5; padding-left: 12px; }}
pre {{ background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }}
</style></head><body>
{body}
</body></html>
"""


# ------------------------------------------------------------------ command

def build_report(runs_dir: str | Path, output_dir: str | Path) -> dict[str, Any]:
    """Write ``output_dir/index.html`` over ``runs_dir``; drawn curves go to ``output_dir/curves/``.

    Returns:
        ``{"report": page path, "runs": {task: n}, "incomplete": {task: n}}``.

    Raises:
        FileNotFoundError: ``runs_dir`` is not a folder.
        ValueError: ``output_dir`` inside ``runs_dir``; a run folder directly in ``runs_dir`` (a task's folder or
            a folder of runs given, whose runs' ``checkpoint/`` and ``encoder/`` would read as runs).
    """
    runs_dir, output_dir = Path(runs_dir), Path(output_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"{runs_dir}: no such folder of runs (train something first, or pass --runs-dir)")
    if output_dir.resolve() == runs_dir.resolve() or runs_dir.resolve() in output_dir.resolve().parents:
        raise ValueError(f"--output-dir {output_dir} lies inside --runs-dir {runs_dir}: the report never writes runs")
    flat = next((p for p in sorted(runs_dir.iterdir())
                 if p.is_dir() and (folder_kinds(p) or any((p / m).exists() for m in ("config.json", "metrics.json")))),
                None)
    if flat is not None:  # runs/<task>/ given, or a folder of runs: their checkpoint/ and encoder/ read as runs
        raise ValueError(f"--runs-dir {runs_dir}: {flat.name}/ is a run folder, expected the folder of "
                         "<task>/<run>/ folders (runs/, or a copy of it)")
    tasks, infos = collect(runs_dir, output_dir / "curves")
    page = write_text_atomic(output_dir / "index.html", render(tasks, infos, runs_dir, output_dir))
    return {"report": str(page), "runs": {t: len(r) for t, r in tasks.items()},
            "incomplete": {t: sum(bool(x.problems) for x in r) for t, r in tasks.items()}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", default="runs", help="the folder of runs/<task>/<run>/ (default: runs)")
    parser.add_argument("--output-dir", default="reports", help="index.html and drawn curves go here (default: reports)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = build_report(args.runs_dir, args.output_dir)
    print_result(result)
    return result


if __name__ == "__main__":
    from common.commands.args import run_cli

    run_cli(main)
