"""Train the Sohu 2021 multi-task matcher, then write the submission.

    python -m competitions.sohu.train [--config competitions/sohu/configs/X.toml] [--flag value ...]

Trains on every subtask present under ``--data-dir`` (one encoder, Conditional
LayerNorm on the subtask id), keeps the best epoch by the validation score, tunes
the per-group thresholds on valid and writes ``submissions/sohu/<run>-score<S>.csv``.
Ends by printing one JSON line with the metrics and the paths written.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from accelerate.utils import set_seed

from common.config import parse_config
from common.encoder import build_encoder, load_tokenizer
from common.io import print_result
from common.losses import log_prior, save_log_prior
from common.run import resolve_run_dir, save_config
from common.training.callbacks import Callback
from common.training.trainer import Trainer, build_callbacks
from competitions.sohu.blend import blend_runs
from competitions.sohu.config import SohuConfig
from competitions.sohu.data import SUBTASKS, Example, PairDataset, collate, limit_per_subtask, load_split
from competitions.sohu.metrics import sohu_scores
from competitions.sohu.predict import build_model, parse_subtasks, predict_run


def compute_metrics(outputs: dict, dataset: PairDataset) -> dict[str, float]:
    """Validation F1 per group/subtask and the score, thresholds tuned on this set."""
    probs = torch.softmax(torch.from_numpy(outputs["logits"]), dim=-1)[:, 1].numpy()
    labels = np.array([e.label for e in dataset.examples])
    task_ids = np.array([e.subtask for e in dataset.examples])
    metrics, _ = sohu_scores(labels, probs, task_ids)
    return metrics


def label_log_prior(examples: list[Example]) -> torch.Tensor:
    """(num subtasks, 2) log label priors of the training examples, one row per subtask."""
    return log_prior([e.label for e in examples], 2, groups=[e.subtask for e in examples],
                     num_groups=len(SUBTASKS))


def fit(config: SohuConfig, run_dir: Path, train: list[Example], valid: list[Example],
        callbacks: Sequence[Callback] = ()) -> dict:
    """Train one model on ``train``, choosing the epoch on ``valid``; returns the trainer summary.

    Writes into ``run_dir`` everything :func:`competitions.sohu.predict.load_run`
    needs: config.json, tokenizer/, encoder/, label_prior.json and model.pt. The
    weights are initialised from ``config.seed``.
    """
    set_seed(config.seed)
    tokenizer = load_tokenizer(config, texts=[t for e in train for t in (e.source, e.target)],
                               build_dir=run_dir / "tokenizer")
    encoder = build_encoder(config, tokenizer)
    model = build_model(config, encoder)
    prior = label_log_prior(train)
    model.set_log_prior(prior)
    save_config(config, run_dir)
    tokenizer.save_pretrained(run_dir / "tokenizer")
    encoder.config.save_pretrained(run_dir / "encoder")
    save_log_prior(run_dir, prior)

    train_ds = PairDataset(train, tokenizer, config.max_length)
    valid_ds = PairDataset(valid, tokenizer, config.max_length)
    trainer = Trainer(model, config, run_dir, train_ds, valid_ds,
                      collate_fn=partial(collate, pad_id=tokenizer.pad_token_id),
                      compute_metrics=compute_metrics, metric_name="score", greater_is_better=True,
                      callbacks=[*build_callbacks(config), *callbacks])
    return trainer.train()


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(SohuConfig, argv, description=__doc__)
    run_dir = resolve_run_dir(config, "sohu")
    subtasks = parse_subtasks(config.subtasks)
    train, missing = load_split(config.data_dir, "train", subtasks)
    valid, _ = load_split(config.data_dir, "valid", subtasks)
    if config.limit:
        train, valid = limit_per_subtask(train, config.limit), limit_per_subtask(valid, config.limit)
    summary = fit(config, run_dir, train, valid)
    result = predict_run(run_dir)
    if config.blend_with and (Path(config.blend_with) / "probabilities.npz").is_file():
        result["neural_submission"] = result["submission"]
        result["blend"] = blend_runs([str(run_dir), config.blend_with], data_dir=config.data_dir,
                                     submission_dir=config.submission_dir)
        result["submission"] = result["blend"]["submission"]
    elif config.blend_with:
        logging.getLogger("sohu.train").warning("no %s/probabilities.npz: not blending (run `make sohu-baseline`)",
                                                config.blend_with)
    result.update({"run_dir": str(run_dir), "best_epoch": summary["best_epoch"],
                   "train_seconds": round(summary["train_seconds"], 1),
                   "wall_seconds": round(time.time() - start, 1), "missing_subtasks": missing,
                   "metrics_file": str(run_dir / "metrics.json")})
    print_result(result)
    return result


if __name__ == "__main__":
    main()
