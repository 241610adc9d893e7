"""Sohu's label implication: a pair's B label 1 sets its A row to 1, its A label 0 sets its B row to 0."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from competitions.sohu.data import SUBTASKS, Example, load_split
from competitions.sohu.implication import apply_label_implication, implied_rows, twin_labels
from tests.conftest import DATA

A, B = 0, 1  # short-short A and B subtask ids


def test_twin_labels_match_unordered_pairs_across_groups_only():
    evidence = [Example("甲", "乙", B, 1), Example("丙", "丁", A, 0), Example("戊", "己", A, 1),
                Example("庚", "辛", B, 0), Example("庚", "辛", B, 1)]  # the last pair labelled both ways in B
    rows = [Example("乙", "甲", A), Example("丙", "丁", B), Example("甲", "乙", B), Example("戊", "己", B),
            Example("庚", "辛", A), Example("壬", "癸", A)]
    assert twin_labels(rows, evidence).tolist() == [1, 0, -1, 1, -1, -1]


def test_rule_sets_only_the_implied_rows():
    evidence = [Example("甲", "乙", B, 1), Example("丙", "丁", B, 0), Example("戊", "己", A, 0), Example("庚", "辛", A, 1)]
    rows = [Example("甲", "乙", A), Example("丙", "丁", A), Example("戊", "己", B), Example("庚", "辛", B),
            Example("甲", "乙", B)]
    probs = np.array([0.2, 0.7, 0.9, 0.3, 0.4], dtype=np.float32)
    out, counts = apply_label_implication(rows, probs, evidence)
    # A with B twin 1 -> 1; A with B twin 0 and B with A twin 1 only shift the odds: kept; B with A twin 0 -> 0;
    # a row whose only labelled copy is in its own group is not a twin: kept
    assert out.tolist() == pytest.approx([1.0, 0.7, 0.0, 0.3, 0.4]) and out.dtype == np.float32
    assert counts == {"A": 1, "B": 1} and probs[0] == pytest.approx(0.2)  # the input is not modified


def test_rule_refuses_unlabelled_evidence_and_wrong_lengths():
    with pytest.raises(ValueError, match="has no label"):
        apply_label_implication([Example("甲", "乙", A)], np.array([0.5]), [Example("甲", "乙", B, id="ss0_b")])
    with pytest.raises(ValueError, match="2 probabilities for 1 examples"):
        apply_label_implication([Example("甲", "乙", A)], np.array([0.5, 0.5]), [])


@pytest.mark.skipif(not (DATA / "sohu2021").exists(), reason="real Sohu data not linked")
def test_the_labelled_files_agree_with_the_rule():
    """The counts the module docstring quotes: of the pairs labelled once in each group, two have A=0 and B=1."""
    labelled = load_split(DATA / "sohu2021", "train")[0] + load_split(DATA / "sohu2021", "valid")[0]
    a_rows = [e for e in labelled if SUBTASKS[e.subtask].group == "A"]
    twins = twin_labels(a_rows, labelled)
    both = {(frozenset((e.source, e.target)), e.label, int(t)) for e, t in zip(a_rows, twins) if t >= 0}  # one per pair
    counts = {}
    for _, a, b in both:
        counts[a, b] = counts.get((a, b), 0) + 1
    assert counts == {(0, 0): 1082, (1, 0): 257, (1, 1): 215, (0, 1): 2}


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.parametrize("implication", [True, False])
def test_submission_applies_the_rule_with_train_and_valid_as_evidence(tmp_path, implication):
    from competitions.sohu.task import TASK

    root = tmp_path / "sohu2021_open_data_clean"
    _jsonl(root / SUBTASKS[B].folder / "train.txt", [{"source": "甲", "target": "乙", "labelB": "1"}])
    _jsonl(root / SUBTASKS[A].folder / "train.txt", [{"source": "子", "target": "丑", "labelA": "1"}])  # A trained
    _jsonl(root / SUBTASKS[A].folder / "valid.txt", [{"source": "丙", "target": "丁", "labelA": "0"}])
    (root / "sample_submission.csv").write_text("id,label\nss0_a,0\nss1_a,0\nss0_b,0\n")
    test = [Example("甲", "乙", A, id="ss0_a"), Example("丙", "丁", B, id="ss0_b"), Example("戊", "己", A, id="ss1_a")]
    config = SimpleNamespace(data_dir=str(tmp_path), submission_dir=str(tmp_path / "sub"),
                             label_implication=implication, subtasks=[])
    out = TASK.write_submission(config, test, np.array([0.1, 0.9, 0.9]), {"A": 0.5, "B": 0.5}, "x")
    expected = "ss0_a,1\nss1_a,1\nss0_b,0\n" if implication else "ss0_a,0\nss1_a,1\nss0_b,1\n"
    assert open(out["submission"]).read() == "id,label\n" + expected
    assert out.get("label_implication") == ({"A": 1, "B": 1} if implication else None)


def test_implied_rows_copy_b_positives_and_a_negatives_into_the_other_group_for_unasked_pairs_only():
    train = [Example("甲", "乙", B, 1, "train:1:0"), Example("丙", "丁", A, 0, "train:0:0"),
             Example("戊", "己", B, 0, "train:1:1"), Example("庚", "辛", A, 1, "train:0:1"),
             Example("壬", "癸", B, 1, "train:1:2")]
    asked = train + [Example("癸", "壬", A, id="ss0_a")]  # 壬癸 is a test row in A: the rule decides it, no copy
    rows = implied_rows(train, asked)
    assert [(e.source, e.subtask, e.label, e.id) for e in rows] == [("甲", A, 1, "implied:train:1:0"),
                                                                  ("丙", B, 0, "implied:train:0:0")]
    assert [e.id for e in implied_rows(train, asked, groups=("A",))] == ["implied:train:1:0"]  # A positives only
    assert [e.id for e in implied_rows(train, asked, groups=("B",))] == ["implied:train:0:0"]
    assert implied_rows(train, asked, groups=()) == []


def test_task_implied_rows_follow_the_flag():
    from common.task import Splits
    from competitions.sohu.task import TASK

    data = Splits([Example("甲", "乙", B, 1, "train:1:0"), Example("丙", "丁", A, 0, "train:0:0")], [], [])

    def implied(value):
        return [e.subtask for e in TASK.implied_rows(SimpleNamespace(implied_labels=value), data.train, data)]

    assert implied("none") == [] and implied("A") == [A] and implied("B") == [B] and implied("both") == [A, B]
    assert implied(False) == [] and implied(True) == [A, B]  # a run saved when the flag was a boolean
    assert implied("false") == [] and implied("true") == [A, B]  # its command-line spelling
    with pytest.raises(ValueError, match=r"must be one of none\|A\|B\|both, got 'a'"):
        implied("a")


def test_implied_labels_flag_parses_the_group_choice():
    from common.config import parse_config
    from competitions.sohu.config import SohuConfig

    assert parse_config(SohuConfig, []).implied_labels == "none"
    assert parse_config(SohuConfig, ["--implied-labels", "A"]).implied_labels == "A"


def test_fit_trains_on_the_implied_rows_with_their_label_as_soft_target(tmp_path):
    """common.commands.train.fit hands the task train + implied rows, and extends the soft targets to match."""
    from common.commands import train as train_command
    from common.distillation import SoftTargets
    from common.task import Model, Splits
    from competitions.sohu.task import SohuTask

    class Seen(Exception):
        pass

    class Stub(SohuTask):
        def build(self, config, run_dir, train, data):
            return Model(module=None, processor=None, save=lambda d: None)

        def dataset(self, config, model, examples, training, unlabelled=None, soft_labels=None):
            raise Seen(examples, soft_labels)

    data = Splits([Example("甲", "乙", B, 1, "train:1:0"), Example("丙", "丁", B, 0, "train:1:1")], [], [])
    config = SimpleNamespace(implied_labels=True, seed=0, resume=False, init_from="")
    soft = SoftTargets(np.array([0.8, 0.3]), [Example("戊", "己", A, id="ss0_a")], np.array([0.6]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train_command, "save_config", lambda c, d: None)
        mp.setattr(train_command, "check_resume_config", lambda c, d: None)
        with pytest.raises(Seen) as seen:
            train_command.fit(Stub(), config, tmp_path, data.train, [], data, soft_targets=soft)
    examples, soft_labels = seen.value.args
    assert [(e.source, e.subtask, e.label) for e in examples] == [("甲", B, 1), ("丙", B, 0), ("甲", A, 1), ("戊", A, None)]
    assert soft_labels.tolist() == pytest.approx([0.8, 0.3, 1.0, 0.6])


def test_a_subtask_the_run_did_not_train_gets_0_and_a_trained_one_without_test_file_is_refused(tmp_path, caplog):
    """Probe Z2: a renamed 短短B test file filled every ss*_b id of the sample with 0 while the run had trained on
    短短B, with a warning saying the subtask had no data; and test rows of a subtask with no training rows were
    decided by a condition the model never learnt (20 of 30 labelled 1). The first is refused, the second is 0."""
    from common.submission import SubmissionError
    from competitions.sohu.task import TASK

    root = tmp_path / "sohu2021_open_data_clean"
    _jsonl(root / SUBTASKS[A].folder / "train.txt", [{"source": "甲", "target": "乙", "labelA": "1"}])
    _jsonl(root / SUBTASKS[B].folder / "train.txt", [{"source": "丙", "target": "丁", "labelB": "0"}])
    (root / "sample_submission.csv").write_text("id,label\nss0_a,0\nss0_b,0\nsl0_a,0\n")
    config = SimpleNamespace(data_dir=str(tmp_path), submission_dir=str(tmp_path / "sub"), label_implication=False,
                             subtasks=[])
    test = [Example("戊", "己", A, id="ss0_a"), Example("庚", "辛", 2, id="sl0_a")]  # 短短B's test file is missing
    with pytest.raises(SubmissionError, match=r"lists ids of 短短匹配B类, which the run trained on, but .*"
                                              r"test_with_id.txt is missing for it"):
        TASK.write_submission(config, test, np.array([0.9, 0.9]), {"A": 0.5, "B": 0.5}, "x")
    test.append(Example("壬", "癸", B, id="ss0_b"))
    with caplog.at_level("WARNING", logger="sohu.task"):
        out = TASK.write_submission(config, test, np.array([0.9, 0.9, 0.9]), {"A": 0.5, "B": 0.5}, "x")
    assert open(out["submission"]).read() == "id,label\nss0_a,1\nss0_b,1\nsl0_a,0\n"  # 短长A: never trained
    assert "1 test rows of subtasks the run did not train on (短长匹配A类) get label 0" in caplog.text
    other = TASK.write_submission(config, test, np.array([0.9, 0.9, 0.9]), {"A": 0.5, "B": 0.5}, "y",
                                  test_file="pairs.jsonl")  # predict --test-file: the same decision
    assert open(other["submission"]).read() == "id,label\nss0_a,1\nsl0_a,0\nss0_b,1\n"
