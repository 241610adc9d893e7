"""``--task pair``: a sentence-pair contest from flags. The reader (three formats, columns by name or position,
label values, ids, errors naming file and line), the metric against scikit-learn, the submission formats,
AFQMC's files through it against ``--task afqmc`` itself, and the TF-IDF reference and k-fold ensemble on its folds."""

import json
import os

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from common.data_files import DataFileError
from common.submission import SubmissionError
from competitions.pair.config import PairFilesConfig
from competitions.pair.data import read_pair_file
from competitions.pair.submission import parse, render, validate, write_pair_submission
from competitions.pair.task import TASK
from tests.conftest import DATA, SHARED_VOCAB
from tests.test_distributed import BQ, tiny_afqmc_tree, tiny_bq_tree

AFQMC = DATA / "xiaobu" / "pairs" / "csts_afqmc"
EXAMPLES = "competitions/pair/examples"
TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
        "--max-length", "32", "--batch-size", "16", "--epochs", "2", "--eval-batch-size", "256"]
needs_afqmc = pytest.mark.skipif(not (AFQMC / "train.txt").is_file(), reason=f"AFQMC not linked at {AFQMC}")
needs_bq = pytest.mark.skipif(not (BQ / "dev.csv").is_file(), reason=f"BQ Corpus not linked at {BQ}")


def config(**fields) -> PairFilesConfig:
    return PairFilesConfig(**fields)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_three_formats_read_the_same_pairs(tmp_path):
    """Headerless TSV by position, CSV with a header, quotes and a byte-order mark, JSON lines with ids and
    numbers or booleans as labels: the same texts and labels; a test file's ids are its id column's, else the row's."""
    tsv = write(tmp_path / "a.tsv", '他说"好"\t好的\t1\n\n第二\t句子\t0\n')
    csv_file = write(tmp_path / "a.csv", '\ufeffq1,q2,y\n"他说""好""",好的,yes\n第二,"句子",no\n')
    jsonl = write(tmp_path / "a.jsonl", '{"id": 7, "s1": "他说\\"好\\"", "s2": "好的", "label": true}\n'
                                        '{"id": "x", "s1": "第二", "s2": "句子", "label": false}\n')
    read = [read_pair_file(tsv, config(text_a_column="0", text_b_column="1", label_column="2"), True, "train"),
            read_pair_file(csv_file, config(text_a_column="q1", text_b_column="q2", label_column="y",
                                            label_values="no,yes"), True, "train"),
            read_pair_file(jsonl, config(text_a_column="s1", text_b_column="s2", id_column="id",
                                         label_values="false,true"), True, "train")]
    for pairs in read:
        assert [(p.a, p.b, p.label) for p in pairs] == [('他说"好"', "好的", 1), ("第二", "句子", 0)]
        assert [p.id for p in pairs] == ["train:0", "train:1"]
    assert [p.key for p in read[0]] == ["0", "1"] == [p.key for p in read[2]]  # training rows: positions
    ids = config(text_a_column="s1", text_b_column="s2", id_column="id")
    assert [p.key for p in read_pair_file(jsonl, ids, False, "test")] == ["7", "x"]  # the submission's rows: the ids
    numbers = write(tmp_path / "n.jsonl", '{"sentence1": "a", "sentence2": "b", "label": 1.0}\n')
    assert read_pair_file(numbers, config(), True, "dev")[0].label == 1
    spelled = write(tmp_path / "s.csv", "sentence1,sentence2,label\na,b,1.0\nc,d,0\n")  # pandas writes 1.0
    assert [p.label for p in read_pair_file(spelled, config(), True, "dev")] == [1, 0]
    booleans = write(tmp_path / "b.csv", "sentence1,sentence2,label\na,b,True\nc,d,False\n")
    assert [p.label for p in read_pair_file(booleans, config(label_values="false,true"), True, "dev")] == [1, 0]
    unlabelled = read_pair_file(tsv, config(text_a_column="0", text_b_column="1", label_column="2"), False, "test")
    assert [p.label for p in unlabelled] == [None, None]  # a label column is ignored


@pytest.mark.parametrize("name, text, fields, message", [
    ("a.csv", "q1,q2,label\na,b,1\n", {}, r"a.csv:1: header \['q1', 'q2', 'label'\] has no column 'sentence1'"),
    ("a.tsv", "a\tb\t1\nc\td\t2\n", {"text_a_column": "0", "text_b_column": "1", "label_column": "2"},
     r"a.tsv:2: label '2', expected '0' or '1'"),
    ("a.tsv", "a\tb\t1\nc\n", {"text_a_column": "0", "text_b_column": "1", "label_column": "2"},
     r"a.tsv:2: no column '1'"),
    ("a.jsonl", '{"sentence1": "a", "sentence2": " ", "label": 0}\n', {}, r"a.jsonl:1: empty text"),
    ("a.jsonl", '{"sentence1": "a", "label": 0}\n', {}, r"a.jsonl:1: no key 'sentence2'"),
    ("a.jsonl", '{"sentence1": null, "sentence2": "b", "label": 0}\n', {}, r"a.jsonl:1: 'sentence1' is null"),
    ("a.jsonl", '{"sentence1": ["x"], "sentence2": "b", "label": 0}\n', {}, r"a.jsonl:1: 'sentence1' is \["),
    ("a.jsonl", "[1, 2]\n", {}, r"a.jsonl:1: expected a JSON object, got int"),
    # objects printed over several lines, not in an array: the message says the two layouts read (probe N)
    ("a.jsonl", '{\n "sentence1": "a"\n}\n', {},
     r"a.jsonl:1: not valid JSON \(.*; expected one object a line, or one JSON array of objects\)"),
    # one JSON array of objects (CBLUE's files): the line where the element starts, or where the JSON breaks
    ("a.json", '[\n {"sentence1": "a", "sentence2": "b", "label": 0},\n {"sentence1": "c",\n  "label": 1}\n]\n', {},
     r"a.json:3: no key 'sentence2'"),
    ("a.json", '[\n {"sentence1": "a", "sentence2": "b", "label": 0},\n {"sentence1": "c" "sentence2": "d"}\n]', {},
     r"a.json:3: not valid JSON \(Expecting ',' delimiter\)"),
    ("a.json", '[{"sentence1": "a", "sentence2": "b", "label": 0},\n "x"]', {}, r"a.json:2: expected a JSON object, got str"),
    ("a.json", '[{"sentence1": "a", "sentence2": "b", "label": 0}\n{"sentence1": "c"}]', {},
     r"a.json:2: expected ',' or ']' after an element"),
    ("a.json", '[{"sentence1": "a", "sentence2": "b", "label": 0}]\n[]', {}, r"a.json:2: text after the JSON array"),
    ("a.json", "[]\n", {}, r"a.json: no pairs"),
    ("a.csv", "sentence1,sentence2,label\ra,b,1\r", {}, r"a.csv:1: lines end in a lone carriage return"),
    ("a.csv", "sentence1,sentence2,label\n", {}, r"a.csv: no pairs"),
    # a tab-separated file named .csv: one cell a row (probe Z1: "no column '1'" without a reason)
    ("a.csv", "q\t你好\t世界\t1\n", {"text_a_column": "1", "text_b_column": "2", "label_column": "3"},
     r"a.csv:1: one cell holding tabs, expected comma-separated cells: a tab-separated file\? file_format"),
    ("a.csv", "sentence1\tsentence2\tlabel\na\tb\t1\n", {}, r"a.csv:1: one cell holding tabs"),
    ("a.csv", "sentence1\tsentence2\tlabel\n你好,世界\t再见\t1\n", {}, r"a.csv:1: one cell holding tabs"),
    ("a.csv", "你好,世界\t再见\t1\n", {}, r"a.csv:1: 2 cells holding 2 tabs, expected comma-separated cells: a "
                                     r"tab-separated file\? file_format"),  # last note's low item: "no column" before
    # quoted CSV texts holding tabs are CSV (probe AI): read, so refused here only for the missing column
    ("a.csv", '"代码\t缩进\t对齐","打印\t结果",1\n', {}, r"a.csv:1: header .* has no column 'sentence1'"),
    # an unquoted delimiter in a text shifts the later cells: the row is refused, not read shifted
    ("a.csv", "label,s2,s1\n1,你好,世界\n0,键盘手感好,价格便宜,很满意\n",
     {"text_a_column": "s1", "text_b_column": "s2"}, r"a.csv:3: 4 cells, the header has 3 \(a comma inside a text"),
    ("a.tsv", "sentence1\tsentence2\tlabel\na\tb\n", {}, r"a.tsv:2: 2 cells, the header has 3 \(a tab inside"),
    ("a.tsv", "x\ty\tz\na\tb\t1\tc\n", {"text_a_column": "0", "text_b_column": "1", "label_column": "2",
                                       "positional_header": True}, r"a.tsv:2: 4 cells, the header has 3"),
    # a quote left open runs the row to the file's end: the line it opened on is named, not the last one (probe I)
    ("a.csv", 'sentence1,sentence2,label\na,b,1\n"c,d,0\ne,f,1\ng,h,0\n', {},
     r"a.csv:3: 1 cells, the header has 3 \(the row runs to line 5: a quote opened and not closed"),
])
def test_bad_rows_name_file_line_and_what_was_expected(tmp_path, name, text, fields, message):
    with pytest.raises(DataFileError, match=message):
        read_pair_file(write(tmp_path / name, text), config(**fields), True, "train")


def test_a_json_array_of_objects_reads_as_its_json_lines_do(tmp_path):
    """CBLUE's KUAKE-QQR files: one indented JSON array (a byte-order mark first), string labels of three classes;
    the same pairs, ids and labels as the same objects a line."""
    rows = [{"id": "s1", "query1": "头痛怎么办", "query2": "头疼怎么缓解", "label": "2"},
            {"id": "s2", "query1": "感冒吃什么", "query2": "发烧吃什么药", "label": "0"}]
    array = tmp_path / "train.json"
    array.write_bytes(b"\xef\xbb\xbf" + json.dumps(rows, ensure_ascii=False, indent=2).encode("utf-8"))
    lines = write(tmp_path / "train.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    qqr = config(text_a_column="query1", text_b_column="query2", id_column="id", label_values="0,1,2")
    for labelled in (True, False):
        assert read_pair_file(array, qqr, labelled, "x") == read_pair_file(lines, qqr, labelled, "x")
    assert [(p.label, p.key) for p in read_pair_file(array, qqr, False, "test")] == [(None, "s1"), (None, "s2")]
    assert [p.label for p in read_pair_file(array, qqr, True, "train")] == [2, 0]


def test_ids_are_read_from_the_test_file_only(tmp_path):
    """A train file without ids beside a test file with them (Kaggle's layout); repeated test ids are refused."""
    files = config(id_column="test_id")
    train = write(tmp_path / "train.csv", "sentence1,sentence2,label\na,b,1\n")
    assert [p.key for p in read_pair_file(train, files, True, "train")] == ["0"]
    test = write(tmp_path / "test.csv", " test_id ,sentence1,sentence2\n007,a,b\n7,c,d\n")  # header cells stripped
    assert [p.key for p in read_pair_file(test, files, False, "test")] == ["007", "7"]
    write(test, "test_id,sentence1,sentence2\n7,a,b\n7,c,d\n")
    with pytest.raises(DataFileError, match=r"test.csv:3: id '7' already at .*test.csv:2"):
        read_pair_file(test, files, False, "test")


def test_a_train_file_of_one_label_is_refused(tmp_path):
    write(tmp_path / "train.tsv", "".join(f"a{i}\tb{i}\t1\n" for i in range(20)))
    write(tmp_path / "test.tsv", "x\ty\n")
    with pytest.raises(ValueError, match=r"train.tsv: every pair is labelled '1'; a 0/1 classifier needs both"):
        TASK.load_data(config(data_dir=str(tmp_path), text_a_column="0", text_b_column="1", label_column="2"))


def test_a_grouped_split_without_enough_text_groups_says_what_to_do(tmp_path):
    write(tmp_path / "train.tsv", "".join(f"same\tq{i}\t{i % 2}\n" for i in range(40)))  # one text in every pair
    write(tmp_path / "test.tsv", "x\ty\n")
    with pytest.raises(ValueError, match=r"train.tsv: its 40 pairs share their texts in 1 groups.*--dev-file.*--group-by-text false"):
        TASK.load_data(config(data_dir=str(tmp_path), text_a_column="0", text_b_column="1", label_column="2"))


@pytest.mark.parametrize("fields, message", [
    ({"metric": "rmse"}, r"--metric 'rmse': expected one of \['accuracy', 'f1', 'auc'\]"),
    ({"label_values": "1"}, r"--label-values '1': expected 'negative,positive'"),
    ({"text_a_column": "0", "text_b_column": "q2"}, r"by header name, or every one by 0-based position"),
    ({"submission_format": "xlsx"}, r"--submission-format 'xlsx'"),
    ({"submission_label_column": "id"}, r"both 'id': the submission's two columns need two names"),
])
def test_bad_options_are_refused_at_start(fields, message):
    with pytest.raises(ValueError, match=message):
        config(**fields)


@pytest.mark.parametrize("metric", ["accuracy", "f1", "auc"])
def test_score_is_the_chosen_metric_against_scikit_learn(tmp_path, metric):
    """``score`` is ``--metric``'s value; accuracy and F1 at the threshold tuned for that metric (checked against
    every cut, with scikit-learn's metrics), AUC against ``roc_auc_score``; a given state decides as it says."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    probs = np.clip(0.25 * labels + rng.normal(0.4, 0.2, 300), 0, 1)
    pairs = read_pair_file(write(tmp_path / "a.tsv", "".join(f"a{i}\tb\t{y}\n" for i, y in enumerate(labels))),
                           config(text_a_column="0", text_b_column="1", label_column="2"), True, "train")
    TASK.configure(config(metric=metric))  # what load_data / load_test do with the run's config
    metrics, state = TASK.score(pairs, probs)
    t = state["threshold"]
    decided = (probs >= t).astype(int)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, decided))
    assert metrics["f1"] == pytest.approx(f1_score(labels, decided))
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, probs))
    assert metrics["score"] == metrics[metric]
    tuned_for = f1_score if metric == "f1" else accuracy_score
    best = max(tuned_for(labels, (probs >= c).astype(int)) for c in np.unique(probs))
    assert tuned_for(labels, decided) == pytest.approx(best)
    fixed, _ = TASK.score(pairs, probs, {"threshold": 0.5})
    assert fixed["accuracy"] == pytest.approx(accuracy_score(labels, (probs >= 0.5).astype(int)))


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "lines"])
def test_submission_formats_round_trip_and_refuse_what_a_contest_would(tmp_path, fmt):
    keys = ["0", "1", "007", "a,b"] if fmt != "tsv" else ["0", "1", "007", "ab"]
    labels = ["neg", "pos", "pos", "neg"]
    path = tmp_path / f"s.{fmt}"
    assert write_pair_submission(path, fmt, keys, labels, "id", "label", ["neg", "pos"]) == 4
    rows = parse(fmt, path.read_text(encoding="utf-8"), "id", "label", str(path))
    assert [value for _, _, value in rows] == labels
    if fmt != "lines":
        assert [key for _, key, _ in rows] == keys  # read back as the text they were
    if fmt == "jsonl":  # "007" and "a,b" are no numbers: the column is text ("0", not CLUE's 0)
        assert json.loads(path.read_text(encoding="utf-8").splitlines()[0]) == {"id": "0", "label": "neg"}
    with pytest.raises(SubmissionError, match="4 rows, expected 3"):
        validate(rows, keys[:3], ["neg", "pos"], str(path))
    with pytest.raises(SubmissionError, match="not in"):
        write_pair_submission(tmp_path / "bad", fmt, keys, ["neg", "pos", "maybe", "neg"], "id", "label", ["neg", "pos"])
    assert not (tmp_path / "bad").exists()  # nothing written
    probabilities = render(fmt, keys, [0.0, 1.0, 0.25, 0.5], "id", "p")
    validate(parse(fmt, probabilities, "id", "p", "p"), keys, None, "p")
    with pytest.raises(SubmissionError, match="not a probability in"):
        validate(parse(fmt, render(fmt, keys, [0.0, 1.5, 0.2, 0.1], "id", "p"), "id", "p", "p"), keys, None, "p")


def _afqmc_tree(tmp_path):
    return tiny_afqmc_tree(tmp_path / "afqmc", {"train": 80, "dev": 40, "test": 25})


@needs_afqmc
def test_afqmc_files_through_the_pair_task_train_what_the_afqmc_task_trains(tmp_path):
    """examples/afqmc.toml under ``--task pair`` with AFQMC's options: the same validation metrics every epoch,
    the same probabilities and the same CLUE submission, byte for byte, as ``--task afqmc``."""
    from common.commands import train

    data = _afqmc_tree(tmp_path)
    vocab = ["--vocab", str(SHARED_VOCAB)] if SHARED_VOCAB.is_dir() else []
    common = ["--data-dir", str(data), *TINY, *vocab]
    afqmc = train.main(["--task", "afqmc", *common, "--run-dir", str(tmp_path / "a"),
                        "--submission-dir", str(tmp_path / "sa")])
    pair = train.main(["--task", "pair", "--config", f"{EXAMPLES}/afqmc.toml", *common, "--metric-for-best-model",
                       "auc", "--run-dir", str(tmp_path / "p"), "--submission-dir", str(tmp_path / "sp")])
    assert pair["valid"]["accuracy"] == afqmc["valid"]["accuracy"] == pair["valid"]["score"]
    assert pair["valid"]["auc"] == afqmc["valid"]["auc"] and pair["thresholds"] == afqmc["thresholds"]
    history = [json.loads((tmp_path / run / "metrics.json").read_text(encoding="utf-8"))["history"] for run in "ap"]
    assert [(h["auc"], h["accuracy"]) for h in history[0]] == [(h["auc"], h["accuracy"]) for h in history[1]]
    a, p = np.load(tmp_path / "a" / "probabilities.npz"), np.load(tmp_path / "p" / "probabilities.npz")
    np.testing.assert_array_equal(a["test_probs"], p["test_probs"])
    assert open(afqmc["submission"], "rb").read() == open(pair["submission"], "rb").read()


@needs_afqmc
def test_reference_and_ensemble_on_the_folds_of_a_pair_run(tmp_path, monkeypatch):
    """``pair`` k-fold (no dev file: the train file is the pool) -> TF-IDF reference on its folds, the ensemble's
    ``tfidf`` member on the same folds (the same OOF), a CSV submission with every test id once; the ensemble
    takes the contest file the run was made with and refuses another one."""
    from common.commands import cv, ensemble
    from competitions.pair import baseline

    data = _afqmc_tree(tmp_path)
    flags = ["--task", "pair", "--config", f"{EXAMPLES}/afqmc.toml", "--data-dir", str(data), "--dev-file", "",
             "--test-file", "dev.txt", "--valid-fraction", "0.25", "--metric", "f1", "--submission-format", "csv",
             "--submission-dir", str(tmp_path / "sub")]
    run = tmp_path / "cv3"
    result = cv.main([*flags, *TINY, "--epochs", "1", "--folds", "3", "--run-dir", str(run)])
    assert result["complete"] and len(json.loads((run / "folds.json").read_text())["ids"]) == 80
    reference = baseline.main([*flags[2:], "--folds-from", str(run), "--run-dir", str(tmp_path / "tfidf")])
    assert reference["oof"]["pairs"] == 80 and reference["valid"]["score"] == reference["valid"]["f1"]
    contest = write(tmp_path / "contest.toml", f'data_dir = "{data}"\ndev_file = ""\ntest_file = "dev.txt"\n')
    combined = ensemble.main(["--task", "pair", "--config", str(contest), "--runs", str(run), "tfidf",
                              "--submission-dir", str(tmp_path / "sub")])
    assert combined["members"]["tfidf"] == pytest.approx(reference["oof"]["score"])
    with pytest.raises(ValueError, match=r"afqmc.toml: data_dir = 'data/xiaobu/pairs/csts_afqmc', but .*cv3 was made"):
        ensemble.main(["--task", "pair", "--config", f"{EXAMPLES}/afqmc.toml", "--runs", str(run), "tfidf"])
    lines = open(combined["submission"], encoding="utf-8").read().splitlines()
    assert lines[0] == "id,label" and [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(40)]
    # the k-fold run's data gone (probe AD: --data-dir did not help either): a new file is decided as cv decided
    from common.commands import predict

    new = write(tmp_path / "new.txt", (data / "dev.txt").read_text(encoding="utf-8"))
    there = predict.main(["--task", "pair", "--run", str(run), "--test-file", str(new),
                          "--submission-dir", str(tmp_path / "t")])
    data.rename(tmp_path / "elsewhere")
    gone = predict.main(["--task", "pair", "--run", str(run), "--test-file", str(new),
                         "--submission-dir", str(tmp_path / "g")])
    assert gone["missing"] == ["the run's data"] and gone["cv"] == there["cv"]
    assert gone["thresholds"] == there["thresholds"]
    assert open(gone["submission"]).read() == open(there["submission"]).read()
    data = (tmp_path / "elsewhere").rename(data)
    # its training file edited since (a label corrected): refused before; a new file is decided as cv decided
    kept = (data / "train.txt").read_text(encoding="utf-8")
    first, rest = kept.split("\n", 1)
    (data / "train.txt").write_text(first[:-1] + ("0" if first.endswith("1") else "1") + "\n" + rest,
                                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"folds.json: made on other labelled rows"):  # its own setting's OOF again
        predict.main(["--task", "pair", "--run", str(run), "--test-file", str(new), "--tta-swap", "true"])
    edited = predict.main(["--task", "pair", "--run", str(run), "--test-file", str(new),
                           "--submission-dir", str(tmp_path / "e")])
    assert edited["cv"] == there["cv"] and edited["thresholds"] == there["thresholds"]
    assert open(edited["submission"]).read() == open(there["submission"]).read()
    (data / "train.txt").write_text(kept, encoding="utf-8")

    # the test file's labels, read afterwards: each run scored as its submission decided
    from bench import pair_heldout

    monkeypatch.setattr(pair_heldout, "RESULTS", tmp_path / "results")
    held = pair_heldout.main(["--labels-file", str(data / "dev.txt"), "--runs", str(tmp_path / "tfidf"), str(run),
                              combined["run_dir"], "--rounds", "50", "--name", "pytest"])
    truth = [int(line.split("\t")[2]) for line in (data / "dev.txt").read_text(encoding="utf-8").splitlines()]
    submitted = [int(line.split(",")[1]) for line in lines[1:]]
    assert (tmp_path / "results" / "pair_heldout_pytest.json").is_file()
    ensemble_row = held["runs"][combined["run_dir"]]
    assert ensemble_row["f1"] == pytest.approx(f1_score(truth, submitted))
    assert ensemble_row["accuracy"] == pytest.approx(accuracy_score(truth, submitted))
    assert ensemble_row["against_first"]["diff"] == pytest.approx(
        ensemble_row["f1"] - held["runs"][str(tmp_path / "tfidf")]["f1"])


def test_without_a_contest_file_the_error_says_which_options_name_the_files(tmp_path):
    from common.commands import train

    with pytest.raises(FileNotFoundError, match=r"train.tsv: no such file; --task pair reads .*PAIR=contest.toml"):
        train.main(["--task", "pair", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")])


def test_the_validation_split_keeps_pairs_sharing_a_text_on_one_side(tmp_path):
    """Without a dev file, about ``valid_fraction`` of the pairs validate, stratified, and no text of a validation
    pair is in a training pair (``group_by_text``); off, a plain stratified split (texts shared)."""
    rng = np.random.default_rng(0)
    rows = [(f"g{i // 3}", f"g{i // 3}-{i % 3}", int(rng.integers(0, 2))) for i in range(300)]  # 100 groups of 3
    write(tmp_path / "train.tsv", "".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows))
    write(tmp_path / "test.tsv", "x\ty\n")
    fields = dict(data_dir=str(tmp_path), text_a_column="0", text_b_column="1", label_column="2", valid_fraction=0.2)
    grouped = TASK.load_data(config(**fields))
    seen = {t for p in grouped.train for t in (p.a, p.b)}
    assert grouped.valid and not any(p.a in seen or p.b in seen for p in grouped.valid)
    assert len(grouped.train) + len(grouped.valid) == 300
    plain = TASK.load_data(config(**fields, group_by_text=False))
    assert len(plain.valid) == 60
    seen = {t for p in plain.train for t in (p.a, p.b)}
    assert any(p.a in seen or p.b in seen for p in plain.valid)
    assert [p.row for p in TASK.cv_pool(config(**fields), grouped)] == list(range(300))  # the file's order


def test_recipe_of_a_contest_file_names_its_runs_after_it_and_passes_it_to_every_step():
    """``make pair-recipe PAIR=<file>``: the k-fold run, its ensemble and the student are named after the contest
    file (two contests keep apart), and each step gets the file (the ensemble checks it against the run's config)."""
    from tests.test_student_holdout import _recipe_commands

    steps = _recipe_commands("pair", "PAIR=competitions/pair/examples/bq_corpus.toml", "FOLDS=3", "-B")
    (cv, cv_argv), (ens, ens_argv), (student, student_argv) = steps
    assert (cv, ens, student) == ("common.commands.cv", "common.commands.ensemble", "common.commands.train")
    contest = ["--config", "competitions/pair/examples/bq_corpus.toml"]
    assert cv_argv[:4] == ["--task", "pair", *contest] and cv_argv[-2:] == ["--run-name", "cv3-bq_corpus-recipe"]
    assert ens_argv == ["--task", "pair", *contest, "--runs", "runs/pair/cv3-bq_corpus-recipe", "tfidf", "gbm"]
    assert student_argv[student_argv.index("--run-name") + 1] == "cv3-bq_corpus-recipe-student"
    assert student_argv[student_argv.index("--distill-from") + 1] == "runs/pair/ensemble-cv3-bq_corpus-recipe"


@needs_bq
def test_predict_reads_a_test_file_of_another_layout_with_test_config(tmp_path):
    """predict --test-file b.jsonl --test-config b.toml: JSON lines with other keys and ids, a JSON-lines submission;
    the same probabilities as the same pairs in the run's own CSV layout. Options that would change the run, a
    --test-config without --test-file and a task without test-file options are refused."""
    import csv

    from common.commands import predict, train

    data = tiny_bq_tree(tmp_path / "bq")
    run = tmp_path / "run"
    train.main(["--task", "pair", "--data-dir", str(data), "--train-file", "train.csv", "--dev-file", "dev.csv",
                "--test-file", "test.csv", *TINY, "--run-dir", str(run), "--submission-dir", str(tmp_path / "s")])
    with open(data / "test.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    write(tmp_path / "b.jsonl", "".join(json.dumps({"qid": f"b{i}", "q1": r["sentence1"], "q2": r["sentence2"]},
                                                   ensure_ascii=False) + "\n" for i, r in enumerate(rows)))
    write(tmp_path / "b.toml", 'text_a_column = "q1"\ntext_b_column = "q2"\nid_column = "qid"\n'
                               'submission_format = "jsonl"\n')
    other = predict.main(["--task", "pair", "--run", str(run), "--test-file", str(tmp_path / "b.jsonl"),
                          "--test-config", str(tmp_path / "b.toml"), "--submission-dir", str(tmp_path / "o")])
    same = predict.main(["--task", "pair", "--run", str(run), "--test-file", str(data / "test.csv"),
                         "--submission-dir", str(tmp_path / "c")])
    lines = [json.loads(line) for line in open(other["submission"], encoding="utf-8")]
    assert [line["id"] for line in lines] == [f"b{i}" for i in range(len(rows))] and other["rows"] == len(rows)
    beside = np.load(other["submission"].rsplit(".", 1)[0] + ".probabilities.npz")
    assert beside["submission_ids"].tolist() == [f"b{i}" for i in range(len(rows))]  # the file's ids, as submitted
    p_other = beside["test_probs"]
    p_same = np.load(same["submission"].rsplit(".", 1)[0] + ".probabilities.npz")["test_probs"]
    np.testing.assert_allclose(p_other, p_same, atol=1e-6)
    assert json.loads((run / "config.json").read_text(encoding="utf-8"))["text_a_column"] == "sentence1"
    # the same file submitted in another layout (its ids dropped) gets a name of its own, not the first's
    write(tmp_path / "b2.toml", (tmp_path / "b.toml").read_text(encoding="utf-8").replace('id_column = "qid"',
                                                                                        'id_column = ""'))
    plain = predict.main(["--task", "pair", "--run", str(run), "--test-file", str(tmp_path / "b.jsonl"),
                          "--test-config", str(tmp_path / "b2.toml"), "--submission-dir", str(tmp_path / "o")])
    assert plain["submission"] != other["submission"] and os.path.isfile(other["submission"])
    write(tmp_path / "bad.toml", 'max_length = 16\n')
    with pytest.raises(ValueError, match=r"bad.toml: \['max_length'\] would change the run.*text_a_column"):
        predict.main(["--task", "pair", "--run", str(run), "--test-file", str(tmp_path / "b.jsonl"),
                      "--test-config", str(tmp_path / "bad.toml")])
    with pytest.raises(ValueError, match=r"--test-config .*b.toml describes --test-file's layout"):
        predict.main(["--task", "pair", "--run", str(run), "--test-config", str(tmp_path / "b.toml")])
    with pytest.raises(ValueError, match=r"task afqmc lets a test file set: none"):
        predict.main(["--task", "afqmc", "--run", str(run), "--test-file", str(tmp_path / "b.jsonl"),
                      "--test-config", str(tmp_path / "b.toml")])
    # the run folder on another machine, its data folder not there (probe AD: "train.csv: no such file"): a test file
    # is decided with the run's recorded thresholds, as with its data; its own test set needs its data, said so
    data.rename(tmp_path / "elsewhere")
    moved = predict.main(["--task", "pair", "--run", str(run), "--test-file", str(tmp_path / "b.jsonl"),
                          "--test-config", str(tmp_path / "b.toml"), "--submission-dir", str(tmp_path / "m")])
    assert moved["missing"] == ["the run's data"] and moved["thresholds"] == other["thresholds"]
    assert open(moved["submission"]).read() == open(other["submission"]).read()
    with pytest.raises(FileNotFoundError, match=r"train.csv: no such file.*\(the run's data is read from "
                                                r".*bq: --data-dir names where it is now\)"):
        predict.main(["--task", "pair", "--run", str(run), "--submission-dir", str(tmp_path / "m")])


def test_submissions_of_foreign_files_of_one_stem_never_share_a_name(tmp_path):
    """Two test files named test.csv in two folders (or one file in two formats) get their content's digest in the
    submission name, so neither overwrites the other; the same content, the same name; the run's own file, none."""
    from common.commands.predict import submission_name

    run_config = config(data_dir=str(tmp_path), test_file="test.csv")
    run_config.run_name = "run"
    own = write(tmp_path / "test.csv", "sentence1,sentence2\na,b\n")
    first = write((tmp_path / "a").mkdir() or tmp_path / "a" / "test.csv", "sentence1,sentence2\nc,d\n")
    second = write((tmp_path / "b").mkdir() or tmp_path / "b" / "test.csv", "sentence1,sentence2\ne,f\n")
    copy = write((tmp_path / "c").mkdir() or tmp_path / "c" / "test.csv", "sentence1,sentence2\nc,d\n")
    names = [submission_name(TASK, run_config, "", "score0.5", p, own) for p in (first, second, copy, own)]
    assert names[0] != names[1] and names[0] == names[2] and names[3] == "run-test-score0.5"
    assert names[0].startswith("run-test-") and names[0].endswith("-score0.5")


def test_a_test_folder_is_named_by_its_files_content(tmp_path):
    """A task whose test set is a folder (Sohu's data tree) predicted from another ``--data-dir``: the digest of its
    files' paths and bytes (it read the folder as one file and failed with IsADirectoryError)."""
    from common.commands.predict import content_digest

    for name in ("a", "b"):
        for sub, text in (("x/test.txt", "1"), ("y/test.txt", "2")):
            write((tmp_path / name / sub).parent.mkdir(parents=True, exist_ok=True) or tmp_path / name / sub, text)
    assert content_digest(tmp_path / "a") == content_digest(tmp_path / "b")
    write(tmp_path / "b" / "y" / "test.txt", "3")
    assert content_digest(tmp_path / "a") != content_digest(tmp_path / "b")
    (tmp_path / "b" / "y" / "test.txt").rename(tmp_path / "b" / "y" / "other.txt")
    write(tmp_path / "b" / "y" / "other.txt", "2")
    assert content_digest(tmp_path / "a") != content_digest(tmp_path / "b")  # a file of another name


def test_columns_by_position_in_a_file_with_a_header(tmp_path, caplog):
    """--positional-header: a header row, skipped, with columns by position (as a test file of another layout may
    have, --test-config); without it the header is a pair, and the log says it looks like a header; with columns
    by name it is refused."""
    path = write(tmp_path / "t.tsv", "id\tq1\tq2\n7\t甲\t乙\n8\t丙\t丁\n")
    by_position = dict(text_a_column="1", text_b_column="2", label_column="3", id_column="0")
    pairs = read_pair_file(path, config(**by_position, positional_header=True), False, "test")
    assert [(p.key, p.a, p.b) for p in pairs] == [("7", "甲", "乙"), ("8", "丙", "丁")]
    assert "looks like a header" not in caplog.text
    # without it, the header above rows of text is refused: read as a pair it shifted every id (probe I)
    with pytest.raises(DataFileError, match=r"t.tsv:1: \['id', 'q1', 'q2'\] looks like a header above rows of text; "
                                            r"read as a pair it would add a row and shift every id"):
        read_pair_file(path, config(**by_position), False, "test")
    alone = write(tmp_path / "h.tsv", "id\tq1\tq2\n")  # a lone such row is read, and warned about
    assert [p.key for p in read_pair_file(alone, config(**by_position), False, "test")] == ["id"]
    assert f"{alone}:1: ['id', 'q1', 'q2'] looks like a header, read here as a row" in caplog.text
    caplog.clear()
    words = write(tmp_path / "w.tsv", "1\tx\ty\n2\tz\tw\n")  # rows of words: the first is one of them
    assert [p.a for p in read_pair_file(words, config(**by_position), False, "test")] == ["x", "z"]
    assert not caplog.text
    plain = write(tmp_path / "p.tsv", "7\tok\t乙\n8\t丙\t丁\n")  # a pair's text may be a word; not all are
    assert len(read_pair_file(plain, config(**by_position), False, "test")) == 2 and not caplog.text
    # --positional-header covers every file: a headerless labelled file's first pair is not dropped silently
    train = write(tmp_path / "train.tsv", "甲\t乙\t1\n丙\t丁\t0\n")
    labelled = dict(text_a_column="0", text_b_column="1", label_column="2", positional_header=True)
    with pytest.raises(DataFileError, match=r"train.tsv:1: --positional-header skips the first row as a header, but "
                                            r"\['甲', '乙', '1'\] is a labelled pair: this file has no header"):
        read_pair_file(train, config(**labelled), True, "train")
    headed = write(tmp_path / "headed.tsv", "a\tb\tlabel\n甲\t乙\t1\n")
    assert [p.label for p in read_pair_file(headed, config(**labelled), True, "train")] == [1]
    # and a headerless test file: a first id like the next is a row (it was dropped, every id off by one; probe K)
    headerless = write(tmp_path / "test.tsv", "7\t甲\t乙\n8\t丙\t丁\n")
    with pytest.raises(DataFileError, match=r"test.tsv:1: --positional-header skips the first row as a header, but "
                                            r"its id '7' is a number like the next row's '8'"):
        read_pair_file(headerless, config(**by_position, positional_header=True), False, "test")
    caplog.clear()
    no_ids = dict(text_a_column="1", text_b_column="2", label_column="3")  # no id to tell: a text row is not skipped
    with pytest.raises(DataFileError, match=r"test.tsv:1: --positional-header skips the first row of every file as a "
                                            r"header, but \['7', '甲', '乙'\] does not look like column names"):
        read_pair_file(headerless, config(**no_ids, positional_header=True), False, "test")  # it lost a row (probe N)
    texts_only = write(tmp_path / "t2.tsv", "利息怎么逾期\t逾期登录额度\n花呗\t借呗\n")
    with pytest.raises(DataFileError, match=r"does not look like column names; skipped, that pair would be missing"):
        read_pair_file(texts_only, config(text_a_column="0", text_b_column="1", label_column="2",
                                          positional_header=True), False, "test")
    labelled_header = write(tmp_path / "lh.tsv", "甲 文本\t乙 文本\t标签\n丙\t丁\t1\n")  # a labelled file: named only
    assert len(read_pair_file(labelled_header, config(text_a_column="0", text_b_column="1", label_column="2",
                                                      positional_header=True), True, "train")) == 1
    assert "skipped as the header" in caplog.text
    numbered = write(tmp_path / "pd.tsv", "0\t1\t2\n0\t甲\t乙\n1\t丙\t丁\n")  # pandas' default header (probe L)
    assert [p.key for p in read_pair_file(numbered, config(**by_position, positional_header=True), False, "t")] == [
        "0", "1"]
    caplog.clear()
    chinese = write(tmp_path / "zh.tsv", "编号\t问题1\t问题2\n7\t甲\t乙\n")
    assert [p.key for p in read_pair_file(chinese, config(**by_position, positional_header=True), False, "t")] == ["7"]
    assert "skipped as the header" not in caplog.text  # column names, in Chinese
    # a Chinese header of a test file without ids, read by position, was a pair: every row id one off
    zh_no_ids = write(tmp_path / "zh2.tsv", "问题1\t问题2\n花呗怎么还款\t借呗如何还钱\n")
    texts = dict(text_a_column="0", text_b_column="1", label_column="2")
    with pytest.raises(DataFileError, match=r"zh2.tsv:1: \['问题1', '问题2'\] looks like a header above rows of text"):
        read_pair_file(zh_no_ids, config(**texts), False, "test")
    assert [p.a for p in read_pair_file(zh_no_ids, config(**texts, positional_header=True), False, "t")] == [
        "花呗怎么还款"]
    for first in ("花呗\t借呗", "12 5 3\t12 5 4", "12\t13", "问题\t问题", "微信\t微博"):  # texts, ids, numbers: rows
        rows = write(tmp_path / "r.tsv", f"{first}\n花呗怎么还款\t借呗如何还钱\n")
        assert len(read_pair_file(rows, config(**texts), False, "test")) == 2, first
    for header in ("句子一\t句子二", "第一句\t第二句", "问题１\t问题２", "问题A\t问题B"):  # other numbered names
        rows = write(tmp_path / "h2.tsv", f"{header}\n花呗怎么还款\t借呗如何还钱\n")
        with pytest.raises(DataFileError, match=r"looks like a header above rows of text; .*if it is a pair, add a "
                                                r"line of column names"):
            read_pair_file(rows, config(**texts), False, "test")
    # an id column: a first id that is not a number above ids that are is a header, whatever its other cells
    by_id = write(tmp_path / "id.tsv", "序号\t问题\t回答\n0\t花呗怎么还款\t借呗如何还钱\n1\t甲\t乙\n")
    with pytest.raises(DataFileError, match=r"id.tsv:1: .* has the id '序号' above a row of id '0'"):
        read_pair_file(by_id, config(**by_position), False, "test")
    named_ids = write(tmp_path / "s.tsv", "s1\t花呗怎么还款\t借呗如何还钱\ns2\t甲\t乙\n")  # ids of words: rows
    assert [p.key for p in read_pair_file(named_ids, config(**by_position), False, "test")] == ["s1", "s2"]
    # probe O: pandas' headers of unnamed columns, and a header below a blank first line, were read as pairs
    for header in ("0\t1", "\t0\t1", "\nsentence1\tsentence2", "  \n问题1\t问题2"):
        rows = write(tmp_path / "pd2.tsv", f"{header}\n花呗怎么还款\t借呗如何还钱\n借呗\t花呗\n")
        with pytest.raises(DataFileError, match=r"looks like a header above rows of text"):
            read_pair_file(rows, config(**texts), False, "test")
    index_header = write(tmp_path / "pd3.tsv", "\t0\t1\n0\t花呗怎么还款\t借呗如何还钱\n")  # to_csv(index=True)
    assert len(read_pair_file(index_header, config(**by_position, positional_header=True), False, "t")) == 1
    grades = write(tmp_path / "pd4.tsv", "0\t1\t2\n甲\t乙\t2\n")  # the label column's number is a label
    assert len(read_pair_file(grades, config(**texts, label_values="0,1,2", positional_header=True), True, "t")) == 1
    # and real first rows the looser sibling rule refused (0.4% of OPPO's test rows): pairs
    for first in ("A股\t B股", "科目一\t科目四", "苹果6怎么设置\t苹果5怎么设置", "三除以二等于多少\t二除以二等于多少",
                  "周一\t周二"):  # (ASCII words, iphone7 / iphone8, still read as names: a loud refusal)
        rows = write(tmp_path / "r2.tsv", f"{first}\n花呗怎么还款\t借呗如何还钱\n")
        assert len(read_pair_file(rows, config(**texts), False, "test")) == 2, first
    numbered_id = write(tmp_path / "n2.tsv", "1000\t问题1\t问题2\n1001\t花呗\t借呗如何还钱\n")  # an id: a row
    assert [p.key for p in read_pair_file(numbered_id, config(**by_position), False, "test")] == ["1000", "1001"]
    words = write(tmp_path / "lw.tsv", "iphone\tipad\tfalse\n花呗怎么还款\t借呗如何还钱\ttrue\n")  # its label: a pair
    assert len(read_pair_file(words, config(**texts, label_values="false,true"), True, "train")) == 2
    with pytest.raises(ValueError, match=r"--positional-header: .*are header names"):
        config(positional_header=True)


def test_a_grouped_split_far_from_valid_fraction_is_warned_about(tmp_path, caplog):
    """One text group of 53 pairs among 300: whole groups cannot make a 10% validation split, and the log says so
    (the split itself is unchanged); groups of 3, no warning."""
    big = [("hub", f"h{i}", 1) for i in range(53)]  # 53 positive pairs sharing "hub": StratifiedGroupKFold's fold 0
    rest = [(f"g{i // 3}", f"g{i // 3}-{i % 3}", (i // 3) % 2) for i in range(247)]
    fields = dict(text_a_column="0", text_b_column="1", label_column="2", valid_fraction=0.1)
    for name, rows in (("big", big + rest), ("even", rest)):
        folder = tmp_path / name
        folder.mkdir()
        write(folder / "train.tsv", "".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows))
        write(folder / "test.tsv", "x\ty\n")
        caplog.clear()
        with caplog.at_level("WARNING", logger="competitions.pair.task"):
            data = TASK.load_data(config(data_dir=str(folder), **fields))
        share = len(data.valid) / len(rows)
        warned = [r.getMessage() for r in caplog.records if "validation split holds" in r.getMessage()]
        assert bool(warned) == (abs(share - 0.1) > 0.05), (name, share, warned)
        if name == "big":
            assert share > 0.2 and warned and "largest text group has 53 of 300 pairs" in warned[0]
            assert "--group-by-text false" in warned[0]


def test_a_test_config_that_mixes_with_the_runs_columns_names_what_came_from_the_run():
    """The run reads columns by position (id column 3); a test config giving the texts by name but no id column
    gets an error naming the run's id column, the one it left as it was."""
    run = config(text_a_column="0", text_b_column="1", label_column="2", id_column="3", file_format="tsv")
    with pytest.raises(ValueError, match=r"--test-config: columns \['a', 'b', '3'\].*not set them: "
                                         r"file_format = 'tsv', id_column = '3'\)$"):
        TASK.test_layout(run, {"text_a_column": "a", "text_b_column": "b"})
    layout = TASK.test_layout(run, {"text_a_column": "a", "text_b_column": "b", "id_column": "qid"})
    assert (layout.text_a_column, layout.id_column, layout.label_column, run.text_a_column) == ("a", "qid", "", "0")
    # the test config's own bad value is its own: no note of the run's kept options (probe Z1: file_format =
    # "json" named submission_value, unrelated)
    with pytest.raises(ValueError, match=r"^--test-config: --file-format 'json': expected one of \[[^(]*$"):
        TASK.test_layout(run, {"file_format": "json"})


def test_the_reference_is_named_after_its_contest_file(tmp_path, monkeypatch):
    """make pair-baseline PAIR=x.toml: the reference's folder is runs/pair/tfidf-x and its submission is named after
    that folder, so two contests' references share no folder and no submission name."""
    from competitions.pair import baseline

    assert baseline.default_run_dir(["--config", "a/bq.toml", "--config", "b/more.toml"]) == "runs/pair/tfidf-bq"
    assert baseline.default_run_dir(["--config=lcqmc.toml"]) == "runs/pair/tfidf-lcqmc"
    assert baseline.default_run_dir(["--data-dir", "x"]) == "runs/pair/tfidf-baseline"
    rows = [(f"q{i}", f"q{i} again" if i % 2 else f"other {i}", i % 2) for i in range(60)]
    write(tmp_path / "train.tsv", "".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows))
    write(tmp_path / "test.tsv", "q1\tq1 again\nq2\tthat\n")
    contests = []
    for name in ("one", "two"):
        write(tmp_path / f"{name}.toml", f'data_dir = "{tmp_path}"\ntext_a_column = "0"\ntext_b_column = "1"\n'
                                         f'label_column = "2"\nvalid_fraction = 0.5\ngroup_by_text = false\n'
                                         f'submission_dir = "{tmp_path / "sub"}"\n')
    monkeypatch.chdir(tmp_path)
    for name in ("one", "two"):
        contests.append(baseline.main(["--config", f"{name}.toml"]))
    assert [r["run_dir"] for r in contests] == ["runs/pair/tfidf-one", "runs/pair/tfidf-two"]
    names = sorted(p.name for p in (tmp_path / "sub").iterdir() if ".probabilities." not in p.name)
    # named with the task's metric name, as a trained run's (t1-score0.7143) and the report's (no f10.8571)
    assert len(names) == 2 and names[0].startswith("tfidf-one-score") and names[1].startswith("tfidf-two-score")
    # another contest whose file has the same name: refused before anything is written, then given its own name
    (tmp_path / "other").mkdir()
    write(tmp_path / "other" / "one.toml", (tmp_path / "one.toml").read_text(encoding="utf-8").replace(
        "valid_fraction = 0.5", "valid_fraction = 0.4"))
    before = (tmp_path / "runs" / "pair" / "tfidf-one" / "metrics.json").read_bytes()
    with pytest.raises(ValueError, match="tfidf-one holds a reference read with other options .*valid_fraction"):
        baseline.main(["--config", "other/one.toml"])
    assert (tmp_path / "runs" / "pair" / "tfidf-one" / "metrics.json").read_bytes() == before
    assert baseline.main(["--config", "other/one.toml", "--run-name", "tfidf-other"])["run_dir"] == \
        "runs/pair/tfidf-other"


@pytest.mark.parametrize("values, metric, warned", [
    ("1,0", "f1", True), ("yes,no", "auc", True), ("相似,不相似", "f1", True), ("entailment,not_entailment", "f1", True),
    ("0,1", "f1", False), ("no,yes", "f1", False), ("1,0", "accuracy", False),  # accuracy: either class alike
    ("-1,1", "f1", False), ("a,b", "f1", False)])
def test_label_values_that_look_positive_first_are_warned_about(tmp_path, caplog, values, metric, warned):
    """Last note's low item: ``--label-values 1,0`` (the docs' order is negative,positive) scored F1 of the class
    the contest calls negative, silently; a warning now names both readings and the swapped flag."""
    negative, positive = values.split(",")
    write(tmp_path / "train.tsv", "".join(f"a{i}\tb{i}\t{(negative, positive)[i % 2]}\n" for i in range(20)))
    write(tmp_path / "test.tsv", "x\ty\n")
    with caplog.at_level("WARNING", logger="competitions.pair.task"):
        TASK.load_data(config(data_dir=str(tmp_path), text_a_column="0", text_b_column="1", label_column="2",
                              label_values=values, metric=metric, group_by_text=False))
    message = f"--label-values {values}: {negative!r} is read as the negative class and {positive!r} as the positive"
    assert (message in caplog.text) == warned, caplog.text
    if warned:
        assert f"is it the other way? --label-values {positive},{negative}" in caplog.text


def test_quoted_csv_texts_holding_tabs_are_read_as_csv(tmp_path):
    """Probe AI: the check for a TSV named .csv refused valid quoted CSV whose texts hold tabs."""
    path = write(tmp_path / "t.csv", '"代码\t缩进\t对齐","打印\t结果",1\n"你好","再见",0\n')  # 3 tabs in 3 cells
    pairs = read_pair_file(path, config(text_a_column="0", text_b_column="1", label_column="2"), True, "train")
    assert [(p.a, p.b, p.label) for p in pairs] == [("代码\t缩进\t对齐", "打印\t结果", 1), ("你好", "再见", 0)]


def test_a_test_rows_empty_text_is_predicted_and_a_training_rows_named(tmp_path, caplog):
    """Probe AK: an empty text in a test row was refused, so no submission (which needs every id) could be written,
    and the message named two columns for one. A test row is now read (predicted from its other text), with a
    warning naming line and column; a training row is refused, naming its column."""
    rows = "sentence1\tsentence2\tlabel\n好的\t好\t1\n\t空的\t0\n"
    path = write(tmp_path / "t.tsv", rows)
    files = config(text_a_column="sentence1", text_b_column="sentence2")
    with caplog.at_level("WARNING"):
        pairs = read_pair_file(path, files, False, "test")
    assert [(p.a, p.b) for p in pairs] == [("好的", "好"), ("", "空的")]
    assert f"1 test rows with an empty text, predicted from the other text: {path}:3 ('sentence1')" in caplog.text
    with pytest.raises(DataFileError, match=r"t.tsv:3: empty text in 'sentence1'$"):
        read_pair_file(path, files, True, "train")


def test_a_text_column_of_whole_numbers_is_warned_about(tmp_path, caplog):
    """Probe AK: a headerless test file laid out ``id, s1, s2`` (ATEC's) under training files' ``s1, s2, label``
    columns 0 and 1 was read with the id as text a and its second sentence dropped, without a word."""
    path = write(tmp_path / "test.tsv", "0\t花呗怎么还款\t怎么还花呗\n1\t借呗利息\t借呗的利率\n")
    with caplog.at_level("WARNING"):
        read_pair_file(path, config(text_a_column="0", text_b_column="1", label_column="2"), False, "test")
    assert "every '0' value is a whole number: an id column read as a text?" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        read_pair_file(path, config(text_a_column="1", text_b_column="2", label_column="3"), False, "test")
    assert not caplog.text


def test_a_test_file_laid_out_unlike_the_training_files_is_read_by_its_own_columns(tmp_path, caplog):
    """The last note's left item: ``train`` and ``cv`` had no way to read a run's own test file laid out unlike its
    training files (headerless ``s1, s2, label`` beside ``id, s1, s2``). ``--test-text-a-column`` and
    ``--test-text-b-column`` (with ``--id-column``) say where its texts are; predict's ``--test-config`` columns
    replace them for another file."""
    from common.task import get_task

    data = tmp_path / "contest"
    data.mkdir()
    write(data / "train.tsv", "".join(f"{a}\t{b}\t{i % 2}\n" for i, (a, b) in enumerate(
        [("花呗怎么还款", "怎么还花呗"), ("借呗利息", "借呗的利率"), ("我要退款", "如何退款"), ("开通花呗", "花呗开通"),
         ("账单日", "还款日"), ("余额宝", "余额宝收益"), ("转账", "如何转账"), ("提额", "怎么提额")])))
    write(data / "test.tsv", "7\t花呗账单\t账单在哪\n9\t借呗还款\t还借呗\n")
    files = config(data_dir=str(data), text_a_column="0", text_b_column="1", label_column="2", id_column="0",
                   test_text_a_column="1", test_text_b_column="2", valid_fraction=0.25, group_by_text=False)
    task = get_task("pair")
    with caplog.at_level("WARNING"):
        test = task.load_data(files).test
    assert [(p.key, p.a, p.b) for p in test] == [("7", "花呗账单", "账单在哪"), ("9", "借呗还款", "还借呗")]
    assert "whole number" not in caplog.text
    other = write(tmp_path / "b.tsv", "花呗账单\t账单在哪\n")  # another file, its layout by --test-config
    layout = task.test_layout(files, {"text_a_column": "0", "text_b_column": "1", "id_column": ""})
    assert [(p.key, p.a, p.b) for p in task.load_test(layout, str(other))] == [("0", "花呗账单", "账单在哪")]
    with pytest.raises(ValueError, match=r"columns \['a', 'b', '0'\]: give every column of a file by header name"):
        config(text_a_column="0", text_b_column="1", label_column="2", id_column="0", test_text_a_column="a",
               test_text_b_column="b")
    # training files with a header, a headerless test file (probe AQ: refused, the copy mixing the two files' kinds)
    named = config(text_a_column="s1", text_b_column="s2", label_column="label", id_column="0",
                   test_text_a_column="1", test_text_b_column="2").test_files()
    assert (named.text_a_column, named.text_b_column, named.label_column, named.id_column) == ("1", "2", "", "0")
    assert [(p.key, p.a) for p in read_pair_file(data / "test.tsv", named, False, "test")] == [("7", "花呗账单"),
                                                                                            ("9", "借呗还款")]


def test_a_submission_of_one_class_is_warned_about(tmp_path, caplog):
    """Probe AK: every one of 100 test rows labelled ``0`` (a model predicting one class) went out without a word."""
    from competitions.pair.submission import write_pair_submission

    keys = [str(i) for i in range(12)]
    with caplog.at_level("WARNING"):
        write_pair_submission(tmp_path / "a.csv", "csv", keys, ["0"] * 12, "id", "label", ["0", "1"])
    assert "every one of its 12 rows is labelled '0': the model predicts one class" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        write_pair_submission(tmp_path / "b.csv", "csv", keys, ["0"] * 11 + ["1"], "id", "label", ["0", "1"])
        write_pair_submission(tmp_path / "c.csv", "csv", keys, [0.5] * 12, "id", "label", None)  # probabilities
    assert not caplog.text
