"""examples/sentence_task.py, the plain-Task example of docs/adding-a-task.md: every shared command runs it."""

import csv
import json
import random

import pytest

from common.commands import cv, predict, train
from tests.conftest import SHARED_VOCAB

TINY = ["--hidden-size", "32", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64",
        "--batch-size", "16", "--epochs", "3", "--max-length", "24", "--report-to", "none"]


def _files(folder, seed=0):
    """Sentences holding 好 (1) or 坏 (0) among filler characters: a label the text decides."""
    rng = random.Random(seed)
    filler = "今天我们他们的是了在有这个人天气电影饭菜服务"

    def line(label):
        chars = [rng.choice(filler) for _ in range(rng.randint(4, 12))]
        chars.insert(rng.randrange(len(chars)), "好" if label else "坏")
        return "".join(chars)

    folder.mkdir(parents=True)
    for name, n in (("train", 96), ("dev", 32)):
        labels = [i % 2 for i in range(n)]
        (folder / f"{name}.tsv").write_text("".join(f"{line(y)}\t{y}\n" for y in labels), encoding="utf-8")
    (folder / "test.tsv").write_text("".join(f"{line(i % 2)}\n" for i in range(20)), encoding="utf-8")
    return folder


def _submission_ids(path):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "label"] and all(r[1] in ("0", "1") for r in rows[1:])
    return [r[0] for r in rows[1:]]


def test_train_predict_and_cv_of_a_task_given_as_a_module_path(tmp_path):
    data = _files(tmp_path / "data")
    flags = ["--task", "examples.sentence_task", *TINY, "--data-dir", str(data), "--vocab", str(SHARED_VOCAB),
             "--submission-dir", str(tmp_path / "sub")]
    result = train.main([*flags, "--run-dir", str(tmp_path / "runs" / "one")])
    test_ids = [f"test-{i}" for i in range(1, 21)]
    assert _submission_ids(result["submission"]) == test_ids
    assert 0.0 <= result["valid"]["accuracy"] <= 1.0 and "threshold" in result["thresholds"]
    again = predict.main(["--task", "examples.sentence_task", "--run", str(tmp_path / "runs" / "one"),
                          "--submission-dir", str(tmp_path / "sub2")])
    assert again["valid"] == result["valid"]  # the model reloads as trained
    with pytest.raises(ValueError, match="--posthoc-tau 1: task sentence has no logit adjustment"):
        predict.main(["--task", "examples.sentence_task", "--run", str(tmp_path / "runs" / "one"),
                      "--posthoc-tau", "1"])
    assert not (tmp_path / "runs" / "one-posthoc1").exists()
    folds = cv.main([*flags, "--folds", "2", "--run-dir", str(tmp_path / "runs" / "cv2")])
    assert _submission_ids(folds["submission"]) == test_ids
    oof = json.loads((tmp_path / "runs" / "cv2" / "cv_metrics.json").read_text(encoding="utf-8"))
    assert oof["n_folds"] == 2 and {"accuracy", "auc"} <= set(oof["cv"])  # OOF over the 128 labelled rows


def test_tune_names_the_module_path_and_refuses_a_task_without_a_search_space(tmp_path, monkeypatch):
    """best_params.toml said ``--task sentence``, which no registry knows; a task declaring no space ran N
    identical trials."""
    from common.commands import tune
    from examples.sentence_task import TASK

    data = _files(tmp_path / "data")
    flags = ["--task", "examples.sentence_task", *TINY, "--data-dir", str(data), "--vocab", str(SHARED_VOCAB),
             "--submission-dir", str(tmp_path / "sub"), "--trials", "1"]
    tune.main([*flags, "--run-dir", str(tmp_path / "tune")])
    assert "--task examples.sentence_task --config" in (tmp_path / "tune" / "best_params.toml").read_text()
    monkeypatch.setattr(TASK, "search_space", {})
    with pytest.raises(ValueError, match="declares no search_space"):
        tune.main([*flags, "--run-dir", str(tmp_path / "tune2")])


def test_a_plain_task_whose_reader_repeats_a_test_id_is_refused(tmp_path):
    """The Task base class checks every subclass's test set: a probe's own task, reading ids from a column, wrote
    a repeated id into its submission (exit 0)."""
    from examples.sentence_task import TASK, Sentence, SentenceTask

    class Repeating(SentenceTask):
        def load_test(self, config, path):
            return [Sentence("t1", "好天气", None), Sentence("t2", "坏天气", None), Sentence("t1", "好", None)]

    assert getattr(Repeating.load_test, "_checks_test_ids", False)
    config = TASK.config_class(data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"x.tsv: test id 't1' on rows 1 and 3; expected one id per test row"):
        Repeating().load_test(config, str(tmp_path / "x.tsv"))
    data = _files(tmp_path / "data")
    assert len(TASK.load_data(TASK.config_class(data_dir=str(data))).test) == 20  # unique: read as before
