"""End to end on a slice of the real Sohu data: train, predict, validate the submission."""

import json

import pytest
import torch

from common.submission import validate_submission_file
from tests.conftest import DATA, SHARED_VOCAB

SOHU = DATA / "sohu2021"
pytestmark = pytest.mark.skipif(not (SOHU / "sohu2021_open_data_clean").is_dir(),
                                reason=f"real Sohu data not linked at {SOHU}")


def test_train_predict_and_submission(tmp_path, capsys):
    from common.commands import predict, train

    vocab = ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]
    args = ["--task", "sohu", "--data-dir", str(SOHU), "--run-dir", str(tmp_path / "run"), "--submission-dir", str(tmp_path / "sub"),
            "--limit", "48", "--epochs", "2", "--batch-size", "16", "--max-length", "48",
            "--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
            "--fgm-epsilon", "0.5", "--ema-decay", "0.9", "--eval-batch-size", "256", "--blend-with", ""] + vocab
    result = train.main(args)
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["submission"] == result["submission"]
    run = tmp_path / "run"
    for name in ("config.json", "metrics.json", "model.pt", "thresholds.json", "train.log", "checkpoint"):
        assert (run / name).exists(), name
    assert set(result["thresholds"]) == {"A", "B"} and 0 <= result["valid"]["score"] <= 1
    sample = SOHU / "sohu2021_open_data_clean" / "sample_submission.csv"
    assert validate_submission_file(result["submission"], sample) == 29822
    # absent subtasks (no data here) are filled and reported
    assert result["filled_ids"] == 29822 - 4934 - 4930 and len(result["missing"]) == 4
    again = predict.main(["--task", "sohu", "--run", str(run), "--submission-dir", str(tmp_path / "sub2")])
    assert again["valid"] == result["valid"]  # same weights, same data, same metrics
    assert open(again["submission"]).read() == open(result["submission"]).read()


def test_predict_scores_a_file_of_pairs_and_never_writes_the_run(tmp_path):
    """``predict --test-file``: labels for any pairs file, validated; the run's own outputs untouched."""
    from common.commands import predict, train
    from common.submission import validate_rows

    vocab = ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]
    run = tmp_path / "run"
    train.main(["--task", "sohu", "--data-dir", str(SOHU), "--run-dir", str(run), "--submission-dir",
                str(tmp_path / "sub"), "--limit", "16", "--epochs", "1", "--max-length", "32", "--num-layers", "1",
                "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64", "--blend-with", ""] + vocab)
    # train.log aside: this process's training left its log handler attached (a CLI predict has none)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != "train.log"}
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"source": "北京顺义两个地区调整为低风险地区", "target": "北京低风险地区", "id": "ss7_a"},
            {"source": "科比与奥尼尔", "target": "湖人王朝", "id": "ss7_b"},
            {"source": "今天天气很好", "target": "我们去公园散步", "id": "ll3_a"}]
    pairs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = predict.main(["--task", "sohu", "--run", str(run), "--test-file", str(pairs),
                        "--submission-dir", str(tmp_path / "custom")])
    lines = open(out["submission"], encoding="utf-8").read().splitlines()
    assert lines[0] == "id,label" and [x.split(",")[0] for x in lines[1:]] == ["ss7_a", "ss7_b", "ll3_a"]
    validate_rows(["id", "label"], [x.split(",") for x in lines[1:]], ["id", "label"], ["ss7_a", "ss7_b", "ll3_a"],
                  ["0", "1"])
    import numpy as np

    probs = np.load(out["submission"].replace(".csv", ".probabilities.npz"))
    assert probs["test_ids"].tolist() == ["ss7_a", "ss7_b", "ll3_a"] and len(probs["test_probs"]) == 3
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != "train.log"} == before
    pairs.write_text(pairs.read_text(encoding="utf-8") + json.dumps(rows[0], ensure_ascii=False) + "\n",
                     encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs.jsonl:4: duplicate id 'ss7_a'"):
        predict.main(["--task", "sohu", "--run", str(run), "--test-file", str(pairs)])


def test_mlm_pretraining_then_fine_tuning_from_it(tmp_path):
    """``competitions.sohu.pretrain_mlm`` writes a folder ``--model`` fine-tunes, on a pruned vocab that tokenises alike."""
    from common.commands import train
    from common.encoder import load_tokenizer
    from competitions.sohu import pretrain_mlm

    out = tmp_path / "mlm"
    tiny = ["--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64"]
    result = pretrain_mlm.main(["--data-dir", str(SOHU), "--limit", "16", "--epochs", "2", "--output-dir", str(out),
                                "--run-dir", str(tmp_path / "mlm-run")] + tiny)
    assert result["epochs_run"] == 2 and result["pairs"] == 16 * 2 * 3  # 2 subtasks present, 3 splits
    assert (out / "pretrain_config.json").is_file() and (out / "model.safetensors").is_file()
    config = pretrain_mlm.SohuMLMConfig(data_dir=str(SOHU), limit=16)
    texts = [t for pair in pretrain_mlm.task_pairs(config) for t in pair]
    full, pruned = load_tokenizer(config), load_tokenizer(pretrain_mlm.SohuMLMConfig(model=str(out)))
    assert len(pruned) < len(full) / 4
    for text in texts[:50]:
        assert pruned.tokenize(text) == full.tokenize(text)
        assert pruned.unk_token_id not in pruned(text)["input_ids"] or full.unk_token_id in full(text)["input_ids"]
    run = tmp_path / "run"
    fine = train.main(["--task", "sohu", "--data-dir", str(SOHU), "--model", str(out), "--run-dir", str(run),
                       "--submission-dir", str(tmp_path / "sub"), "--limit", "16", "--epochs", "1",
                       "--blend-with", ""])
    assert fine["start"] == "pretrained"
    assert json.loads((run / "config.json").read_text())["learning_rate"] == 3e-4  # the task's rate, not 2e-5


def test_mlm_pretraining_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    """``pretrain_mlm --resume true`` after a crash in epoch 2 ends with the weights of the run never stopped."""
    from safetensors.torch import load_file

    from common.commands import pretrain
    from common.training.callbacks import Callback
    from competitions.sohu import pretrain_mlm

    class Crash(Callback):
        def on_step_end(self, trainer):
            if trainer.state["global_step"] == 9:  # epoch 2 of 6 steps each; last checkpoint at step 8
                raise KeyboardInterrupt("simulated crash")

    def run(name, *extra):
        return pretrain_mlm.main(["--data-dir", str(SOHU), "--limit", "8", "--epochs", "2", "--batch-size", "8",
                                  "--checkpoint-every-steps", "4", "--hidden-size", "32", "--num-heads", "2",
                                  "--intermediate-size", "64", "--output-dir", str(tmp_path / name / "model"),
                                  "--run-dir", str(tmp_path / name / "run"), *extra])

    straight = run("straight")
    with monkeypatch.context() as patch:
        patch.setattr(pretrain, "build_callbacks", lambda config: [Crash()])  # pretrain_pairs, which Sohu's runs
        with pytest.raises(KeyboardInterrupt):
            run("crashed")
    assert not (tmp_path / "crashed" / "model").exists()  # nothing half-written where --model would read it
    resumed = run("crashed", "--resume", "true")
    assert resumed["steps"] == straight["steps"] == 12  # (its epoch-2 loss averages the batches after step 8 only)
    a = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    b = load_file(tmp_path / "crashed" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=name)
