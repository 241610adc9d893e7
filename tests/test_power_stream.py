"""Streamed (chunked, on-disk) discovery equals the in-memory one; corpus errors name the file."""

import random

import numpy as np
import pytest

from common.mining.corpus_stream import check_corpus, iter_blocks
from common.mining.new_words import discover
from common.mining.new_words_stream import discover_file

FIELDS = ("count", "cohesion", "left_entropy", "right_entropy")


@pytest.mark.parametrize("chunk", [7, 50, 997, 10**6])
def test_streamed_equals_in_memory(chunk):
    rng = random.Random(0)
    text = "".join(rng.choice("ab甲乙丙 ,\n") for _ in range(3000))
    lines = text.split("\n")
    ref = discover("\n".join(lines), 3, 5)
    got = discover_file([lines[:100], lines[100:]], 3, 5, chunk_chars=chunk, progress=False)
    assert got.words == ref.words and got.total_chars == ref.total_chars
    for f in FIELDS:
        np.testing.assert_allclose(getattr(got, f), getattr(ref, f), err_msg=f)


def test_blocks_split_at_line_ends(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("\ufeff变压器\n\n断路器检修\n  \n母线\n", encoding="utf-8")
    assert list(iter_blocks(p, block_chars=4)) == [["变压器", "断路器检修"], ["母线"]]
    assert check_corpus(p) > 0


def test_corpus_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty.txt: empty corpus"):
        check_corpus(empty)
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("第一行\n".encode() + "变压器".encode("gbk") + b"\n")
    with pytest.raises(ValueError, match=r"gbk.txt:2: not valid UTF-8 .*; it reads as GBK: convert the file to "
                                         r"UTF-8 \(iconv -f gbk -t utf-8\)"):  # probe AF: the hint pretraining gives
        list(iter_blocks(bad))
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        check_corpus(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="no token character"):
        discover_file([["，。！"]], progress=False)


def test_the_share_of_chinese_characters_is_measured_on_non_space_characters(tmp_path):
    """``han_share`` warns the miner off a corpus of other text (probe AF: English gave fragments, unsaid)."""
    from common.mining.corpus_stream import han_share

    (tmp_path / "mixed.txt").write_text("变压器 ab\n\n电 12，\n", encoding="utf-8")
    assert han_share(tmp_path / "mixed.txt") == pytest.approx(4 / 6)  # digits and punctuation left out
    (tmp_path / "relay.txt").write_text("#1主变110kV侧1101开关SOE动作，RCS-978保护启动\n", encoding="utf-8")
    assert han_share(tmp_path / "relay.txt") == pytest.approx(11 / 19)  # probe AI: 0.30 of all characters
    (tmp_path / "en.txt").write_text("recurrent networks\n", encoding="utf-8")
    assert han_share(tmp_path / "en.txt") == 0.0


def test_key_table_merges_chunks_into_one_table():
    """Counts and earliest positions over chunks equal one count over everything; one table held."""
    from common.mining.new_words_stream import _KeyTable

    rng = np.random.default_rng(0)
    keys = rng.integers(0, 50, size=3000) * 2**20  # ties across chunks, keys above 16 bits
    pos = np.arange(3000)
    table = _KeyTable()
    for s in range(0, 3000, 700):
        table.add(keys[s:s + 700], pos[s:s + 700])
        assert np.all(np.diff(table.keys) > 0)  # merged at once: sorted, distinct
    u, first, cnt = np.unique(keys, return_index=True, return_counts=True)
    k, c, p = table.result()
    assert np.array_equal(k, u) and np.array_equal(c, cnt) and np.array_equal(p, first)


def test_gather_reads_a_file_in_chunks(tmp_path):
    from common.mining.new_words_stream import _chunks, _gather

    arr = np.arange(1000, dtype=np.int32) * 3
    arr.tofile(tmp_path / "a.i32")
    idx = np.array([999, 0, 500, 500, 37])
    assert np.array_equal(_gather(tmp_path / "a.i32", np.int32, idx, _chunks(1000, 64)), arr[idx])


def test_an_input_path_is_read_from_the_current_folder_first(tmp_path, monkeypatch):
    """Probe AF: a relative --corpus-file given from another folder was looked for under the repo root only."""
    from competitions.power_terms import data

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("变压器\n", encoding="utf-8")
    assert data.resolve_input("mine.txt") == __import__("pathlib").Path("mine.txt")
    assert data.resolve_input("competitions/power_terms/seeds.txt") == data.REPO_ROOT / "competitions" / \
        "power_terms" / "seeds.txt"  # not here: the repo's, as before
