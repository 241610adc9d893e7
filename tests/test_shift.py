"""Adversarial validation (common.shift, common.commands.shift): near 0.5 when the test pairs are drawn as the training
pairs are, near 1 when they differ, with the n-gram that differs listed first; id texts; text-grouped folds; the
command's files on the first rows of STS-B."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from common.shift import adversarial_validation, pairs_digest
from tests.test_pair_graded import needs_stsb, stsb_tree

ALPHABET = list("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后")


def random_pairs(rng, n, extra=""):
    def text():
        return "".join(rng.choice(ALPHABET, rng.integers(6, 14))) + extra
    return [(text(), text()) for _ in range(n)]


def test_pairs_drawn_alike_score_near_half():
    rng = np.random.default_rng(0)
    pairs = random_pairs(rng, 500)
    report = adversarial_validation(pairs[:350], pairs[350:], rounds=200)
    assert report["low"] < 0.5 < report["high"] and abs(report["auc"] - 0.5) < 0.08
    y = np.r_[np.zeros(350), np.ones(150)]
    assert report["auc"] == pytest.approx(roc_auc_score(y, report["oof"]))
    assert report["train_pairs"] == 350 and report["test_pairs"] == 150 and report["grouped"]


def test_a_test_file_with_its_own_mark_is_told_apart_and_the_mark_listed_first():
    rng = np.random.default_rng(1)
    report = adversarial_validation(random_pairs(rng, 300), random_pairs(rng, 100, extra="※"), rounds=200)
    assert report["auc"] > 0.95 and report["low"] > 0.9
    assert "※" in report["test_like"][0][0]
    assert report["test_pairs_sharing_a_train_text"] == 0.0


def test_id_texts_use_id_n_grams_and_lengths_count():
    """Tuples of ids (desensitized texts): n-grams of ids; a test file of longer texts is told apart by length."""
    rng = np.random.default_rng(2)

    def ids(n, low, high):
        return [(tuple(rng.integers(1, 60, rng.integers(low, high))), tuple(rng.integers(1, 60, rng.integers(low, high))))
                for _ in range(n)]
    report = adversarial_validation(ids(300, 4, 8), ids(100, 14, 20), rounds=100)
    assert report["auc"] > 0.9 and min(report["length_weights"]) > 0
    assert report["mean_length"]["test"][0] > report["mean_length"]["train"][0]
    marked = adversarial_validation(ids(200, 4, 8), [(a + (999,), b) for a, b in ids(80, 4, 8)], rounds=100)
    assert marked["test_like"][0][0] == "999"


def test_a_text_in_both_files_keeps_its_pairs_in_one_fold():
    """Text-grouped folds: a text shared by training and test pairs is never learnt in one fold and met in another."""
    rng = np.random.default_rng(3)
    train, test = random_pairs(rng, 200), random_pairs(rng, 80)
    shared = "共同的一句话"
    train[5], test[7], train[9] = (shared, train[5][1]), (test[7][0], shared), (train[9][0], shared)
    report = adversarial_validation(train, test, rounds=50)
    fold = report["fold"]
    assert fold[5] == fold[9] == fold[200 + 7]
    assert report["test_pairs_sharing_a_train_text"] == pytest.approx(1 / 80)
    assert not adversarial_validation(train, test, rounds=10, group_by_text=False)["grouped"]


def test_files_split_by_text_score_high_ungrouped_and_not_grouped():
    """Each text in one file only, its pairs paraphrases of one another (a file split by question cluster, as BQ
    Corpus's): plain folds learn the texts and call the files different; text-grouped folds do not."""
    rng = np.random.default_rng(4)
    train, test = [], []
    for cluster in range(120):  # a cluster's texts share a stem; each text's pairs stay in one file
        stem = "".join(rng.choice(ALPHABET, 6))
        for side in (train, test):
            texts = [stem + "".join(rng.choice(ALPHABET, 3)) for _ in range(4)]
            side += [(texts[i], texts[j]) for i in range(4) for j in range(i + 1, 4)]
    grouped = adversarial_validation(train, test, rounds=100)
    plain = adversarial_validation(train, test, rounds=100, group_by_text=False)
    assert plain["auc"] > 0.8 and grouped["high"] < 0.5 and grouped["test_pairs_sharing_a_train_text"] == 0


def test_a_side_of_few_pairs_is_warned_about(caplog):
    """30 test pairs: the result and the log say the AUC is noisy, quoting its interval; 150 test pairs: no warning."""
    rng = np.random.default_rng(2)
    pairs = random_pairs(rng, 530)
    with caplog.at_level("WARNING", logger="common.shift"):
        few = adversarial_validation(pairs[:500], pairs[500:], rounds=200)
    assert few["warning"].startswith("only 30 test pairs")
    assert f"[{few['low']:.3f}, {few['high']:.3f}]" in few["warning"]
    assert any("only 30 test pairs" in r.getMessage() for r in caplog.records)
    assert adversarial_validation(pairs[:380], pairs[380:], rounds=50)["warning"] == ""


def test_refuses_an_empty_side():
    with pytest.raises(ValueError, match="needs training and test pairs, got 3 and 0"):
        adversarial_validation([("a", "b")] * 3, [])


@pytest.mark.parametrize("test_pairs", [1, 3])
def test_a_side_of_fewer_pairs_than_folds_is_refused_naming_the_option(test_pairs):
    """Probe AO: one test pair stopped in scikit-learn's solver ("needs samples of at least 2 classes"); three
    scored an AUC over folds that held no test pair. Five folds need a test pair in each."""
    pairs = random_pairs(np.random.default_rng(3), 40 + test_pairs)
    with pytest.raises(ValueError, match=rf"40 training and {test_pairs} test pairs: 5 folds need at least 5 test "
                                         r"pairs.*--shift-folds"):
        adversarial_validation(pairs[:40], pairs[40:], rounds=10)
    if test_pairs >= 2:  # as many folds as test pairs: one in each
        assert adversarial_validation(pairs[:40], pairs[40:], folds=test_pairs, rounds=10)["test_pairs"] == test_pairs


def test_test_pairs_of_too_few_text_groups_are_folded_by_pair(caplog):
    """Probe AP: 8 test pairs sharing one text are one text group, so the grouped folds put them all in one fold and
    scikit-learn's solver stopped on a training part without a test pair. The folds are drawn by pair instead."""
    pairs = random_pairs(np.random.default_rng(4), 48)
    test = [(pairs[40][0], b) for _, b in pairs[40:]]  # one shared text a
    with caplog.at_level("WARNING", logger="common.shift"):
        result = adversarial_validation(pairs[:40], test, rounds=10)
    assert result["grouped"] is False and result["test_pairs"] == 8
    assert "share their texts in too few groups" in caplog.text


@needs_stsb
def test_the_command_writes_the_report_and_each_pairs_p_test(tmp_path):
    from common.commands import shift

    data = stsb_tree(tmp_path / "stsb")
    result = shift.main(["--task", "pair", "--config", "competitions/pair/examples/sts_b.toml", "--data-dir", str(data),
                         "--run-dir", str(tmp_path / "shift"), "--shift-rounds", "50", "--shift-folds", "3"])
    saved = json.loads((tmp_path / "shift" / "shift.json").read_text(encoding="utf-8"))
    assert all(w > 0 for _, w in saved["test_like"]) and all(w < 0 for _, w in saved["train_like"])
    assert saved["auc"] == result["auc"] and saved["train_pairs"] == 120 and saved["test_pairs"] == 20
    assert saved["options"]["shift_folds"] == 3
    arrays = np.load(tmp_path / "shift" / "shift.npz")
    assert arrays["ids"].tolist()[:2] == ["train:0", "train:1"] and len(arrays["p_test"]) == 120
    assert len(arrays["test_p_test"]) == 20 and ((arrays["p_test"] >= 0) & (arrays["p_test"] <= 1)).all()
    y = np.r_[np.zeros(120), np.ones(20)]
    assert saved["auc"] == pytest.approx(roc_auc_score(y, np.r_[arrays["p_test"], arrays["test_p_test"]]))


def test_a_test_like_validation_split_takes_the_most_test_like_text_groups(tmp_path):
    """--valid-from-shift: the groups of highest mean P(test) until each label holds valid_fraction of its pairs,
    whole groups only; a shift run of other pairs, or none, is refused naming the folder."""
    from competitions.pair.config import PairFilesConfig
    from competitions.pair.task import TASK

    rows = [(f"甲{i}", f"乙{i}", i % 2) for i in range(40)]
    rows[38] = ("共同", "乙38", 0)
    rows[2] = ("共同", "乙2", 1)  # one text group: mean P(test) (0.95 + 0.05) / 2, not among the top
    (tmp_path / "train.tsv").write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows), encoding="utf-8")
    (tmp_path / "test.tsv").write_text("x\ty\n", encoding="utf-8")
    shift_run = tmp_path / "shift"
    shift_run.mkdir()
    p_test = np.arange(40) / 40
    digest = pairs_digest([(a, b) for a, b, _ in rows])
    np.savez(shift_run / "shift.npz", ids=np.array([f"train:{i}" for i in range(40)]), p_test=p_test,
             pairs_digest=np.array(digest))
    config = PairFilesConfig(data_dir=str(tmp_path), text_a_column="0", text_b_column="1", label_column="2",
                             valid_from_shift=str(shift_run), valid_fraction=0.1)
    data = TASK.load_data(config)
    # P(test) order 39, 37 (label 1: its 2 of 21 pairs), 36, 35 (label 1, full: passed over), 34 (label 0: 2 of 19)
    assert sorted(p.row for p in data.valid) == [34, 36, 37, 39]
    assert len(data.train) + len(data.valid) == 40
    np.savez(shift_run / "shift.npz", ids=np.array([f"train:{i}" for i in range(39)]), p_test=p_test[:39],
             pairs_digest=np.array(digest))
    with pytest.raises(ValueError, match=r"--valid-from-shift .*shift.npz: its 39 pool pairs are not this train file's 40"):
        TASK.load_data(config)
    shuffled = pairs_digest([(a, b) for a, b, _ in rows[::-1]])  # a file of as many pairs, in another order
    np.savez(shift_run / "shift.npz", ids=np.array([f"train:{i}" for i in range(40)]), p_test=p_test,
             pairs_digest=np.array(shuffled))
    with pytest.raises(ValueError, match=r"its 40 pool pairs are not this train file's 40 \(a shift run of another"):
        TASK.load_data(config)
    with pytest.raises(FileNotFoundError, match=r"--valid-from-shift .*elsewhere: no .*make pair-shift"):
        TASK.load_data(PairFilesConfig(**{**config.__dict__, "valid_from_shift": str(tmp_path / "elsewhere")}))


def test_identical_files_score_half_and_list_no_n_gram():
    """A test file equal to the training file: AUC 0.5 and no n-gram of weight 0 listed as separating them."""
    rng = np.random.default_rng(5)
    pairs = random_pairs(rng, 120)
    report = adversarial_validation(pairs, pairs, rounds=50, folds=3)
    assert report["auc"] == pytest.approx(0.5, abs=0.05) and report["test_pairs_sharing_a_train_text"] == 1.0
    assert all(w > 0 for _, w in report["test_like"]) and all(w < 0 for _, w in report["train_like"])
