"""Train a NER model (GlobalPointer / Efficient GlobalPointer / CRF head), then predict test.

    python -m competitions.ner.train [--dataset cluener] [--head egp|gp|crf] [--config competitions/ner/configs/X.toml]
    python -m competitions.ner.train --format bio --data-dir X --train-file a.txt --dev-file b.txt [--test-file c.txt]

Reads the data (a preset's files, or any files given by ``--data-dir``,
``--train-file``, ``--dev-file``, ``--test-file`` and ``--format``: see
competitions.ner.data; the entity types come from the train file), builds the encoder
(character BiLSTM by default, or a small BERT / ``--model``), optionally initialises
its character embeddings with word2vec on the dataset's own train and test text,
trains with the shared ``common.training.Trainer`` (best epoch by dev micro-F1,
``--max-train-minutes`` budget), then writes dev metrics and the test prediction
(see competitions.ner.predict). Ends by printing one JSON line.

Under ``accelerate launch`` (N processes) the main process alone writes the run
folder's files and the prediction and prints the result line; the run name is decided
by the main process and broadcast.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Sequence

from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import AutoTokenizer

from common.commands.args import run_cli
from common.config import parse_config
from common.embedding_init import init_embeddings_from_word2vec, train_token_word2vec
from common.encoder import build_encoder, check_max_length, load_tokenizer
from common.io import print_result, write_json_atomic
from common.ner.metric import span_scores
from common.ner.spans import NerExample
from common.run import broadcast_from_main, check_resume_named, process_state, resolve_run_dir, save_config
from common.training.callbacks import Callback
from common.training.trainer import Trainer, build_callbacks, check_gradient_checkpointing
from competitions.ner.config import NerConfig
from competitions.ner.data import (NerDataset, check_training_data, collate, dataset_name, entity_types, load_splits,
                                   merge_piece_spans, resolve_data_options, resolve_decoding)
from competitions.ner.model import DEFAULT_HEAD_SIZE, HEADS, predict_step
from competitions.ner.predict import build_bilstm, build_model, predict_run

logger = logging.getLogger("ner.train")


def compute_metrics(outputs: dict, dataset: NerDataset) -> dict[str, float]:
    """Entity-level micro precision / recall / F1 on the dev texts, and ``eval_examples``: how many texts (a
    text longer than ``--max-length`` is predicted in pieces, which the trainer would count instead)."""
    pred = merge_piece_spans(dataset, outputs.get("spans", []))
    scores = span_scores([ex.spans for ex in dataset.examples], pred)
    return {**{k: scores[k] for k in ("precision", "recall", "f1")}, "eval_examples": len(dataset.examples)}


def build_encoder_for(config: NerConfig, tokenizer, texts: list[str]):
    """The configured encoder, its character embeddings word2vec-initialised when asked."""
    if config.encoder_type == "bilstm":
        encoder = build_bilstm(config, len(tokenizer))
    elif config.encoder_type == "bert":
        encoder = build_encoder(config, tokenizer)
        check_max_length(encoder.config, config.max_length, added=2)  # [CLS] piece [SEP]
    else:
        raise ValueError(f"encoder_type must be bilstm or bert, got {config.encoder_type!r}")
    if config.w2v_init and not config.model:
        w2v = train_token_word2vec(([c.lower() for c in t] for t in texts), encoder.config.hidden_size,
                                   epochs=config.w2v_epochs, seed=config.seed)
        init_embeddings_from_word2vec(encoder.get_input_embeddings(), tokenizer.get_vocab(), w2v)
    return encoder


def resolve_options(config: NerConfig) -> NerConfig:
    """``config`` with its data options (:func:`resolve_data_options`) and head size resolved, in place, as saved in
    config.json (predict needs no preset; a later default cannot change the run). Starts the process group under
    ``accelerate launch``.

    Raises:
        ValueError: an unknown ``--head`` (before the data is read and word2vec trained), or data options.
    """
    if config.head not in HEADS:
        raise ValueError(f"--head {config.head!r}: expected one of {', '.join(HEADS)}")
    resolve_data_options(config)
    process_state()  # under accelerate launch: the process group, before any file is written
    if config.head in DEFAULT_HEAD_SIZE and not config.head_size:
        config.head_size = DEFAULT_HEAD_SIZE[config.head]
    return config


def main(argv: list[str] | None = None) -> dict:
    """``python -m competitions.ner.train``: see the module docstring; returns the result dict (every process)."""
    start = time.time()
    config = resolve_options(parse_config(NerConfig, argv, description=__doc__))
    check_resume_named(config)  # before the timestamped default name below
    if not config.run_dir and not config.run_name:
        name = f"{dataset_name(config)}-{config.head}-{config.encoder_type}-{time.strftime('%Y%m%d-%H%M%S')}"
        config.run_name = broadcast_from_main(name)  # the main process's clock: one folder for all
    data = load_splits(config)  # bad data stops here, before a run folder exists
    summary, run_dir, accelerator = fit(config, data)
    result = predict_run(run_dir, accelerator=accelerator, write_dev_metrics=True)
    best = summary["best"]
    result.update({"run_dir": str(run_dir), "best_epoch": summary["best_epoch"],
                   "train_samples_per_s": round(best.get("train_samples_per_s", 0.0), 1),
                   "train_seconds": round(summary["train_seconds"], 1),
                   "wall_seconds": round(time.time() - start, 1),
                   "metrics_file": str(run_dir / "metrics.json")})
    if process_state().is_main_process:
        print_result(result)
    return result


def fit(config: NerConfig, data: dict[str, list[NerExample]], run_dir: Path | None = None,
        callbacks: Sequence[Callback] = ()) -> tuple[dict, Path, Accelerator]:
    """Train ``config``'s model on ``data["train"]``, keeping the epoch of the best micro-F1 on ``data["dev"]``, in
    its run folder (``config.run_dir`` / ``run_name``, resumed with ``config.resume``; ``run_dir``: this folder, a
    k-fold run's fold, as it is); ``data["test"]``'s texts join word2vec's. ``config``'s data and head options are resolved (:func:`main`, or k-fold's
    :mod:`competitions.ner.cv`). ``callbacks`` join the tricks the config switches on (a study's
    :class:`common.hpo.OptunaPruning`). Returns the trainer's summary, the run folder and the accelerator it trained
    with.

    Raises:
        ValueError: train or dev sets it cannot learn from (:func:`check_training_data`), a run folder resumed with
            other options, a model that cannot be built.
    """
    state = process_state()
    warnings = check_training_data(config, data)  # logged below, once train.log exists
    resolve_decoding(config, data["train"])  # before resolve_run_dir: a resume compares the resolved value
    if config.decoding == "nested" and config.head == "crf":  # probe AE: accepted without a word
        warnings.append("--decoding nested with --head crf: a CRF's tags hold one entity a character, so it decodes "
                        "flat; nested decoding is the span heads' (gp, egp)")
    if run_dir is None:
        run_dir = resolve_run_dir(config, "ner")  # --resume with other options: refused before a file is rewritten
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    types = entity_types(data["train"])
    set_seed(config.seed)  # the weights come from the seed, whatever ran before in this process
    train_texts = [ex.text for ex in data["train"]]
    encoder_texts = train_texts + [ex.text for ex in data["test"][:config.limit or None]]  # word2vec's text, cut
    # to --limit as the train text is (the test file itself is predicted whole)
    if state.is_main_process:  # builds the vocab if need be, and writes the run folder
        try:
            tokenizer = load_tokenizer(config, texts=train_texts, build_dir=run_dir / "tokenizer")
            encoder = build_encoder_for(config, tokenizer, encoder_texts)
            model = build_model(config, encoder, types)
            if config.gradient_checkpointing:  # before the run's files are written
                check_gradient_checkpointing(model)
        except (ValueError, OSError):  # e.g. a --model that cannot be built: no empty run folder left behind
            if run_dir.is_dir() and not any(run_dir.iterdir()):
                run_dir.rmdir()
            raise
        save_config(config, run_dir)
        tokenizer.save_pretrained(run_dir / "tokenizer")
        if config.encoder_type == "bert":  # the trainer swaps in the best epoch's weights (save_pretrained)
            encoder.config.save_pretrained(run_dir / "encoder")
        write_json_atomic(run_dir / "labels.json", {"types": types})
    state.wait_for_everyone()
    if not state.is_main_process:  # the same model shape; DDP copies rank 0's weights, so no word2vec here
        tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
        model = build_model(config, build_encoder_for(replace(config, w2v_init=False), tokenizer, []), types)

    train_ds = NerDataset(data["train"], tokenizer, types, config.max_length)
    dev_ds = NerDataset(data["dev"], tokenizer, types, config.max_length)
    trainer = Trainer(model, config, run_dir, train_ds, dev_ds,
                      collate_fn=partial(collate, pad_id=tokenizer.pad_token_id),
                      compute_metrics=compute_metrics, metric_name="f1", greater_is_better=True,
                      callbacks=build_callbacks(config) + list(callbacks), predict_step=predict_step,
                      lengths=train_ds.lengths)
    for warning in warnings:
        logger.warning(warning)
    return trainer.train(), run_dir, trainer.accelerator


if __name__ == "__main__":  # the trainer logs to stderr and train.log once the run folder exists (setup_logging)
    run_cli(main)  # bad input: one line naming file:line, exit 2
