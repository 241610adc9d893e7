"""End-to-end: mine a slice of the real corpus, check the outputs, evaluate them."""

import json

import pytest

from common.mining.new_words import discover
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
    stages = [r.split("\t")[2] for r in tsv[1:]]
    assert stages.count("pieces") == out["piece_tail_terms"] > 0  # the piece tail comes last
    assert stages[len(stages) - out["piece_tail_terms"]:] == ["pieces"] * out["piece_tail_terms"]
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


@pytest.mark.skipif(ROOT is None, reason="data/power_terms is absent (link it to ../shared/data/power_terms)")
def test_terms_mine_own_corpus_streamed(tmp_path, capsys):
    """`make terms-mine`'s command on a user file: chunked counting, no seeds (auto), own general text."""
    lines = data.read_lines(ROOT / "power_terms" / "lionztt_power" / "data" / "五通一措去重语料.csv")[:1500]
    corpus = tmp_path / "my corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    general = tmp_path / "general.txt"
    general.write_text("今天天气很好，我们去公园散步。\n工作要求进行检查。\n" * 50, encoding="utf-8")
    subs, runs = tmp_path / "subs", tmp_path / "runs"
    mine.main(["--corpus-file", str(corpus), "--general-files", str(general), "--run", "own",
               "--submissions-dir", str(subs), "--runs-dir", str(runs), "--stream-above-chars", "20000",
               "--chunk-chars", "20000", "--w2v-epochs", "1"])
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert "M chars/s" in captured.err  # progress lines of the chunked passes
    assert out["domain"] == "" and out["contrast_terms"] > 50 and len(out["seeds"]) == 10
    assert out["corpus_lines"] is None  # streamed: the corpus was never held whole
    assert out["corpus_chars"] == discover("\n".join(lines), 5, 2).total_chars  # token characters, as in memory
    terms = (subs / "own.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(terms) == out["terms"] == len(set(terms))
    with pytest.raises(SystemExit):  # no gold list for a user corpus unless a domain is named
        evaluate.main(["--run", "own", "--submissions-dir", str(subs), "--runs-dir", str(runs)])
    assert "has no gold list" in capsys.readouterr().err


@pytest.mark.skipif(ROOT is None, reason="data/power_terms is absent (link it to ../shared/data/power_terms)")
def test_a_corpus_against_itself_admits_no_tail_word(tmp_path, capsys):
    """With the corpus as its own general text nothing leans to the domain. The segmentation tail divided the
    domain's token counts by its tokens but the text's by its characters, and admitted 正常, 进行, 运行 (probe R)."""
    lines = data.read_lines(ROOT / "power_terms" / "lionztt_power" / "data" / "五通一措去重语料.csv")[:800]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mine.main(["--corpus-file", str(corpus), "--general-files", str(corpus), "--use-jieba-dict", "false",
               "--run", "self", "--submissions-dir", str(tmp_path / "subs"), "--runs-dir", str(tmp_path / "runs"),
               "--w2v-epochs", "1", "--seeds", "开关柜"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["contrast_terms"] == out["segmentation_tail_terms"] == out["piece_tail_terms"] == 0
    # in memory, corpus_chars counted line ends and punctuation too; streamed only token characters (probe R)
    assert out["corpus_chars"] == discover("\n".join(lines), 5, 2).total_chars


@pytest.mark.parametrize("content,msg", [(b"\n \n", "empty corpus"),
                                         ("变压器\n".encode() + "断路器".encode("gbk") + b"\n", ":2: not valid UTF-8")])
def test_terms_mine_bad_corpus_is_one_line_error(tmp_path, capsys, content, msg):
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(content)
    with pytest.raises(SystemExit) as exc:
        mine.main(["--corpus-file", str(corpus), "--runs-dir", str(tmp_path / "r"),
                   "--submissions-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {corpus}") and msg in err


@pytest.mark.skipif(not (data.REPO_ROOT / "data" / "ner" / "cmeee_v2").is_dir(), reason="CMeEE absent")
def test_cmeee_domain_loads():
    root = data.data_root(need="ner")
    path, lines = data.domain_corpus("cmeee", root)
    gold = data.domain_gold("cmeee", root)
    assert len(lines) == 5000 and len(gold) == 13695


@pytest.mark.skipif(ROOT is None, reason="data/power_terms is absent (link it to ../shared/data/power_terms)")
def test_a_corpus_too_small_and_missing_side_files_are_one_line_errors(tmp_path, capsys):
    """A one-line corpus (word2vec finds no word often enough; the line names the corpus, probe R), a corpus of
    punctuation only, a missing --general-files file and a missing --seeds-file: exit 2 with one line naming what is
    wrong, no Python traceback."""
    (tmp_path / "one.txt").write_text("变压器检修\n", encoding="utf-8")
    (tmp_path / "marks.txt").write_text("，。！？\n" * 50, encoding="utf-8")
    (tmp_path / "general.txt").write_text("今天天气很好\n", encoding="utf-8")
    common = ["--run", "small", "--submissions-dir", str(tmp_path / "s"), "--runs-dir", str(tmp_path / "r"),
              "--corpus-file", str(tmp_path / "one.txt")]
    cases = [(["--general-files", str(tmp_path / "general.txt")], f"{tmp_path / 'one.txt'}: word2vec: no word occurs"),
             (["--general-files", str(tmp_path / "general.txt"), "--corpus-file", str(tmp_path / "marks.txt")],
              f"{tmp_path / 'marks.txt'}: word2vec: the corpus holds no word"),
             (["--general-files", str(tmp_path / "none.txt")], "--general-files file not found: "),
             (["--general-files", str(tmp_path / "general.txt"), "--seeds-file", str(tmp_path / "none.txt")],
              "--seeds-file not found: ")]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exc:
            mine.main(common + extra)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and "Traceback" not in err, err
