"""Hyperparameter search with Optuna: a declared search space, pruning on epochs, one study shared by many workers.

A task declares its search space as a plain dict and gives an objective that
trains one trial with the shared trainer; this module does the rest::

    runs/<task>/<run>/
        study.db                the Optuna storage (SQLite); any RDB URL with --storage instead
        trial<N>/               one shared-trainer run folder per trial
        best_params.toml        the best trial's values: an override file, `--config best_params.toml`
        trials.csv              every trial (values, params, state, duration, host and folder)
        optimization_history.png, param_importances.png
        tune_summary.json

The sampler is TPE with the constant liar (Optuna's setting for parallel workers:
running trials count as bad results, so a worker does not draw next to a point
another worker is evaluating). Each epoch's validation metric is reported through
:class:`OptunaPruning`, a trainer callback, and the pruner (median by default)
stops trials that fall behind.

Several workers, on one machine or many, share one study through one storage
(``--storage postgresql+psycopg://user@host/db``; SQLite only on one machine):

- ``--trials N`` is the number of finished (complete or pruned) trials the study
  should hold. A worker starts a trial only while finished + running trials are
  fewer than N, then waits for the others' running trials; a trial that still
  overshoots (two workers asking in the same instant) is marked failed with the
  user attribute ``surplus`` before it trains. Rerunning adds only the missing ones.
- Draws: the sampler's random state is re-seeded for every trial from
  (``sampler_seed``, fresh draws before it) (:class:`TrialSeededTPESampler`,
  :func:`draw_index`; a replayed interrupted trial draws nothing), so trials
  started at once by different workers draw different start-up points, and a
  restarted worker does not replay earlier draws. Reproducibility: one worker
  with the same seed repeats its trials exactly; with several workers the set of
  trials depends on which worker finished first, so it is not bit-reproducible.
- Liveness: every running trial writes a heartbeat (``heartbeat_interval``); a
  trial whose heartbeat is older than ``heartbeat_grace`` (its worker was killed)
  is marked failed by the next worker and re-queued with the same parameters
  (Optuna's ``RetryHeartbeatStaleTrialCallback``, up to ``trial_retries`` times);
  the failed trial's checkpoint and weights are deleted where they lie.
- Start-up: creating the schema and the study tolerates other workers doing the
  same at the same moment (retries; a file lock for SQLite).
- Outputs are rebuilt from the storage (the one source of truth) by every worker
  when it stops, under a lock and with unique temporary names, so the last worker
  to finish leaves the complete set; ``--report-only true`` rebuilds them on any
  machine without running trials. Each trial records its host and folder as user
  attributes, and the outputs say where the best trial's ``model.pt`` lives.

A worker may itself be several processes (``accelerate launch --num_processes N``,
one trial on N GPUs): its main process holds the study (draws, reports, pruning,
outputs) and sends each trial's number, parameters and folder to the other
processes, which train it with it (:func:`follow_trials`); the pruner's decision after
each epoch is sent the same way, and a message every poll keeps them in step while
the main process waits for other workers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import logging
import os
import random
import shutil
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from common.config import check_ranges
from common.io import atomic_path, write_json_atomic, write_text_atomic
from common.run import broadcast_from_main, process_alive, process_state, this_process
from common.training.callbacks import Callback

logger = logging.getLogger("common.hpo")


def _without_interrupt_tracebacks(record: logging.LogRecord) -> bool:
    """A filter of Optuna's trial log: the "Trial N failed ... KeyboardInterrupt()" warning of a Ctrl-C'd trial
    keeps its line and loses its traceback (tune logs that the trial is queued again, and the command ends
    with one line)."""
    if record.exc_info and record.exc_info[0] is not None and issubclass(record.exc_info[0], KeyboardInterrupt):
        record.exc_info, record.exc_text = None, None
    return True

# name -> ("float", low, high[, log]) | ("int", low, high) | ("categorical", [choices])
SearchSpace = Mapping[str, tuple]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
DRIVER_HINT = 'pip install "psycopg[binary]"'


@dataclass
class TuneConfig:
    """Optuna options; task tuning configs inherit these fields."""

    trials: int = 20  # finished (complete or pruned) trials wanted in the study, all workers together; a rerun adds only the missing ones
    storage: str = ""  # empty: sqlite:///<run folder>/study.db; or an RDB URL shared by several machines (postgresql+psycopg://user@host/db)
    study_name: str = ""  # empty: the run name
    sampler_seed: int = 42  # with the fresh draws before it, seeds each trial's draws (one worker repeats itself exactly)
    pruner: str = "median"  # median | none
    pruner_startup_trials: int = 3  # trials run to the end before the pruner may stop any
    keep_trial_models: bool = False  # keep every trial's model.pt (the best trial's is always kept)
    heartbeat_interval: int = 60  # seconds between a running trial's heartbeats in the storage
    heartbeat_grace: int = 180  # a running trial silent this long (its worker died) is failed and retried
    trial_retries: int = 2  # times a trial failed that way is re-queued with the same parameters
    report_only: bool = False  # run no trial: rebuild the outputs of this folder from the storage

    def __post_init__(self) -> None:
        """Raises ValueError (naming the flag): fewer than 1 trial, an unknown pruner, a heartbeat interval below 1 s
        or a grace not above it, negative retries; then the checks of the configs combined with it (a task's)."""
        rules = (("trials", self.trials >= 1, ">= 1"), ("pruner", self.pruner in ("median", "none"), "median or none"),
                 ("pruner_startup_trials", self.pruner_startup_trials >= 0, ">= 0"),
                 ("heartbeat_interval", self.heartbeat_interval >= 1, ">= 1 (seconds)"),
                 ("heartbeat_grace", self.heartbeat_grace > self.heartbeat_interval, "above --heartbeat-interval"),
                 ("trial_retries", self.trial_retries >= 0, ">= 0"))
        check_ranges(self, rules)
        chained = getattr(super(), "__post_init__", None)  # a compound tune config: the task config's checks
        if chained is not None:
            chained()


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


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number`` in a study seeded with ``seed`` (a stable 32-bit hash of both)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{number}".encode()).digest()[:4], "little")


def is_replay(trial: FrozenTrial) -> bool:
    """A trial of given parameters: queued (an interrupted trial's, ``enqueue_trial``: ``fixed_params``) or a
    stale trial's retry (``RetryFailedTrialCallback``: ``retry_history``), not a fresh draw."""
    return "fixed_params" in trial.system_attrs or "retry_history" in trial.system_attrs


def draw_index(study: optuna.Study, trial: FrozenTrial) -> int:
    """How many fresh draws (:func:`is_replay` excluded) the study made before ``trial``: what seeds its draws.
    A trial number would do in a study that never replays; but a trial interrupted by Ctrl-C is queued again and
    takes the next number, so every later draw moved one seed on and one point of the uninterrupted study was
    never drawn (probe J). Unique per fresh trial across workers (numbers are, and every lower one is stored)."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.number < trial.number and not is_replay(t))


class TrialSeededTPESampler(optuna.samplers.BaseSampler):
    """TPE (constant liar) whose random state is seeded per trial from (study seed, its :func:`draw_index`).

    A plain ``TPESampler(seed=s)`` in every worker replays the same start-up draws in
    each process, so N workers evaluate the same points N times. Here each trial gets
    a fresh ``TPESampler(seed=trial_seed(s, draw_index), constant_liar=True)``: draw
    indices are unique in the storage, so concurrent trials draw differently, while a
    single worker is exactly as reproducible as a seeded TPE (same numbers, same
    history, same draws). Sources: Bergstra et al., "Algorithms for Hyper-Parameter
    Optimization" (NeurIPS 2011) for TPE; Optuna's ``constant_liar`` option for
    distributed TPE (Ginsbourger et al., "Kriging is well-suited to parallelize
    optimization", 2010).

    Args:
        seed: the study seed.
        **tpe_options: passed to every ``optuna.samplers.TPESampler`` (not ``seed``).
    """

    def __init__(self, seed: int, **tpe_options: Any) -> None:
        self.seed = seed
        self.tpe_options = {"constant_liar": True, **tpe_options}
        self._samplers: dict[int, optuna.samplers.TPESampler] = {}

    def _sampler(self, study: optuna.Study, trial: FrozenTrial) -> optuna.samplers.TPESampler:
        if trial.number not in self._samplers:
            seed = trial_seed(self.seed, draw_index(study, trial))
            self._samplers[trial.number] = optuna.samplers.TPESampler(seed=seed, **self.tpe_options)
        return self._samplers[trial.number]

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._sampler(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._sampler(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._sampler(study, trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler(study, trial).before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        sampler = self._samplers.pop(trial.number, None) or self._sampler(study, trial)
        sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Nothing to do: every trial's random state comes from the seed and its number."""


def storage_url(config: TuneConfig, run_dir: str | Path) -> str:
    """The SQLAlchemy URL of the study: ``config.storage`` with its driver named, or the run folder's SQLite file.

    ``postgresql://`` (and ``postgres://``) URLs name no driver, and SQLAlchemy's default
    for them differs between versions (psycopg2 before 2.1, psycopg 3 since); they are
    rewritten to ``postgresql+psycopg://`` (or ``+psycopg2`` when only that is installed).

    Raises:
        ImportError: a PostgreSQL URL and no driver installed; the message names the package.
        ValueError: a URL SQLAlchemy cannot read, or of a database it has no dialect for (one line; probe AJ: a
            traceback of ``NoSuchModuleError``).
    """
    import sqlalchemy

    url = config.storage or f"sqlite:///{(Path(run_dir) / 'study.db').as_posix()}"
    scheme, sep, rest = url.partition("://")
    try:
        dialect = sqlalchemy.engine.make_url(url).get_backend_name()
    except sqlalchemy.exc.ArgumentError as err:
        raise ValueError(f"--storage {config.storage!r}: not a database URL ({err}); e.g. "
                         "sqlite:///runs/study.db or postgresql://user:pass@host/db") from None
    if dialect not in ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql"):
        raise ValueError(f"--storage {scheme}://...: SQLAlchemy has no {dialect!r} database; e.g. "
                         "sqlite:///runs/study.db or postgresql://user:pass@host/db")
    if scheme in ("postgresql", "postgres"):
        for driver in ("psycopg", "psycopg2"):
            if importlib.util.find_spec(driver) is not None:
                return f"postgresql+{driver}://{rest}"
        raise ImportError(f"--storage {scheme}://... needs a PostgreSQL driver: {DRIVER_HINT} (in requirements.txt)")
    driver = scheme.partition("+")[2]
    if scheme.startswith("postgresql+") and driver in ("psycopg", "psycopg2") \
            and importlib.util.find_spec(driver) is None:
        package = DRIVER_HINT if driver == "psycopg" else 'pip install psycopg2-binary'
        raise ImportError(f"--storage {scheme}://... needs the {driver} driver: {package}")
    return url


def _retry_callback(retries: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():  # marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(max_retry=retries)


def open_storage(config: TuneConfig, url: str, attempts: int = 6) -> optuna.storages.RDBStorage:
    """An ``RDBStorage`` with heartbeats and stale-trial retries, creating its tables if needed.

    Several workers starting at once on a new database race to create the tables
    (PostgreSQL ``UniqueViolation`` on ``pg_type``, SQLite ``UNIQUE constraint failed:
    alembic_version``): a SQLite file is created under a file lock beside it, and
    any database error during creation is retried after a short random wait (the
    second attempt finds the tables the winner made).

    Raises:
        sqlalchemy.exc.DBAPIError: the database still fails after ``attempts`` tries
            (e.g. the server is unreachable).
    """
    import sqlalchemy

    parsed = sqlalchemy.engine.make_url(url)
    kwargs: dict[str, Any] = {"heartbeat_interval": config.heartbeat_interval, "grace_period": config.heartbeat_grace}
    name = ("heartbeat_stale_trial_callback"
            if "heartbeat_stale_trial_callback" in inspect.signature(optuna.storages.RDBStorage).parameters
            else "failed_trial_callback")  # optuna < 4.9
    kwargs[name] = _retry_callback(config.trial_retries)
    engine_kwargs: dict[str, Any] = {}
    lock_path = None
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": 60}  # workers wait for each other's writes
        if parsed.database and parsed.database != ":memory:":
            lock_path = f"{parsed.database}.lock"
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():  # heartbeat options are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                if lock_path is None:
                    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
                from filelock import FileLock

                with FileLock(lock_path):
                    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except sqlalchemy.exc.DBAPIError as err:
            if attempt == attempts:
                raise
            logger.warning("storage creation attempt %d failed (%s); retrying", attempt, str(err).splitlines()[0])
            time.sleep(random.uniform(0.2, 1.0) * attempt)
    raise AssertionError("unreachable")


def create_study(config: TuneConfig, run_dir: str | Path, direction: str, default_name: str) -> optuna.Study:
    """Create or load (``load_if_exists``) the study of a tuning run; safe when workers start together.

    Args:
        config: storage URL, study name, sampler seed, pruner, heartbeat and retry options.
        run_dir: folder of the default SQLite storage.
        direction: ``"maximize"`` or ``"minimize"``.
        default_name: study name when ``config.study_name`` is empty.

    Raises:
        ValueError: an unknown pruner.
        ImportError: a PostgreSQL URL without its driver (:func:`storage_url`).
    """
    import sqlalchemy

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.pruner == "median":
        pruner: optuna.pruners.BasePruner = optuna.pruners.MedianPruner(n_startup_trials=config.pruner_startup_trials)
    elif config.pruner == "none":
        pruner = optuna.pruners.NopPruner()
    else:
        raise ValueError(f"pruner must be median or none, got {config.pruner!r}")
    storage = open_storage(config, storage_url(config, run_dir))
    for attempt in range(1, 6):
        try:
            return optuna.create_study(study_name=config.study_name or default_name, storage=storage,
                                       sampler=TrialSeededTPESampler(config.sampler_seed), pruner=pruner,
                                       direction=direction, load_if_exists=True)
        except sqlalchemy.exc.DBAPIError as err:  # two workers inserting the same new study
            if attempt == 5:
                raise
            logger.warning("study creation attempt %d failed (%s); retrying", attempt, str(err).splitlines()[0])
            time.sleep(random.uniform(0.2, 1.0) * attempt)
    raise AssertionError("unreachable")


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
        state = process_state()
        prune = False
        if state.is_main_process:  # the study is the main process's; the others follow its decision
            # step: the evaluation's number (the epoch, unless --eval-every-steps also evaluates inside epochs)
            self.trial.report(float(record[self.metric_name]), step=len(trainer.state["history"]))
            prune = self.trial.should_prune()
        if broadcast_from_main(prune):
            logger.info("trial %d pruned after epoch %s (%s %.4f)", self.trial.number, record["epoch"],
                        self.metric_name, record[self.metric_name])
            raise optuna.TrialPruned()


@dataclass
class FollowedTrial:
    """What a non-main process knows of the trial it trains with the main process: its number."""

    number: int


WAIT = "wait"  # message: the main process polls the study, no trial yet


def follow_trials(train_trial: "TrialFn") -> int:
    """A non-main process of a multi-process worker: train each trial the main process sends, until it says stop.

    Messages (from :func:`run_tuning` on the main process): ``(number, params, trial
    folder)`` trains that trial through ``train_trial`` (pruned here when the main
    process's pruner says so); ``WAIT`` comes every poll while the main process waits
    for other workers; ``None`` stops. Any other exception propagates: the launcher then
    stops every process, rather than leave the main process waiting in a collective.

    Returns:
        the number of trials trained here.
    """
    ran = 0
    while True:
        message = broadcast_from_main(None)
        if message is None:
            return ran
        if message == WAIT:
            continue
        number, params, trial_dir = message
        ran += 1
        try:
            train_trial(FollowedTrial(number), params, Path(trial_dir))
        except optuna.TrialPruned:
            pass


def finished_trials(study: optuna.Study) -> int:
    """Number of complete or pruned trials in the study."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


class SurplusTrial(Exception):
    """Raised inside a trial that would take the study past its trial count (another worker got there first)."""


def _is_surplus(trial: FrozenTrial) -> bool:
    return bool(trial.user_attrs.get("surplus"))


def _fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and re-queue, through the storage's retry callback) the running trials of dead workers: those whose
    heartbeat is older than the grace period, and at once those of a worker process of this host that is gone (a
    killed run restarted: it waited out the grace period, and the retry then ran after trials drawn later, whose
    results moved its pruning median; probe Q)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
        storage, host = study._storage, socket.gethostname()
        get_callback = getattr(storage, "get_heartbeat_stale_trial_callback", None) or \
            getattr(storage, "get_failed_trial_callback", lambda: None)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            attrs = trial.user_attrs
            worker_host, _, pid = str(attrs.get("worker", "")).rpartition(":")
            if worker_host != host or not pid.isdigit() or \
                    process_alive(int(pid), attrs.get("worker_started"), attrs.get("worker_boot")):
                continue
            try:
                if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:  # another worker got there first
                continue
            logger.info("trial %d: its worker %s is gone; failed and queued again", trial.number, attrs["worker"])
            callback = get_callback()
            if callback is not None:
                callback(study, storage.get_trial(trial._trial_id))


def within_budget(study: optuna.Study, trial: optuna.Trial, trials: int) -> bool:
    """Whether ``trial`` is among the first ``trials`` live (finished, running or queued) trials of the study.

    Trial numbers come from the storage in creation order, so two workers that both
    started a trial for the last free place agree on which one keeps it.
    """
    live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    ahead = [t for t in study.get_trials(deepcopy=False, states=live) if t.number < trial.number]
    return len(ahead) < trials


def run_study(study: optuna.Study, objective: Callable[[optuna.Trial], float], trials: int,
              poll_seconds: float = 5.0, on_wait: Callable[[], None] | None = None) -> int:
    """Run trials until the study holds ``trials`` finished ones, all workers together; returns how many ran here.

    Before each trial, trials of dead workers are failed (and re-queued by the
    storage's retry callback). A new trial starts only while finished + running
    trials are fewer than ``trials`` (queued retries always run); otherwise this
    worker waits ``poll_seconds`` for the others. A trial that still overshoots is
    marked ``surplus`` and failed before it trains. ``on_wait`` is called at every
    poll while waiting.

    Raises:
        RuntimeError: 3 × ``trials`` trials failed here (every trial failing).
    """
    outcome: dict[str, bool] = {}

    def guarded(trial: optuna.Trial) -> float:
        outcome["surplus"] = not within_budget(study, trial, trials)
        if outcome["surplus"]:
            trial.set_user_attr("surplus", f"not run: the study already had {trials} trials")
            raise SurplusTrial(f"trial {trial.number}: the study already has {trials} live trials")
        return objective(trial)

    logger.info("study %s: %d finished trials of %d", study.study_name, finished_trials(study), trials)
    ran = 0
    waiting_logged = False
    while True:
        _fail_stale_trials(study)
        counts = {state: len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState}
        finished = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        if finished >= trials:
            return ran
        if finished + counts[TrialState.RUNNING] >= trials and not counts[TrialState.WAITING]:
            if not waiting_logged:
                logger.info("study %s: %d finished, %d running elsewhere; waiting for them", study.study_name,
                            finished, counts[TrialState.RUNNING])
                waiting_logged = True
            time.sleep(poll_seconds)
            if on_wait is not None:
                on_wait()
            continue
        waiting_logged = False
        optuna_logger = logging.getLogger("optuna.study._optimize")  # where Optuna logs a failed trial
        optuna_logger.addFilter(_without_interrupt_tracebacks)
        try:
            study.optimize(guarded, n_trials=1, catch=(SurplusTrial,))
        finally:
            optuna_logger.removeFilter(_without_interrupt_tracebacks)
        if outcome.get("surplus"):
            continue
        ran += 1
        if ran > 3 * trials:  # every trial failing: stop rather than loop forever
            raise RuntimeError(f"{ran} trials ran here and the study has {finished_trials(study)} finished; "
                               "see the trial logs")


# (trial, drawn params, trial folder) -> the trial's objective value
TrialFn = Callable[[optuna.Trial, dict[str, Any], Path], float]


def _clean_trial_dir(trial_dir: Path, keep_model: bool) -> None:
    shutil.rmtree(trial_dir / "checkpoint", ignore_errors=True)  # optimizer state: not needed after a trial
    if not keep_model:
        (trial_dir / "model.pt").unlink(missing_ok=True)


def run_tuning(config: TuneConfig, run_dir: str | Path, space: SearchSpace, train_trial: TrialFn,
               direction: str, default_name: str, command_hint: str = "",
               fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A whole tuning run (one worker of the study): study, trials until ``config.trials`` are finished, outputs.

    Each trial draws from ``space`` and trains in ``run_dir/trial<N>`` (cleared first:
    a number reused after a crash starts clean) through ``train_trial``; its
    resumable ``checkpoint/`` is removed afterwards, and its host and folder are
    stored as user attributes (``host``, ``worker``, ``trial_dir``). Trials failed
    in the storage (e.g. a killed worker's, found stale) lose their checkpoint and
    ``model.pt`` here if their folder is in ``run_dir``; a trial interrupted here (Ctrl-C) has its parameters
    queued again (``interrupted_trial``), so the next run trains that point first. Then
    :func:`save_study_outputs`, and every finished trial's ``model.pt`` but the
    best one's is deleted unless ``config.keep_trial_models``. With
    ``config.report_only`` no trial runs: only the outputs are rebuilt.

    Several processes (``accelerate launch``): the main process does all of the above
    and sends each trial to the others, which train it with it (:func:`follow_trials`).

    Raises:
        KeyError: ``report_only`` and no such study in the storage.
        ImportError: a PostgreSQL URL without its driver.
        RuntimeError: from :func:`run_study` when every trial fails.

    Returns:
        the summary of :func:`save_study_outputs` plus ``trials_run_now`` (a non-main
        process: only ``trials_run_now``).
    """
    run_dir = Path(run_dir)
    state = process_state()
    several = state.num_processes > 1
    if several and not state.is_main_process:
        return {"trials_run_now": 0 if config.report_only else follow_trials(train_trial)}
    if config.report_only:
        study = optuna.load_study(study_name=config.study_name or default_name,
                                  storage=open_storage(config, storage_url(config, run_dir)))
        summary = save_study_outputs(study, run_dir, command_hint, fixed)
        summary["trials_run_now"] = 0
        return summary
    study = create_study(config, run_dir, direction, default_name)
    host = socket.gethostname()

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        trial_dir = run_dir / f"trial{trial.number}"
        trial.set_user_attr("host", host)
        trial.set_user_attr("worker", f"{host}:{os.getpid()}")
        me = this_process()  # so that a restart on this host tells a dead worker from a later process of its pid
        trial.set_user_attr("worker_started", me["started"])
        trial.set_user_attr("worker_boot", me["boot"])
        trial.set_user_attr("trial_dir", str(trial_dir.resolve()))
        if trial_dir.exists():
            shutil.rmtree(trial_dir)
        broadcast_from_main((trial.number, params, str(trial_dir)))  # to the other processes, if any
        try:
            return float(train_trial(trial, params, trial_dir))
        except KeyboardInterrupt:  # Ctrl-C: Optuna fails the trial; its point is queued again, so the next
            study.enqueue_trial(params, user_attrs={"interrupted_trial": trial.number})  # tune trains it first
            logger.info("trial %d interrupted: its parameters are queued for the next run", trial.number)
            raise
        finally:
            _clean_trial_dir(trial_dir, keep_model=True)

    try:
        ran = run_study(study, objective, config.trials, poll_seconds=max(1, min(config.heartbeat_interval, 10)),
                        on_wait=(lambda: broadcast_from_main(WAIT)) if several else None)
    except KeyboardInterrupt:  # Ctrl-C: the trials finished so far are in the outputs too (the rerun redoes them);
        # the other processes, if any, got the same Ctrl-C and are gone: no broadcast (it failed in gloo's
        # "Connection closed by peer", a traceback instead of the one line)
        if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            save_study_outputs(study, run_dir, command_hint, fixed)
        raise
    except BaseException:
        broadcast_from_main(None)  # the other processes, if any, stop following
        raise
    broadcast_from_main(None)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        _clean_trial_dir(run_dir / f"trial{trial.number}", keep_model=False)
    summary = save_study_outputs(study, run_dir, command_hint, fixed)
    if not config.keep_trial_models and "best_trial" in summary:
        for trial in study.get_trials(deepcopy=False, states=FINISHED):
            if trial.number != summary["best_trial"]:
                (run_dir / f"trial{trial.number}" / "model.pt").unlink(missing_ok=True)
    summary["trials_run_now"] = ran
    return summary


def toml_overrides(params: Mapping[str, Any], comment: str) -> str:
    """A TOML override file (``--config``) holding ``params`` (scalars, and lists of them), under a comment line.

    Raises:
        TypeError: a value that is not a bool, number or string, or a list of strings and numbers.
    """
    lines = [f"# {line}" for line in comment.splitlines()]
    for name, value in params.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        elif isinstance(value, str) or (isinstance(value, list) and all(
                isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)):
            text = json.dumps(value, ensure_ascii=False)  # a JSON string or array of these is TOML's too
        else:
            raise TypeError(f"{name}: only scalars and lists of them go into an override file, got "
                            f"{type(value).__name__}")
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def snapshot_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the study's trials at this instant, so every output is built from one state."""
    copy = optuna.create_study(study_name=study.study_name, direction=study.direction)
    copy.add_trials(study.get_trials(deepcopy=True))
    return copy


def save_study_outputs(study: optuna.Study, run_dir: str | Path, command_hint: str = "",
                       fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write best_params.toml, trials.csv, tune_summary.json and the two plots (PNG) from the storage.

    All files come from one snapshot of the storage, written under a lock
    (``run_dir/.outputs.lock``) with unique temporary names, so workers sharing the
    folder leave a consistent set (the last one to finish, the most recent); a
    worker finding the files already written from the same state (``storage_state``,
    a hash of the trials) leaves them. The
    summary and the override file's comment say where the best trial's ``model.pt``
    lies (``best_model``: host and path) and whether it is on this machine.

    Returns the summary dict (best trial number, value and params, trial counts, files).
    Plots need at least one complete trial (importances: two, and a parameter that varied).
    """
    from filelock import FileLock

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(run_dir / ".outputs.lock")):
        snap = snapshot_study(study)
        trials = snap.get_trials(deepcopy=False)
        state = hashlib.sha256(json.dumps([(t.number, t.state.name, t.values, t.params, t.user_attrs)
                                           for t in trials], sort_keys=True, default=str).encode()).hexdigest()[:16]
        previous = _read_summary(run_dir / "tune_summary.json")
        if previous.get("storage_state") == state and all(Path(f).is_file() for f in previous["files"].values()):
            return previous  # another worker sharing this folder already wrote this very state
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
        counts["surplus"] = sum(_is_surplus(t) for t in trials)  # failed before training: not run
        counts["retried"] = sum("failed_trial" in t.system_attrs or "interrupted_trial" in t.user_attrs
                                for t in trials)  # a dead worker's trial, or one interrupted (Ctrl-C)
        summary: dict[str, Any] = {"study": study.study_name, "direction": study.direction.name.lower(),
                                   "trials": counts, "storage_state": state, "files": {}}
        if not complete:
            write_json_atomic(run_dir / "tune_summary.json", summary)
            return summary
        best = snap.best_trial
        best_dir = best.user_attrs.get("trial_dir", str((run_dir / f"trial{best.number}").resolve()))
        here = Path(best_dir, "model.pt").is_file() and best.user_attrs.get("host", socket.gethostname()) \
            == socket.gethostname()
        summary.update(best_trial=best.number, best_value=best.value, best_params=best.params,
                       best_model={"host": best.user_attrs.get("host", ""), "path": str(Path(best_dir, "model.pt")),
                                   "on_this_machine": here})
        comment = (f"Best of {len(complete)} complete trials of study {study.study_name!r}: "
                   f"trial {best.number}, value {best.value:.4f}.\n"
                   f"Its model: {Path(best_dir, 'model.pt')} on host {best.user_attrs.get('host', '?')}.\n"
                   f"{command_hint}").strip()
        if fixed:  # options the study's command line fixed: the best trial trained with them too
            comment += (f"\nFixed for every trial by the study's command line and --config files: "
                        f"{', '.join(sorted(fixed))}.")
        write_text_atomic(run_dir / "best_params.toml", toml_overrides({**(fixed or {}), **best.params}, comment))
        summary["files"]["best_params"] = str(run_dir / "best_params.toml")
        write_text_atomic(run_dir / "trials.csv", snap.trials_dataframe().to_csv(index=False))
        summary["files"]["trials"] = str(run_dir / "trials.csv")
        summary["files"].update(_save_plots(snap, run_dir, len(complete)))
        write_json_atomic(run_dir / "tune_summary.json", summary)
    return summary


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


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
        with atomic_path(path) as tmp:  # a unique temporary name: workers never move each other's file
            figure.savefig(tmp, format="png", dpi=100)
        plt.close(figure)
        files[name] = str(path)
    return files
