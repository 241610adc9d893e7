"""Pseudo-labels and distillation from a finished k-fold run: the threshold rule, no leakage, the soft loss, end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.distillation import IGNORE_INDEX, distillation_loss, soft_cross_entropy
from common.pseudo_labels import confidence, confidence_threshold, fold_pseudo_labels
from common.submission import validate_clue_submission_file
from common.teacher import Teacher, load_teacher
from tests.conftest import DATA, ROOT, SHARED_VOCAB

AFQMC = DATA / "xiaobu" / "pairs" / "csts_afqmc"
TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
        "--max-length", "32", "--batch-size", "16", "--epochs", "1", "--eval-batch-size", "256", "--folds", "3"]
needs_data = pytest.mark.skipif(not (AFQMC / "train.txt").is_file(), reason=f"AFQMC not linked at {AFQMC}")


# ------------------------------------------------------------- the threshold rule
def _brute_force_threshold(probs, labels, min_accuracy):
    """The smallest t among the confidences whose rows at or above t are accurate enough."""
    conf = np.maximum(probs, 1 - probs)
    for t in np.unique(conf):  # ascending
        chosen = conf >= t
        if np.mean((probs[chosen] >= 0.5) == labels[chosen]) >= min_accuracy:
            return float(t)
    return math.inf


@pytest.mark.parametrize("seed", range(5))
def test_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    probs = np.clip(np.round(np.where(labels == 1, 0.6, 0.4) + rng.normal(0, 0.25, 300), 2), 0, 1)  # ties
    for min_accuracy in (0.5, 0.7, 0.8, 0.9, 0.95, 1.0):
        assert confidence_threshold(probs, labels, min_accuracy) == _brute_force_threshold(probs, labels, min_accuracy)


def test_threshold_edge_cases():
    assert confidence_threshold(np.array([0.9, 0.2]), np.array([0, 1]), 0.5) == math.inf  # every row wrong
    assert confidence_threshold(np.array([0.9, 0.6, 0.1]), np.array([1, 0, 0]), 1.0) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="pseudo-min-accuracy must be in"):
        confidence_threshold(np.array([0.9]), np.array([1]), 1.5)
    with pytest.raises(ValueError, match="pseudo-min-oof-rows must be at least 1"):
        confidence_threshold(np.array([0.9]), np.array([1]), 0.9, min_rows=0)


def test_a_threshold_needs_enough_oof_rows_behind_it():
    """A threshold vouched for by a handful of OOF rows is refused (a probe's 40-row contest: 2 rows chose it)."""
    probs = np.array([0.99, 0.98, 0.97, 0.9, 0.8, 0.3, 0.6, 0.4])  # the top 4 right, then mistakes
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 1])
    assert confidence_threshold(probs, labels, 1.0) == pytest.approx(0.9)  # 4 rows at or above it
    assert confidence_threshold(probs, labels, 1.0, min_rows=4) == pytest.approx(0.9)
    assert confidence_threshold(probs, labels, 1.0, min_rows=5) == math.inf  # more rows would be less accurate
    assert confidence_threshold(probs, labels, 0.8, min_rows=6) == pytest.approx(0.7)  # 5 of 6 right
    assert confidence_threshold(probs, labels, 0.8, min_rows=7) == math.inf


# ----------------------------------------------------------------- no leakage
def _teacher(rng, n=120, m=40, k=3):
    labels = rng.integers(0, 2, n)
    fold = np.arange(n) % k
    oof = np.clip(np.where(labels == 1, 0.65, 0.35) + rng.normal(0, 0.2, n), 0.01, 0.99)
    per_fold = rng.uniform(0, 1, (k, m))
    return Teacher(None, np.array([f"t:{i}" for i in range(n)]), labels, fold, oof,
                   np.array([f"test:{i}" for i in range(m)]), per_fold.mean(axis=0), per_fold)


def test_a_teacher_refuses_data_whose_labels_moved_under_the_same_ids():
    """Ids count rows by position (``train:0:k``): a training file reordered since the teacher keeps the ids and
    moves the labels, and the soft targets (or the pool's folds) landed on other rows without a word."""
    teacher = _teacher(np.random.default_rng(1))
    ids, labels = teacher.ids, teacher.labels
    assert np.array_equal(teacher.oof_of(ids[::-1], labels[::-1]), teacher.oof[::-1])  # a subset in any order
    teacher.check_pool(ids, teacher.fold, "run", labels)
    moved = labels[::-1]  # the file reversed: the same ids, other rows' labels
    with pytest.raises(ValueError, match=r"of 120 rows have other labels in the data than the teacher was scored on"):
        teacher.oof_of(ids, moved)
    with pytest.raises(ValueError, match=r"other labels in the data than the teacher"):
        teacher.check_pool(ids, teacher.fold, "run", moved)


def test_fold_k_pseudo_labels_come_from_the_fold_k_model_and_the_other_folds_threshold():
    teacher = _teacher(np.random.default_rng(0))
    for k in range(3):
        other = teacher.fold != k
        t = _brute_force_threshold(teacher.oof[other], teacher.labels[other], 0.8)
        pseudo = fold_pseudo_labels(teacher, k, 0.8)
        assert pseudo.threshold == t < math.inf
        expected = np.flatnonzero(confidence(teacher.per_fold[k]) >= t)
        assert pseudo.rows.tolist() == expected.tolist() and len(expected) > 0
        assert pseudo.labels.tolist() == (teacher.per_fold[k][expected] >= 0.5).astype(int).tolist()
        mean_rows = np.flatnonzero(confidence(teacher.test) >= t)  # the fold mean would pick other rows
        assert mean_rows.tolist() != expected.tolist()
        assert pseudo.metrics()["pseudo_rows"] == len(expected)
    before = fold_pseudo_labels(teacher, 0, 0.8)
    # fold 0's own OOF rows made confidently wrong: fold 0's threshold does not move, the others' do
    teacher.oof[teacher.fold == 0] = np.where(teacher.labels[teacher.fold == 0] == 1, 0.01, 0.99)
    assert fold_pseudo_labels(teacher, 0, 0.8).threshold == before.threshold
    assert fold_pseudo_labels(teacher, 1, 0.8).threshold == math.inf


def _write_run(path, ids, labels, fold, oof, test_ids, per_fold, test=None):
    path.mkdir(parents=True)
    np.savez(path / "oof.npz", ids=ids, labels=labels, fold=fold, oof=oof)
    np.savez(path / "test_predictions.npz", test_ids=test_ids, test=per_fold.mean(0) if test is None else test,
             per_fold=per_fold)


def test_an_ensemble_teacher_is_read_only_with_leak_free_per_fold_predictions(tmp_path):
    rng = np.random.default_rng(1)
    a = _teacher(rng)
    _write_run(tmp_path / "ens", a.ids, a.labels, a.fold, a.oof, a.test_ids, a.per_fold)
    (tmp_path / "ens" / "ensemble.json").write_text(json.dumps({"method": "caruana"}))  # written before the flag
    with pytest.raises(ValueError, match=r"ens/ensemble\.json: its per-fold test predictions have seen the folds"):
        load_teacher(tmp_path / "ens")
    (tmp_path / "ens" / "ensemble.json").write_text(json.dumps({"method": "caruana", "per_fold_leak_free": True}))
    teacher = load_teacher(tmp_path / "ens")
    assert np.array_equal(teacher.per_fold, a.per_fold)
    with pytest.raises(ValueError, match="folds differ"):
        teacher.check_pool(a.ids, (a.fold + 1) % 3, "round 2")


def test_transfer_rows_are_a_seeded_share_of_the_test_rows():
    from common.distillation import transfer_rows

    rows = transfer_rows(25, 0.4, 7)
    assert len(rows) == 10 == len(set(rows.tolist())) and rows.tolist() == sorted(rows.tolist())
    assert np.array_equal(rows, transfer_rows(25, 0.4, 7)) and not np.array_equal(rows, transfer_rows(25, 0.4, 8))
    assert transfer_rows(25, 1.0, 7).tolist() == list(range(25)) and len(transfer_rows(25, 0.0, 7)) == 0


# ------------------------------------------------------------------- the soft loss
def test_distillation_loss_against_the_formula():
    torch.manual_seed(0)
    logits = torch.randn(6, 2)
    labels = torch.tensor([1, 0, IGNORE_INDEX, 1, 0, IGNORE_INDEX])  # two unlabelled (test) rows
    soft = torch.tensor([0.9, float("nan"), 0.3, 0.6, 0.2, 0.7])  # one row without a soft target
    has_hard, has_soft = labels != IGNORE_INDEX, ~torch.isnan(soft)
    plain = F.cross_entropy(logits[has_hard], labels[has_hard])
    log_p = F.log_softmax(logits, dim=-1)
    by_hand = -((1 - soft) * log_p[:, 0] + soft * log_p[:, 1])[has_soft].mean()
    assert torch.allclose(distillation_loss(logits, labels, soft, 0.0), plain)
    assert torch.allclose(distillation_loss(logits, labels, soft, 1.0), by_hand)
    assert torch.allclose(distillation_loss(logits, labels, soft, 0.3), 0.7 * plain + 0.3 * by_hand)
    T = 2.0  # Hinton's temperature: teacher p at T is sigmoid(logit(p) / T), student softmax(z / T), times T^2
    p_T = torch.sigmoid(torch.logit(soft) / T)
    log_q = F.log_softmax(logits / T, dim=-1)
    soft_T = -(T ** 2) * ((1 - p_T) * log_q[:, 0] + p_T * log_q[:, 1])[has_soft].mean()
    assert torch.allclose(distillation_loss(logits, labels, soft, 1.0, T), soft_T, atol=1e-6)
    assert torch.allclose(soft_cross_entropy(logits[:1], soft[:1]), by_hand.new_tensor(
        [-(0.1 * log_p[0, 0] + 0.9 * log_p[0, 1])]))
    none = distillation_loss(logits.requires_grad_(), None, torch.full((6,), float("nan")), 0.5)
    assert none.item() == 0 and none.requires_grad  # nothing to learn: 0, and backward still works


def test_pair_classifier_forward_uses_the_soft_loss(tiny_tokenizer):
    from common.pair_classifier import PairClassifier
    from common.pair_inputs import PairDataset, collate_pairs
    from tests.conftest import tiny_bert

    torch.manual_seed(0)
    model = PairClassifier(tiny_bert(len(tiny_tokenizer)), distill_alpha=0.4, distill_temperature=1.0).eval()
    ds = PairDataset(["今天天气", "北京顺义", "科比"], ["天气很好", "低风险地区", "湖人王朝"], [1, IGNORE_INDEX, 0],
                     tiny_tokenizer, 32, soft_labels=[0.8, 0.4, float("nan")])
    batch = collate_pairs([ds[i] for i in range(3)], tiny_tokenizer.pad_token_id)
    assert batch["soft_labels"].dtype == torch.float32 and batch["labels"].tolist() == [1, IGNORE_INDEX, 0]
    out = model(**batch)
    assert torch.allclose(out.loss, distillation_loss(out.logits, batch["labels"], batch["soft_labels"], 0.4))
    plain = model(**{k: v for k, v in batch.items() if k != "soft_labels"})  # without soft labels: plain CE
    assert torch.allclose(plain.loss, F.cross_entropy(out.logits, batch["labels"]))


def test_xiaobu_classifier_and_id_pairs_use_the_soft_loss():
    from transformers import BertConfig

    from common.bert_pair_classifier import BertPairClassifier
    from common.id_vocab import build_id_vocab
    from common.pair_inputs import IdPairDataset, collate_pairs
    from competitions.xiaobu.data import Pair

    torch.manual_seed(0)
    vocab = build_id_vocab([[1, 2, 3, 4, 5]])
    pairs = [Pair([1, 2], [2, 3], 1, "train:0"), Pair([4], [5, 1], None, "test:0"), Pair([3], [3], 0, "train:1")]
    ds = IdPairDataset(pairs, vocab, 16, use_match=True, soft_labels=[0.8, 0.3, float("nan")])
    batch = collate_pairs([ds[i] for i in range(3)], vocab.pad_id)
    assert batch["labels"].tolist() == [1, IGNORE_INDEX, 0] and batch["soft_labels"].dtype == torch.float32
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2, use_match=True)
    model = BertPairClassifier(config).eval()
    model.set_logit_adjustment(torch.log(torch.tensor([0.7, 0.3])), 0.5)
    model.set_distillation(0.4, 2.0)
    out = model(**batch)
    hard = out.logits + 0.5 * torch.log(torch.tensor([0.7, 0.3]))
    assert torch.allclose(out.loss, distillation_loss(out.logits, batch["labels"], batch["soft_labels"], 0.4, 2.0, hard))
    with pytest.raises(ValueError, match="3 pairs, 2 soft labels"):
        IdPairDataset(pairs, vocab, 16, soft_labels=[0.1, 0.2])


# ------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def afqmc(tmp_path_factory):
    """The first 60 / 30 / 25 lines of AFQMC and a 3-fold round 1 on them."""
    if not (AFQMC / "train.txt").is_file():
        pytest.skip(f"AFQMC not linked at {AFQMC}")
    from common.commands import cv

    root = tmp_path_factory.mktemp("afqmc")
    data = root / "data"
    data.mkdir()
    for name, n in (("train.txt", 60), ("dev.txt", 30), ("test.txt", 25)):
        lines = (AFQMC / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (data / name).write_text("".join(lines), encoding="utf-8")
    vocab = str(SHARED_VOCAB) if SHARED_VOCAB.is_dir() else str(root / "none")
    flags = ["--task", "afqmc", "--data-dir", str(data), "--submission-dir", str(root / "sub"), "--vocab", vocab] + TINY
    cv.main(flags + ["--run-dir", str(root / "round1")])
    return root, flags


@needs_data
def test_cv_with_pseudo_labels_trains_fold_k_on_its_models_test_rows(afqmc, monkeypatch):
    from common.commands import cv

    root, flags = afqmc
    teacher = load_teacher(root / "round1")
    seen = {}
    real_fit = cv.fit

    def spy(task, config, run_dir, train, valid, data, callbacks=(), soft_targets=None):
        seen[run_dir.name] = [(e.id, e.label) for e in train if e.id.startswith("test:")]
        return real_fit(task, config, run_dir, train, valid, data, callbacks, soft_targets)

    monkeypatch.setattr(cv, "fit", spy)
    run = root / "round2"
    result = cv.main(flags + ["--run-dir", str(run), "--pseudo-from", str(root / "round1"), "--pseudo-min-accuracy", "0.5",
                              "--pseudo-min-oof-rows", "1"])  # a tiny teacher: too few OOF rows for the default 50
    assert result["complete"] and validate_clue_submission_file(result["submission"], list(range(25))) == 25
    saved = json.loads((run / "cv_metrics.json").read_text(encoding="utf-8"))
    assert np.array_equal(np.load(run / "oof.npz")["fold"], teacher.fold)
    for k in range(3):
        other = teacher.fold != k
        t = _brute_force_threshold(teacher.oof[other], teacher.labels[other], 0.5)
        rows = np.flatnonzero(confidence(teacher.per_fold[k]) >= t)
        expected = [(teacher.test_ids[i], int(teacher.per_fold[k][i] >= 0.5)) for i in rows]
        assert seen[f"fold{k}"] == expected and len(expected) > 0
        assert saved["folds"][str(k)]["pseudo_rows"] == len(rows)
        assert saved["folds"][str(k)]["pseudo_threshold"] == pytest.approx(t)
    assert json.loads((run / "config.json").read_text())["pseudo_from"] == str(root / "round1")
    with pytest.raises(ValueError, match="folds differ"):
        cv.main(flags + ["--run-dir", str(root / "other"), "--pseudo-from", str(root / "round1"), "--fold-seed", "7"])
    assert not (root / "other").exists()  # not even the empty folder (it was left behind)


@needs_data
def test_train_and_cv_distilled_from_a_kfold_run(afqmc):
    from common.commands import cv, train

    root, flags = afqmc
    args = [a for a in flags if a not in ("--folds", "3")]
    result = train.main(args + ["--run-dir", str(root / "student"), "--distill-from", str(root / "round1"),
                                "--distill-alpha", "0.7", "--distill-temperature", "2"])
    assert validate_clue_submission_file(result["submission"], list(range(25))) == result["rows"] == 25
    assert "train examples 85 " in (root / "student" / "train.log").read_text()  # 60 train rows + 25 test rows
    assert (result["train_examples"], result["transfer_examples"]) == (60, 25)
    # its validation rows (dev) are in the teacher's pool: the teacher's OOF accuracy of them is reported beside
    # (probe Y), the best of every threshold P(1) >= t, recomputed here from oof.npz
    with np.load(root / "round1" / "oof.npz") as saved:
        oof = dict(zip(saved["ids"].tolist(), saved["oof"].tolist()))
    dev = [line.split("\t") for line in (root / "data" / "dev.txt").read_text(encoding="utf-8").splitlines()]
    probs, labels = np.array([oof[f"dev:{i + 1}"] for i in range(len(dev))]), np.array([int(r[2]) for r in dev])
    best = max(np.mean((probs >= t) == labels) for t in [*probs, np.inf])
    assert result["teacher_oof_valid"] == pytest.approx(best)
    train.main(args + ["--run-dir", str(root / "student-share"), "--distill-from", str(root / "round1"),
                       "--distill-test-fraction", "0.4"])
    assert "train examples 70 " in (root / "student-share" / "train.log").read_text()  # 60 + 10 of the 25
    saved = json.loads((root / "student" / "config.json").read_text())
    assert saved["distill_alpha"] == 0.7 and saved["distill_temperature"] == 2
    plain = json.loads((root / "round1" / "fold0" / "config.json").read_text())
    assert "distill_from" not in plain  # plain runs' configs hold the task's options only
    result = cv.main(flags + ["--run-dir", str(root / "student-cv"), "--distill-from", str(root / "round1"),
                              "--distill-alpha", "1.0"])
    assert result["complete"] and validate_clue_submission_file(result["submission"], list(range(25))) == 25
    with pytest.raises(ValueError, match="one teacher use at a time"):
        cv.main(flags + ["--run-dir", str(root / "x"), "--distill-from", str(root / "round1"),
                         "--pseudo-from", str(root / "round1")])
    with pytest.raises(ValueError, match="have no OOF prediction"):  # rows outside the teacher's pool
        train.main(args + ["--run-dir", str(root / "y"), "--distill-from", str(root / "round1"),
                            "--train-file", str(AFQMC / "train.txt"), "--limit", "100"])


@needs_data
def test_a_student_of_a_smaller_limit_than_its_teacher_checks_the_teachers_rows(afqmc, tmp_path):
    """Probe Y: a teacher of --limit 40 and a student of --limit 20 on files edited since (a text of a row both
    read): the student trained on the new text with the teacher's target of the old one, unchecked (only a pool of
    the teacher's ids, or the whole files', was checked)."""
    import shutil

    from common.commands import cv, train

    root, flags = afqmc
    cv.main(flags + ["--run-dir", str(root / "round1-cut"), "--limit", "40"])
    args = [a for a in flags if a not in ("--folds", "3")]
    student = args + ["--distill-from", str(root / "round1-cut"), "--limit", "20"]
    data = flags[flags.index("--data-dir") + 1]
    edited = tmp_path / "edited"
    shutil.copytree(data, edited)
    lines = (edited / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = "改过的句子" + lines[4][lines[4].index("\t"):]
    (edited / "train.txt").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=r"folds.json: made on other labelled rows than .*edited holds now"):
        train.main(student + ["--data-dir", str(edited), "--run-dir", str(tmp_path / "s1")])
    assert not (tmp_path / "s1").exists()
    # a row the teacher read deleted since: the check was skipped and later rows took others' targets (probe AA)
    del lines[4]
    (edited / "train.txt").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=r"round1: its pool holds 1 rows the data files no longer hold \(e.g. "
                                         r"'train:60'\): a file edited since the teacher ran"):
        train.main(args + ["--distill-from", str(root / "round1"), "--limit", "20", "--data-dir", str(edited),
                           "--run-dir", str(tmp_path / "s1")])
    assert train.main(student + ["--run-dir", str(tmp_path / "s2")])["train_examples"] == 20  # the files as read


def _same_weights(a, b) -> bool:
    sa, sb = (torch.load(p, map_location="cpu", weights_only=False)["state_dict"] for p in (a, b))
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@needs_data
def test_a_student_starts_from_the_init_run_fold_by_fold(afqmc):
    """--init-from: at learning rate 0 the student's weights are exactly those it started from (fold k from fold k)."""
    from common.commands import cv, train

    root, flags = afqmc
    still = ["--learning-rate", "0", "--distill-from", str(root / "round1"), "--distill-alpha", "1.0"]
    cv.main(flags + still + ["--run-dir", str(root / "warm-cv"), "--init-from", str(root / "round1")])
    for k in range(3):
        assert _same_weights(root / "warm-cv" / f"fold{k}" / "model.pt", root / "round1" / f"fold{k}" / "model.pt")
    assert not _same_weights(root / "warm-cv" / "fold0" / "model.pt", root / "round1" / "fold1" / "model.pt")
    saved = json.loads((root / "warm-cv" / "fold2" / "config.json").read_text())
    assert saved["init_from"] == str(root / "round1" / "fold2" / "model.pt")
    args = [a for a in flags if a not in ("--folds", "3")]
    train.main(args + ["--run-dir", str(root / "plain")])  # a single run validated on the student's rows
    train.main(args + still + ["--run-dir", str(root / "warm"), "--init-from", str(root / "plain")])
    assert _same_weights(root / "warm" / "model.pt", root / "plain" / "model.pt")
    with pytest.raises(FileNotFoundError, match="a k-fold run starts a k-fold student"):  # a single student
        train.main(args + still + ["--run-dir", str(root / "w1"), "--init-from", str(root / "round1")])
    with pytest.raises(ValueError, match="needs --distill-from"):
        train.main(args + ["--run-dir", str(root / "w2"), "--init-from", str(root / "plain")])
    # probe X: a fold model (it trained on every other fold: 2/3 of the pool) or a run validated on other rows
    # started a single student that had seen the labels of rows it validates on
    with pytest.raises(ValueError, match=r"--init-from .*fold1: a single student starts from a single run "
                                         r"validated on its rows, and .*probabilities.npz .* is missing"):
        train.main(args + still + ["--run-dir", str(root / "w3"), "--init-from", str(root / "round1" / "fold1")])
    train.main(args + ["--run-dir", str(root / "plain-cut"), "--limit", "20"])
    with pytest.raises(ValueError, match=r"--init-from .*plain-cut: it was validated on other rows \(20 validation "
                                         r"rows, the student's 30, 20 ids shared\), so it trained on rows"):
        train.main(args + still + ["--run-dir", str(root / "w4"), "--init-from", str(root / "plain-cut")])
    with pytest.raises(ValueError, match=r"--init-from .*plain: its weights are not this model's \(.*size mismatch"):
        train.main(args + still + ["--run-dir", str(root / "w5"), "--init-from", str(root / "plain"),
                                   "--intermediate-size", "48"])  # a traceback of torch's RuntimeError (probe X)
    assert not any((root / f"w{i}").exists() for i in range(1, 6))


def test_a_single_init_run_validated_on_other_content_is_refused(tmp_path):
    """The same validation ids of another file (ids count lines) are other rows: refused where the run recorded
    the digest of its validation rows; a run from before that record is checked by its ids."""
    from common.distillation import check_init_split

    ids = np.array(["0", "1", "2"])
    np.savez(tmp_path / "probabilities.npz", valid_keys=ids, valid_digest=np.array("abc"))
    check_init_split(tmp_path, ids, "abc")
    check_init_split(tmp_path / "model.pt", ids, "abc")  # the weights file itself: its folder's record
    check_init_split(tmp_path, np.array([], dtype=str), "")  # a student of every row validates on nothing
    with pytest.raises(ValueError, match="its validation rows have the student's ids but other content"):
        check_init_split(tmp_path, ids, "abd")
    np.savez(tmp_path / "probabilities.npz", valid_keys=ids)
    check_init_split(tmp_path, ids, "abd")


def test_a_kfold_init_run_on_other_folds_is_refused(tmp_path):
    from common.distillation import check_init_folds

    ids, fold = np.array(["a", "b", "c", "d"]), np.array([0, 1, 0, 1])
    (tmp_path / "folds.json").write_text(json.dumps({"ids": ids.tolist(), "fold": fold.tolist()}))
    check_init_folds(tmp_path, ids, fold)
    with pytest.raises(ValueError, match="are not the student's"):
        check_init_folds(tmp_path, ids, np.array([1, 0, 0, 1]))
    with pytest.raises(ValueError, match="are not the student's"):
        check_init_folds(tmp_path, ids[::-1], fold)
    with pytest.raises(FileNotFoundError, match="folds.json is missing"):
        check_init_folds(tmp_path / "none", ids, fold)


def test_xiaobu_cv_distilled_from_a_kfold_run(tmp_path):
    from common.commands import cv
    from common.submission import validate_probability_file

    fixtures = ROOT / "tests" / "fixtures" / "xiaobu"
    flags = ["--task", "xiaobu", "--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv",
             "--submission-dir", str(tmp_path / "sub"), "--folds", "2"] + TINY[:-2]
    cv.main(flags + ["--run-dir", str(tmp_path / "round1")])
    result = cv.main(flags + ["--run-dir", str(tmp_path / "student"), "--distill-from", str(tmp_path / "round1"),
                              "--distill-alpha", "1.0"])
    assert result["complete"] and validate_probability_file(result["submission"], 16) == 16
    assert json.loads((tmp_path / "student" / "fold0" / "config.json").read_text())["distill_alpha"] == 1.0
    with pytest.raises(ValueError, match="not --joint"):
        cv.main(flags + ["--run-dir", str(tmp_path / "joint"), "--distill-from", str(tmp_path / "round1"), "--joint", "true",
                         "--logit-adjust-tau", "0", "--posthoc-tau", "0"])


def test_sohu_student_decides_with_the_teachers_thresholds_now_and_on_predict(tmp_path):
    """--distill-thresholds teacher: thresholds tuned on the teacher's OOF of the pool, kept by a later predict."""
    from bench.student_holdout import write_sohu
    from common.commands import cv, predict, train
    from common.task import get_task
    from competitions.sohu.data import SUBTASKS
    from competitions.sohu.metrics import sohu_scores
    from tests.test_student_holdout import _sohu_source

    task = get_task("sohu")
    source = _sohu_source(tmp_path / "source", n=40)
    config = task.config_class()
    config.data_dir = str(source)
    ids = task.ids(task.cv_pool(config, task.load_data(config)))
    data = tmp_path / "data"
    write_sohu(source, ids[::2], ids[1::2], data)  # 53 labelled rows, 53 test rows with a sample submission
    vocab = str(SHARED_VOCAB) if SHARED_VOCAB.is_dir() else str(tmp_path / "none")
    flags = ["--task", "sohu", "--data-dir", str(data), "--submission-dir", str(tmp_path / "sub"), "--vocab", vocab,
             "--blend-with", ""] + TINY
    cv.main(flags + ["--run-dir", str(tmp_path / "round1")])
    teacher = load_teacher(tmp_path / "round1")
    config.data_dir = str(data)
    splits = task.load_data(config)
    pool = task.cv_pool(config, splits)
    by_id = {e.id: e for e in pool}
    expected = sohu_scores(teacher.labels, teacher.oof, np.array([by_id[i].subtask for i in teacher.ids]))[1]

    args = [a for a in flags if a not in ("--folds", "3")] + ["--distill-from", str(tmp_path / "round1")]
    own = train.main(args + ["--run-dir", str(tmp_path / "own")])
    student = tmp_path / "student"
    result = train.main(args + ["--run-dir", str(student), "--distill-thresholds", "teacher"])
    assert result["thresholds"] == pytest.approx(expected) != own["thresholds"]
    assert json.loads((student / "thresholds.json").read_text()) == pytest.approx(expected)
    valid = np.load(student / "probabilities.npz")["valid_probs"]
    assert result["valid"]["score"] == pytest.approx(task.score(splits.valid, valid, expected)[0]["score"])
    submitted = dict(line.split(",") for line in open(result["submission"]).read().splitlines()[1:])
    saved = np.load(student / "probabilities.npz")
    groups = {e.id: SUBTASKS[e.subtask].group for e in splits.test}
    assert {i: int(p >= expected[groups[i]]) for i, p in zip(saved["test_ids"], saved["test_probs"])} == \
        {i: int(y) for i, y in submitted.items()}
    again = predict.main(["--task", "sohu", "--run", str(student)])  # a later predict keeps the teacher's
    assert again["thresholds"] == pytest.approx(expected)

    kfold = cv.main(flags + ["--run-dir", str(tmp_path / "student-cv"), "--distill-from", str(tmp_path / "round1"),
                             "--distill-thresholds", "teacher"])
    assert kfold["thresholds"] == pytest.approx(expected)
    oof = np.load(tmp_path / "student-cv" / "oof.npz")
    assert kfold["cv_teacher_thresholds"]["score"] == pytest.approx(
        task.score([by_id[i] for i in oof["ids"]], oof["oof"], expected)[0]["score"])
    # named by that score; a later predict of the k-fold run decides and names alike (it re-tuned the thresholds
    # on the OOF and rewrote the submission under the same name with other labels: probe V)
    assert f"cv{kfold['cv_teacher_thresholds']['score']:.4f}" in Path(kfold["submission"]).name
    submitted = Path(kfold["submission"]).read_bytes()
    later = predict.main(["--task", "sohu", "--run", str(tmp_path / "student-cv")])
    assert later["thresholds"] == pytest.approx(expected) and later["submission"] == kfold["submission"]
    assert Path(later["submission"]).read_bytes() == submitted
    with pytest.raises(ValueError, match="--distill-thresholds must be one of valid, teacher"):
        train.main(args + ["--run-dir", str(tmp_path / "bad"), "--distill-thresholds", "test"])


def test_pseudo_labels_of_a_class_mix_far_from_the_labelled_rows_are_warned_about(caplog):
    """Fold k's model labels the test rows at a threshold set on the other folds' OOF: a model calibrated unlike
    them gave 99% positive pseudo-labels in a contest of 33% positives without a word (probe V)."""
    from common.pseudo_labels import check_class_mix

    with caplog.at_level("WARNING", logger="common.pseudo_labels"):
        assert check_class_mix(1, np.array([29, 3829]), np.array([200, 100])) == pytest.approx(3829 / 3858 - 1 / 3)
    assert "fold 1: its 3858 pseudo-labels are [0.01, 0.99] of each class, the labelled rows [0.67, 0.33]" \
        in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="common.pseudo_labels"):
        assert check_class_mix(0, np.array([60, 40]), np.array([200, 100])) < 0.3  # near the prior: quiet
        assert check_class_mix(0, np.array([0, 10]), np.array([200, 100])) == 0.0  # too few rows to judge
    assert not caplog.text
