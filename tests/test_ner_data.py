"""Spans -> model inputs -> spans: nested spans and long texts cut into pieces round-trip."""

import os

import torch

from common.layers.global_pointer import GlobalPointer
from common.ner.spans import NerExample, Span
import pytest

from competitions.ner.config import NerConfig
from competitions.ner.data import (PRESETS, NerDataset, bio_tags, collate, detect_preset, load_splits,
                                   merge_piece_spans, resolve_data_options)
from tests.conftest import DATA, ROOT

BIO = ROOT / "tests" / "fixtures" / "ner_bio"


def test_nested_spans_round_trip_through_encode_and_decode(tiny_tokenizer, caplog):
    types = ["bod", "sym"]
    examples = [NerExample("今天天气很好，我们去公园散步。", [Span(0, 3, "bod"), Span(2, 3, "sym"), Span(2, 3, "bod"),
                                                   Span(9, 10, "sym")]),
                NerExample("北京顺义两个地区", [Span(0, 3, "bod"), Span(0, 1, "bod"), Span(6, 7, "sym")]),
                NerExample("", [])]
    with caplog.at_level("INFO"):
        ds = NerDataset(examples, tiny_tokenizer, types, max_length=6)  # texts cut into pieces of 6 chars
    # a tag sequence holds one entity a character: what the CRF's targets leave out is counted (probe Z2)
    assert "3 gold spans overlap a longer one: not in the tag targets" in caplog.text
    assert [(p.example, p.offset, p.length) for p in ds.pieces] == [(0, 0, 6), (0, 6, 6), (0, 12, 3),
                                                                     (1, 0, 6), (1, 6, 2)]
    batch = collate([ds[i] for i in range(len(ds))], pad_id=tiny_tokenizer.pad_token_id)
    B, L = batch["input_ids"].shape
    assert L == 8 and batch["tag_labels"].shape == (B, 6) and batch["span_labels"].shape[-1] == 3
    # characters map 1:1 to tokens after [CLS]
    vocab = tiny_tokenizer.get_vocab()
    assert batch["input_ids"][0, 1:7].tolist() == [vocab[c] for c in "今天天气很好"]
    # a perfect score tensor built from the targets decodes back to the gold spans
    T = L - 2
    scores = torch.full((B, len(types), T, T), -5.0)
    for b in range(B):
        for s, e, t in batch["span_labels"][b].tolist():
            if s >= 0:
                scores[b, t, s, e] = 5.0
    mask = batch["attention_mask"][:, 2:]
    head = GlobalPointer(4, len(types), head_size=2)
    found = head.decode(head.mask_scores(scores, mask))
    assert torch.equal(found, head.decode(scores, mask=mask))  # masking inside decode: the same spans
    per_piece = [[] for _ in range(B)]
    for b, t, s, e in found.tolist():
        per_piece[b].append((s, e, t))
    assert merge_piece_spans(ds, per_piece) == [sorted(ex.spans) for ex in examples]
    # the CRF targets hold the flattened spans (longest first): bod(0,3) and sym(9,10) for text 0
    tags = bio_tags(types)
    assert [tags[i] for i in ds[0]["tag_labels"]] == ["B-bod", "I-bod", "I-bod", "I-bod", "O", "O"]


def test_presets_read_when_linked():
    if not (DATA / "ner" / "cluener" / "dev.json").is_file():
        pytest.skip("NER data not linked")
    data = load_splits(resolve_data_options(NerConfig(dataset="cluener", data_dir=str(DATA / "ner" / "cluener"),
                                                      limit=5)))
    assert [len(v) for v in data.values()] == [5, 5, 1345] and data["test"][0].id == 0  # --limit: test whole
    assert detect_preset(DATA / "ner" / "cluener") == "cluener"
    assert detect_preset(DATA / "ner" / "resume") == "resume"


def test_a_folder_is_a_preset_only_when_it_is_the_presets_folder(tmp_path):
    """A folder of one's own train.txt / dev.txt is not the power preset (its format, name and note); the preset's
    own folder, or a copy named after it, is."""
    for folder in (tmp_path / "mine", tmp_path / "power"):
        folder.mkdir()
        for name in ("train.txt", "dev.txt"):
            (folder / name).write_text("中 B-X\n\n", encoding="utf-8")
    assert detect_preset(tmp_path / "mine") == "" and detect_preset(tmp_path / "power") == "power"
    with pytest.raises(ValueError, match="no --train-file, --format, --dev-file"):  # neither its files nor format
        resolve_data_options(NerConfig(data_dir=str(tmp_path / "mine")))
    assert resolve_data_options(NerConfig(data_dir=str(tmp_path / "power"))).format == "bme"


def test_bio_files_by_flags_only():
    config = resolve_data_options(NerConfig(format="bio", data_dir=str(BIO), train_file="train.txt",
                                            dev_file=str(BIO / "dev.txt")))  # relative and absolute
    assert config.dataset == "" and config.test_file == "" and config.strict_tags is True
    data = load_splits(config)
    assert [len(data[k]) for k in ("train", "dev", "test")] == [12, 4, 0]
    assert data["dev"][0].text == "李四在北京工作。" and [s.type for s in data["dev"][0].spans] == ["PER", "LOC"]


def test_explicit_flags_override_the_preset():
    config = resolve_data_options(NerConfig(dataset="resume", data_dir=str(BIO), train_file="train.txt",
                                            format="bio"))
    preset = PRESETS["resume"]
    assert (config.train_file, config.format, config.data_dir) == ("train.txt", "bio", str(BIO))
    assert (config.dev_file, config.test_file, config.strict_tags) == (preset["dev_file"], preset["test_file"], False)
    assert NerConfig().data_dir == ""  # no preset applies unless asked for or detected


def test_missing_options_and_unknown_names_fail_in_one_line():
    with pytest.raises(ValueError, match="no --format") as err:
        resolve_data_options(NerConfig(data_dir=str(BIO), train_file="train.txt", dev_file="dev.txt"))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="--format 'conll'"):
        resolve_data_options(NerConfig(data_dir=str(BIO), train_file="train.txt", dev_file="dev.txt", format="conll"))
    with pytest.raises(ValueError, match="unknown --dataset 'msra'"):
        resolve_data_options(NerConfig(dataset="msra"))
    config = resolve_data_options(NerConfig(format="bio", data_dir=str(BIO), train_file="train.txt",
                                            dev_file="nope.txt"))
    with pytest.raises(FileNotFoundError, match="--dev-file: .*nope.txt not found"):
        load_splits(config)


def test_bad_tag_names_file_and_line(tmp_path):
    from common.ner.readers import NerDataError

    (tmp_path / "train.txt").write_text("张 B-PER\n三 I-PER\n\n在 O\n京 I-LOC\n", encoding="utf-8")
    config = resolve_data_options(NerConfig(format="bio", data_dir=str(tmp_path), train_file="train.txt",
                                            dev_file="train.txt"))
    with pytest.raises(NerDataError, match=r"train.txt:5: invalid BIO tag sequence"):
        load_splits(config)
    config.strict_tags = False  # --strict-tags false: repaired (I-LOC opens an entity)
    assert load_splits(config)["train"][1].spans[0].type == "LOC"


def test_prediction_batches_by_length_and_returns_spans_in_text_order(tiny_tokenizer):
    """predict_spans sorts pieces by length for batching; each text must get its own spans back."""
    from torch import nn

    from competitions.ner.predict import predict_spans

    class WholeText(nn.Module):  # predicts the whole piece as one entity, and records batch shapes
        def __init__(self):
            super().__init__()
            self.lengths = []

        def decode(self, input_ids, attention_mask, **_):
            n = (attention_mask.sum(1) - 2).tolist()  # characters per piece
            self.lengths.append(n)
            return [[(0, k - 1, 0)] for k in n]  # one (start, end, type) per piece

    texts = ["今天天气很好", "北京", "科比与奥尼尔的湖人王朝", "我们去公园", "顺义"]
    examples = [NerExample(t, []) for t in texts]
    model = WholeText()
    spans, rate = predict_spans(model, examples, tiny_tokenizer, ["x"], max_length=64, batch_size=2)
    assert spans == [[Span(0, len(t) - 1, "x")] for t in texts] and rate > 0
    assert model.lengths == [[2, 2], [5, 6], [11]]  # shortest first, padding within a batch minimal


def test_make_ner_train_with_an_empty_dataset_passes_no_preset_flags():
    """``make ner-train DATASET= ARGS="--format bio --data-dir X ..."`` (README's form for one's own files) passed
    ``--dataset`` with no value, and argparse refused it."""
    import subprocess

    def command(*variables):
        return subprocess.run(["make", "-n", "--no-print-directory", "ner-train", *variables], cwd=ROOT, check=True,
                              capture_output=True, text=True, env={**os.environ, "MAKEFLAGS": ""}).stdout.splitlines()[-1]

    own = command("DATASET=", "ARGS=--format bio --data-dir mine --train-file a.txt --dev-file b.txt")
    assert own.split()[1:] == ["-m", "competitions.ner.train", "--format", "bio", "--data-dir", "mine", "--train-file",
                               "a.txt", "--dev-file", "b.txt"]
    assert command("DATASET=resume").split()[3:] == ["--dataset", "resume", "--data-dir", "data/ner/resume"]


def test_a_pretrained_model_implies_the_bert_encoder_and_its_learning_rate():
    """``--model`` with the BiLSTM default trained a BiLSTM from scratch at the pretrained learning rate and never
    loaded the weights, while the result named the model (probe H)."""
    from common.config import parse_config

    config = parse_config(NerConfig, ["--model", "hfl/chinese-macbert-base"])
    assert (config.encoder_type, config.learning_rate) == ("bert", config.pretrained_learning_rate)
    assert parse_config(NerConfig, []).encoder_type == "bilstm"
    with pytest.raises(ValueError, match="--encoder-type bilstm: the BiLSTM has no pretrained weights to load"):
        parse_config(NerConfig, ["--model", "hfl/chinese-macbert-base", "--encoder-type", "bilstm"])
