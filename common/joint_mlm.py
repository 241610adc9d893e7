"""Pair classification as masked-language modelling at [CLS] (bojone's joint variant).

bojone's Xiaobu baseline (kexue.fm, 5 March 2021): a ``BertForMaskedLM`` whose target
at [CLS] is one of two reserved vocabulary tokens ``[LABEL0]``/``[LABEL1]`` while the
other positions keep doing MLM on all (labelled and unlabelled) text, so pretraining
and fine-tuning are one objective; the probability is the softmax over those two
tokens' logits at [CLS]. Works with any vocabulary that reserves :data:`LABEL_TOKENS`
and has ``pad_id`` and ``token_id`` (:class:`common.id_vocab.IdVocab`).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from transformers import BertForMaskedLM
from transformers.modeling_outputs import MaskedLMOutput

from common.id_vocab import IdVocab
from common.pair_inputs import collate_pairs
from common.pretraining import MLMPairDataset, NgramMaskingCollator, logits_at_labels, masking_collator

LABEL_TOKENS = ("[LABEL0]", "[LABEL1]")  # reserved vocabulary tokens of the joint variant


class JointMaskedLM(BertForMaskedLM):
    """``BertForMaskedLM`` of the joint variant whose MLM head, in training, runs at the target positions only.

    ``forward(..., labels=None)``: without ``labels``, ``BertForMaskedLM``'s (B, T, V) ``logits``;
    with (B, T) ``labels``, the (M, V) ``logits`` of the M positions where ``labels != -100``
    (row-major: the masked tokens and the [CLS] label target of :class:`JointCollator`), which
    are the rows of the full logits there, and no loss: :func:`common.pretraining.masked_token_loss`
    takes them (``logits_at_labels``), as it does those of :class:`common.pretraining.MaskedPositionsLM`
    in pretraining. The other B*T - M rows of the V-way head are never computed.
    The parameters are ``BertForMaskedLM``'s, so runs saved before it load unchanged. The variant is
    bojone's (kexue.fm, 5 March 2021); computing the head only where the loss reads it is fairseq's
    ``masked_tokens``.
    """

    logits_at_labels = True

    def forward(self, *args: Any, labels: torch.Tensor | None = None, **inputs: Any) -> MaskedLMOutput:
        if labels is None:
            return super().forward(*args, **inputs)
        return logits_at_labels(self.bert, self.cls, labels, *args, **inputs)  # (M, V) logits


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
            batch = collate_pairs([{k: it[k] for k in ("input_ids", "token_type_ids")} for it in items], self.pad_id)
            batch["labels"] = torch.full_like(batch["input_ids"], -100)
        if self.mlm is None and not (pair_label >= 0).any():
            del batch["labels"]  # unlabelled evaluation batch (test): logits only
            return batch
        batch["labels"][:, 0] = torch.where(pair_label >= 0, self.label_ids[pair_label.clamp(min=0)],
                                            torch.tensor(-100))
        return batch


class JointPredictStep:
    """{"prob": (B,) P(label 1)}: softmax over the ``[LABEL0]``/``[LABEL1]`` MLM logits at [CLS].

    Only the [CLS] position goes through the MLM head (the other T-1 positions' (V,)
    logits are never needed), which makes scoring ~T times cheaper in the head.
    """

    def __init__(self, vocab: IdVocab) -> None:
        self.label_ids = [vocab.token_id(t) for t in LABEL_TOKENS]

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = model.bert(**inputs).last_hidden_state[:, :1]  # (B, T, H) -> (B, 1, H): [CLS] only
        logits = model.cls(hidden)[:, 0, self.label_ids]  # (B, 1, V) -> (B, 2)
        return {"prob": torch.softmax(logits.float(), dim=-1)[:, 1]}


def joint_dataset(config: Any, vocab: IdVocab, pairs: Sequence[Any], training: bool,
                  unlabelled: Sequence[Any] = ()) -> MLMPairDataset:
    """MLM items of ``pairs`` (objects with ``a``, ``b``, ``label``) and, in training, of the ``unlabelled`` ones.

    ``config``: a :class:`common.pretraining.MLMConfig` with ``max_length`` and ``seed``
    (sides swapped with ``swap_prob`` in training only).
    """
    pool = list(pairs) + (list(unlabelled) if training else [])
    encoded = [(vocab.encode(p.a), vocab.encode(p.b)) for p in pool]
    extras = [{"pair_label": -1 if p.label is None else p.label} for p in pool]
    return MLMPairDataset(encoded, vocab.cls_id, vocab.sep_id, config.max_length,
                          swap_prob=config.swap_prob if training else 0.0, extras=extras, seed=config.seed)


def joint_collator(config: Any, vocab: IdVocab, training: bool) -> JointCollator:
    """:class:`JointCollator` with n-gram masking of ``config``'s MLM options in training, none in evaluation."""
    return JointCollator(vocab, masking_collator(vocab.to_tokenizer(), config) if training else None)
