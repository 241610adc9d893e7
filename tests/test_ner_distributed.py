"""NER under two processes (``accelerate launch``, gloo on CPU) against one process.

The command a multi-GPU user runs, on CPU::

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \
        --mixed_precision no --dynamo_backend no -m competitions.ner.train ...

(``--cpu`` would silently run one process.) Checked: exit 0, exactly one result line,
files written once, dev metrics over the whole dev set, and the prediction file of one
saved model byte-identical between 1 and 2 processes, including a test set whose last
batch leaves one process short (accelerate pads it with repeated rows, which must be
dropped).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED_VOCAB
from tests.distributed import describe, launch, read_write_log, result_lines

BIO = ROOT / "tests" / "fixtures" / "ner_bio"


def train_args(tmp_path: Path, epochs: int = 2) -> list[str]:
    vocab = str(SHARED_VOCAB) if SHARED_VOCAB.is_dir() else str(tmp_path / "none")
    return ["--format", "bio", "--data-dir", str(BIO), "--train-file", "train.txt", "--dev-file", "dev.txt",
            "--test-file", "test.txt", "--limit", "11", "--run-dir", str(tmp_path / "run"),
            "--submission-dir", str(tmp_path / "sub"), "--hidden-size", "32", "--lstm-layers", "1",
            "--epochs", str(epochs), "--batch-size", "4", "--eval-batch-size", "4", "--learning-rate", "2e-2",
            "--warmup-ratio", "0", "--w2v-init", "false", "--max-train-minutes", "0", "--vocab", vocab]


def test_two_process_training_and_prediction(tmp_path):
    """``accelerate launch`` of train, then of predict, against one process on the same saved model.

    Before the fix the 2-process train crashed at its first evaluation
    (``'DistributedDataParallel' object has no attribute 'decode'``).
    """
    log = tmp_path / "writes.log"
    done = launch(["competitions.ner.train"] + train_args(tmp_path, epochs=3), env={"COMMON_IO_WRITE_LOG": str(log)})
    assert done.returncode == 0, describe(done)
    lines = result_lines(done.stdout)
    assert len(lines) == 1, done.stdout  # the main process alone prints
    result = lines[0]
    run = tmp_path / "run"
    assert result["processes"] == 2 and result["dev_texts"] == 4
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert len(metrics["history"]) == 3
    assert all(h.get("eval_examples", 4) == 4 for h in metrics["history"])  # the whole dev set, no duplicates
    assert [p.name for p in (tmp_path / "sub" / "ner_bio").iterdir()] == [Path(result["prediction"]).name]
    assert not [p for p in run.rglob("*.tmp")]  # atomic writes finished, none left half-written
    writers = defaultdict(set)
    for pid, path in read_write_log(log):
        writers[path].add(pid)
    assert writers and len(set().union(*writers.values())) == 1, writers  # every file from one process
    assert sum(1 for _, p in read_write_log(log) if p == str(Path(result["prediction"]).resolve())) == 1

    from competitions.ner import predict

    one = predict.main(["--run", str(run), "--submission-dir", str(tmp_path / "one")])  # 1 process, this one
    assert one["processes"] == 1 and one["dev"] == result["dev"]
    assert Path(one["prediction"]).read_bytes() == Path(result["prediction"]).read_bytes()
    # predict under 2 processes, 12 texts (--limit cuts train and dev, not a test file) in batches of 4: three
    # batches, so the second process's second batch is padding, dropped
    extra = ["--test-file", "train.txt"]
    one = predict.main(["--run", str(run), "--submission-dir", str(tmp_path / "one")] + extra)
    done = launch(["competitions.ner.predict", "--run", str(run), "--submission-dir", str(tmp_path / "two")] + extra)
    assert done.returncode == 0, describe(done)
    lines = result_lines(done.stdout)
    assert len(lines) == 1, done.stdout
    two = lines[0]
    assert two["processes"] == 2 and two["dev"] == one["dev"] and two["test_lines"] == one["test_lines"] == 12
    assert two["test"] == one["test"]
    assert Path(two["prediction"]).read_bytes() == Path(one["prediction"]).read_bytes()


@pytest.mark.slow  # 22 s; the fast suite trains a pretrained encoder's pair model under 2 processes (the same
# common.encoder build, tests/test_distributed.py) and NER under 2 processes from scratch (above)
def test_two_process_training_from_a_pretrained_checkpoint(tmp_path):
    """``--encoder-type bert --model <HF checkpoint>`` (a BertModel saved with its pooler, as hfl/* are) under 2
    processes. Before the fix the unused pooler stopped DistributedDataParallel at the second step."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    tokenizer = BertTokenizerFast.from_pretrained(str(SHARED_VOCAB))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(tmp_path / "checkpoint")
    tokenizer.save_pretrained(tmp_path / "checkpoint")
    done = launch(["competitions.ner.train"] + train_args(tmp_path)
                  + ["--encoder-type", "bert", "--model", str(tmp_path / "checkpoint")])
    assert done.returncode == 0, describe(done)
    assert len(result_lines(done.stdout)) == 1


@pytest.mark.slow
def test_two_process_kfold_matches_one_process(tmp_path):
    """``competitions.ner.cv`` under 2 processes x batch 1 against 1 process x batch 2 (dropout off): the same folds,
    OOF and vote scores and the same test prediction, byte for byte, every file written by one process."""
    from tests.test_ner_cv import _args

    from competitions.ner import cv

    args = _args(tmp_path) + ["--dropout", "0", "--epochs", "4"]
    args[args.index("--batch-size") + 1] = "2"
    one = cv.main(args + ["--run-dir", str(tmp_path / "one"), "--submission-dir", str(tmp_path / "sub1")])
    args[args.index("--batch-size") + 1] = "1"
    log = tmp_path / "writes.log"
    done = launch(["competitions.ner.cv"] + args, env={"COMMON_IO_WRITE_LOG": str(log)})
    assert done.returncode == 0, describe(done)
    lines = result_lines(done.stdout)
    assert len(lines) == 1, done.stdout
    two = lines[0]
    assert one["dev"]["f1"] > 0 and (two["cv"], two["dev"]) == (one["cv"], one["dev"])
    assert {k: f["held_out"] for k, f in two["folds"].items()} == {k: f["held_out"] for k, f in one["folds"].items()}
    assert Path(two["prediction"]).read_bytes() == Path(one["prediction"]).read_bytes()
    writers = defaultdict(set)
    for pid, path in read_write_log(log):
        writers[path].add(pid)
    assert writers and len(set().union(*writers.values())) == 1, writers


@pytest.mark.slow
def test_two_process_study_matches_one_process(tmp_path):
    """``competitions.ner.tune`` under 2 processes x batch 2 against 1 process x batch 4 (the epochs searched, 5 to
    15; dropout, FGM and EMA off): one study, each trial trained by both processes, the same draws and the same dev
    F1 per epoch of each trial, every file written by one process."""
    from competitions.ner import tune

    args = train_args(tmp_path) + ["--dropout", "0", "--fgm-epsilon", "0", "--ema-decay", "0", "--trials", "2",
                                   "--pruner", "none"]
    for flag in ("--epochs", "--run-dir"):
        del args[args.index(flag):args.index(flag) + 2]
    args[args.index("--limit") + 1] = "12"  # every sentence: 3 full batches of 4, each split evenly in two
    one = tune.main(args + ["--run-dir", str(tmp_path / "one")])
    args[args.index("--batch-size") + 1] = "2"
    log = tmp_path / "writes.log"
    done = launch(["competitions.ner.tune"] + args + ["--run-dir", str(tmp_path / "two")],
                  env={"COMMON_IO_WRITE_LOG": str(log)})
    assert done.returncode == 0, describe(done)
    lines = result_lines(done.stdout)
    assert len(lines) == 1, done.stdout
    two = lines[0]
    assert two["trials"]["complete"] == 2 and two["best_params"] == one["best_params"]

    def values(study):
        return [json.loads((study / f"trial{n}" / "metrics.json").read_text())["history"] for n in range(2)]

    scores = [[h["f1"] for h in run] for run in values(tmp_path / "one")]
    assert max(map(max, scores)) > 0 and [[h["f1"] for h in run] for run in values(tmp_path / "two")] == scores
    writers = defaultdict(set)
    for pid, path in read_write_log(log):
        writers[path].add(pid)
    assert writers and len(set().union(*writers.values())) == 1, writers
