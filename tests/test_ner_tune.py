"""NER's Optuna study (``competitions.ner.tune``): the shared study driving NER's own training."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, SHARED_VOCAB

BIO = ROOT / "tests" / "fixtures" / "ner_bio"


def data_args(tmp_path) -> list[str]:
    vocab = str(SHARED_VOCAB) if SHARED_VOCAB.is_dir() else str(tmp_path / "none")
    return ["--format", "bio", "--data-dir", str(BIO), "--train-file", "train.txt", "--dev-file", "dev.txt",
            "--test-file", "test.txt", "--hidden-size", "32", "--lstm-layers", "1", "--batch-size", "4",
            "--eval-batch-size", "4", "--warmup-ratio", "0", "--w2v-init", "false", "--max-train-minutes", "0",
            "--vocab", vocab]


def test_search_space_is_centred_on_the_runs_own_learning_rate_and_epochs():
    from common.config import parse_config
    from competitions.ner.config import NerConfig
    from competitions.ner.tune import search_space

    space = search_space(parse_config(NerConfig, []))  # the BiLSTM's 2e-3, 10 epochs
    assert space["learning_rate"] == ("float", pytest.approx(2e-3 / 3), pytest.approx(6e-3), True)
    assert space["epochs"] == ("int", 5, 15) and "logit_adjust_tau" not in space
    bert = parse_config(NerConfig, ["--model", "some/encoder", "--epochs", "3"])  # the shared rule's rate
    assert search_space(bert)["learning_rate"][1:3] == (pytest.approx(bert.learning_rate / 3),
                                                         pytest.approx(bert.learning_rate * 3))
    assert search_space(bert)["epochs"] == ("int", 1, 4)
    assert search_space(parse_config(NerConfig, ["--epochs", "1"]))["epochs"] == ("int", 1, 2)


def test_ner_study_trains_trials_and_its_best_params_file_reproduces_the_best_trial(tmp_path, capsys):
    """Two trials on the BIO fixture; ``ner.train --config best_params.toml`` (with the study's --limit, which the
    file leaves out) trains the best trial's model again: the same dev F1 to the last digit. A rerun adds only the
    missing trials; one with another fixed option is refused."""
    from competitions.ner import train, tune

    study = tmp_path / "study"
    # the rate and EMA fixed too (the fixture's 11 sentences learn nothing in 5 epochs at the BiLSTM's default rate,
    # or behind an EMA of 0.99): the trials draw dropout and FGM
    args = data_args(tmp_path) + ["--limit", "11", "--epochs", "5", "--learning-rate", "2e-2", "--ema-decay", "0",
                                  "--pruner", "none", "--run-dir", str(study)]
    result = tune.main(args + ["--trials", "2"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["best_value"] == result["best_value"]
    assert result["trials"]["complete"] == 2 and result["trials_run_now"] == 2
    assert "epochs" not in result["best_params"] and "dropout" in result["best_params"]  # fixed by its flag
    assert {json.loads((t / "config.json").read_text())["epochs"] for t in study.glob("trial[0-9]*")} == {5}
    values = [json.loads((t / "metrics.json").read_text())["best_metric"] for t in sorted(study.glob("trial[0-9]*"))]
    assert result["best_value"] == max(values) > 0  # dev micro-F1, maximised
    best = study / f"trial{result['best_trial']}"
    assert (best / "model.pt").is_file() and not (best / "checkpoint").exists()
    text = (study / "best_params.toml").read_text()
    assert "Use: python -m competitions.ner.train --config <this file>" in text and 'format = "bio"' in text

    again = train.main(["--config", str(study / "best_params.toml"), "--limit", "11", "--run-dir",
                        str(tmp_path / "final"), "--submission-dir", str(tmp_path / "sub")])
    assert json.loads((tmp_path / "final" / "metrics.json").read_text())["best_metric"] == result["best_value"]
    assert again["test_lines"] > 0

    assert tune.main(args + ["--trials", "3"])["trials_run_now"] == 1
    with pytest.raises(ValueError, match=r"this study was started with other options \(epochs 5 -> 2\)"):
        tune.main(args + ["--trials", "4", "--epochs", "2"])


def test_a_metric_dev_does_not_score_is_refused_before_a_study_folder_exists(tmp_path):
    """Probe AP: ``--metric-for-best-model eval_loss`` trained a trial's epoch before it failed, and the study folder
    kept the option, so the corrected rerun was refused as "started with other options"."""
    from competitions.ner import tune

    with pytest.raises(ValueError, match=r"--metric-for-best-model 'eval_loss': expected one of \['f1', 'precision', "
                                         r"'recall'\]"):
        tune.main(data_args(tmp_path) + ["--metric-for-best-model", "eval_loss", "--run-dir", str(tmp_path / "s")])
    assert not (tmp_path / "s").exists()
