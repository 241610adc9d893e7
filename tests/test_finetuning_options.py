"""Fine-tuning options for pretrained encoders: learning-rate default, layer-wise lr decay, gradient checkpointing."""

import pytest
import torch
from torch import nn

from common.config import parse_config
from common.training.trainer import enable_gradient_checkpointing, parameter_groups
from competitions.sohu.config import SohuConfig
from tests.conftest import tiny_bert


class WithHead(nn.Module):
    def __init__(self, layers=3):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = tiny_bert(50, layers=layers)
        self.encoder.config.hidden_dropout_prob = self.encoder.config.attention_probs_dropout_prob = 0.0
        self.classifier = nn.Linear(32, 2)

    def forward(self, input_ids):
        return self.classifier(self.encoder(input_ids=input_ids).last_hidden_state[:, 0])


def test_layer_decay_follows_the_formula():
    model, lr, d = WithHead(layers=3), 1e-3, 0.5
    groups = parameter_groups(model, lr, 0.01, layer_decay=d)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    for name, param in model.named_parameters():
        if name.startswith("encoder.embeddings"):
            depth = 0
        elif ".layer." in name:
            depth = int(name.split(".layer.")[1].split(".")[0]) + 1
        else:
            depth = 4  # classifier (L + 1 with L = 3)
        assert lr_of[id(param)] == pytest.approx(lr * d ** (4 - depth)), name
        assert wd_of[id(param)] == (0.0 if param.ndim < 2 or "norm" in name.lower() else 0.01), name
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_no_decay_keeps_the_two_plain_groups():
    groups = parameter_groups(WithHead(), 1e-3, 0.01)
    assert len(groups) == 2 and "lr" not in groups[0] and [g["weight_decay"] for g in groups] == [0.01, 0.0]


def test_gradient_checkpointing_gives_the_same_gradients():
    ids = torch.randint(5, 50, (4, 12))
    grads = []
    for checkpointing in (False, True):
        model = WithHead()
        if checkpointing:
            assert enable_gradient_checkpointing(model) == 1
        model.train()
        model(ids).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-6, msg=name)
    with pytest.raises(ValueError, match="no transformers encoder"):
        enable_gradient_checkpointing(nn.Linear(2, 2))


def test_pretrained_encoder_gets_the_pretrained_learning_rate(tmp_path):
    assert parse_config(SohuConfig, []).learning_rate == 3e-4  # from-scratch default
    assert parse_config(SohuConfig, ["--model", "hfl/chinese-roberta-wwm-ext"]).learning_rate == 2e-5
    assert parse_config(SohuConfig, ["--model", "hfl/x", "--learning-rate", "5e-5"]).learning_rate == 5e-5
    assert parse_config(SohuConfig, ["--model", "hfl/x", "--pretrained-learning-rate", "3e-5"]).learning_rate == 3e-5
    (tmp_path / "pretrain_config.json").write_text("{}")  # this project's own pretraining: the task's rate
    assert parse_config(SohuConfig, ["--model", str(tmp_path)]).learning_rate == 3e-4


def test_mixed_precision_follows_the_launcher_unless_given(monkeypatch):
    """``accelerate launch --mixed_precision bf16`` sets ACCELERATE_MIXED_PRECISION; the run records it."""
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    assert parse_config(SohuConfig, []).mixed_precision == "bf16"
    assert parse_config(SohuConfig, ["--mixed-precision", "no"]).mixed_precision == "no"
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION")
    assert parse_config(SohuConfig, []).mixed_precision == "no"


class DropoutClassifier(nn.Module):
    """(B, 4) features -> dropout -> (B, 2) logits, with the cross-entropy loss."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear, self.dropout = nn.Linear(4, 2), nn.Dropout(0.5)

    def forward(self, input_ids, labels):
        logits = self.linear(self.dropout(input_ids))
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def test_rdrop_kl_against_torch_distributions():
    from torch.distributions import Categorical, kl_divergence

    from common.losses import rdrop_kl

    a, b = torch.randn(5, 3), torch.randn(5, 3)
    p, q = Categorical(logits=a), Categorical(logits=b)
    expected = ((kl_divergence(p, q) + kl_divergence(q, p)) / 2).mean()
    assert torch.allclose(rdrop_kl(a, b), expected, atol=1e-6)
    assert rdrop_kl(a, a).item() == pytest.approx(0, abs=1e-7)
    with pytest.raises(ValueError, match=r"\(B, C\) class logits"):
        rdrop_kl(torch.randn(2, 3, 4), torch.randn(2, 3, 4))


def test_rdrop_loss_is_two_dropout_passes_plus_alpha_times_their_kl():
    from types import SimpleNamespace

    from common.losses import rdrop_kl
    from common.training.trainer import Trainer

    model = DropoutClassifier().train()
    batch = {"input_ids": torch.randn(6, 4), "labels": torch.tensor([0, 1, 1, 0, 1, 0])}
    torch.manual_seed(1)
    loss = Trainer._compute_loss(SimpleNamespace(config=SimpleNamespace(rdrop_alpha=0.7), model=model, loss_fn=None), batch)
    torch.manual_seed(1)  # by hand: the same dropout draws over the batch stacked on itself
    logits = model.linear(model.dropout(torch.cat([batch["input_ids"]] * 2)))
    ce = (nn.functional.cross_entropy(logits[:6], batch["labels"]) +
          nn.functional.cross_entropy(logits[6:], batch["labels"])) / 2
    kl = rdrop_kl(logits[:6], logits[6:])
    assert kl.item() > 0.01 and torch.allclose(loss, ce + 0.7 * kl)
    torch.manual_seed(1)
    plain = Trainer._compute_loss(SimpleNamespace(config=SimpleNamespace(rdrop_alpha=0.0), model=model, loss_fn=None), batch)
    torch.manual_seed(1)
    assert torch.allclose(plain, model(**batch)["loss"])  # alpha 0: the model's own loss, one pass


def test_albert_embedding_projection_decays_with_the_embeddings():
    """ALBERT projects its embeddings to the hidden size (``embedding_hidden_mapping_in``) before its shared layer:
    that projection took the heads' full rate under --layer-lr-decay (probe T); it now goes with the embeddings."""
    from transformers import AlbertConfig, AlbertModel

    model = AlbertModel(AlbertConfig(vocab_size=50, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32), add_pooling_layer=False)
    groups = parameter_groups(model, 1.0, 0.01, layer_decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert lr_of[id(params["encoder.embedding_hidden_mapping_in.weight"])] == \
        lr_of[id(params["embeddings.word_embeddings.weight"])] < 1.0


def test_deberta_relative_embedding_norm_decays_with_the_embeddings():
    """DeBERTa-v2 normalizes its relative position embeddings with ``encoder.LayerNorm``, which took the heads' full
    rate under --layer-lr-decay; it now goes with ``encoder.rel_embeddings`` (depth 0) and its ``encoder.conv``
    with layer 0, while XLM-R-XL's ``encoder.LayerNorm`` (a final norm after the last layer) keeps the heads' rate."""
    from transformers import DebertaV2Config, DebertaV2Model, XLMRobertaXLConfig, XLMRobertaXLModel

    def rates(model):
        groups = parameter_groups(model, 1.0, 0.01, layer_decay=0.5)
        lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
        return {n: lr_of[id(p)] for n, p in model.named_parameters()}

    sizes = dict(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    deberta = rates(DebertaV2Model(DebertaV2Config(**sizes, relative_attention=True, position_buckets=8,
                                                   norm_rel_ebd="layer_norm", conv_kernel_size=3)))
    assert deberta["encoder.LayerNorm.weight"] == deberta["encoder.rel_embeddings.weight"] == 0.5 ** 3
    assert deberta["encoder.conv.conv.weight"] == deberta["encoder.layer.0.output.dense.weight"] == 0.5 ** 2
    final = rates(XLMRobertaXLModel(XLMRobertaXLConfig(**sizes), add_pooling_layer=False))
    assert final["encoder.LayerNorm.weight"] == 1.0 > final["encoder.layer.1.output.dense.weight"] == 0.5
