"""k-fold end to end on slices: Sohu (real data) and Xiaobu (fixtures): OOF, averaged submission, resume."""

import hashlib
import json
import os
from pathlib import Path

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
    # how the submission decides: a fold's export says it (probe V: it gave no thresholds, the folds hold none)
    from common.export import decision

    assert json.loads((run / "cv_metrics.json").read_text())["thresholds"] == result["thresholds"]
    assert decision(run / "fold1")["thresholds"] == result["thresholds"] and {"A", "B"} <= set(result["thresholds"])
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
    # a rerun with another setting would keep these folds under its own config.json: refused, nothing written
    saved = (run / "config.json").read_bytes()
    with pytest.raises(ValueError, match=r"config.json: this k-fold run was started with other options "
                                         r"\(learning_rate 0.0009 -> 0.002; seed 42 -> 7\)"):
        cv.main(args + ["--seed", "7", "--learning-rate", "0.002"])
    assert (run / "config.json").read_bytes() == saved and _fold_mtimes(run) == after
    # where things go and which folds to run now may change (RERUN_FREE)
    assert cv.main(args + ["--only-folds", "0", "--eval-batch-size", "8"])["complete"]
    assert _fold_mtimes(run) == after
    # the TF-IDF reference scored out-of-fold on the same saved folds
    from competitions.xiaobu import baseline

    common = ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv",
              "--submission-dir", str(tmp_path / "sub"), "--folds-from", str(run)]
    ref = baseline.main(common)
    assert sorted(ref["oof"]["folds"]) == [0, 1, 2] and 0 <= ref["oof"]["auc"] <= 1
    (tmp_path / "short.tsv").write_text("".join(open(fixtures / "train.tsv").readlines()[:40]))
    with pytest.raises(ValueError, match="folds for 48 pairs"):
        baseline.main(common[:2] + ["--train-file", str(tmp_path / "short.tsv")] + common[4:])


def test_a_kfold_run_predicts_anew_without_being_written(tmp_path):
    """``predict --run <k-fold run>``: swap TTA as a new k-fold run folder (against each fold model's own
    predictions of both orders), another test file as the fold mean, the trained run's files byte for byte as before."""
    from accelerate import Accelerator
    from sklearn.metrics import roc_auc_score

    from common.commands import cv, predict
    from common.ensemble import check_members, load_member
    from common.task import get_task

    fixtures = ROOT / "tests" / "fixtures" / "xiaobu"
    run = tmp_path / "cv"
    first = cv.main(["--task", "xiaobu"] + TINY + ["--data-dir", str(fixtures), "--train-file", "train.tsv",
                                                   "--test-file", "test.tsv", "--run-dir", str(run), "--tta-swap",
                                                   "false", "--submission-dir", str(tmp_path / "sub")])  # one order
    trained = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    submitted = Path(first["submission"]).read_bytes()
    Path(first["submission"]).unlink()  # lost: predict writes it again from the saved fold mean
    again = predict.main(["--task", "xiaobu", "--run", str(run)])
    assert again["submission"] == first["submission"] and Path(again["submission"]).read_bytes() == submitted
    assert again["cv"] == first["cv"]

    result = predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true"])
    tta = tmp_path / "cv-tta"
    assert result["run_dir"] == str(tta) and json.loads((tta / "config.json").read_text())["tta_swap"]
    before, after = np.load(run / "oof.npz"), np.load(tta / "oof.npz")
    for key in ("ids", "labels", "fold"):
        assert np.array_equal(before[key], after[key])
    task, accelerator = get_task("xiaobu"), Accelerator(cpu=True)
    config = task.config_class(data_dir=str(fixtures), train_file="train.tsv", test_file="test.tsv")
    pool = task.cv_pool(config, task.load_data(config))
    for k in range(3):
        fold_config, model = predict.load_run(task, run / f"fold{k}")
        held = [pool[i] for i in np.flatnonzero(after["fold"] == k)]
        plain = predict.probabilities(task, fold_config, model, held, accelerator)
        swapped = predict.probabilities(task, fold_config, model, task.swapped(held), accelerator)
        np.testing.assert_allclose(plain, before["oof"][after["fold"] == k], rtol=1e-5)
        np.testing.assert_allclose(after["oof"][after["fold"] == k], (plain + swapped) / 2, rtol=1e-5)
    assert result["cv"]["auc"] == pytest.approx(roc_auc_score(after["labels"], after["oof"]))
    assert Path(result["submission"]).name == f"cv-tta-test-cv{result['cv']['auc']:.4f}.txt"
    assert validate_probability_file(result["submission"], 16) == 16
    tests = np.load(tta / "test_predictions.npz")
    assert tests["per_fold"].shape == (3, 16) and np.allclose(tests["test"], tests["per_fold"].mean(axis=0))
    check_members([load_member(run), load_member(tta)])  # an ensemble member on the run's folds
    marks = {p: p.stat().st_mtime_ns for p in tta.glob("fold*/predictions.npz")}
    assert predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true"])["cv"] == result["cv"]
    assert {p: p.stat().st_mtime_ns for p in tta.glob("fold*/predictions.npz")} == marks  # done folds kept
    stale = tta / "fold1" / "predictions.npz"  # fold models newer than its predictions: refused, not mixed
    os.utime(stale, ns=(0, 0))
    with pytest.raises(ValueError, match="older than .*fold1/model.pt"):
        predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true"])
    os.utime(stale)

    other = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", str(fixtures / "test.tsv"),
                          "--submission-dir", str(tmp_path / "other")])
    probs = np.load(other["submission"].rsplit(".", 1)[0] + ".probabilities.npz")
    np.testing.assert_allclose(probs["test_probs"], np.load(run / "test_predictions.npz")["test"], rtol=1e-5)
    assert validate_probability_file(other["submission"], 16) == 16
    # another file named like the run's own test file: its own submission name, the run's submission kept
    own = {p: p.read_bytes() for p in (tmp_path / "sub").iterdir()}
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "test.tsv").write_text("".join(open(fixtures / "test.tsv").readlines()[:8]))
    foreign = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", str(tmp_path / "foreign" / "test.tsv")])
    digest = hashlib.sha256((tmp_path / "foreign" / "test.tsv").read_bytes()).hexdigest()[:8]
    assert Path(foreign["submission"]).name == f"cv-test-{digest}-cv{other['cv']['auc']:.4f}.txt"
    assert validate_probability_file(foreign["submission"], 8) == 8
    assert {p: p.read_bytes() for p in own} == own
    # a relative --test-file is read under the data folder, as training's: the run's own file, no digest
    relative = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", "test.tsv",
                             "--submission-dir", str(tmp_path / "relative")])
    assert Path(relative["submission"]).name == f"cv-test-cv{other['cv']['auc']:.4f}.txt"
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == trained


def test_a_test_file_edited_since_the_run_is_predicted_anew_never_served_stale(tmp_path, monkeypatch):
    """Xiaobu's test ids count lines, so a test file edited after a k-fold run keeps its ids: ``predict --run``
    predicts it with the fold models (not the saved fold mean of the old file), and an ensemble, a teacher
    or a resumed k-fold run refuse the old predictions (:meth:`Task.examples_digest`)."""
    import shutil

    from common.commands import cv, ensemble, predict

    data = tmp_path / "data"
    shutil.copytree(ROOT / "tests" / "fixtures" / "xiaobu", data)
    run = tmp_path / "cv"
    base = ["--task", "xiaobu"] + TINY + ["--data-dir", str(data), "--train-file", "train.tsv", "--test-file",
                                          "test.tsv", "--tta-swap", "false", "--submission-dir", str(tmp_path / "sub")]
    first = cv.main(base + ["--run-dir", str(run)])
    old = np.load(run / "test_predictions.npz")["test"]
    lines = (data / "test.tsv").read_text().splitlines(keepends=True)
    (data / "test.tsv").write_text("".join(lines[1:] + lines[:1]))  # each line's pair moves up one: same ids
    trained = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}

    first_bytes = Path(first["submission"]).read_bytes()
    again = predict.main(["--task", "xiaobu", "--run", str(run)])
    from common.commands.predict import content_digest  # named by its content: the run's own submission stays (probe
    digest = content_digest(data / "test.tsv")  # AK: a replaced test file's submission overwrote it)
    assert Path(again["submission"]).name == f"cv-test-{digest}-cv{first['cv']['auc']:.4f}.txt"
    assert Path(first["submission"]).read_bytes() == first_bytes
    probs = np.load(Path(again["submission"]).with_suffix(".probabilities.npz"))["test_probs"]
    np.testing.assert_allclose(probs, np.roll(old, -1), rtol=1e-5)  # the fold models on the file as it is now
    assert not np.allclose(probs, old)
    lines_out = Path(again["submission"]).read_text().split()
    assert [float(x) for x in lines_out] == pytest.approx(np.roll(old, -1).tolist(), rel=1e-4)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == trained
    again_bytes = Path(again["submission"]).read_bytes()
    # probe AN: --test-file naming the run's own (edited) file overwrote the run's own submission with its rows
    named = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", "test.tsv"])
    assert named["submission"] == again["submission"] and Path(first["submission"]).read_bytes() == first_bytes
    # probe AN: another setting on the edited file: its folder holds the file as it is now, said and named so; the
    # file restored, that folder's fold predictions are made again, not refused ("restore the file", already done)
    tta = predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true"])
    assert Path(tta["submission"]).name.startswith(f"cv-tta-test-{digest}-cv")
    (data / "test.tsv").write_text("".join(lines))
    tta_restored = predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true"])
    assert Path(tta_restored["submission"]).name.startswith("cv-tta-test-cv") and tta_restored["cv"] == tta["cv"]
    assert Path(tta["submission"]).is_file()  # the edited file's submission is kept beside it
    (data / "test.tsv").write_text("".join(lines[1:] + lines[:1]))
    from common.task import get_task  # a task whose submissions do not name the test file: still the own name

    monkeypatch.setattr(type(get_task("xiaobu")), "test_in_name", False)
    unnamed = predict.main(["--task", "xiaobu", "--run", str(run)])
    assert Path(unnamed["submission"]).name == Path(again["submission"]).name  # an edited file is named anyway
    monkeypatch.undo()
    rotated = (data / "test.tsv").read_text()  # a row more (other ids): predicted anew too, not refused
    (data / "test.tsv").write_text(rotated + lines[0])
    assert predict.main(["--task", "xiaobu", "--run", str(run)])["rows"] == 17
    (data / "test.tsv").write_text(rotated)

    with pytest.raises(ValueError, match="another test set .*same ids, other content"):
        ensemble.main(["--task", "xiaobu", "--runs", str(run), "--run-dir", str(tmp_path / "ens")])
    with pytest.raises(ValueError, match="another test set .*same ids, other content"):
        cv.main(base + ["--run-dir", str(tmp_path / "pseudo"), "--pseudo-from", str(run)])
    (data / "test.tsv").write_text("".join(lines))  # restored: the saved submission again
    restored = predict.main(["--task", "xiaobu", "--run", str(run)])
    assert restored["submission"] == first["submission"] and Path(restored["submission"]).read_bytes() == first_bytes
    # an ensemble with a tfidf member, built on the file as it was
    ensemble.main(["--task", "xiaobu", "--runs", str(run), "tfidf", "--run-dir", str(tmp_path / "ens2")])
    (data / "test.tsv").write_text(rotated)  # edited again: the tfidf member cannot be fitted the same way
    with pytest.raises(ValueError, match=r"tfidf member was fitted with that file's texts.*restore the file"):
        predict.main(["--task", "xiaobu", "--run", str(tmp_path / "ens2")])
    with pytest.raises(ValueError, match=r"tfidf member was fitted with that file's texts.*restore the file"):
        predict.main(["--task", "xiaobu", "--run", str(tmp_path / "ens2"), "--test-file",  # probe AN: advised
                      str(ROOT / "tests" / "fixtures" / "xiaobu" / "test.tsv")])  # --refresh, which cannot help

    copy = tmp_path / "cv-copy"  # a copy names its own submissions, never the original's
    shutil.copytree(run, copy)
    copied = predict.main(["--task", "xiaobu", "--run", str(copy)])
    assert Path(copied["submission"]).name == Path(again["submission"]).name.replace("cv-", "cv-copy-", 1)
    assert again_bytes == Path(copied["submission"]).read_bytes()

    (run / "oof.npz").unlink()  # a k-fold run resumed now: its folds predicted the old file
    (run / "fold2" / "predictions.npz").unlink()  # and one fold left to train: refused before it trains
    with pytest.raises(ValueError, match=r"folds \[0, 1\] predicted another test set.*restore the file"):
        cv.main(base + ["--run-dir", str(run)])
    assert not (run / "fold2" / "predictions.npz").exists() and not (run / "oof.npz").exists()


def test_a_training_file_edited_since_the_run_is_refused_wherever_its_folds_are_used(tmp_path):
    """Training ids count lines too: a training file edited after a k-fold run (same ids, other texts) made a
    rerun of the command score the old fold models' OOF predictions as the new data's, with a new CV score and
    submission (probe I). ``folds.json`` keeps the pool's digest: a rerun, ``predict --run``, an ensemble and a
    teacher refuse other rows, before anything trains or is written; a run saved before the digest still works."""
    import json
    import shutil

    from common.commands import cv, ensemble, predict, train

    data = tmp_path / "data"
    shutil.copytree(ROOT / "tests" / "fixtures" / "xiaobu", data)
    run = tmp_path / "cv"
    base = ["--task", "xiaobu"] + TINY + ["--data-dir", str(data), "--train-file", "train.tsv", "--test-file",
                                          "test.tsv", "--submission-dir", str(tmp_path / "sub"), "--tta-swap", "false"]
    first = cv.main(base + ["--run-dir", str(run)])
    assert json.loads((run / "folds.json").read_text())["pool_digest"]
    original = (data / "train.tsv").read_text()
    lines = original.splitlines(keepends=True)
    a, b, label = lines[0].rstrip("\n").split("\t")
    (data / "train.tsv").write_text("".join([f"{b}\t{a}\t{label}\n"] + lines[1:]))  # one pair's texts swapped
    trained = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    refused = r"folds.json: made on other labelled rows than .* holds now \(same ids, other texts or labels"
    with pytest.raises(ValueError, match=refused):
        cv.main(base + ["--run-dir", str(run)])
    with pytest.raises(ValueError, match=refused):
        predict.main(["--task", "xiaobu", "--run", str(run)])
    with pytest.raises(ValueError, match=refused):
        ensemble.main(["--task", "xiaobu", "--runs", str(run), "--run-dir", str(tmp_path / "ens")])
    with pytest.raises(ValueError, match=refused):
        cv.main(base + ["--run-dir", str(tmp_path / "pseudo"), "--pseudo-from", str(run)])
    with pytest.raises(ValueError, match=refused):  # under another inference setting too (probe K)
        predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true"])
    with pytest.raises(ValueError, match=refused):  # a student on part of the files (probe K)
        train.main([a for a in base if a not in ("--folds", "3")]
                   + ["--run-dir", str(tmp_path / "student"), "--distill-from", str(run), "--limit", "30"])
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == trained
    assert not any((tmp_path / name).exists() for name in ("ens", "pseudo", "cv-tta", "student"))

    (data / "train.tsv").write_text(original)  # restored: the run is its own again
    assert cv.main(base + ["--run-dir", str(run)])["cv"] == first["cv"]
    assert predict.main(["--task", "xiaobu", "--run", str(run)])["submission"] == first["submission"]
    shutil.copytree(data, tmp_path / "moved")  # the same rows in another folder (a remount, another machine)
    moved = [str(tmp_path / "moved") if a == str(data) else a for a in base]
    assert cv.main(moved + ["--run-dir", str(run)])["cv"] == first["cv"]
    assert cv.main(base + ["--run-dir", str(run)])["cv"] == first["cv"]  # and back
    folds = json.loads((run / "folds.json").read_text())
    del folds["pool_digest"]  # a run saved before the digest: not checked
    (run / "folds.json").write_text(json.dumps(folds))
    ensemble.main(["--task", "xiaobu", "--runs", str(run), "--run-dir", str(tmp_path / "ens-old")])
    (data / "train.tsv").write_text("".join([f"{b}\t{a}\t{label}\n"] + lines[1:]))
    assert cv.main(base + ["--run-dir", str(run)])["complete"]
    # an ensemble of it records the rows it was checked on: a teacher made of it is checked (probe K)
    with pytest.raises(ValueError, match=refused):
        cv.main(base + ["--run-dir", str(tmp_path / "pseudo-old"), "--pseudo-from", str(tmp_path / "ens-old")])


def test_folds_cut_by_the_time_budget_are_named(tmp_path):
    """--max-train-minutes cuts each fold, whose predictions then mark it done: the result and the log name the cut
    folds (a probe resumed such a run with the budget off and nothing trained, without a word)."""
    from common.commands import cv

    fixtures = ROOT / "tests" / "fixtures" / "xiaobu"
    result = cv.main(["--task", "xiaobu"] + TINY + ["--data-dir", str(fixtures), "--train-file", "train.tsv",
                                                    "--test-file", "test.tsv", "--run-dir", str(tmp_path / "cv"),
                                                    "--submission-dir", str(tmp_path / "sub"), "--epochs", "2",
                                                    "--max-train-minutes", "1e-9"])
    assert result["complete"] and result["folds_cut_by_budget"] == [0, 1, 2]
