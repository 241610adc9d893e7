"""k-fold end to end on slices: Sohu (real data) and Xiaobu (fixtures): OOF, averaged submission, resume."""

import json

import numpy as np
import pytest

from common.submission import validate_probability_file, validate_submission_file
from tests.conftest import DATA, ROOT, SHARED_VOCAB

TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
        "--batch-size", "16", "--epochs", "1", "--folds", "3"]


def _fold_mtimes(run):
    return {p.name: (p / "model.pt").stat().st_mtime_ns for p in sorted(run.glob("fold[0-9]*"))}


def test_sohu_cv_writes_oof_and_a_fold_averaged_submission(tmp_path):
    from common.commands import cv

    sohu = DATA / "sohu2021"
    if not (sohu / "sohu2021_open_data_clean").is_dir():
        pytest.skip(f"real Sohu data not linked at {sohu}")
    vocab = ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]
    run = tmp_path / "cv"
    args = ["--task", "sohu"] + TINY + ["--data-dir", str(sohu), "--run-dir", str(run), "--submission-dir", str(tmp_path / "sub"),
                   "--limit", "30", "--max-length", "40", "--eval-batch-size", "512",
                   "--logit-adjust-tau", "1.0"] + vocab
    result = cv.main(args)
    assert result["complete"] and sorted(result["folds"]) == [0, 1, 2]
    oof = np.load(run / "oof.npz")
    assert len(oof["ids"]) == 2 * 2 * 30 and len(set(oof["ids"].tolist())) == 120  # train+valid, A and B
    assert set(oof["fold"].tolist()) == {0, 1, 2} and ((oof["oof"] >= 0) & (oof["oof"] <= 1)).all()
    assert 0 <= result["cv"]["score"] <= 1 and f"cv{result['cv']['score']:.4f}" in result["submission"]
    sample = sohu / "sohu2021_open_data_clean" / "sample_submission.csv"
    assert validate_submission_file(result["submission"], sample) == result["rows"] == 29822
    test = np.load(run / "test_predictions.npz")
    assert np.allclose(test["test"], test["per_fold"].mean(axis=0))
    assert json.loads((run / "fold0" / "label_prior.json").read_text())  # logit adjustment had its priors
    before = _fold_mtimes(run)
    again = cv.main(args)  # rerun: every fold done, nothing retrained, same score
    assert _fold_mtimes(run) == before and again["cv"] == result["cv"]


def test_xiaobu_cv_writes_oof_and_a_probability_submission(tmp_path):
    from common.commands import cv

    fixtures = ROOT / "tests" / "fixtures" / "xiaobu"
    run = tmp_path / "cv"
    args = ["--task", "xiaobu"] + TINY + ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv",
                   "--run-dir", str(run), "--submission-dir", str(tmp_path / "sub"), "--max-train-minutes", "0"]
    result = cv.main(args)
    assert result["complete"] and 0 <= result["cv"]["auc"] <= 1
    oof = np.load(run / "oof.npz")
    assert oof["ids"].tolist() == [f"train:{i}" for i in range(48)]
    assert validate_probability_file(result["submission"], 16) == result["rows"] == 16
    # crash simulation: drop one fold's marker and its model; the rerun retrains only that fold
    (run / "fold1" / "predictions.npz").unlink()
    before = _fold_mtimes(run)
    again = cv.main(args)
    after = _fold_mtimes(run)
    assert after["fold0"] == before["fold0"] and after["fold2"] == before["fold2"] and after["fold1"] != before["fold1"]
    assert again["complete"] and again["rows"] == 16
    # the TF-IDF reference scored out-of-fold on the same saved folds
    from competitions.xiaobu import baseline

    common = ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv",
              "--submission-dir", str(tmp_path / "sub"), "--folds-from", str(run)]
    ref = baseline.main(common)
    assert sorted(ref["oof"]["folds"]) == [0, 1, 2] and 0 <= ref["oof"]["auc"] <= 1
    (tmp_path / "short.tsv").write_text("".join(open(fixtures / "train.tsv").readlines()[:40]))
    with pytest.raises(ValueError, match="folds for 48 pairs"):
        baseline.main(common[:2] + ["--train-file", str(tmp_path / "short.tsv")] + common[4:])
