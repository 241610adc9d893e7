"""End to end on a slice of the real Sohu data: train, predict, validate the submission."""

import json

import pytest

from common.submission import validate_submission_file
from tests.conftest import DATA, SHARED_VOCAB

SOHU = DATA / "sohu2021"
pytestmark = pytest.mark.skipif(not (SOHU / "sohu2021_open_data_clean").is_dir(),
                                reason=f"real Sohu data not linked at {SOHU}")


def test_train_predict_and_submission(tmp_path, capsys):
    from competitions.sohu import predict, train

    vocab = ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]
    args = ["--data-dir", str(SOHU), "--run-dir", str(tmp_path / "run"), "--submission-dir", str(tmp_path / "sub"),
            "--limit", "48", "--epochs", "2", "--batch-size", "16", "--max-length", "48",
            "--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
            "--fgm-epsilon", "0.5", "--ema-decay", "0.9", "--eval-batch-size", "256", "--blend-with", ""] + vocab
    result = train.main(args)
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["submission"] == result["submission"]
    run = tmp_path / "run"
    for name in ("config.json", "metrics.json", "model.pt", "thresholds.json", "train.log", "checkpoint"):
        assert (run / name).exists(), name
    assert set(result["thresholds"]) == {"A", "B"} and 0 <= result["valid"]["score"] <= 1
    sample = SOHU / "sohu2021_open_data_clean" / "sample_submission.csv"
    assert validate_submission_file(result["submission"], sample) == 29822
    # absent subtasks (no data here) are filled and reported
    assert result["filled_ids"] == 29822 - 4934 - 4930 and len(result["missing_subtasks"]) == 4
    again = predict.main(["--run", str(run), "--submission-dir", str(tmp_path / "sub2")])
    assert again["valid"] == result["valid"]  # same weights, same data, same metrics
    assert open(again["submission"]).read() == open(result["submission"]).read()
