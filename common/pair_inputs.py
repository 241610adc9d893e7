"""Text pairs -> ``[CLS] a [SEP] b [SEP]`` model inputs with the exact-match bit, and their padding collate.

The input side of :class:`common.pair_classifier.PairClassifier`, for any task whose
examples are two texts and an optional 0/1 label. Truncation is the tokenizer's
``longest_first`` (the longer text loses tokens first, as BERT's GLUE scripts do);
the match bit of every text token says whether the same token id occurs in the other
text (:func:`common.match_features.exact_match_flags`, DrQA's feature).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Dataset

from common.match_features import exact_match_flags


class PairDataset(Dataset):
    """Tokenised pairs, one dict per pair.

    Args:
        texts_a, texts_b: N texts each.
        labels: N int labels, or None (unlabelled).
        tokenizer: a HF BERT-style tokenizer (``[CLS]``/``[SEP]``, token type ids).
        max_length: tokens per pair, special tokens included.

    Each item holds ``input_ids``, ``token_type_ids``, ``match_ids`` (lists of length
    T <= max_length) and ``labels`` (int) when labelled. ``lengths`` (N,) are the T's,
    for length-grouped batches.

    Raises:
        ValueError: ``texts_a``, ``texts_b`` (and ``labels``) of different lengths.
    """

    def __init__(self, texts_a: Sequence[str], texts_b: Sequence[str], labels: Sequence[int] | None,
                 tokenizer, max_length: int) -> None:
        if len(texts_a) != len(texts_b) or (labels is not None and len(labels) != len(texts_a)):
            raise ValueError(f"{len(texts_a)} first texts, {len(texts_b)} second texts, "
                             f"{'no' if labels is None else len(labels)} labels")
        special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id}
        encoded = tokenizer(list(texts_a), list(texts_b), truncation="longest_first", max_length=max_length)
        self.items = []
        for n, (ids, types) in enumerate(zip(encoded["input_ids"], encoded["token_type_ids"])):
            # text positions of each segment: type 0 / 1, without [CLS] and the [SEP]s
            pos_a = [i for i, (t, k) in enumerate(zip(ids, types)) if k == 0 and t not in special]
            pos_b = [i for i, (t, k) in enumerate(zip(ids, types)) if k == 1 and t not in special]
            flags_a, flags_b = exact_match_flags([ids[i] for i in pos_a], [ids[i] for i in pos_b], special)
            match = [0] * len(ids)
            for i, f in zip(pos_a + pos_b, flags_a + flags_b):
                match[i] = f
            item = {"input_ids": ids, "token_type_ids": types, "match_ids": match}
            if labels is not None:
                item["labels"] = int(labels[n])
            self.items.append(item)
        self.lengths = [len(it["input_ids"]) for it in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def collate_pairs(items: list[dict], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad :class:`PairDataset` items to the batch's longest pair.

    Returns ``input_ids`` (padded with ``pad_id``), ``token_type_ids``, ``match_ids``
    (padded with 0) and ``attention_mask``, all (B, T) int64, and ``labels`` (B,) when
    the items carry them.
    """
    T = max(len(it["input_ids"]) for it in items)
    batch = {key: torch.tensor([it[key] + [pad_id if key == "input_ids" else 0] * (T - len(it[key]))
                                for it in items])  # (B, T)
             for key in ("input_ids", "token_type_ids", "match_ids")}
    batch["attention_mask"] = (torch.arange(T)[None, :] <
                               torch.tensor([len(it["input_ids"]) for it in items])[:, None]).long()  # (B, T)
    if "labels" in items[0]:
        batch["labels"] = torch.tensor([it["labels"] for it in items])  # (B,)
    return batch
