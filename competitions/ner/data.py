"""NER data: presets and bring-your-own files -> spans -> per-character model inputs.

Data options (``NerConfig``; the flags of train and predict):

- ``--data-dir DIR``: the folder holding the files;
- ``--train-file``, ``--dev-file``, ``--test-file``: relative to ``--data-dir`` unless
  absolute (the test file is optional: no test prediction without it);
- ``--format {bio,bmes,bme,cluener,uer-tsv,cmeee}`` (``--train-format`` when the train
  file differs: People's Daily's is UER's TSV); see :data:`FORMATS`;
- ``--strict-tags false``: repair invalid tag sequences (conlleval's way) instead of
  raising, logging the count and the first ``file:line``;
- ``--strip-segment-digit true``: Weibo "2nd" files write each character followed by
  its position in the word (``科0``);
- ``--dev-holdout N``: no dev file; the first N records of the train file are the dev set.

A new BIO corpus trains with flags only::

    python -m competitions.ner.train --format bio --data-dir X --train-file a.txt --dev-file b.txt

``--dataset NAME`` picks a preset of :data:`PRESETS`: a plain dict of defaults for the
flags above, which explicit flags (and ``--config`` files) override. Without
``--dataset`` and without ``--train-file``, a ``--data-dir`` that is a preset's folder (its
own, or a copy named after it, e.g. ``my/cluener``) holding its default train and dev files
is recognised as that preset; a folder of one's own files is not, whatever their names. The resolved options are written into the run's ``config.json``, so a
saved run needs no preset to predict.

=============  ========================================================  ==============================
preset         files (in ``data_dir``)                                   notes
=============  ========================================================  ==============================
cluener        data/ner/cluener/{train,dev,test}.json                    test unlabelled; CLUENER output
people_daily   data/ner/people_daily/uer_py_test_data/train.tsv,         only 1,000 train sentences exist
               example.{dev,test}
weibo          data/ner/weibo/weiboNER_2nd_conll.{train,dev,test}        2nd (revised) annotation
resume         data/ner/resume/{train,dev,test}.char.bmes                BMES
power          data/power_terms/bupt_electric_power/ner-data/            B-/M-/E-, CRLF; dev == test
               {train,dev,test}.txt
cmeee          data/ner/cmeee_v2/CMeEE-V2_{dev,test}.json                nested; no train file: the first
                                                                         1,000 dev records are dev, the
                                                                         other 4,000 train
=============  ========================================================  ==============================

Released Resume, Weibo and power files hold a few invalid tag sequences (an entity
cut by a sentence break, ``B-X`` then ``O``...): their presets read them with
``strict_tags = false``.

Model inputs: one token per character (lower-cased; unknown characters are
``[UNK]``), ``[CLS] chars [SEP]``, so character ``i`` is token ``i + 1``. A text
longer than ``max_length`` characters is cut into consecutive pieces; predictions
are put back together per text by :func:`merge_piece_spans`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from common.ner.readers import read_cluener, read_cmeee, read_tagged, read_tsv_tagged
from common.ner.spans import NerExample, Span, flatten_spans, nested_share, spans_to_bio

logger = logging.getLogger("ner.data")

# --format: what each name reads (common/ner/readers.py).
FORMATS: dict[str, str] = {
    "bio": "one 'CHAR TAG' line per character, blank line between sentences; B-/I-/O tags",
    "bmes": "one 'CHAR TAG' line per character; B-/M-(or I-)/E-/S-/O tags",
    "bme": "one 'CHAR TAG' line per character; B-/M-/E-/O tags without S- (power-domain set): "
           "a B- not closed by E- is a one-character entity",
    "cluener": "CLUENER2020 JSON lines: {id?, text, label?: {type: {mention: [[start, end]]}}}",
    "uer-tsv": "UER's 'text_a<TAB>label' file: a header, then space-separated characters and BIO tags",
    "cmeee": "CMeEE one JSON array of {text, entities: [{start_idx, end_idx, type, entity}]}; nested",
}

# Presets: defaults for the data options, plain dicts (a key per NerConfig field).
PRESETS: dict[str, dict[str, Any]] = {
    "cluener": {"data_dir": "data/ner/cluener", "train_file": "train.json", "dev_file": "dev.json",
                "test_file": "test.json", "format": "cluener"},
    "people_daily": {"data_dir": "data/ner/people_daily", "train_file": "uer_py_test_data/train.tsv",
                     "train_format": "uer-tsv", "dev_file": "example.dev", "test_file": "example.test",
                     "format": "bio"},
    "weibo": {"data_dir": "data/ner/weibo", "train_file": "weiboNER_2nd_conll.train",
              "dev_file": "weiboNER_2nd_conll.dev", "test_file": "weiboNER_2nd_conll.test", "format": "bio",
              "strip_segment_digit": True, "strict_tags": False},
    "resume": {"data_dir": "data/ner/resume", "train_file": "train.char.bmes", "dev_file": "dev.char.bmes",
               "test_file": "test.char.bmes", "format": "bmes", "strict_tags": False},
    "power": {"data_dir": "data/power_terms/bupt_electric_power/ner-data", "train_file": "train.txt",
              "dev_file": "dev.txt", "test_file": "test.txt", "format": "bme"},
    "cmeee": {"data_dir": "data/ner/cmeee_v2", "train_file": "CMeEE-V2_dev.json", "dev_file": "",
              "test_file": "CMeEE-V2_test.json", "format": "cmeee", "dev_holdout": 1000},
}
PRESET_NOTES: dict[str, str] = {
    "people_daily": "example.train is missing: trained on its first 1,000 sentences",
    "power": "dev.txt and test.txt are the same file",
    "cmeee": "CMeEE-V2_train.json is missing: trained on dev records 1000+, scored on dev 0-999",
}
# Values of the data options that neither a flag nor a preset set.
DATA_DEFAULTS: dict[str, Any] = {"data_dir": ".", "train_file": "", "dev_file": "", "test_file": "",
                                 "format": "", "train_format": "", "strict_tags": True,
                                 "strip_segment_digit": False, "dev_holdout": 0}


def _unset(value: Any) -> bool:
    return value is None or value == ""


def detect_preset(data_dir: str | Path) -> str:
    """The preset whose folder ``data_dir`` is ("" when none): its own ``data_dir``, or a folder named after the
    preset (a copy, e.g. ``my/cluener``), holding the preset's default train and dev files.

    File names alone do not say it: ``train.txt`` and ``dev.txt`` are the power preset's, and any folder of
    one's own BIO files; detected as the preset, such a folder was read in its format (BME), named ``power``
    and warned about with the preset's note.
    """
    root = Path(data_dir)
    for name, preset in PRESETS.items():
        files = [preset["train_file"]] + ([preset["dev_file"]] if preset.get("dev_file") else [])
        own = root.resolve() == Path(preset["data_dir"]).resolve() or root.resolve().name == name
        if own and all((root / f).is_file() for f in files):
            return name
    return ""


def resolve_data_options(config: Any) -> Any:
    """Fill ``config``'s unset data options (in place) from its preset, then from :data:`DATA_DEFAULTS`.

    Precedence: explicit flags / ``--config`` values, then ``--dataset``'s preset, then
    (no ``--dataset`` and no ``--train-file``) the preset detected in ``--data-dir`` by
    :func:`detect_preset`. ``config.dataset`` is set to the preset used ("" for none).

    Returns:
        ``config``.

    Raises:
        ValueError: an unknown preset or format, or no train file, dev file or format
            (one line naming the flags to give).
    """
    if config.dataset and config.dataset not in PRESETS:
        raise ValueError(f"unknown --dataset {config.dataset!r}; presets: {sorted(PRESETS)} "
                         "(or give --data-dir/--train-file/--dev-file/--format)")
    if not config.dataset and _unset(config.train_file) and not _unset(config.data_dir):
        config.dataset = detect_preset(config.data_dir)
        if config.dataset:
            logger.info("%s holds the %s preset's files: using its defaults", config.data_dir, config.dataset)
    preset = PRESETS.get(config.dataset, {})
    for name, default in DATA_DEFAULTS.items():
        if _unset(getattr(config, name)):
            setattr(config, name, preset.get(name, default))
    for name in ("format", "train_format"):
        value = getattr(config, name)
        if value and value not in FORMATS:
            raise ValueError(f"--{name.replace('_', '-')} {value!r}: expected one of {sorted(FORMATS)}")
    missing = [flag for flag, value in (("--train-file", config.train_file), ("--format", config.format))
               if not value]
    if not config.dev_file and not config.dev_holdout:
        missing.append("--dev-file (or --dev-holdout N)")
    if missing:
        raise ValueError(f"no {', '.join(missing)}: give them with --data-dir, or --dataset PRESET "
                         f"(presets: {sorted(PRESETS)})")
    return config


def data_path(config: Any, file: str) -> Path:
    """``file`` relative to ``config.data_dir`` unless absolute."""
    path = Path(file)
    return path if path.is_absolute() else Path(config.data_dir) / path


def read_examples(path: str | Path, fmt: str, strict: bool = True,
                  strip_segment_digit: bool = False, labelled: bool = True) -> list[NerExample]:
    """Read one NER file in format ``fmt`` (a key of :data:`FORMATS`).

    Args:
        labelled: False for a test file: the character-per-line and UER formats also take characters
            without tags (the JSON formats take records without labels either way).
        strict: tagged formats (bio, bmes): raise on an invalid tag sequence; when False,
            repair it and log the count and the first ``file:line``.
        strip_segment_digit: bio/bmes: drop the word-position digits after each character.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown format.
        common.ner.readers.NerDataError: a malformed file (naming ``file:line``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NER data file not found: {path}")
    if fmt in ("bio", "bmes"):
        return read_tagged(path, scheme=fmt, strip_segment_digit=strip_segment_digit, strict=strict,
                           labelled=labelled)
    if fmt == "bme":
        return read_tagged(path, scheme="bmes", strip_segment_digit=strip_segment_digit, strict=False,
                           labelled=labelled)
    if fmt == "uer-tsv":
        return read_tsv_tagged(path, labelled=labelled)
    if fmt == "cluener":
        return read_cluener(path)
    if fmt == "cmeee":
        return read_cmeee(path)
    raise ValueError(f"unknown NER format {fmt!r}; expected one of {sorted(FORMATS)}")


def load_splits(config: Any, splits: Sequence[str] = ("train", "dev", "test")) -> dict[str, list[NerExample]]:
    """The examples of ``splits`` under ``config``'s resolved data options (:func:`resolve_data_options`).

    ``test`` is ``[]`` when there is no test file; train and dev keep their first ``config.limit``
    examples when ``limit > 0`` (the test file is always read whole: a prediction covers all of it). With ``dev_holdout = N`` the dev set is
    the first N records of the train file and the train set the rest.

    Raises:
        FileNotFoundError: a split file is missing (naming the flag and path).
        common.ner.readers.NerDataError: a malformed file.
    """
    out: dict[str, list[NerExample]] = {}
    holdout: list[NerExample] | None = None
    for split in splits:
        file = getattr(config, f"{split}_file")
        if split == "test" and not file:
            out[split] = []
            continue
        fmt = (config.train_format or config.format) if split == "train" or (
            split == "dev" and config.dev_holdout) else config.format
        if split == "dev" and config.dev_holdout:
            file = config.train_file
        path = data_path(config, file)
        if not path.is_file():
            raise FileNotFoundError(f"--{split}-file: {path} not found (relative to --data-dir {config.data_dir})")
        if split in ("train", "dev") and config.dev_holdout:
            holdout = holdout if holdout is not None else read_examples(
                path, fmt, config.strict_tags, config.strip_segment_digit)
            out[split] = holdout[config.dev_holdout:] if split == "train" else holdout[:config.dev_holdout]
        else:
            out[split] = read_examples(path, fmt, config.strict_tags, config.strip_segment_digit,
                                       labelled=split != "test")
    note = PRESET_NOTES.get(config.dataset)
    if note and "train" in splits:
        logger.warning("%s: %s", config.dataset, note)
    if config.limit:
        out = {k: v if k == "test" else v[:config.limit] for k, v in out.items()}
    return out


DECODINGS = ("auto", "flat", "nested")
NESTED_SHARE = 0.01  # auto decoding: nested above this share of training texts with overlapping gold spans


def check_decoding(decoding: str, allow_auto: bool = True) -> None:
    """Raises ValueError: ``decoding`` is not one of :data:`DECODINGS` (``auto`` only where ``allow_auto``)."""
    allowed = DECODINGS if allow_auto else DECODINGS[1:]
    if decoding not in allowed:
        raise ValueError(f"--decoding {decoding!r}: expected one of {', '.join(allowed)}")


def resolve_decoding(config: Any, train: list[NerExample]) -> None:
    """``config.decoding`` resolved in place: ``auto`` is ``nested`` when more than :data:`NESTED_SHARE` of the
    training texts hold gold spans that share a character (:func:`common.ner.spans.nested_share`: CMeEE 35%),
    else ``flat`` (BIO, BMES, CLUENER's one slip in 10,748 texts, a user's flat files), and saved so in
    config.json. Raises ValueError: an unknown value."""
    check_decoding(config.decoding)
    if config.decoding == "auto":
        share = nested_share(train)
        config.decoding = "nested" if share > NESTED_SHARE else "flat"
        logger.info("decoding: %s (%.2f%% of the training texts hold overlapping entities)", config.decoding,
                    100 * share)


def check_training_data(config: Any, data: dict[str, list[NerExample]]) -> list[str]:
    """Refuse train and dev sets a run cannot learn from or choose its epoch on, before a run folder exists.

    Returns:
        The warnings to log once the run's ``train.log`` exists: dev entity types the train sentences lack (the
        model cannot predict them), or none.

    Raises:
        ValueError: no train sentence (an empty file, or ``--dev-holdout`` taking them all), no entity in the
            train sentences, no dev sentence, or no entity in the dev sentences (micro-F1 would be 0 at every
            epoch); each naming the file and the option.
    """
    holdout = config.dev_holdout
    for split in ("train", "dev"):
        flag = "--train-file" if split == "train" or holdout else "--dev-file"
        where = f"{flag} {data_path(config, config.train_file if flag == '--train-file' else config.dev_file)}"
        examples = data.get(split, [])
        if not examples:
            left = (f": --dev-holdout {holdout} takes every sentence, none is left to train on" if holdout and
                    split == "train" else f": no {split} sentence")
            raise ValueError(where + left)
        if not any(ex.spans for ex in examples):
            use = ("nothing to learn" if split == "train" else
                   "micro-F1 is 0 at every epoch and cannot choose one (give a dev set with entities)")
            part = f"the first {holdout} sentences (--dev-holdout)" if split == "dev" and holdout else \
                f"its {len(examples)} {split} sentences"
            raise ValueError(f"{where}: {part} hold no entity: {use}")
    types = {split: {s.type for ex in data[split] for s in ex.spans} for split in ("train", "dev")}
    unseen = sorted(types["dev"] - types["train"])  # the model has no output for them: each such entity is missed
    warnings = [f"dev entity types absent from the train sentences, so never predicted: {', '.join(unseen)}"] \
        if unseen else []
    total, wide, cut = untrainable_spans(config, data["train"])
    if wide + cut:  # probe AE: --max-span-width 1 on 2-4 character entities trained to F1 0 without a word
        why = ", ".join(part for part in (
            f"{wide} wider than --max-span-width {config.max_span_width}" if wide else "",
            f"{cut} across a piece boundary (--max-length {config.max_length} characters a piece)" if cut else "")
            if part)
        where = f"--train-file {data_path(config, config.train_file)}"
        if wide + cut == total:
            raise ValueError(f"{where}: none of its {total} entities can be a training target ({why}): nothing to "
                             "learn")
        if wide + cut >= UNTRAINABLE_WARNING * total:
            warnings.append(f"{wide + cut} of the {total} train entities are not training targets ({why}): the "
                            "model cannot predict them")
    return warnings


UNTRAINABLE_WARNING = 0.05  # the share of train entities out of the targets that is warned about (a heuristic)


def untrainable_spans(config: Any, examples: Sequence[NerExample]) -> tuple[int, int, int]:
    """``(total, wide, cut)``: the gold spans of ``examples``, those the span heads cannot score (GP/EGP with
    ``max_span_width`` > 0: more characters than it), and those that cross a piece boundary (texts are cut every
    ``max_length`` characters, :class:`NerDataset`) and so are in no piece's targets. A span counts once, as cut
    first."""
    width = config.max_span_width if config.head in ("gp", "egp") else 0
    total = wide = cut = 0
    for ex in examples:
        for s in ex.spans:
            total += 1
            if s.start // config.max_length != s.end // config.max_length:
                cut += 1
            elif width and s.end - s.start + 1 > width:
                wide += 1
    return total, wide, cut


def dataset_name(config: Any) -> str:
    """The preset's name, else the data folder's name (for run and submission names)."""
    return config.dataset or Path(config.data_dir).resolve().name


def entity_types(examples: Sequence[NerExample]) -> list[str]:
    """Sorted entity types of ``examples``."""
    return sorted({s.type for ex in examples for s in ex.spans})


def bio_tags(types: Sequence[str]) -> list[str]:
    """The CRF's tag set: ``O`` then ``B-t``, ``I-t`` for each type."""
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def char_ids(text: str, vocab: dict[str, int], unk_id: int) -> list[int]:
    """One token id per character (lower-cased first; ``unk_id`` when unknown)."""
    return [vocab.get(c.lower(), vocab.get(c, unk_id)) for c in text]


@dataclass
class Piece:
    """A window of one NER text: at most ``max_length`` characters starting at ``offset`` (long texts are split)."""

    example: int  # index of the text in the dataset's examples
    offset: int  # character offset of the piece in the text
    length: int


class NerDataset(Dataset):
    """Pieces of at most ``max_length`` characters, tokenised per character.

    Each item: ``input_ids`` ([CLS] chars [SEP]), ``span_labels`` list of
    ``(start, end, type_id)`` within the piece, and ``tag_labels`` (BIO ids, the
    flattened spans: a CRF cannot hold nested ones). Spans crossing a piece
    boundary, and spans of types not in ``types``, are dropped from the targets (but
    stay in ``examples`` for scoring). ``lengths``: each piece's token count, for
    length-grouped training and shortest-first inference (:mod:`common.training.inference`).
    """

    def __init__(self, examples: Sequence[NerExample], tokenizer, types: Sequence[str], max_length: int) -> None:
        self.examples = list(examples)
        self.types = list(types)
        type_id = {t: i for i, t in enumerate(self.types)}
        tag_id = {t: i for i, t in enumerate(bio_tags(self.types))}
        vocab = tokenizer.get_vocab()
        cls_id, sep_id, unk_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id
        self.pieces: list[Piece] = []
        self.items: list[dict] = []
        dropped = nested = 0
        for index, ex in enumerate(self.examples):
            ids = char_ids(ex.text, vocab, unk_id)
            for offset in range(0, len(ex.text), max_length):
                n = min(max_length, len(ex.text) - offset)
                inside = [s for s in ex.spans if offset <= s.start and s.end < offset + n and s.type in type_id]
                dropped += sum(1 for s in ex.spans if offset <= s.start < offset + n) - len(inside)
                local = [Span(s.start - offset, s.end - offset, s.type) for s in inside]
                flat = flatten_spans(local)
                nested += len(local) - len(flat)
                tags = spans_to_bio(flat, n)
                self.pieces.append(Piece(index, offset, n))
                self.items.append({"input_ids": [cls_id] + ids[offset:offset + n] + [sep_id],
                                   "span_labels": sorted({(s.start, s.end, type_id[s.type]) for s in local}),
                                   "tag_labels": [tag_id[t] for t in tags]})
        self.lengths = [len(item["input_ids"]) for item in self.items]
        if dropped:
            logger.info("%d gold spans cross a piece boundary or have an unknown type: not in the targets", dropped)
        if nested:  # a tag sequence holds one entity a character (probe Z2: a CRF scored F1 0 on a nested type)
            logger.info("%d gold spans overlap a longer one: not in the tag targets (the CRF head's; the span heads "
                        "keep them)", nested)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def collate(items: list[dict], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad to the longest piece.

    Returns:
        ``input_ids``, ``attention_mask``: (B, T + 2); ``span_labels``: (B, S, 3) long,
        rows of -1 as padding (S >= 1); ``tag_labels``: (B, T) long, 0 (``O``) as padding.
    """
    L = max(len(it["input_ids"]) for it in items)
    S = max(1, max(len(it["span_labels"]) for it in items))
    T = L - 2
    batch = {
        "input_ids": torch.tensor([it["input_ids"] + [pad_id] * (L - len(it["input_ids"])) for it in items]),
        "attention_mask": torch.tensor([[1] * len(it["input_ids"]) + [0] * (L - len(it["input_ids"]))
                                        for it in items]),
        "span_labels": torch.tensor([list(map(list, it["span_labels"])) + [[-1, -1, -1]] * (S - len(it["span_labels"]))
                                     for it in items], dtype=torch.long).view(len(items), S, 3),
        "tag_labels": torch.tensor([it["tag_labels"] + [0] * (T - len(it["tag_labels"])) for it in items]),
    }
    return batch


def merge_piece_spans(dataset: NerDataset, piece_spans: Sequence[Sequence[Sequence[int]]]) -> list[list[Span]]:
    """Per-piece ``(start, end, type_id)`` rows (-1 rows ignored) -> per-text spans in text offsets.

    Args:
        piece_spans: one (K, 3) array/list per piece, in the dataset's piece order.

    Returns:
        One sorted list of :class:`Span` per example of ``dataset`` (empty texts get []).
    """
    if len(piece_spans) != len(dataset.pieces):
        raise ValueError(f"{len(piece_spans)} piece outputs for {len(dataset.pieces)} pieces")
    out: list[set[Span]] = [set() for _ in dataset.examples]
    for piece, rows in zip(dataset.pieces, piece_spans):
        for start, end, t in rows:
            if start < 0:
                continue
            out[piece.example].add(Span(int(start) + piece.offset, int(end) + piece.offset, dataset.types[int(t)]))
    return [sorted(s) for s in out]
