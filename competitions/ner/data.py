"""NER datasets -> spans -> per-character model inputs.

Registered datasets (``--dataset``), paths relative to ``--data-root``:

=============  ==========================================================  ===========================
name           files                                                       notes
=============  ==========================================================  ===========================
cluener        ner/cluener/{train,dev,test}.json                           test unlabelled; CLUENER output
people_daily   ner/people_daily/uer_py_test_data/train.tsv, example.{dev,test}   only 1,000 train sentences exist
weibo          ner/weibo/weiboNER_2nd_conll.{train,dev,test}               2nd (revised) annotation
resume         ner/resume/{train,dev,test}.char.bmes                       BMES
power          power_terms/bupt_electric_power/ner-data/{train,dev,test}.txt   B-/M-/E-, CRLF; dev == test
cmeee          ner/cmeee_v2/CMeEE-V2_{dev,test}.json                       nested; no train file: the first
                                                                           1,000 dev records are dev, the
                                                                           other 4,000 train
=============  ==========================================================  ===========================

Released Resume, Weibo and power files hold a few invalid tag sequences (an entity
cut by a sentence break, ``B-X`` then ``O``...): they are read with ``strict=False``,
which repairs them and logs the count and the first ``file:line``.

Model inputs: one token per character (lower-cased; unknown characters are
``[UNK]``), ``[CLS] chars [SEP]``, so character ``i`` is token ``i + 1``. A text
longer than ``max_length`` characters is cut into consecutive pieces; predictions
are put back together per text by :func:`merge_piece_spans`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from common.ner.readers import read_cluener, read_cmeee, read_tagged, read_tsv_tagged
from common.ner.spans import NerExample, Span, flatten_spans, spans_to_bio

logger = logging.getLogger("ner.data")

Reader = Callable[[Path], list[NerExample]]


@dataclass(frozen=True)
class SplitFile:
    path: str  # relative to the data root
    reader: Reader
    labelled: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    train: SplitFile
    dev: SplitFile
    test: SplitFile
    output_format: str = "spans"  # "cluener" | "spans"
    dev_holdout: int = 0  # > 0: no train file; the first N records of `train` are the dev set
    note: str = ""


_bmes = partial(read_tagged, scheme="bmes", strict=False)
_weibo = partial(read_tagged, scheme="bio", strip_segment_digit=True, strict=False)
_bio = partial(read_tagged, scheme="bio")

DATASETS: dict[str, DatasetSpec] = {
    "cluener": DatasetSpec(SplitFile("ner/cluener/train.json", read_cluener),
                           SplitFile("ner/cluener/dev.json", read_cluener),
                           SplitFile("ner/cluener/test.json", read_cluener, labelled=False), "cluener"),
    "people_daily": DatasetSpec(SplitFile("ner/people_daily/uer_py_test_data/train.tsv", read_tsv_tagged),
                                SplitFile("ner/people_daily/example.dev", _bio),
                                SplitFile("ner/people_daily/example.test", _bio),
                                note="example.train is missing: trained on its first 1,000 sentences"),
    "weibo": DatasetSpec(SplitFile("ner/weibo/weiboNER_2nd_conll.train", _weibo),
                         SplitFile("ner/weibo/weiboNER_2nd_conll.dev", _weibo),
                         SplitFile("ner/weibo/weiboNER_2nd_conll.test", _weibo)),
    "resume": DatasetSpec(SplitFile("ner/resume/train.char.bmes", _bmes),
                          SplitFile("ner/resume/dev.char.bmes", _bmes),
                          SplitFile("ner/resume/test.char.bmes", _bmes)),
    "power": DatasetSpec(SplitFile("power_terms/bupt_electric_power/ner-data/train.txt", _bmes),
                         SplitFile("power_terms/bupt_electric_power/ner-data/dev.txt", _bmes),
                         SplitFile("power_terms/bupt_electric_power/ner-data/test.txt", _bmes),
                         note="dev.txt and test.txt are the same file"),
    "cmeee": DatasetSpec(SplitFile("ner/cmeee_v2/CMeEE-V2_dev.json", read_cmeee),
                         SplitFile("ner/cmeee_v2/CMeEE-V2_dev.json", read_cmeee),
                         SplitFile("ner/cmeee_v2/CMeEE-V2_test.json", read_cmeee, labelled=False),
                         dev_holdout=1000,
                         note="CMeEE-V2_train.json is missing: trained on dev records 1000+, scored on dev 0-999"),
}


def load_dataset(name: str, data_root: str | Path, limit: int = 0) -> dict[str, list[NerExample]]:
    """``{"train", "dev", "test"}`` examples of a registered dataset.

    Raises:
        KeyError: an unknown name (listing the known ones).
        FileNotFoundError: a split file is missing.
        common.ner.readers.NerDataError: a malformed file.
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    spec = DATASETS[name]
    root = Path(data_root)
    out = {}
    for split in ("train", "dev", "test"):
        sf: SplitFile = getattr(spec, split)
        path = root / sf.path
        if not path.is_file():
            raise FileNotFoundError(f"{name} {split} file not found: {path} (is {root} the data root?)")
        out[split] = sf.reader(path)
    if spec.dev_holdout:
        n = spec.dev_holdout
        out["train"], out["dev"] = out["train"][n:], out["dev"][:n]
    if spec.note:
        logger.warning("%s: %s", name, spec.note)
    if limit:
        out = {k: v[:limit] for k, v in out.items()}
    return out


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
    example: int  # index of the text in the dataset's examples
    offset: int  # character offset of the piece in the text
    length: int


class NerDataset(Dataset):
    """Pieces of at most ``max_length`` characters, tokenised per character.

    Each item: ``input_ids`` ([CLS] chars [SEP]), ``span_labels`` list of
    ``(start, end, type_id)`` within the piece, and ``tag_labels`` (BIO ids, the
    flattened spans: a CRF cannot hold nested ones). Spans crossing a piece
    boundary, and spans of types not in ``types``, are dropped from the targets (but
    stay in ``examples`` for scoring).
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
        dropped = 0
        for index, ex in enumerate(self.examples):
            ids = char_ids(ex.text, vocab, unk_id)
            for offset in range(0, len(ex.text), max_length):
                n = min(max_length, len(ex.text) - offset)
                inside = [s for s in ex.spans if offset <= s.start and s.end < offset + n and s.type in type_id]
                dropped += sum(1 for s in ex.spans if offset <= s.start < offset + n) - len(inside)
                local = [Span(s.start - offset, s.end - offset, s.type) for s in inside]
                tags = spans_to_bio(flatten_spans(local), n)
                self.pieces.append(Piece(index, offset, n))
                self.items.append({"input_ids": [cls_id] + ids[offset:offset + n] + [sep_id],
                                   "span_labels": sorted({(s.start, s.end, type_id[s.type]) for s in local}),
                                   "tag_labels": [tag_id[t] for t in tags]})
        if dropped:
            logger.info("%d gold spans cross a piece boundary or have an unknown type: not in the targets", dropped)

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
