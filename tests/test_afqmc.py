"""CLUE AFQMC: reader errors, train -> predict -> CLUE submission, k-fold with its TF-IDF reference on the same folds,
MLM on its text (common.commands.pretrain) then fine-tuned from it."""

import json

import numpy as np
import pytest

from common.commands import pretrain
from common.data_files import DataFileError
from common.submission import SubmissionError, validate_clue_submission_file
from competitions.afqmc.data import read_pairs
from tests.conftest import DATA, SHARED_VOCAB

AFQMC = DATA / "xiaobu" / "pairs" / "csts_afqmc"
TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
        "--max-length", "32", "--batch-size", "16", "--epochs", "1", "--eval-batch-size", "256"]
needs_data = pytest.mark.skipif(not (AFQMC / "train.txt").is_file(), reason=f"AFQMC not linked at {AFQMC}")


@pytest.fixture
def data_dir(tmp_path):
    """The first 60 / 30 / 25 lines of the real train / dev / test files."""
    out = tmp_path / "afqmc"
    out.mkdir()
    for name, n in (("train.txt", 60), ("dev.txt", 30), ("test.txt", 25)):
        lines = (AFQMC / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (out / name).write_text("".join(lines), encoding="utf-8")
    return out


def _flags(tmp_path, data_dir):
    vocab = str(SHARED_VOCAB) if SHARED_VOCAB.is_dir() else str(tmp_path / "none")
    return ["--task", "afqmc", "--data-dir", str(data_dir), "--submission-dir", str(tmp_path / "sub"),
            "--vocab", vocab] + TINY


@pytest.mark.parametrize("text, labelled, message", [
    ("a\tb\t1\nonly one column\n", True, r":2: 1 tab-separated columns, expected s1<TAB>s2<TAB>label"),
    ('{"sentence1": "a", "sentence2": "b"}\n', False, r":1: 1 tab-separated columns, expected s1<TAB>s2 \(a JSON "
                                                       r"record: .*--task pair reads JSON lines"),
    ("a\tb\t2\n", True, r":1: label '2', expected 0 or 1"),
    ("a\t \t0\n", True, r":1: empty text, expected s1<TAB>s2<TAB>label"),
    ("a\tb\n", True, r":1: 2 tab-separated columns, expected s1<TAB>s2<TAB>label"),
    ("a\tb\nc\n", False, r":2: 1 tab-separated columns, expected s1<TAB>s2"),
    ("", False, r": no pairs, expected lines s1<TAB>s2"),
    ("a\tb\n\nc\td\n", False, r":2: blank line before the record on line 3"),
])
def test_reader_errors_name_file_line_and_what_was_expected(tmp_path, text, labelled, message):
    path = tmp_path / "pairs.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError, match="pairs.txt" + message):
        read_pairs(path, labelled, "train")


def test_reader_ids_and_limit(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a\tb\t1\nc\td\t0\ne\tf\t1.0\n", encoding="utf-8")
    assert [(p.id, p.label) for p in read_pairs(path, True, "dev", limit=2)] == [("dev:1", 1), ("dev:2", 0)]
    assert read_pairs(path, True, "dev")[2].label == 1  # 1.0, as pandas writes a float column (the pair task too)
    assert [p.label for p in read_pairs(path, False, "test")] == [None] * 3  # a label column is ignored
    path.write_text("a\tb\t1\n\n\n", encoding="utf-8")  # blank lines ending the file: no pairs
    assert [p.id for p in read_pairs(path, True, "dev")] == ["dev:1"]


@needs_data
def test_train_predict_and_clue_submission(tmp_path, data_dir, capsys):
    from common.commands import predict, train

    run = tmp_path / "run"
    result = train.main(_flags(tmp_path, data_dir) + ["--run-dir", str(run), "--limit", "40"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["submission"] == result["submission"]
    assert result["train_examples"] == 40 and result["valid_examples"] == 30
    assert 0 <= result["valid"]["accuracy"] <= 1 and f"accuracy{result['valid']['accuracy']:.4f}" in result["submission"]
    assert validate_clue_submission_file(result["submission"], list(range(25))) == result["rows"] == 25
    with pytest.raises(SubmissionError, match="25 rows, expected 24"):
        validate_clue_submission_file(result["submission"], list(range(24)))
    probs = np.load(run / "probabilities.npz")
    assert probs["valid_keys"].tolist() == [f"dev:{i}" for i in range(1, 31)]
    assert probs["test_ids"].tolist() == [f"test:{i}" for i in range(1, 26)]
    again = predict.main(["--task", "afqmc", "--run", str(run), "--test-file", str(data_dir / "dev.txt"),
                          "--submission-dir", str(tmp_path / "other")])
    assert again["valid"] == result["valid"] and validate_clue_submission_file(again["submission"], list(range(30))) == 30
    # another data folder (other dev rows): scored there, decided by the run's own thresholds (they were re-tuned on
    # the other folder's dev rows)
    other = tmp_path / "other-data"
    other.mkdir()
    lines = (AFQMC / "dev.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (other / "dev.txt").write_text("".join(lines[100:140]), encoding="utf-8")
    for name in ("train.txt", "test.txt"):
        (other / name).write_text((data_dir / name).read_text(encoding="utf-8"), encoding="utf-8")
    moved = predict.main(["--task", "afqmc", "--run", str(run), "--data-dir", str(other),
                          "--submission-dir", str(tmp_path / "moved")])
    assert moved["thresholds"] == json.loads((run / "thresholds.json").read_text(encoding="utf-8"))


@needs_data
def test_cv_and_tfidf_reference_on_the_same_folds(tmp_path, data_dir):
    from common.commands import cv
    from competitions.afqmc import baseline

    run = tmp_path / "cv"
    result = cv.main(_flags(tmp_path, data_dir) + ["--run-dir", str(run), "--folds", "3"])
    assert result["complete"] and 0 <= result["cv"]["accuracy"] <= 1
    assert len(np.load(run / "oof.npz")["ids"]) == 90  # train + dev pooled
    assert validate_clue_submission_file(result["submission"], list(range(25))) == 25
    ref = baseline.main(["--data-dir", str(data_dir), "--run-dir", str(tmp_path / "ref"), "--submission-dir",
                         str(tmp_path / "sub"), "--folds-from", str(run), "--ngram-max", "2"])
    assert sorted(ref["oof"]["folds"]) == [0, 1, 2] and ref["oof"]["pairs"] == 90
    assert (tmp_path / "ref" / "probabilities.npz").is_file()
    with pytest.raises(ValueError, match="folds for 90 pairs, the pool has 40"):  # folds of another pool are refused
        baseline.main(["--data-dir", str(data_dir), "--run-dir", str(tmp_path / "ref"), "--limit", "20",
                       "--submission-dir", str(tmp_path / "sub"), "--folds-from", str(run)])
    saved = json.loads((run / "folds.json").read_text(encoding="utf-8"))
    (tmp_path / "shuffled").mkdir()  # as many pairs, in another order
    (tmp_path / "shuffled" / "folds.json").write_text(json.dumps({**saved, "ids": saved["ids"][::-1]}), encoding="utf-8")
    with pytest.raises(ValueError, match="ids differ"):
        baseline.main(["--data-dir", str(data_dir), "--run-dir", str(tmp_path / "ref"),
                       "--submission-dir", str(tmp_path / "sub"), "--folds-from", str(tmp_path / "shuffled")])


@needs_data
def test_a_finished_run_starts_a_run_of_another_task(tmp_path, data_dir):
    """--model <run folder> (intermediate-task transfer): the new run starts from the run's trained encoder and
    tokenizer, at the task's own learning rate (the first run trained a small encoder here)."""
    import torch
    from transformers import AutoTokenizer

    from common.commands import train
    from common.config import parse_config
    from common.pair_classifier import build_pair_model
    from competitions.afqmc.config import AfqmcConfig

    first = tmp_path / "first"
    train.main(_flags(tmp_path, data_dir) + ["--run-dir", str(first), "--limit", "40"])
    config = parse_config(AfqmcConfig, _flags(tmp_path, data_dir)[2:] + ["--model", str(first)])
    assert config.learning_rate == AfqmcConfig.learning_rate  # not pretrained_learning_rate
    model = build_pair_model(config, tmp_path / "second", ["今天"], [0, 1])
    trained = torch.load(first / "model.pt", map_location="cpu")["state_dict"]  # the first run's best weights
    start = model.module.encoder.state_dict()
    assert {f"encoder.{k}" for k in start} == {k for k in trained if k.startswith("encoder.")}
    assert all(torch.equal(v, trained[f"encoder.{k}"]) for k, v in start.items())
    assert model.processor.get_vocab() == AutoTokenizer.from_pretrained(first / "tokenizer").get_vocab()
    second = train.main(_flags(tmp_path, data_dir) + ["--model", str(first), "--run-dir", str(tmp_path / "run2"),
                                                      "--limit", "40"])
    assert second["start"] == "pretrained"
    assert validate_clue_submission_file(second["submission"], list(range(25))) == 25


def _pretrain_flags(tmp_path, data_dir, name):
    return _flags(tmp_path, data_dir) + ["--output-dir", str(tmp_path / name), "--run-dir", str(tmp_path / f"{name}-run")]


@needs_data
def test_afqmc_mlm_on_its_text_then_fine_tuned_from_it(tmp_path, data_dir):
    """Text = every pair the task loads (60 train + 30 dev + 25 test) and the extra file's; the vocabulary is pruned
    to the tokens that text uses; the same seed gives the same encoder; train --model starts from it at the task's
    own learning rate (a folder of this project's pretraining)."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertForMaskedLM, BertTokenizerFast

    from common.commands import train
    from competitions.afqmc.config import AfqmcConfig

    extra = tmp_path / "extra.txt"
    extra.write_text("花呗怎么还款\t借呗额度\n余额宝转出\t余额宝\t1\n", encoding="utf-8")  # a label column is ignored
    result = pretrain.main(_pretrain_flags(tmp_path, data_dir, "mlm") + ["--extra-files", str(extra)])
    out = tmp_path / "mlm"
    assert result["task"] == "afqmc" and result["pairs"] == 60 + 30 + 25 + 2 and result["epochs_run"] == 1
    tokenizer = BertTokenizerFast.from_pretrained(out)
    assert len(tokenizer) == result["vocab_size"] < 21128
    assert tokenizer.unk_token_id not in tokenizer("花呗怎么还款余额宝", add_special_tokens=False)["input_ids"]
    assert BertForMaskedLM.from_pretrained(out).config.vocab_size == len(tokenizer)
    saved = json.loads((out / "pretrain_config.json").read_text(encoding="utf-8"))
    assert saved["epochs"] == pretrain.MLM_DEFAULTS["epochs"] - 2 and saved["extra_files"] == [str(extra)]  # TINY: 1
    again = pretrain.main(_pretrain_flags(tmp_path, data_dir, "mlm2") + ["--extra-files", str(extra)])
    assert again["last_epoch_loss"] == result["last_epoch_loss"]
    first, second = load_file(out / "model.safetensors"), load_file(tmp_path / "mlm2" / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)

    run = train.main(_flags(tmp_path, data_dir) + ["--model", str(out), "--run-dir", str(tmp_path / "ft"),
                                                   "--limit", "40"])
    assert run["start"] == "pretrained"
    config = json.loads((tmp_path / "ft" / "config.json").read_text(encoding="utf-8"))
    assert config["learning_rate"] == AfqmcConfig.learning_rate  # not pretrained_learning_rate


def test_mlm_defaults_replace_the_task_fine_tuning_ones():
    from competitions.afqmc.task import TASK

    config = pretrain.mlm_config_class(TASK)()
    assert {k: getattr(config, k) for k in pretrain.MLM_DEFAULTS} == pretrain.MLM_DEFAULTS
    assert config.max_length == 64 and config.hidden_size == 128  # the task's own input length and encoder size
    assert config.prune_vocab and config.mlm_probability == 0.15


@needs_data
def test_a_bad_extra_file_names_its_line(tmp_path, data_dir):
    extra = tmp_path / "extra.txt"
    extra.write_text("a\tb\nonly one column\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"extra.txt:2: 1 tab-separated columns, expected s1<TAB>s2"):
        pretrain.main(_pretrain_flags(tmp_path, data_dir, "mlm") + ["--extra-files", str(extra)])
    assert not (tmp_path / "mlm").exists()


@needs_data
def test_a_resumed_run_replaces_its_superseded_submission(tmp_path, data_dir):
    """A run cut by --max-train-minutes wrote a submission; resumed, it trains on, scores otherwise and writes another
    name: the cut model's file is removed (it stayed beside the final one, ready to be uploaded by mistake), while
    a file of the run in another submission folder is kept."""
    import os

    from common.commands import predict, train

    run = tmp_path / "run"
    flags = _flags(tmp_path, data_dir) + ["--run-dir", str(run), "--limit", "40", "--epochs", "2"]
    cut = train.main(flags + ["--max-train-minutes", "1e-9"])  # stops after its first batch
    assert json.loads((run / "submission.json").read_text())["submission"] == cut["submission"]
    elsewhere = predict.main(["--task", "afqmc", "--run", str(run), "--submission-dir", str(tmp_path / "other")])
    # the tiny model may score the same after both epochs: the cut model's file gets a score of its own
    superseded = tmp_path / "sub" / "run-accuracy0.0000.json"
    os.replace(cut["submission"], superseded)
    (run / "submission.json").write_text(json.dumps({"submission": str(superseded), "folder": str(run)}))
    import shutil  # a copy of the run, resumed: its copied record names the original's file, which stays

    shutil.copytree(run, tmp_path / "copy")
    copy_flags = [f if f != str(run) else str(tmp_path / "copy") for f in flags]
    copied = train.main(copy_flags + ["--max-train-minutes", "0", "--resume", "true"])
    assert superseded.is_file() and os.path.basename(copied["submission"]).startswith("copy-")
    final = train.main(flags + ["--max-train-minutes", "0", "--resume", "true"])
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(
        [os.path.basename(final["submission"]), os.path.basename(copied["submission"])])
    assert os.path.isfile(elsewhere["submission"])
    assert json.loads((run / "submission.json").read_text())["submission"] == final["submission"]


@needs_data
def test_a_model_that_cannot_be_built_leaves_no_run_folder(tmp_path, data_dir):
    """A --model refused while the model is built (here: saved without its tokenizer files) left an empty run
    folder behind (probe H)."""
    from transformers import BertConfig, BertModel

    from common.commands import train

    BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path / "bare")
    run = tmp_path / "runs" / "bare-run"
    with pytest.raises(ValueError, match="no tokenizer files there"):
        train.main(_flags(tmp_path, data_dir) + ["--model", str(tmp_path / "bare"), "--run-dir", str(run)])
    assert not run.exists() and run.parent.is_dir()


@needs_data
def test_gradient_checkpointing_an_encoder_without_it_is_refused_before_the_run_is_written(tmp_path, data_dir):
    """ALBERT has no gradient checkpointing in transformers: the refusal came from the trainer, after the run's
    config, encoder and tokenizer were written (probe T); it now comes first, naming the model's class."""
    from transformers import AlbertConfig, AlbertModel, BertTokenizerFast

    from common.commands import train

    model = tmp_path / "albert"
    AlbertModel(AlbertConfig(vocab_size=21128, embedding_size=16, hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=32)).save_pretrained(model)
    BertTokenizerFast.from_pretrained(SHARED_VOCAB).save_pretrained(model)
    run = tmp_path / "runs" / "albert-run"
    with pytest.raises(ValueError, match="--gradient-checkpointing: AlbertModel does not support it"):
        train.main(_flags(tmp_path, data_dir) + ["--model", str(model), "--run-dir", str(run),
                                                 "--gradient-checkpointing", "true"])
    assert not (run / "config.json").exists() and not (run / "encoder").exists()


@needs_data
def test_an_interrupted_run_is_not_predicted_and_a_crash_while_writing_leaves_no_superseded_file(
        tmp_path, data_dir, monkeypatch):
    """Probe J: ``predict --run`` of a run killed before its last epoch wrote into its folder and a submission named
    like a finished run's; now refused. And a crash after a new submission was written but before the run's record
    named it left the superseded file for good (a later predict found the run current): the record comes first."""
    import os

    from common.commands import predict, train

    run = tmp_path / "run"
    done = train.main(_flags(tmp_path, data_dir) + ["--run-dir", str(run), "--limit", "40", "--epochs", "2"])
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "epochs": 3}))  # as if killed in its third epoch
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=r"run trained 2 of its 3 epochs \(interrupted\?\): finish it first"):
        predict.main(["--task", "afqmc", "--run", str(run)])
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    (run / "config.json").write_text(json.dumps(config))

    superseded = tmp_path / "sub" / "run-accuracy0.0000.json"  # the earlier model's submission, as its record says
    superseded.write_text("{}")
    (run / "submission.json").write_text(json.dumps({"submission": str(superseded), "folder": str(run)}))
    (run / "probabilities.npz").unlink()  # as after a resume: the probabilities of the new model are to be written

    real = predict.save_probabilities

    def crash(*args, **kwargs):  # killed just after the new probabilities: the run now looks current
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(predict, "save_probabilities", crash)
    with pytest.raises(KeyboardInterrupt):
        predict.main(["--task", "afqmc", "--run", str(run)])
    monkeypatch.undo()
    again = predict.main(["--task", "afqmc", "--run", str(run)])
    assert not superseded.exists() and again["submission"] == done["submission"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [os.path.basename(done["submission"])]


@needs_data
def test_a_run_resumed_with_its_budget_spent_is_predicted_and_one_without_a_checkpoint_too(tmp_path, data_dir):
    """Probe L: train resumed with a spent --max-train-minutes wrote a submission, but left metrics.json saying it
    had not stopped, so predict --run refused the same run; and a pruned tune trial (no checkpoint to resume) was
    refused with advice it could not follow."""
    import shutil

    from common.commands import predict, train

    run = tmp_path / "run"
    flags = _flags(tmp_path, data_dir) + ["--run-dir", str(run), "--limit", "40", "--epochs", "3"]
    train.main(flags + ["--max-train-minutes", "1e-9"])  # cut after its first batch
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "stopped_by_budget": False}))  # as if killed there
    with pytest.raises(ValueError, match="interrupted"):
        predict.main(["--task", "afqmc", "--run", str(run)])
    resumed = train.main(flags + ["--max-train-minutes", "1e-9", "--resume", "true"])  # nothing more to train
    assert json.loads((run / "metrics.json").read_text())["stopped_by_budget"] is True
    assert predict.main(["--task", "afqmc", "--run", str(run)])["submission"] == resumed["submission"]
    (run / "metrics.json").write_text(json.dumps({**metrics, "stopped_by_budget": False}))
    shutil.rmtree(run / "checkpoint")  # unfinished, and nothing to resume (a pruned trial): predicted as it is
    assert predict.main(["--task", "afqmc", "--run", str(run)])["submission"] == resumed["submission"]
