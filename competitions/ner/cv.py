"""k-fold NER: out-of-fold micro-F1 on the train set, and the fold models' majority vote on the dev and test files.

    python -m competitions.ner.cv [--folds 5] [the options of competitions.ner.train]
    make ner-cv FOLDS=5 [DATASET=cmeee] [ARGS="--head gp"]

The train set (a preset's or ``--train-file``'s, after ``--dev-holdout`` and ``--limit``, as a single run reads it)
is split into ``--folds`` folds of its texts (``--fold-seed``; stratified by entity count, 0 to 3 or more; identical
texts in one fold with ``--group-by-text``, the default). Fold k trains a model in ``<run>/fold<k>/`` (a single run's
folder) on the other folds' texts, keeps its epoch of best micro-F1 on its own fold, and predicts that fold: the
out-of-fold (OOF) spans of every train text, scored against the gold (optimistic by the epoch choice, as in every
k-fold here). No fold trains on the dev file: each fold model's dev F1, and the dev F1 of their vote
(:func:`common.ner.voting.vote_spans`: the spans more than half of the models predict), compare with a single run's.
The test prediction is the vote, written as a single run writes its own, named
``<run name>-cv<OOF F1>-dev<vote F1>``. Writes ``folds.json``, each fold's ``oof_spans.json`` and ``cv_metrics.json``;
ends with one JSON line.

A rerun continues: finished folds are kept, an interrupted one resumes from its checkpoint, other options or other
train texts are refused. ``--only-folds`` trains some folds now (one per machine); the run that finds every fold
done assembles. ``python -m competitions.ner.predict --run <run>`` votes on another ``--test-file`` the same way.
Under ``accelerate launch`` each fold trains and predicts over the processes, and the main process writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from accelerate import Accelerator

from common.commands.args import run_cli
from common.config import config_from_dict, narrow_config, parse_config
from common.cv import CVConfig, fold_overrides, load_or_make_folds, make_folds, parse_only_folds, text_groups
from common.io import print_result, write_json_atomic
from common.ner.metric import span_scores
from common.ner.spans import NerExample, Span
from common.ner.voting import vote_spans
from common.ner.writers import prediction_path, write_prediction
from common.run import check_rerun_config, process_state, resolve_run_dir, save_config
from common.training.trainer import release_logging
from competitions.ner.config import NerConfig
from competitions.ner.data import check_training_data, dataset_name, load_splits, resolve_decoding
from competitions.ner.predict import load_run, predict_spans
from competitions.ner.train import fit, resolve_options

logger = logging.getLogger("ner.cv")

FOLD_SPANS = "oof_spans.json"  # in fold<k>/: the predicted spans of its held-out texts; written last, it marks the fold done


@dataclass
class NerCVConfig(CVConfig, NerConfig):
    """k-fold options (``--folds``, ``--fold-seed``, ``--group-by-text``: identical texts in one fold,
    ``--only-folds``, ``--keep-fold-checkpoints``) and a NER run's."""


def pool_digest(pool: Sequence[NerExample]) -> str:
    """SHA-256 of the train texts and their gold spans, in order: a rerun on an edited train file is refused."""
    rows = [[ex.text, sorted(map(list, ex.spans))] for ex in pool]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def _scores(gold: Sequence[NerExample], pred: Sequence[Sequence[Span]]) -> dict[str, float]:
    scores = span_scores([ex.spans for ex in gold], pred)
    return {k: round(scores[k], 4) for k in ("precision", "recall", "f1")}


def train_fold(config: NerCVConfig, run_dir: Path, k: int, pool: list[NerExample], fold: np.ndarray,
               ids: np.ndarray, test: list[NerExample]) -> dict[str, Any]:
    """Train fold ``k`` in ``run_dir/fold<k>`` and write its held-out texts' spans (``oof_spans.json``, main
    process); returns what that file holds."""
    fold_dir = run_dir / f"fold{k}"
    held = np.flatnonzero(fold == k)
    fold_config = narrow_config(config, NerConfig, **fold_overrides(config, run_dir, k))
    logger.info("fold %d/%d: %d train texts, %d held out", k + 1, config.folds, len(pool) - len(held), len(held))
    start = time.time()
    summary, _, accelerator = fit(fold_config, {"train": [pool[i] for i in np.flatnonzero(fold != k)],
                                                "dev": [pool[i] for i in held], "test": test}, fold_dir)
    saved, tokenizer, types, model = load_run(fold_dir)  # its best epoch
    model.to(accelerator.device)
    spans, _ = predict_spans(model, [pool[i] for i in held], tokenizer, types, saved.max_length,
                             saved.eval_batch_size, accelerator)
    record = {"ids": ids[held].tolist(), "spans": [[list(s) for s in sorted(set(x))] for x in spans],
              "held_out": _scores([pool[i] for i in held], spans), "best_epoch": summary["best_epoch"],
              "train_seconds": round(summary["train_seconds"], 1), "fold_seconds": round(time.time() - start, 1)}
    state = process_state()
    if state.is_main_process:
        write_json_atomic(fold_dir / FOLD_SPANS, record)  # written last: its presence marks the fold done
        if not config.keep_fold_checkpoints:
            shutil.rmtree(fold_dir / "checkpoint", ignore_errors=True)  # model.pt stays
    state.wait_for_everyone()
    return record


def oof_spans(run_dir: Path, n_folds: int, ids: np.ndarray) -> tuple[list[list[Span]], dict[str, dict]]:
    """The OOF spans of every train text, in ``ids``' order, and each fold's record, from its ``oof_spans.json``.

    Raises:
        ValueError: a fold's ids are not train ids, or the folds do not cover every train text once.
    """
    position = {i: n for n, i in enumerate(ids.tolist())}
    spans: list[list[Span] | None] = [None] * len(ids)
    folds = {}
    for k in range(n_folds):
        record = json.loads((run_dir / f"fold{k}" / FOLD_SPANS).read_text(encoding="utf-8"))
        for i, fold_spans in zip(record["ids"], record["spans"]):
            if i not in position or spans[position[i]] is not None:
                raise ValueError(f"{run_dir / f'fold{k}' / FOLD_SPANS}: id {i!r} is not a train text, or is in two folds")
            spans[position[i]] = [Span(*s) for s in fold_spans]
        folds[str(k)] = {key: v for key, v in record.items() if key not in ("ids", "spans")}
    missing = sum(s is None for s in spans)
    if missing:
        raise ValueError(f"{run_dir}: the folds' {FOLD_SPANS} cover {len(ids) - missing} of {len(ids)} train texts")
    return spans, folds  # type: ignore[return-value]


def vote_predict(run_dir: Path, n_folds: int, examples: dict[str, list[NerExample]],
                 accelerator: Accelerator) -> dict[str, Any]:
    """Each fold model's spans of ``examples``' splits (e.g. dev, test) and their majority vote:
    ``{split: {"models": [(N texts) x spans] x k, "vote": (N texts) x spans}}``."""
    out: dict[str, Any] = {name: {"models": []} for name in examples}
    for k in range(n_folds):
        saved, tokenizer, types, model = load_run(run_dir / f"fold{k}")
        model.to(accelerator.device)
        for name, texts in examples.items():
            out[name]["models"].append(predict_spans(model, texts, tokenizer, types, saved.max_length,
                                                     saved.eval_batch_size, accelerator)[0] if texts else [])
    for name in examples:
        out[name]["vote"] = vote_spans(out[name]["models"])
    return out


def write_vote(config: Any, test: list[NerExample], spans: list[list[Span]], name: str,
                     submission_dir: str | None = None) -> Path:
    """The test prediction as a single run writes it (:func:`common.ner.writers.write_prediction`: CLUENER's or
    CMeEE's submission format for their data, span JSON lines otherwise), ``<submission-dir>/<dataset>/<name>.json(l)``,
    one record per test text (main process).

    Raises:
        RuntimeError: the file does not hold one record per test text.
    """
    stem = Path(submission_dir or config.submission_dir) / dataset_name(config) / name
    if process_state().is_main_process:
        write_prediction(stem, config.format, test, spans)
    return prediction_path(stem, config.format)


def kfold_config(run_dir: Path) -> NerCVConfig:
    """The saved config of a k-fold NER run folder."""
    return config_from_dict(NerCVConfig, json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> dict:
    """``python -m competitions.ner.cv``: see the module docstring; returns the result dict (every process)."""
    start = time.time()
    config = resolve_options(parse_config(NerCVConfig, argv, description=__doc__))
    data = load_splits(config)  # bad data stops here, before a run folder exists
    check_training_data(config, data)
    pool = data["train"]
    resolve_decoding(config, pool)  # once for every fold, saved resolved
    parse_only_folds(config.only_folds, config.folds)
    ids = np.asarray([f"train:{i}" for i in range(len(pool))])
    groups = text_groups([(ex.text, ex.text) for ex in pool]) if config.group_by_text else None
    strata = [min(len(ex.spans), 3) for ex in pool]
    make_folds(strata, config.folds, config.fold_seed, groups)  # folds that cannot be drawn: before a run folder
    run_dir = resolve_run_dir(config, "ner", kind="k-fold")
    check_rerun_config(config, run_dir, FOLD_SPANS)  # its finished folds are kept: they must be this setting's
    fold = load_or_make_folds(run_dir, ids, strata, config, groups, pool_digest(pool))
    state = process_state()
    if state.is_main_process:
        save_config(config, run_dir)
    for k in parse_only_folds(config.only_folds, config.folds):
        if (run_dir / f"fold{k}" / FOLD_SPANS).is_file():
            logger.info("fold %d/%d: done already, skipped", k + 1, config.folds)
            continue
        train_fold(config, run_dir, k, pool, fold, ids, data["test"])
    release_logging()  # the last fold's train.log gets no lines of the assembly
    done = [k for k in range(config.folds) if (run_dir / f"fold{k}" / FOLD_SPANS).is_file()]
    result: dict[str, Any] = {"run_dir": str(run_dir), "complete": len(done) == config.folds,
                              "folds_done": len(done)}
    if not result["complete"]:  # another machine's --only-folds: the last rerun assembles
        result["wall_seconds"] = round(time.time() - start, 1)
        if state.is_main_process:
            print_result(result)
        return result
    oof, folds = oof_spans(run_dir, config.folds, ids)
    result["cv"] = _scores(pool, oof)
    result.update(predict_kfold(run_dir, config, data, Accelerator(mixed_precision=config.mixed_precision),
                                oof_f1=result["cv"]["f1"], folds=folds))
    if state.is_main_process:
        write_json_atomic(run_dir / "cv_metrics.json", {"metric": "f1", "n_folds": config.folds,  # as the report reads
                                                        **{k: v for k, v in result.items() if k != "prediction"}})
    result["wall_seconds"] = round(time.time() - start, 1)
    if state.is_main_process:
        print_result(result)
    return result


def predict_kfold(run_dir: Path, config: Any, data: dict[str, list[NerExample]], accelerator: Accelerator,
                  oof_f1: float | None = None, folds: dict[str, dict] | None = None, name_parts: Sequence[str] = (),
                  submission_dir: str | None = None) -> dict[str, Any]:
    """The vote of a finished k-fold run's fold models on ``data``'s dev and test texts: dev scores (each model's
    and the vote's), the test prediction file (named ``<run name>[-<name_parts>]-cv<OOF F1>-dev<vote F1>``; the OOF
    F1 is ``oof_f1``, else ``cv_metrics.json``'s) and test scores where the test texts hold entities."""
    if oof_f1 is None:
        oof_f1 = json.loads((run_dir / "cv_metrics.json").read_text(encoding="utf-8"))["cv"]["f1"]
    votes = vote_predict(run_dir, config.folds, {"dev": data["dev"], "test": data["test"]}, accelerator)
    dev = _scores(data["dev"], votes["dev"]["vote"])
    folds = {k: dict(v) for k, v in (folds or {}).items()}
    for k, spans in enumerate(votes["dev"]["models"]):
        folds.setdefault(str(k), {})["dev"] = _scores(data["dev"], spans)
    result: dict[str, Any] = {"dev": dev, "dev_fold_mean_f1": round(float(np.mean([f["dev"]["f1"] for f in folds.values()])), 4),
                              "folds": folds, "dev_texts": len(data["dev"]), "votes_needed": config.folds // 2 + 1}
    if data["test"]:
        name = "-".join([config.run_name, *name_parts, f"cv{oof_f1:.4f}", f"dev{dev['f1']:.4f}"])
        result["prediction"] = str(write_vote(config, data["test"], votes["test"]["vote"], name, submission_dir))
        result["test_lines"] = len(data["test"])
        if any(ex.spans for ex in data["test"]):
            result["test"] = _scores(data["test"], votes["test"]["vote"])
        accelerator.wait_for_everyone()
    return result


if __name__ == "__main__":  # the trainer logs to stderr and train.log once a fold's folder exists
    run_cli(main)  # bad input: one line naming file:line, exit 2
