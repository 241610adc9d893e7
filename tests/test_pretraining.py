"""n-gram span masking (rate, contiguity, span lengths), the collator, MLM loss going down, and the pretrain command's
dispatch (a task's own pretraining module; a task without text pairs refused)."""

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertModel, RobertaConfig, RobertaForMaskedLM

from common.id_vocab import build_id_vocab
from common.pretraining import (MLMPairDataset, NgramMaskingCollator, encode_pair, masked_token_loss,
                                MaskedPositionsLM, ngram_span_mask, pretrain_mlm)
from common.training.trainer import TrainConfig
from tests.conftest import masked_loss_and_grads


def test_span_mask_rate_contiguity_and_lengths():
    g = torch.Generator().manual_seed(0)
    # two sentences of 100 maskable tokens between [CLS]/[SEP] positions
    cand = torch.tensor([False] + [True] * 100 + [False] + [True] * 100 + [False])
    lengths, total = [], 0
    for _ in range(500):
        mask, spans = ngram_span_mask(cand, 0.15, [0.7, 0.2, 0.1], g)
        assert int(mask.sum()) == sum(n for _, n in spans) == round(0.15 * 200)  # exact budget, no overlap
        for start, n in spans:
            assert cand[start:start + n].all(), "a span leaves its sentence"
            assert mask[start:start + n].all()
        assert not mask[~cand].any()
        lengths += [n for _, n in spans]
        total += int(mask.sum())
    assert total / (500 * 200) == pytest.approx(0.15, abs=1e-9)
    share = np.bincount(lengths, minlength=4)[1:] / len(lengths)
    # the last span is cut to the budget and long spans collide more often (skipped), so short ones gain a little
    assert share == pytest.approx([0.7, 0.2, 0.1], abs=0.035), share
    # on short sentences (the Xiaobu case) the rate is still exact
    short = torch.tensor([False] + [True] * 7 + [False] + [True] * 6 + [False])
    assert all(int(ngram_span_mask(short, 0.15, [0.7, 0.2, 0.1], g)[0].sum()) == 2 for _ in range(50))


def test_span_mask_edge_cases():
    mask, spans = ngram_span_mask(torch.tensor([False, False]), 0.15, [1.0])
    assert not mask.any() and spans == []
    with pytest.raises(ValueError):
        ngram_span_mask(torch.tensor([True]), 0.15, [])


def test_collator_masks_spans_not_specials():
    vocab = build_id_vocab([list(range(1, 60))])
    tok = vocab.to_tokenizer()
    collator = NgramMaskingCollator(tok, mlm_probability=0.3, ngram_probs=(0.0, 0.0, 1.0), seed=1,
                                    passthrough_keys=("tag",))
    items = [{**encode_pair(vocab.encode(list(range(1, 13))), vocab.encode(list(range(20, 29))), vocab.cls_id,
                            vocab.sep_id, 64), "tag": i} for i in range(64)]
    batch = collator(items)
    assert batch["tag"].tolist() == list(range(64))
    original = torch.tensor([it["input_ids"] for it in items])
    special = torch.tensor([it["special_tokens_mask"] for it in items]).bool()
    chosen = batch["labels"] != -100
    assert torch.equal(batch["labels"][chosen], original[chosen])  # labels hold the original ids
    assert not chosen[special].any()
    assert chosen.sum(1).tolist() == [round(0.3 * 21)] * 64
    replaced = batch["input_ids"][chosen]
    assert 0.7 < (replaced == vocab.mask_id).float().mean() < 0.9  # 80% [MASK]
    assert torch.equal(batch["input_ids"][~chosen], original[~chosen])
    assert batch["token_type_ids"].shape == original.shape and set(batch) >= {"attention_mask", "labels"}


def test_pair_dataset_swaps_and_truncates():
    random.seed(0)
    ds = MLMPairDataset([([5, 6, 7, 8, 9], [10, 11])] * 200, cls_id=2, sep_id=3, max_length=7, swap_prob=0.5)
    firsts = [ds[i]["input_ids"][1] for i in range(200)]
    assert 70 < firsts.count(10) < 130  # swapped about half the time
    item = MLMPairDataset([([5, 6, 7, 8, 9], [10, 11])], 2, 3, max_length=7)[0]
    assert item["input_ids"] == [2, 5, 6, 3, 10, 11, 3]  # longest side cut first
    assert item["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]
    assert item["special_tokens_mask"] == [1, 0, 0, 1, 0, 0, 1]


def test_mlm_loss_decreases_on_tiny_corpus(tmp_path):
    rng = random.Random(0)
    # a learnable corpus: 8 distinct pairs of 6 + 6 ids (from 40), each repeated 8 times
    distinct = [([rng.randint(1, 40) for _ in range(6)], [rng.randint(1, 40) for _ in range(6)]) for _ in range(8)]
    pairs = distinct * 8
    vocab = build_id_vocab([s for p in pairs for s in p])
    tok = vocab.to_tokenizer()
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=128, max_position_embeddings=32))
    dataset = MLMPairDataset([(vocab.encode(a), vocab.encode(b)) for a, b in pairs], vocab.cls_id, vocab.sep_id,
                             max_length=32, swap_prob=0.5)
    fixed = NgramMaskingCollator(tok, mlm_probability=0.15, seed=123)([dataset[i] for i in range(64)])

    def held_loss(m):
        m.eval()
        with torch.no_grad():
            return float(m(**fixed).loss)

    before = held_loss(model)
    collator = NgramMaskingCollator(tok, mlm_probability=0.15)
    config = TrainConfig(epochs=10, batch_size=4, learning_rate=3e-3, warmup_ratio=0.0, lr_scheduler="constant",
                         log_every_steps=0)
    summary = pretrain_mlm(model, tok, dataset, collator, config, tmp_path / "run", tmp_path / "out")
    assert summary["global_step"] == 10 * 16  # 160 steps; few epochs, so few checkpoints
    reloaded = BertForMaskedLM.from_pretrained(tmp_path / "out")  # the saved folder holds the trained weights
    after = held_loss(reloaded)
    assert after < 0.5 * before, (before, after)
    assert reloaded.config.vocab_size == len(vocab)
    assert (tmp_path / "out" / "tokenizer.json").is_file()


def test_pair_swap_depends_only_on_seed_epoch_and_index():
    """The swap of example i in epoch e is the same whatever was drawn before (resume, N processes)."""
    pairs = [([5, 6, 7], [10, 11])] * 64
    ds = MLMPairDataset(pairs, cls_id=2, sep_id=3, max_length=16, swap_prob=0.5, seed=7)
    ds.set_epoch(3)
    forward = [ds[i]["input_ids"] for i in range(64)]
    backward = [ds[i]["input_ids"] for i in reversed(range(64))][::-1]
    assert forward == backward and 10 < sum(x[1] == 10 for x in forward) < 54  # both orders, some swapped
    ds.set_epoch(4)
    assert [ds[i]["input_ids"] for i in range(64)] != forward  # another epoch, other swaps
    again = MLMPairDataset(pairs, cls_id=2, sep_id=3, max_length=16, swap_prob=0.5, seed=7)
    again.set_epoch(3)
    assert [again[i]["input_ids"] for i in range(64)] == forward


def test_masks_depend_only_on_seed_epoch_and_index_not_on_the_batch():
    """An example is masked alike alone or among longer ones (other padding), so resume and N processes agree."""
    vocab = build_id_vocab([list(range(1, 60))])
    tok = vocab.to_tokenizer()
    pairs = [(vocab.encode(list(range(1, 3 + i))), vocab.encode(list(range(20, 30 + i)))) for i in range(16)]
    ds = MLMPairDataset(pairs, vocab.cls_id, vocab.sep_id, max_length=64, seed=5)
    collator = NgramMaskingCollator(tok, mlm_probability=0.3)
    ds.set_epoch(2)
    whole = collator([ds[i] for i in range(16)])
    torch.manual_seed(0)  # the global generator plays no part
    alone = collator([ds[3]])
    n = len(ds[3]["input_ids"])
    for key in ("input_ids", "labels"):
        assert torch.equal(whole[key][3, :n], alone[key][0])
    assert (whole["labels"] != -100).sum() > 0 and "mask_seed" not in whole
    ds.set_epoch(3)
    assert not torch.equal(collator([ds[i] for i in range(16)])["labels"], whole["labels"])  # new epoch, new masks
    again = MLMPairDataset(pairs, vocab.cls_id, vocab.sep_id, max_length=64, seed=5)
    again.set_epoch(2)
    assert torch.equal(collator([again[i] for i in range(16)])["input_ids"], whole["input_ids"])


def test_masked_token_loss_is_the_models_own_loss_in_one_process():
    """One process: the mean cross-entropy over the masked tokens, as ``BertForMaskedLM`` computes it.

    (Under several processes it divides by the mean count of masked tokens per process:
    tests/test_distributed.py checks 2 processes against 1.)
    """
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=32, max_position_embeddings=16)).eval()
    input_ids = torch.randint(5, 50, (3, 10))
    labels = torch.full((3, 10), -100)
    labels[0, 2], labels[0, 7], labels[1, 4], labels[2, 0], labels[2, 9] = 7, 8, 9, 10, 11  # 5 tokens, 2/1/2 a row
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}
    expected = model(**batch).loss
    torch.testing.assert_close(masked_token_loss(model, batch), expected)
    labels[:] = -100  # nothing masked: 0, not NaN
    assert masked_token_loss(model, batch).item() == 0.0


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_the_head_at_the_masked_positions_gives_the_full_logits_loss_and_gradients(arch):
    """:class:`MaskedPositionsLM` against the model's own (B, T, V) logits: the same loss and the same gradient in
    every parameter (BERT's ``cls`` head, tied to the input embeddings; RoBERTa's ``lm_head``), padding included."""
    torch.manual_seed(0)
    sizes = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                 max_position_embeddings=24, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(BertConfig(**sizes)) if arch == "bert" else RobertaForMaskedLM(RobertaConfig(**sizes))
    input_ids = torch.randint(5, 50, (3, 10))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 6:] = 0  # a shorter row, padded
    labels = torch.full((3, 10), -100)
    labels[0, 2], labels[0, 7], labels[1, 4], labels[2, 0], labels[2, 9] = 7, 8, 9, 10, 11
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    full, full_grads = masked_loss_and_grads(model, batch)
    wrapped = MaskedPositionsLM(model)
    assert wrapped(**batch).logits.shape == (5, 50)  # 5 masked tokens, not 3 x 10
    masked, masked_grads = masked_loss_and_grads(wrapped, batch, params_of=model)
    torch.testing.assert_close(masked, full)
    assert masked_grads.keys() == full_grads.keys() and len(full_grads) > 10
    for name, grad in full_grads.items():
        torch.testing.assert_close(masked_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    labels[:] = -100  # nothing masked: 0, not NaN, and backward runs
    loss = masked_token_loss(wrapped, batch)
    loss.backward()
    assert loss.item() == 0.0
    assert not MaskedPositionsLM.supports(model.base_model)  # an encoder without a head
    with pytest.raises(ValueError, match="no base_model and prediction head"):
        MaskedPositionsLM(BertModel(BertConfig(**sizes)))


def test_a_task_with_its_own_pretraining_runs_it_with_the_flags(monkeypatch):
    """common.commands.pretrain --task xiaobu runs competitions.xiaobu.pretrain (ids, its own vocabulary)."""
    from common.commands import pretrain as pretrain_command
    import competitions.xiaobu.pretrain as xiaobu_pretrain

    seen = []
    monkeypatch.setattr(xiaobu_pretrain, "main", lambda argv: seen.append(argv) or {"ran": "xiaobu"})
    assert pretrain_command.main(["--task", "xiaobu", "--epochs", "2", "--output-dir", "x"]) == {"ran": "xiaobu"}
    assert seen == [["--epochs", "2", "--output-dir", "x"]]


def test_pretraining_text_needs_no_validation_split(tmp_path):
    """Pretraining reads train, validation and test text alike, so a validation split that cannot be drawn (4 text
    groups, too few for the grouped 1/10 split) no longer refuses it: its text is read without one."""
    from common.commands import pretrain as pretrain_command
    from common.task import get_task

    task = get_task("pair")
    rows = [f"问题{i % 4}\t回答{i % 4}{'甲乙'[i % 2]}\t{i % 2}" for i in range(12)]  # 4 groups of shared texts
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "test.tsv").write_text("新的\t句子\n", encoding="utf-8")
    config = pretrain_command.mlm_config_class(task)(data_dir=str(tmp_path), text_a_column="0", text_b_column="1",
                                                     label_column="2")
    with pytest.raises(ValueError, match="too few to hold out whole groups"):
        task.load_data(config)  # training needs the split
    pairs = pretrain_command.task_text_pairs(task, config)
    assert sorted(pairs) == sorted([tuple(r.split("\t")[:2]) for r in rows] + [("新的", "句子")])


def test_a_task_without_text_pairs_is_refused():
    from common.commands import pretrain as pretrain_command
    from common.task import Splits, Task

    class Labels(Task):
        name = "labels"

        def load_data(self, config):
            return Splits([1, 2], [], [3])

    config = type("C", (), {"extra_files": []})()
    with pytest.raises(ValueError, match="--task labels: not a text-pair task"):
        pretrain_command.task_text_pairs(Labels(), config)


def test_a_pretraining_resumed_with_other_options_is_refused_before_anything_is_written(tmp_path):
    """Resuming with another --mlm-probability or --limit went through: the run's config.json and the output's
    pretrain_config.json then named options its weights were not trained with (or a size mismatch crashed it
    after they were rewritten). A resume without a run name started a new run from scratch."""
    import hashlib

    from competitions.xiaobu import pretrain

    fixtures = Path(__file__).resolve().parent / "fixtures" / "xiaobu"
    flags = ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv", "--hidden-size", "32",
             "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64", "--batch-size", "16",
             "--max-train-minutes", "0", "--report-to", "none", "--output-dir", str(tmp_path / "out"),
             "--run-dir", str(tmp_path / "run"), "--resume", "true"]
    pretrain.main(flags)

    def files():  # train.log aside: in one process the first run's log handler also takes the later runs' lines
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(tmp_path.rglob("*"))
                if p.is_file() and p.name != "train.log"}

    before = files()
    for changed in (["--mlm-probability", "0.4"], ["--limit", "10"]):
        with pytest.raises(ValueError, match=r"--resume true: .*config.json was started with other options"):
            pretrain.main(flags + changed)
        assert files() == before
    with pytest.raises(ValueError, match="--resume true continues a run: give its --run-name"):
        pretrain.main([f for f in flags if f not in ("--run-dir", str(tmp_path / "run"))])


def test_a_run_resumed_on_a_rebuilt_model_folder_is_refused(tmp_path):
    """An MLM run continued from a cache (``--model``) resumed its own checkpoint after that cache was rebuilt, and
    came back byte-identical, still trained from the old start: the start's weights are now recorded and compared."""
    from competitions.xiaobu import pretrain

    fixtures = Path(__file__).resolve().parent / "fixtures" / "xiaobu"
    common = ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv", "--hidden-size",
              "32", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64", "--batch-size", "16",
              "--max-train-minutes", "0", "--report-to", "none", "--resume", "true"]
    base = common + ["--output-dir", str(tmp_path / "base"), "--run-dir", str(tmp_path / "base-run")]
    pretrain.main(base)
    longer = common + ["--model", str(tmp_path / "base"), "--output-dir", str(tmp_path / "long"),
                       "--run-dir", str(tmp_path / "long-run")]
    pretrain.main(longer)
    pretrain.main(longer)  # the same start: resumes (a finished run trains nothing more)
    rebuild = base[:-4] + ["--seed", "7", "--output-dir", str(tmp_path / "base"), "--run-dir",
                           str(tmp_path / "base-run-2")]
    # probe AO: another run replaced the cache's model without a word; refused now, and no run folder is left
    with pytest.raises(ValueError, match=r"--output-dir .*base holds the model of the pretraining run .*base-run, "
                                         r"which .*base-run-2 would replace"):
        pretrain.main(rebuild)
    assert not (tmp_path / "base-run-2").exists()
    import shutil

    shutil.rmtree(tmp_path / "base")
    pretrain.main(rebuild)  # the cache deleted, then made again: other weights
    with pytest.raises(ValueError, match=r"--model .*base holds other weights than when .*long-run started"):
        pretrain.main(longer)


def test_another_working_directorys_run_of_the_same_name_does_not_replace_a_model(tmp_path, monkeypatch):
    """Probe AP: the output folder recorded its run folder as given (``runs/xiaobu-pretrain/A``), so the same run
    name started from another working directory matched it and replaced the model with one of another size. The
    model folder now records the run folder's absolute path (``pretrain_run.json``)."""
    from competitions.xiaobu import pretrain

    fixtures = Path(__file__).resolve().parent / "fixtures" / "xiaobu"
    flags = ["--data-dir", str(fixtures), "--train-file", "train.tsv", "--test-file", "test.tsv", "--num-layers", "1",
             "--num-heads", "2", "--intermediate-size", "64", "--batch-size", "16", "--max-train-minutes", "0",
             "--report-to", "none", "--output-dir", str(tmp_path / "cache"), "--run-name", "A"]
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "one")
    pretrain.main(flags + ["--hidden-size", "32"])
    made = json.loads((tmp_path / "cache" / "pretrain_run.json").read_text())["run_dir"]
    assert made == str(tmp_path / "one" / "runs" / "xiaobu-pretrain" / "A")
    monkeypatch.chdir(tmp_path / "two")
    with pytest.raises(ValueError, match=r"holds the model of the pretraining run .*one/runs/xiaobu-pretrain/A"):
        pretrain.main(flags + ["--hidden-size", "64"])
    assert json.loads((tmp_path / "cache" / "config.json").read_text())["hidden_size"] == 32
    # the same run in a copy of the project, then in that copy moved elsewhere (probe AQ: refused as another run)
    import shutil

    shutil.copytree(tmp_path / "one", tmp_path / "copy")
    monkeypatch.chdir(tmp_path / "copy")
    pretrain.main(flags + ["--hidden-size", "32", "--resume", "true"])
    (tmp_path / "copy").rename(tmp_path / "moved")
    monkeypatch.chdir(tmp_path / "moved")
    pretrain.main(flags + ["--hidden-size", "32", "--resume", "true"])
    assert json.loads((tmp_path / "cache" / "pretrain_run.json").read_text())["run_dir"] == \
        str(tmp_path / "moved" / "runs" / "xiaobu-pretrain" / "A")


def test_a_pretraining_resumed_on_edited_text_is_refused_in_one_line(tmp_path):
    """``make pair-mlm`` after rows were added to the contest's train file: the vocabulary was rebuilt from the new
    text and the resume ended in torch's "size mismatch for ...word_embeddings.weight" traceback (probe W); with
    a vocabulary of the same size it would have gone on from an encoder of other text."""
    from common.commands import pretrain
    from tests.test_distributed import AFQMC, tiny_afqmc_tree

    if not AFQMC.is_dir():
        pytest.skip(f"real AFQMC data not linked at {AFQMC}")
    data = tiny_afqmc_tree(tmp_path / "data")
    flags = ["--task", "afqmc", "--data-dir", str(data), "--hidden-size", "32", "--num-layers", "1", "--num-heads",
             "2", "--intermediate-size", "64", "--batch-size", "16", "--epochs", "1", "--max-train-minutes", "0",
             "--report-to", "none", "--output-dir", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run"),
             "--resume", "true"]
    first = pretrain.main(flags)
    assert pretrain.main(flags)["steps"] == first["steps"]  # the same text: resumed (finished), nothing redone
    with open(data / "train.txt", "a", encoding="utf-8") as f:
        f.write("花呗怎么还款\t借呗如何还钱\t0\n")
    with pytest.raises(ValueError, match=rf"--resume: .*run was pretrained on other text \({first['pairs']} pairs, "
                                         rf"now {first['pairs'] + 1}: a data file edited since\)"):
        pretrain.main(flags)


def test_a_pretraining_on_text_its_vocabulary_cannot_spell_warns(tmp_path, caplog):
    """Probe AB: continuing a pruned MLM folder (42 tokens) on another contest's text trained on 17 [UNK] of 18
    characters without a word; the share of [UNK] tokens is now said when above 5%."""
    from common.commands import pretrain
    from tests.test_distributed import AFQMC, tiny_afqmc_tree

    if not AFQMC.is_dir():
        pytest.skip(f"real AFQMC data not linked at {AFQMC}")
    data = tiny_afqmc_tree(tmp_path / "data")
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n花\n呗\n", encoding="utf-8")
    flags = ["--task", "afqmc", "--data-dir", str(data), "--hidden-size", "32", "--num-layers", "1", "--num-heads",
             "2", "--intermediate-size", "64", "--batch-size", "16", "--epochs", "1", "--report-to", "none",
             "--vocab", str(vocab), "--output-dir", str(tmp_path / "out"), "--run-dir", str(tmp_path / "run")]
    with caplog.at_level("WARNING", logger="common.pretrain"):
        pretrain.main(flags)
    assert re.search(r"\d+\.\d% of the text's tokens are \[UNK\] under .*vocab's vocabulary", caplog.text)


def test_an_id_pretraining_resumed_on_edited_text_is_refused_in_one_line(tmp_path):
    """Xiaobu's id pretraining (its own command) did not record its text: resumed after a file gained a row, it went
    on from an encoder of other text, or crashed in a size mismatch where the row added an id."""
    import shutil

    from competitions.xiaobu import pretrain

    data = tmp_path / "data"
    shutil.copytree(Path(__file__).resolve().parent / "fixtures" / "xiaobu", data)
    flags = ["--data-dir", str(data), "--train-file", "train.tsv", "--test-file", "test.tsv", "--hidden-size", "32",
             "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64", "--batch-size", "16",
             "--max-train-minutes", "0", "--report-to", "none", "--output-dir", str(tmp_path / "out"),
             "--run-dir", str(tmp_path / "run"), "--resume", "true"]
    first = pretrain.main(flags)
    assert pretrain.main(flags)["steps"] == first["steps"]  # the same text: resumed (finished), nothing redone
    with open(data / "test.tsv", "a", encoding="utf-8") as f:
        f.write("38 35 9\t38 9 35\n")  # ids the vocabulary already has: same size, other text
    with pytest.raises(ValueError, match=rf"--resume: .*run was pretrained on other text \({first['pairs']} pairs, "
                                         rf"now {first['pairs'] + 1}: a data file edited since\)"):
        pretrain.main(flags)


def test_a_character_vocab_spells_latin_words_and_numbers(tmp_path):
    """Probe AB: the vocabulary built where --vocab is missing held single characters only, so WordPiece read every
    word of 2+ letters or digits as [UNK] ("iPhone12", "2021年" -> [UNK] 年), and it kept 'H', which the
    lower-casing tokenizer never asks for."""
    from common.encoder import _wordpiece_tokenizer, build_char_vocab

    text = "今天 iPhone12 2021年 Hello ABC，好。"
    path = build_char_vocab([text], tmp_path / "vocab.txt", min_freq=1)
    tokens = path.read_text(encoding="utf-8").split("\n")
    assert "H" not in tokens and "h" in tokens and "##h" in tokens and "##年" not in tokens and "##，" not in tokens
    tokenizer = _wordpiece_tokenizer(path)
    pieces = tokenizer.tokenize(text)
    assert "[UNK]" not in pieces and "".join(p.removeprefix("##") for p in pieces) == \
        "".join(text.lower().split())
    assert pieces[:4] == ["今", "天", "i", "##p"]


def test_a_general_corpus_folder_missing_or_holding_other_files_is_said(tmp_path, caplog):
    """Probe AB: a mistyped --corpus-dir (and make's $(DATA)/corpus under another DATA) pretrained without the corpus,
    and *.TXT / *.text files were left out, both unsaid; notes (*.md) are no text and pass quietly."""
    from common.data_files import read_corpus_lines

    (tmp_path / "c" / "sub").mkdir(parents=True)
    (tmp_path / "c" / "a.txt").write_text("第一行\n\n第二行\n", encoding="utf-8")
    (tmp_path / "c" / "sub" / "b.TXT").write_text("第三行\n", encoding="utf-8")
    (tmp_path / "c" / "SOURCE.md").write_text("where it came from\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="common.data_files"):
        assert read_corpus_lines(tmp_path / "c") == ["第一行", "第二行"]
        assert read_corpus_lines(tmp_path / "typo") == []
    assert "1 files not named *.txt are not read (first: " in caplog.text and "b.TXT" in caplog.text
    assert "typo: no such folder: pretraining goes on without a general corpus" in caplog.text
    assert "SOURCE.md" not in caplog.text
    caplog.clear()  # probe AF: a file was "no such folder", and a folder of no text went on unsaid
    (tmp_path / "empty").mkdir()
    with caplog.at_level("WARNING", logger="common.data_files"):
        assert read_corpus_lines(tmp_path / "c" / "a.txt") == [] and read_corpus_lines(tmp_path / "empty") == []
    assert "a.txt: a file, not a folder of *.txt files: pretraining goes on without" in caplog.text
    assert "empty: no non-blank line in a *.txt file under it" in caplog.text


def test_id_pretraining_has_no_validation_split_flag():
    """Probe AH: ``competitions.xiaobu.pretrain`` took ``--valid-fraction`` and ``--split-seed`` and used neither (it
    pretrains on every pair); they are the fine-tuning split's options only."""
    from common.config import parse_config
    from competitions.xiaobu.config import XiaobuConfig, XiaobuPretrainConfig

    for flag in ("--valid-fraction", "--split-seed"):
        with pytest.raises(SystemExit):
            parse_config(XiaobuPretrainConfig, [flag, "1"])
    assert parse_config(XiaobuConfig, ["--valid-fraction", "0.2", "--split-seed", "7"]).split_seed == 7
