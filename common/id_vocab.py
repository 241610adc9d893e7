"""Vocabulary of desensitized token ids, and its mapping onto a pretrained BERT vocabulary.

In desensitized competitions (GAIIC 2021 track 3, 小布助手对话短文本语义匹配) every
character was replaced by an opaque integer, so no pretrained tokenizer applies.
:func:`build_id_vocab` makes a vocabulary of the ids themselves (special tokens
first, then ids by falling corpus frequency, rare ids folded into ``[UNK]``);
:meth:`IdVocab.to_tokenizer` turns it into a HuggingFace fast tokenizer over
space-separated id strings, so collators, ``save_pretrained`` and ``AutoTokenizer``
work with it.

To start from a pretrained Chinese BERT anyway, bojone's baseline (kexue.fm, 5 Mar
2021, "bert4keras在手，baseline我有：小布助手对话短文本语义匹配"; code in
bojone/oppo-text-match) assumes the id frequencies follow ordinary Chinese
character frequencies: the k-th most frequent id is given the embedding row of the
k-th most frequent character of a frequency table (his ``counts.json``) that the
BERT vocabulary holds. :func:`frequency_rank_keep_tokens` computes that row list
(bert4keras's ``keep_tokens``) and :func:`apply_keep_tokens` cuts the model's
embedding matrix (and MLM output bias) down to it.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from common.io import write_json_atomic

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass
class IdVocab:
    """Token list of a desensitized corpus: index -> token string.

    ``tokens`` starts with :data:`SPECIAL_TOKENS`, then any extra reserved tokens
    (e.g. ``[LABEL0]``, ``[LABEL1]`` for a label predicted through the MLM head),
    then the kept ids as decimal strings, most frequent first. ``counts[i]`` is the
    corpus frequency of ``tokens[i]`` (0 for special tokens).
    """

    tokens: list[str]
    counts: list[int]
    num_special: int  # SPECIAL_TOKENS + extra reserved tokens, all at the front
    min_freq: int = 1
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if list(self.tokens[:len(SPECIAL_TOKENS)]) != list(SPECIAL_TOKENS):
            raise ValueError(f"an IdVocab starts with {list(SPECIAL_TOKENS)}, got {self.tokens[:5]}")
        if len(self.counts) != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.counts)} counts")
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("duplicate tokens in the vocabulary")

    def __len__(self) -> int:
        return len(self.tokens)

    pad_id = property(lambda self: self.index["[PAD]"])
    unk_id = property(lambda self: self.index["[UNK]"])
    cls_id = property(lambda self: self.index["[CLS]"])
    sep_id = property(lambda self: self.index["[SEP]"])
    mask_id = property(lambda self: self.index["[MASK]"])

    def token_id(self, token: str) -> int:
        """Index of a token string (``"[LABEL1]"`` or an id like ``"4160"``); KeyError when absent."""
        return self.index[token]

    def encode(self, ids: Sequence[int]) -> list[int]:
        """Raw desensitized ids -> vocabulary indices; ids not kept map to ``[UNK]``."""
        unk = self.unk_id
        return [self.index.get(str(i), unk) for i in ids]

    def id_tokens(self) -> list[str]:
        """The non-special tokens (ids), most frequent first."""
        return self.tokens[self.num_special:]

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (atomically); :meth:`load` reads it back."""
        return write_json_atomic(path, {"tokens": self.tokens, "counts": self.counts,
                                        "num_special": self.num_special, "min_freq": self.min_freq})

    @classmethod
    def load(cls, path: str | Path) -> "IdVocab":
        """Read a vocabulary written by :meth:`save`.

        Raises:
            FileNotFoundError: no file. ValueError: not a saved IdVocab (naming the file).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"id vocabulary not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(tokens=data["tokens"], counts=data["counts"], num_special=data["num_special"],
                       min_freq=data.get("min_freq", 1))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: not a saved id vocabulary ({err})") from err

    def to_tokenizer(self):
        """A ``PreTrainedTokenizerFast`` over space-separated id strings.

        ``tok("12 23 4160", "29 23")`` gives ``[CLS] 12 23 4160 [SEP] 29 23 [SEP]`` with
        BERT token types; unknown ids become ``[UNK]``. Saved with ``save_pretrained``
        beside a pretrained model so that the model folder carries its vocabulary.
        """
        from tokenizers import Tokenizer, models, pre_tokenizers, processors
        from transformers import PreTrainedTokenizerFast

        core = Tokenizer(models.WordLevel(vocab=dict(self.index), unk_token="[UNK]"))
        core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        cls_id, sep_id = self.cls_id, self.sep_id
        core.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
        extra = self.tokens[len(SPECIAL_TOKENS):self.num_special]
        return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]",
                                       cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                       additional_special_tokens=extra or None,
                                       model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def build_id_vocab(sequences: Iterable[Sequence[int]], min_freq: int = 1,
                   extra_special_tokens: Sequence[str] = ()) -> IdVocab:
    """Vocabulary of the ids occurring ``min_freq`` times or more in ``sequences``.

    Args:
        sequences: token-id sequences (each side of each pair, train and test text).
        min_freq: ids seen fewer times are left out (they encode to ``[UNK]``).
        extra_special_tokens: reserved tokens placed right after :data:`SPECIAL_TOKENS`.

    Order: special tokens, extra tokens, then ids by falling count, ties by the
    integer value, so the same text always gives the same vocabulary.

    Raises:
        ValueError: ``min_freq < 1`` or an extra token clashes with a special token.
    """
    if min_freq < 1:
        raise ValueError(f"min_freq must be >= 1, got {min_freq}")
    specials = list(SPECIAL_TOKENS) + list(extra_special_tokens)
    if len(set(specials)) != len(specials):
        raise ValueError(f"extra special tokens {list(extra_special_tokens)} repeat a special token")
    counts = collections.Counter(int(t) for seq in sequences for t in seq)
    kept = sorted((i for i, n in counts.items() if n >= min_freq), key=lambda i: (-counts[i], i))
    return IdVocab(tokens=specials + [str(i) for i in kept], counts=[0] * len(specials) + [counts[i] for i in kept],
                   num_special=len(specials), min_freq=min_freq)


def load_char_counts(path: str | Path) -> dict[str, int]:
    """A character frequency table ``{char: count}`` (bojone's ``counts.json``).

    Raises:
        FileNotFoundError: no file. ValueError: not a JSON object of integer counts.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"character frequency table not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise ValueError(f"{path}: expected a JSON object {{char: integer count}}")
    return data


def frequency_rank_keep_tokens(vocab: IdVocab, pretrained_tokens: Sequence[str],
                               char_counts: Mapping[str, int], fallback: str = "[UNK]") -> list[int]:
    """For each token of ``vocab``, the pretrained embedding row it starts from (``keep_tokens``).

    bojone/oppo-text-match: special tokens keep their namesakes' rows; reserved extra
    tokens take the ``fallback`` row; the k-th most frequent id takes the row of the
    k-th most frequent character of ``char_counts`` present in the pretrained vocab
    (ties by the character); ids beyond the available characters take ``fallback``.

    Args:
        vocab: the id vocabulary (ids already sorted by falling frequency).
        pretrained_tokens: the pretrained vocabulary, index -> token (``vocab.txt`` lines).
        char_counts: character -> corpus count.

    Returns:
        ``keep`` of length ``len(vocab)``: new embedding row i = old row ``keep[i]``.

    Raises:
        ValueError: the pretrained vocab lacks a special token or the fallback token.
    """
    row = {t: i for i, t in enumerate(pretrained_tokens)}
    missing = [t for t in (*SPECIAL_TOKENS, fallback) if t not in row]
    if missing:
        raise ValueError(f"the pretrained vocabulary lacks {missing}")
    specials = set(SPECIAL_TOKENS) | {t for t in pretrained_tokens if t.startswith("[") and t.endswith("]")}
    chars = sorted((t for t in char_counts if t in row and t not in specials), key=lambda t: (-char_counts[t], t))
    keep = [row[t] for t in SPECIAL_TOKENS]
    keep += [row[fallback]] * (vocab.num_special - len(SPECIAL_TOKENS))
    n_ids = len(vocab) - vocab.num_special
    keep += [row[c] for c in chars[:n_ids]] + [row[fallback]] * max(0, n_ids - len(chars))
    return keep


@torch.no_grad()
def apply_keep_tokens(model: nn.Module, keep_tokens: Sequence[int]) -> None:
    """Cut a HF model's vocabulary to ``keep_tokens`` rows, in place.

    Input embedding row i becomes old row ``keep_tokens[i]``; an MLM head's output
    weight (tied or not) and bias are sliced the same way; ``config.vocab_size``
    is updated. Works for ``BertModel``, ``BertForMaskedLM``,
    ``BertForSequenceClassification`` and other ``PreTrainedModel``s.

    Raises:
        IndexError: a row beyond the model's vocabulary.
    """
    keep = torch.as_tensor(list(keep_tokens), dtype=torch.long)
    old_in = model.get_input_embeddings().weight.detach().clone()  # (V_old, H)
    if int(keep.max()) >= old_in.shape[0]:
        raise IndexError(f"keep_tokens holds row {int(keep.max())} but the model has {old_in.shape[0]} rows")
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    old_out_w = out.weight.detach().clone() if out is not None else None
    head = getattr(getattr(model, "cls", None), "predictions", None)  # BERT MLM head holds its own bias
    old_bias = head.bias.detach().clone() if head is not None and getattr(head, "bias", None) is not None else (
        out.bias.detach().clone() if out is not None and out.bias is not None else None)
    model.resize_token_embeddings(len(keep))
    model.get_input_embeddings().weight.copy_(old_in[keep])  # (V_new, H)
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if out is not None:
        if out.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
            out.weight.copy_(old_out_w[keep])
        if old_bias is not None:
            if head is not None and getattr(head, "bias", None) is not None:
                head.bias.data = old_bias[keep].clone()
                out.bias = head.bias
            elif out.bias is not None:
                out.bias.copy_(old_bias[keep])
    model.config.vocab_size = len(keep)
