"""Raw files of the power-term task -> texts and the gold term set.

Layout (see ``data/power_terms/SOURCE.md``), under the data root (``--data-dir``,
else ``$DATA_DIR``, else ``<repo>/data``):

- ``power_terms/lionztt_power/data/五通一措去重语料.csv``: the domain corpus, one text
  unit per line (39,524 lines, 1.28 M chars), State Grid substation regulations.
- ``power_terms/bupt_electric_power/ac-code/*.csv``: Baidu-Baike pages, one per line,
  ``term,"<JSON with escaped quotes and newlines>"``.
- ``power_terms/bupt_electric_power/entities-base/*.txt``: the gold entity base, one
  term per line with repeats (4,051 unique). Evaluation only, never mining input.
- ``corpus/uer_py/*.txt``: general-domain text for the contrast.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from common.mining.text_files import read_lines, read_utf8

REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve(path: str | Path) -> Path:
    """A path as given if absolute, else relative to the repo root."""
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def resolve_input(path: str | Path) -> Path:
    """An input file's path: as given where it exists (absolute, or from the current folder: probe AF's relative
    --corpus-file given from another folder was looked for under the repo root), else :func:`resolve`'s."""
    return Path(path) if Path(path).exists() else resolve(path)


def data_root(data_dir: str = "", need: str = "power_terms") -> Path:
    """The data root: ``data_dir`` if given, else ``$DATA_DIR``, else ``<repo>/data``.

    Args:
        need: a folder the root must hold (``power_terms``, ``ner``, ``corpus``).
    Raises:
        FileNotFoundError: the folder has no ``need/`` (with a hint to create the
            link ``data/<need> -> ../shared/data/<need>``).
    """
    root = resolve(data_dir or os.environ.get("DATA_DIR", "") or "data")
    if need and not (root / need).is_dir():
        raise FileNotFoundError(
            f"{root / need} not found: pass --data-dir, set DATA_DIR, or link "
            f"data/{need} -> ../shared/data/{need}")
    return root


def load_corpus(path: str | Path, max_chars: int = 0) -> list[str]:
    """Non-empty stripped lines of a corpus file, optionally cut after ``max_chars``.

    Raises:
        FileNotFoundError / ValueError: missing file or invalid UTF-8 (file and line).
    """
    lines = read_lines(path)
    if max_chars > 0:
        out, n = [], 0
        for ln in lines:
            if n >= max_chars:
                break
            out.append(ln[: max_chars - n])
            n += len(out[-1])
        lines = out
    return lines


def parse_baike_line(line: str, path: Path, lineno: int) -> tuple[str, dict]:
    """``term,"<escaped JSON>"`` -> ``(term, page dict)`` (keys title, desc, properties, img, text).

    A plain ``csv`` reader mis-splits these rows (SOURCE.md): split on the first
    comma, strip the outer quotes, undo the backslash escapes as a JSON string
    literal, then parse the JSON object.

    Raises:
        ValueError: malformed row, naming file and line.
    """
    term, sep, rest = line.partition(",")
    rest = rest.strip()
    if not sep or len(rest) < 2 or rest[0] != '"' or rest[-1] != '"':
        raise ValueError(f"{path}:{lineno}: expected term,\"<json>\", got {line[:60]!r}")
    try:
        page = json.loads(json.loads('"' + rest[1:-1] + '"'))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{lineno}: bad escaped JSON: {err}") from err
    if not isinstance(page, dict):
        raise ValueError(f"{path}:{lineno}: JSON is not an object")
    return term, page


def load_baike_texts(folder: str | Path) -> list[str]:
    """The ``text`` field of every page in ``ac-code/*.csv``, split into lines."""
    folder = Path(folder)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv under {folder}")
    out: list[str] = []
    for path in files:
        # split on "\n" only: page texts hold U+2028, which str.splitlines() would split on
        for i, line in enumerate(read_utf8(path).split("\n"), 1):
            if line.strip():
                _, page = parse_baike_line(line, path, i)
                out.extend(s.strip() for s in str(page.get("text", "")).splitlines() if s.strip())
    return out


def load_gold(power_dir: str | Path) -> set[str]:
    """Unique terms of ``bupt_electric_power/entities-base/*.txt`` (4,051 on the real data).

    Raises:
        FileNotFoundError: no entity files.
    """
    folder = Path(power_dir) / "bupt_electric_power" / "entities-base"
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no gold entity files (*.txt) under {folder}")
    gold: set[str] = set()
    for path in files:
        gold.update(read_lines(path))
    return gold


# Separators of a term list typed on the command line: the ASCII comma (already split by common.config),
# the full-width comma and the enumeration comma that Chinese keyboards type (开关柜，套管 / 开关柜、套管).
TERM_SEPARATORS = re.compile(r"[,，、]")


def split_terms(items: list[str]) -> list[str]:
    """``items`` split at :data:`TERM_SEPARATORS`, stripped, blanks dropped, order kept (no de-duplication)."""
    return [t.strip() for item in items for t in TERM_SEPARATORS.split(item) if t.strip()]


def load_seeds(path: str | Path | None, extra: list[str] | None = None) -> list[str]:
    """Seed terms from a file (one per line, ``#`` comments) plus ``extra``, de-duplicated.

    ``extra`` items are split at ``,``, ``，`` and ``、`` (:func:`split_terms`).

    Raises:
        FileNotFoundError / ValueError: as ``read_utf8``; ValueError when no seed is left.
    """
    seeds = [ln for ln in read_lines(path) if not ln.startswith("#")] if path else []
    seeds += split_terms(list(extra or []))
    seeds = list(dict.fromkeys(s.strip() for s in seeds if s.strip()))
    if not seeds:
        raise ValueError(f"no seed terms in {path} or --seeds")
    return seeds


# ------------------------------------------------------------------ domains
# A domain = an unlabelled corpus to mine + a gold term list used only by evaluation.
# "power" is the task itself; "cmeee" is the second domain that checks that the
# defaults chosen on power's tuning half carry over without retuning.
CMEEE_FILE = "ner/cmeee_v2/CMeEE-V2_dev.json"
DOMAIN_SEEDS = {"power": "competitions/power_terms/seeds.txt",
                "cmeee": "competitions/power_terms/seeds_medical.txt"}


def load_cmeee(path: str | Path) -> tuple[list[str], set[str]]:
    """CMeEE-V2 texts (one per record) and the set of annotated entity mentions.

    The file is one JSON array of ``{"text", "entities": [{"entity", ...}]}``
    (``data/ner/cmeee_v2/SOURCE.md``; the dev split: 5,000 texts, 270 k chars).

    Raises:
        FileNotFoundError / ValueError: missing file, invalid UTF-8 or JSON, or a
            record without ``text`` (names the file and the record).
    """
    path = Path(path)
    try:
        records = json.loads(read_utf8(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from err
    texts, gold = [], set()
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not isinstance(r.get("text"), str):
            raise ValueError(f"{path}: record {i} has no 'text' string")
        texts.extend(s.strip() for s in r["text"].splitlines() if s.strip())
        gold.update(e["entity"].strip() for e in r.get("entities", []) if e.get("entity", "").strip())
    return texts, gold


def domain_corpus(domain: str, root: Path, corpus: str = "") -> tuple[Path, list[str]]:
    """``(path, lines)`` of a domain's corpus under the data root ``root``.

    Raises:
        ValueError: unknown domain; FileNotFoundError / ValueError from the readers.
    """
    if domain == "power":
        path = root / "power_terms" / (corpus or "lionztt_power/data/五通一措去重语料.csv")
        return path, read_lines(path)
    if domain == "cmeee":
        path = root / CMEEE_FILE
        return path, load_cmeee(path)[0]
    raise ValueError(f"unknown domain {domain!r}; known: power, cmeee")


def domain_gold(domain: str, root: Path) -> set[str]:
    """The gold term set of a domain (evaluation only).

    power: the BUPT entity base (4,051 terms); cmeee: the unique entity mentions
    annotated in CMeEE-V2 dev (13,695).
    """
    if domain == "power":
        return load_gold(root / "power_terms")
    if domain == "cmeee":
        return load_cmeee(root / CMEEE_FILE)[1]
    raise ValueError(f"unknown domain {domain!r}; known: power, cmeee")
