"""Each NER reader against a hand-written example, and the errors on bad input."""

import json

import pytest

from common.ner.readers import NerDataError, read_cluener, read_cmeee, read_tagged, read_tsv_tagged
from common.ner.spans import Span, TagSequenceError, tags_to_spans, tags_to_spans_lenient
from tests.conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "ner"


def test_cluener():
    ex = read_cluener(FIX / "cluener.json")
    assert [e.id for e in ex] == [0, 7]
    assert ex[0].spans == [Span(0, 3, "company"), Span(9, 11, "name")]
    assert ex[0].surface(ex[0].spans[1]) == "叶老桂" and ex[1].spans == [Span(1, 2, "address")]


def test_bmes_with_crlf():
    ex = read_tagged(FIX / "bmes.txt", "bmes")
    assert [e.text for e in ex] == ["高勇，男", "中国银行"]
    assert ex[0].spans == [Span(0, 1, "NAME"), Span(3, 3, "GENDER")] and ex[1].spans == [Span(0, 3, "ORG")]


def test_weibo_position_digits_and_lost_characters():
    ex = read_tagged(FIX / "weibo.conll", "bio", strip_segment_digit=True)
    assert [e.text for e in ex] == ["科比布\ufffd", "湖人"]  # '��12': one lost char at word position 12
    assert ex[0].spans == [Span(1, 2, "PER.NAM")] and ex[1].spans == [Span(0, 1, "ORG.NAM")]


def test_uer_tsv_and_cmeee_nested():
    assert read_tsv_tagged(FIX / "uer.tsv")[0].spans == [Span(1, 2, "LOC")]
    ex = read_cmeee(FIX / "cmeee.json")
    assert ex[0].spans == [Span(2, 9, "bod"), Span(6, 7, "bod")]  # nested kept
    assert ex[1].spans == [Span(0, 1, "sym")]


def test_a_cmeee_file_with_a_byte_order_mark_reads(tmp_path):
    """Probe Z2: "not valid JSON (expected '[')" for a file that starts with '[' after a UTF-8 byte-order mark."""
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + (FIX / "cmeee.json").read_bytes())
    assert read_cmeee(path) == read_cmeee(FIX / "cmeee.json")


def _write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else lambda c: path.write_text(c, encoding="utf-8"))(content)
    return path


@pytest.mark.parametrize("label, message", [
    ({"name": {"张三": [[5, 6]]}}, "outside the text"),
    ({"name": {"张三": [[0, 1]]}}, "does not match the text"),
    ({"name": {"张三": [3, 4]}}, "expected [start, end]"),
])
def test_cluener_bad_spans_name_file_and_line(tmp_path, label, message):
    good = json.dumps({"text": "张三在北京", "label": {"address": {"北京": [[3, 4]]}}}, ensure_ascii=False)
    bad = json.dumps({"text": "李四在北京", "label": label}, ensure_ascii=False)
    path = _write(tmp_path, "train.json", good + "\n" + bad + "\n")
    with pytest.raises(NerDataError) as err:
        read_cluener(path)
    assert f"{path}:2" in str(err.value) and message in str(err.value)


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = _write(tmp_path, "x.bio", "在 O\n".encode() + b"\xff\xfe O\n")
    with pytest.raises(NerDataError, match=rf"{path}:2: invalid UTF-8"):
        read_tagged(path, "bio")
    path = _write(tmp_path, "x.json", b'[{"text": "ok"},\n{"text": "\xc3"}]')
    with pytest.raises(NerDataError, match=rf"{path}:2: invalid UTF-8"):
        read_cmeee(path)
    # a Windows export of Chinese text (GBK) is named as such (probe AB)
    path = _write(tmp_path, "gbk.bio", "在 O\n".encode() + "北 B-LOC\n".encode("gbk"))
    with pytest.raises(NerDataError, match=r"gbk.bio:2: invalid UTF-8 .*; it reads as GBK: convert the file to "
                                           r"UTF-8 \(iconv -f gbk -t utf-8\)"):
        read_tagged(path, "bio")


@pytest.mark.parametrize("scheme, lines, bad_line", [
    ("bio", ["在 O", "厦 I-LOC", "门 I-LOC"], 2),  # I- without B-
    ("bio", ["在 B-LOC", "厦 I-ORG"], 2),  # type changes inside an entity
    ("bmes", ["中 B-ORG", "国 O"], 2),  # B- not closed by E-
    ("bmes", ["中 B-ORG", "国 M-ORG"], 2),  # sentence ends inside an entity
    ("bmes", ["中 E-ORG"], 1),  # E- without B-
    ("bio", ["中 X-ORG"], 1),  # not a tag
])
def test_invalid_tag_sequences_name_file_and_line(tmp_path, scheme, lines, bad_line):
    path = _write(tmp_path, "x.txt", "好 O\n\n" + "\n".join(lines) + "\n")
    with pytest.raises(NerDataError) as err:
        read_tagged(path, scheme)
    assert f"{path}:{bad_line + 2}:" in str(err.value) and scheme.upper() in str(err.value)


def test_lenient_repair_of_released_quirks(tmp_path):
    # the power-domain set's B-X then O is a one-character entity; an open entity ends with the sentence
    path = _write(tmp_path, "x.txt", "电 B-5\r\n。 O\r\n\r\n俄 B-ORG\r\n罗 M-ORG\r\n")
    ex = read_tagged(path, "bmes", strict=False)
    assert ex[0].spans == [Span(0, 0, "5")] and ex[1].spans == [Span(0, 1, "ORG")]
    assert tags_to_spans_lenient(["I-A", "I-B", "E-B", "O", "E-C"]) == [Span(0, 0, "A"), Span(1, 2, "B"),
                                                                        Span(4, 4, "C")]


def test_tags_to_spans_strict_schemes():
    assert tags_to_spans(["B-A", "I-A", "B-A", "O", "B-B"], "bio") == [Span(0, 1, "A"), Span(2, 2, "A"),
                                                                        Span(4, 4, "B")]
    assert tags_to_spans(["S-A", "B-B", "M-B", "I-B", "E-B"], "bmes") == [Span(0, 0, "A"), Span(1, 4, "B")]
    with pytest.raises(TagSequenceError):
        tags_to_spans(["S-A"], "bio")


def test_cluener_refuses_an_id_twice_given_or_by_record_index(tmp_path):
    """A test file repeating an id would put it twice in the submission: refused, naming both lines; a record
    without an id gets its record index, which may collide with a given id too."""
    path = tmp_path / "t.json"
    path.write_text('{"id": 0, "text": "甲"}\n{"id": 0, "text": "乙"}\n', encoding="utf-8")
    with pytest.raises(NerDataError, match=r"t.json:2: id 0 again \(first at .*t.json:1\)"):
        read_cluener(path)
    path.write_text('{"id": 1, "text": "甲"}\n{"text": "乙"}\n', encoding="utf-8")
    with pytest.raises(NerDataError, match=r"t.json:2: id 1 again .*this record has none, so its record index"):
        read_cluener(path)
    path.write_text('{"text": "甲"}\n{"text": "乙"}\n{"id": "x", "text": "丙"}\n', encoding="utf-8")
    assert [ex.id for ex in read_cluener(path)] == [0, 1, "x"]
    # a blank line in between was skipped, and every record without an id after it took the id of the line above
    path.write_text('{"text": "甲"}\n\n{"text": "乙"}\n\n', encoding="utf-8")  # blank lines at the end: fine
    with pytest.raises(NerDataError, match=r"t.json:2: blank line before the record on line 3"):
        read_cluener(path)


def test_unlabelled_test_files_read_characters_without_tags(tmp_path):
    """A competition's test file in BIO (one character a line) or UER's format (the text column alone) reads as
    tag-less text; a labelled file still needs every tag; an ideographic space (U+3000) stays itself."""
    bio = tmp_path / "test.txt"
    bio.write_text("最\n好\n\n北 B-LOC\n京\n\u3000 O\n", encoding="utf-8")
    examples = read_tagged(bio, "bio", labelled=False)
    assert [ex.text for ex in examples] == ["最好", "北京\u3000"] and examples[1].spans == [Span(0, 0, "LOC")]
    with pytest.raises(NerDataError, match=r"test.txt:1: expected 'CHAR TAG', got '最'"):
        read_tagged(bio, "bio")
    # an untagged space character (' ', U+3000) is the text's, not a sentence break (it split one text in two,
    # shifting every later id); an empty line breaks, and the log counts the spaces read
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("我\n的\n\n酒\n \n店\n\u3000\n好\n\n", encoding="utf-8")
    assert [ex.text for ex in read_tagged(spaced, "bio", labelled=False)] == ["我的", "酒 店\u3000好"]
    # a tab character tagged (TAB SEP TAG) stays a tab (probe P: it was read as a space); a bare TAB TAG, as a space
    tabbed = tmp_path / "tabbed.txt"
    tabbed.write_text("甲 O\n\t\tO\n乙 O\n\t O\n丙 O\n\tO\n", encoding="utf-8")
    assert [ex.text for ex in read_tagged(tabbed, "bio")] == ["甲\t乙\t丙 "]
    # lines ended by a lone carriage return (classic Mac OS) read as one line: said so; \r\n reads as \n
    (tmp_path / "cr.txt").write_bytes("中 B-LOC\r国 I-LOC\r\r人 O\r".encode())
    with pytest.raises(NerDataError, match=r"cr.txt:1: lines end in a lone carriage return \(\\r\); expected"):
        read_tagged(tmp_path / "cr.txt", "bio")
    (tmp_path / "crlf.txt").write_bytes("中 B-LOC\r\n国 I-LOC\r\n\r\n人 O".encode())
    assert [ex.text for ex in read_tagged(tmp_path / "crlf.txt", "bio")] == ["中国", "人"]
    # probe AA: such a file ending in one \n was missed, and one line whose quoted text holds a \r was refused
    from common.data_files import DataFileError, iter_lines

    (tmp_path / "mac.csv").write_bytes(b"s1,s2,label\ra,b,1\rc,d,0\n")
    with pytest.raises(DataFileError, match=r"mac.csv:1: lines end in a lone carriage return"):
        list(iter_lines(tmp_path / "mac.csv"))
    (tmp_path / "quoted.csv").write_bytes(b'"a\rb",c,1')
    assert list(iter_lines(tmp_path / "quoted.csv")) == [(1, '"a\rb",c,1')]
    uer = tmp_path / "test.tsv"
    uer.write_text("text_a\n最 好\n北 京\n", encoding="utf-8")
    assert [(ex.text, ex.spans) for ex in read_tsv_tagged(uer, labelled=False)] == [("最好", []), ("北京", [])]
    with pytest.raises(NerDataError, match=r"test.tsv:1: expected the header 'text_a<TAB>label'"):
        read_tsv_tagged(uer)
    # probe AE: a blank row was skipped, the prediction one line short and every later line's id shifted
    uer.write_text("text_a\n最 好\n\n北 京\n\n", encoding="utf-8")
    with pytest.raises(NerDataError, match=r"test.tsv:3: blank line before the record on line 4"):
        read_tsv_tagged(uer, labelled=False)
    uer.write_text("text_a\n最 好\n北 京\n\n", encoding="utf-8")  # at the end: an editor's newline
    assert len(read_tsv_tagged(uer, labelled=False)) == 2
    uer.write_text("text_a\tlabel\n最 好\tO O\n\n北 京\tB-LOC I-LOC\n", encoding="utf-8")  # no id: skipped
    assert [ex.text for ex in read_tsv_tagged(uer)] == ["最好", "北京"]


def test_prediction_files_in_cluener_and_cmeee_submission_formats_read_back(tmp_path):
    """Probe AL: CMeEE data was predicted as span JSON lines, not CMeEE's submission (one JSON array of records with
    start_idx / end_idx, as its example_pred.json). Each format's file holds one record per text, in order, and a
    CMeEE prediction reads back as CMeEE data, nested spans included."""
    import json

    from common.ner.readers import read_cmeee
    from common.ner.spans import NerExample, Span
    from common.ner.writers import write_prediction

    texts = [NerExample("肺内病变", [], 0), NerExample("无", [], 1), NerExample("成人SARS", [], 2)]
    spans = [[Span(0, 0, "bod"), Span(0, 3, "dis")], [], [Span(0, 5, "dis")]]
    path = write_prediction(tmp_path / "p", "cmeee", texts, spans)
    assert path.name == "p.json" and [ex.spans for ex in read_cmeee(path)] == spans
    assert json.loads(path.read_text())[0]["entities"][1] == {"start_idx": 0, "end_idx": 3, "type": "dis",
                                                             "entity": "肺内病变"}
    cluener = write_prediction(tmp_path / "c", "cluener", texts, spans)
    assert cluener.name == "c.json" and [json.loads(x)["id"] for x in cluener.read_text().splitlines()] == [0, 1, 2]
    lines = write_prediction(tmp_path / "s", "bio", texts, spans)
    assert lines.name == "s.jsonl" and len(lines.read_text().splitlines()) == 3
