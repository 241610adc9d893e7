"""End to end on a slice of CLUENER: train (GlobalPointer and CRF heads), predict, check the submission."""

import json

import pytest

from common.ner.readers import read_cluener
from tests.conftest import DATA, ROOT, SHARED_VOCAB

CLUENER = DATA / "ner" / "cluener"
pytestmark = pytest.mark.skipif(not (CLUENER / "train.json").is_file(), reason=f"CLUENER not linked at {CLUENER}")


@pytest.mark.parametrize("head, encoder", [("gp", "bilstm"), ("egp", "bert"), ("crf", "bilstm")])
def test_train_predict_and_cluener_submission(tmp_path, capsys, head, encoder):
    from competitions.ner import predict, train

    vocab = ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else ["--vocab", str(tmp_path / "none")]
    args = ["--config", str(ROOT / "competitions" / "ner" / "configs" / "smoke.toml"), "--data-root", str(DATA),
            "--head", head, "--encoder-type", encoder, "--run-dir", str(tmp_path / "run"),
            "--output-dir", str(tmp_path / "sub"), "--epochs", "2", "--limit", "32", "--learning-rate", "5e-3"] + vocab
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
    again = predict.main(["--run", str(run), "--output-dir", str(tmp_path / "sub2")])
    assert again["dev"] == result["dev"]  # same weights, same data, same metrics
    assert open(again["prediction"]).read() == open(result["prediction"]).read()
