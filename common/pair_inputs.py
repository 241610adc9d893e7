"""Text pairs -> ``[CLS] a [SEP] b [SEP]`` model inputs with the exact-match bit, and their padding collate.

The input side of :class:`common.pair_classifier.PairClassifier`, for any task whose
examples are two texts, an optional 0/1 label and an optional condition id. Truncation
is the tokenizer's ``longest_first`` (the longer text loses tokens first, as BERT's
GLUE scripts do) or :func:`trim_longer_first`; the match bit of every text token says whether the same token id occurs in the other
text (:func:`common.match_features.exact_match_flags`, DrQA's feature).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from common.distillation import IGNORE_INDEX
from common.id_vocab import IdVocab
from common.match_features import (exact_match_flags, ngram_match_flags, scaled_statistics, swapped_statistics,
                                   token_word_features)
from common.pretraining import encode_pair, example_uniform

# Per-token inputs beside input_ids and token_type_ids: 0/1 or row ids, 0 at the special tokens and padding
TOKEN_FEATURES = ("match_ids", "word_match_ids", "word_ids", "ngram_match_ids")


def trim_longer_first(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Cut the end of the longer side one token at a time (the first side on ties) until ``len(a) + len(b) <= budget``.

    Differs from the HF tokenizers' ``longest_first`` only when both sides are cut and
    the budget is odd: here the second side keeps the odd token, there the side that
    was longer does. (Sohu's runs were measured with this rule, as bert4keras cuts.)
    """
    while len(a) + len(b) > budget:
        if len(a) >= len(b):
            a = a[:-1]
        else:
            b = b[:-1]
    return a, b


def soft_value(value) -> float | list[float]:
    """A row's soft target as a batch item holds it: a teacher's P(label 1) as a float, or its (C,) class
    probabilities (a task of C > 2 classes) as a list; NaN marks none."""
    return float(value) if np.ndim(value) == 0 else [float(v) for v in value]


class PairDataset(Dataset):
    """Tokenised pairs, one dict per pair.

    Args:
        texts_a, texts_b: N texts each.
        labels: N int labels, or None (unlabelled); a row without one may carry -100
            (:data:`common.distillation.IGNORE_INDEX`) beside labelled rows.
        tokenizer: a HF BERT-style tokenizer (``[CLS]``/``[SEP]``, token type ids).
        max_length: tokens per pair, special tokens included.
        conditions: N int condition ids (e.g. Sohu's subtask) for a conditioned
            :class:`common.pair_classifier.PairClassifier`, or None.
        truncation: ``"longest_first"`` (the tokenizer's own) or ``"trim_longer"``
            (:func:`trim_longer_first` on the separately tokenised sides).
        soft_labels: N float teacher P(label 1) (NaN: none), for distillation; or (N, C) class probabilities of
            a task of C > 2 classes (a row of NaN: none); or None.
        use_statistics: add each pair's (13,) :func:`common.match_features.pair_statistics`
            (scaled, :func:`common.match_features.scaled_statistics`) of the two whole texts.
        use_alignment: add its (15,) :func:`common.match_features.alignment_statistics` (scaled),
            after the 13 when both are on.
        swap_prob: > 0 presents a pair as ``[CLS] b [SEP] a [SEP]`` (same kept tokens, match bits
            and statistics of the swapped pair) with a draw of
            :func:`common.pretraining.example_uniform` on (``seed``, epoch, index): a symmetric
            task's augmentation, the same at any process count and after a resume.
        seed: of the swap draws.
        word_match: add ``word_match_ids``, the exact-match bit of each token's jieba word
            (:func:`common.match_features.token_word_features`; needs a fast tokenizer's offsets).
        word_buckets: > 1 adds ``word_ids``, each token's jieba word hashed into that many rows
            (char+word inputs; the same function).

    Each item holds ``input_ids``, ``token_type_ids``, ``match_ids`` (lists of length
    T <= max_length), ``word_match_ids`` / ``word_ids`` (the same length, 0 at the special
    tokens) with ``word_match`` / ``word_buckets``, ``condition_ids`` (int) with ``conditions``, ``labels`` (int)
    when labelled, ``soft_labels`` (float) with ``soft_labels`` and ``statistics`` (S floats,
    S = 13 * ``use_statistics`` + 15 * ``use_alignment``) with either. ``lengths`` (N,) are the
    T's, for length-grouped batches and shortest-first inference.

    Raises:
        ValueError: ``texts_a``, ``texts_b`` (``labels``, ``conditions``, ``soft_labels``) of
            different lengths, an unknown ``truncation``, ``word_buckets`` 1 or negative, or word
            inputs with a tokenizer without offsets (not a fast one).
    """

    def __init__(self, texts_a: Sequence[str], texts_b: Sequence[str], labels: Sequence[int] | None,
                 tokenizer, max_length: int, conditions: Sequence[int] | None = None,
                 truncation: str = "longest_first", soft_labels: Sequence[float] | None = None,
                 use_statistics: bool = False, swap_prob: float = 0.0, seed: int = 0,
                 use_alignment: bool = False, word_match: bool = False, word_buckets: int = 0) -> None:
        n = len(texts_a)
        if len(texts_b) != n or any(x is not None and len(x) != n for x in (labels, conditions, soft_labels)):
            raise ValueError(f"{n} first texts, {len(texts_b)} second texts, "
                             f"{'no' if labels is None else len(labels)} labels, "
                             f"{'no' if conditions is None else len(conditions)} conditions, "
                             f"{'no' if soft_labels is None else len(soft_labels)} soft labels")
        cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        special = {cls_id, sep_id, tokenizer.pad_token_id, tokenizer.unk_token_id}
        if word_buckets == 1 or word_buckets < 0:
            raise ValueError(f"word_buckets: 0 (off) or the hashed word embedding's rows, >= 2; got {word_buckets}")
        words = word_match or word_buckets > 1
        if words and not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"word inputs need a fast tokenizer's offsets; {type(tokenizer).__name__} has none")
        spans = []  # with word inputs: per pair, the (start, end) characters of each kept token of a and of b
        if truncation == "longest_first":
            encoded = tokenizer(list(texts_a), list(texts_b), truncation="longest_first", max_length=max_length,
                                return_offsets_mapping=words)
            if "token_type_ids" not in encoded:  # RoBERTa / XLM-R: <s> a </s></s> b </s>, one segment
                raise ValueError(f"{type(tokenizer).__name__} gives no token_type_ids: the pair inputs are BERT's "
                                 "[CLS] a [SEP] b [SEP] with segment ids; use a checkpoint with a BERT tokenizer "
                                 "(Chinese RoBERTa-wwm-ext and MacBERT have one)")
            sides = []
            for i, (ids, types) in enumerate(zip(encoded["input_ids"], encoded["token_type_ids"])):
                n_a = types.count(0) - 2  # [CLS] a [SEP]
                sides.append((ids[1:n_a + 1], ids[n_a + 2:-1]))
                if words:
                    offsets = encoded["offset_mapping"][i]
                    spans.append((offsets[1:n_a + 1], offsets[n_a + 2:-1]))
        elif truncation == "trim_longer":
            enc_a = tokenizer(list(texts_a), add_special_tokens=False, return_offsets_mapping=words)
            enc_b = tokenizer(list(texts_b), add_special_tokens=False, return_offsets_mapping=words)
            sides = [trim_longer_first(a, b, max_length - 3) for a, b in zip(enc_a["input_ids"], enc_b["input_ids"])]
            if words:
                spans = [(oa[:len(a)], ob[:len(b)])
                         for (a, b), oa, ob in zip(sides, enc_a["offset_mapping"], enc_b["offset_mapping"])]
        else:
            raise ValueError(f"truncation must be 'longest_first' or 'trim_longer', got {truncation!r}")
        statistics = scaled_statistics(texts_a, texts_b, use_statistics, use_alignment) \
            if use_statistics or use_alignment else None  # (N, S)
        self.swap_prob, self.seed, self.epoch = swap_prob, seed, 0
        self.swapped_statistics = swapped_statistics(statistics).tolist() \
            if statistics is not None and swap_prob > 0 else None
        self.items = []
        for i, (a, b) in enumerate(sides):
            flags_a, flags_b = exact_match_flags(a, b, special)
            item = {"input_ids": [cls_id] + a + [sep_id] + b + [sep_id],
                    "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
                    "match_ids": [0] + flags_a + [0] + flags_b + [0]}
            if words:
                ids_a, match_a = token_word_features(texts_a[i], spans[i][0], texts_b[i], word_buckets)
                ids_b, match_b = token_word_features(texts_b[i], spans[i][1], texts_a[i], word_buckets)
                if word_match:
                    item["word_match_ids"] = [0] + match_a + [0] + match_b + [0]
                if word_buckets > 1:
                    item["word_ids"] = [0] + ids_a + [0] + ids_b + [0]
            if conditions is not None:
                item["condition_ids"] = int(conditions[i])
            if labels is not None:
                item["labels"] = int(labels[i])
            if soft_labels is not None:
                item["soft_labels"] = soft_value(soft_labels[i])
            if statistics is not None:
                item["statistics"] = statistics[i].tolist()
            self.items.append(item)
        self.lengths = [len(it["input_ids"]) for it in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch (the swap draws depend on it)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        if self.swap_prob <= 0 or example_uniform(self.seed, self.epoch, index) >= self.swap_prob:
            return item
        n_a = item["token_type_ids"].count(0) - 2  # [CLS] a [SEP]
        ids = item["input_ids"]
        swapped = dict(item, input_ids=ids[:1] + ids[n_a + 2:-1] + ids[n_a + 1:n_a + 2] + ids[1:n_a + 1] + ids[-1:],
                       token_type_ids=[0] * (len(ids) - n_a - 1) + [1] * (n_a + 1))
        for key in TOKEN_FEATURES:
            if key in item:
                values = item[key]
                swapped[key] = [0] + values[n_a + 2:-1] + [0] + values[1:n_a + 1] + [0]
        if self.swapped_statistics is not None:
            swapped["statistics"] = self.swapped_statistics[index]
        return swapped


class IdPairDataset(Dataset):
    """Pairs of id sequences (desensitized text) as ``[CLS] a [SEP] b [SEP]`` vocabulary indices.

    Args:
        pairs: N objects with ``a``, ``b`` (int id lists) and ``label`` (int, or None).
        vocab: an :class:`common.id_vocab.IdVocab` (``encode`` and the special ids).
        max_length: tokens per pair, special tokens included; the longer side is cut
            first (:func:`common.pretraining.encode_pair`).
        swap_prob: > 0 swaps the sides (a symmetric task's augmentation).
        use_match: add the exact-match ids (computed over the whole sides, then cut).
        seed: of the swap draws.
        soft_labels: N float teacher P(label 1) (NaN: none), for distillation; then an
            unlabelled pair's ``labels`` is -100 (:data:`common.distillation.IGNORE_INDEX`).
        use_statistics: add the pair's (13,) :func:`common.match_features.pair_statistics`
            (scaled, :func:`common.match_features.scaled_statistics`; of the whole sides, in the
            order presented).
        use_alignment: add its (15,) :func:`common.match_features.alignment_statistics` (scaled;
            the number and name columns are 0 for ids), after the 13 when both are on.
        ngram_match: n >= 2 adds ``ngram_match_ids``, the bit of
            :func:`common.match_features.ngram_match_flags` (computed over the whole sides, then cut);
            0: none.

    Items: ``input_ids``, ``token_type_ids`` (T,) lists, ``match_ids`` (T,) with
    ``use_match`` (the exact-match bit, :mod:`common.match_features`), ``ngram_match_ids`` (T,)
    with ``ngram_match``, ``statistics``
    (S floats, S = 13 * ``use_statistics`` + 15 * ``use_alignment``) with either, ``labels``
    int (labelled pairs) and ``soft_labels`` float (with ``soft_labels``). With
    ``swap_prob > 0`` (training) the sides are swapped with a
    draw of :func:`common.pretraining.example_uniform` on (``seed``, epoch, index), so a
    resumed run at any process count swaps what the uninterrupted one swapped.
    ``lengths`` (N,) are the pairs' token counts as cut (a swap keeps them), for length-grouped
    training batches and shortest-first inference (:mod:`common.training.inference`).

    Raises:
        ValueError: ``soft_labels`` of another length than ``pairs``.
    """

    def __init__(self, pairs: Sequence[Any], vocab: IdVocab, max_length: int, swap_prob: float = 0.0,
                 use_match: bool = False, seed: int = 0, soft_labels: Sequence[float] | None = None,
                 use_statistics: bool = False, use_alignment: bool = False, ngram_match: int = 0) -> None:
        if ngram_match == 1 or ngram_match < 0:
            raise ValueError(f"ngram_match: 0 (off) or an n-gram length >= 2, got {ngram_match}")
        self.seed, self.epoch, self.ngram_match = seed, 0, ngram_match
        self.pairs = list(pairs)
        if soft_labels is not None and len(soft_labels) != len(self.pairs):
            raise ValueError(f"{len(self.pairs)} pairs, {len(soft_labels)} soft labels")
        self.soft_labels = soft_labels
        self.encoded = [(vocab.encode(p.a), vocab.encode(p.b)) for p in self.pairs]
        self.cls_id, self.sep_id, self.max_length, self.swap_prob = vocab.cls_id, vocab.sep_id, max_length, swap_prob
        self.use_match, self.ignore = use_match, {vocab.unk_id, vocab.pad_id}
        # (N, S) statistics of (a, b) as given, once; a swapped draw permutes the row's columns
        self.statistics = scaled_statistics(*zip(*self.encoded), use_statistics, use_alignment) \
            if (use_statistics or use_alignment) and self.encoded else None
        # tokens per pair as encode_pair cuts it (for length-grouped batches and shortest-first inference)
        self.lengths = [min(len(a) + len(b), max_length - 3) + 2 + (len(b) > 0) for a, b in self.encoded]

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Any]:
        a, b = self.encoded[index]
        swapped = self.swap_prob > 0 and example_uniform(self.seed, self.epoch, index) < self.swap_prob
        if swapped:
            a, b = b, a
        item = encode_pair(a, b, self.cls_id, self.sep_id, self.max_length)
        special = item.pop("special_tokens_mask")
        n_a = item["token_type_ids"].count(0) - 2  # [CLS] a [SEP]: the kept prefix of a
        n_b = len(special) - n_a - 3  # b [SEP]: the kept prefix of b
        if self.use_match:
            ma, mb = exact_match_flags(a, b, self.ignore)  # over the whole sides
            item["match_ids"] = [0] + ma[:n_a] + [0] + mb[:n_b] + [0]
        if self.ngram_match:
            ma, mb = ngram_match_flags(a, b, self.ngram_match, self.ignore)  # over the whole sides
            item["ngram_match_ids"] = [0] + ma[:n_a] + [0] + mb[:n_b] + [0]
        if self.statistics is not None:
            row = self.statistics[index]  # (S,)
            item["statistics"] = (swapped_statistics(row) if swapped else row).tolist()
        label = self.pairs[index].label
        if self.soft_labels is not None:
            item["labels"] = IGNORE_INDEX if label is None else label
            item["soft_labels"] = soft_value(self.soft_labels[index])
        elif label is not None:
            item["labels"] = label
        return item


def collate_pairs(items: list[dict], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad pair items (:class:`PairDataset`'s, or any with ``input_ids``) to the batch's longest pair.

    Returns ``input_ids`` (padded with ``pad_id``), ``token_type_ids``, the :data:`TOKEN_FEATURES`
    the items have (padded with 0) and ``attention_mask``, all (B, T) int64,
    and (B,) ``condition_ids`` / ``labels`` (int64), ``soft_labels`` (float32) and (B, S)
    ``statistics`` (float32) when the items carry them.
    """
    T = max(len(it["input_ids"]) for it in items)
    batch = {key: torch.tensor([it[key] + [pad_id if key == "input_ids" else 0] * (T - len(it[key]))
                                for it in items])  # (B, T)
             for key in ("input_ids", "token_type_ids", *TOKEN_FEATURES) if key in items[0]}
    batch["attention_mask"] = (torch.arange(T)[None, :] <
                               torch.tensor([len(it["input_ids"]) for it in items])[:, None]).long()  # (B, T)
    for key in ("condition_ids", "labels"):
        if key in items[0]:
            batch[key] = torch.tensor([it[key] for it in items])  # (B,)
    if "statistics" in items[0]:
        batch["statistics"] = torch.tensor([it["statistics"] for it in items], dtype=torch.float32)  # (B, S)
    if "soft_labels" in items[0]:
        batch["soft_labels"] = torch.tensor([it["soft_labels"] for it in items], dtype=torch.float32)  # (B,), (B, C)
    return batch
