"""``--task pair --label-values a,b,c``: three or more classes (an NLI contest, KUAKE-QQR). The reader and the
options' errors, macro-F1 against its formula, every class's probability from the model, the multinomial
TF-IDF / gbm / stack fits against their optimality condition, Caruana on class probabilities against the 0/1 case,
the soft loss of class probabilities against the 0/1 one, pseudo-labels against brute force, and train -> predict ->
k-fold -> TF-IDF -> ensemble -> student -> pseudo-labels -> held-out scores on the first rows of Chinese STS-B read as 6 classes (examples/sts_b_classes.toml)."""

import json
import math
import tomllib

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from common.commands.args import compound_config
from common.data_files import DataFileError
from common.distillation import distillation_loss, soft_cross_entropy
from common.ensemble import apply_stack, caruana_select, cross_fit, fit_stack, load_member
from common.pair_classifier import PairPredictStep
from common.pseudo_labels import PseudoLabelConfig, confidence_threshold, fold_pseudo_labels
from common.teacher import Teacher, load_teacher
from common.soft_labels import check_targets, class_probabilities, fit_soft
from competitions.pair.config import PairFilesConfig
from competitions.pair.data import read_pair_file
from competitions.pair.task import TASK
from tests.test_pair_graded import TINY, needs_stsb, stsb_tree, write

NLI = "entailment,neutral,contradiction"
CLASSES_TOML = "competitions/pair/examples/sts_b_classes.toml"


def classes(**fields) -> PairFilesConfig:
    return PairFilesConfig(**{"text_a_column": "0", "text_b_column": "1", "label_column": "2", "label_values": NLI,
                              "metric": "macro_f1", **fields})


def test_label_values_name_the_classes_in_order_and_others_name_file_and_line(tmp_path):
    pairs = read_pair_file(write(tmp_path / "a.tsv", "a\tb\tneutral\nc\td\tentailment\ne\tf\tContradiction\n"),
                           classes(), True, "train")
    assert [p.label for p in pairs] == [1, 0, 2]  # a label in another case is the same label
    numbers = read_pair_file(write(tmp_path / "n.tsv", "a\tb\t2.0\nc\td\t0\n"), classes(label_values="0,1,2"),
                             True, "train")
    assert [p.label for p in numbers] == [2, 0]
    TASK.configure(classes())
    np.testing.assert_array_equal(TASK.targets(pairs), np.eye(3)[[1, 0, 2]])
    write(tmp_path / "b.tsv", "a\tb\tneutral\nc\td\tunknown\n")
    with pytest.raises(DataFileError, match=r"b.tsv:2: label 'unknown', expected one of \['entailment', 'neutral', "
                                            r"'contradiction'\] \(--label-values\)"):
        read_pair_file(tmp_path / "b.tsv", classes(), True, "train")


def test_a_class_absent_from_the_train_file_and_swapped_pairs_are_named(tmp_path, caplog):
    write(tmp_path / "train.tsv", "".join(f"a{i}\tb{i}\t{'entailment' if i % 2 else 'neutral'}\n" for i in range(20)))
    write(tmp_path / "test.tsv", "x\ty\n")
    TASK.load_data(classes(data_dir=str(tmp_path), train_file="train.tsv", test_file="test.tsv",
                           group_by_text=False, tta_swap=True))
    assert "no pair labelled 'contradiction': the model is never trained on it" in caplog.text
    assert "--tta-swap with 3 classes: the pair (b, a) is given a's label for (a, b)" in caplog.text


@pytest.mark.parametrize("fields, message", [
    ({"metric": "f1"}, r"--metric 'f1': expected one of \['accuracy', 'macro_f1'\] of 3 classes \(--label-values\)"),
    ({"metric": "auc"}, r"--metric 'auc': expected one of \['accuracy', 'macro_f1'\]"),
    ({"label_values": "0,1", "metric": "macro_f1"}, r"--metric 'macro_f1': expected one of \['accuracy', 'f1', "
                                                    r"'auc'\]$"),
    ({"label_values": "a,b,a"}, r"--label-values 'a,b,a': 'a' is given twice; expected .* three or more distinct classes"),
    ({"label_values": "a,,b"}, r"--label-values 'a,,b'"),
    ({"label_values": "a"}, r"--label-values 'a'"),
    ({"submission_value": "probability"}, r"--submission-value probability: 3 classes .* each row.s class"),
    ({"metric_for_best_model": "f1"}, r"--metric-for-best-model 'f1': expected one of \['score', 'accuracy', "
                                      r"'macro_f1'\] or a loss"),
])
def test_options_of_p1_are_refused_at_start(fields, message):
    with pytest.raises(ValueError, match=message):
        classes(**fields)


def test_a_teacher_of_other_classes_is_refused_and_an_export_names_the_classes(tmp_path):
    from common.export import decision

    ids, test_ids = np.array(["train:0", "train:1"]), np.array(["test:0"])
    # a 0/1 k-fold run: (N,) P(label 1)
    np.savez(tmp_path / "oof.npz", ids=ids, labels=np.array([0, 1]), fold=np.array([0, 1]), oof=np.array([.2, .7]))
    np.savez(tmp_path / "test_predictions.npz", test_ids=test_ids, test=np.array([.5]), per_fold=np.array([[.4], [.6]]))
    assert load_teacher(tmp_path, 2).oof.shape == (2,)
    with pytest.raises(ValueError, match=r"a teacher of 2 classes for a run of 3 \(--label-values\)"):
        load_teacher(tmp_path, 3)
    (tmp_path / "config.json").write_text(json.dumps({"label_values": NLI, "label_range": ""}), encoding="utf-8")
    assert decision(tmp_path)["label_values"] == ["entailment", "neutral", "contradiction"]
    (tmp_path / "config.json").write_text(json.dumps({"label_values": "0|NA,1,2", "label_range": ""}), encoding="utf-8")
    assert decision(tmp_path)["label_values"] == ["0", "1", "2"]  # each class's first spelling: what it submits


def test_pseudo_labels_of_classes_are_the_confident_rows_argmax_by_brute_force_and_the_0_1_rule_for_two(tmp_path):
    """(N, C) class probabilities: the threshold is the smallest max_c p_c whose rows are accurate enough at the
    argmax (brute force over every candidate, ties included); on (N, 2) [1 - p, p] it is the 0/1 threshold; fold k
    labels its model's confident test rows with their argmax and counts them per class."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    probs = np.round(rng.dirichlet(np.ones(3), 300) + 0.6 * np.eye(3)[labels], 1)  # rounded: many ties
    probs /= probs.sum(axis=1, keepdims=True)
    for min_accuracy in (0.5, 0.8, 0.95, 1.0):
        expected = math.inf
        for t in np.unique(probs.max(axis=1)):  # ascending
            chosen = probs.max(axis=1) >= t
            if np.mean(probs[chosen].argmax(axis=1) == labels[chosen]) >= min_accuracy:
                expected = float(t)
                break
        assert confidence_threshold(probs, labels, min_accuracy) == expected
    p, y = rng.uniform(0.01, 0.99, 200), rng.integers(0, 2, 200)
    p[p == 0.5] = 0.51
    assert confidence_threshold(np.stack([1 - p, p], axis=1), y, 0.7) == pytest.approx(confidence_threshold(p, y, 0.7))
    fold, per_fold = np.arange(300) % 3, rng.dirichlet(np.ones(3), (3, 40))  # (K, M, C)
    teacher = Teacher(None, np.array([f"t:{i}" for i in range(300)]), labels, fold, probs,
                      np.array([f"test:{i}" for i in range(40)]), per_fold.mean(axis=0), per_fold)
    for k in range(3):
        chosen = fold_pseudo_labels(teacher, k, 0.8)
        t = confidence_threshold(probs[fold != k], labels[fold != k], 0.8)
        rows = np.flatnonzero(per_fold[k].max(axis=1) >= t)
        assert chosen.threshold == t and chosen.rows.tolist() == rows.tolist() and len(rows) > 0
        assert chosen.labels.tolist() == per_fold[k][rows].argmax(axis=1).tolist()
        assert chosen.metrics()["pseudo_per_class"] == np.bincount(chosen.labels, minlength=3).tolist()
    pseudo = compound_config("PseudoPair", PseudoLabelConfig, PairFilesConfig)
    pseudo(text_a_column="0", text_b_column="1", label_column="2", label_values=NLI, pseudo_from="runs/x")  # taken
    TASK.configure(classes())
    test_rows = read_pair_file(write(tmp_path / "t.tsv", "a\tb\nc\td\n"), classes(label_column=""), False, "test")
    assert [e.label for e in TASK.with_labels(test_rows, [2, 0])] == [2, 0]


def hand_macro_f1(labels, predicted, C):
    """The mean over all C classes of 2 TP / (2 TP + FP + FN), a class neither present nor predicted 0."""
    f1 = []
    for c in range(C):
        tp, fp = np.sum((predicted == c) & (labels == c)), np.sum((predicted == c) & (labels != c))
        fn = np.sum((predicted != c) & (labels == c))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return np.mean(f1)


def test_accuracy_and_macro_f1_by_their_formulas_at_the_decision_of_the_metric():
    """``accuracy``: the most probable class. ``macro_f1``: argmax(log p + b) with b tuned on the rows scored, and
    b a coordinate-wise optimum (no single class's shift on the grid scores better); a given state decides."""
    from common.thresholds import BIAS_GRID, macro_f1_of

    rng = np.random.default_rng(0)
    labels = rng.choice(4, 400, p=[0.5, 0.3, 0.2, 0.0])  # class 3 of 4 never occurs
    probs = rng.dirichlet(np.ones(4), 400)
    probs[np.arange(200), labels[:200]] += 1  # half the rows predicted right
    probs[:, 0] += 1.0  # the frequent class over-predicted: macro-F1 gains from shifts
    probs /= probs.sum(axis=1, keepdims=True)
    pairs = [type("P", (), {"label": int(y)})() for y in labels]
    TASK.configure(classes(label_values="a,b,c,d", metric="accuracy"))
    metrics, state = TASK.score(pairs, probs)
    predicted = probs.argmax(axis=1)
    assert state == {} and metrics["accuracy"] == pytest.approx(np.mean(predicted == labels))
    assert metrics["macro_f1"] == pytest.approx(hand_macro_f1(labels, predicted, 4))
    TASK.configure(classes(label_values="a,b,c,d", metric="macro_f1"))
    tuned, state = TASK.score(pairs, probs)
    b = np.array(state["class_bias"])
    decided = (np.log(probs) + b).argmax(axis=1)
    assert tuned["score"] == tuned["macro_f1"] == pytest.approx(hand_macro_f1(labels, decided, 4))
    assert tuned["accuracy"] == pytest.approx(np.mean(decided == labels))
    assert tuned["macro_f1"] > metrics["macro_f1"] + 0.01
    for c in range(4):
        for g in BIAS_GRID:
            other = b.copy()
            other[c] = g
            assert hand_macro_f1(labels, (np.log(probs) + other).argmax(axis=1), 4) <= tuned["macro_f1"] + 1e-9
    assert TASK.score(pairs, probs, {})[0] == pytest.approx({**metrics, "score": metrics["macro_f1"]})
    assert TASK.score(pairs, probs, state)[0] == pytest.approx(tuned)
    stack = rng.integers(0, 4, (3, 400))
    np.testing.assert_allclose(macro_f1_of(labels, stack, 4), [hand_macro_f1(labels, s, 4) for s in stack])
    with pytest.raises(ValueError, match=r"class probabilities of shape \(400,\) for 400 labels, expected \(N, C\)"):
        TASK.score(pairs, probs[:, 0])


class FixedLogits(torch.nn.Module):
    def forward(self, logits, **rest):
        return type("Out", (), {"logits": logits})()


def test_the_model_gives_every_class_probability_and_adjusts_each_post_hoc():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.5, 0.5]])
    prior = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    plain = PairPredictStep()(FixedLogits(), {"logits": logits, "labels": torch.zeros(2)})["prob"]
    torch.testing.assert_close(plain, torch.softmax(logits, dim=-1))
    adjusted = PairPredictStep(prior, 1.0)(FixedLogits(), {"logits": logits})["prob"]
    torch.testing.assert_close(adjusted, torch.softmax(logits - prior, dim=-1))
    two = PairPredictStep()(FixedLogits(), {"logits": logits[:, :2]})["prob"]
    torch.testing.assert_close(two, torch.softmax(logits[:, :2], dim=-1)[:, 1])  # 0/1: P(label 1), (B,)


def test_soft_class_targets_fit_the_soft_cross_entropy_at_its_optimum():
    """The multinomial regression fitted by weighted copies minimises C * sum_i CE(y_i, p_i) + |W|^2 / 2, so its
    gradient C * (P - Y)^T X + W vanishes; one-hot targets give the plain fit; a class absent from the fit's rows
    has probability 0; rows that do not sum to 1 are refused."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    Y = rng.dirichlet(np.ones(3), 200)
    model = fit_soft(LogisticRegression(C=2.0, tol=1e-10, max_iter=10000), X, Y)
    P = class_probabilities(model, X, 3)
    gradient = 2.0 * (P - Y).T @ X + model.coef_  # (C, F)
    assert np.abs(gradient).max() < 1e-4 and np.abs(2.0 * (P - Y).sum(axis=0)).max() < 1e-4
    hard = np.eye(3)[rng.integers(0, 3, 200)]
    plain = LogisticRegression().fit(X, hard.argmax(axis=1))
    np.testing.assert_array_equal(fit_soft(LogisticRegression(), X, hard).coef_, plain.coef_)
    two = fit_soft(LogisticRegression(), X, np.eye(3)[rng.integers(0, 2, 200)])  # class 2 never seen
    probs = class_probabilities(two, X, 3)
    assert probs.shape == (200, 3) and (probs[:, 2] == 0).all() and np.allclose(probs.sum(axis=1), 1)
    with pytest.raises(ValueError, match=r"class probabilities summing to 1"):
        check_targets(Y * 0.5, 200)


def test_caruana_on_class_probabilities_selects_as_on_p1_and_the_stack_gives_distributions():
    """Two classes written as (K, N, 2) [1 - p, p] with the argmax's accuracy select the same members as (K, N) p
    with accuracy at 1/2; the multinomial stack's cross-fitted OOF rows are distributions."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    P = 1 / (1 + np.exp(-(2 * labels - 1) - rng.normal(0, [[1.0], [1.5], [2.0], [2.5]], (4, 400))))  # (K, N)
    binary = caruana_select(P, lambda p: np.mean((p >= 0.5) == labels), iterations=20)
    stacked = np.stack([1 - P, P], axis=-1)  # (K, N, 2)
    classes_ = caruana_select(stacked, lambda p: np.mean(p.argmax(axis=1) == labels), iterations=20)
    np.testing.assert_array_equal(binary.counts, classes_.counts)
    three = np.stack([rng.dirichlet(np.ones(3), 400) for _ in range(3)])  # (K, N, C)
    y3 = rng.integers(0, 3, 400)
    three[0, np.arange(400), y3] += 2.0
    three /= three.sum(axis=-1, keepdims=True)
    fold = np.arange(400) % 4
    oof = cross_fit(fold, lambda tr, held: apply_stack(fit_stack(three[:, tr], np.eye(3)[y3[tr]]), three[:, held]))
    assert oof.shape == (400, 3) and np.allclose(oof.sum(axis=1), 1)
    assert np.mean(oof.argmax(axis=1) == y3) > 0.9  # the member that knows the class is found


def test_the_soft_loss_of_class_probabilities_is_the_0_1_loss_for_two_classes_and_skips_rows_without():
    torch.manual_seed(0)
    logits = torch.randn(6, 2)
    p = torch.rand(6)
    for T in (1.0, 2.0):  # Hinton's form for P(label 1): p_T = sigmoid(logit(p) / T), times T^2
        p_T = torch.sigmoid(torch.logit(p) / T)
        log_q = torch.log_softmax(logits / T, dim=-1)
        by_hand = -(T ** 2) * ((1 - p_T) * log_q[:, 0] + p_T * log_q[:, 1])
        torch.testing.assert_close(soft_cross_entropy(logits, torch.stack([1 - p, p], dim=-1), T), by_hand)
        torch.testing.assert_close(soft_cross_entropy(logits, p, T), by_hand)
    logits3, q = torch.randn(4, 3), torch.softmax(torch.randn(4, 3), dim=-1)
    q[2] = float("nan")  # a row without a soft target
    loss = distillation_loss(logits3, None, q, 1.0)
    keep = [0, 1, 3]
    expected = -(q[keep] * torch.log_softmax(logits3[keep], dim=-1)).sum(dim=-1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"soft targets of 3 classes for a model of 2"):
        soft_cross_entropy(logits, q)


@needs_stsb
def test_sts_b_as_six_classes_trains_ensembles_distils_and_scores_held_out(tmp_path, monkeypatch):
    """examples/sts_b_classes.toml on the first rows of STS-B: a run's saved (N, 6) probabilities give its score and
    ``predict --run`` gives them again; a k-fold run's OOF rows are distributions; the TF-IDF reference on its folds
    scores as the ensemble's ``tfidf`` member; the ensemble and a student of it write one grade per test row;
    the ensemble predicts a new file; a pseudo-label round on the k-fold run trains fold k on the test rows its
    model is sure of; bench.pair_heldout scores the submissions' grades."""
    from bench import pair_heldout
    from common.commands import cv, ensemble, predict, train
    from competitions.pair import baseline

    data = stsb_tree(tmp_path / "stsb")
    flags = ["--task", "pair", "--config", CLASSES_TOML, "--data-dir", str(data),
             "--submission-dir", str(tmp_path / "sub")]
    single = train.main([*flags, *TINY, "--run-dir", str(tmp_path / "single")])
    saved = np.load(tmp_path / "single" / "probabilities.npz")
    assert saved["valid_probs"].shape == (30, 6) and saved["test_probs"].shape == (20, 6)
    dev = [int(line.split("\t")[2]) for line in (data / "sts-b-dev.txt").read_text(encoding="utf-8").splitlines()]
    bias = json.loads((tmp_path / "single" / "thresholds.json").read_text())["class_bias"]  # tuned for macro-F1
    decided = (np.log(saved["valid_probs"]) + bias).argmax(axis=1)
    assert single["valid"]["accuracy"] == pytest.approx(np.mean(decided == dev)) and len(bias) == 6
    again = predict.main(["--task", "pair", "--run", str(tmp_path / "single"), "--submission-dir",
                          str(tmp_path / "sub2")])
    assert again["valid"] == pytest.approx(single["valid"])
    run = tmp_path / "cv3"
    folds = cv.main([*flags, *TINY, "--epochs", "1", "--folds", "3", "--run-dir", str(run)])
    member = load_member(run)
    assert folds["complete"] and member.oof.shape == (120, 6) and np.allclose(member.oof.sum(axis=1), 1)
    reference = baseline.main([*flags[2:], "--folds-from", str(run), "--run-dir", str(tmp_path / "tfidf")])
    combined = ensemble.main([*flags[:6], "--runs", str(run), "tfidf", "gbm", "--submission-dir",
                              str(tmp_path / "sub")])
    assert combined["members"]["tfidf"] == pytest.approx(reference["oof"]["score"])
    assert load_member(combined["run_dir"]).test.shape == (20, 6)
    student = train.main([*flags, *TINY, "--distill-from", combined["run_dir"], "--distill-alpha", "1",
                          "--run-dir", str(tmp_path / "student")])
    pseudo = cv.main([*flags, *TINY, "--epochs", "1", "--folds", "3", "--run-dir", str(tmp_path / "pseudo"),
                      "--pseudo-from", str(run), "--pseudo-min-accuracy", "0.05"])  # 0.05: some rows qualify
    per_fold = json.loads((tmp_path / "pseudo" / "cv_metrics.json").read_text(encoding="utf-8"))["folds"]
    for k in range(3):  # fold k trains on its 80 pool rows and the test rows fold k's model is sure of
        expected = fold_pseudo_labels(load_teacher(run, 6), k, 0.05)
        assert per_fold[str(k)]["pseudo_rows"] == len(expected.rows) > 0
        assert per_fold[str(k)]["pseudo_per_class"] == np.bincount(expected.labels, minlength=6).tolist()
        log = (tmp_path / "pseudo" / f"fold{k}" / "train.log").read_text(encoding="utf-8")
        assert f"train examples {80 + len(expected.rows)} " in log
    for result in (single, folds, combined, student, pseudo):
        lines = open(result["submission"], encoding="utf-8").read().splitlines()
        assert lines[0] == "id,label" and [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(20)]
        assert {line.split(",")[1] for line in lines[1:]} <= set("012345")
    new = write(tmp_path / "new.tsv", "一个男人在弹吉他。\t一个人在弹吉他。\n狗在跑。\t猫在睡觉。\n")
    other = predict.main(["--task", "pair", "--run", combined["run_dir"], "--test-file", str(new),
                          "--submission-dir", str(tmp_path / "sub3")])
    assert other["rows"] == 2

    monkeypatch.setattr(pair_heldout, "RESULTS", tmp_path / "results")
    held = pair_heldout.main(["--labels-file", str(data / "sts-b-test.txt"), "--runs", str(tmp_path / "tfidf"),
                              str(tmp_path / "single"), combined["run_dir"], "--rounds", "20", "--name", "pytest"])
    grades = [line.split("\t")[2] for line in (data / "sts-b-test.txt").read_text(encoding="utf-8").splitlines()]
    submitted = [line.split(",")[1] for line in open(combined["submission"], encoding="utf-8").read().splitlines()[1:]]
    assert held["runs"][combined["run_dir"]]["accuracy"] == pytest.approx(
        np.mean([a == b for a, b in zip(grades, submitted)]))


@pytest.mark.slow  # 40 s; the fast suite's 2-process 0/1 pair run (tests/test_distributed.py) shares every path but the (B, C) gather
@needs_stsb
def test_classes_train_the_same_under_2_processes_as_under_1(tmp_path):
    """(B, 6) probabilities gathered from 2 processes at half the batch give 1 process's per-epoch macro-F1, loss and
    probabilities (tests/test_distributed.py's parity check)."""
    from tests.distributed import describe, launch, result_lines
    from tests.test_distributed import EFFECTIVE_BATCH, TINY as NO_DROPOUT, Run, assert_same_training

    data = stsb_tree(tmp_path / "stsb", train=96, dev=32)  # whole effective batches: no repeated rows
    runs = []
    for n in (1, 2):
        base = tmp_path / f"p{n}"
        proc = launch(["common.commands.train", "--task", "pair", "--config", CLASSES_TOML, "--data-dir", str(data),
                       *NO_DROPOUT, "--max-length", "32", "--batch-size", str(EFFECTIVE_BATCH // n),
                       "--run-dir", str(base / "run"), "--submission-dir", str(base / "sub")], n)
        assert proc.returncode == 0 and len(result_lines(proc.stdout)) == 1, describe(proc)
        runs.append(Run(proc, base, []))
    assert "macro_f1" in runs[0].history()[0]
    assert_same_training(*runs)
    assert np.load(runs[0].run_dir / "probabilities.npz")["test_probs"].shape == (20, 6)


def test_kuake_qqr_files_train_and_submit_cblues_json_array(tmp_path):
    """examples/kuake_qqr.toml on files of KUAKE-QQR's layout (one JSON array each, a training label "NA" read as
    class 0, test labels empty): the submission is one JSON array of {"id", "label"}, every test id once in order,
    each label a class's first spelling (never "NA"), as CBLUE's format checker reads it with json.load."""
    from common.commands import train

    texts = ["头痛怎么办", "头疼怎么缓解", "感冒吃什么药", "发烧怎么退烧", "胃疼吃什么", "牙疼怎么止痛"]
    def rows(n, start, labelled):
        return [{"id": f"s{start + i}", "query1": texts[i % 6], "query2": texts[(i * 5 + 1) % 6],
                 "label": ("0", "1", "2", "NA")[i % 4] if labelled else ""} for i in range(n)]
    data = tmp_path / "kuake_qqr"
    data.mkdir()
    for name, n, start, labelled in (("train", 48, 1, True), ("dev", 12, 100, True), ("test", 10, 200, False)):
        (data / f"KUAKE-QQR_{name}.json").write_text(json.dumps(rows(n, start, labelled), ensure_ascii=False,
                                                               indent=2), encoding="utf-8")
    qqr = "competitions/pair/examples/kuake_qqr.toml"
    with open(qqr, "rb") as f:
        options = PairFilesConfig(**tomllib.load(f))
    assert options.label_names() == ["0", "1", "2"]
    pairs = read_pair_file(data / "KUAKE-QQR_train.json", options, True, "train")
    assert [p.label for p in pairs[:8]] == [0, 1, 2, 0, 0, 1, 2, 0]  # "NA" is class 0
    result = train.main(["--task", "pair", "--config", qqr, "--data-dir", str(data), *TINY, "--epochs", "1",
                         "--run-dir", str(tmp_path / "run"), "--submission-dir", str(tmp_path / "sub")])
    assert result["submission"].endswith(".json") and result["rows"] == 10
    submitted = json.load(open(result["submission"], encoding="utf-8"))
    assert [row["id"] for row in submitted] == [f"s{200 + i}" for i in range(10)]
    test = read_pair_file(data / "KUAKE-QQR_test.json", options, False, "test")
    assert all(p.text_id for p in test)  # string ids in the file: strings in the submission
    assert all(set(row) == {"id", "label"} and row["label"] in ("0", "1", "2") for row in submitted)
    with pytest.raises(ValueError, match=r"--label-values '0\|NA,1,0': '0' is given twice; expected"):
        classes(label_values="0|NA,1,0")  # a spelling of two classes
    with pytest.raises(ValueError, match=r"--label-values '0\|,1,2': expected"):
        classes(label_values="0|,1,2")
    with pytest.raises(ValueError, match=r"'0\|0,1,2': '0' is given twice"):
        classes(label_values="0|0,1,2")
    for clashing, pair in (("0|NA,1,2|na", "'NA' and 'na'"), ("0|1.0,1,2", "'1.0' and '1'")):  # probe N
        with pytest.raises(ValueError, match=rf"{pair} are the same label read another way .* name two classes"):
            classes(label_values=clashing)


def test_the_json_array_submission_reads_back_and_names_the_row_it_refuses():
    from common.submission import SubmissionError
    from competitions.pair.submission import parse, render, validate

    text = render("json", ["s1", "7"], ["2", "0"], "id", "label")
    assert json.loads(text) == [{"id": "s1", "label": "2"}, {"id": "7", "label": "0"}]  # one type a column
    assert parse("json", text, "id", "label", "f.json") == [(2, "s1", "2"), (3, "7", "0")]
    validate(parse("json", text, "id", "label", "f.json"), ["s1", "7"], ["0", "1", "2"], "f.json")
    assert json.loads(render("json", [], [], "id", "label")) == []
    # an id that was a JSON string in the test file stays one, digits or not (probe N); a CSV's digits are numbers
    assert json.loads(render("json", ["1", "2", "-3"], ["0", "1", "2"], "id", "label", [True, False, False])) == [
        {"id": "1", "label": "0"}, {"id": 2, "label": "1"}, {"id": -3, "label": "2"}]
    # a CSV's ids are one type: numbers only where all are (probe Z1: "007", 7 and 8 in one file)
    assert [row["id"] for row in json.loads(render("json", ["007", "7", "8"], ["0", "1", "2"], "id", "label"))] == \
        ["007", "7", "8"]
    assert [row["id"] for row in json.loads(render("json", ["0", "7", "-8"], ["0", "1", "2"], "id", "label"))] == \
        [0, 7, -8]
    with pytest.raises(SubmissionError, match=r"f.json:3: expected \{'id', 'label'\}"):
        parse("json", '[\n  {"id": 1, "label": "0"},\n  {"id": 2}\n]\n', "id", "label", "f.json")
    with pytest.raises(SubmissionError, match=r"f.json:1: expected one JSON array of objects, got dict"):
        parse("json", '{"id": 1, "label": "0"}', "id", "label", "f.json")
    with pytest.raises(SubmissionError, match=r"f.json:2: not JSON"):
        parse("json", '[\n  {"id": 1,, }\n]', "id", "label", "f.json")
