"""bench.label_implication: a train run's valid rows take evidence from the train files only; k-fold rows from the pool."""

import json

import numpy as np

from bench.label_implication import measure
from competitions.sohu.data import SUBTASKS

A, B = SUBTASKS[0].folder, SUBTASKS[1].folder


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _data(tmp_path):
    root = tmp_path / "data" / "sohu2021_open_data_clean"
    _jsonl(root / B / "train.txt", [{"source": "甲", "target": "乙", "labelB": "1"},
                                    {"source": "子", "target": "丑", "labelB": "0"}])
    _jsonl(root / A / "train.txt", [{"source": "寅", "target": "卯", "labelA": "0"}])
    _jsonl(root / A / "valid.txt", [{"source": "甲", "target": "乙", "labelA": "1"},  # B twin in train: set to 1
                                    {"source": "丙", "target": "丁", "labelA": "1"},  # B twin in valid: not evidence
                                    {"source": "子", "target": "丑", "labelA": "0"}])
    _jsonl(root / B / "valid.txt", [{"source": "丙", "target": "丁", "labelB": "1"},
                                    {"source": "戊", "target": "己", "labelB": "0"}])
    _jsonl(root / A / "test_with_id.txt", [{"source": "子", "target": "丑", "id": "ss0_a"}])
    _jsonl(root / B / "test_with_id.txt", [{"source": "寅", "target": "卯", "id": "ss0_b"}])  # A twin 0: set to 0
    return str(tmp_path / "data")


def test_train_run_valid_rows_use_train_labels_only(tmp_path):
    data = _data(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    keys = ["valid:0:0", "valid:0:1", "valid:0:2", "valid:1:0", "valid:1:1"]
    np.savez(run / "probabilities.npz", valid_keys=np.array(keys), valid_probs=np.array([0.1, 0.2, 0.3, 0.8, 0.2]),
             valid_labels=np.array([1, 1, 0, 1, 0]), test_ids=np.array(["ss0_a", "ss0_b"]),
             test_probs=np.array([0.4, 0.9]))
    row = measure(run, data, rounds=20, seed=0)
    assert row["kind"] == "valid" and row["set"] == {"A": 1, "B": 0}  # only 甲乙, whose B label is in train
    assert row["after"] >= row["before"]
    assert row["test"]["set"] == {"A": 0, "B": 1}  # 寅卯's A label (train) sets its B test row to 0
    assert row["test"]["decisions_changed"] == int(0.9 >= row["thresholds"]["B"])


def test_kfold_rows_take_every_other_labelled_row_as_evidence(tmp_path):
    data = _data(tmp_path)
    run = tmp_path / "cv"
    run.mkdir()
    ids = ["train:0:0", "train:1:0", "train:1:1", "valid:0:0", "valid:0:1", "valid:0:2", "valid:1:0", "valid:1:1"]
    np.savez(run / "oof.npz", ids=np.array(ids), labels=np.array([0, 1, 0, 1, 1, 0, 1, 0]),
             fold=np.array([0, 1, 0, 1, 0, 0, 1, 1]), oof=np.full(8, 0.5))
    row = measure(run, data, rounds=20, seed=0)
    # A rows 甲乙 and 丙丁 (B twins labelled 1) set to 1; B row 子丑 (A twin 0) set to 0
    assert row["kind"] == "oof" and row["set"] == {"A": 2, "B": 1} and "test" not in row
