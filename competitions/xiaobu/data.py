"""Xiaobu raw files -> id pairs, the fixed validation split, model inputs.

Competition format (GAIIC 2021 track 3, and ``data/xiaobu/desensitized_oppo/``)::

    train:  1320 1722 290 1945<TAB>1320 1722 1993 290<TAB>1
    test:   12 23 4160 276<TAB>29 23 169 1495

Each side is a space-separated list of positive integer ids (desensitized
characters). Every line is one pair; a test file's line order is the submission's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset

from common.data_files import iter_lines
from common.id_vocab import IdVocab
from common.match_features import exact_match_flags
from common.pretraining import NgramMaskingCollator, encode_pair, example_uniform

LABEL_TOKENS = ("[LABEL0]", "[LABEL1]")  # reserved vocabulary tokens of the joint variant


@dataclass
class Pair:
    a: list[int]
    b: list[int]
    label: int | None = None  # 0/1, None when unlabelled
    id: str = ""  # "train:<line index>" / "test:<line index>" (set by the task)


class DataError(ValueError):
    """A malformed data line; the message names file, line number and what was expected."""


def _parse_ids(text: str, where: str, side: str) -> list[int]:
    tokens = text.split(" ")
    if not text or any(t == "" for t in tokens):
        raise DataError(f"{where}: {side} sentence is empty or has a doubled/trailing space, "
                        "expected space-separated integer ids")
    try:
        ids = [int(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise DataError(f"{where}: {side} sentence holds {bad!r}, expected integer ids") from None
    if min(ids) < 0:
        raise DataError(f"{where}: {side} sentence holds a negative id {min(ids)}, expected ids >= 0")
    return ids


def read_pairs(path: str | Path, labelled: bool | None, limit: int = 0) -> list[Pair]:
    """Read a pair file.

    Args:
        path: a TSV file, one pair a line.
        labelled: True: exactly 3 columns (``ids, ids, label``); False: exactly 2;
            None: either (a label, when present, is checked and kept).
        limit: > 0 reads only the first ``limit`` lines.

    Raises:
        FileNotFoundError: no such file.
        DataError: invalid UTF-8, a wrong column count, an empty side, a non-integer id,
            a label other than 0/1, or an empty file, naming ``path:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pair file not found: {path}")
    want = {True: "3 columns (ids, ids, label)", False: "2 columns (ids, ids)",
            None: "2 or 3 columns (ids, ids[, label])"}[labelled]
    allowed = {True: (3,), False: (2,), None: (2, 3)}[labelled]
    pairs = []
    for lineno, line in iter_lines(path, DataError):
        if limit and lineno > limit:
            break
        where = f"{path}:{lineno}"
        cols = line.split("\t")
        if len(cols) not in allowed:
            raise DataError(f"{where}: {len(cols)} tab-separated columns, expected {want}")
        a, b = _parse_ids(cols[0], where, "first"), _parse_ids(cols[1], where, "second")
        label = None
        if len(cols) == 3:
            if cols[2].strip() not in ("0", "1"):
                raise DataError(f"{where}: label {cols[2]!r}, expected 0 or 1")
            label = int(cols[2])
        pairs.append(Pair(a, b, label))
    if not pairs:
        raise DataError(f"{path}: no pairs in the file")
    return pairs


def resolve(data_dir: str | Path, name: str) -> Path:
    """``name`` under ``data_dir``, or ``name`` itself when absolute."""
    path = Path(name)
    return path if path.is_absolute() else Path(data_dir) / name


def count_lines(path: str | Path) -> int:
    """Number of lines of a text file (the last one may lack its newline)."""
    with Path(path).open("rb") as f:
        data = f.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def split_train_valid(pairs: Sequence[Pair], valid_fraction: float,
                      seed: int) -> tuple[list[Pair], list[Pair], np.ndarray]:
    """The fixed stratified hold-out split (scikit-learn ``train_test_split``).

    Returns (train, valid, valid_indices) with the indices into ``pairs`` sorted.
    ``valid_fraction == 0`` returns all pairs as train and no valid.
    """
    if valid_fraction <= 0:
        return list(pairs), [], np.zeros(0, dtype=int)
    idx = np.arange(len(pairs))
    _, valid_idx = train_test_split(idx, test_size=valid_fraction, random_state=seed,
                                    stratify=[p.label for p in pairs])
    valid_idx = np.sort(valid_idx)
    chosen = set(valid_idx.tolist())
    return [p for i, p in enumerate(pairs) if i not in chosen], [pairs[i] for i in valid_idx], valid_idx


class PairDataset(Dataset):
    """Pairs as ``[CLS] a [SEP] b [SEP]`` vocabulary indices, with labels when known.

    Items: ``input_ids``, ``token_type_ids`` (T,) lists, ``match_ids`` (T,) with
    ``use_match`` (the exact-match bit, :mod:`common.match_features`), and ``labels``
    int (labelled pairs). With ``swap_prob > 0`` (training) the sides are swapped with a
    draw of :func:`common.pretraining.example_uniform` on (``seed``, epoch, index), so a
    resumed run at any process count swaps what the uninterrupted one swapped.
    """

    def __init__(self, pairs: Sequence[Pair], vocab: IdVocab, max_length: int, swap_prob: float = 0.0,
                 use_match: bool = False, seed: int = 0) -> None:
        self.seed, self.epoch = seed, 0
        self.pairs = list(pairs)
        self.encoded = [(vocab.encode(p.a), vocab.encode(p.b)) for p in self.pairs]
        self.cls_id, self.sep_id, self.max_length, self.swap_prob = vocab.cls_id, vocab.sep_id, max_length, swap_prob
        self.use_match, self.ignore = use_match, {vocab.unk_id, vocab.pad_id}

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Any]:
        a, b = self.encoded[index]
        if self.swap_prob > 0 and example_uniform(self.seed, self.epoch, index) < self.swap_prob:
            a, b = b, a
        item = encode_pair(a, b, self.cls_id, self.sep_id, self.max_length)
        special = item.pop("special_tokens_mask")
        if self.use_match:
            ma, mb = exact_match_flags(a, b, self.ignore)  # over the whole sides
            n_a = item["token_type_ids"].count(0) - 2  # [CLS] a [SEP]: the kept prefix of a
            n_b = len(special) - n_a - 3  # b [SEP]: the kept prefix of b
            item["match_ids"] = [0] + ma[:n_a] + [0] + mb[:n_b] + [0]
        if self.pairs[index].label is not None:
            item["labels"] = self.pairs[index].label
        return item


def collate(items: list[dict], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad :class:`PairDataset` items to the longest: (B, T) tensors and (B,) ``labels``."""
    T = max(len(it["input_ids"]) for it in items)
    batch = {"input_ids": torch.tensor([it["input_ids"] + [pad_id] * (T - len(it["input_ids"])) for it in items]),
             "token_type_ids": torch.tensor([it["token_type_ids"] + [0] * (T - len(it["token_type_ids"]))
                                             for it in items]),
             "attention_mask": torch.tensor([[1] * len(it["input_ids"]) + [0] * (T - len(it["input_ids"]))
                                             for it in items])}
    if "match_ids" in items[0]:
        batch["match_ids"] = torch.tensor([it["match_ids"] + [0] * (T - len(it["match_ids"])) for it in items])
    if "labels" in items[0]:
        batch["labels"] = torch.tensor([it["labels"] for it in items])
    return batch


class JointCollator:
    """Batches of bojone's joint variant: MLM labels everywhere, the pair label at [CLS].

    Training (``mlm`` given): n-gram masking of the text (:class:`NgramMaskingCollator`),
    and ``labels[:, 0]`` = the reserved token ``[LABEL<y>]`` for labelled pairs, -100
    (ignored) for unlabelled ones. Evaluation (``mlm`` None): no masking; only
    ``labels[:, 0]`` is set, so the loss is the classification loss.

    Items: :class:`common.pretraining.MLMPairDataset` items with a ``pair_label``
    (-1 when unknown). Returns (B, T) ``input_ids``, ``token_type_ids``,
    ``attention_mask``, ``labels``.
    """

    def __init__(self, vocab: IdVocab, mlm: NgramMaskingCollator | None = None) -> None:
        self.mlm = mlm
        self.pad_id = vocab.pad_id
        self.label_ids = torch.tensor([vocab.token_id(t) for t in LABEL_TOKENS])

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        pair_label = torch.tensor([it["pair_label"] for it in items])  # (B,)
        if self.mlm is not None:
            batch = self.mlm([{k: v for k, v in it.items() if k != "pair_label"} for it in items])
        else:
            batch = collate([{k: it[k] for k in ("input_ids", "token_type_ids")} for it in items], self.pad_id)
            batch["labels"] = torch.full_like(batch["input_ids"], -100)
        if self.mlm is None and not (pair_label >= 0).any():
            del batch["labels"]  # unlabelled evaluation batch (test): logits only
            return batch
        batch["labels"][:, 0] = torch.where(pair_label >= 0, self.label_ids[pair_label.clamp(min=0)],
                                            torch.tensor(-100))
        return batch
