"""End to end on the hand-made slice: pretrain (MLM), fine-tune (plain and joint), predict, validate submissions."""

import json
from pathlib import Path

import pytest

from common.submission import validate_probability_file
from common.data_files import count_lines
from tests.conftest import DATA, ROOT, masked_loss_and_grads

FIXTURES = ROOT / "tests" / "fixtures" / "xiaobu"
TINY = ["--hidden-size", "32", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64",
        "--batch-size", "16", "--data-dir", str(FIXTURES), "--train-file", "train.tsv", "--test-file", "test.tsv"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    from competitions.xiaobu import pretrain

    out = tmp_path_factory.mktemp("xiaobu") / "pre"
    result = pretrain.main(TINY + ["--output-dir", str(out), "--run-dir", str(out.parent / "pre-run"),
                                   "--epochs", "2", "--learning-rate", "1e-3"])
    return out, result


def test_pretrain_writes_a_model_folder(pretrained):
    out, result = pretrained
    for name in ("config.json", "model.safetensors", "tokenizer.json", "id_vocab.json", "pretrain_config.json"):
        assert (out / name).is_file(), name
    assert result["pairs"] == 48 + 16 and result["epochs_run"] == 2 and result["start"] == "scratch"


def test_fine_tuning_on_text_the_cache_lacks_is_warned_about(pretrained, tmp_path, caplog):
    """Probe AF: a cache whose data folder was edited in place (a round-B test file) was reused without a word; its
    vocabulary spelt the new rows' ids as [UNK]. The same text is quiet; one new row names its two texts."""
    from common.encoder import warn_other_pretraining_data
    from competitions.xiaobu.config import XiaobuConfig
    from competitions.xiaobu.task import TASK

    data = TASK.load_data(XiaobuConfig(data_dir=str(FIXTURES), train_file="train.tsv", test_file="test.tsv"))
    pairs = TASK.text_pairs([*data.train, *data.valid, *data.test])
    with caplog.at_level("WARNING", logger="common.encoder"):
        assert warn_other_pretraining_data(str(pretrained[0]), str(FIXTURES), pairs) == ""
        assert not caplog.text
        message = warn_other_pretraining_data(str(pretrained[0]), str(FIXTURES), pairs + [((9001, 9002), (9003,))])
    texts = len({t for pair in pairs for t in pair}) + 2
    assert message.startswith(f"2 of the {texts} texts this run reads") and message in caplog.text
    assert warn_other_pretraining_data(str(pretrained[0]), str(FIXTURES), pairs[:5]) == ""  # a --limit run: a subset
    # probe AM: pretrained on further from the cache, with the new rows: its vocabulary is still the first cache's
    import json

    from common.encoder import save_pretraining_texts

    further = tmp_path / "further"
    further.mkdir()
    config = json.loads((pretrained[0] / "pretrain_config.json").read_text())
    (further / "pretrain_config.json").write_text(json.dumps({**config, "model": str(pretrained[0])}))
    new = pairs + [((9001, 9002), (9003,))]
    save_pretraining_texts(further, new, str(pretrained[0]))
    message = warn_other_pretraining_data(str(further), str(FIXTURES), new)
    assert message.startswith(f"2 of the {texts} texts this run reads")
    assert message.endswith(f"delete {further} and {pretrained[0]} and make their targets again)")


@pytest.mark.parametrize("joint", ["false", "true"])
def test_train_predict_and_submission(pretrained, tmp_path, capsys, joint):
    from common.commands import predict, train

    run = tmp_path / "run"
    # --joint true alone: logit adjustment off, as ESIM and swap TTA (test_joint_turns_off_what_it_cannot_use)
    result = train.main(["--task", "xiaobu"] + TINY + ["--model", str(pretrained[0]), "--joint", joint, "--run-dir", str(run),
                                "--submission-dir", str(tmp_path / "sub"), "--epochs", "2",
                                "--valid-fraction", "0.25", "--fgm-epsilon", "0.5", "--ema-decay", "0.9"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["submission"] == result["submission"] and result["start"] == "id-pretrained"
    for name in ("config.json", "id_vocab.json", "encoder", "metrics.json", "model.pt"):
        assert (run / name).exists(), name
    assert 0 <= result["valid"]["auc"] <= 1 and result["valid_examples"] == 12
    best = json.loads((run / "metrics.json").read_text())["best"]
    assert best["auc"] == pytest.approx(result["valid"]["auc"], abs=1e-6)  # predict reloads the best epoch
    assert validate_probability_file(result["submission"], 16) == 16
    # the head of an official round-1 file is read too (another id mapping: most ids unknown, one line per pair)
    official = next(DATA.glob("xiaobu/gaiic_track3_round1_testB_*.tsv"), FIXTURES / "test.tsv")
    head = tmp_path / "official_head.tsv"
    head.write_text("".join(official.read_text().splitlines(keepends=True)[:300]))
    again = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", str(head), "--submission-dir", str(tmp_path / "sub2")])
    assert again["valid"] == result["valid"]
    assert validate_probability_file(again["submission"], count_lines(head)) == again["rows"] == count_lines(head)
    # another file named like the run's own test.tsv, into the run's submission folder: the run's submission stays
    (tmp_path / "foreign").mkdir()
    foreign = tmp_path / "foreign" / "test.tsv"
    foreign.write_text("".join((FIXTURES / "test.tsv").read_text().splitlines(keepends=True)[:5]))
    own = Path(result["submission"]).read_bytes()
    other = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", str(foreign)])
    assert Path(other["submission"]).parent == Path(result["submission"]).parent
    assert Path(other["submission"]).name != Path(result["submission"]).name and "-test-" in other["submission"]
    assert Path(result["submission"]).read_bytes() == own and validate_probability_file(other["submission"], 5) == 5


def test_general_bert_start_maps_ids_by_frequency_rank(tmp_path):
    """``--model`` a (tiny, random) general BERT: ids mapped onto its vocab through a counts table."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    from common.commands import train

    chars = [chr(0x4E00 + i) for i in range(60)]
    bert_dir = tmp_path / "bert"
    bert_dir.mkdir()
    (bert_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars) + "\n",
                                        encoding="utf-8")
    BertTokenizerFast.from_pretrained(str(bert_dir)).save_pretrained(bert_dir)
    torch.manual_seed(0)
    bert = BertForMaskedLM(BertConfig(vocab_size=65, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64, max_position_embeddings=64))
    bert.save_pretrained(bert_dir)
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps({c: 1000 - i for i, c in enumerate(chars)}), encoding="utf-8")
    result = train.main(["--task", "xiaobu"] + TINY + ["--model", str(bert_dir), "--counts-file", str(counts), "--run-dir", str(tmp_path / "r"),
                                "--submission-dir", str(tmp_path / "sub"), "--epochs", "1", "--valid-fraction", "0.25"])
    assert result["start"] == "bert-frequency-rank" and 0 <= result["valid"]["auc"] <= 1
    vocab_size = json.loads((tmp_path / "r" / "encoder" / "config.json").read_text())["vocab_size"]
    assert vocab_size == len(json.loads((tmp_path / "r" / "id_vocab.json").read_text())["tokens"])


def test_joint_predict_step_equals_full_mlm_logits():
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from common.id_vocab import build_id_vocab
    from common.joint_mlm import LABEL_TOKENS, JointPredictStep

    vocab = build_id_vocab([[5, 6, 7]], extra_special_tokens=LABEL_TOKENS)
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=32)).eval()
    batch = {"input_ids": torch.tensor([[2, 7, 8, 3, 9, 3], [2, 9, 3, 7, 3, 0]]),
             "attention_mask": torch.tensor([[1] * 6, [1] * 5 + [0]])}
    full = model(**batch).logits[:, 0, [vocab.token_id(t) for t in LABEL_TOKENS]]  # (B, 2) from (B, T, V)
    assert torch.allclose(JointPredictStep(vocab)(model, batch)["prob"], torch.softmax(full, -1)[:, 1], atol=1e-6)


def test_joint_model_heads_only_the_target_positions_with_the_full_logits_loss_and_gradients(tmp_path):
    """:class:`common.joint_mlm.JointMaskedLM` against ``BertForMaskedLM`` of the same weights, on a joint batch
    (MLM targets and a [LABEL1]/[LABEL0] target at [CLS], one row unlabelled, one padded): the same loss through
    :func:`common.pretraining.masked_token_loss` and the same gradient in every parameter; (M, V) logits, not
    (B, T, V); without labels the stock (B, T, V) logits; and a ``BertForMaskedLM`` folder (a run saved before
    the class) loads into it with every weight."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from common.id_vocab import build_id_vocab
    from common.joint_mlm import LABEL_TOKENS, JointMaskedLM

    vocab = build_id_vocab([[5, 6, 7, 8, 9]], extra_special_tokens=LABEL_TOKENS)
    torch.manual_seed(0)
    stock = BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=32, hidden_dropout_prob=0.0,
                                       attention_probs_dropout_prob=0.0))
    stock.save_pretrained(tmp_path / "stock")
    joint = JointMaskedLM.from_pretrained(tmp_path / "stock")
    assert joint.state_dict().keys() == stock.state_dict().keys()
    for key, value in stock.state_dict().items():
        torch.testing.assert_close(joint.state_dict()[key], value, rtol=0, atol=0, msg=key)
    label1, label0 = (vocab.token_id(t) for t in reversed(LABEL_TOKENS))
    input_ids = torch.tensor([[2, 7, 4, 3, 9, 3], [2, 9, 3, 4, 3, 0], [2, 4, 8, 3, 6, 3]])  # 4: a masked token
    attention_mask = torch.tensor([[1] * 6, [1] * 5 + [0], [1] * 6])
    labels = torch.full((3, 6), -100)
    labels[0, 0], labels[1, 0] = label1, label0  # row 2 is unlabelled: MLM targets only
    labels[0, 2], labels[1, 3], labels[2, 1] = 8, 7, 5
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    full, full_grads = masked_loss_and_grads(stock, batch)
    heads_only, grads = masked_loss_and_grads(joint, batch)
    torch.testing.assert_close(heads_only, full)
    assert grads.keys() == full_grads.keys() and len(grads) > 10
    for name, grad in full_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    assert joint(**batch).logits.shape == (5, len(vocab))
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    torch.testing.assert_close(joint(**inputs).logits, stock(**inputs).logits)  # (B, T, V)


def test_limit_cuts_the_training_file_and_never_the_submission(tmp_path):
    """--limit 24 (a quick run): 24 training lines, and the submission still holds all 16 test lines."""
    from common.commands import train

    result = train.main(["--task", "xiaobu"] + TINY + ["--limit", "24", "--epochs", "1", "--valid-fraction", "0.25",
                                                       "--run-dir", str(tmp_path / "run"),
                                                       "--submission-dir", str(tmp_path / "sub")])
    assert result["valid_examples"] == 6 and result["rows"] == 16
    assert validate_probability_file(result["submission"], 16) == 16
    # a labelled file (three columns) predicts as well, its labels ignored: one probability a line
    from common.commands import predict

    labelled = predict.main(["--task", "xiaobu", "--run", str(tmp_path / "run"), "--test-file",
                             str(FIXTURES / "train.tsv")])
    assert labelled["rows"] == 48 and validate_probability_file(labelled["submission"], 48) == 48


def test_joint_turns_off_what_it_cannot_use():
    """``--joint true`` alone had been refused for the classifier's default logit adjustment (tau 0.5): it is off
    unless given, as the ESIM head and swap TTA are; given, it is refused when the model is built."""
    from common.config import parse_config
    from competitions.xiaobu.config import XiaobuConfig

    joint = parse_config(XiaobuConfig, ["--joint", "true"])
    assert (joint.logit_adjust_tau, joint.esim, joint.tta_swap) == (0.0, False, False)
    plain = parse_config(XiaobuConfig, [])
    assert plain.logit_adjust_tau == 0.5
    assert parse_config(XiaobuConfig, ["--joint", "true", "--logit-adjust-tau", "0.5"]).logit_adjust_tau == 0.5
