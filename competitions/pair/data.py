"""A contest's pair files -> pairs with ids: TSV, CSV or JSON lines, columns by name or position.

    read_pair_file(path, files, labelled=True, split="train") -> [Pair(a, b, label, id, key, row), ...]

TSV lines are split on tabs with no quoting (Chinese text holds quote marks); CSV follows
RFC 4180 quoting (Python's ``csv``); JSON lines are one object a line, and a ``.json`` file may instead hold one
JSON array of objects (CBLUE's KUAKE-QQR and CHIP-STS files), its rows' lines where each object starts. A UTF-8 byte-order
mark is ignored. Every malformed row stops the read with ``file:line: what was found,
what was expected`` (:class:`common.data_files.DataFileError`).
"""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from common.data_files import DataFileError, iter_json_objects, iter_lines
from common.run import process_state
from competitions.pair.config import PairFiles, same_label

logger = logging.getLogger(__name__)
# a first row of such cells only (id, sentence1, text_a, label) is a header, not a pair of texts
HEADER_CELL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
WORD_CELL = re.compile(r"\w{2,16}")  # one word of any script, no space or punctuation (问题1, 编号)


# the ordinals that number sibling column names, each series in order from its first value
ORDINALS = ("0123456789", "０１２３４５６７８９", "abcdefghij", "ABCDEFGHIJ", "ａｂｃｄｅｆｇｈｉｊ", "ＡＢＣＤＥＦＧＨＩＪ",
            "一二三四五六七八九十", "甲乙丙丁戊己庚辛壬癸")


def numbered_siblings(a: str, b: str) -> bool:
    """Whether two cells are numbered names of sibling columns, as a header names them: at most 6 characters, one
    position apart, the characters there the first two of an ordinal series (0 / 1 or 1 / 2, a / b, 一 / 二, 甲 / 乙),
    the rest at least 2 characters and not all digits (``问题1`` / ``问题2``, ``句子一`` / ``句子二``, ``第一句`` /
    ``第二句``, ``问题Ａ`` / ``问题Ｂ``). Texts rarely are: not ``12`` / ``13``, ``A股`` / ``B股`` (a 1-character rest),
    ``科目一`` / ``科目四``, ``苹果6`` / ``苹果5``, ``三除以二等于多少`` / ``二除以二等于多少`` (probe O found such
    pairs in 0.4% of OPPO's test rows under a looser rule)."""
    if len(a) != len(b) or a == b or len(a) > 6:
        return False
    apart = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(apart) != 1:
        return False
    i = apart[0]
    rest = a[:i] + a[i + 1:]
    first, second = sorted((a[i], b[i]), key=lambda c: next((s.index(c) for s in ORDINALS if c in s), 99))
    return len(rest) >= 2 and not rest.isdigit() and any(
        s.find(first) in (0, 1) and s.find(second) == s.find(first) + 1 for s in ORDINALS if first in s)


def pandas_numbered(cells: list[str]) -> bool:
    """Whether a row is the header pandas writes for unnamed columns: ``0 1 2 ...``, after an empty index cell or
    not (``to_csv(index=True)``)."""
    cells = [c.strip() for c in cells]
    if cells and cells[0] == "" and len(cells) > 1:
        cells = cells[1:]
    return len(cells) > 1 and all(c == str(i) for i, c in enumerate(cells))


def header_like(cells: list[str]) -> bool:
    """Whether a row's cells look like column names, not a pair's texts: every cell an ASCII identifier (``id``,
    ``sentence1``, ``text_a``), or every cell one word with two of them numbered siblings
    (:func:`numbered_siblings`: ``问题1`` / ``问题2``, ``句子一`` / ``句子二``). A row of Chinese texts is neither;
    Xiaobu's token ids (``12 5 3``) hold spaces. Some headers are neither too (``问题`` / ``回答``): nothing tells
    them from a pair of words."""
    cells = [c.strip() for c in cells]
    if all(HEADER_CELL.fullmatch(c) for c in cells):
        return True
    if not all(WORD_CELL.fullmatch(c) for c in cells):
        return False
    return any(numbered_siblings(a, b) for i, a in enumerate(cells) for b in cells[i + 1:])


def _whole(cell: Any) -> bool:
    """Whether an id cell is a whole number (``7``, ``007``)."""
    return str(cell).strip().isdigit()


def _number(cell: Any) -> bool:
    """Whether an id cell is any number (``-1``, ``2.0``)."""
    try:
        float(str(cell).strip())
        return True
    except ValueError:
        return False


# what a refused first row can do instead, in the message
HEADER_WAYS = ("if it is a header, set positional_header = true in the contest's config (it skips the first row of "
               "every file; predict --test-file: in its --test-config); if it is a pair, add a line of column names "
               "above it and set that option")


@dataclass
class Pair:
    """One sentence pair: two texts, its label (0/1, 1 = the positive label value; the class index of 3+ label values;
    or a graded label's number), its ids.

    ``id`` is unique across the files of a run (``<split>:<row>``); ``key`` is the submission's
    id (the id column's value, or ``row``); ``row`` is the 0-based position among the file's pairs.
    """

    a: str
    b: str
    label: int | float | None  # 0/1 (3+ label values: 0..C-1), a number in --label-range, None for unlabelled pairs
    id: str
    key: str
    row: int
    text_id: bool = False  # the key was a JSON string: a JSON submission writes it as one, digits or not


def file_format(path: str | Path, chosen: str) -> str:
    """``chosen``, or for ``auto`` the format of ``path``'s extension: ``.csv`` csv, ``.json``/``.jsonl`` jsonl, else tsv."""
    if chosen != "auto":
        return chosen
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".json": "jsonl", ".jsonl": "jsonl"}.get(suffix, "tsv")


def label_value(value: Any) -> str:
    """A label cell as text: ``1`` and ``1.0`` -> ``"1"``, ``True`` -> ``"true"``, strings stripped."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def first_line(path: Path) -> str:
    """The first non-blank line of a text file ("" for none)."""
    return next((line for _, line in iter_lines(path) if line.strip()), "")


def _rows(path: Path, fmt: str, columns: list[str], skip_header: bool = False,
          is_data: Callable[[dict[str, str]], bool] | None = None,
          id_column: str = "", every_row: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("file:line", {column: cell})`` for every non-blank row, for the ``columns`` asked (a missing one: absent).

    CSV/TSV: columns are header names, or 0-based positions when they are numbers (no header, unless
    ``skip_header``: the first row is a header, skipped; the config refuses a mix of names and positions). In a
    file with a header every row has its cell count (a DataFileError otherwise: an unquoted delimiter in a text
    shifts the later cells).

    Headers and rows by position: ``positional_header`` covers every file, and a file's first row decides nothing
    silently. A first row whose cells are all column-name-like words (``header_like``: ``id``, ``sentence1``,
    ``问题1`` / ``问题2``) above a row that is not, or whose ``id_column`` cell is not a whole number above one that
    is (``序号``, then ``0``), is refused (read as a pair, a header adds a row and shifts every positional id after it;
    a lone such row is warned about, and one above rows like it is a row of words). A first row skipped as a header
    for which ``is_data`` holds (a labelled file: its label cell is a label), or whose ``id_column`` cell is a whole
    number as the next row's is, is refused too: that file has no header, and a pair would be lost (the submission
    one row short, every position id off by one). So is, in a file whose ``every_row`` is a submission row (a test
    file), a skipped row that is not of column-name-like words; in a labelled file such a row is named in a warning.
    """
    if fmt == "jsonl":  # JSON lines, or one JSON array of objects (CBLUE's files)
        for where, obj in iter_json_objects(path):
            yield where, {c: obj[c] for c in columns if c in obj}
        return
    lines = (line for _, line in iter_lines(path))
    reader = csv.reader(lines, delimiter="\t" if fmt == "tsv" else ",",
                        quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL)
    positional = all(c.isdigit() for c in columns)
    index = {c: int(c) for c in columns} if positional else None
    width = 0  # the header's cell count, where there is a header: every row must have as many
    suspect = None  # ("file:1", row, cells, by names, by id) of a header-like first row by position, until the next
    skipped = None  # ("file:line", cells, row) of the row --positional-header skipped, until the next row
    first = True  # the next non-blank row is the file's first

    def column_names(row: dict[str, str], cells: list[str]) -> bool:  # a row by position that reads as a header
        if pandas_numbered(cells):
            return True
        if id_column and _whole(row.get(id_column, "")):  # a header names the id column; it holds no number
            return False
        if is_data is not None and is_data(row):  # a labelled row whose label cell is a label: a pair
            return False
        return header_like(list(row.values()))

    while True:
        start = reader.line_num + 1  # the row's first line (a quoted text may run over several)
        try:
            cells = next(reader)
        except StopIteration:
            if suspect is not None:  # a file of one such row, or of rows all like it: words, not a header
                logger.warning("%s: %s looks like a header, read here as a row (--positional-header true skips it)",
                               suspect[0], suspect[2])
                yield suspect[:2]
            return
        except csv.Error as err:  # e.g. a carriage return alone ending lines
            raise DataFileError(f"{path}:{reader.line_num + 1}: {err}") from None
        if not cells or not any(cell.strip() for cell in cells):
            continue
        tabs = sum(cell.count("\t") for cell in cells)  # a first row of more tab- than comma-separated cells, none
        quoted = first and fmt == "csv" and '"' in first_line(path)  # quoted: a TSV (probe AI: quoted texts hold tabs)
        if fmt == "csv" and ((len(cells) == 1 and tabs) or (first and not quoted and tabs >= len(cells))):  # probe Z1
            held = "one cell holding tabs" if len(cells) == 1 else f"{len(cells)} cells holding {tabs} tabs"
            raise DataFileError(f"{path}:{reader.line_num}: {held}, expected comma-separated cells: a "
                                "tab-separated file? file_format = \"tsv\" (or --file-format tsv)")
        is_first, first = first, False
        if skip_header and positional:  # a header whose names are not the ones read: columns by position
            head = {c: cells[i] for c, i in index.items() if i < len(cells)}
            if is_data is not None and is_data(head) and not pandas_numbered(cells):
                raise DataFileError(f"{path}:{reader.line_num}: --positional-header skips the first row as a header, "
                                    f"but {cells} is a labelled pair: this file has no header (the option covers "
                                    "every file: make the files alike)")
            skip_header, width, skipped = False, len(cells), (f"{path}:{reader.line_num}", cells, head)
            continue
        if width and len(cells) != width:  # an unquoted delimiter in a text shifts every later cell
            hint = "a comma inside a text? quote a text that holds one" if fmt == "csv" else "a tab inside a text?"
            if reader.line_num > start:  # a quote opened on this line and closed lines later, or never
                hint = f"the row runs to line {reader.line_num}: a quote opened and not closed?"
            raise DataFileError(f"{path}:{start}: {len(cells)} cells, the header has {width} ({hint})")
        if skipped is not None:  # the row after one skipped as the header
            row = {c: cells[i] for c, i in index.items() if i < len(cells)}
            mine, next_id = skipped[2].get(id_column, "").strip(), row.get(id_column, "").strip()
            numbered = pandas_numbered(skipped[1])  # pandas' 0 1 2 ... header
            if id_column and mine.isdigit() and next_id.isdigit() and not numbered:
                raise DataFileError(f"{skipped[0]}: --positional-header skips the first row as a header, but its id "
                                    f"{mine!r} is a number like the next row's {next_id!r}: this file has no header "
                                    "(the option covers every file: make the files alike)")
            if not header_like([c for c in skipped[1] if c.strip()]) and not numbered:
                if every_row:  # a test row skipped: its pair is missing from the submission
                    raise DataFileError(
                        f"{skipped[0]}: --positional-header skips the first row of every file as a header, but "
                        f"{skipped[1]} does not look like column names; skipped, that pair would be missing from the "
                        "submission and every position id after it one off. If this file has no header, add a line "
                        "of column names at its top (sentence1, sentence2 or 问题1, 问题2); if that row is its "
                        "header, give the columns by its names (text_a_column = \"问题\") instead of positions")
                logger.warning("%s: %s skipped as the header (--positional-header)", skipped[0], skipped[1])
            skipped = None
        row = {c: cells[i] for c, i in index.items() if i < len(cells)} if positional else {}
        looks_named = positional and column_names(row, cells)
        if suspect is not None:  # the row after a header-like first row decides
            if (suspect[3] and not looks_named) or (suspect[4] and _whole(row.get(id_column, ""))):
                why = "looks like a header above rows of text" if suspect[3] and not looks_named else \
                    f"has the id {suspect[1][id_column]!r} above a row of id {row[id_column]!r}"
                raise DataFileError(f"{suspect[0]}: {suspect[2]} {why}; read as a pair it would add a row and shift "
                                    f"every id after it: {HEADER_WAYS}")
            yield suspect[:2]
            suspect = None
        elif positional and is_first:
            by_id = bool(id_column) and row.get(id_column, "").strip() != "" and not _number(row[id_column])
            if looks_named or by_id:
                suspect = (f"{path}:{reader.line_num}", row, cells, looks_named, by_id)
                continue
        if index is None:  # the header names the columns
            cells = [cell.strip() for cell in cells]
            index, width = {c: cells.index(c) for c in columns if c in cells}, len(cells)
            missing = [c for c in columns if c not in index]
            if missing:
                raise DataFileError(f"{path}:{reader.line_num}: header {cells} has no column {missing[0]!r} "
                                    f"(the {fmt.upper()} header must name {columns}, or give 0-based positions)")
            continue
        yield f"{path}:{reader.line_num}", {c: cells[i] for c, i in index.items() if i < len(cells)}


def graded_label(value: Any, where: str, bounds: tuple[float, float]) -> float:
    """A graded label cell as its number in ``bounds`` = (lo, hi). Raises DataFileError: not a number in them."""
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except ValueError:
        number = float("nan")
    if not bounds[0] <= number <= bounds[1]:  # also NaN
        raise DataFileError(f"{where}: label {label_value(value)!r}, expected a number in [{bounds[0]:g}, "
                            f"{bounds[1]:g}] (--label-range lo,hi)")
    return number


def read_pair_file(path: str | Path, files: PairFiles, labelled: bool, split: str, limit: int = 0) -> list[Pair]:
    """Every pair of ``path`` (the first ``limit`` when > 0), read as ``files`` says.

    An unlabelled read ignores a label column, so a labelled file can be scored with ``predict --test-file``;
    only an unlabelled read (the submission's rows) reads ``files.id_column``: training files need no ids.

    Raises:
        FileNotFoundError: no file.
        DataFileError: a row without a text, an empty or non-text value (JSON null, a list), a label outside
            ``files.label_values`` (graded labels: not a number in ``files.label_range``),
            an empty or repeated id, a header without a named column, or no pairs at all — naming
            ``path:line`` and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = file_format(path, files.file_format)
    # class i the i-th: (negative, positive) of 0/1 labels
    spelled = [(s, i) for i, spellings in enumerate(files.label_spellings()) for s in spellings]  # (spelling, class)
    written = [s for s, _ in spelled]
    expected = (f"expected {written[0]!r} or {written[1]!r} (--label-values negative,positive)" if len(written) == 2
                else f"expected one of {written} (--label-values)")
    bounds = files.graded_range()
    columns = [files.text_a_column, files.text_b_column]
    columns += [files.label_column] if labelled else []
    columns += [files.id_column] if files.id_column and not labelled else []  # only the submission's rows need ids
    pairs: list[Pair] = []
    seen: dict[str, str] = {}
    empty_rows: list[str] = []  # test rows with an empty text

    def is_data(row: dict[str, str]) -> bool:  # a first row skipped as a header: a labelled pair?
        if not labelled or files.label_column not in row:
            return False
        value = label_value(row[files.label_column])
        if bounds is not None:
            try:
                return bounds[0] <= float(value) <= bounds[1]
            except ValueError:
                return False
        return any(same_label(value, s) for s in written)

    for where, row in _rows(path, fmt, columns, files.positional_header, is_data,
                            files.id_column if not labelled else "", every_row=not labelled):
        absent = [c for c in columns if c not in row]
        if absent:
            raise DataFileError(f"{where}: no {'key' if fmt == 'jsonl' else 'column'} {absent[0]!r}, "
                                f"expected {columns}")
        # JSON lines: null, lists and objects are no text (and true/false only a label)
        bad = [c for c in columns if not isinstance(row[c], (str, int, float))
               or (isinstance(row[c], bool) and c != files.label_column)]
        if bad:
            raise DataFileError(f"{where}: {bad[0]!r} is {json.dumps(row[bad[0]], ensure_ascii=False)[:40]}, "
                                "expected a text or a number")
        a, b = (str(row[c]).strip() for c in columns[:2])
        if not a or not b:
            empty = " and ".join(repr(c) for c, t in zip(columns[:2], (a, b)) if not t)
            if labelled:
                raise DataFileError(f"{where}: empty text in {empty}")
            empty_rows.append(f"{where} ({empty})")  # a submission needs every row: predicted from what it has
        label = None
        if labelled and bounds is not None:
            label = graded_label(row[files.label_column], where, bounds)
        elif labelled:
            value = label_value(row[files.label_column])
            # the spelling itself, else the same label spelled another way ("1.0" in a CSV as JSON's 1.0; "True")
            label = next((i for s, i in spelled if s == value), None)
            if label is None:
                label = next((i for s, i in spelled if same_label(value, s)), None)
            if label is None:
                raise DataFileError(f"{where}: label {value!r}, {expected}")
        key = str(len(pairs))
        if files.id_column and not labelled:
            key = str(row[files.id_column]).strip()
            if not key:
                raise DataFileError(f"{where}: empty id in {files.id_column!r}")
            if key in seen:
                raise DataFileError(f"{where}: id {key!r} already at {seen[key]}; a submission needs unique ids")
            seen[key] = where
        text_id = bool(files.id_column) and not labelled and fmt == "jsonl" and isinstance(row[files.id_column], str)
        pairs.append(Pair(a, b, label, f"{split}:{len(pairs)}", key, len(pairs), text_id))
        if limit and len(pairs) == limit:
            break
    if not pairs:
        raise DataFileError(f"{path}: no pairs, expected {fmt.upper()} rows with {columns}")
    if empty_rows and process_state().is_main_process:  # probe AK: refused, so no submission could hold the row
        logger.warning("%d test rows with an empty text, predicted from the other text: %s%s", len(empty_rows),
                       ", ".join(empty_rows[:3]), " ..." if len(empty_rows) > 3 else "")
    numbers = [c for c, k in zip(columns[:2], (0, 1)) if len(pairs) >= 2 and all(
        (p.a, p.b)[k].isdigit() for p in pairs)]
    if numbers and process_state().is_main_process:  # probe AK: an id column read as a text, silently
        logger.warning("%s: every %s value is a whole number: an id column read as a text? The %s file's columns "
                       "must be laid out as the contest's options say (%s); a test file laid out otherwise: "
                       "--test-text-a-column, --test-text-b-column (and --id-column); predict --test-file reads "
                       "another layout with --test-config", path, " and ".join(map(repr, numbers)), split,
                       ", ".join(f"{k} = {getattr(files, k)!r}" for k in ("text_a_column", "text_b_column")))
    return pairs
