"""MLM pretraining of a text-pair task's encoder on the task's own text, cached for ``--model``.

    python -m common.commands.pretrain --task afqmc [--output-dir cache/afqmc-mlm] [--extra-files F,G] [--flag value ...]
    accelerate launch [--multi_gpu --num_processes N] -m common.commands.pretrain --task afqmc ...
    make afqmc-mlm

Text: both sides of every pair the task loads (train, validation and test; labels unused,
so no fold's labels leak) and of ``--extra-files`` (more unlabelled pairs in the task's
test-file format, read by its ``load_test``), as ``[CLS] a [SEP] b [SEP]`` with the two
sides swapped at random. Step: masked-LM with n-gram span masking (:mod:`common.pretraining`;
Devlin et al. 2019, SpanBERT; bojone's "continue pretraining on the task text" baselines)
on a small BERT of the task's encoder size from scratch (on the ``--vocab`` tokens the text
uses: :func:`common.encoder.pruned_vocab_tokenizer`), or on ``--model`` (any HF BERT). Length
is in epochs; ``--resume true`` continues an interrupted run from its checkpoint;
``--max-train-minutes`` is an opt-in budget. The output is a HuggingFace model folder
(config, weights, tokenizer, ``pretrain_config.json``) that the task's train, cv and tune
commands load with ``--model`` at the task's own learning rate. Ends with one JSON line.

A task that pretrains its own way names the module in ``Task.pretrain_module`` (Xiaobu:
desensitized ids with their own vocabulary; Sohu: its splits of every subtask), and this
command runs that module's ``main`` with the same flags.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from accelerate.utils import set_seed
from transformers import BertForMaskedLM

from common.commands.args import run_cli, split_task
from common.config import parse_config, save_config_json
from common.encoder import (load_tokenizer, model_folders, pretrained_config, pruned_vocab_tokenizer,
                            save_pretraining_texts, small_bert_config, warn_other_pretraining_data)
from common.io import print_result, write_json_atomic
from common.pretraining import MADE_BY, MLMPairDataset, MLMPretrainConfig, masking_collator, pretrain_mlm
from common.run import process_state, resolve_run_dir, save_config
from common.task import Task
from common.training.trainer import build_callbacks


@dataclass
class PairMLMConfig(MLMPretrainConfig):
    """Options of pair-text MLM pretraining beside the task's own fields (its data, encoder size, max length)."""

    output_dir: str = ""  # where the pretrained model folder goes; empty: cache/<task>-mlm
    extra_files: list[str] = field(default_factory=list)  # more unlabelled pairs (comma-separated), the test format
    # from scratch: keep only the --vocab tokens the text uses (Sohu: 7,980 of 21,128; the same tokens, a smaller
    # MLM softmax, which dominates a small model's step)
    prune_vocab: bool = True


logger = logging.getLogger("common.pretrain")

# Training-length and optimiser defaults of pretraining (a task's config has its fine-tuning ones): Sohu's MLM
# settings (competitions/sohu/pretrain_mlm.py), with which its fine-tuned encoder gained 5 of 5 folds.
# "metric_for_best_model": the MLM's epochs are kept by its loss, not by the task's choice for fine-tuning (AFQMC: auc)
MLM_DEFAULTS = {"epochs": 3, "batch_size": 64, "learning_rate": 5e-4, "warmup_ratio": 0.05, "metric_for_best_model": ""}


def mlm_config_class(task: Task) -> type:
    """The config of ``--task``'s pretraining: its config class, :class:`PairMLMConfig` and :data:`MLM_DEFAULTS`."""
    fields = [(name, type(value), dataclasses.field(default=value)) for name, value in MLM_DEFAULTS.items()]
    return dataclasses.make_dataclass(f"{type(task).__name__}MLMConfig", fields,
                                      bases=(PairMLMConfig, task.config_class))


def task_text_pairs(task: Task, config: Any) -> list[tuple[str, str]]:
    """(N, 2) texts of every example ``task`` loads (train, validation, test) and of ``config.extra_files``.

    Raises:
        ValueError: ``task`` is not a text-pair task (its ``text_pairs`` gives None).
        FileNotFoundError, DataFileError: an extra file is missing or malformed (from the task's reader).
    """
    try:
        data = task.load_data(config)
    except (ValueError, FileNotFoundError):  # a validation split that cannot be drawn (too few text groups, no
        if not getattr(config, "valid_fraction", 0) > 0:  # shift.npz for --valid-from-shift) is of no use here:
            raise  # the text is the same without it (read as before where it can be drawn: a cache's pair order)
        data = task.load_data(dataclasses.replace(config, valid_fraction=0.0))
    examples = [*data.train, *data.valid, *data.test]
    for path in config.extra_files:
        examples.extend(task.load_test(config, str(task.test_file_path(config, path))))
    pairs = task.text_pairs(examples)
    if pairs is None:
        raise ValueError(f"--task {task.name}: not a text-pair task, so there is no pair text to pretrain on")
    return [(a, b) for a, b in pairs]


def pretrain_pairs(config: Any, pairs: Sequence[tuple[str, str]], run_dir: Path, start: float) -> dict:
    """MLM-pretrain ``config``'s encoder on ``pairs`` (N text pairs) into ``config.output_dir``; the result line.

    ``config`` holds :class:`common.encoder.EncoderConfig`, :class:`common.pretraining.MLMPretrainConfig`
    and :class:`common.training.trainer.TrainConfig` fields, ``max_length``, ``output_dir`` and
    ``prune_vocab``. Seeds the random init with ``config.seed`` (same seed, same encoder). ``start``:
    the command's ``time.time()`` at its start (for the result's ``wall_seconds``).
    """
    set_seed(config.seed)
    texts = [t for p in pairs for t in p]
    tokenizer = load_tokenizer(config, texts=texts, build_dir=run_dir / "vocab")
    if not config.model and config.prune_vocab:
        # its own folder: a character vocab built above is in vocab/, and under a launch the other processes wait
        # for that file to hold what they built (rewritten there, they waited 10 minutes: probe AB)
        tokenizer = pruned_vocab_tokenizer(tokenizer, texts, run_dir / "vocab-pruned" / "vocab.txt")
    if config.model:
        if process_state().is_main_process:  # a cache of other, older or fewer texts: its vocabulary is of them
            warn_other_pretraining_data(config.model, getattr(config, "data_dir", ""), pairs)
        model = BertForMaskedLM.from_pretrained(model_folders(config.model)[0], config=pretrained_config(config))
    else:
        model = BertForMaskedLM(small_bert_config(config, len(tokenizer)))
    first = tokenizer([a for a, _ in pairs], add_special_tokens=False)["input_ids"]
    second = tokenizer([b for _, b in pairs], add_special_tokens=False)["input_ids"]
    tokens = sum(len(ids) for ids in first + second)
    unknown = sum(ids.count(tokenizer.unk_token_id) for ids in first + second)
    if tokens and unknown / tokens > 0.05 and process_state().is_main_process:  # another text's vocabulary
        logger.warning("%.1f%% of the text's tokens are [UNK] under %s's vocabulary: the MLM learns little of them "
                       "(a --model pretrained on other text, or a --vocab of other characters)", 100 * unknown / tokens,
                       config.model or config.vocab)
    dataset = MLMPairDataset(list(zip(first, second)), tokenizer.cls_token_id, tokenizer.sep_token_id,
                             max_length=config.max_length, swap_prob=config.swap_prob, seed=config.seed)

    def save_extra(folder: Path) -> None:
        save_config_json(config, folder / "pretrain_config.json")  # marks it as this project's pretraining
        save_pretraining_texts(folder, pairs, config.model)  # a fine-tuning run on text it lacks is warned about

    summary = pretrain_mlm(model, tokenizer, dataset, masking_collator(tokenizer, config), config, run_dir,
                           config.output_dir, callbacks=build_callbacks(config), save_extra=save_extra)
    history = summary["history"]
    return {"output_dir": str(config.output_dir), "run_dir": str(run_dir), "start": config.model or "scratch",
            "pairs": len(pairs), "vocab_size": len(tokenizer), "epochs_run": len(history),
            "steps": summary["global_step"], "first_epoch_loss": history[0]["train_loss"] if history else None,
            "last_epoch_loss": history[-1]["train_loss"] if history else None,
            "train_seconds": round(summary["train_seconds"], 1), "wall_seconds": round(time.time() - start, 1),
            "stopped_by_budget": bool(summary.get("stopped_by_budget"))}


TEXTS_FILE = "texts.json"  # the digest of the text pairs a pretraining run learns from


def check_output_owner(output_dir: str | Path, run_dir: Path) -> None:
    """Refuse to pretrain into ``output_dir`` when it holds the model of another pretraining run (its
    ``pretrain_config.json`` names another run folder): the final weights would replace that run's model without a
    word (probe AO: a model of another size, under another ``--run-name``). A rerun of the same run may replace its
    own output: the folder recorded (``pretrain_run.json``, absolute), a copy of it (the same ``config.json``: the
    project copied elsewhere), or, where it is gone (the project moved), the folder its config's relative path
    names. A refused new run leaves no empty run folder.

    Raises:
        ValueError: one line, naming both run folders and ``--output-dir``.
    """
    def recorded_in(name: str) -> str:
        try:
            return json.loads((Path(output_dir) / name).read_text(encoding="utf-8")).get("run_dir") or ""
        except (OSError, ValueError, AttributeError):
            return ""

    made_by, given = recorded_in(MADE_BY), recorded_in("pretrain_config.json")  # absolute; as given (relative)
    recorded = made_by or given
    if not recorded:
        return  # no model there yet, or one of before run folders were recorded
    if Path(recorded).resolve() == run_dir.resolve():
        return
    if made_by and (Path(made_by) / "config.json").is_file() and (run_dir / "config.json").is_file() and \
            (Path(made_by) / "config.json").read_bytes() == (run_dir / "config.json").read_bytes():
        return  # a copy of that run folder (the project copied elsewhere, probe AQ): the same run, resumed
    if made_by and not Path(made_by).exists() and given and Path(given).resolve() == run_dir.resolve():
        return  # the project moved: its run folder is where the config's relative path says
    if process_state().is_main_process and run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()  # made by resolve_run_dir a moment ago
    raise ValueError(f"--output-dir {output_dir} holds the model of the pretraining run {recorded}, which {run_dir} "
                     "would replace: give another --output-dir, or delete that folder first")


def record_texts(run_dir: Path, pairs: Sequence[tuple[str, str]], resume: bool) -> None:
    """Record the SHA-256 of ``pairs`` (N text pairs, in order) in ``run_dir/texts.json`` (main process), before a
    pretraining command writes anything else; with ``resume``, first refuse a run folder whose recorded text is
    another: a data file edited since rebuilt the vocabulary, and resuming stopped in a traceback of mismatched
    embedding sizes, or, at the same size, went on from an encoder of other text.

    Raises:
        ValueError: ``resume`` and other recorded text (one line, naming the folder and the pair counts).
    """
    digest = hashlib.sha256(repr(list(pairs)).encode("utf-8")).hexdigest()
    try:
        recorded = json.loads((run_dir / TEXTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None  # a new run, or one pretrained before the text was recorded
    if resume and isinstance(recorded, dict) and recorded.get("sha256") not in (None, digest):
        raise ValueError(f"--resume: {run_dir} was pretrained on other text ({recorded.get('pairs')} pairs, now "
                         f"{len(pairs)}: a data file edited since): give another --run-name and --output-dir (under "
                         f"make: delete that cache folder and {run_dir} first)")
    if process_state().is_main_process:
        write_json_atomic(run_dir / TEXTS_FILE, {"sha256": digest, "pairs": len(pairs)})


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    task, rest = split_task(argv, __doc__)
    if task.pretrain_module:
        return importlib.import_module(task.pretrain_module).main(rest)
    config = parse_config(mlm_config_class(task), rest, description=__doc__)
    if not config.output_dir:
        config.output_dir = f"cache/{task.name}-mlm"
    pairs = task_text_pairs(task, config)
    run_dir = resolve_run_dir(config, f"{task.name}-mlm")
    check_output_owner(config.output_dir, run_dir)
    record_texts(run_dir, pairs, config.resume)  # refused on other text before anything else is written
    if process_state().is_main_process:
        save_config(config, run_dir)
    result = {"task": task.name, **pretrain_pairs(config, pairs, run_dir, start)}
    if process_state().is_main_process:
        print_result(result)
    return result


if __name__ == "__main__":
    run_cli(main)
