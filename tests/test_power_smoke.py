"""End-to-end: mine a slice of the real corpus, check the outputs, evaluate them."""

import json

import pytest

from competitions.power_terms import data, evaluate, mine

try:
    ROOT = data.data_root()
except FileNotFoundError:
    ROOT = None


@pytest.mark.skipif(ROOT is None, reason="data/power_terms is absent (link it to ../shared/data/power_terms)")
def test_mine_and_evaluate_on_corpus_slice(tmp_path, capsys):
    subs, runs = tmp_path / "subs", tmp_path / "runs"
    common = ["--run", "smoke", "--submissions-dir", str(subs), "--runs-dir", str(runs)]
    mine.main(common + ["--max-chars", "80000", "--w2v-epochs", "2", "--general-texts",
                        "uer_py/CLUECorpusSmall_sampled.txt", "--seeds", "开关柜"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["corpus_chars"] <= 80000 + 10_000 and out["contrast_terms"] > 100
    assert "开关柜" in out["seeds"]
    terms = (subs / "smoke.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(terms) == out["terms"] == len(set(terms))
    tsv = (subs / "smoke.tsv").read_text(encoding="utf-8").splitlines()
    assert tsv[0].split("\t")[:4] == ["rank", "term", "stage", "stages"]
    assert [r.split("\t")[1] for r in tsv[1:]] == terms
    assert json.loads((runs / "smoke" / "config.json").read_text())["max_chars"] == 80000
    assert (runs / "smoke" / "metrics.json").is_file()
    assert not list(subs.glob("*.tmp")) and not list(subs.glob(".*"))

    evaluate.main(["--run", "smoke", "--submissions-dir", str(subs), "--runs-dir", str(runs), "--ks", "50"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["all_p@50"] > 0.3  # even on 80 k chars most top terms are gold
    assert (runs / "smoke" / "eval.json").is_file()


def test_missing_corpus_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "power_terms").mkdir()
    with pytest.raises(SystemExit) as exc:
        mine.main(["--data-dir", str(tmp_path), "--runs-dir", str(tmp_path / "r"),
                   "--submissions-dir", str(tmp_path / "s")])
    assert exc.value.code == 2
    assert "corpus file not found" in capsys.readouterr().err
