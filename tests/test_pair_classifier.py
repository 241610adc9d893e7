"""The shared pair classifier and its inputs (common/pair_classifier.py, common/pair_inputs.py)."""

import pytest
import torch
import torch.nn.functional as F

from common.pair_classifier import PairClassifier, PairPredictStep, masked_mean
from common.pair_inputs import PairDataset, collate_pairs
from tests.conftest import tiny_bert


def _batch(tokenizer):
    ds = PairDataset(["今天天气很好", "科比"], ["天气很好", "北京顺义两个地区调整为低风险地区"], [1, 0], tokenizer, 12)
    return ds, collate_pairs(ds.items, tokenizer.pad_token_id)


def test_inputs_mark_tokens_shared_with_the_other_text_and_truncate_longest_first(tiny_tokenizer):
    ds, batch = _batch(tiny_tokenizer)
    first = ds.items[0]
    tokens = tiny_tokenizer.convert_ids_to_tokens(first["input_ids"])
    # 6 + 4 characters + 3 specials > 12: the longer first text loses its last character
    assert tokens == ["[CLS]", "今", "天", "天", "气", "很", "[SEP]", "天", "气", "很", "好", "[SEP]"]
    # flags after truncation: 今 is not in the second text, 好 no longer in the first; specials never match
    assert first["match_ids"] == [0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0]
    assert max(ds.lengths) <= 12 and ds.items[1]["token_type_ids"][:4] == [0, 0, 0, 0]
    assert len(ds.items[1]["input_ids"]) == 12  # the long second text lost tokens, not 科比
    T = max(ds.lengths)
    assert batch["input_ids"].shape == batch["match_ids"].shape == batch["attention_mask"].shape == (2, T)
    assert batch["attention_mask"].sum(1).tolist() == ds.lengths and batch["labels"].tolist() == [1, 0]


def test_forward_shapes_loss_and_zero_initialised_match_embedding(tiny_tokenizer):
    torch.manual_seed(0)
    _, batch = _batch(tiny_tokenizer)
    model = PairClassifier(tiny_bert(len(tiny_tokenizer)), dropout=0.0).eval()
    out = model(**batch)
    assert out.logits.shape == (2, 2)
    assert torch.allclose(out.loss, F.cross_entropy(out.logits, batch["labels"]))
    without = model(**{k: v for k, v in batch.items() if k != "match_ids"})
    assert torch.allclose(out.logits, without.logits)  # the match embedding starts at zero
    model.logit_adjust_tau = 1.0
    model.set_log_prior(torch.log(torch.tensor([0.7, 0.3])))
    adjusted = F.cross_entropy(out.logits + torch.log(torch.tensor([0.7, 0.3])), batch["labels"])
    assert torch.allclose(model(**batch).loss, adjusted)
    prob = PairPredictStep()(model, {k: v for k, v in batch.items() if k != "labels"})["prob"]
    assert torch.allclose(prob, torch.softmax(out.logits, -1)[:, 1])


def test_masked_mean_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])  # (1, 3, 1)
    assert masked_mean(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0]]


def test_conditioned_classifier_starts_as_the_plain_one(tiny_tokenizer):
    """Zero-initialised Conditional LayerNorm projections: any condition id gives the unconditioned logits."""
    import copy

    from tests.conftest import tiny_bert

    torch.manual_seed(0)
    encoder = tiny_bert(len(tiny_tokenizer))
    plain = PairClassifier(copy.deepcopy(encoder), dropout=0.0).eval()
    conditioned = PairClassifier(encoder, dropout=0.0, num_conditions=3, condition_size=4).eval()
    conditioned.classifier.load_state_dict(plain.classifier.state_dict())
    _, batch = _batch(tiny_tokenizer)
    batch.pop("labels")
    expected = plain(**batch).logits
    for c in range(3):
        got = conditioned(**batch, condition_ids=torch.full((2,), c)).logits
        assert torch.allclose(got, expected, atol=1e-6)
    assert conditioned.log_prior.shape == (3, 2)
    with pytest.raises(ValueError, match="condition_ids"):
        conditioned(**batch)


def test_trim_longer_first_gives_the_second_side_the_odd_token(tiny_tokenizer):
    from common.pair_inputs import trim_longer_first

    assert trim_longer_first([1] * 11, [2] * 10, 9) == ([1] * 4, [2] * 5)
    assert trim_longer_first([1] * 3, [2] * 10, 9) == ([1] * 3, [2] * 6)
    ds = PairDataset(["今天天气很好"], ["天气很好"], None, tiny_tokenizer, 12, conditions=[4], truncation="trim_longer")
    assert ds.items[0]["condition_ids"] == 4 and "labels" not in ds.items[0]
    assert ds.items[0]["match_ids"] == _batch(tiny_tokenizer)[0].items[0]["match_ids"]  # same cut here
    with pytest.raises(ValueError, match="truncation"):
        PairDataset(["a"], ["b"], None, tiny_tokenizer, 12, truncation="middle")


def test_tfidf_reference_scores_out_of_fold_on_saved_folds(tmp_path):
    import json

    import numpy as np

    import jieba

    from common.tfidf_reference import PairFeatures, fit_predict, out_of_fold

    first = ["今天天气很好", "我想订机票", "明天会下雨吗", "帮我订酒店"] * 6
    second = ["今天天气不错", "我要订飞机票", "后天下雨吗", "播放音乐"] * 6
    labels = np.array([1, 1, 0, 0] * 6)
    ids = [f"train:{i}" for i in range(24)]
    (tmp_path / "folds.json").write_text(json.dumps({"folds": 2, "fold": [i % 2 for i in range(24)], "ids": ids}))

    def predict_fold(train_idx, held_idx):
        features = PairFeatures("char", 2).fit([first[i] for i in train_idx] + [second[i] for i in train_idx])
        pick = lambda idx: ([first[i] for i in idx], [second[i] for i in idx])  # noqa: E731
        return fit_predict(features, pick(train_idx), labels[train_idx], [pick(held_idx)])[0]

    oof, fold, k = out_of_fold(tmp_path, ids, predict_fold)
    assert k == 2 and oof.shape == (24,) and fold.tolist() == [i % 2 for i in range(24)]
    held = np.flatnonzero(fold == 1)
    assert np.allclose(oof[held], predict_fold(np.flatnonzero(fold == 0), held))  # each row from the model without it
    with pytest.raises(ValueError, match="folds for 24 pairs"):
        out_of_fold(tmp_path, ids[:5], predict_fold)
    with pytest.raises(ValueError, match="ids differ"):
        out_of_fold(tmp_path, ids[::-1], predict_fold)
    ids_features = PairFeatures("ids", 1, with_sum=False).fit([[1, 2], [2, 3], [1, 2]])
    assert ids_features.transform([[1, 2]], [[2, 3]]).shape[1] == 2 * 2 + 3  # |a-b|, a*b over ids 1, 2 (min_df 2), 3 dense
    texts = ["今天天气很好", "今天天气不错", "明天天气很好", "我想订机票"]
    cut = [set(jieba.lcut(t)) for t in texts]
    seen_twice = {w for w in set().union(*cut) if sum(w in c for c in cut) >= 2}  # min_df 2
    assert set(PairFeatures("word", 1).fit(texts).vectorizer.vocabulary_) == seen_twice
    assert any(len(w) > 1 for w in seen_twice)  # words, not characters


@pytest.mark.parametrize("family", ["albert", "electra"])
def test_factorised_embeddings_take_the_match_and_word_tables_at_their_width(family):
    """ALBERT and ELECTRA embed tokens at ``embedding_size`` (< hidden_size): the input tables are that wide, and
    start at zero, so the classifier starts as the encoder without them (a pretrained one starts where it was)."""
    import transformers

    sizes = dict(vocab_size=50, embedding_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=32)
    torch.manual_seed(0)
    ids, mask = torch.randint(5, 50, (3, 9)), torch.ones(3, 9, dtype=torch.long)
    for conditions in (0, 6):
        if family == "albert":
            encoder = transformers.AlbertModel(transformers.AlbertConfig(**sizes), add_pooling_layer=False)
        else:
            encoder = transformers.ElectraModel(transformers.ElectraConfig(**sizes))
        model = PairClassifier(encoder, dropout=0.0, word_match=True, word_buckets=10, num_conditions=conditions,
                               condition_size=4 if conditions else 0).eval()
        assert model.match_embedding.weight.shape == (2, 16) and model.word_embedding.weight.shape == (10, 16)
        extra = {"condition_ids": torch.tensor([0, 3, 5])} if conditions else {}
        out = model(input_ids=ids, attention_mask=mask, match_ids=torch.randint(0, 2, (3, 9)),
                    word_match_ids=torch.randint(0, 2, (3, 9)), word_ids=torch.randint(0, 10, (3, 9)), **extra)
        plain = model(input_ids=ids, attention_mask=mask, **extra)
        assert out.logits.shape == (3, 2) and torch.allclose(out.logits, plain.logits, atol=1e-6)


def test_a_tokenizer_without_segment_ids_is_refused_in_one_line(tiny_tokenizer):
    """An XLM-R-style tokenizer (no token_type_ids) ended in a bare ``error: token_type_ids`` (probe H)."""
    import copy

    one_segment = copy.deepcopy(tiny_tokenizer)
    one_segment.model_input_names = ["input_ids", "attention_mask"]
    with pytest.raises(ValueError, match=r"gives no token_type_ids: the pair inputs are BERT's \[CLS\] a \[SEP\] b"):
        PairDataset(["今天天气很好"], ["天气很好"], [1], one_segment, 12)


def test_segment_ids_reach_only_an_encoder_with_two_segments(tiny_tokenizer):
    """XLM-R and RoBERTa embed one segment: the second text's segment id 1 was an IndexError at the first batch
    (probe T, Sohu with an XLM-R checkpoint). Such an encoder now sees one segment, as it was pretrained (the logits
    are those without segment ids), while a BERT still reads them (its logits move with them); ESIM's head reads them
    either way."""
    import transformers

    _, batch = _batch(tiny_tokenizer)
    alone = {**batch, "token_type_ids": torch.zeros_like(batch["token_type_ids"])}  # one segment
    sizes = dict(vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=40)
    torch.manual_seed(0)
    xlmr = transformers.XLMRobertaModel(transformers.XLMRobertaConfig(type_vocab_size=1, **sizes),
                                        add_pooling_layer=False)
    for conditions, esim in ((0, False), (6, False), (0, True)):
        extra = {"condition_ids": torch.tensor([0, 5])} if conditions else {}
        model = PairClassifier(xlmr, dropout=0.0, num_conditions=conditions, esim=esim,
                               condition_size=4 if conditions else 0).eval()
        assert not model.encoder_segments
        out = model(**batch, **extra)  # was: IndexError: index out of range in self
        assert out.logits.shape == (2, 2) and torch.isfinite(out.logits).all()
        if not esim:  # (ESIM reads them: it runs, and starts at zero)
            assert torch.allclose(out.logits, model(**alone, **extra).logits)
    bert = PairClassifier(tiny_bert(len(tiny_tokenizer)), dropout=0.0).eval()
    assert bert.encoder_segments
    flipped = {**batch, "token_type_ids": 1 - batch["token_type_ids"]}
    assert not torch.allclose(bert(**batch).logits, bert(**flipped).logits)


def test_saving_a_model_built_from_an_mlm_folder_writes_the_encoder_config_its_trainer_writes(tmp_path, tiny_tokenizer):
    """Probe AC: a resumed student rewrote ``encoder/config.json`` naming its MLM cache's class (``BertForMaskedLM``)
    where training had written ``BertModel``; a rerun of a finished recipe must leave the run folder as it was."""
    import json

    from transformers import BertConfig, BertForMaskedLM

    from common.pair_classifier import build_pair_model
    from competitions.afqmc.config import AfqmcConfig

    cache = tmp_path / "mlm"
    BertForMaskedLM(BertConfig(vocab_size=len(tiny_tokenizer), hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=64)).save_pretrained(cache)
    tiny_tokenizer.save_pretrained(cache)
    model = build_pair_model(AfqmcConfig(model=str(cache)), tmp_path / "run", ["今天"], [0, 1])
    model.save(tmp_path / "run")
    written = json.loads((tmp_path / "run" / "encoder" / "config.json").read_text(encoding="utf-8"))
    model.module.encoder.save_pretrained(tmp_path / "trainer")  # as the trainer saves the best weights
    assert written == json.loads((tmp_path / "trainer" / "config.json").read_text(encoding="utf-8"))
    assert written["architectures"] == ["BertModel"]
