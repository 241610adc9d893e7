"""common.hpo with several workers on one study: SQLite always, a real PostgreSQL server when one can start.

Workers are separate processes (``tests/hpo_worker.py``: ``run_tuning`` with a cheap
objective, no model). Checked: no crash when they start together on a new database,
the exact trial count, no repeated parameter set, outputs consistent with the storage,
and a worker killed with SIGKILL whose trial is failed and retried by the next one.
The PostgreSQL cases start a throwaway cluster (``tests/pg_server.py``) and are
skipped when the server binaries (Debian: ``apt-get install postgresql``) or the
driver (``psycopg``) are missing: ``pytest tests/test_hpo_workers.py -k postgres``.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from common.hpo import (TrialSeededTPESampler, TuneConfig, create_study, run_tuning, storage_url, suggest,
                        within_budget)
from tests.conftest import ROOT
from tests.hpo_worker import SPACE

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh PostgreSQL server for this module, or a skip saying why there is none."""
    from tests.pg_server import find_binaries, pg_server

    if find_binaries() is None:
        pytest.skip("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip('no PostgreSQL driver: pip install "psycopg[binary]"')
    try:
        server = pg_server()
        url = server.__enter__()
    except (RuntimeError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or ""
        pytest.skip(f"PostgreSQL server did not start: {err} {detail.strip()[-300:]}")
    yield url
    server.__exit__(None, None, None)


# PostgreSQL's cases (about 15 s each) run in `make test-all`; SQLite's, the default storage, in the fast suite.
SLOW_CASES = {"test_two_workers_on_a_new_database_share_the_work": {"postgres"},
              "test_a_killed_workers_trial_is_failed_and_retried": {"postgres-2", "postgres-3600"}}


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request, tmp_path):
    """A storage URL of a new, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared-study.db'}"
    url = request.getfixturevalue("postgres_url")
    import sqlalchemy

    name = f"t{os.getpid()}_{time.monotonic_ns()}"
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


def start_worker(run_dir: Path, storage: str, trials: int, seconds: float, name: str = "shared",
                 grace: int = 2) -> subprocess.Popen:
    args = [sys.executable, "-m", "tests.hpo_worker", "--run-dir", str(run_dir), "--storage", storage,
            "--trials", str(trials), "--seconds", str(seconds), "--name", name, "--heartbeat", "1", "--grace",
            str(grace)]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def finish(proc: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def params_key(trial: optuna.trial.FrozenTrial) -> str:
    return json.dumps(trial.params, sort_keys=True)


def test_two_workers_on_a_new_database_share_the_work(storage, tmp_path):
    run_dir = tmp_path / "run"  # one folder for both: their outputs must not collide
    workers = [start_worker(run_dir, storage, trials=6, seconds=0.6) for _ in range(2)]
    summaries = [finish(w) for w in workers]

    study = optuna.load_study(study_name="shared", storage=storage_url(TuneConfig(storage=storage), run_dir))
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6  # exact: running trials are counted, a surplus one never trains
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    assert all(t.user_attrs.get("surplus") for t in trials if t.state == TrialState.FAIL)
    assert len({params_key(t) for t in complete}) == 6  # no repeated draws among the start-up trials
    assert sum(s["trials_run_now"] for s in summaries) == 6
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # both did work

    # the outputs left in the folder are one consistent set, built from the storage
    summary = json.loads((run_dir / "tune_summary.json").read_text())
    assert summary["trials"]["complete"] == 6 and summary["best_value"] == study.best_value
    assert summary["best_model"]["path"] == str((run_dir / f"trial{study.best_trial.number}" / "model.pt").resolve())
    assert summary["best_model"]["on_this_machine"]
    with open(run_dir / "trials.csv") as f:
        assert len(list(csv.DictReader(f))) == len(trials)
    best = tomllib.loads((run_dir / "best_params.toml").read_text())
    assert best == pytest.approx(study.best_params) or best == study.best_params
    assert "Its model: " in (run_dir / "best_params.toml").read_text()
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*.tmp"))
    kept = sorted(p.parent.name for p in run_dir.glob("trial*/model.pt"))
    assert kept == [f"trial{study.best_trial.number}"]

    # another machine rebuilds the outputs from the storage alone
    other = tmp_path / "elsewhere"
    config = TuneConfig(storage=storage, study_name="shared", report_only=True)
    report = run_tuning(config, other, SPACE, None, "maximize", "shared")
    assert report["best_trial"] == study.best_trial.number and report["trials_run_now"] == 0
    assert report["best_model"]["path"] == summary["best_model"]["path"]
    assert (other / "best_params.toml").is_file() and (other / "trials.csv").is_file()


@pytest.mark.parametrize("grace", [2, 3600])
def test_a_killed_workers_trial_is_failed_and_retried(storage, tmp_path, grace):
    """Grace 2 s: the heartbeat finds the dead worker. Grace an hour: the restart on the same host sees that the
    worker process is gone and retries its trial at once; it waited out the grace period (probe Q), here longer
    than the test's timeout."""
    if grace > 2 and storage.startswith("postgres"):
        pytest.skip("the same host check on the other storage: its heartbeat case covers it")
    run_dir = tmp_path / "run"
    victim = start_worker(run_dir, storage, trials=3, seconds=120, grace=grace)
    url = storage_url(TuneConfig(storage=storage), run_dir)
    deadline = time.time() + 120
    running = []
    while time.time() < deadline and not running:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name="shared", storage=url)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except KeyError:  # the study is not created yet
            continue
    assert running, "the worker never started a trial"
    time.sleep(1.5)  # a heartbeat or two, and the trial folder with its checkpoint
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    killed = running[0]
    assert (run_dir / f"trial{killed.number}" / "checkpoint").is_dir()

    summary = finish(start_worker(run_dir, storage, trials=3, seconds=0.3, grace=grace))  # the restart
    study = optuna.load_study(study_name="shared", storage=url)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert trials[killed.number].state == TrialState.FAIL
    assert len([t for t in trials.values() if t.state == TrialState.COMPLETE]) == 3
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[killed.number].params  # the same point, evaluated again
    assert not (run_dir / f"trial{killed.number}" / "checkpoint").exists()  # the dead trial's state is cleaned
    assert summary["trials"]["retried"] == 1 and summary["trials"]["fail"] == 1


def test_concurrent_trials_draw_different_points(tmp_path):
    """Two workers with the same seed asking at the same moment: the old TPESampler(seed) gave both the same point."""
    config = TuneConfig(sampler_seed=42)
    first, second = (create_study(config, tmp_path, "maximize", "s") for _ in range(2))
    draws = []
    for _ in range(4):
        for study in (first, second):
            trial = study.ask()
            draws.append(json.dumps(suggest(trial, SPACE), sort_keys=True))
            study.tell(trial, 0.0)
    assert len(set(draws)) == len(draws)


def test_one_worker_repeats_itself_and_seeds_differ_per_trial(tmp_path):
    runs = []
    for name in ("a", "b"):
        study = optuna.create_study(sampler=TrialSeededTPESampler(7), direction="maximize")
        study.optimize(lambda t: sum(v for v in suggest(t, SPACE).values() if isinstance(v, float)), n_trials=12)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1] and len({json.dumps(p, sort_keys=True) for p in runs[0]}) == 12


def test_trial_budget_counts_running_and_queued_trials():
    study = optuna.create_study()
    first, second, third = study.ask(), study.ask(), study.ask()  # all RUNNING
    assert within_budget(study, first, 2) and within_budget(study, second, 2)
    assert not within_budget(study, third, 2)
    study.tell(first, state=TrialState.FAIL)  # a failed trial frees its place
    assert within_budget(study, third, 2)


def test_postgres_url_names_its_driver(monkeypatch):
    config = TuneConfig(storage="postgresql://u:p@db.example:5432/optuna")
    if importlib.util.find_spec("psycopg") is not None:
        assert storage_url(config, ".") == "postgresql+psycopg://u:p@db.example:5432/optuna"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match=r'pip install "psycopg\[binary\]"'):
        storage_url(config, ".")
    with pytest.raises(ImportError, match="psycopg"):
        storage_url(TuneConfig(storage="postgresql+psycopg://u@h/db"), ".")
    assert storage_url(TuneConfig(storage="sqlite:///x.db"), ".") == "sqlite:///x.db"


def test_an_interrupted_trial_is_queued_again_and_the_next_run_trains_it_first(tmp_path, caplog):
    """Ctrl-C inside trial 0: Optuna fails it; the rerun's first trial trains the same point (it was lost: the
    rerun drew new ones), and the summary counts it as retried. Optuna's traceback of it is not logged (the
    command ends with one line)."""
    calls = []

    def train_trial(trial, params, trial_dir):
        calls.append(dict(params))
        if len(calls) == 1:
            raise KeyboardInterrupt
        return -abs(params["lr"] - 1e-3)

    config = TuneConfig(trials=2, sampler_seed=3)
    with caplog.at_level(logging.INFO), pytest.raises(KeyboardInterrupt):
        run_tuning(config, tmp_path, SPACE, train_trial, "maximize", "interrupted")
    assert not [r for r in caplog.records if r.exc_info] and "trial 0 interrupted" in caplog.text
    summary = run_tuning(config, tmp_path, SPACE, train_trial, "maximize", "interrupted")
    assert calls[1] == calls[0] and len(calls) == 3
    assert summary["trials"]["fail"] == 1 and summary["trials"]["complete"] == 2 and summary["trials"]["retried"] == 1
    # the points of the study that was never interrupted: the replay took a trial number, not a draw (probe J: the
    # rerun's fresh trials were seeded one number on, and the uninterrupted study's second point was never drawn)
    reference = []
    run_tuning(config, tmp_path / "plain", SPACE, lambda t, p, d: reference.append(dict(p)) or 0.0, "maximize", "plain")
    assert calls[1:] == reference


def test_ctrl_c_after_a_finished_trial_writes_the_outputs_of_the_trials_so_far(tmp_path, monkeypatch):
    """Probe Y: Ctrl-C in trial 1, trial 0 finished: the folder had no trials.csv, best_params.toml or
    tune_summary.json until a rerun, while the docs say every worker rewrites them when it stops. Under a launch
    the main process then told the other processes (gone: the same Ctrl-C reached them) to stop following, and
    gloo's "Connection closed by peer" traceback replaced the one line: nothing is sent after a Ctrl-C."""
    import common.hpo

    sent = []
    monkeypatch.setattr(common.hpo, "broadcast_from_main", lambda value: sent.append(value) or value)
    calls = []

    def train_trial(trial, params, trial_dir):
        calls.append(dict(params))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return -abs(params["lr"] - 1e-3)

    with pytest.raises(KeyboardInterrupt):
        run_tuning(TuneConfig(trials=3, sampler_seed=3), tmp_path, SPACE, train_trial, "maximize", "interrupted")
    summary = json.loads((tmp_path / "tune_summary.json").read_text())
    assert summary["best_trial"] == 0 and summary["trials"]["complete"] == 1
    with (tmp_path / "trials.csv").open() as f:
        assert [row["state"] for row in csv.DictReader(f)] == ["COMPLETE", "FAIL", "WAITING"]  # queued again
    assert (tmp_path / "best_params.toml").is_file()
    assert len(sent) == 2 and None not in sent  # the two trials' parameters, no "stop following"
    run_tuning(TuneConfig(trials=3, sampler_seed=3), tmp_path, SPACE, train_trial, "maximize", "interrupted")
    assert sent[-1] is None  # a study that ends tells them
