"""HF's ``BertForSequenceClassification`` for text pairs, with the exact-match bit and logit adjustment.

A stock transformers class (pooled [CLS] -> 2 logits), so ``from_pretrained`` /
``save_pretrained`` and the shared trainer work unchanged, for encoders whose
checkpoints are ``BertFor*`` models (e.g. a ``common.pretraining`` MLM folder). The
exact-match bit is DrQA's feature (Chen et al. 2017; :mod:`common.match_features`).
Xiaobu's classification variant uses it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from common.distillation import DistillConfig, distillation_loss
from common.layers.esim import ESIMInteraction
from common.layers.pooled_heads import add_pooled_heads
from common.losses import logit_adjusted_cross_entropy


class BertPairClassifier(BertForSequenceClassification):
    """``BertForSequenceClassification`` (2 labels) with the loss form of logit adjustment.

    The stock class plus two options:

    - ``config.use_match`` (a BertConfig attribute, saved with the encoder config):
      the exact-match bit (:mod:`common.match_features`) enters as a 2-row embedding
      added to the token embeddings, zero-initialised so a pretrained encoder starts
      unchanged;
    - ``config.pair_statistics`` (a BertConfig attribute: 0, or the number of columns
      of :func:`common.match_features.scaled_statistics`): a zero-initialised linear map
      of the pair's statistics is added to the pooled [CLS] output before the classifier
      (hand features beside the encoder, as the Quora question-pairs solutions did);
    - ``config.ngram_match`` (a BertConfig attribute: 0, or n >= 2): the n-gram match bit
      (:func:`common.match_features.ngram_match_flags`) as a second zero-initialised 2-row
      embedding added to the token embeddings;
    - ``config.esim`` (a BertConfig attribute): ESIM's alignment, enhancement and mean/max
      pooling of the two segments' last-layer states (:class:`common.layers.esim.ESIMInteraction`,
      zero at initialisation) added to the pooled [CLS] output before the classifier;
    - after :meth:`set_logit_adjustment` with ``tau > 0`` the training loss is
      cross-entropy on ``logits + tau * log_prior`` (Menon et al., ICLR 2021;
      kexue.fm/archives/7615); the logits stay raw.

    ``forward`` takes (B, T) ``input_ids``, ``attention_mask``, ``token_type_ids``,
    optional (B, T) ``match_ids`` and ``ngram_match_ids``, (B, S) float ``statistics``, (B,) ``labels`` and
    (B,) float ``soft_labels`` (a teacher's P(label 1), NaN for none; labels then may hold -100 for none); returns
    ``SequenceClassifierOutput(loss, logits (B, 2))``. With ``soft_labels`` the loss is
    :func:`common.distillation.distillation_loss` with the weights of
    :meth:`set_distillation` (Hinton et al. 2015), the hard term logit-adjusted as above.
    """

    def __init__(self, config) -> None:
        super().__init__(config)
        self.match_embedding = nn.Embedding(2, config.hidden_size) if getattr(config, "use_match", False) else None
        n_statistics = int(getattr(config, "pair_statistics", 0) or 0)
        self.statistics_projection = nn.Linear(n_statistics, config.hidden_size) if n_statistics else None
        self.esim = ESIMInteraction(config.hidden_size) if getattr(config, "esim", False) else None
        self.ngram_match_embedding = nn.Embedding(2, config.hidden_size) \
            if int(getattr(config, "ngram_match", 0) or 0) else None
        zero_match(self)
        self.logit_adjust_tau = 0.0
        self.label_log_prior = torch.full((2,), math.log(0.5))  # a plain attribute: not in the state dict
        self.distill_alpha, self.distill_temperature = DistillConfig.distill_alpha, DistillConfig.distill_temperature

    def set_logit_adjustment(self, log_prior: torch.Tensor, tau: float) -> None:
        """Train with logit-adjusted cross-entropy: ``log_prior`` (2,), ``tau`` >= 0 (0: plain)."""
        self.label_log_prior, self.logit_adjust_tau = log_prior.float(), float(tau)

    def set_distillation(self, alpha: float, temperature: float) -> None:
        """The soft loss's weight in [0, 1] and temperature > 0, for batches with ``soft_labels``."""
        self.distill_alpha, self.distill_temperature = float(alpha), float(temperature)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, match_ids=None,
                soft_labels=None, statistics=None, ngram_match_ids=None, **kwargs):
        """Raises ValueError: a model built with pair statistics (ESIM) called without them (token type ids)."""
        added = [(table, ids) for table, ids in ((self.match_embedding, match_ids),
                                                 (self.ngram_match_embedding, ngram_match_ids))
                 if table is not None and ids is not None]
        if added:
            embeds = self.bert.embeddings.word_embeddings(input_ids)  # (B, T, H)
            for table, ids in added:
                embeds = embeds + table(ids)  # (B, T, H)
            input_ids, kwargs["inputs_embeds"] = None, embeds
        if self.statistics_projection is None and self.esim is None:
            outputs = super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids, **kwargs)
        else:  # BertForSequenceClassification's own path, with the additions to the pooled output
            encoded = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                **kwargs)
            pooled = add_pooled_heads(self.dropout(encoded.pooler_output), encoded.last_hidden_state, attention_mask,
                                      token_type_ids, statistics, self.statistics_projection, self.esim)  # (B, H)
            outputs = SequenceClassifierOutput(logits=self.classifier(pooled))  # (B, H) -> (B, 2)
        logits = outputs.logits  # (B, 2)
        prior = self.label_log_prior.to(logits.device)
        if soft_labels is not None:
            hard = logits.float() + self.logit_adjust_tau * prior if self.logit_adjust_tau > 0 else None
            outputs.loss = distillation_loss(logits, labels, soft_labels, self.distill_alpha,
                                             self.distill_temperature, hard)
        elif labels is not None:
            if self.logit_adjust_tau > 0:
                outputs.loss = logit_adjusted_cross_entropy(logits, labels, prior, self.logit_adjust_tau)
            else:
                outputs.loss = F.cross_entropy(logits.float(), labels)
        return outputs


def zero_match(model: nn.Module) -> nn.Module:
    """Zero the match embeddings, statistics map and ESIM output that ``from_pretrained`` initialised.

    Returns ``model``."""
    for name in ("match_embedding", "ngram_match_embedding"):
        if getattr(model, name, None) is not None:
            nn.init.zeros_(getattr(model, name).weight)
    if getattr(model, "statistics_projection", None) is not None:
        nn.init.zeros_(model.statistics_projection.weight)
        nn.init.zeros_(model.statistics_projection.bias)
    if getattr(model, "esim", None) is not None:
        nn.init.zeros_(model.esim.output.weight)
        nn.init.zeros_(model.esim.output.bias)
    return model
