"""k-fold NER (competitions.ner.cv): span voting against a direct count, and the run end to end on the BIO fixture:
OOF and vote scores against span_scores of the saved spans, a rerun that trains nothing, predict of the k-fold run,
and an edited train file refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from common.ner.metric import span_scores
from common.ner.spans import Span
from common.ner.voting import vote_spans
from tests.conftest import ROOT, SHARED_VOCAB

BIO = ROOT / "tests" / "fixtures" / "ner_bio"


def test_vote_keeps_the_spans_more_than_half_of_the_models_predict():
    a, b, c = Span(0, 1, "PER"), Span(3, 4, "LOC"), Span(3, 4, "ORG")
    models = [[[a, b], []], [[a, c, c], [b]], [[b], [b]]]  # 3 models x 2 texts; a repeat counts once
    assert vote_spans(models) == [[a, b], [b]]  # a: 2 of 3, b: 2 of 3, c: 1 of 3
    assert vote_spans(models, min_votes=1) == [[a, b, c], [b]]
    assert vote_spans(models, min_votes=3) == [[], []]
    assert vote_spans([[[a]], [[a]]]) == [[a]] and vote_spans([[[a]], [[]]]) == [[]]  # 2 models: both
    flat = [[[Span(0, 2, "X")]], [[Span(1, 3, "X")]], [[Span(0, 2, "X")]], [[Span(1, 3, "X")]]]
    assert vote_spans(flat) == [[]]  # flat models vote to flat output: two overlapping spans, 2 of 4 each
    with pytest.raises(ValueError, match="not one count"):
        vote_spans([[[a]], [[a], [b]]])
    with pytest.raises(ValueError, match="min_votes 4: expected 1..3"):
        vote_spans(models, min_votes=4)


def _args(tmp_path: Path) -> list[str]:
    vocab = str(SHARED_VOCAB) if SHARED_VOCAB.is_dir() else str(tmp_path / "none")
    return ["--format", "bio", "--data-dir", str(BIO), "--train-file", "train.txt", "--dev-file", "dev.txt",
            "--test-file", "test.txt", "--folds", "3", "--run-dir", str(tmp_path / "cv3"),
            "--submission-dir", str(tmp_path / "sub"), "--hidden-size", "32", "--lstm-layers", "1", "--epochs", "3",
            "--batch-size", "1", "--learning-rate", "2e-2", "--warmup-ratio", "0", "--w2v-init", "false",
            "--max-train-minutes", "0", "--vocab", vocab]


def test_kfold_run_scores_votes_reruns_and_predicts(tmp_path, capsys):
    from competitions.ner import cv, predict
    from competitions.ner.data import read_examples

    run = tmp_path / "cv3"
    result = cv.main(_args(tmp_path))
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["cv"] == result["cv"]
    assert result["complete"] and result["votes_needed"] == 2 and result["dev"]["f1"] > 0  # the vote is of spans
    gold = read_examples(BIO / "train.txt", "bio", True, False)
    folds = json.loads((run / "folds.json").read_text())
    assert sorted(folds["fold"]) == sorted([0, 1, 2] * 4) and len(folds["ids"]) == len(gold) == 12
    # OOF: every train text once, scored as span_scores scores the saved spans
    oof = {}
    for k in range(3):
        record = json.loads((run / f"fold{k}" / cv.FOLD_SPANS).read_text())
        assert [int(i.split(":")[1]) for i in record["ids"]] == [i for i, f in enumerate(folds["fold"]) if f == k]
        oof.update({i: [Span(*s) for s in spans] for i, spans in zip(record["ids"], record["spans"])})
        assert not (run / f"fold{k}" / "checkpoint").exists() and (run / f"fold{k}" / "model.pt").is_file()
    assert span_scores([ex.spans for ex in gold], [oof[f"train:{i}"] for i in range(12)])["f1"] == \
        pytest.approx(result["cv"]["f1"], abs=5e-5)
    # the vote: each fold model's own prediction of the test file (predict of the fold's folder), counted
    per_model = []
    for k in range(3):
        own = predict.main(["--run", str(run / f"fold{k}"), "--submission-dir", str(tmp_path / f"fold{k}")])
        assert own["dev"]["f1"] == result["folds"][str(k)]["dev"]["f1"]
        per_model.append([[Span(e["start"], e["end"], e["type"]) for e in json.loads(line)["entities"]]
                          for line in open(own["prediction"], encoding="utf-8")])
    rows = [json.loads(line) for line in open(result["prediction"], encoding="utf-8")]
    assert len(rows) == result["test_lines"] == 4 and Path(result["prediction"]).name == \
        f"cv3-cv{result['cv']['f1']:.4f}-dev{result['dev']['f1']:.4f}.jsonl"
    assert [[Span(e["start"], e["end"], e["type"]) for e in r["entities"]] for r in rows] == vote_spans(per_model)
    saved = json.loads((run / "cv_metrics.json").read_text())
    assert saved["cv"] == result["cv"] and saved["dev"] == result["dev"]
    from common.report import describe_run, task_info  # probe AL: the report found no OOF score in it

    shown = describe_run(run, task_info("ner", [run]), tmp_path / "curves", {}, tmp_path)
    assert shown.kind == "k-fold" and shown.metric == result["cv"]["f1"] and not shown.problems
    # a rerun trains nothing and writes the same prediction; predict of the k-fold run votes alike
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file() and p.parent.name.startswith("fold")}
    again = cv.main(_args(tmp_path))
    assert again["cv"] == result["cv"] and again["dev"] == result["dev"]
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert open(again["prediction"]).read() == open(result["prediction"]).read()
    voted = predict.main(["--run", str(run), "--submission-dir", str(tmp_path / "p")])
    assert voted["dev"] == result["dev"] and open(voted["prediction"]).read() == open(result["prediction"]).read()
    other = predict.main(["--run", str(run), "--test-file", "dev.txt", "--submission-dir", str(tmp_path / "p")])
    assert other["test"] == result["dev"] and "-dev-" in Path(other["prediction"]).name  # the vote scored as dev's
    dev = read_examples(BIO / "dev.txt", "bio", True, False)
    voted_dev = [[Span(e["start"], e["end"], e["type"]) for e in json.loads(line)["entities"]]
                 for line in open(other["prediction"], encoding="utf-8")]
    assert span_scores([ex.spans for ex in dev], voted_dev)["f1"] == pytest.approx(result["dev"]["f1"], abs=5e-5)
    with pytest.raises(ValueError, match="is a k-fold run"):
        predict.main(["--run", str(run), "--decoding", "flat"])


def test_a_kfold_rerun_on_an_edited_train_file_or_other_options_is_refused(tmp_path):
    from competitions.ner import cv

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.txt", "dev.txt", "test.txt"):
        (data / name).write_text((BIO / name).read_text(encoding="utf-8"), encoding="utf-8")
    args = _args(tmp_path) + ["--data-dir", str(data), "--epochs", "1", "--only-folds", "0"]
    with pytest.raises(ValueError, match="k-fold needs at least 2 folds"):
        cv.main(args + ["--folds", "1"])
    assert not (tmp_path / "cv3").exists()  # refused before a run folder (probe AL: an empty one was left)
    first = cv.main(args)
    assert not first["complete"] and first["folds_done"] == 1 and not (tmp_path / "cv3" / "cv_metrics.json").exists()
    from common.report import describe_run, task_info

    shown = describe_run(tmp_path / "cv3", task_info("ner", [tmp_path / "cv3"]), tmp_path / "curves", {}, tmp_path)
    assert shown.problems == ["1 of 3 folds done, no cv_metrics.json"]
    with pytest.raises(ValueError, match=r"started with other options \(epochs 1 -> 2\)"):
        cv.main(args + ["--epochs", "2"])
    text = (data / "train.txt").read_text(encoding="utf-8")
    (data / "train.txt").write_text(text.replace("B-PER", "B-ORG", 1).replace("I-PER", "I-ORG", 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"folds.json: made on other labelled rows"):
        cv.main(args)
    assert sorted(os.listdir(tmp_path / "cv3")) == ["config.json", "environment.json", "fold0", "folds.json"]
