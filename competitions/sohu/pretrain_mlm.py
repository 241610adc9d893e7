"""MLM pretraining of the Sohu encoder on the task's own text pairs, cached for ``--model``.

    python -m competitions.sohu.pretrain_mlm [--output-dir cache/sohu-mlm] [--flag value ...]
    python -m common.commands.pretrain --task sohu ...   (the same: this module is SohuTask's pretrain_module)

Its steps are :func:`common.commands.pretrain.pretrain_pairs`, the ones every pair task's MLM runs.
Text: ``(source, target)`` of every split of every subtask present (train, valid and the
test file; labels unused, so no fold's labels leak), as ``[CLS] source [SEP] target [SEP]``
with the two sides swapped at random. Step: masked-LM with n-gram span masking
(:mod:`common.pretraining`, the step the Xiaobu encoder uses; Devlin et al. 2019, and
bojone's "continue pretraining on the task text" baselines) on a small BERT of the
fine-tuned size from scratch (on the ``--vocab`` tokens the text uses:
:func:`common.encoder.pruned_vocab_tokenizer`), or on ``--model`` (e.g. ``cache/sohu-pretrain``, the
word2vec-initialised one, or any HF BERT). Training length is in epochs; ``--resume true``
continues an interrupted run from its checkpoint; ``--max-train-minutes`` is an opt-in
budget. The output is a HuggingFace model folder (config, weights, tokenizer,
``pretrain_config.json``) that ``--model`` loads with the task's own learning rate.
Ends with one JSON line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from common.commands.args import run_cli
from common.commands.pretrain import check_output_owner, pretrain_pairs, record_texts
from common.config import parse_config
from common.encoder import EncoderConfig
from common.io import print_result
from common.pretraining import MLMPretrainConfig
from common.run import process_state, resolve_run_dir, save_config
from common.training.trainer import TrainConfig
from competitions.sohu.data import SPLITS, limit_per_subtask, load_split


@dataclass
class SohuMLMConfig(TrainConfig, MLMPretrainConfig, EncoderConfig):
    """MLM pretraining of the encoder ``sohu-train`` fine-tunes (its architecture fields are saved in the output)."""

    data_dir: str = "data/sohu2021"
    output_dir: str = "cache/sohu-mlm"
    max_length: int = 96  # as SohuConfig: [CLS] source [SEP] target [SEP], the longer side cut first
    limit: int = 0  # > 0: the first N pairs of each split and subtask (smoke tests)
    num_layers: int = 2  # the encoder SohuConfig fine-tunes
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 5e-4
    warmup_ratio: float = 0.05
    # from scratch: keep only the --vocab tokens the task text uses (7,980 of 21,128 here; the same
    # tokens, a 2.6x smaller MLM softmax, which dominates this small model's step)
    prune_vocab: bool = True


def task_pairs(config: SohuMLMConfig) -> list[tuple[str, str]]:
    """(source, target) of every split of every subtask present (``config.limit`` per split and subtask)."""
    pairs = []
    for split in SPLITS:
        examples, _ = load_split(config.data_dir, split)
        if config.limit:
            examples = limit_per_subtask(examples, config.limit)
        pairs.extend((e.source, e.target) for e in examples)
    return pairs


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(SohuMLMConfig, argv, description=__doc__)
    pairs = task_pairs(config)
    run_dir = resolve_run_dir(config, "sohu-mlm")
    check_output_owner(config.output_dir, run_dir)  # another run's model there is not replaced
    record_texts(run_dir, pairs, config.resume)  # refused on other text before anything else is written
    if process_state().is_main_process:
        save_config(config, run_dir)
    result = pretrain_pairs(config, pairs, run_dir, start)
    if process_state().is_main_process:
        print_result(result)
    return result


if __name__ == "__main__":
    run_cli(main)
