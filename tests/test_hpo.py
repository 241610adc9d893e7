"""common.hpo: search space, resumable storage, pruning callback, override file; a tiny tuning run end to end."""

import json
import tomllib
from types import SimpleNamespace

import optuna
import pytest

from common.hpo import (OptunaPruning, TuneConfig, create_study, finished_trials, run_study, suggest,
                        toml_overrides)

optuna.logging.set_verbosity(optuna.logging.WARNING)
SPACE = {"lr": ("float", 1e-4, 1e-2, True), "layers": ("int", 1, 4), "act": ("categorical", ["gelu", "relu"])}


def objective(trial):
    params = suggest(trial, SPACE)
    return -abs(params["lr"] - 1e-3) - 0.01 * params["layers"] + (params["act"] == "gelu")


def test_suggest_draws_inside_the_space(tmp_path):
    study = create_study(TuneConfig(), tmp_path, "maximize", "s")
    trial = study.ask()
    params = suggest(trial, SPACE)
    assert 1e-4 <= params["lr"] <= 1e-2 and params["layers"] in range(1, 5) and params["act"] in ("gelu", "relu")
    with pytest.raises(ValueError, match="kind"):
        suggest(study.ask(), {"x": ("normal", 0, 1)})


def test_resumed_study_continues_the_trial_count(tmp_path):
    config = TuneConfig(trials=3, sampler_seed=7)
    first = create_study(config, tmp_path, "maximize", "resume-me")
    assert run_study(first, objective, 3) == 3
    assert (tmp_path / "study.db").is_file()
    config.trials = 5
    again = create_study(config, tmp_path, "maximize", "resume-me")  # a new process, same storage
    assert finished_trials(again) == 3
    assert run_study(again, objective, config.trials) == 2  # only the missing ones
    assert [t.number for t in again.trials] == [0, 1, 2, 3, 4]
    assert run_study(create_study(config, tmp_path, "maximize", "resume-me"), objective, 5) == 0


def test_seeded_sampler_repeats_its_draws(tmp_path):
    runs = []
    for name in ("a", "b"):
        study = create_study(TuneConfig(sampler_seed=3), tmp_path / name, "maximize", name)
        run_study(study, objective, 4)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_pruning_callback_reports_epochs_and_stops_the_trial(tmp_path):
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    callback = OptunaPruning(trial, "auc")
    trainer = SimpleNamespace(state={"history": []})  # the trainer calls on_evaluate with the record appended
    for record in ({"epoch": 0.5, "auc": 0.8}, {"epoch": 1, "auc": 0.7}):  # --eval-every-steps: one inside epoch 1
        trainer.state["history"].append(record)
        callback.on_evaluate(trainer, record)
    trainer.state["history"].append({"epoch": 1.5, "auc": 0.4})
    with pytest.raises(optuna.TrialPruned):
        callback.on_evaluate(trainer, trainer.state["history"][-1])
    # reported at the evaluation's number (the epoch when only epoch ends are evaluated)
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {1: 0.8, 2: 0.7, 3: 0.4}


def test_override_file_round_trips():
    text = toml_overrides({"learning_rate": 3e-4, "epochs": 2, "use_match": False, "pooling": "cls"}, "best\nof 3")
    assert tomllib.loads(text) == {"learning_rate": 3e-4, "epochs": 2, "use_match": False, "pooling": "cls"}
    assert text.startswith("# best\n# of 3\n")
    lists = {"ngram_probs": [0.7, 0.2, 0.1], "extra_files": ["a.tsv", "测试.tsv"]}  # a study's list options
    assert tomllib.loads(toml_overrides(lists, "")) == lists
    for bad in ({"x": {"a": 1}}, {"x": [True]}, {"x": None}):
        with pytest.raises(TypeError):
            toml_overrides(bad, "")


def test_tiny_sohu_tuning_run_end_to_end(tmp_path, capsys):
    from common.config import explicit_values, parse_config
    from common.commands import tune
    from competitions.sohu.config import SohuConfig
    from tests.conftest import DATA, SHARED_VOCAB

    sohu = DATA / "sohu2021"
    if not (sohu / "sohu2021_open_data_clean").is_dir():
        pytest.skip(f"real Sohu data not linked at {sohu}")
    vocab = ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]
    # --epochs: fixed by its flag for every trial, out of the search (the trial's draw overrode it)
    args = ["--task", "sohu", "--data-dir", str(sohu), "--run-dir", str(tmp_path / "tune"), "--epochs", "1",
            "--limit", "32", "--max-length", "32",
            "--batch-size", "16", "--num-layers", "1", "--hidden-size", "32", "--num-heads", "2",
            "--intermediate-size", "64", "--eval-batch-size", "256", "--trials", "3", "--pruner-startup-trials", "1"] + vocab
    result = tune.main(args)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["best_value"] == result["best_value"]
    assert result["trials"]["complete"] + result["trials"]["pruned"] == 3 and result["trials_run_now"] == 3
    run = tmp_path / "tune"
    for name in ("study.db", "best_params.toml", "trials.csv", "optimization_history.png", "tune_summary.json"):
        assert (run / name).is_file(), name
    assert (run / "optimization_history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the override file is accepted by the train command and sets the best trial's values
    config = parse_config(SohuConfig, ["--config", str(run / "best_params.toml")])
    for name, value in result["best_params"].items():
        assert getattr(config, name) == pytest.approx(value)
    assert "epochs" not in result["best_params"] and "learning_rate" in result["best_params"]
    assert {json.loads((t / "config.json").read_text())["epochs"] for t in run.glob("trial[0-9]*")} == {1}
    best = run / f"trial{result['best_trial']}"
    assert (best / "model.pt").is_file() and not (best / "checkpoint").exists()
    assert json.loads((best / "metrics.json").read_text())["best_metric"] == pytest.approx(result["best_value"])
    assert "epochs = 1" in (run / "best_params.toml").read_text() and config.epochs == 1  # the fixed option too
    # and the study's other options (probes AJ, AK): the file alone trains the best trial's setting, on every row
    assert (config.max_length, config.hidden_size, config.data_dir, config.limit) == (32, 32, str(sohu), 0)
    assert "the study's --limit 32 is not in it: this trains on every row" in (run / "best_params.toml").read_text()
    # a rerun with more trials adds only the missing one; with another fixed option it is refused
    with pytest.raises(ValueError, match=r"this study was started with other options \(epochs 1 -> 2\)"):
        tune.main(args + ["--epochs", "2", "--trials", "4"])
    again = tune.main(args[:-4] + ["--trials", "4", "--pruner-startup-trials", "1"] + vocab)
    assert again["trials_run_now"] == 1
    # an option a --config file sets is fixed as its flag is
    override = tmp_path / "fixed.toml"
    override.write_text("epochs = 1\ndropout = 0.1\n")
    assert list(explicit_values(SohuConfig, ["--limit", "3", "--config", str(override)])) == ["epochs", "dropout",
                                                                                             "limit"]


@pytest.mark.parametrize("fields, message", [({"trials": 0}, r"--trials 0: expected >= 1"),
                                             ({"pruner": "hyperband"}, r"--pruner 'hyperband': expected median or none"),
                                             ({"heartbeat_grace": 30}, r"--heartbeat-grace 30: expected above")])
def test_tuning_options_no_study_can_use_are_refused(fields, message):
    """--trials 0 made a study and a summary of nothing; a tune config combined with a task's runs its checks too."""
    from common.commands.args import compound_config
    from competitions.xiaobu.config import XiaobuConfig

    with pytest.raises(ValueError, match=message):
        TuneConfig(**fields)
    with pytest.raises(ValueError, match=r"--epochs 0: expected >= 1"):
        compound_config("XiaobuTune", TuneConfig, XiaobuConfig)(epochs=0)


def test_a_joint_xiaobu_study_does_not_draw_logit_adjustment():
    """Probe AJ: ``tune --task xiaobu --joint true`` drew logit_adjust_tau for every trial, which the joint variant
    refuses: trial 0 failed, blaming a flag the user never gave."""
    from competitions.xiaobu.config import XiaobuConfig
    from competitions.xiaobu.task import TASK

    assert "logit_adjust_tau" in TASK.search_space_for(XiaobuConfig())
    joint = TASK.search_space_for(XiaobuConfig(joint=True))
    assert "logit_adjust_tau" not in joint and set(joint) == set(TASK.search_space) - {"logit_adjust_tau"}


@pytest.mark.parametrize("url, message", [("bogus://x", r"--storage bogus://\.\.\.: SQLAlchemy has no 'bogus' database"),
                                          ("notaurl", r"--storage 'notaurl': not a database URL")])
def test_a_storage_url_sqlalchemy_cannot_open_is_one_line(url, message):
    """Probe AJ: ``--storage bogus://x`` ended in a traceback of SQLAlchemy's NoSuchModuleError (exit 1)."""
    from common.hpo import TuneConfig, storage_url

    with pytest.raises(ValueError, match=message):
        storage_url(TuneConfig(storage=url), "runs")
