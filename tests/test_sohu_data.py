import json

import pytest

from common.match_features import exact_match_flags
from common.pair_inputs import PairDataset, collate_pairs
from competitions.sohu.data import SUBTASKS, DataError, load_split, read_file

GOOD = {"source": "北京顺义", "target": "顺义低风险", "labelA": "1"}


def _write(tmp_path, lines, name="train.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("bad, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"target": "x", "labelA": "1"}), "missing 'source'"),
    (json.dumps({"source": "x", "target": "  ", "labelA": "1"}), "'target' is empty"),
    (json.dumps({"source": "x", "target": "y"}), "missing label 'labelA'"),
    (json.dumps({"source": "x", "target": "y", "labelA": "2"}), "expected 0 or 1"),
    (json.dumps(["x", "y"]), "expected a JSON object"),
])
def test_bad_line_names_file_line_and_problem(tmp_path, bad, message):
    path = _write(tmp_path, [json.dumps(GOOD, ensure_ascii=False), bad])
    with pytest.raises(DataError) as err:
        read_file(path, SUBTASKS[0], labelled=True)
    assert f"{path}:2" in str(err.value) and message in str(err.value)


def test_test_file_needs_ids(tmp_path):
    path = _write(tmp_path, [json.dumps({"source": "a", "target": "b"})], "test_with_id.txt")
    with pytest.raises(DataError, match="missing test 'id'"):
        read_file(path, SUBTASKS[1], labelled=False)


def test_any_test_file_without_an_id_says_so(tmp_path):
    from competitions.sohu.data import read_pairs_file

    path = _write(tmp_path, [json.dumps({"id": "ss0_a", "source": "a", "target": "b"}),
                             json.dumps({"source": "a", "target": "b"})], "pairs.jsonl")
    with pytest.raises(DataError, match=r"pairs.jsonl:2: no 'id' \(expected one naming its subtask"):
        read_pairs_file(path)


def test_load_split_reads_present_subtasks_and_reports_missing(tmp_path):
    folder = tmp_path / "sohu2021_open_data_clean" / SUBTASKS[1].folder
    folder.mkdir(parents=True)
    _write(folder, [json.dumps({"source": "a", "target": "b", "labelB": "0"}),
                    json.dumps({"source": "c", "target": "d", "labelB": 1})])
    examples, missing = load_split(tmp_path, "train")
    assert [(e.subtask, e.label) for e in examples] == [(1, 0), (1, 1)]
    assert len(missing) == 5 and SUBTASKS[1].folder not in missing
    with pytest.raises(FileNotFoundError):
        load_split(tmp_path, "valid")


def test_exact_match_flags():
    a, b = exact_match_flags([5, 6, 7, 1], [7, 8, 1], ignore={1})
    assert a == [0, 0, 1, 0] and b == [1, 0, 0]


def test_pair_encoding_truncates_longest_first_and_pads(tiny_tokenizer):
    from competitions.sohu.data import Example
    from competitions.sohu.task import TASK

    examples = [Example("今天天气很好今天天气很好", "北京", 0, 1), Example("公园", "公园散步", 1, 0)]
    ds = PairDataset(*TASK.texts(examples), TASK.labels(examples), tiny_tokenizer, max_length=10,
                     conditions=TASK.conditions(examples), truncation=TASK.truncation)
    first = ds[0]
    assert len(first["input_ids"]) == 10
    assert first["input_ids"].count(tiny_tokenizer.sep_token_id) == 2
    assert tiny_tokenizer.unk_token_id not in first["input_ids"]
    assert first["token_type_ids"] == [0] * 7 + [1] * 3  # source cut to 5 tokens, target kept
    assert ds[1]["match_ids"] == [0, 1, 1, 0, 1, 1, 0, 0, 0]
    batch = collate_pairs([ds[0], ds[1]], pad_id=tiny_tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, 10) and batch["attention_mask"][1].sum() == 9
    assert batch["condition_ids"].tolist() == [0, 1] and batch["labels"].tolist() == [1, 0]


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"source": "\xff\xfe"}\n')
    with pytest.raises(DataError, match=rf"{path}:2: invalid UTF-8"):
        read_file(path, SUBTASKS[0], labelled=True)


def test_a_file_of_one_json_array_reads_as_its_json_lines(tmp_path):
    """Probe Z2: a train file written as one JSON array was refused with "expected one object a line, or one JSON
    array of objects", which offered exactly that file; it reads as the same rows, each at its object's line."""
    import json

    from competitions.sohu.data import SUBTASKS, read_file

    rows = [{"source": "北京", "target": "顺义", "labelA": "1"}, {"source": "上海", "target": "浦东", "labelA": "0"}]
    (tmp_path / "lines").mkdir(), (tmp_path / "array").mkdir()
    lines = tmp_path / "lines" / "train.txt"
    lines.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    array = tmp_path / "array" / "train.txt"
    array.write_text("\ufeff[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n",
                     encoding="utf-8")
    assert read_file(array, SUBTASKS[0], labelled=True) == read_file(lines, SUBTASKS[0], labelled=True)
