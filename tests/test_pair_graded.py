"""``--task pair --label-range lo,hi``: graded labels (a similarity score, STS-B). The reader and the options' errors,
the scores against their formulas, the soft-target loss against BCE on the log-odds, a student's mixed targets, the
submission of scores, and train -> k-fold -> ensemble -> student -> held-out scores on the first rows of Chinese STS-B."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from common.commands.args import compound_config
from common.data_files import DataFileError
from common.distillation import DistillConfig
from common.pseudo_labels import PseudoLabelConfig
from common.submission import SubmissionError
from competitions.pair.config import PairFilesConfig
from competitions.pair.data import read_pair_file
from competitions.pair.submission import parse, validate
from competitions.pair.task import TASK, graded_loss
from tests.conftest import DATA

STSB = DATA / "xiaobu" / "pairs" / "csts_chinese-sts-b"
TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
        "--max-length", "32", "--batch-size", "16", "--epochs", "2", "--eval-batch-size", "256"]
needs_stsb = pytest.mark.skipif(not (STSB / "sts-b-train.txt").is_file(), reason=f"STS-B not linked at {STSB}")
POSITIONS = {"text_a_column": "0", "text_b_column": "1", "label_column": "2"}


def graded(**fields) -> PairFilesConfig:
    return PairFilesConfig(**{**POSITIONS, "label_range": "0,5", "metric": "spearman", **fields})


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_graded_labels_are_numbers_in_the_range_and_others_name_file_and_line(tmp_path):
    pairs = read_pair_file(write(tmp_path / "a.tsv", "a\tb\t5\nc\td\t0\ne\tf\t2.5\n"), graded(), True, "train")
    assert [p.label for p in pairs] == [5.0, 0.0, 2.5]
    TASK.configure(graded())
    np.testing.assert_array_equal(TASK.targets(pairs), [1.0, 0.0, 0.5])
    for cell, line in (("6", 2), ("x", 2), ("nan", 2), ("-0.5", 2), ("inf", 2)):
        write(tmp_path / "b.tsv", f"a\tb\t1\nc\td\t{cell}\n")
        with pytest.raises(DataFileError, match=rf"b.tsv:{line}: label '{cell}', expected a number in \[0, 5\] "
                                                 r"\(--label-range lo,hi\)"):
            read_pair_file(tmp_path / "b.tsv", graded(), True, "train")
    jsonl = write(tmp_path / "c.jsonl", '{"sentence1": "a", "sentence2": "b", "label": true}\n')
    with pytest.raises(DataFileError, match=r"c.jsonl:1: label 'true', expected a number"):
        read_pair_file(jsonl, graded(text_a_column="sentence1", text_b_column="sentence2", label_column="label"),
                       True, "train")


def test_a_train_file_of_one_grade_is_refused(tmp_path):
    write(tmp_path / "train.tsv", "".join(f"a{i}\tb{i}\t3\n" for i in range(20)))
    write(tmp_path / "test.tsv", "x\ty\n")
    with pytest.raises(ValueError, match=r"train.tsv: every pair is labelled 3; graded labels need two values"):
        TASK.load_data(graded(data_dir=str(tmp_path)))


@pytest.mark.parametrize("fields, message", [
    ({"label_range": "5,0"}, r"--label-range '5,0': expected 'lo,hi', two finite numbers lo < hi"),
    ({"label_range": "0,inf"}, r"--label-range '0,inf': expected 'lo,hi', two finite numbers"),
    ({"label_range": "0,1e400"}, r"two finite numbers"),
    ({"label_range": "0,x"}, r"--label-range '0,x'"),
    ({"label_range": "0,1,2"}, r"--label-range '0,1,2'"),
    ({"metric": "accuracy"}, r"--metric 'accuracy': expected one of \['spearman', 'pearson'\]"),
    ({"label_range": "", "metric": "spearman"}, r"--metric 'spearman': expected one of \['accuracy', 'f1', 'auc'\]"),
    ({"logit_adjust_tau": 1.0}, r"--logit-adjust-tau: .*graded labels"),
    ({"posthoc_tau": 1.0}, r"--posthoc-tau: .*graded labels"),
    ({"label_range": "0.2,0.8", "submission_value": "label"}, r"no whole grade in --label-range 0.2,0.8"),
    ({"valid_from_shift": "runs/pair/shift-x", "dev_file": "dev.tsv"}, r"--valid-from-shift .*the dev file 'dev.tsv'"),
])
def test_graded_options_are_refused_at_start(fields, message):
    with pytest.raises(ValueError, match=message):
        graded(**fields)


def test_what_needs_0_1_labels_is_refused_for_graded_ones():
    """Pseudo-labels (a k-fold config with the task's), a student at another temperature, post-hoc adjustment."""
    pseudo = compound_config("PseudoPair", PseudoLabelConfig, PairFilesConfig)
    with pytest.raises(ValueError, match=r"--pseudo-from: pseudo-labels are 0/1 labels"):
        pseudo(**POSITIONS, label_range="0,5", metric="spearman", pseudo_from="runs/x")
    student = compound_config("StudentPair", DistillConfig, PairFilesConfig)
    with pytest.raises(ValueError, match=r"--distill-temperature: .*at temperature 1"):
        student(**POSITIONS, label_range="0,5", metric="spearman", distill_from="runs/x", distill_temperature=2.0)
    student(**POSITIONS, label_range="0,5", metric="spearman", distill_from="runs/x")  # temperature 1: taken
    with pytest.raises(ValueError, match=r"--distill-thresholds teacher: graded labels .* have no thresholds"):
        student(**POSITIONS, label_range="0,5", metric="spearman", distill_from="runs/x", distill_thresholds="teacher")
    with pytest.raises(ValueError, match=r"--posthoc-tau"):
        TASK.predict_step(graded(), None, torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match=r"pseudo-labels are 0/1 labels"):
        TASK.configure(graded())
        TASK.with_labels([], [])


def test_scores_are_spearman_and_pearson_by_their_formulas(tmp_path):
    """Pearson is the correlation of the values, Spearman that of their ranks (ties averaged); both the same for the
    score lo + P * (hi - lo) as for P; no decision is kept; constant predictions score NaN."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 200).astype(float)
    probs = np.clip(labels / 5 + rng.normal(0, 0.3, 200), 0, 1)
    pairs = read_pair_file(write(tmp_path / "a.tsv", "".join(f"a{i}\tb\t{y:g}\n" for i, y in enumerate(labels))),
                           graded(), True, "train")
    for metric in ("spearman", "pearson"):
        TASK.configure(graded(metric=metric))
        metrics, state = TASK.score(pairs, probs)
        assert state == {}
        assert metrics["pearson"] == pytest.approx(np.corrcoef(labels, probs)[0, 1])
        assert metrics["spearman"] == pytest.approx(np.corrcoef(rankdata(labels), rankdata(probs))[0, 1])
        assert metrics["score"] == metrics[metric]
        assert TASK.score(pairs, 5 * probs)[0] == pytest.approx(metrics)
    assert np.isnan(TASK.score(pairs, np.full(200, 0.5))[0]["score"])


def test_strata_are_fifths_of_the_range(tmp_path):
    pairs = read_pair_file(write(tmp_path / "a.tsv", "".join(f"a\tb\t{y}\n" for y in (0, 0.99, 1, 2.5, 4, 5))),
                           graded(), True, "train")
    TASK.configure(graded())
    assert TASK.strata(pairs) == [0, 0, 1, 2, 4, 4]
    # the same grades on other scales draw the same strata, so the same folds (probe X: on -5,-1 a grade on a bin's
    # edge fell a bin short in float arithmetic, and 37% of the rows changed fold)
    grades = np.round(np.arange(0, 5.01, 0.2), 1)
    for lo, hi in ((0, 5), (-1, 1), (-5, -1), (1, 6), (-2.5, 10)):
        scaled = [f"{lo + g / 5 * (hi - lo):.6g}" for g in grades]
        rows = read_pair_file(write(tmp_path / "s.tsv", "".join(f"a\tb\t{y}\n" for y in scaled)),
                              graded(label_range=f"{lo},{hi}"), True, "train")
        TASK.configure(graded(label_range=f"{lo},{hi}"))
        assert TASK.strata(rows) == [min(int(round(g, 6)), 4) for g in grades], (lo, hi)


class FixedLogits(torch.nn.Module):
    """A stand-in pair model: the batch's ``logits`` back (it must not see the targets)."""

    def forward(self, logits, **rest):
        assert "soft_labels" not in rest and "labels" not in rest
        return type("Out", (), {"logits": logits})()


def test_graded_loss_is_bce_with_logits_on_the_log_odds():
    """Soft cross-entropy of softmax over 2 logits against [1 - y, y] = BCE of sigmoid(l1 - l0) against y
    (sentence-transformers' cross-encoder on STS-B scores / 5); rows with a NaN target are left out."""
    torch.manual_seed(0)
    logits = torch.randn(8, 2, requires_grad=True)
    y = torch.rand(8)
    y[3] = float("nan")
    loss = graded_loss(FixedLogits(), {"logits": logits, "soft_labels": y, "labels": torch.zeros(8)})
    keep = ~torch.isnan(y)
    expected = F.binary_cross_entropy_with_logits(logits[keep, 1] - logits[keep, 0], y[keep])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert logits.grad[3].abs().sum() == 0


def test_a_students_target_mixes_the_label_and_the_teacher(tmp_path, monkeypatch):
    """(1 - alpha) * label + alpha * teacher on a labelled row (at T = 1 the cross-entropy of the mix is the mix of
    the cross-entropies), the teacher's alone on an unlabelled one, the label alone without a teacher; no hard labels."""
    from common import pair_task

    seen = {}

    def capture(self, config, model, examples, training, unlabelled=(), soft_labels=None):
        seen.update(labels=[p.label for p in examples], soft=soft_labels)

    monkeypatch.setattr(pair_task.PairTask, "dataset", capture)
    pairs = read_pair_file(write(tmp_path / "a.tsv", "a\tb\t5\nc\td\t1\n"), graded(), True, "train")
    test = read_pair_file(write(tmp_path / "t.tsv", "e\tf\n"), graded(), False, "test")
    student = compound_config("StudentPair", DistillConfig, PairFilesConfig)(
        **POSITIONS, label_range="0,5", metric="spearman", distill_from="runs/x", distill_alpha=0.25)
    TASK.configure(student)
    TASK.dataset(student, None, pairs + test, True, soft_labels=[0.5, np.nan, 0.9])
    assert seen["labels"] == [None, None, None]
    np.testing.assert_allclose(seen["soft"], [0.75 * 1.0 + 0.25 * 0.5, 0.2, 0.9])
    TASK.dataset(student, None, pairs, False)
    np.testing.assert_allclose(seen["soft"], [1.0, 0.2])


def test_a_graded_submission_holds_scores_rounded_grades_or_probabilities(tmp_path):
    test = read_pair_file(write(tmp_path / "t.tsv", "a\tb\nc\td\ne\tf\n"), graded(), False, "test")
    probs = np.array([0.0, 0.5, 0.7])  # scores 0, 2.5 (a half: rounded up, not to even), 3.5
    expected = {"auto": ["0.000000", "2.500000", "3.500000"], "label": ["0", "3", "4"],
                "probability": ["0.000000", "0.500000", "0.700000"]}
    for value, rows in expected.items():
        config = graded(submission_value=value, submission_dir=str(tmp_path / "s"))
        written = TASK.write_submission(config, test, probs, {}, value)
        text = open(written["submission"], encoding="utf-8").read()
        assert [v for _, _, v in parse("csv", text, "id", "label", "s")] == rows and written["rows"] == 3
    out_of_range = "id,label\n0,1\n1,5.5\n2,0\n"
    with pytest.raises(SubmissionError, match=r"s:3: '5.5' is not a score in \[0, 5\]"):
        validate(parse("csv", out_of_range, "id", "label", "s"), ["0", "1", "2"], None, "s", (0.0, 5.0))


def stsb_tree(root, train: int = 90, dev: int = 30):
    """The first rows of Chinese STS-B's three files (headerless TSV, graded 0-5): 20 test rows."""
    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("sts-b-train.txt", train), ("sts-b-dev.txt", dev), ("sts-b-test.txt", 20)):
        lines = (STSB / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (root / name).write_text("".join(lines), encoding="utf-8")
    return root


@needs_stsb
def test_sts_b_trains_ensembles_distils_and_scores_held_out(tmp_path, monkeypatch):
    """examples/sts_b.toml on the first rows of STS-B: a run's validation score is Spearman's of its saved
    probabilities; a k-fold run, the TF-IDF reference on its folds (the ensemble's ``tfidf`` member gives the same OOF
    score), the ensemble, a student of it; every submission a score in [0, 5] per test row; bench.pair_heldout
    scores the runs on the test file's grades as scipy does."""
    from scipy.stats import spearmanr

    from bench import pair_heldout
    from common.commands import cv, ensemble, train
    from competitions.pair import baseline

    data = stsb_tree(tmp_path / "stsb")
    flags = ["--task", "pair", "--config", "competitions/pair/examples/sts_b.toml", "--data-dir", str(data),
             "--submission-dir", str(tmp_path / "sub")]
    single = train.main([*flags, *TINY, "--run-dir", str(tmp_path / "single")])
    saved = np.load(tmp_path / "single" / "probabilities.npz")
    dev = [float(line.split("\t")[2]) for line in (data / "sts-b-dev.txt").read_text(encoding="utf-8").splitlines()]
    assert single["valid"]["score"] == pytest.approx(spearmanr(dev, saved["valid_probs"]).statistic)
    run = tmp_path / "cv3"
    folds = cv.main([*flags, *TINY, "--epochs", "1", "--folds", "3", "--run-dir", str(run)])
    assert folds["complete"] and len(json.loads((run / "folds.json").read_text())["ids"]) == 120  # train + dev
    reference = baseline.main([*flags[2:], "--folds-from", str(run), "--run-dir", str(tmp_path / "tfidf")])
    assert reference["oof"]["pairs"] == 120 and -1 <= reference["oof"]["score"] <= 1
    combined = ensemble.main([*flags[:6], "--runs", str(run), "tfidf", "--submission-dir", str(tmp_path / "sub")])
    assert combined["members"]["tfidf"] == pytest.approx(reference["oof"]["score"])
    # the contest file's submission options are taken (they change how it is written, not what is predicted)
    graded_toml = open("competitions/pair/examples/sts_b.toml", encoding="utf-8").read()
    whole = write(tmp_path / "whole.toml", graded_toml + 'submission_value = "label"\nsubmission_format = "jsonl"\n')
    grades = ensemble.main(["--task", "pair", "--config", str(whole), "--data-dir", str(data), "--runs", str(run),
                            "tfidf", "--run-name", "grades", "--submission-dir", str(tmp_path / "sub")])
    rows = [json.loads(line) for line in open(grades["submission"], encoding="utf-8")]
    assert [r["id"] for r in rows] == list(range(20)) and {r["label"] for r in rows} <= set("012345")
    student = train.main([*flags, *TINY, "--distill-from", combined["run_dir"], "--run-dir", str(tmp_path / "student")])
    for result in (single, folds, combined, student):
        lines = open(result["submission"], encoding="utf-8").read().splitlines()
        assert lines[0] == "id,label" and [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(20)]
        assert all(0 <= float(line.split(",")[1]) <= 5 for line in lines[1:])

    monkeypatch.setattr(pair_heldout, "RESULTS", tmp_path / "results")
    held = pair_heldout.main(["--labels-file", str(data / "sts-b-test.txt"), "--runs", str(tmp_path / "tfidf"),
                              str(tmp_path / "single"), combined["run_dir"], "--rounds", "20", "--name", "pytest"])
    grades = [float(line.split("\t")[2]) for line in (data / "sts-b-test.txt").read_text(encoding="utf-8").splitlines()]
    submitted = [float(line.split(",")[1]) for line in open(combined["submission"], encoding="utf-8").read().splitlines()[1:]]
    assert held["runs"][combined["run_dir"]]["spearman"] == pytest.approx(spearmanr(grades, submitted).statistic)


@pytest.mark.slow  # 34 s; the fast suite's 2-process pair runs (tests/test_distributed.py) share every path but the soft target
@needs_stsb
def test_graded_labels_train_the_same_under_2_processes_as_under_1(tmp_path):
    """The soft-target loss (a task ``loss_fn``) through DDP: 2 processes at half the batch give 1 process's
    per-epoch Spearman, loss and probabilities (tests/test_distributed.py's parity check)."""
    from tests.distributed import describe, launch, result_lines
    from tests.test_distributed import EFFECTIVE_BATCH, TINY as NO_DROPOUT, Run, assert_same_training

    data = stsb_tree(tmp_path / "stsb", train=96, dev=32)  # whole effective batches: no repeated rows
    runs = []
    for n in (1, 2):
        base = tmp_path / f"p{n}"
        proc = launch(["common.commands.train", "--task", "pair", "--config", "competitions/pair/examples/sts_b.toml",
                       "--data-dir", str(data), *NO_DROPOUT, "--max-length", "32",
                       "--batch-size", str(EFFECTIVE_BATCH // n), "--run-dir", str(base / "run"),
                       "--submission-dir", str(base / "sub")], n)
        assert proc.returncode == 0 and len(result_lines(proc.stdout)) == 1, describe(proc)
        runs.append(Run(proc, base, []))
    assert "spearman" in runs[0].history()[0]
    assert_same_training(*runs)
