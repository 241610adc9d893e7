"""Predict with a saved NER run: dev metrics (per-type table) and the test prediction file.

    python -m competitions.ner.predict --run runs/ner/<name> [--data-dir DIR] [--test-file FILE] [--submission-dir DIR]

The run's ``config.json`` holds its resolved data options (``--data-dir``, files,
``--format``); the flags here override the folder, the test file (relative to the data
folder unless absolute, in the run's format; a tagged test file may hold characters without tags) and the
output folder. Leaves the run folder as it is (the dev metrics and per-type F1 are in the result line)
and writes ``<submission-dir>/<dataset>/<run name>-dev<F1>.json``
(``<run name>-<test file stem>-<content digest>-dev<F1>`` for a ``--test-file`` override): CLUENER's
submission format when the data is CLUENER's (``{"id", "label": {type: {mention:
[[start, end]]}}}``), a span JSON-lines file otherwise; one line per test record, in
order. Test metrics are added when the test file holds entities. Ends by printing one
JSON line with the metrics and the paths written. A k-fold run's folder (``competitions.ner.cv``) predicts by its
fold models' vote, named ``<run name>[-<test file stem>-<digest>]-cv<OOF F1>-dev<vote F1>``.

Runs under ``accelerate launch`` too: the texts are sharded over the processes, each
decodes its own to spans, the spans are gathered as objects (no padding), and only the
main process writes files and prints the result line.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Sequence

from accelerate import Accelerator
from transformers import AutoConfig, AutoModel, AutoTokenizer

from common.checkpoint import load_model_weights
from common.commands.args import run_cli
from common.commands.predict import is_kfold_run, test_name_parts
from common.config import ArgumentParser, config_from_dict
from common.io import print_result, write_json_atomic
from common.ner.metric import format_table, span_scores
from common.ner.spans import NerExample, Span
from common.ner.writers import prediction_path, write_prediction
from common.training.inference import inference_loader, run_inference
from common.training.trainer import release_logging
from competitions.ner.config import NerConfig
from competitions.ner.data import (NerDataset, check_decoding, collate, data_path, dataset_name, load_splits, merge_piece_spans,
                                   read_examples, resolve_data_options)
from competitions.ner.model import DEFAULT_HEAD_SIZE, CharBiLSTMEncoder, NerModel, predict_step

logger = logging.getLogger("ner.predict")


def build_model(config: NerConfig, encoder, types: list[str]) -> NerModel:
    """The configured head on ``encoder`` (head size resolved from :data:`DEFAULT_HEAD_SIZE` when 0)."""
    head_size = config.head_size or DEFAULT_HEAD_SIZE.get(config.head, 64)
    return NerModel(encoder, config.head, types, head_size=head_size, dropout=config.dropout,
                    max_span_width=config.max_span_width, flat=config.decoding == "flat")


def build_bilstm(config: NerConfig, vocab_size: int) -> CharBiLSTMEncoder:
    """The character BiLSTM encoder of ``config`` over ``vocab_size`` tokens."""
    return CharBiLSTMEncoder(vocab_size, config.hidden_size, config.lstm_layers, config.dropout)


def load_run(run_dir: Path) -> tuple[NerConfig, Any, list[str], NerModel]:
    """Config (data options resolved), tokenizer, entity types and best model (eval mode, CPU) of a finished run.

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
                  max_length: int, batch_size: int, accelerator: Accelerator | None = None
                  ) -> tuple[list[list[Span]], float]:
    """Predicted spans per example (text offsets) and the sentences per second of the pass.

    Pieces are batched shortest first (their ``lengths``, :func:`common.training.inference.inference_loader`:
    batches of similar lengths pad less, and the span heads' score tensors grow as T^2); the
    outputs come back in dataset order. With an
    ``accelerator`` the batches are sharded over its processes (the model must be on
    ``accelerator.device``) and every process gets all the spans back.
    """
    dataset = NerDataset(examples, tokenizer, types, max_length)
    loader = inference_loader(dataset, batch_size, partial(collate, pad_id=tokenizer.pad_token_id), accelerator)
    start = time.time()
    spans = run_inference(model, loader, predict_step, accelerator, show_progress=False).get("spans", [])
    seconds = time.time() - start
    if len(spans) != len(dataset):
        raise RuntimeError(f"inference returned {len(spans)} piece outputs for {len(dataset)} pieces")
    return merge_piece_spans(dataset, spans), len(examples) / max(seconds, 1e-9)


def _scores(gold: Sequence[NerExample], pred: Sequence[Sequence[Span]]) -> dict:
    return span_scores([ex.spans for ex in gold], pred)


def predict_data(config: Any, data_dir: str | None, test_file: str | None
                 ) -> tuple[dict[str, list[NerExample]], list[str]]:
    """The dev and test examples a saved run predicts (``config`` its saved config, changed in place: ``data_dir``
    overrides its folder, and its data options are resolved), and the parts a ``test_file`` other than the run's
    own adds to the prediction's name (its stem and content digest; none for the run's own test file).

    Raises:
        FileNotFoundError: a data file is missing.
        ValueError: a ``test_file`` without a sentence.
        common.ner.readers.NerDataError: a malformed data file.
    """
    run_data_dir = config.data_dir  # where the run's own test file is
    if data_dir:
        config.data_dir = data_dir
    resolve_data_options(config)  # a run saved before the data options existed: from its preset
    data = load_splits(config, ("dev",))
    if not test_file:
        data.update(load_splits(config, ("test",)))
        return data, []
    data["test"] = read_examples(data_path(config, test_file), config.format, config.strict_tags,
                                 config.strip_segment_digit, labelled=False)
    if not data["test"]:
        raise ValueError(f"--test-file {data_path(config, test_file)}: no sentence to predict")
    own = data_path(replace(config, data_dir=run_data_dir), config.test_file) if config.test_file else None
    return data, test_name_parts(data_path(config, test_file), own)


def predict_run(run_dir: str | Path, data_dir: str | None = None, test_file: str | None = None,
                submission_dir: str | None = None, accelerator: Accelerator | None = None,
                write_dev_metrics: bool = False, decoding: str | None = None) -> dict:
    """Dev metrics and the test prediction file of a saved run; returns metrics and paths.

    Args:
        run_dir: a finished run folder (see :func:`load_run`).
        data_dir, test_file, submission_dir: override the run's options (None: the run's).
        accelerator: the one to predict through (default: a new one with the run's mixed
            precision; under ``accelerate launch`` the texts are sharded over the processes).
        write_dev_metrics: write ``run_dir/dev_metrics.json`` (the training command does; ``predict`` leaves
            the run folder as it is and reports the dev metrics in its result).
        decoding: ``flat`` / ``nested``: the span heads decode so instead of as the run was trained to (its
            ``decoding``); the prediction's name gets ``-<decoding>``.

    Every process returns the same result; only the main one writes files. A ``test_file`` other than the
    run's own gets the first 8 hex digits of its content's SHA-256 in the prediction's name, so two files of
    one name never overwrite each other's prediction.

    Raises:
        FileNotFoundError: a run file or data file is missing.
        ValueError: a ``test_file`` without a sentence.
        common.ner.readers.NerDataError: a malformed data file.
        RuntimeError: the prediction file does not hold one line per test record.
    """
    run_dir = Path(run_dir)
    start = time.time()
    config, tokenizer, types, model = load_run(run_dir)
    setting = ""
    if decoding and config.head == "crf":
        raise ValueError(f"--decoding {decoding}: {run_dir} has the CRF head, whose tags are flat by construction "
                         "(--decoding reads the GlobalPointer heads, gp and egp)")
    if decoding and decoding != config.decoding:
        check_decoding(decoding, allow_auto=False)
        config.decoding, model.flat, setting = decoding, decoding == "flat", f"-{decoding}"
    data, name_parts = predict_data(config, data_dir, test_file)
    accelerator = accelerator or Accelerator(mixed_precision=config.mixed_precision)
    model.to(accelerator.device)
    main = accelerator.is_main_process

    def predict(examples: Sequence[NerExample]) -> tuple[list[list[Span]], float]:
        return predict_spans(model, examples, tokenizer, types, config.max_length, config.eval_batch_size,
                             accelerator)

    dev_pred, dev_rate = predict(data["dev"])
    dev = _scores(data["dev"], dev_pred)
    if main:
        if write_dev_metrics:
            write_json_atomic(run_dir / "dev_metrics.json", dev)
        logger.info("dev (%d texts):\n%s", len(data["dev"]), format_table(dev))
    result = {"dataset": dataset_name(config), "head": config.head, "encoder": config.model or config.encoder_type,
              "decoding": config.decoding if config.head != "crf" else "flat",
              "dev": {k: round(dev[k], 4) for k in ("precision", "recall", "f1")},
              "dev_per_type_f1": {t: round(s["f1"], 4) for t, s in dev["per_type"].items()},
              "dev_texts": len(data["dev"]), "predict_sentences_per_s": round(dev_rate, 1),
              "processes": accelerator.num_processes}
    if write_dev_metrics:
        result["dev_metrics_file"] = str(run_dir / "dev_metrics.json")
    if data["test"]:
        test_pred, _ = predict(data["test"])
        name = "-".join([config.run_name + setting, *name_parts])
        stem = Path(submission_dir or config.submission_dir) / dataset_name(config) / f"{name}-dev{dev['f1']:.4f}"
        path = prediction_path(stem, config.format)
        if main:
            write_prediction(stem, config.format, data["test"], test_pred)
        accelerator.wait_for_everyone()
        result.update({"prediction": str(path), "test_lines": len(data["test"])})
        if any(ex.spans for ex in data["test"]):
            test = _scores(data["test"], test_pred)
            result["test"] = {k: round(test[k], 4) for k in ("precision", "recall", "f1")}
    result["predict_seconds"] = round(time.time() - start, 1)
    return result


def main(argv: list[str] | None = None) -> dict:
    """``python -m competitions.ner.predict``: see the module docstring; returns the result dict."""
    from competitions.ner.cv import kfold_config, predict_kfold  # (cv imports this module)

    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run folder, e.g. runs/ner/<name>; a k-fold run's (cv5): "
                                                     "its fold models' vote")
    parser.add_argument("--data-dir", default=None, help="default: the run's data_dir")
    parser.add_argument("--test-file", default=None,
                        help="a file to predict instead of the run's test file (relative to the data folder "
                             "unless absolute; in the run's format)")
    parser.add_argument("--submission-dir", default=None, help="default: the run's submission_dir")
    parser.add_argument("--decoding", default=None, choices=("flat", "nested"),
                        help="span heads: decode so instead of the run's own decoding (its config's)")
    args = parser.parse_args(argv)
    release_logging()  # a run trained in this process: its train.log stays as written
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    accelerator = Accelerator(mixed_precision=_run_mixed_precision(Path(args.run)))
    if not accelerator.is_main_process:
        logging.getLogger().setLevel(logging.WARNING)
    if is_kfold_run(args.run):
        if args.decoding:
            raise ValueError(f"--decoding: {args.run} is a k-fold run, whose fold models vote as they were trained")
        config = kfold_config(Path(args.run))
        data, name_parts = predict_data(config, args.data_dir, args.test_file)
        result = predict_kfold(Path(args.run), config, data, accelerator, name_parts=name_parts,
                               submission_dir=args.submission_dir)
    else:
        result = predict_run(args.run, args.data_dir, args.test_file, args.submission_dir, accelerator,
                             decoding=args.decoding)
    result["run_dir"] = args.run
    if accelerator.is_main_process:
        print_result(result)
    return result


def _run_mixed_precision(run_dir: Path) -> str:
    path = run_dir / "config.json"
    return json.loads(path.read_text(encoding="utf-8")).get("mixed_precision", "no") if path.is_file() else "no"


if __name__ == "__main__":
    run_cli(main)  # bad input: one line naming file:line, exit 2
