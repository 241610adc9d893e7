"""The shared loop: learns, keeps the best epoch, and resumes a crashed run exactly."""

import json
import math
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from common.training.callbacks import Callback
from common.training.trainer import TrainConfig, Trainer


class Linear2(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))

    def forward(self, x, labels=None):
        logits = self.net(x)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


def _collate(items):
    return {"x": torch.stack([i["x"] for i in items]), "labels": torch.stack([i["labels"] for i in items])}


def _accuracy(outputs, dataset):
    pred = outputs["logits"].argmax(-1)
    return {"acc": float((pred == torch.stack([d["labels"] for d in dataset]).numpy()).mean())}


class Crash(Callback):
    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, trainer):
        if trainer.state["global_step"] == self.at_step:
            raise KeyboardInterrupt("simulated crash")


def _trainer(run_dir, callbacks=(), model=None, compute_metrics=_accuracy, **overrides):
    torch.manual_seed(0)
    config = TrainConfig(**{"epochs": 3, "batch_size": 8, "learning_rate": 0.05, "warmup_ratio": 0.0,
                            "checkpoint_every_steps": 3, "log_every_steps": 0, **overrides})
    return Trainer(model or Linear2(), config, run_dir, _data(), _data(16, seed=1), _collate,
                   compute_metrics=compute_metrics, metric_name="acc", greater_is_better=True, callbacks=callbacks)


def test_learns_and_writes_run_folder(tmp_path):
    summary = _trainer(tmp_path).train()
    assert summary["best_metric"] >= 0.8
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["history"]) == 3 and metrics["best_epoch"] == summary["best_epoch"]
    payload = torch.load(tmp_path / "model.pt", weights_only=False)
    assert payload["config"]["batch_size"] == 8 and payload["metrics"]["acc"] == summary["best_metric"]
    assert (tmp_path / "checkpoint" / "trainer_state.json").is_file()
    # the accelerator holds the current epoch's loader only (probe Q: every checkpoint logged a sampler state for
    # each loader of the run, "dataloader 5 saved in sampler_5.bin" by epoch 3, the past epochs' and evaluations')
    lines = [x for x in (tmp_path / "train.log").read_text().splitlines() if "Sampler state for dataloader" in x]
    assert lines and all("dataloader 0 " in x for x in lines)


def test_resume_after_crash_reproduces_the_uninterrupted_run(tmp_path):
    straight = _trainer(tmp_path / "a")
    straight.train()
    crashed = _trainer(tmp_path / "b", callbacks=[Crash(at_step=8)])  # mid epoch 2; last ckpt at step 6
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    state = json.loads((tmp_path / "b" / "checkpoint" / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and state["batch_in_epoch"] == 1
    resumed = _trainer(tmp_path / "b", resume=True)
    resumed.train()
    for a, b in zip(straight.unwrapped_model.parameters(), resumed.unwrapped_model.parameters()):
        torch.testing.assert_close(a, b)
    assert [h["acc"] for h in resumed.state["history"]] == [h["acc"] for h in straight.state["history"]]


def test_resume_without_checkpoint_starts_over_like_a_fresh_run(tmp_path):
    """Killed before the first checkpoint: --resume trains from the start and ends where a plain run does."""
    fresh = _trainer(tmp_path / "a").train()
    resumed = _trainer(tmp_path / "b", resume=True).train()
    assert [h["acc"] for h in resumed["history"]] == [h["acc"] for h in fresh["history"]]


def test_resume_finds_the_checkpoint_moved_aside_by_an_interrupted_swap(tmp_path):
    """A kill between the two renames of the checkpoint swap leaves only checkpoint.old: resume uses it."""
    with pytest.raises(KeyboardInterrupt):
        _trainer(tmp_path / "a", callbacks=[Crash(at_step=7)]).train()
    (tmp_path / "a" / "checkpoint").rename(tmp_path / "a" / "checkpoint.old")
    resumed = _trainer(tmp_path / "a", resume=True).train()
    plain = _trainer(tmp_path / "b").train()
    assert resumed["history"][-1]["acc"] == plain["history"][-1]["acc"] and resumed["global_step"] == plain["global_step"]


class DropoutNet(Linear2):
    """Linear2 with dropout, so a resumed run must draw the dropout masks the uninterrupted one drew."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 2))


class CrashAtEvaluation(Callback):
    """Stops the run as epoch ``epoch`` (0-based) starts its evaluation (after its last step's checkpoint), or as
    the evaluation at optimizer step ``step`` starts."""

    def __init__(self, epoch=None, step=None):
        self.epoch, self.step = epoch, step

    @contextmanager
    def evaluation_weights(self, trainer):
        if trainer.state["epoch"] == self.epoch or trainer.state["global_step"] == self.step:
            raise KeyboardInterrupt("simulated crash")
        yield


@pytest.mark.parametrize("crash, position", [(Crash(at_step=6), 2), (CrashAtEvaluation(epoch=1), 3)])
def test_resume_mid_epoch_with_length_grouped_batches_reproduces_the_uninterrupted_run(tmp_path, crash, position):
    """The length-grouped loader (no generator of its own) draws its base seed from the global RNG when an
    epoch's iteration starts: the resumed epoch must not draw it a second time, or every later dropout mask
    moves (issue 12: NER killed inside an epoch, or before its evaluation, resumed to other weights)."""
    lengths = [int(n) for n in torch.randint(1, 20, (40,), generator=torch.Generator().manual_seed(3))]

    def trainer(run_dir, callbacks=(), **overrides):
        torch.manual_seed(0)
        config = TrainConfig(epochs=3, batch_size=16, learning_rate=0.05, warmup_ratio=0.0, group_by_length=True,
                             checkpoint_every_steps=1, log_every_steps=0, **overrides)
        return Trainer(DropoutNet(), config, run_dir, _data(), _data(16, seed=1), _collate, lengths=lengths,
                       compute_metrics=_accuracy, metric_name="acc", greater_is_better=True, callbacks=callbacks)

    straight = trainer(tmp_path / "a")
    straight.train()
    with pytest.raises(KeyboardInterrupt):
        trainer(tmp_path / "b", callbacks=[crash]).train()
    state = json.loads((tmp_path / "b" / "checkpoint" / "trainer_state.json").read_text())
    assert (state["epoch"], state["batch_in_epoch"]) == (1, position)  # of epoch 2's 3 batches
    resumed = trainer(tmp_path / "b", resume=True)
    resumed.train()
    for a, b in zip(straight.unwrapped_model.parameters(), resumed.unwrapped_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [h["acc"] for h in resumed.state["history"]] == [h["acc"] for h in straight.state["history"]]


def test_schedule_is_declared_and_stepped_in_optimizer_steps(tmp_path):
    """The rate each optimizer step applies is transformers' linear schedule over the run's optimizer steps.

    40 rows, batch 8, 2 accumulated batches: 3 optimizer steps an epoch (the last from the
    epoch's fifth batch alone), 9 in 3 epochs, warmup int(0.25 x 9) = 2 steps. The scheduler
    moves once per optimizer step, never on an accumulation batch (accelerate's own stepping
    moves it num_processes times per step, a schedule in other units: tests/test_distributed.py
    checks 2 processes against 1). With one process the two ways agree: this pins the units.
    """
    class Rates(Callback):
        def __init__(self):
            self.rates = []

        def on_after_backward(self, trainer, batch, compute_loss):
            if trainer.accelerator.sync_gradients:
                self.rates.append(trainer.optimizer.param_groups[0]["lr"])

    rates = Rates()
    trainer = _trainer(tmp_path, callbacks=[rates], warmup_ratio=0.25, grad_accum_steps=2)
    assert (trainer.steps_per_epoch, trainer.total_steps) == (3, 9)
    trainer.train()
    warmup, total = 2, 9
    expected = [0.05 * (k / warmup if k < warmup else (total - k) / (total - warmup)) for k in range(total)]
    assert rates.rates == pytest.approx(expected)


class _Scripted:
    """compute_metrics giving scripted values per evaluation: acc rises, auc peaks at epoch 2, val_loss is lowest
    at epoch 1; each name picks a different best epoch."""

    def __init__(self):
        self.calls = 0

    def __call__(self, outputs, dataset):
        self.calls += 1
        e = self.calls - 1
        return {"acc": [0.5, 0.6, 0.7][e], "auc": [0.6, 0.9, 0.8][e], "val_loss": [0.3, 0.5, 0.4][e]}


@pytest.mark.parametrize("chosen, epoch, value", [("", 3, 0.7), ("auc", 2, 0.9), ("val_loss", 1, 0.3)])
def test_metric_for_best_model_picks_the_best_epoch_on_another_validation_metric(tmp_path, chosen, epoch, value):
    """``--metric-for-best-model`` (HF Trainer's metric_for_best_model): the best epoch, model.pt and the summary
    follow the chosen metric; a name ending in "loss" is lower-is-better. Empty: the task's metric (acc here)."""
    torch.manual_seed(0)
    config = TrainConfig(epochs=3, batch_size=8, log_every_steps=0, metric_for_best_model=chosen)
    trainer = Trainer(Linear2(), config, tmp_path, _data(), _data(16, seed=1), _collate,
                      compute_metrics=_Scripted(), metric_name="acc", greater_is_better=True)
    summary = trainer.train()
    assert (summary["best_epoch"], summary["best_metric"]) == (epoch, value)
    assert summary["metric_name"] == (chosen or "acc")
    assert torch.load(tmp_path / "model.pt", weights_only=False)["metrics"]["epoch"] == epoch


def test_metric_for_best_model_that_the_scores_lack_or_without_validation_is_refused(tmp_path):
    config = TrainConfig(epochs=1, batch_size=8, log_every_steps=0, metric_for_best_model="f1")
    trainer = Trainer(Linear2(), config, tmp_path / "a", _data(), _data(16, seed=1), _collate,
                      compute_metrics=_Scripted(), metric_name="acc", greater_is_better=True)
    with pytest.raises(ValueError, match="--metric-for-best-model 'f1': the validation metrics are acc, auc, val_loss"):
        trainer.train()
    with pytest.raises(ValueError, match="--metric-for-best-model f1: this run has no validation rows"):
        Trainer(Linear2(), config, tmp_path / "b", _data(), None, _collate)


class _ByEpoch:
    """Validation accuracy scripted by the trainer's epoch (0-based while it evaluates), so a resumed run sees the
    same values as an uninterrupted one."""

    def __init__(self, values):
        self.values, self.trainer = values, None

    def __call__(self, outputs, dataset):
        return {"acc": self.values[self.trainer.state["epoch"]]}


def _scripted_trainer(run_dir, values, callbacks=(), **overrides):
    metric = _ByEpoch(values)
    trainer = _trainer(run_dir, callbacks, compute_metrics=metric, **{"epochs": len(values), **overrides})
    metric.trainer = trainer
    return trainer


ACC = [0.5, 0.8, 0.7, 0.6, 0.9, 0.95]  # best at epoch 2, then two epochs without gain, then better again


@pytest.mark.parametrize("patience, epochs_run, best_epoch", [(0, 6, 6), (2, 4, 2), (3, 6, 6), (1, 3, 2)])
def test_early_stopping_ends_the_run_patience_epochs_after_the_best(tmp_path, patience, epochs_run, best_epoch):
    """--early-stopping-patience P (HF's EarlyStoppingCallback): the run ends once the best epoch is P evaluated
    epochs back; model.pt holds the best epoch; metrics.json says it stopped early; 0 is off."""
    summary = _scripted_trainer(tmp_path, ACC, early_stopping_patience=patience).train()
    assert len(summary["history"]) == epochs_run and summary["best_epoch"] == best_epoch
    assert summary["stopped_early"] == (epochs_run < len(ACC)) and summary["global_step"] == 5 * epochs_run
    assert json.loads((tmp_path / "metrics.json").read_text())["stopped_early"] == summary["stopped_early"]
    assert torch.load(tmp_path / "model.pt", weights_only=False)["metrics"]["epoch"] == best_epoch


def test_early_stopping_survives_a_crash_and_a_resumed_finished_run_trains_no_further(tmp_path):
    """Killed in epoch 4 (of the run that stops after it), --resume ends after epoch 4 as the straight run does, with
    the same weights; --resume of the stopped run trains nothing more."""
    straight = _scripted_trainer(tmp_path / "a", ACC, early_stopping_patience=2)
    plain = straight.train()
    with pytest.raises(KeyboardInterrupt):
        _scripted_trainer(tmp_path / "b", ACC, callbacks=[Crash(at_step=17)], early_stopping_patience=2).train()
    resumed = _scripted_trainer(tmp_path / "b", ACC, early_stopping_patience=2, resume=True)
    summary = resumed.train()
    assert [h["acc"] for h in summary["history"]] == [h["acc"] for h in plain["history"]] and summary["stopped_early"]
    for a, b in zip(straight.unwrapped_model.parameters(), resumed.unwrapped_model.parameters()):
        torch.testing.assert_close(a, b)
    again = _scripted_trainer(tmp_path / "b", ACC, early_stopping_patience=2, resume=True).train()
    assert len(again["history"]) == 4 and again["global_step"] == summary["global_step"]


def _dropout_trainer(run_dir, callbacks=(), **overrides):
    torch.manual_seed(0)  # the model's initial weights: the seed _trainer sets again before the loop
    return _trainer(run_dir, callbacks, model=DropoutNet(), **overrides)


def test_eval_every_steps_evaluates_inside_epochs_without_changing_what_is_trained(tmp_path):
    """--eval-every-steps 2, 5 optimizer steps an epoch: records at steps 2, 4 (epochs 0.4, 0.8), the epoch's end
    (step 5), then 6, 8, 10, ...; the epoch's last step is evaluated once, as its end. The weights (dropout on) and the
    epoch-end metrics are those of the run that evaluates at epoch ends only; model.pt holds the best evaluation."""
    plain = _dropout_trainer(tmp_path / "a")
    plain.train()
    often = _dropout_trainer(tmp_path / "b", eval_every_steps=2)
    summary = often.train()
    assert [h["epoch"] for h in summary["history"]] == [0.4, 0.8, 1, 1.2, 1.6, 2, 2.4, 2.8, 3]
    assert [h["step"] for h in summary["history"]] == [2, 4, 5, 6, 8, 10, 12, 14, 15]
    assert [h["complete"] for h in summary["history"]] == [False, False, True] * 3
    for a, b in zip(plain.unwrapped_model.parameters(), often.unwrapped_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    ends = [h for h in summary["history"] if h["complete"]]
    assert [h["acc"] for h in ends] == [h["acc"] for h in plain.state["history"]]
    best = max(summary["history"], key=lambda h: h["acc"])  # the first of the best, as the loop keeps it
    assert summary["best_epoch"] == best["epoch"] and summary["best_metric"] == best["acc"]
    assert torch.load(tmp_path / "b" / "model.pt", weights_only=False)["metrics"]["step"] == best["step"]
    assert (tmp_path / "b" / "learning_curve.png").is_file()


@pytest.mark.parametrize("crash", [Crash(at_step=9), CrashAtEvaluation(step=6)], ids=["between", "during"])
def test_eval_every_steps_resumes_exactly_after_a_crash_between_or_during_evaluations(tmp_path, crash):
    """Killed at step 9 (after the evaluation at step 8 and the checkpoint at step 9's predecessor), or during the
    evaluation at step 6, inside epoch 2, a step that also checkpoints (every 3): --resume gives the uninterrupted
    run's records and weights. The step's checkpoint came before its evaluation, so a kill during it resumed past
    step 6, and the resumed history lacked its record (probe U)."""
    straight = _dropout_trainer(tmp_path / "a", eval_every_steps=2)
    straight.train()
    assert 1.2 in [h["epoch"] for h in straight.state["history"]]  # step 6 of 5 an epoch
    with pytest.raises(KeyboardInterrupt):
        _dropout_trainer(tmp_path / "b", callbacks=[crash], eval_every_steps=2).train()
    resumed = _dropout_trainer(tmp_path / "b", eval_every_steps=2, resume=True)
    summary = resumed.train()
    assert [(h["epoch"], h["acc"]) for h in summary["history"]] == \
        [(h["epoch"], h["acc"]) for h in straight.state["history"]]
    for a, b in zip(straight.unwrapped_model.parameters(), resumed.unwrapped_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class _ByEvaluation:
    """Validation accuracy scripted by the evaluation's number (the history's length as it is scored)."""

    def __init__(self, values):
        self.values, self.trainer = values, None

    def __call__(self, outputs, dataset):
        return {"acc": self.values[len(self.trainer.state["history"])]}


def test_early_stopping_counts_evaluations_inside_epochs(tmp_path):
    """--eval-every-steps 2 with --early-stopping-patience 2: best at the second evaluation (epoch 0.8), two more
    without gain (1, 1.2): the run ends inside epoch 2, with no record of that epoch's end; --resume trains no
    further."""
    def trainer(**overrides):
        metric = _ByEvaluation([0.5, 0.9, 0.8, 0.7, 1.0, 1.0, 1.0, 1.0, 1.0])
        t = _dropout_trainer(tmp_path, compute_metrics=metric, eval_every_steps=2, early_stopping_patience=2,
                             **overrides)
        metric.trainer = t
        return t
    summary = trainer().train()
    assert [h["epoch"] for h in summary["history"]] == [0.4, 0.8, 1, 1.2] and summary["stopped_early"]
    assert summary["best_epoch"] == 0.8 and summary["global_step"] == 6
    again = trainer(resume=True).train()
    assert len(again["history"]) == 4 and again["global_step"] == 6 and again["stopped_early"]


def test_a_run_cut_by_the_time_budget_resumes_inside_its_epoch_and_ends_as_the_uncut_run(tmp_path):
    """--max-train-minutes cuts the run at step 7 (inside epoch 2 of 5 steps): scored there at epoch 1.4, and the
    loop stays at that batch. --resume with the budget unchanged trains nothing (it used to train a batch and
    record a new "epoch" at each rerun); with no budget it trains the rest of epoch 2 and ends with the weights
    and epoch-end records of the run never cut (dropout on)."""
    straight = _dropout_trainer(tmp_path / "a")
    straight.train()

    def cut(**overrides):
        trainer = _dropout_trainer(tmp_path / "b", **overrides)
        trainer._budget_spent = lambda budget: math.isfinite(budget) and trainer.state["global_step"] >= 7
        return trainer
    summary = cut(max_train_minutes=5).train()
    assert [(h["epoch"], h["step"], h["complete"]) for h in summary["history"]] == [(1, 5, True), (1.4, 7, False)]
    assert summary["stopped_by_budget"] and summary["global_step"] == 7
    again = cut(max_train_minutes=5, resume=True).train()
    assert again["global_step"] == 7 and len(again["history"]) == 2
    resumed = cut(max_train_minutes=0, resume=True)
    summary = resumed.train()
    assert [h["epoch"] for h in summary["history"]] == [1, 1.4, 2, 3] and not summary["stopped_by_budget"]
    assert summary["global_step"] == 15
    ends = [h["acc"] for h in summary["history"] if h["complete"]]
    assert ends == [h["acc"] for h in straight.state["history"]]
    for a, b in zip(straight.unwrapped_model.parameters(), resumed.unwrapped_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
