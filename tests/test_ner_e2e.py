"""End to end: train and predict on a slice of CLUENER (each head), a BIO fixture and People's Daily given by flags only."""

import json
import re
from pathlib import Path

import pytest

from common.ner.readers import read_cluener
from tests.conftest import DATA, ROOT, SHARED_VOCAB

CLUENER = DATA / "ner" / "cluener"
BIO = ROOT / "tests" / "fixtures" / "ner_bio"
PEOPLE_DAILY = DATA / "ner" / "people_daily"
needs_cluener = pytest.mark.skipif(not (CLUENER / "train.json").is_file(), reason=f"CLUENER not linked at {CLUENER}")


def _vocab(tmp_path) -> list[str]:
    return ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]


def _lines(path) -> list[dict]:
    return [json.loads(x) for x in open(path, encoding="utf-8")]


def test_bio_fixture_trains_and_predicts_with_flags_only(tmp_path, capsys):
    """A new BIO corpus: no preset, only --format bio, --data-dir and the file names."""
    from competitions.ner import predict, train

    args = ["--format", "bio", "--data-dir", str(BIO), "--train-file", "train.txt", "--dev-file", "dev.txt",
            "--test-file", "test.txt", "--run-dir", str(tmp_path / "run"), "--submission-dir", str(tmp_path / "sub"),
            "--hidden-size", "64", "--lstm-layers", "1", "--epochs", "8", "--batch-size", "4",
            "--learning-rate", "2e-2", "--warmup-ratio", "0", "--w2v-init", "false", "--max-train-minutes", "0",
            "--seed", "1"] + _vocab(tmp_path)
    result = train.main(args)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dev"] == result["dev"]
    config = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert (config["dataset"], config["format"], config["data_dir"]) == ("", "bio", str(BIO))  # resolved, saved
    assert json.loads((tmp_path / "run" / "labels.json").read_text())["types"] == ["LOC", "ORG", "PER"]
    assert result["dataset"] == "ner_bio" and result["test_lines"] == 4 and "test" in result
    assert result["dev"]["f1"] >= 0.8, result  # 4 dev sentences of names seen in training
    rows = _lines(result["prediction"])
    assert [r["text"] for r in rows] == ["王五在杭州工作。", "张三去深圳出差。", "李四加入了腾讯公司。", "阿里巴巴在杭州。"]
    # predict: the run's data by default; another test file by flag (relative to --data-dir)
    again = predict.main(["--run", str(tmp_path / "run"), "--submission-dir", str(tmp_path / "sub2")])
    assert again["dev"] == result["dev"] and open(again["prediction"]).read() == open(result["prediction"]).read()
    other = predict.main(["--run", str(tmp_path / "run"), "--data-dir", str(BIO), "--test-file", "dev.txt",
                          "--submission-dir", str(tmp_path / "sub3")])
    assert other["test"] == other["dev"] and other["test_lines"] == 4
    assert re.search(r"/run-dev-[0-9a-f]{8}-dev1?[.0-9]+\.jsonl$", other["prediction"])  # stem, content digest, F1


@pytest.mark.skipif(not (PEOPLE_DAILY / "example.dev").is_file(), reason="People's Daily not linked")
def test_real_bio_files_by_paths_and_format(tmp_path):
    """People's Daily's BIO files passed as plain paths (absolute), not through the people_daily preset."""
    from competitions.ner import train

    args = ["--format", "bio", "--train-file", str(PEOPLE_DAILY / "example.dev"),
            "--dev-file", str(PEOPLE_DAILY / "example.test"), "--limit", "48", "--config",
            str(ROOT / "competitions" / "ner" / "configs" / "smoke.toml"), "--run-dir", str(tmp_path / "run"),
            "--submission-dir", str(tmp_path / "sub")] + _vocab(tmp_path)
    result = train.main(args)
    assert result["dataset"] != "people_daily" and "prediction" not in result  # no test file: no prediction
    assert json.loads((tmp_path / "run" / "labels.json").read_text())["types"] == ["LOC", "ORG", "PER"]
    assert result["dev_texts"] == 48 and 0.0 <= result["dev"]["f1"] <= 1.0


@needs_cluener
@pytest.mark.parametrize("head, encoder", [("gp", "bilstm"), ("egp", "bert"), ("crf", "bilstm")])
def test_train_predict_and_cluener_submission(tmp_path, capsys, head, encoder):
    from competitions.ner import predict, train

    vocab = _vocab(tmp_path)
    args = ["--config", str(ROOT / "competitions" / "ner" / "configs" / "smoke.toml"), "--data-dir", str(CLUENER),
            "--head", head, "--encoder-type", encoder, "--run-dir", str(tmp_path / "run"),
            "--submission-dir", str(tmp_path / "sub"), "--epochs", "2", "--limit", "32", "--learning-rate", "5e-3"] + vocab
    result = train.main(args)
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["prediction"] == result["prediction"]
    run = tmp_path / "run"
    for name in ("config.json", "metrics.json", "model.pt", "train.log", "labels.json", "dev_metrics.json"):
        assert (run / name).exists(), name
    assert 0.0 <= result["dev"]["f1"] <= 1.0
    # one CLUENER line per test line (all 1,345: --limit cuts train and dev only), in order, spans inside the
    # text and matching their mention
    test = read_cluener(CLUENER / "test.json")
    lines = [json.loads(x) for x in open(result["prediction"], encoding="utf-8")]
    assert [x["id"] for x in lines] == [ex.id for ex in test]
    for ex, row in zip(test, lines):
        for etype, mentions in row["label"].items():
            for mention, positions in mentions.items():
                for s, e in positions:
                    assert ex.text[s:e + 1] == mention
    again = predict.main(["--run", str(run), "--submission-dir", str(tmp_path / "sub2")])
    assert again["dev"] == result["dev"]  # same weights, same data, same metrics
    assert open(again["prediction"]).read() == open(result["prediction"]).read()
    if head == "crf":  # flat by construction: --decoding, a span-head reading, is refused (it wrote a copy)
        with pytest.raises(ValueError, match="CRF head, whose tags are flat by construction"):
            predict.main(["--run", str(run), "--decoding", "nested"])


def _tiny(tmp_path, *extra) -> list[str]:
    return ["--format", "bio", "--data-dir", str(BIO), "--train-file", "train.txt", "--dev-file", "dev.txt",
            "--test-file", "test.txt", "--run-dir", str(tmp_path / "run"), "--submission-dir", str(tmp_path / "sub"),
            "--hidden-size", "32", "--lstm-layers", "1", "--epochs", "1", "--batch-size", "4",
            "--w2v-init", "false", *extra] + _vocab(tmp_path)


def test_sets_a_run_cannot_learn_from_are_refused_before_a_run_folder(tmp_path):
    """A train file without entities, a dev file without entities (F1 0 at every epoch), an empty dev file and a
    --dev-holdout taking every sentence: one-line errors naming the file, and no run folder."""
    from competitions.ner import train

    (tmp_path / "plain.txt").write_text("今 O\n天 O\n\n好 O\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    cases = [(["--train-file", str(tmp_path / "plain.txt")], r"--train-file .*plain.txt: its 2 train sentences "
                                                             r"hold no entity: nothing to learn"),
             (["--dev-file", str(tmp_path / "plain.txt")], r"--dev-file .*plain.txt: its 2 dev sentences hold no "
                                                           r"entity: micro-F1 is 0 at every epoch"),
             (["--dev-file", str(tmp_path / "empty.txt")], r"--dev-file .*empty.txt: no dev sentence"),
             (["--dev-file", "", "--dev-holdout", "500"], r"--train-file .*train.txt: --dev-holdout 500 takes every "
                                                          r"sentence, none is left to train on"),
             # probe AE: options that leave no entity a target trained to F1 0 without a word (entities: 2-4 chars)
             (["--head", "egp", "--max-span-width", "1"], r"--train-file .*train.txt: none of its \d+ entities can be "
                                                          r"a training target \(\d+ wider than --max-span-width 1\)"),
             (["--max-length", "1"], r"none of its \d+ entities can be a training target \(\d+ across a piece "
                                     r"boundary \(--max-length 1 characters a piece\)\)"),
             (["--max-length", "0"], r"--max-length 0: expected >= 1")]
    for extra, message in cases:
        with pytest.raises(ValueError, match=message):
            train.main(_tiny(tmp_path, *extra))
        assert not (tmp_path / "run").exists()


def test_a_crf_asked_to_decode_nested_says_it_decodes_flat(tmp_path, caplog):
    """Probe AE: ``--head crf --decoding nested`` was accepted without a word (its result line said flat)."""
    from competitions.ner import train

    with caplog.at_level("WARNING"):
        result = train.main(_tiny(tmp_path, "--head", "crf", "--decoding", "nested"))
    assert result["decoding"] == "flat"
    assert "--decoding nested with --head crf: a CRF's tags hold one entity a character, so it decodes flat" \
        in caplog.text


def test_entities_out_of_the_targets_are_counted_once_and_warned_about():
    """``untrainable_spans``: a span across a piece cut counts as cut (not also as wide); the width limit is the span
    heads' only; a run losing 5% or more of its train entities to the options warns, and one losing all refuses."""
    from types import SimpleNamespace

    from common.ner.spans import NerExample, Span
    from competitions.ner.data import check_training_data, untrainable_spans

    spans = [Span(0, 3, "ORG"), Span(0, 1, "LOC"), Span(5, 6, "LOC"), Span(3, 5, "X")]
    train = [NerExample("北京大学在海淀", spans)]  # pieces of 5 characters: 北京大学在 | 海淀
    config = SimpleNamespace(head="egp", max_span_width=2, max_length=5, dev_holdout=0, data_dir="d",
                             train_file="t.txt", dev_file="v.txt")
    assert untrainable_spans(config, train) == (4, 1, 1)  # 北京大学 wide; 学在海 cut (and wide: counted once)
    config.head = "crf"
    assert untrainable_spans(config, train) == (4, 0, 1)
    warnings = check_training_data(config, {"train": train, "dev": train})
    assert warnings == ["1 of the 4 train entities are not training targets (1 across a piece boundary "
                        "(--max-length 5 characters a piece)): the model cannot predict them"]


def test_predict_leaves_the_run_alone_and_names_foreign_test_files_by_content(tmp_path):
    """--limit cuts train and dev, never the test file; --resume with another model option is refused before any
    run file is rewritten; predict with another --data-dir leaves every run file as it was; two test files of one
    name (and a tag-less one) get two predictions; an empty test file is a one-line error."""
    import hashlib

    from competitions.ner import predict, train

    result = train.main(_tiny(tmp_path, "--limit", "2"))
    assert result["test_lines"] == 4 and result["dev_texts"] == 2

    def snapshot():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "run").rglob("*")
                if p.is_file() and p.name != "train.log"}  # in one process the last run's log handler stays on
    before = snapshot()
    with pytest.raises(ValueError, match=r"--resume true: .*config.json was started with other options "
                                         r"\(hidden_size 32 -> 64\)"):
        train.main(_tiny(tmp_path, "--limit", "2", "--resume", "true", "--hidden-size", "64"))
    assert snapshot() == before
    other = tmp_path / "other"
    other.mkdir()
    for name in ("train.txt", "dev.txt"):
        (other / name).write_text((BIO / name).read_text(encoding="utf-8"), encoding="utf-8")
    plain = "".join(line.split()[0] + "\n" if line.strip() else "\n"
                    for line in (BIO / "test.txt").read_text(encoding="utf-8").splitlines())
    (other / "test.txt").write_text(plain, encoding="utf-8")  # the same sentences, without tags
    sub = tmp_path / "sub2"
    again = predict.main(["--run", str(tmp_path / "run"), "--data-dir", str(other), "--test-file", "test.txt",
                          "--submission-dir", str(sub)])
    own = predict.main(["--run", str(tmp_path / "run"), "--test-file", str(BIO / "test.txt"),
                        "--submission-dir", str(sub)])
    assert snapshot() == before and "dev_metrics_file" not in again
    assert again["prediction"] != own["prediction"] and again["test_lines"] == own["test_lines"] == 4
    assert [r["entities"] for r in _lines(again["prediction"])] == [r["entities"] for r in _lines(own["prediction"])]
    # another test.txt into the same folder as the run's own test.txt: its content digest keeps them apart
    third = predict.main(["--run", str(tmp_path / "run"), "--test-file", str(other / "test.txt"),
                          "--submission-dir", str(sub)])
    assert Path(third["prediction"]).parent == Path(own["prediction"]).parent
    assert re.search(r"/run-test-[0-9a-f]{8}-dev", third["prediction"]) and "/run-test-dev" in own["prediction"]
    (other / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"--test-file .*empty.txt: no sentence to predict"):
        predict.main(["--run", str(tmp_path / "run"), "--data-dir", str(other), "--test-file", "empty.txt"])


def test_dev_types_the_train_file_lacks_are_warned_about_in_the_runs_log(tmp_path):
    """A dev type never seen in training cannot be predicted: the run's ``train.log`` says which, before training
    (probe P: the warning was logged before the run folder existed, so it reached the console only)."""
    from competitions.ner import train

    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text("张 B-PER\n三 I-PER\n来 O\n\n李 B-PER\n四 I-PER\n", encoding="utf-8")
    (data / "dev.txt").write_text("北 B-LOC\n京 I-LOC\n张 B-PER\n三 I-PER\n", encoding="utf-8")
    (data / "test.txt").write_text("张\n三\n", encoding="utf-8")
    train.main(["--format", "bio", "--data-dir", str(data), "--train-file", "train.txt", "--dev-file", "dev.txt",
                "--test-file", "test.txt", "--run-dir", str(tmp_path / "run"), "--submission-dir", str(tmp_path / "sub"),
                "--hidden-size", "32", "--lstm-layers", "1", "--epochs", "1", "--batch-size", "2", "--w2v-init", "false",
                "--max-train-minutes", "0"] + _vocab(tmp_path))
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "dev entity types absent from the train sentences, so never predicted: LOC" in log
    assert log.index("never predicted") < log.index("epoch 1")


def test_flat_data_decodes_flat_and_nested_data_nested(tmp_path):
    """``--decoding auto``: a BIO set has no overlapping entities, so a span head decodes flat there (no two
    predicted spans share a character; GlobalPointer's every-span-above-0 gave one span two types 21 times in 40
    texts of a probe's flat contest), saved resolved in config.json; ``predict --decoding nested`` decodes the
    same model the other way, under its own prediction name, and finds at least the flat spans."""
    from common.ner.spans import NerExample, Span, nested_share
    from competitions.ner import predict, train
    from competitions.ner.config import NerConfig
    from competitions.ner.data import resolve_decoding

    # an untrained head scores many cells near 0: threshold 0 gives overlapping spans to drop; pieces of 5
    # characters: the 4 dev texts are predicted in pieces, and eval_examples counts texts, not pieces
    result = train.main(_tiny(tmp_path, "--head", "gp", "--learning-rate", "0", "--max-length", "5"))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["decoding"] == "flat" == result["decoding"]
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]
    assert [h["eval_examples"] for h in history] == [4] == [result["dev_texts"]]
    nested = predict.main(["--run", str(tmp_path / "run"), "--decoding", "nested"])
    assert nested["prediction"].endswith(".jsonl") and "/run-nested-dev" in nested["prediction"]
    flat_rows, nested_rows = _lines(result["prediction"]), _lines(nested["prediction"])
    overlapping = 0
    for flat, full in zip(flat_rows, nested_rows):
        spans = sorted((e["start"], e["end"], e["type"]) for e in flat["entities"])
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # no character in two entities
        assert set(spans) <= {(e["start"], e["end"], e["type"]) for e in full["entities"]}
        overlapping += len(full["entities"]) > len(spans)
    assert overlapping  # the nested reading had overlaps that flat decoding resolved
    texts = [NerExample("甲乙丙", [Span(0, 1, "A"), Span(1, 2, "B")], 0), NerExample("丁", [Span(0, 0, "A")], 1)]
    assert nested_share(texts) == 0.5 and nested_share(texts[1:]) == 0.0
    config = NerConfig(decoding="auto")
    resolve_decoding(config, texts)
    assert config.decoding == "nested"
    with pytest.raises(ValueError, match="--decoding 'flatt': expected one of auto, flat, nested"):
        resolve_decoding(NerConfig(decoding="flatt"), texts)


def test_a_model_that_cannot_be_built_leaves_no_run_folder(tmp_path):
    """A refused --model (saved without its tokenizer files) left an empty NER run folder behind (probe K)."""
    from transformers import BertConfig, BertModel

    from competitions.ner import train

    BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path / "bare")
    run = tmp_path / "runs" / "bare"
    with pytest.raises(ValueError, match="no tokenizer files there"):
        train.main(["--data-dir", str(ROOT / "tests" / "fixtures" / "ner_bio"), "--format", "bio", "--train-file",
                    "train.txt", "--dev-file", "dev.txt", "--model", str(tmp_path / "bare"), "--run-dir", str(run)])
    assert not run.exists()


def test_an_unknown_head_is_refused_by_its_flag_before_the_data_is_read(tmp_path, monkeypatch):
    """`--head foo` said "head must be one of ..." after reading the data and training word2vec (probe P)."""
    from competitions.ner import train

    monkeypatch.setattr(train, "load_splits", lambda config: pytest.fail("the data was read"))
    with pytest.raises(ValueError, match=r"--head 'foo': expected one of gp, egp, crf"):
        train.main(["--data-dir", str(ROOT / "tests" / "fixtures" / "ner_bio"), "--format", "bio", "--train-file",
                    "train.txt", "--dev-file", "dev.txt", "--head", "foo", "--run-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()
