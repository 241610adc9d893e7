"""Experiment tracking (``--report-to``) and the learning curve of the shared trainer.

The tiny linear model of tests/test_trainer.py (40 examples, batch 8: 5 optimizer
steps an epoch, 3 epochs) trained with TensorBoard on: the events read back with
TensorBoard's own ``EventAccumulator`` hold the step loss and learning rate at every
step and the validation metric of every epoch, equal to metrics.json; a crashed and
resumed run shows the curves of the uninterrupted one; tracking draws nothing from the
seeded RNGs; ``--report-to none`` writes no events; every run folder gets a PNG curve.
"""

import json
import os
import random

import numpy as np
import pytest
import torch

from common.training.curves import CURVE_FILE
from common.training.trainer import TRACKING_DIR, hparams, resolve_trackers, rng_untouched
from tests.test_trainer import Crash, _trainer

pytest.importorskip("tensorboard")
STEPS_PER_EPOCH, EPOCHS, LR = 5, 3, 0.05  # _trainer: 40 examples / batch 8, 3 epochs, lr 0.05, no warmup


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` of the run's TensorBoard events, as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / TRACKING_DIR))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_events_hold_step_and_epoch_values_equal_to_metrics_json(tmp_path):
    _trainer(tmp_path, report_to="tensorboard").train()
    history = json.loads((tmp_path / "metrics.json").read_text())["history"]
    logged = scalars(tmp_path)
    epoch_ends = [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert logged["eval/acc"] == [(s, pytest.approx(h["acc"])) for s, h in zip(epoch_ends, history)]
    assert logged["train/epoch_loss"] == [(s, pytest.approx(h["train_loss"])) for s, h in zip(epoch_ends, history)]
    assert [s for s, _ in logged["train/samples_per_second"]] == epoch_ends
    assert logged["train/epoch"] == [(s, e + 1) for e, s in enumerate(epoch_ends)]
    steps = list(range(1, STEPS_PER_EPOCH * EPOCHS + 1))
    assert [s for s, _ in logged["train/loss"]] == steps
    lrs = [v for _, v in logged["train/learning_rate"]]
    assert [s for s, _ in logged["train/learning_rate"]] == steps
    # linear decay from lr without warmup: the rate each step applied, lr * (1 - (s - 1) / total)
    np.testing.assert_allclose(lrs, [LR * (1 - (s - 1) / len(steps)) for s in steps], rtol=1e-6)
    # the epoch's mean train loss is the mean of its steps' losses (one batch per step)
    for e, h in enumerate(history):
        step_losses = [v for s, v in logged["train/loss"] if e * STEPS_PER_EPOCH < s <= (e + 1) * STEPS_PER_EPOCH]
        assert np.mean(step_losses) == pytest.approx(h["train_loss"], rel=1e-5)
    # written by this process only (the file names carry the writer's pid); hparams as YAML beside them
    events = list((tmp_path / TRACKING_DIR).rglob("events.out.tfevents.*"))
    assert events and {p.name.split(".")[-2] for p in events} == {str(os.getpid())}
    assert len(list((tmp_path / TRACKING_DIR).rglob("hparams.yml"))) == 1


def test_report_to_none_writes_no_events_and_the_curve_is_a_png(tmp_path):
    _trainer(tmp_path, report_to="none").train()
    assert not (tmp_path / TRACKING_DIR).exists()
    png = (tmp_path / CURVE_FILE).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    with Image.open(tmp_path / CURVE_FILE) as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left half-written


def test_resumed_run_continues_the_same_event_steps(tmp_path):
    """Killed at step 8 (last checkpoint at step 6), resumed: TensorBoard shows the uninterrupted curves."""
    _trainer(tmp_path / "straight", report_to="tensorboard").train()
    with pytest.raises(KeyboardInterrupt):
        _trainer(tmp_path / "b", callbacks=[Crash(at_step=8)], report_to="tensorboard").train()
    assert [s for s, _ in scalars(tmp_path / "b")["train/loss"]] == list(range(1, 8))  # step 8 crashed first
    _trainer(tmp_path / "b", resume=True, report_to="tensorboard").train()
    straight, resumed = scalars(tmp_path / "straight"), scalars(tmp_path / "b")
    assert sorted(resumed) == sorted(straight)
    for tag in ("train/loss", "train/learning_rate", "eval/acc", "train/epoch_loss"):
        assert [s for s, _ in resumed[tag]] == [s for s, _ in straight[tag]], tag  # each step once, in order
        if tag != "train/epoch_loss":  # the resumed epoch's mean covers only the batches after the resume
            np.testing.assert_allclose([v for _, v in resumed[tag]], [v for _, v in straight[tag]], rtol=1e-5,
                                       err_msg=tag)


def test_tracking_draws_nothing_from_the_seeded_rngs(tmp_path):
    """The same seed with and without TensorBoard: the same weights and the same history."""
    runs = {}
    for report_to in ("none", "tensorboard"):
        trainer = _trainer(tmp_path / report_to, report_to=report_to)
        trainer.train()
        runs[report_to] = trainer
    for a, b in zip(runs["none"].unwrapped_model.parameters(), runs["tensorboard"].unwrapped_model.parameters()):
        assert torch.equal(a, b)
    drop = ("epoch_seconds", "train_samples_per_s")
    assert [{k: v for k, v in h.items() if k not in drop} for h in runs["none"].state["history"]] == \
           [{k: v for k, v in h.items() if k not in drop} for h in runs["tensorboard"].state["history"]]


def test_rng_untouched_restores_every_generator():
    def seed():
        random.seed(3), np.random.seed(3), torch.manual_seed(3)

    seed()
    with rng_untouched():
        random.random(), np.random.rand(), torch.rand(5)
    after = random.random(), np.random.rand(), torch.rand(1).item()
    seed()
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == after


def test_report_to_names_and_errors():
    assert resolve_trackers("auto") == ["tensorboard"]  # installed here (requirements.txt)
    assert resolve_trackers("none") == [] and resolve_trackers("") == []
    assert resolve_trackers("tensorboard, tensorboard") == ["tensorboard"]
    with pytest.raises(ValueError, match="unknown tracker 'mlflow'"):
        resolve_trackers("tensorboard,mlflow")
    with pytest.raises(ValueError, match="unknown tracker 'none'"):
        resolve_trackers("tensorboard,none")
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match=r"--report-to wandb: the wandb package is not installed \(pip install"):
            resolve_trackers("wandb")


def test_hparams_are_flat_and_tensorboard_typed():
    from dataclasses import dataclass, field

    @dataclass
    class Config:
        lr: float = 0.1
        epochs: int = 2
        fgm: bool = False
        name: str = "x"
        folds: list = field(default_factory=lambda: [1, 2])
        extra: dict = field(default_factory=lambda: {"a": None, "b": {"c": 3}})

    assert hparams(Config()) == {"lr": 0.1, "epochs": 2, "fgm": False, "name": "x", "folds": "[1, 2]",
                                 "extra.a": "None", "extra.b.c": 3}


def test_every_training_command_takes_report_to():
    from common.config import parse_config
    from competitions.ner.config import NerConfig
    from competitions.sohu.config import SohuConfig
    from competitions.xiaobu.config import XiaobuConfig

    for cls in (NerConfig, SohuConfig, XiaobuConfig):
        assert parse_config(cls, ["--report-to", "none"]).report_to == "none"
        assert parse_config(cls, []).report_to == "auto"
