"""common.encoder: --dropout reaches a pretrained encoder, not only the from-scratch one."""

from transformers import BertConfig, BertModel

from common.encoder import EncoderConfig, build_encoder, pretrained_config


def test_dropout_flag_reaches_a_pretrained_encoder(tmp_path, tiny_tokenizer):
    saved = BertModel(BertConfig(vocab_size=len(tiny_tokenizer), hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32, hidden_dropout_prob=0.1,
                                 attention_probs_dropout_prob=0.1))
    saved.save_pretrained(tmp_path / "enc")
    config = EncoderConfig(model=str(tmp_path / "enc"), dropout=0.3)
    assert pretrained_config(config).hidden_dropout_prob == 0.3
    encoder = build_encoder(config, tiny_tokenizer)
    assert encoder.config.hidden_dropout_prob == 0.3 and encoder.config.attention_probs_dropout_prob == 0.3
    assert encoder.embeddings.dropout.p == 0.3
    # the weights are still the saved ones
    assert all((a == b).all() for a, b in zip(saved.state_dict().values(), encoder.state_dict().values()))


def test_default_vocab_is_the_shipped_one_from_any_working_directory(tmp_path, monkeypatch, caplog):
    """A clone used from another folder tree tokenizes with the shipped 21128-token vocab, no fallback."""
    import logging

    from common.encoder import EncoderConfig, load_tokenizer

    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING):
        tokenizer = load_tokenizer(EncoderConfig(), texts=["今天天气很好"], build_dir=tmp_path / "built")
    assert len(tokenizer) == 21128 and not (tmp_path / "built").exists()
    assert tokenizer("我爱北京天安门")["input_ids"] == [101, 2769, 4263, 1266, 776, 1921, 2128, 7305, 102]
    assert "not found" not in caplog.text
