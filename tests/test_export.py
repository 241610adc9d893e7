"""ONNX export (common/export.py): the traceable NER forms against the model's own code, then, per model
kind, a tiny trained run exported and ONNX Runtime's logits against eager PyTorch's on real validation rows."""

import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import DATA, ROOT, SHARED_VOCAB

SOHU = DATA / "sohu2021"
XIAOBU = DATA / "xiaobu" / "desensitized_oppo"
CLUENER = DATA / "ner" / "cluener"
TINY_BERT = ["--hidden-size", "32", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64"]


def _vocab(tmp_path) -> list[str]:
    return ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]


def _fit(task_name: str, flags: list[str], run_dir):
    """A pair-task run trained for one short epoch through the shared trainer (no test prediction)."""
    from common.commands.train import fit
    from common.config import parse_config
    from common.run import resolve_run_dir
    from common.task import get_task

    task = get_task(task_name)
    config = parse_config(task.config_class, flags + ["--run-dir", str(run_dir), "--epochs", "1"])
    data = task.load_data(config)
    fit(task, config, resolve_run_dir(config, task.name), data.train, data.valid, data)
    return run_dir


def _snapshot(run_dir) -> dict:
    """(size, mtime) of every file of a run (train.log aside: the test process's trainer keeps its handler)."""
    return {str(p.relative_to(run_dir)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in run_dir.rglob("*") if p.is_file() and p.name != "train.log"}


def _check_export(result: dict, out, rows: int) -> dict:
    """The shared checks: files written, parity within 1e-4 on padded batches of two lengths and batch size 1."""
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx"]
    info = json.loads((out / "export.json").read_text(encoding="utf-8"))
    check = info["parity"]
    assert check["passed"] and check["max_abs_diff"] <= 1e-4 and check["tolerance"] == 1e-4
    assert check["rows"] == rows + 1  # the batches, then the shortest row alone
    shapes = check["batch_shapes"]
    assert len({t for _, t in shapes}) >= 2 and shapes[-1][0] == 1 and check["padded_rows"] > 0
    assert info["exporter"] in ("dynamo", "torchscript") and info["opset"] == 18
    assert all(i["dtype"] == ("float32" if i["name"] == "statistics" else "int64") and i["shape"][0] == "batch"
               for i in info["inputs"])
    assert result["parity"] == check
    return info


# ------------------------------------------------- traceable forms, eager
@pytest.mark.parametrize("layers", [1, 2])
def test_padded_bilstm_equals_the_packed_encoder(layers):
    """Each direction on the padded batch (the backward one on reversed sentences) = pack_padded_sequence."""
    from common.export import PaddedBiLSTM
    from competitions.ner.model import CharBiLSTMEncoder

    torch.manual_seed(0)
    encoder = CharBiLSTMEncoder(50, 16, layers).eval()
    lengths = torch.tensor([9, 4, 1, 7])
    mask = (torch.arange(9)[None] < lengths[:, None]).long()  # (4, 9)
    ids = torch.randint(1, 50, (4, 9)) * mask
    with torch.no_grad():
        expected = encoder(ids, mask).last_hidden_state
        got = PaddedBiLSTM(encoder)(ids, mask)
    assert torch.allclose(got, expected, atol=1e-6)
    assert PaddedBiLSTM(encoder).directions[0].weight_ih_l0 is encoder.lstm.weight_ih_l0  # shared, not copied


def test_cos_sin_rotary_equals_the_complex_one():
    from common.export import CosSinRotary
    from common.layers.global_pointer import RotaryEmbedding

    torch.manual_seed(0)
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 70, 3, 8)  # longer than the rotation table's first size (64)
    assert torch.allclose(CosSinRotary(rope)(x, scale=0.5), rope(x, scale=0.5), atol=1e-5)


@pytest.mark.parametrize("head, width", [("gp", 0), ("egp", 3), ("crf", 0)])
def test_ner_logits_equal_the_model_forward(head, width):
    """NerLogits (the exported form) = NerModel.forward's logits: masked span scores or CRF emissions."""
    from common.export import NerLogits
    from competitions.ner.model import CharBiLSTMEncoder, NerModel

    torch.manual_seed(0)
    model = NerModel(CharBiLSTMEncoder(50, 16, 2), head, ["A", "B"], head_size=8, max_span_width=width).eval()
    lengths = torch.tensor([12, 5, 3])  # [CLS] chars [SEP]
    mask = (torch.arange(12)[None] < lengths[:, None]).long()
    ids = torch.randint(1, 50, (3, 12)) * mask
    with torch.no_grad():
        expected = model(ids, mask).logits
        got = NerLogits(model)(ids, mask)
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5)
    assert type(getattr(model.head, "rope", None)).__name__ in ("RotaryEmbedding", "NoneType")  # model untouched


# ------------------------------------------------- runs, exported
@pytest.mark.skipif(not (SOHU / "sohu2021_open_data_clean").is_dir(), reason=f"real Sohu data not linked at {SOHU}")
def test_sohu_pair_model_with_its_subtask_condition(tmp_path):
    from common.export import export_run

    run = _fit("sohu", ["--data-dir", str(SOHU), "--limit", "32", "--max-length", "64", "--batch-size", "16",
                        "--blend-with", ""] + TINY_BERT + _vocab(tmp_path), tmp_path / "runs" / "tiny")
    before = _snapshot(run)
    out = tmp_path / "exports" / "sohu" / "tiny"
    result = export_run(run, out)
    info = _check_export(result, out, 64)
    assert [i["name"] for i in info["inputs"]] == ["input_ids", "attention_mask", "token_type_ids", "match_ids",
                                                   "condition_ids"]
    assert info["inputs"][-1]["shape"] == ["batch"] and info["outputs"][0]["shape"] == ["batch", 2]
    assert info["task"] == "sohu" and info["rows_from"] == "valid"
    assert _snapshot(run) == before  # the run is only read


@pytest.mark.skipif(not (SOHU / "sohu2021_open_data_clean").is_dir(), reason=f"real Sohu data not linked at {SOHU}")
def test_sohu_pair_model_with_statistics_keeps_their_width_fixed(tmp_path):
    """--pair-statistics and --alignment-statistics: a (B, 28) float input whose second axis is not the sequence."""
    from common.export import export_run

    run = _fit("sohu", ["--data-dir", str(SOHU), "--limit", "32", "--max-length", "64", "--batch-size", "16",
                        "--blend-with", "", "--pair-statistics", "true", "--alignment-statistics", "true"]
               + TINY_BERT + _vocab(tmp_path), tmp_path / "runs" / "tiny")
    out = tmp_path / "out"
    info = _check_export(export_run(run, out), out, 64)
    statistics = info["inputs"][-1]
    assert statistics["name"] == "statistics" and statistics["shape"] == ["batch", 28]


# the joint variant's export (74 s here: its MLM head over the whole vocabulary) runs in the slow tier
@pytest.mark.parametrize("joint", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_xiaobu_model_with_exact_match_bits(tmp_path, joint):
    """Real pairs when linked (else the fixture); the joint variant exports its [LABEL0]/[LABEL1] logits at [CLS]."""
    from common.export import ParityError, export_run, load_spec, ort_session, parity

    if (XIAOBU / "train.tsv").is_file():
        data, rows = ["--limit", "480"], 64  # 72 held-out pairs
    else:
        fixtures = ROOT / "tests" / "fixtures" / "xiaobu"
        data = ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv",
                "--valid-fraction", "0.25"]
        rows = 12
    flags = ["--logit-adjust-tau", "0", "--posthoc-tau", "0", "--joint", "true"] if joint else []
    run = _fit("xiaobu", data + flags + TINY_BERT + ["--batch-size", "16"], tmp_path / "run")
    out = tmp_path / "out"
    info = _check_export(export_run(run, out, task="xiaobu"), out, rows)
    names = [i["name"] for i in info["inputs"]]
    assert names == (["input_ids", "attention_mask", "token_type_ids"] if joint else  # the default n-gram bit too
                     ["input_ids", "attention_mask", "token_type_ids", "match_ids", "ngram_match_ids"])
    assert ("joint" in info["model"]) == joint
    assert joint or info["model"] == "BertPairClassifier logits (B, 2)"  # the model's class, not a fixed text
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert {k: info["decision"][k] for k in ("tta_swap", "posthoc_tau")} == \
        {k: config[k] for k in ("tta_swap", "posthoc_tau")}
    if joint:
        return
    assert not (run / "thresholds.json").exists() and "thresholds" not in info["decision"]  # AUC: no decision
    assert len(info["decision"]["log_prior"]) == 2  # what a post-hoc tau would subtract
    # the check has teeth: eager weights moved by 1e-3 after the export miss the tolerance
    spec = load_spec(run, "xiaobu", rows=rows)
    spec.graph.module.classifier.bias.data += 1e-3
    assert parity(spec, ort_session(out / "model.onnx"))["max_abs_diff"] > 1e-4
    # a failed check writes nothing and keeps the previous export
    with pytest.raises(ParityError, match="no exporter gave a model within"):
        export_run(run, out, task="xiaobu", exporter="torchscript", tolerance=-1.0)
    assert json.loads((out / "export.json").read_text(encoding="utf-8")) == info
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # its temporary folder is gone


def test_xiaobu_model_with_the_esim_head_exports_within_tolerance(tmp_path):
    """--esim: the head's masked softmax and max pooling go through the exporter and match the eager model."""
    from common.export import export_run

    fixtures = ROOT / "tests" / "fixtures" / "xiaobu"
    run = _fit("xiaobu", ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv",
                          "--valid-fraction", "0.25", "--esim", "true", "--batch-size", "16"] + TINY_BERT,
               tmp_path / "run")
    out = tmp_path / "out"
    info = _check_export(export_run(run, out, task="xiaobu"), out, 12)
    assert [i["name"] for i in info["inputs"]] == ["input_ids", "attention_mask", "token_type_ids", "match_ids",
                                                   "ngram_match_ids"]


@pytest.mark.parametrize("head, encoder", [("gp", "bilstm"), ("crf", "bilstm"),
                                           pytest.param("egp", "bert", marks=pytest.mark.slow)])
def test_ner_model(tmp_path, head, encoder):
    """GlobalPointer span logits / CRF emissions; CLUENER's dev texts when linked, else the BIO fixture."""
    from common.export import export_run
    from competitions.ner import train

    if (CLUENER / "train.json").is_file():
        data, rows = ["--data-dir", str(CLUENER), "--limit", "32"], 32
    else:
        bio = ROOT / "tests" / "fixtures" / "ner_bio"
        data = ["--format", "bio", "--data-dir", str(bio), "--train-file", "train.txt", "--dev-file", "dev.txt"]
        rows = 4
    run = tmp_path / "runs" / "ner" / "tiny"
    train.main(["--config", str(ROOT / "competitions" / "ner" / "configs" / "smoke.toml"), "--head", head,
                "--encoder-type", encoder, "--w2v-init", "false", "--run-dir", str(run),
                "--submission-dir", str(tmp_path / "sub"), "--batch-size", "8"] + data + _vocab(tmp_path))
    before = _snapshot(run)
    out = tmp_path / "out"
    info = _check_export(export_run(run, out, batch_size=8), out, rows)
    assert info["task"] == "ner" and [i["name"] for i in info["inputs"]] == ["input_ids", "attention_mask"]
    shape = info["outputs"][0]["shape"]
    if head == "crf":
        assert shape[0] == "batch" and isinstance(shape[1], str) and shape[2] == len(info["tags"])
        assert len(info["crf"]["transitions"]) == len(info["tags"])
    else:
        assert shape[0] == "batch" and shape[1] == len(info["types"]) and shape[2] == shape[3]
    assert _snapshot(run) == before


def test_missing_or_incomplete_run_is_a_one_line_error(tmp_path):
    run = tmp_path / "runs" / "sohu" / "half"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}", encoding="utf-8")
    for target, message in [(tmp_path / "nothing", "run folder not found"), (run, "model.pt missing")]:
        proc = subprocess.run([sys.executable, "-m", "common.export", "--run", str(target)], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and lines[-1].startswith("error: ") and message in lines[-1], proc.stderr


def test_default_export_names_and_the_task_of_a_run_trained_from_a_module_path(tmp_path):
    """Folds of two k-fold runs shared exports/<task>/fold0; a run of ``--task my.module`` was taken for AFQMC
    (its config's keys matched AFQMC's best) and exported into exports/afqmc/."""
    import json

    from common.export import detect_task, export_name

    fold = tmp_path / "cv5" / "fold0"
    fold.mkdir(parents=True)
    (tmp_path / "cv5" / "folds.json").write_text("{}")
    assert export_name(fold) == "cv5-fold0" and export_name(tmp_path / "cv5") == "cv5"
    run = tmp_path / "mytask" / "a1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_dir": "x", "epochs": 1, "learning_rate": 1e-3}))
    starts = [{"command": ["train.py", "--task", "afqmc"]}, {"command": ["train.py", "--task", "mytask.task"]}]
    (run / "environment.json").write_text(json.dumps({"starts": starts}))
    assert detect_task(run) == "mytask.task"  # the last start's
    (run / "environment.json").write_text(json.dumps({"starts": [{"command": ["train.py", "--task=my.mod"]}]}))
    assert detect_task(run) == "my.mod"


def test_export_json_says_whether_the_run_finished_training(tmp_path):
    """A run interrupted after 1 of its 3 epochs was exported with nothing saying so."""
    import json

    from common.export import training_state

    (tmp_path / "config.json").write_text(json.dumps({"epochs": 3}))
    history = [{"epoch": 1, "complete": True}, {"epoch": 1.5, "complete": False}]
    (tmp_path / "metrics.json").write_text(json.dumps({"history": history}))
    assert training_state(tmp_path) == {"epochs_done": 1, "epochs": 3, "finished": False}
    (tmp_path / "metrics.json").write_text(json.dumps({"history": history, "stopped_early": True}))
    assert training_state(tmp_path)["finished"] is True
    (tmp_path / "metrics.json").write_text(json.dumps({"history": [{"epoch": e} for e in (1, 2, 3)]}))
    assert training_state(tmp_path) == {"epochs_done": 3, "epochs": 3, "finished": True}
    assert training_state(tmp_path / "none") == {}


def test_each_start_records_its_command_line(monkeypatch):
    import sys

    from common.run import environment

    monkeypatch.setattr(sys, "argv", ["/repo/common/commands/train.py", "--task", "my.module", "--epochs", "2"])
    assert environment()["command"] == ["train.py", "--task", "my.module", "--epochs", "2"]


def test_export_json_says_how_the_submission_decides(tmp_path):
    """Sohu's labels come from per-group thresholds tuned on validation rows, Xiaobu's P from both text orders:
    neither is in the graph, so export.json carries them beside it."""
    from common.export import decision

    (tmp_path / "thresholds.json").write_text(json.dumps({"A": 0.41, "B": 0.57}))
    (tmp_path / "label_prior.json").write_text(json.dumps([-0.4, -1.1]))
    (tmp_path / "config.json").write_text(json.dumps({"tta_swap": True, "posthoc_tau": 0.0, "epochs": 2}))
    assert decision(tmp_path) == {"thresholds": {"A": 0.41, "B": 0.57}, "log_prior": [-0.4, -1.1], "tta_swap": True,
                                  "posthoc_tau": 0.0}
    assert decision(tmp_path / "none") == {}
