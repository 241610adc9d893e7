import copy

import torch
from torch import nn

from common.layers.conditional_layer_norm import ConditionalEncoder, ConditionalLayerNorm
from tests.conftest import tiny_bert


def test_zero_projections_equal_layer_norm():
    torch.manual_seed(0)
    ln = nn.LayerNorm(16, eps=1e-6)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    cln = ConditionalLayerNorm.from_layer_norm(ln, condition_size=4)
    x = torch.randn(3, 5, 16)
    cond = torch.randn(3, 4)
    torch.testing.assert_close(cln(x, cond), ln(x))


def test_condition_shifts_gain_and_bias_by_the_textbook_formula():
    torch.manual_seed(1)
    cln = ConditionalLayerNorm(8, condition_size=3)
    with torch.no_grad():
        cln.gamma_proj.weight.normal_()
        cln.beta_proj.weight.normal_()
    x, c = torch.randn(2, 4, 8), torch.randn(2, 3)
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    gamma = cln.weight + c @ cln.gamma_proj.weight.T  # (B, H)
    beta = cln.bias + c @ cln.beta_proj.weight.T
    expected = (x - mean) / torch.sqrt(var + cln.eps) * gamma[:, None] + beta[:, None]
    torch.testing.assert_close(cln(x, c), expected, rtol=1e-4, atol=1e-5)
    # different conditions give different outputs for the same input
    assert not torch.allclose(cln(x, c), cln(x, c.flip(0)))


def test_missing_condition_is_an_error():
    cln = ConditionalLayerNorm(8, 3)
    try:
        cln(torch.randn(1, 8))
    except RuntimeError as err:
        assert "condition" in str(err)
    else:
        raise AssertionError("expected RuntimeError")


def test_wrapped_bert_is_unchanged_at_init_and_every_layer_norm_is_conditioned():
    torch.manual_seed(0)
    bert = tiny_bert(50).eval()
    reference = copy.deepcopy(bert)
    wrapped = ConditionalEncoder(bert, num_conditions=6, condition_size=8).eval()
    assert wrapped.num_conditioned == 1 + 2 * 2  # embeddings + 2 per layer
    assert not any(type(m) is nn.LayerNorm for m in wrapped.modules())
    ids = torch.randint(0, 50, (3, 7))
    mask = torch.ones_like(ids)
    out = wrapped(condition_ids=torch.tensor([0, 3, 5]), input_ids=ids, attention_mask=mask).last_hidden_state
    ref = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(out, ref)
    assert wrapped.context.condition.shape == (3, 8)  # kept until the next pass (gradient checkpointing reruns)
    assert copy.deepcopy(wrapped).context.condition is None  # a copy (EMA's) starts empty, not with a graph tensor


def test_gradient_checkpointing_of_a_conditioned_encoder_gives_the_same_gradients():
    """--gradient-checkpointing reruns each layer in backward; its ConditionalLayerNorms must read the same
    condition there (before the fix they found none: 'ConditionalLayerNorm needs a condition')."""
    from common.training.trainer import enable_gradient_checkpointing

    ids, conditions = torch.randint(0, 50, (4, 9)), torch.tensor([0, 1, 1, 0])
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        wrapped = ConditionalEncoder(tiny_bert(50), num_conditions=2, condition_size=4)
        for module in wrapped.modules():
            if isinstance(module, ConditionalLayerNorm):
                nn.init.normal_(module.gamma_proj.weight, std=0.1)
        if checkpointing:
            assert enable_gradient_checkpointing(wrapped) == 1
        wrapped.train()
        torch.manual_seed(1)  # the same dropout masks; checkpointing replays them in its rerun
        wrapped(condition_ids=conditions, input_ids=ids).last_hidden_state.pow(2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in wrapped.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and "condition_embedding.weight" in grads[0]
    assert grads[0]["condition_embedding.weight"].abs().sum() > 0
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-6, msg=name)


def test_conditions_diverge_after_training_the_projections():
    torch.manual_seed(0)
    wrapped = ConditionalEncoder(tiny_bert(50), num_conditions=2, condition_size=4).eval()
    for module in wrapped.modules():
        if isinstance(module, ConditionalLayerNorm):
            nn.init.normal_(module.gamma_proj.weight, std=0.1)
    ids = torch.randint(0, 50, (1, 5)).repeat(2, 1)
    out = wrapped(condition_ids=torch.tensor([0, 1]), input_ids=ids).last_hidden_state
    assert not torch.allclose(out[0], out[1])


def test_deberta_v2_relative_position_norm_stays_unconditioned():
    """DeBERTa-v2/v3 with relative attention normalises its (2 * buckets, H) position table with a LayerNorm:
    conditioning it crashed Sohu (or, at a batch of 2 * buckets, would have conditioned table rows on examples;
    probe H). It stays a plain LayerNorm; every per-example LayerNorm is conditioned, and at init the wrapped
    model is the model."""
    from transformers import DebertaV2Config, DebertaV2Model

    torch.manual_seed(0)
    config = DebertaV2Config(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=32, max_position_embeddings=64, relative_attention=True,
                             position_buckets=4, norm_rel_ebd="layer_norm", max_relative_positions=-1,
                             position_biased_input=False, pos_att_type=["p2c", "c2p"], type_vocab_size=0)
    model = DebertaV2Model(config).eval()
    reference = copy.deepcopy(model)
    wrapped = ConditionalEncoder(model, num_conditions=6, condition_size=8).eval()
    assert wrapped.num_conditioned == 1 + 2 * 2 and type(model.encoder.LayerNorm) is nn.LayerNorm
    ids = torch.randint(0, 50, (8, 6))  # a batch of 2 * position_buckets rows
    conditions = torch.arange(8) % 6
    out = wrapped(condition_ids=conditions, input_ids=ids).last_hidden_state
    torch.testing.assert_close(out, reference(input_ids=ids).last_hidden_state)
    with torch.no_grad():
        for module in wrapped.modules():
            if isinstance(module, ConditionalLayerNorm):
                module.gamma_proj.weight.normal_()
    same = ids[:1].expand(2, -1)
    two = wrapped(condition_ids=torch.tensor([0, 1]), input_ids=same).last_hidden_state
    assert not torch.allclose(two[0], two[1])
    try:
        ConditionalLayerNorm(16, 8)(torch.randn(8, 16), torch.randn(2, 8))
    except RuntimeError as err:
        assert "input of shape (8, 16) for 2 conditions" in str(err)
    else:
        raise AssertionError("expected RuntimeError")
