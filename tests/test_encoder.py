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
