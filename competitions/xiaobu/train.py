"""Fine-tune the Xiaobu matcher on the labelled pairs, then write the submission.

    python -m competitions.xiaobu.train [--model cache/xiaobu-pretrain] [--joint true] [--flag value ...]

Holds out the fixed stratified ``--valid-fraction`` of the train file
(``--split-seed``), trains with the shared trainer (``--fgm-epsilon``, ``--ema-decay``
available), keeps the epoch of best validation ROC AUC, and writes
``submissions/xiaobu/<run>-<test file>-auc<S>.txt`` for ``--test-file``. With
``--joint true`` the label is predicted at [CLS] through the MLM head while MLM
continues on the train and test text (bojone's baseline). Ends with one JSON line.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
from accelerate.utils import set_seed

from common.config import parse_config
from common.io import print_result, write_json_atomic
from common.losses import log_prior, save_log_prior
from common.pretraining import MLMPairDataset, NgramMaskingCollator
from common.run import resolve_run_dir, save_config
from common.training.callbacks import Callback
from common.training.trainer import Trainer, build_callbacks
from competitions.xiaobu.config import XiaobuConfig
from competitions.xiaobu.data import (JointCollator, Pair, PairDataset, collate, read_pairs, resolve,
                                      split_train_valid)
from competitions.xiaobu.metrics import pair_auc
from competitions.xiaobu.model import VOCAB_FILE, build_vocab_and_model
from competitions.xiaobu.predict import eval_inputs, predict_run


def compute_metrics(outputs: dict, dataset) -> dict[str, float]:
    """Validation ROC AUC of the predicted probabilities."""
    labels = np.array([p.label for p in dataset.pairs])
    return {"auc": pair_auc(labels, outputs["prob"])}


class _EvalSet:
    """The validation dataset, its pairs exposed (for compute_metrics) and its items tagged.

    The trainer takes one collate_fn for training and evaluation; the ``_eval`` tag routes
    validation items to the unaugmented collate (no masking, no swapping).
    """

    def __init__(self, dataset, pairs) -> None:
        self.dataset, self.pairs = dataset, pairs

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return {**self.dataset[index], "_eval": True}


def fit(config: XiaobuConfig, run_dir: Path, train: list[Pair], valid: list[Pair], test: list[Pair],
        sequences: list[list[int]], callbacks: Sequence[Callback] = ()) -> tuple[dict, str]:
    """Train one model on ``train``, choosing the epoch by ROC AUC on ``valid`` (if any).

    Args:
        config: the run's options (its seed initialises the weights).
        run_dir: the run folder; receives config.json, id_vocab.json, encoder/,
            label_prior.json, model.pt (what :func:`competitions.xiaobu.predict.load_run` reads).
        train / valid: labelled pairs; ``test``: unlabelled pairs (MLM text of the joint variant).
        sequences: every side of every pair, for a new id vocabulary.
        callbacks: extra trainer callbacks (e.g. Optuna pruning).

    Returns:
        (trainer summary, start) with start as in :func:`build_vocab_and_model`.

    Raises:
        ValueError: logit adjustment asked of the joint variant.
    """
    if config.joint and (config.logit_adjust_tau > 0 or config.posthoc_tau > 0):
        raise ValueError("logit adjustment applies to the classification variant, not --joint: "
                         "add --logit-adjust-tau 0 --posthoc-tau 0 (configs/joint.toml does)")
    set_seed(config.seed)
    vocab, model, origin = build_vocab_and_model(config, sequences, mlm_head=config.joint)
    prior = log_prior([p.label for p in train], 2)
    if not config.joint:
        model.set_logit_adjustment(prior, config.logit_adjust_tau)
    save_config(config, run_dir)
    vocab.save(run_dir / VOCAB_FILE)
    model.config.save_pretrained(run_dir / "encoder")
    save_log_prior(run_dir, prior)

    if config.joint:
        # MLM on the labelled train pairs and the unlabelled test pairs; the validation pairs stay unseen.
        pool = train + test
        encoded = [(vocab.encode(p.a), vocab.encode(p.b)) for p in pool]
        extras = [{"pair_label": -1 if p.label is None else p.label} for p in pool]
        train_ds = MLMPairDataset(encoded, vocab.cls_id, vocab.sep_id, config.max_length,
                                  swap_prob=config.swap_prob, extras=extras)
        mlm = NgramMaskingCollator(vocab.to_tokenizer(), mlm_probability=config.mlm_probability,
                                   ngram_probs=tuple(config.ngram_probs), mask_replace_prob=config.mask_replace_prob,
                                   random_replace_prob=config.random_replace_prob)
        train_collate = JointCollator(vocab, mlm)
    else:
        train_ds = PairDataset(train, vocab, config.max_length, swap_prob=config.pair_swap_prob,
                               use_match=config.use_match)
        train_collate = partial(collate, pad_id=vocab.pad_id)
    valid_ds, valid_collate, predict_step = eval_inputs(config, vocab, valid)
    eval_set = _EvalSet(valid_ds, valid) if valid else None

    def collate_fn(items: list[dict]) -> dict:
        return valid_collate(items) if "_eval" in items[0] else train_collate(items)

    trainer = Trainer(model, config, run_dir, train_ds, eval_set,
                      collate_fn=collate_fn, compute_metrics=compute_metrics if valid else None,
                      metric_name="auc" if valid else "loss", greater_is_better=bool(valid),
                      callbacks=[*build_callbacks(config), *callbacks], predict_step=predict_step)
    return trainer.train(), origin


def load_data(config: XiaobuConfig) -> tuple[list[Pair], list[Pair]]:
    """(labelled pairs of the train file, unlabelled pairs of the test file)."""
    labelled = read_pairs(resolve(config.data_dir, config.train_file), labelled=True, limit=config.limit)
    test = read_pairs(resolve(config.data_dir, config.test_file), labelled=False, limit=config.limit)
    return labelled, test


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(XiaobuConfig, argv, description=__doc__)
    run_dir = resolve_run_dir(config, "xiaobu")
    labelled, test = load_data(config)
    train, valid, valid_idx = split_train_valid(labelled, config.valid_fraction, config.split_seed)
    write_json_atomic(run_dir / "valid_indices.json", valid_idx.tolist())
    summary, origin = fit(config, run_dir, train, valid, test, [s for p in labelled + test for s in (p.a, p.b)])
    result = predict_run(run_dir)
    result.update({"run_dir": str(run_dir), "start": origin, "joint": config.joint,
                   "train_pairs": len(train), "valid_pairs": len(valid), "best_epoch": summary["best_epoch"],
                   "epochs_run": len(summary["history"]), "train_seconds": round(summary["train_seconds"], 1),
                   "wall_seconds": round(time.time() - start, 1), "metrics_file": str(run_dir / "metrics.json")})
    print_result(result)
    return result


if __name__ == "__main__":
    main()
