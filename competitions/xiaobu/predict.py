"""Predict with a saved Xiaobu run: validation AUC, then one probability per test line.

    python -m competitions.xiaobu.predict --run runs/xiaobu/<name> [--test-file FILE] [--data-dir DIR]

``--test-file`` (under the data dir unless absolute) defaults to the run's test file;
the official round-1 files (``gaiic_track3_round1_test{A,B}_*.tsv``) are read the same
way (their ids must follow the training file's mapping to mean anything). The
submission ``submissions/xiaobu/<run>-<test file>-auc<valid AUC>.txt`` holds one
probability per line in test order, validated and written atomically. Ends with
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import BertConfig

from common.checkpoint import load_model_weights
from common.config import config_from_dict
from common.id_vocab import IdVocab
from common.io import print_result
from common.losses import posthoc_arguments
from common.pretraining import MLMPairDataset
from common.submission import validate_probability_file, write_probability_submission
from common.training.inference import run_inference
from competitions.xiaobu.config import XiaobuConfig
from competitions.xiaobu.data import JointCollator, Pair, PairDataset, collate, count_lines, read_pairs, resolve, \
    split_train_valid
from competitions.xiaobu.metrics import pair_auc
from competitions.xiaobu.model import VOCAB_FILE, ClassificationPredictStep, JointPredictStep, model_class

logger = logging.getLogger("xiaobu.predict")


def eval_inputs(config: XiaobuConfig, vocab: IdVocab, pairs: list[Pair], log_prior: torch.Tensor | None = None,
                posthoc_tau: float = 0.0) -> tuple[Any, Any, Any]:
    """(dataset, collate_fn, predict_step) for scoring ``pairs`` without augmentation.

    ``posthoc_tau > 0`` (classification only) shifts the logits by ``-tau * log_prior``.

    Raises:
        ValueError: post-hoc adjustment asked of the joint variant.
    """
    if config.joint:
        encoded = [(vocab.encode(p.a), vocab.encode(p.b)) for p in pairs]
        extras = [{"pair_label": -1 if p.label is None else p.label} for p in pairs]
        dataset = MLMPairDataset(encoded, vocab.cls_id, vocab.sep_id, config.max_length, extras=extras)
        if posthoc_tau > 0:
            raise ValueError("logit adjustment applies to the classification variant, not --joint")
        return dataset, JointCollator(vocab), JointPredictStep(vocab)
    return (PairDataset(pairs, vocab, config.max_length, use_match=config.use_match),
            partial(collate, pad_id=vocab.pad_id),
            ClassificationPredictStep(log_prior, posthoc_tau))


def load_run(run_dir: Path) -> tuple[XiaobuConfig, IdVocab, Any]:
    """Config, id vocabulary and best model of a finished run.

    Raises:
        FileNotFoundError: config.json, id_vocab.json, encoder/ or model.pt missing.
    """
    for name in ("config.json", VOCAB_FILE, "encoder", "model.pt"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name} missing: is {run_dir} a finished Xiaobu run?")
    config = config_from_dict(XiaobuConfig, json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    vocab = IdVocab.load(run_dir / VOCAB_FILE)
    model = model_class(config.joint)(BertConfig.from_pretrained(run_dir / "encoder"))
    load_model_weights(model, run_dir / "model.pt")
    return config, vocab, model


def probabilities(config: XiaobuConfig, vocab: IdVocab, model, pairs: list[Pair], **adjust) -> np.ndarray:
    """(N,) P(label 1) for ``pairs``, in order (``adjust``: ``log_prior``, ``posthoc_tau``)."""
    dataset, collate_fn, step = eval_inputs(config, vocab, pairs, **adjust)
    loader = DataLoader(dataset, batch_size=config.eval_batch_size, shuffle=False, collate_fn=collate_fn)
    return run_inference(model, loader, step)["prob"]


def validation_pairs(config: XiaobuConfig, data_dir: str) -> list[Pair]:
    """The run's fixed validation split of its train file (empty without one)."""
    if config.valid_fraction <= 0:
        return []
    labelled = read_pairs(resolve(data_dir, config.train_file), labelled=True, limit=config.limit)
    return split_train_valid(labelled, config.valid_fraction, config.split_seed)[1]


def predict_run(run_dir: str | Path, data_dir: str | None = None, test_file: str | None = None,
                submission_dir: str | None = None, posthoc_tau: float | None = None) -> dict:
    """Validation AUC and a validated one-probability-per-line submission for the test file.

    ``posthoc_tau`` (default: the run's) > 0 applies post-hoc logit adjustment; the
    submission name then carries ``-posthoc<tau>``.
    """
    run_dir = Path(run_dir)
    start = time.time()
    config, vocab, model = load_run(run_dir)
    tau = config.posthoc_tau if posthoc_tau is None else posthoc_tau
    adjust = posthoc_arguments(run_dir, tau)
    tag = f"-posthoc{tau:g}" if tau > 0 else ""
    data_dir = data_dir or config.data_dir
    valid = validation_pairs(config, data_dir)
    metrics = {}
    if valid:
        metrics["auc"] = pair_auc(np.array([p.label for p in valid]),
                                  probabilities(config, vocab, model, valid, **adjust))
    test_path = resolve(data_dir, test_file or config.test_file)
    test = read_pairs(test_path, labelled=False, limit=config.limit if not test_file else 0)
    probs = probabilities(config, vocab, model, test, **adjust)
    expected = count_lines(test_path) if not config.limit or test_file else len(test)
    score = f"-auc{metrics['auc']:.4f}" if "auc" in metrics else ""
    path = Path(submission_dir or config.submission_dir) / f"{config.run_name}{tag}-{test_path.stem}{score}.txt"
    write_probability_submission(path, probs, expected)
    rows = validate_probability_file(path, expected)
    unknown = sum(t == vocab.unk_id for p in test for t in vocab.encode(p.a + p.b)) / max(
        sum(len(p.a) + len(p.b) for p in test), 1)
    if unknown > 0.2:
        logger.warning("%.0f%% of the test ids are not in the run's vocabulary: is %s desensitized with the "
                       "same mapping as the training file?", 100 * unknown, test_path)
    return {"valid": metrics, "posthoc_tau": tau, "test_file": str(test_path), "submission": str(path), "rows": rows,
            "test_unknown_id_share": round(unknown, 4), "predict_seconds": round(time.time() - start, 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, help="run folder, e.g. runs/xiaobu/<name>")
    parser.add_argument("--data-dir", default=None, help="default: the run's data_dir")
    parser.add_argument("--test-file", default=None, help="default: the run's test_file")
    parser.add_argument("--submission-dir", default=None, help="default: the run's submission_dir")
    parser.add_argument("--posthoc-tau", type=float, default=None,
                        help="post-hoc logit adjustment (default: the run's posthoc_tau; 0 turns it off)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = predict_run(args.run, args.data_dir, args.test_file, args.submission_dir, args.posthoc_tau)
    result["run_dir"] = args.run
    print_result(result)
    return result


if __name__ == "__main__":
    main()
