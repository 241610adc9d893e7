"""Predict with a saved Sohu run: tune thresholds on valid, write the submission.

    python -m competitions.sohu.predict --run runs/sohu/<name> [--data-dir data/sohu2021]

Ends by printing one JSON line: validation metrics, thresholds and the paths written.
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
from transformers import AutoConfig, AutoModel, AutoTokenizer

from common.checkpoint import load_model_weights
from common.config import config_from_dict
from common.io import atomic_path, print_result, write_json_atomic
from common.losses import posthoc_arguments, posthoc_logit_adjustment
from common.submission import validate_submission_file, write_id_label_submission
from common.training.inference import run_inference
from competitions.sohu.config import SohuConfig
from competitions.sohu.data import ROOT, SUBTASKS, PairDataset, collate, limit_per_subtask, load_split
from competitions.sohu.metrics import group_of, sohu_scores
from competitions.sohu.model import SohuMatcher

logger = logging.getLogger("sohu.predict")


def parse_subtasks(text: str) -> list[int] | None:
    """``"0,1"`` -> [0, 1]; empty -> None (all). Raises ValueError on an unknown id."""
    if not text:
        return None
    ids = [int(t) for t in text.split(",") if t.strip()]
    bad = [i for i in ids if not 0 <= i < len(SUBTASKS)]
    if bad:
        raise ValueError(f"subtask ids must be 0-{len(SUBTASKS) - 1}, got {bad}")
    return ids


def build_model(config: SohuConfig, encoder: torch.nn.Module) -> SohuMatcher:
    return SohuMatcher(encoder, num_tasks=len(SUBTASKS), condition_size=config.condition_size,
                       pooling=config.pooling, use_match=config.use_match, dropout=config.dropout,
                       logit_adjust_tau=config.logit_adjust_tau)


def load_run(run_dir: Path) -> tuple[SohuConfig, Any, SohuMatcher]:
    """Config, tokenizer and best model of a finished run.

    Raises:
        FileNotFoundError: config.json, tokenizer/, encoder/ or model.pt missing.
    """
    for name in ("config.json", "tokenizer", "encoder", "model.pt"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name} missing: is {run_dir} a finished Sohu run?")
    config = config_from_dict(SohuConfig, json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(run_dir / "encoder"))
    model = build_model(config, encoder)
    load_model_weights(model, run_dir / "model.pt")
    return config, tokenizer, model


def probabilities(model, dataset: PairDataset, batch_size: int, pad_id: int,
                  log_prior: torch.Tensor | None = None, posthoc_tau: float = 0.0) -> np.ndarray:
    """(N,) positive-class probabilities, in dataset order.

    With ``posthoc_tau > 0``, the logits are first shifted by ``-tau * log_prior`` of
    each example's subtask (post-hoc logit adjustment; ``log_prior`` (num subtasks, 2)).
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=partial(collate, pad_id=pad_id))
    logits = torch.from_numpy(run_inference(model, loader)["logits"])  # (N, 2)
    if posthoc_tau > 0:
        tasks = torch.tensor([e.subtask for e in dataset.examples])
        logits = posthoc_logit_adjustment(logits, log_prior[tasks], posthoc_tau)  # (N, 2)
    return torch.softmax(logits.float(), dim=-1)[:, 1].numpy()


def predict_run(run_dir: str | Path, data_dir: str | None = None, submission_dir: str | None = None,
                posthoc_tau: float | None = None) -> dict:
    """Thresholds on valid, labels for every test id, a validated submission.

    ``posthoc_tau`` (default: the run's ``posthoc_tau``) > 0 applies post-hoc logit
    adjustment; its outputs carry ``-posthoc<tau>`` in their names.

    Returns a dict of the validation metrics, thresholds and written paths.
    """
    run_dir = Path(run_dir)
    start = time.time()
    config, tokenizer, model = load_run(run_dir)
    tau = config.posthoc_tau if posthoc_tau is None else posthoc_tau
    adjust = posthoc_arguments(run_dir, tau)
    tag = f"-posthoc{tau:g}" if tau > 0 else ""
    data_dir = data_dir or config.data_dir
    subtasks = parse_subtasks(config.subtasks)
    pad = tokenizer.pad_token_id
    valid, _ = load_split(data_dir, "valid", subtasks)
    if config.limit:
        valid = limit_per_subtask(valid, config.limit)
    valid_ds = PairDataset(valid, tokenizer, config.max_length)
    probs = probabilities(model, valid_ds, config.eval_batch_size, pad, **adjust)
    labels = np.array([e.label for e in valid])
    task_ids = np.array([e.subtask for e in valid])
    metrics, thresholds = sohu_scores(labels, probs, task_ids)
    write_json_atomic(run_dir / f"thresholds{tag}.json", thresholds)

    test, missing = load_split(data_dir, "test_with_id", subtasks)
    test_probs = probabilities(model, PairDataset(test, tokenizer, config.max_length), config.eval_batch_size, pad,
                               **adjust)
    save_probabilities(run_dir / f"probabilities{tag}.npz", valid, probs, test, test_probs)
    groups = group_of(np.array([e.subtask for e in test]))
    predictions = {}
    for ex, p, g in zip(test, test_probs, groups):
        # A group without validation data (not trained) falls back to 0.5.
        predictions[ex.id] = int(p >= thresholds.get(g, 0.5))
    sample = Path(data_dir) / ROOT / "sample_submission.csv"
    out_dir = Path(submission_dir or config.submission_dir)
    path = out_dir / f"{config.run_name}{tag}-score{metrics['score']:.4f}.csv"
    written = write_id_label_submission(path, predictions, sample, fill_value=0)
    rows = validate_submission_file(path, sample)
    if written["filled"]:
        logger.warning("subtasks without data (%s): their %d test ids are filled with label 0",
                       ", ".join(missing) or "none", len(written["filled"]))
    return {"valid": metrics, "thresholds": thresholds, "posthoc_tau": tau, "submission": str(path), "rows": rows,
            "filled_ids": len(written["filled"]), "missing_subtasks": missing,
            "predict_seconds": round(time.time() - start, 1)}


def save_probabilities(path: Path, valid: list, valid_probs: np.ndarray, test: list, test_probs: np.ndarray) -> None:
    """Save positive-class probabilities with their keys, for blending runs.

    Valid rows are keyed ``<subtask>:<line index within the subtask>``, test rows by id.
    """
    counters: dict[int, int] = {}
    valid_keys = []
    for e in valid:
        valid_keys.append(f"{e.subtask}:{counters.get(e.subtask, 0)}")
        counters[e.subtask] = counters.get(e.subtask, 0) + 1
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, valid_keys=np.array(valid_keys), valid_probs=valid_probs,
                     valid_labels=np.array([e.label for e in valid]),
                     valid_tasks=np.array([e.subtask for e in valid]),
                     test_ids=np.array([e.id for e in test]), test_probs=test_probs,
                     test_tasks=np.array([e.subtask for e in test]))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, help="run folder, e.g. runs/sohu/<name>")
    parser.add_argument("--data-dir", default=None, help="default: the run's data_dir")
    parser.add_argument("--submission-dir", default=None, help="default: the run's submission_dir")
    parser.add_argument("--posthoc-tau", type=float, default=None,
                        help="post-hoc logit adjustment (default: the run's posthoc_tau; 0 turns it off)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = predict_run(args.run, args.data_dir, args.submission_dir, args.posthoc_tau)
    result["run_dir"] = args.run
    print_result(result)
    return result


if __name__ == "__main__":
    main()
