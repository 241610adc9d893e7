"""What ``--model`` may start a Xiaobu model from (common/id_encoder.py): BERT checkpoints only, a classifier of
another label count re-initialised, a finished Xiaobu run or its encoder, never a tokenizer-less vocabulary."""

import dataclasses
import json
import logging

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import (AlbertConfig, AlbertModel, BertConfig, BertForSequenceClassification, BertModel,
                          BertTokenizerFast, ElectraConfig, ElectraModel, ErnieConfig, ErnieModel, RoFormerConfig,
                          RoFormerModel)

from common.id_encoder import build_id_vocab_and_model
from competitions.xiaobu.config import XiaobuConfig
from tests.test_xiaobu_e2e import TINY

CHARS = [chr(0x4E00 + i) for i in range(60)]
SIZES = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
             max_position_embeddings=64)
SEQUENCES = [[i, i + 1, i + 2] for i in range(40)] * 2  # 42 ids seen twice


def config(model, tmp_path, **kw) -> XiaobuConfig:
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps({c: 1000 - i for i, c in enumerate(CHARS)}), encoding="utf-8")
    return dataclasses.replace(XiaobuConfig(), model=str(model), counts_file=str(counts), **kw)


def save_with_tokenizer(model, folder):
    """``model`` saved into ``folder`` with a 65-token BERT vocabulary (the 5 specials and 60 characters)."""
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + CHARS) + "\n",
                                      encoding="utf-8")
    BertTokenizerFast.from_pretrained(str(folder)).save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("model, model_type", [
    (lambda: RoFormerModel(RoFormerConfig(vocab_size=65, **SIZES)), "roformer"),
    (lambda: AlbertModel(AlbertConfig(vocab_size=65, embedding_size=16, **SIZES)), "albert"),
    (lambda: ElectraModel(ElectraConfig(vocab_size=65, embedding_size=16, **SIZES)), "electra"),
    (lambda: ErnieModel(ErnieConfig(vocab_size=65, use_task_id=True, **SIZES)), "ernie"),
])
@pytest.mark.parametrize("joint", [False, True])
def test_a_checkpoint_of_another_architecture_is_refused_in_one_line(tmp_path, model, model_type, joint):
    folder = save_with_tokenizer(model(), tmp_path / "m")
    with pytest.raises(ValueError) as error:
        build_id_vocab_and_model(config(folder, tmp_path), SEQUENCES, mlm_head=joint)
    message = str(error.value)
    assert message.startswith(f"{folder}: Xiaobu's classifier loads BERT-architecture checkpoints (model_type bert), "
                              f"got {model_type}; ") and "\n" not in message


def test_a_bert_checkpoint_under_other_parameter_names_is_refused(tmp_path):
    folder = save_with_tokenizer(BertModel(BertConfig(vocab_size=65, **SIZES)), tmp_path / "m")
    weights = load_file(folder / "model.safetensors")
    save_file({f"roberta.{k}": v for k, v in weights.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"encoder weights missing from the checkpoint \(e.g. bert\.embeddings"):
        build_id_vocab_and_model(config(folder, tmp_path), SEQUENCES, mlm_head=False)


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_classification_checkpoint_of_another_label_count_gets_a_new_classifier(tmp_path):
    torch.manual_seed(0)
    stock = BertForSequenceClassification(BertConfig(vocab_size=65, num_labels=3, **SIZES))
    folder = save_with_tokenizer(stock, tmp_path / "m")
    lines, logger = Lines(), logging.getLogger("common.id_encoder")
    logger.addHandler(lines)
    try:
        vocab, model, start = build_id_vocab_and_model(config(folder, tmp_path), SEQUENCES, mlm_head=False)
    finally:
        logger.removeHandler(lines)
    assert start == "bert-frequency-rank" and model.classifier.out_features == 2 and model.config.num_labels == 2
    assert f"{folder}: its classifier has 3 labels: re-initialised for 2" in lines.lines
    torch.testing.assert_close(model.bert.encoder.state_dict(), stock.bert.encoder.state_dict())  # the encoder kept
    # the k-th most frequent id starts from the k-th most frequent character's row (row 5 + k here)
    first_id = vocab.num_special
    torch.testing.assert_close(model.bert.embeddings.word_embeddings.weight[first_id],
                               stock.bert.embeddings.word_embeddings.weight[5])


def test_a_model_folder_without_tokenizer_files_is_refused(tmp_path):
    folder = tmp_path / "m"
    BertModel(BertConfig(vocab_size=65, **SIZES)).save_pretrained(folder)  # transformers: a 5-token tokenizer
    with pytest.raises(ValueError) as error:
        build_id_vocab_and_model(config(folder, tmp_path), SEQUENCES, mlm_head=False)
    message = str(error.value)
    assert message.startswith(f"--model {folder}: 42 of the 42 ids would start from [UNK]") and "\n" not in message


def test_a_finished_xiaobu_run_and_its_encoder_start_with_the_run_vocabulary_and_weights(tmp_path):
    from common.commands import train

    run = tmp_path / "run"
    first = train.main(["--task", "xiaobu"] + TINY + ["--model", "", "--run-dir", str(run), "--epochs", "1",
                                                      "--submission-dir", str(tmp_path / "sub"),
                                                      "--valid-fraction", "0.25"])
    assert first["start"] == "scratch"
    encoder = BertModel.from_pretrained(run / "encoder")
    run_vocab = json.loads((run / "id_vocab.json").read_text())["tokens"]
    for model in (run, run / "encoder"):
        vocab, module, start = build_id_vocab_and_model(config(model, tmp_path), [[1, 2]], mlm_head=False)
        assert start == "xiaobu-run" and vocab.tokens == run_vocab
        torch.testing.assert_close(module.bert.embeddings.word_embeddings.weight,
                                   encoder.embeddings.word_embeddings.weight)
    # through the command: the run's encoder starts a new run on the same ids
    again = train.main(["--task", "xiaobu"] + TINY + ["--model", str(run / "encoder"), "--run-dir", str(tmp_path / "r2"),
                                                      "--epochs", "1", "--submission-dir", str(tmp_path / "sub"),
                                                      "--valid-fraction", "0.25"])
    assert again["start"] == "xiaobu-run"
    assert json.loads((tmp_path / "r2" / "id_vocab.json").read_text())["tokens"] == run_vocab
    # ids desensitised another way (another contest's mapping): nearly all [UNK], refused (probe K)
    with pytest.raises(ValueError, match=r"100% of this data's ids are not in its vocabulary .*desensitised another"):
        build_id_vocab_and_model(config(run, tmp_path), [[10**6 + i] for i in range(50)], mlm_head=False)
