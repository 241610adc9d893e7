"""Shared test fixtures: repo paths, the real-data location, a tiny tokenizer."""

from __future__ import annotations

import common  # noqa: F401  first: pins OpenBLAS's kernels before any test module loads numpy (common.blas)
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DATA_DIR", ROOT / "data"))
SHARED_VOCAB = ROOT / "common" / "vocab" / "bert-base-chinese"  # shipped with the code


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A BERT tokenizer over a small character vocab built from a few sentences."""
    from common.encoder import EncoderConfig, load_tokenizer

    texts = ["今天天气很好，我们去公园散步。", "北京顺义两个地区调整为低风险地区", "科比与奥尼尔的湖人王朝"] * 3
    return load_tokenizer(EncoderConfig(vocab=str(tmp_path_factory.mktemp("none") / "missing")),
                          texts=texts, build_dir=tmp_path_factory.mktemp("vocab"))


def tiny_bert(vocab_size: int, hidden: int = 32, layers: int = 2):
    """A 2-layer hidden-32 BertModel, random init (seeded by the caller)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=64)
    return BertModel(config, add_pooling_layer=False)


def masked_loss_and_grads(model, batch, params_of=None):
    """:func:`common.pretraining.masked_token_loss` of ``model`` on ``batch``, backward, and the gradients of
    ``params_of`` (default: ``model``; the inner model of a wrapper) by parameter name: (loss, {name: grad})."""
    from common.pretraining import masked_token_loss

    params_of = params_of if params_of is not None else model
    params_of.zero_grad()
    loss = masked_token_loss(model, batch)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in params_of.named_parameters() if p.grad is not None}


@pytest.hookimpl(tryfirst=True)  # before -m "not slow" deselects
def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` the cases of a fixture-parametrized test that its module lists in ``SLOW_CASES``.

    ``SLOW_CASES`` maps a test function's name to the parameter ids whose cases are slow, for tests
    parametrized through a fixture (where ``pytest.param(..., marks=...)`` cannot single out one test).
    The fast suite keeps one case of each such test; ``make test-all`` runs them all.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        cases = getattr(getattr(item, "module", None), "SLOW_CASES", {})
        if callspec is not None and callspec.id in cases.get(item.originalname, ()):
            item.add_marker(pytest.mark.slow)
