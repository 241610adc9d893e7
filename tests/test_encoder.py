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


def _pair_run(folder, model="", weights=True):
    """A fabricated pair-classifier run folder: run config, encoder/ (config, weights), tokenizer/."""
    import json

    (folder / "encoder").mkdir(parents=True)
    (folder / "tokenizer").mkdir()
    (folder / "config.json").write_text(json.dumps({"model": model}), encoding="utf-8")
    (folder / "encoder" / "config.json").write_text("{}", encoding="utf-8")
    if weights:
        (folder / "encoder" / "model.safetensors").write_bytes(b"")
    return folder


def test_model_folders_of_a_run_a_kfold_run_and_anything_else(tmp_path):
    import pytest

    from common.encoder import model_folders

    run = _pair_run(tmp_path / "run")
    assert model_folders(str(run)) == (str(run / "encoder"), str(run / "tokenizer"))
    assert model_folders("hfl/chinese-roberta-wwm-ext") == ("hfl/chinese-roberta-wwm-ext",) * 2
    assert model_folders(str(tmp_path)) == (str(tmp_path),) * 2  # a model folder of any other layout
    _pair_run(tmp_path / "cv" / "fold0")
    with pytest.raises(FileNotFoundError, match=r"a k-fold run; give one fold's folder, e.g. .*cv/fold0"):
        model_folders(str(tmp_path / "cv"))
    _pair_run(tmp_path / "early", weights=False)
    with pytest.raises(FileNotFoundError, match="holds no weights yet"):
        model_folders(str(tmp_path / "early"))


def test_a_missing_local_model_folder_is_a_one_line_error_not_a_hub_lookup(tmp_path, monkeypatch):
    """``--model cache/afqmc-mlm`` before it was built went to the Hub, retried for a minute and ended in a traceback
    about the internet connection."""
    import pytest

    from common.encoder import missing_local_path, model_folders

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache").mkdir()
    with pytest.raises(FileNotFoundError, match=r"--model cache/afqmc-mlm: no such folder \(cache/ is a folder here"):
        model_folders("cache/afqmc-mlm")
    for path in (str(tmp_path / "absent"), "./absent", "runs/a/b"):
        with pytest.raises(FileNotFoundError, match="not a HuggingFace Hub id either"):
            model_folders(path)
    for hub_id in ("hfl/chinese-macbert-base", "bert-base-chinese", "junnyu/roformer_chinese_base"):
        assert missing_local_path(hub_id) == "" and model_folders(hub_id) == (hub_id, hub_id)
    (tmp_path / "cache" / "afqmc-mlm").mkdir()
    assert model_folders("cache/afqmc-mlm") == ("cache/afqmc-mlm",) * 2


def test_a_run_keeps_the_learning_rate_rule_of_what_it_started_from(tmp_path):
    """A run from scratch or from this project's pretraining counts as this project's (the task's rate);
    a run from an outside checkpoint, as outside (pretrained_learning_rate); the rule follows chains."""
    from common.encoder import is_project_pretraining

    (tmp_path / "mlm").mkdir()
    (tmp_path / "mlm" / "pretrain_config.json").write_text("{}", encoding="utf-8")
    assert is_project_pretraining(str(_pair_run(tmp_path / "scratch", model="")))
    assert is_project_pretraining(str(_pair_run(tmp_path / "from-mlm", model=str(tmp_path / "mlm"))))
    assert not is_project_pretraining(str(_pair_run(tmp_path / "from-hf", model="hfl/chinese-macbert-base")))
    assert is_project_pretraining(str(_pair_run(tmp_path / "chain", model=str(tmp_path / "from-mlm"))))
    assert not is_project_pretraining(str(_pair_run(tmp_path / "chain-hf", model=str(tmp_path / "from-hf"))))
    assert not is_project_pretraining("hfl/chinese-macbert-base")


def test_a_model_folder_whose_tokenizer_cannot_feed_it_is_refused(tmp_path, tiny_tokenizer):
    """A folder saved without its tokenizer files gave transformers 5's 5-token BERT tokenizer: every character
    [UNK], and a run trained to the class prior without a word (probe H); a tokenizer larger than the model's
    embedding table failed with an IndexError at the first batch, after the run folder was written."""
    import pytest

    from common.encoder import load_tokenizer

    def saved(name: str, vocab_size: int, tokenizer=None) -> str:
        BertModel(BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32)).save_pretrained(tmp_path / name)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp_path / name)
        return str(tmp_path / name)

    with pytest.raises(ValueError, match=r"no tokenizer files there .*only its 5 special tokens.*\[UNK\]"):
        load_tokenizer(EncoderConfig(model=saved("bare", len(tiny_tokenizer))))
    with pytest.raises(ValueError, match=rf"its tokenizer has {len(tiny_tokenizer)} tokens, the model's embeddings "
                                         r"10 rows"):
        load_tokenizer(EncoderConfig(model=saved("small", 10, tiny_tokenizer)))
    ok = load_tokenizer(EncoderConfig(model=saved("ok", len(tiny_tokenizer), tiny_tokenizer)))
    assert ok.get_vocab() == tiny_tokenizer.get_vocab()


def test_roformers_sinusoidal_position_table_stays_fixed(tmp_path, tiny_tokenizer):
    """RoFormer's sin/cos position table is built frozen, but transformers loads it as a trainable parameter, so
    fine-tuning moved it (by 1.6e-4 in 25 steps, probe T). ``build_encoder`` keeps it fixed, and only it."""
    from transformers import RoFormerConfig, RoFormerModel

    from common.encoder import build_encoder

    RoFormerModel(RoFormerConfig(vocab_size=len(tiny_tokenizer), embedding_size=32, hidden_size=32,
                                 num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                 max_position_embeddings=64)).save_pretrained(tmp_path / "roformer")
    encoder = build_encoder(EncoderConfig(model=str(tmp_path / "roformer")), tiny_tokenizer)
    frozen = [n for n, p in encoder.named_parameters() if not p.requires_grad]
    assert frozen == ["encoder.embed_positions.weight"]


def test_a_pretraining_cache_of_other_data_is_warned_about(tmp_path, caplog):
    """``make afqmc-train DATA=/other`` reused cache/afqmc-mlm, pretrained on data/..., without a word (probe W)."""
    import json

    from common.encoder import warn_other_pretraining_data

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "pretrain_config.json").write_text(json.dumps({"data_dir": str(tmp_path / "data" / "afqmc")}))
    with caplog.at_level("WARNING", logger="common.encoder"):
        assert warn_other_pretraining_data(str(cache), str(tmp_path / "data" / "afqmc" / ".")) == ""  # the same
        assert not caplog.text
        message = warn_other_pretraining_data(str(cache), str(tmp_path / "other"))
    assert message.startswith(f"--model {cache} was pretrained on {tmp_path / 'data' / 'afqmc'}, this run reads")
    assert message in caplog.text
    assert warn_other_pretraining_data("hfl/chinese-macbert-base", str(tmp_path / "other")) == ""  # not ours
    # probe AC: a smoke recipe's cache (PRETRAIN_ARGS="--limit 300") was reused by the full recipe without a word
    (cache / "pretrain_config.json").write_text(json.dumps({"data_dir": str(tmp_path / "data"), "limit": 300}))
    message = warn_other_pretraining_data(str(cache), str(tmp_path / "data"))
    assert message == (f"--model {cache} was pretrained on the first 300 rows of its files only (--limit 300: a "
                       f"quick run's cache?) (to pretrain on this data, delete {cache} and make its target again)")
    longer = tmp_path / "cache-8ep"  # more epochs on it, without --limit (probe AI: sohu-mlm-8ep on a quick sohu-mlm)
    longer.mkdir()
    (longer / "pretrain_config.json").write_text(json.dumps({"data_dir": str(tmp_path / "data"), "limit": 0,
                                                             "model": str(cache)}))
    assert f"--model {longer} started from {cache}, which was pretrained on the first 300 rows" in \
        warn_other_pretraining_data(str(longer), str(tmp_path / "data"))
    (cache / "pretrain_config.json").write_text(json.dumps({"data_dir": str(tmp_path / "data"), "limit": 0}))
    assert warn_other_pretraining_data(str(longer), str(tmp_path / "data")) == ""
