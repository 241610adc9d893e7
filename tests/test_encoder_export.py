"""The fine-tuned encoder of a run loads outside this repository: ``AutoModel.from_pretrained(run/"encoder")``.

Whenever the trainer saves the best model it also writes its transformers encoder with
``save_pretrained``; these tests check that folder against ``model.pt`` (the best
epoch's weights, which predict loads): the same weights, key by key, and the same
hidden states on an input, for a pair task (Xiaobu, through the train command), NER
(BERT encoder, through its train command) and the conditioned pair classifier (Sohu's,
exported at a zero condition). The run folder's ``encoder/config.json`` still serves
predict's ``load_run``.
"""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from common.training.trainer import exportable_encoder, save_encoder
from tests.conftest import ROOT, tiny_bert

TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64"]


def best_weights(run: Path, prefix: str) -> dict[str, torch.Tensor]:
    """model.pt's weights under ``prefix``, the prefix removed."""
    state = torch.load(run / "model.pt", map_location="cpu", weights_only=False)["state_dict"]
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def assert_same_weights(exported: torch.nn.Module, best: dict[str, torch.Tensor]) -> None:
    """Every weight of ``best`` is in ``exported``, equal; ``exported`` adds at most BERT's unused pooler."""
    state = exported.state_dict()
    assert set(best) <= set(state) and all(k.startswith("pooler.") for k in set(state) - set(best))
    for key, value in best.items():
        assert torch.equal(state[key], value), key


def hidden_states(encoder: torch.nn.Module, vocab_size: int) -> torch.Tensor:
    """(2, 12, H) last hidden states of a fixed random input."""
    ids = torch.randint(1, vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return encoder.eval()(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state


def test_xiaobu_run_exports_its_best_encoder(tmp_path):
    from common.commands import train
    from common.commands.predict import load_run
    from competitions.xiaobu.task import TASK

    fixtures, run = ROOT / "tests" / "fixtures" / "xiaobu", tmp_path / "run"
    train.main(["--task", "xiaobu", *TINY, "--batch-size", "16", "--data-dir", str(fixtures),
                "--train-file", "train.tsv", "--test-file", "test.tsv", "--run-dir", str(run),
                "--submission-dir", str(tmp_path / "sub"), "--epochs", "2", "--valid-fraction", "0.25",
                "--max-length", "32", "--report-to", "none"])
    exported = AutoModel.from_pretrained(run / "encoder")
    assert_same_weights(exported, best_weights(run, "bert."))
    _, model = load_run(TASK, run)  # what predict loads: encoder/config.json and model.pt
    vocab_size = exported.config.vocab_size
    torch.testing.assert_close(hidden_states(exported, vocab_size), hidden_states(model.module.bert, vocab_size),
                               rtol=0, atol=0)
    assert not (run / "encoder.tmp").exists() and not (run / "encoder.old").exists()


def test_ner_bert_run_exports_its_best_encoder(tmp_path):
    from competitions.ner import predict, train

    bio, run = ROOT / "tests" / "fixtures" / "ner_bio", tmp_path / "run"
    train.main(["--format", "bio", "--data-dir", str(bio), "--train-file", "train.txt", "--dev-file", "dev.txt",
                "--test-file", "test.txt", "--run-dir", str(run), "--submission-dir", str(tmp_path / "sub"),
                "--encoder-type", "bert", *TINY, "--epochs", "2", "--batch-size", "4", "--w2v-init", "false",
                "--vocab", str(tmp_path / "none"), "--report-to", "none"])
    exported = AutoModel.from_pretrained(run / "encoder")
    assert_same_weights(exported, best_weights(run, "encoder."))
    _, tokenizer, _, model = predict.load_run(run)
    torch.testing.assert_close(hidden_states(exported, len(tokenizer)), hidden_states(model.encoder, len(tokenizer)),
                               rtol=0, atol=0)
    assert json.loads((run / "metrics.json").read_text())["best_epoch"] in (1, 2)


def test_bilstm_ner_model_has_no_encoder_to_export():
    from competitions.ner.model import CharBiLSTMEncoder, NerModel

    assert exportable_encoder(NerModel(CharBiLSTMEncoder(20, 16, 1), "crf", ["PER"])) is None


def test_conditioned_pair_classifier_exports_its_encoder_at_a_zero_condition(tmp_path):
    """Sohu's encoder: the Conditional LayerNorms' gain and bias are exported, their projections are not."""
    from common.pair_classifier import PairClassifier

    torch.manual_seed(0)
    model = PairClassifier(tiny_bert(50), num_conditions=3, condition_size=8)
    with torch.no_grad():  # as if fine-tuned: every weight moved, the projections too
        for param in model.parameters():
            param.add_(0.01 * torch.randn_like(param))
    save_encoder(exportable_encoder(model), tmp_path / "encoder")
    exported = AutoModel.from_pretrained(tmp_path / "encoder")
    inner = {k[len("encoder.encoder."):]: v for k, v in model.state_dict().items() if k.startswith("encoder.encoder.")}
    projections = {k for k in inner if k.endswith(("gamma_proj.weight", "beta_proj.weight"))}
    assert projections and not projections & set(exported.state_dict())
    assert_same_weights(exported, {k: v for k, v in inner.items() if k not in projections})
    with torch.no_grad():
        model.encoder.condition_embedding.weight.zero_()
    ids = torch.randint(1, 50, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        conditioned = model.eval().encoder(condition_ids=torch.tensor([0, 2]), input_ids=ids,
                                           attention_mask=torch.ones_like(ids)).last_hidden_state
    torch.testing.assert_close(hidden_states(exported, 50), conditioned)
