"""``--tta-swap`` (both text orders averaged), ``--pair-statistics`` and ``--alignment-statistics`` (hand features
beside the encoder)."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from common.match_features import NUM_STATISTICS, pair_statistics, scaled_statistics
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "xiaobu"
TINY = ["--hidden-size", "32", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64",
        "--batch-size", "16", "--data-dir", str(FIXTURES), "--train-file", "train.tsv", "--test-file", "test.tsv",
        "--model", "", "--valid-fraction", "0.25", "--epochs", "1"]
TINY_PAIR_BERT = dict(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                      max_position_embeddings=16)  # BertConfig fields of the head tests' one-layer encoder


def classifier_and_plain(**extra):
    """(BertPairClassifier with the ``extra`` BertConfig fields, BertForSequenceClassification), both in eval mode,
    at seed 0; the plain one is not yet given the classifier's weights."""
    from transformers import BertConfig, BertForSequenceClassification

    from common.bert_pair_classifier import BertPairClassifier

    torch.manual_seed(0)
    model = BertPairClassifier(BertConfig(num_labels=2, **extra, **TINY_PAIR_BERT)).eval()
    return model, BertForSequenceClassification(BertConfig(num_labels=2, **TINY_PAIR_BERT)).eval()


def test_pair_statistics_by_hand():
    a, b = [1, 2, 3], [2, 3, 4]
    row = pair_statistics([a], [b])[0]
    #         la lb |d| rel  J1   J2   J3   1-gram a-in-b b-in-a  2-gram    match a, b
    expected = [3, 3, 0, 0, 2 / 4, 1 / 3, 0, 2 / 3, 2 / 3, 1 / 2, 1 / 2, 2 / 3, 2 / 3]
    assert row.tolist() == pytest.approx(expected)
    scaled = scaled_statistics([a], [b])[0]
    assert scaled.dtype == np.float32 and scaled.shape == (NUM_STATISTICS,)
    assert scaled[:3].tolist() == pytest.approx([math.log(4), math.log(4), 0.0])
    assert scaled[3:].tolist() == pytest.approx(expected[3:])


def test_swapped_statistics_equal_the_statistics_of_the_swapped_pairs():
    from common.match_features import swapped_statistics

    rng = np.random.default_rng(0)
    first = [rng.integers(0, 6, rng.integers(0, 9)).tolist() for _ in range(200)]
    second = [rng.integers(0, 6, rng.integers(0, 9)).tolist() for _ in range(200)]
    np.testing.assert_array_equal(swapped_statistics(pair_statistics(first, second)), pair_statistics(second, first))
    np.testing.assert_array_equal(swapped_statistics(scaled_statistics(["今天天气"], ["天气好"])),
                                  scaled_statistics(["天气好"], ["今天天气"]))


def test_dataset_statistics_follow_the_swap_and_collate_to_float():
    from common.id_vocab import build_id_vocab
    from common.pair_inputs import IdPairDataset, collate_pairs
    from competitions.xiaobu.data import Pair

    a, b = [5, 6, 7, 8], [7, 9]
    vocab = build_id_vocab([a, b], min_freq=1)
    kept = IdPairDataset([Pair(a, b, 1)], vocab, 64, use_statistics=True)[0]
    swapped = IdPairDataset([Pair(a, b, 1)], vocab, 64, swap_prob=1.0, use_statistics=True)[0]
    assert kept["statistics"] == pytest.approx(scaled_statistics([a], [b])[0].tolist())
    assert swapped["statistics"] == pytest.approx(scaled_statistics([b], [a])[0].tolist())
    assert kept["statistics"][0] != swapped["statistics"][0]  # log1p(len a) first, then log1p(len b)
    batch = collate_pairs([kept, swapped], pad_id=vocab.pad_id)
    assert batch["statistics"].shape == (2, NUM_STATISTICS) and batch["statistics"].dtype == torch.float32
    assert "statistics" not in IdPairDataset([Pair(a, b, 1)], vocab, 64)[0]


def test_statistics_head_starts_as_the_plain_classifier_and_then_uses_them():
    model, plain = classifier_and_plain(pair_statistics=NUM_STATISTICS)
    missing = plain.load_state_dict(model.state_dict(), strict=False)
    assert set(missing.unexpected_keys) == {"statistics_projection.weight", "statistics_projection.bias"}
    ids, stats = torch.randint(0, 30, (3, 6)), torch.rand(3, NUM_STATISTICS)
    labels = torch.tensor([0, 1, 1])
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids, statistics=stats).logits, plain(input_ids=ids).logits, atol=1e-6)
    model.train()
    model(input_ids=ids, statistics=stats, labels=labels).loss.backward()
    assert model.statistics_projection.weight.grad.abs().sum() > 0  # zero start, yet it learns
    with torch.no_grad():
        model.statistics_projection.weight.normal_()
        model.eval()
        assert not torch.allclose(model(input_ids=ids, statistics=stats).logits, plain(input_ids=ids).logits)
    with pytest.raises(ValueError, match="--pair-statistics"):
        model(input_ids=ids)


def _digests(folder):
    """Every file's content digest and modification time (a rewrite with the same bytes changes the latter)."""
    return {p.relative_to(folder): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tta_swap_is_the_mean_of_both_orders_and_statistics_survive_reload(tmp_path):
    """Train a tiny Xiaobu run with --pair-statistics, then predict it with --tta-swap."""
    from accelerate import Accelerator

    from common.commands import blend, predict, train
    from common.report import run_kind
    from common.task import Task, get_task

    run = tmp_path / "run"
    result = train.main(["--task", "xiaobu"] + TINY + ["--pair-statistics", "true", "--run-dir", str(run),
                                                      "--tta-swap", "false",  # Xiaobu's default is on
                                                      "--submission-dir", str(tmp_path / "sub")])
    task = get_task("xiaobu")
    config, model = predict.load_run(task, run)
    assert config.pair_statistics and model.module.statistics_projection is not None
    data = task.load_data(config)
    accelerator = Accelerator(cpu=True)
    one = predict.probabilities(task, config, model, data.test, accelerator)
    other = predict.probabilities(task, config, model, task.swapped(data.test), accelerator)
    assert not np.allclose(one, other)  # the order matters to the model, so averaging does something
    config.tta_swap = True
    both = predict.probabilities(task, config, model, data.test, accelerator)
    np.testing.assert_allclose(both, (one + other) / 2, rtol=1e-6)

    trained = _digests(run)
    again = predict.main(["--task", "xiaobu", "--run", str(run), "--submission-dir", str(tmp_path / "plain")])
    assert again["valid"] == result["valid"]  # the statistics head reloads as trained
    assert _digests(run) == trained  # predict leaves the trained folder as it was (a read-only one works)
    tta = predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true",
                        "--submission-dir", str(tmp_path / "tta")])
    assert _digests(run) == trained  # the other setting's outputs go beside the run, not into it
    setting = tmp_path / "run-tta"
    assert "-tta" in tta["submission"] and tta["run_dir"] == str(setting)
    saved = np.load(setting / "probabilities.npz")
    np.testing.assert_allclose(saved["test_probs"], both, rtol=1e-6)
    assert json.loads((setting / "metrics.json").read_text())["predicted_from"] == str(run)
    assert json.loads((setting / "config.json").read_text())["tta_swap"] is True
    assert run_kind(setting) == "inference setting"
    assert predict.main(["--task", "xiaobu", "--run", str(run), "--tta-swap", "true",  # a rerun rewrites it
                         "--submission-dir", str(tmp_path / "tta")])["valid"] == tta["valid"]
    with pytest.raises(FileNotFoundError, match=f"predictions of {run} with another inference setting"):
        predict.load_run(task, setting)
    mixed = blend.blend_runs(task, [str(run), str(setting)], submission_dir=str(tmp_path / "blend"))
    assert json.loads((Path(mixed["run_dir"]) / "metrics.json").read_text())["runs"] == [str(run), str(setting)]
    (tmp_path / "other-tta").mkdir()  # a folder of that name that is not this run's predictions
    (tmp_path / "other-tta" / "model.pt").write_bytes(b"x")
    (tmp_path / "other").symlink_to(run)
    with pytest.raises(FileExistsError, match="other-tta exists and is not"):
        predict.main(["--task", "xiaobu", "--run", str(tmp_path / "other"), "--tta-swap", "true"])

    class Unordered(Task):  # a task without symmetric pairs (NER-like): the option is refused
        name = "unordered"

    with pytest.raises(ValueError, match="--tta-swap: task unordered has no symmetric text pairs"):
        predict.probabilities(Unordered(), config, model, data.test, accelerator)


def test_with_swap_tta_the_best_epoch_is_chosen_on_the_score_the_run_reports(tmp_path):
    """Xiaobu's default (--tta-swap on): every epoch's validation AUC is that of the mean of both orders, so
    metrics.json's best score, the run's validation score and its submission's name agree."""
    import json

    from accelerate import Accelerator
    from sklearn.metrics import roc_auc_score

    from common.commands import predict, train
    from common.task import get_task

    run = tmp_path / "run"
    # batches of 5 rows: one pass over both orders has a batch that mixes them, as the epoch scoring in training
    # does; predict batches the same rows the same way, so the score is equal, not close (on this CPU two passes,
    # one per order, gave the same floats too: the check is for kernels whose rounding depends on the batch)
    result = train.main(["--task", "xiaobu"] + TINY + ["--run-dir", str(run), "--submission-dir", str(tmp_path / "s"),
                                                      "--eval-batch-size", "5"])
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    task = get_task("xiaobu")
    config, model = predict.load_run(task, run)
    assert config.tta_swap
    valid = task.load_data(config).valid
    both = predict.probabilities(task, config, model, valid, Accelerator(cpu=True))  # the best epoch's weights
    assert metrics["best_metric"] == roc_auc_score(task.labels(valid), both)  # the same batches: exactly
    assert result["valid"]["auc"] == metrics["best_metric"] and f"auc{metrics['best_metric']:.4f}" in result["submission"]
    assert {h["eval_examples"] for h in metrics["history"]} == {2 * len(valid)}


def test_pair_task_swapped_exchanges_its_text_fields():
    from competitions.sohu.data import Example
    from competitions.sohu.task import TASK

    examples = [Example("源", "目标", 3, 1, "ss1")]
    assert TASK.swapped(examples) == [Example("目标", "源", 3, 1, "ss1")]
    assert examples[0].source == "源"  # copies, the originals unchanged


def test_pair_classifier_statistics_start_at_zero_and_reach_the_logits():
    """The shared PairClassifier (Sohu, AFQMC): same weights as without statistics at a fixed seed, then used."""
    from transformers import BertConfig, BertModel

    from common.pair_classifier import PairClassifier

    def make(num_statistics):
        torch.manual_seed(0)
        encoder = BertModel(BertConfig(**TINY_PAIR_BERT))
        return PairClassifier(encoder, num_statistics=num_statistics).eval()

    plain, model = make(0), make(NUM_STATISTICS)
    ids, mask, stats = torch.randint(0, 30, (3, 6)), torch.ones(3, 6, dtype=torch.long), torch.rand(3, NUM_STATISTICS)
    with torch.no_grad():
        assert torch.equal(model(ids, mask, statistics=stats).logits, plain(ids, mask).logits)
        model.statistics_projection.weight.normal_()
        assert not torch.allclose(model(ids, mask, statistics=stats).logits, plain(ids, mask).logits)
    with pytest.raises(ValueError, match="--pair-statistics"):
        model(ids, mask)


def test_char_pair_dataset_carries_statistics_of_the_whole_texts(tmp_path):
    from transformers import BertTokenizerFast

    from common.encoder import build_char_vocab
    from common.pair_inputs import PairDataset

    texts_a, texts_b = ["今天天气很好", "北京"], ["天气很好", "上海市"]
    build_char_vocab(texts_a + texts_b, tmp_path / "vocab.txt", min_freq=1)
    tokenizer = BertTokenizerFast.from_pretrained(str(tmp_path))
    data = PairDataset(texts_a, texts_b, [1, 0], tokenizer, max_length=8, use_statistics=True)
    np.testing.assert_allclose([it["statistics"] for it in data], scaled_statistics(texts_a, texts_b), rtol=1e-6)
    assert "statistics" not in PairDataset(texts_a, texts_b, [1, 0], tokenizer, max_length=8)[0]


def test_char_pair_swap_equals_the_pair_built_the_other_way_round(tmp_path):
    """``--pair-swap-prob`` on the shared PairDataset: a swapped item is the (b, a) item; draws follow (seed, epoch)."""
    from transformers import BertTokenizerFast

    from common.encoder import build_char_vocab
    from common.pair_inputs import PairDataset

    texts_a, texts_b = ["今天天气很好啊", "北京", "科比与奥尼尔"], ["天气很好", "上海市北京路", "湖人"]
    build_char_vocab(texts_a + texts_b, tmp_path / "vocab.txt", min_freq=1)
    tokenizer = BertTokenizerFast.from_pretrained(str(tmp_path))
    kwargs = dict(tokenizer=tokenizer, max_length=64, conditions=[0, 1, 0], use_statistics=True)
    forward = PairDataset(texts_a, texts_b, [1, 0, 1], **kwargs)
    backward = PairDataset(texts_b, texts_a, [1, 0, 1], **kwargs)
    always = PairDataset(texts_a, texts_b, [1, 0, 1], swap_prob=1.0, **kwargs)
    for i in range(3):
        assert always[i] == backward[i] and always.lengths[i] == forward.lengths[i]
    half = PairDataset(texts_a * 20, texts_b * 20, [1, 0, 1] * 20, swap_prob=0.5, seed=3,
                       **dict(kwargs, conditions=[0, 1, 0] * 20))
    epoch0 = [half[i]["input_ids"] == forward[i % 3]["input_ids"] for i in range(60)]
    half.set_epoch(1)
    epoch1 = [half[i]["input_ids"] == forward[i % 3]["input_ids"] for i in range(60)]
    assert 10 < sum(epoch0) < 50 and epoch0 != epoch1  # about half kept, other draws in another epoch
    half.set_epoch(0)
    assert [half[i]["input_ids"] == forward[i % 3]["input_ids"] for i in range(60)] == epoch0


# --------------------------------------------------------------- --alignment-statistics
NEWS_A = ["2021年北京冬奥会将于2月4日开幕，张艺谋担任总导演", "苹果发布新款手机", "", "上海 3.5 万人参加马拉松"]
NEWS_B = ["张艺谋执导北京冬奥会开幕式，2月4日举行", "华为在深圳发布新款手机和平板电脑", "今天", "马拉松在上海举行"]
COUNT_COLUMNS = [3, 4, 8, 10, 11, 12, 13, 14]  # alignment_statistics' counts (its docstring), the rest are shares


def test_scaled_alignment_statistics_are_the_gbm_columns_with_counts_as_log1p():
    from common.match_features import NUM_ALIGNMENT, alignment_statistics, num_statistics

    raw = alignment_statistics(NEWS_A, NEWS_B)
    expected = raw.copy()
    expected[:, COUNT_COLUMNS] = np.log1p(raw[:, COUNT_COLUMNS])
    both = scaled_statistics(NEWS_A, NEWS_B, alignment=True)
    assert both.shape == (4, num_statistics(True, True)) == (4, NUM_STATISTICS + NUM_ALIGNMENT)
    np.testing.assert_allclose(both[:, :NUM_STATISTICS], scaled_statistics(NEWS_A, NEWS_B), rtol=1e-6)
    np.testing.assert_allclose(both[:, NUM_STATISTICS:], expected, rtol=1e-6)
    only = scaled_statistics(NEWS_A, NEWS_B, pair=False, alignment=True)
    np.testing.assert_allclose(only, expected, rtol=1e-6)
    assert num_statistics(False, False) == 0 and scaled_statistics(NEWS_A, NEWS_B, pair=False).shape == (4, 0)
    assert raw[0, 10] >= 1 and raw[0, 7] > 0  # a shared name (张艺谋 or 北京) and a shared number (4)


def test_swapped_alignment_statistics_equal_those_of_the_swapped_pairs():
    from common.match_features import swapped_statistics

    for pair, alignment in ((True, True), (False, True)):
        forward = scaled_statistics(NEWS_A, NEWS_B, pair, alignment)
        np.testing.assert_allclose(swapped_statistics(forward), scaled_statistics(NEWS_B, NEWS_A, pair, alignment),
                                   rtol=1e-6)
    with pytest.raises(ValueError, match="14 columns"):
        swapped_statistics(np.zeros((2, 14)))


def test_id_pair_dataset_alignment_statistics_follow_the_swap():
    from common.id_vocab import build_id_vocab
    from common.pair_inputs import IdPairDataset
    from competitions.xiaobu.data import Pair

    a, b = [5, 6, 7, 8, 9], [7, 8, 9, 4]
    vocab = build_id_vocab([a, b], min_freq=1)
    kept = IdPairDataset([Pair(a, b, 1)], vocab, 64, use_statistics=True, use_alignment=True)[0]
    swapped = IdPairDataset([Pair(a, b, 1)], vocab, 64, swap_prob=1.0, use_statistics=True, use_alignment=True)[0]
    assert kept["statistics"] == pytest.approx(scaled_statistics([a], [b], alignment=True)[0].tolist())
    assert swapped["statistics"] == pytest.approx(scaled_statistics([b], [a], alignment=True)[0].tolist())
    assert kept["statistics"][NUM_STATISTICS + 4] == pytest.approx(math.log1p(3))  # longest common run 7 8 9
