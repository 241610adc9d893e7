"""Mining a run name again, and seeds typed the Chinese way (make terms-mine / power-mine)."""

import json

import pytest

from competitions.power_terms import data, evaluate, mine

try:
    ROOT = data.data_root()
except FileNotFoundError:
    ROOT = None
needs_data = pytest.mark.skipif(ROOT is None, reason="data/power_terms is absent "
                                "(link it to ../shared/data/power_terms)")
FAST = ["--w2v-epochs", "1", "--piece-tail", "false", "--tail-min-count", "0", "--progress", "false",
        "--general-texts", "uer_py/chnsenticorp.txt"]


def _corpus_lines(n: int) -> list[str]:
    return data.read_lines(ROOT / "power_terms" / "lionztt_power" / "data" / "五通一措去重语料.csv")[:n]


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@needs_data
def test_mining_a_run_again_drops_its_eval_and_refuses_another_corpus_or_options(tmp_path, capsys):
    """The reported case: `make power-mine/power-eval POWER_RUN=default`, then `make terms-mine
    CORPUS=mycorp/default.txt` (TERMS_RUN defaults to "default"). The second mining must not
    replace the run (one-line error naming the changed option, nothing written); mining it again
    with the same options removes the eval.json of the earlier list."""
    subs, runs = tmp_path / "subs", tmp_path / "runs"
    where = ["--submissions-dir", str(subs), "--runs-dir", str(runs), "--run", "default"]
    power = where + FAST + ["--max-chars", "40000"]
    mine.main(power)
    first = _last_json(capsys.readouterr().out)
    evaluate.main(where[:4] + ["--run", "default", "--ks", "50"])
    capsys.readouterr()
    eval_json, terms_txt = runs / "default" / "eval.json", subs / "default.txt"
    assert eval_json.is_file()
    before = {p: p.read_bytes() for p in [terms_txt, eval_json, runs / "default" / "metrics.json"]}

    # another list scored (`make power-eval ARGS="--submission mine.txt"`, the run name left at default) is saved
    # beside that list, and the run's own eval.json is not overwritten with its scores
    other = tmp_path / "lists" / "mine.txt"
    other.parent.mkdir()
    other.write_text("变压器\n开关柜\n量子纠缠态\n", encoding="utf-8")
    evaluate.main(where[:4] + ["--submission", str(other), "--ks", "2"])
    scored = _last_json(capsys.readouterr().out)
    assert {p: p.read_bytes() for p in before} == before
    saved = json.loads((other.parent / "mine.eval.json").read_text(encoding="utf-8"))
    assert saved["submission"] == str(other) and scored["paths"]["eval"].endswith("mine.eval.json")
    assert scored["submission"] == str(other) and "run" not in scored  # it said "run": "default" (probe R)
    empty = tmp_path / "lists" / "empty.txt"
    empty.write_text("", encoding="utf-8")
    evaluate.main(where[:4] + ["--submission", str(empty), "--ks", "2"])
    assert f"warning: {empty} lists no term" in capsys.readouterr().err
    assert saved["results"]["all"]["n"] == 3
    with pytest.raises(SystemExit):  # --output naming the list itself would overwrite it
        evaluate.main(where[:4] + ["--submission", str(other), "--output", str(other), "--ks", "2"])
    assert "is the list scored" in capsys.readouterr().err and other.read_text(encoding="utf-8").startswith("变压器")
    evaluate.main(where[:4] + ["--submission", str(subs / "default.tsv"), "--ks", "50"])  # the run's own list
    capsys.readouterr()
    assert eval_json.is_file() and not (subs / "default.eval.json").exists()

    mycorp = tmp_path / "mycorp" / "default.txt"
    mycorp.parent.mkdir()
    mycorp.write_text("\n".join(_corpus_lines(20)) + "\n", encoding="utf-8")
    for extra in (["--corpus-file", str(mycorp)], ["--max-chars", "30000"], ["--seeds", "开关柜"]):
        with pytest.raises(SystemExit) as exc:
            mine.main(power + extra)
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2 and len(err.splitlines()) == 1, err
        option = extra[0][2:].replace("-", "_")
        assert "config.json: run 'default' was mined with other options" in err and option in err, err
        assert "another --run" in err
        assert {p: p.read_bytes() for p in before} == before  # the old run is untouched

    mine.main(power + ["--chunk-chars", "5000", "--progress", "true"])  # free options: where, how fast
    again = _last_json(capsys.readouterr().out)
    assert not eval_json.is_file()  # the evaluation of the earlier list is gone, not left beside the new one
    assert terms_txt.read_bytes() == before[terms_txt] and again["terms"] == first["terms"]

    # a user corpus edited under the same path is another corpus too
    own = where[:4] + ["--run", "own", "--corpus-file", str(mycorp)] + FAST
    mycorp.write_text("\n".join(_corpus_lines(1500)) + "\n", encoding="utf-8")
    mine.main(own)
    capsys.readouterr()
    crlf = tmp_path / "elsewhere" / "copy.txt"  # the same text at another path, CRLF: the same corpus (probe K)
    crlf.parent.mkdir()
    crlf.write_bytes(("\r\n".join(_corpus_lines(1500)) + "\r\n").encode("utf-8"))
    mine.main(where[:4] + ["--run", "own", "--corpus-file", str(crlf)] + FAST)
    mine.main(own)  # and back
    capsys.readouterr()
    mycorp.write_text("\n".join(_corpus_lines(1600)) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        mine.main(own)
    err = capsys.readouterr().err
    assert "metrics.json: run 'own' was mined from another text under the same corpus path" in err, err


@needs_data
def test_mining_a_run_again_refuses_another_general_text_or_an_unreadable_metrics_file(tmp_path, capsys):
    """Probe R: a GENERAL file rewritten under the same path was mined again without a word (185 terms became 42,
    its eval.json gone); a garbled metrics.json skipped the corpus check."""
    corpus, general = tmp_path / "c.txt", tmp_path / "g.txt"
    corpus.write_text("\n".join(_corpus_lines(1500)) + "\n", encoding="utf-8")
    general.write_text("今天天气很好，我们去公园散步。\n" * 50, encoding="utf-8")
    runs = tmp_path / "runs"
    args = ["--submissions-dir", str(tmp_path / "subs"), "--runs-dir", str(runs), "--run", "g",
            "--corpus-file", str(corpus), "--general-files", str(general), *FAST[:-2]]
    mine.main(args)
    capsys.readouterr()
    mine.main(args)  # the same texts: mined again
    general.write_text("工作要求进行检查。\n" * 50, encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit):
        mine.main(args)
    err = capsys.readouterr().err.strip()
    assert "metrics.json: run 'g' was contrasted with another general text under the same path" in err, err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    (runs / "g" / "metrics.json").write_text('{"corpus_sha256": 5', encoding="utf-8")
    with pytest.raises(SystemExit):
        mine.main(args)
    assert "metrics.json: unreadable" in capsys.readouterr().err


@pytest.mark.parametrize("name, message", [("", "--run is empty"), ("../esc", "one folder name"),
                                           ("a/b", "one folder name"), ("..", "one folder name")])
def test_a_run_name_that_is_not_one_folder_name_is_refused(tmp_path, capsys, name, message):
    """`--run ../esc` wrote runs/esc and submissions/esc.txt, and `make report` then refused every run; `make
    terms-mine CORPUS=dir/.txt` gave the empty name, which wrote runs/power_terms/ itself (probe R)."""
    where = ["--submissions-dir", str(tmp_path / "subs"), "--runs-dir", str(tmp_path / "runs"), "--run", name]
    for command in (mine.main, evaluate.main):
        with pytest.raises(SystemExit):
            command(where)
        assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_seeds_split_at_full_width_commas():
    assert data.split_terms(["开关柜，套管、 断路器", "变压器", " ，"]) == ["开关柜", "套管", "断路器", "变压器"]
    assert data.load_seeds(None, ["开关柜，套管", "开关柜"]) == ["开关柜", "套管"]


@needs_data
def test_terms_mine_seeds_full_width_comma_and_missing_seeds_warn(tmp_path, capsys):
    """`make terms-mine CORPUS=... SEEDS=开关柜，套管`: both seeds used; a seed word2vec never saw
    is named on stderr, and with no usable seed the automatic seeds (the README's) take over."""
    corpus = tmp_path / "power.txt"
    corpus.write_text("\n".join(_corpus_lines(1500)) + "\n", encoding="utf-8")
    common = ["--corpus-file", str(corpus), "--submissions-dir", str(tmp_path / "s"),
              "--runs-dir", str(tmp_path / "r")] + FAST

    mine.main(common + ["--run", "fw", "--seeds", "开关柜，套管"])
    captured = capsys.readouterr()
    out = _last_json(captured.out)
    assert out["seeds"] == ["开关柜", "套管"] and out["seeds_in_corpus"] == 2 and out["seeds_missing"] == []
    assert out["expansion_admitted"] > 0 and "warning" not in captured.err
    assert json.loads((tmp_path / "r" / "fw" / "config.json").read_text())["seeds"] == ["开关柜", "套管"]

    mine.main(common + ["--run", "some", "--seeds", "量子纠缠态、开关柜"])
    captured = capsys.readouterr()
    out = _last_json(captured.out)
    assert out["seeds"] == ["量子纠缠态", "开关柜"] and out["seeds_missing"] == ["量子纠缠态"]
    warning = [ln for ln in captured.err.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "量子纠缠态" in warning[0] and "grows from the other 1" in warning[0]

    mine.main(common + ["--run", "none", "--seeds", "量子纠缠态，暗物质晕"])
    captured = capsys.readouterr()
    out = _last_json(captured.out)
    assert out["seeds_given"] == ["量子纠缠态", "暗物质晕"] and out["seeds_missing"] == out["seeds_given"]
    assert len(out["seeds"]) == 10 and out["seeds_in_corpus"] == 10  # the automatic seeds
    assert out["expansion_admitted"] > 0
    warning = [ln for ln in captured.err.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "量子纠缠态、暗物质晕" in warning[0] and "top 10 contrast terms" in warning[0]
