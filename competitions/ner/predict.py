"""Predict with a saved NER run: dev metrics (per-type table) and the test prediction file.

    python -m competitions.ner.predict --run runs/ner/<name> [--data-root data] [--output-dir submissions/ner]

Writes ``<run>/dev_metrics.json`` and ``<output-dir>/<dataset>/<run name>-dev<F1>.json``:
CLUENER's submission format for cluener (``{"id", "label": {type: {mention:
[[start, end]]}}}``), a span JSON-lines file for the other sets; one line per test
line, in order. Test metrics are added when the test file is labelled. Ends by
printing one JSON line with the metrics and the paths written.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any, Sequence

from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModel, AutoTokenizer

from common.checkpoint import load_model_weights
from common.config import config_from_dict
from common.io import print_result, write_json_atomic
from common.ner.metric import format_table, span_scores
from common.ner.spans import NerExample, Span
from common.ner.writers import write_cluener, write_span_jsonl
from common.training.inference import run_inference
from competitions.ner.config import NerConfig
from competitions.ner.data import DATASETS, NerDataset, collate, load_dataset, merge_piece_spans
from competitions.ner.model import DEFAULT_HEAD_SIZE, CharBiLSTMEncoder, NerModel, predict_step

logger = logging.getLogger("ner.predict")


def build_model(config: NerConfig, encoder, types: list[str]) -> NerModel:
    head_size = config.head_size or DEFAULT_HEAD_SIZE.get(config.head, 64)
    return NerModel(encoder, config.head, types, head_size=head_size, dropout=config.dropout,
                    max_span_width=config.max_span_width)


def build_bilstm(config: NerConfig, vocab_size: int) -> CharBiLSTMEncoder:
    return CharBiLSTMEncoder(vocab_size, config.hidden_size, config.lstm_layers, config.dropout)


def load_run(run_dir: Path) -> tuple[NerConfig, Any, list[str], NerModel]:
    """Config, tokenizer, entity types and best model of a finished run.

    Raises:
        FileNotFoundError: config.json, tokenizer/, labels.json or model.pt missing.
    """
    for name in ("config.json", "tokenizer", "labels.json", "model.pt"):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name} missing: is {run_dir} a finished NER run?")
    config = config_from_dict(NerConfig, json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
    types = json.loads((run_dir / "labels.json").read_text(encoding="utf-8"))["types"]
    if config.encoder_type == "bilstm":
        encoder = build_bilstm(config, len(tokenizer))
    else:
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(run_dir / "encoder"))
    model = build_model(config, encoder, types)
    load_model_weights(model, run_dir / "model.pt")
    model.eval()
    return config, tokenizer, types, model


def predict_spans(model: NerModel, examples: Sequence[NerExample], tokenizer, types: list[str],
                  max_length: int, batch_size: int) -> tuple[list[list[Span]], float]:
    """Predicted spans per example (text offsets) and the sentences per second of the pass.

    Pieces are batched shortest first (batches of similar lengths pad less, and the span
    heads' score tensors grow as T^2); the outputs are put back in dataset order.
    """
    dataset = NerDataset(examples, tokenizer, types, max_length)
    by_length = sorted(range(len(dataset)), key=lambda i: len(dataset[i]["input_ids"]))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=by_length,
                        collate_fn=partial(collate, pad_id=tokenizer.pad_token_id))
    start = time.time()
    sorted_spans = run_inference(model, loader, predict_step, show_progress=False).get("spans", [])
    seconds = time.time() - start
    spans: list = [None] * len(dataset)
    for i, rows in zip(by_length, sorted_spans):
        spans[i] = rows
    return merge_piece_spans(dataset, spans), len(examples) / max(seconds, 1e-9)


def _scores(gold: Sequence[NerExample], pred: Sequence[Sequence[Span]]) -> dict:
    return span_scores([ex.spans for ex in gold], pred)


def predict_run(run_dir: str | Path, data_root: str | None = None, output_dir: str | None = None) -> dict:
    """Dev metrics and the test prediction file of a saved run; returns metrics and paths."""
    run_dir = Path(run_dir)
    start = time.time()
    config, tokenizer, types, model = load_run(run_dir)
    data = load_dataset(config.dataset, data_root or config.data_root, config.limit)
    spec = DATASETS[config.dataset]
    dev_pred, dev_rate = predict_spans(model, data["dev"], tokenizer, types, config.max_length, config.eval_batch_size)
    dev = _scores(data["dev"], dev_pred)
    write_json_atomic(run_dir / "dev_metrics.json", dev)
    logger.info("dev (%d texts):\n%s", len(data["dev"]), format_table(dev))

    test_pred, test_rate = predict_spans(model, data["test"], tokenizer, types, config.max_length,
                                         config.eval_batch_size)
    out_dir = Path(output_dir or config.output_dir) / config.dataset
    if spec.output_format == "cluener":
        path = write_cluener(out_dir / f"{config.run_name}-dev{dev['f1']:.4f}.json", data["test"], test_pred)
    else:
        path = write_span_jsonl(out_dir / f"{config.run_name}-dev{dev['f1']:.4f}.jsonl", data["test"], test_pred)
    lines = sum(1 for _ in path.open(encoding="utf-8"))
    if lines != len(data["test"]):
        raise RuntimeError(f"{path}: {lines} lines written for {len(data['test'])} test texts")
    result = {"dataset": config.dataset, "head": config.head, "encoder": config.model or config.encoder_type,
              "dev": {k: round(dev[k], 4) for k in ("precision", "recall", "f1")},
              "dev_per_type_f1": {t: round(s["f1"], 4) for t, s in dev["per_type"].items()},
              "predict_sentences_per_s": round(dev_rate, 1), "prediction": str(path), "test_lines": lines,
              "dev_metrics_file": str(run_dir / "dev_metrics.json")}
    if spec.test.labelled:
        test = _scores(data["test"], test_pred)
        result["test"] = {k: round(test[k], 4) for k in ("precision", "recall", "f1")}
    result["predict_seconds"] = round(time.time() - start, 1)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, help="run folder, e.g. runs/ner/<name>")
    parser.add_argument("--data-root", default=None, help="default: the run's data_root")
    parser.add_argument("--output-dir", default=None, help="default: the run's output_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = predict_run(args.run, args.data_root, args.output_dir)
    result["run_dir"] = args.run
    print_result(result)
    return result


if __name__ == "__main__":
    main()
