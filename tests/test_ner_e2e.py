"""End to end: train and predict on a slice of CLUENER (each head), a BIO fixture and People's Daily given by flags only."""

import json

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
    assert other["test"] == other["dev"] and "-dev-dev" in other["prediction"] and other["test_lines"] == 4


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
    # one CLUENER line per test line, in order, spans inside the text and matching their mention
    test = read_cluener(CLUENER / "test.json")[:32]
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
