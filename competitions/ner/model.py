"""The NER model: any per-character encoder + one head (GlobalPointer, Efficient GlobalPointer or CRF).

The heads (``common.layers``) see only (B, T, H) character states and a (B, T)
mask, so the encoder is interchangeable: a HF BERT (``[CLS]``/``[SEP]`` stripped)
or the character BiLSTM below, which is what this CPU trains best in 15 minutes
(see the README's measurements).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from accelerate.utils import extract_model_from_parallel
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers.modeling_outputs import BaseModelOutput, TokenClassifierOutput

from common.layers.crf_head import CrfHead
from common.layers.global_pointer import EfficientGlobalPointer, GlobalPointer
from common.ner.spans import best_flat, tags_to_spans_lenient

HEADS = ("gp", "egp", "crf")
# q/k size per span head when the config says 0. GlobalPointer: 8, measured on this CPU with the
# 256-wide BiLSTM (README): CLUENER dev F1 0.7100 at 8 vs 0.7084 at 16, and 8 is the size at which it
# trains as fast as the CRF (1.01x; 16: 0.98-0.99x). Efficient GP: 64 as in kexue.fm/archives/8877.
DEFAULT_HEAD_SIZE = {"gp": 8, "egp": 64}


class CharBiLSTMEncoder(nn.Module):
    """Character embeddings + a bidirectional LSTM (Lample et al. 2016's encoder, without char-CNN).

    Args:
        vocab_size: rows of the embedding.
        hidden_size: embedding size and output size (``hidden_size // 2`` per direction).
        num_layers: LSTM layers.
        dropout: on the embeddings and between layers.

    ``forward(input_ids (B, L), attention_mask (B, L)) -> BaseModelOutput(last_hidden_state (B, L, H))``;
    padding is packed away, so the backward direction starts at each sentence's end.
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (two directions), got {hidden_size}")
        self.config = SimpleNamespace(hidden_size=hidden_size, vocab_size=vocab_size)
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden_size, hidden_size // 2, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: object) -> BaseModelOutput:
        B, L = input_ids.shape
        x = self.dropout(self.word_embeddings(input_ids))  # (B, L, H)
        lengths = attention_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=L)  # (B, L, H)
        return BaseModelOutput(last_hidden_state=out)


class NerModel(nn.Module):
    """Encoder + span head (``gp``/``egp``) or CRF tagging head (``crf``).

    Args:
        encoder: returns ``last_hidden_state`` (B, T + 2, H) for ``[CLS] chars [SEP]``.
        head: ``"gp"``, ``"egp"`` or ``"crf"``.
        types: entity types (GlobalPointer heads: one each; CRF: BIO tags over them).
        head_size: q/k size of the GlobalPointer heads.
        dropout: on the encoder output.
        max_span_width: > 0: the span heads score only spans of at most this many characters.
        flat: span heads decode flat (:func:`common.ner.spans.best_flat`: no two spans share a character);
            False: every span scored > 0 (nested entities). The CRF head is flat by construction.

    ``forward(input_ids (B, T+2), attention_mask (B, T+2), span_labels (B, S, 3)?, tag_labels (B, T)?)``
    returns ``TokenClassifierOutput(loss, logits)``: logits are (B, heads, T, T) span
    scores (span heads) or (B, T, tags) emissions (CRF). ``decode`` gives spans.
    """

    def __init__(self, encoder: nn.Module, head: str, types: list[str], head_size: int = 64,
                 dropout: float = 0.1, max_span_width: int = 0, flat: bool = False) -> None:
        super().__init__()
        self.flat = flat
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.encoder, self.head_name, self.types = encoder, head, list(types)
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        if head == "gp":
            self.head = GlobalPointer(hidden, len(types), head_size, max_width=max_span_width)
        elif head == "egp":
            self.head = EfficientGlobalPointer(hidden, len(types), head_size, max_width=max_span_width)
        else:
            self.tags = ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
            self.head = CrfHead(hidden, len(self.tags))

    def char_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder states of the characters: (B, T, H) and their mask (B, T) (``[CLS]``/``[SEP]`` dropped)."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state  # (B, T+2, H)
        return self.dropout(hidden[:, 1:-1]), attention_mask[:, 2:]  # char i <-> token i+1

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, span_labels: torch.Tensor | None = None,
                tag_labels: torch.Tensor | None = None) -> TokenClassifierOutput:
        hidden, mask = self.char_states(input_ids, attention_mask, token_type_ids)  # (B, T, H), (B, T)
        if self.head_name == "crf":
            emissions = self.head(hidden)  # (B, T, tags)
            loss = self.head.loss(emissions, tag_labels, mask) if tag_labels is not None else None
            return TokenClassifierOutput(loss=loss, logits=emissions)
        raw = self.head.raw_scores(hidden)  # (B, heads, T, T)
        loss = self.head.loss(raw, mask, span_labels) if span_labels is not None else None
        return TokenClassifierOutput(loss=loss, logits=raw if loss is not None else self.head.mask_scores(raw, mask))

    @torch.no_grad()
    def decode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               token_type_ids: torch.Tensor | None = None, **_: object) -> list[list[tuple[int, int, int]]]:
        """Predicted spans per sentence.

        Args:
            input_ids, attention_mask: (B, T + 2) as in ``forward`` (labels are ignored).

        Returns:
            B lists of ``(start, end, type_id)`` (character offsets, end inclusive); one
            Python object per sentence, so that processes can gather sentences of any
            span count without padding (``common.training.inference``).
        """
        hidden, mask = self.char_states(input_ids, attention_mask, token_type_ids)  # (B, T, H), (B, T)
        B = hidden.shape[0]
        if self.head_name == "crf":
            paths = self.head.decode(self.head(hidden), mask)
            return [[(s.start, s.end, self.types.index(s.type))
                     for s in tags_to_spans_lenient([self.tags[t] for t in path])] for path in paths]
        per: list[list[tuple[int, int, int]]] = [[] for _ in range(B)]
        if not self.flat:
            for b, t, start, end in self.head.predict_spans(hidden, mask).tolist():  # (P, 4) rows
                per[b].append((start, end, t))
            return per
        cells, scores = self.head.predict_spans(hidden, mask, with_scores=True)  # (P, 4), (P,)
        found: list[list[float]] = [[] for _ in range(B)]
        for (b, t, start, end), score in zip(cells.tolist(), scores.tolist()):
            per[b].append((start, end, t))
            found[b].append(score)
        return [best_flat(spans, s) for spans, s in zip(per, found)]


def predict_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, list]:
    """The Trainer's decode step: ``{"spans": B lists of (start, end, type_id)}`` (see ``NerModel.decode``).

    ``model`` may come wrapped by ``accelerator.prepare`` (``DistributedDataParallel``
    under ``accelerate launch``): the task method is called on the unwrapped model.
    """
    return {"spans": extract_model_from_parallel(model).decode(**batch)}
