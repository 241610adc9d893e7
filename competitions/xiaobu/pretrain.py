"""MLM pretraining of the Xiaobu encoder on desensitized ids, cached for ``xiaobu-train``.

    python -m competitions.xiaobu.pretrain [--output-dir cache/xiaobu-pretrain] [--flag value ...]

Text: both sides of every pair of the train file (labels unused), the test file and
``--extra-files`` (e.g. the official round-1 test files; their ids follow another
mapping, so mix them only with data of the same mapping). Steps: build the id
vocabulary (common.id_vocab; ``[LABEL0]``/``[LABEL1]`` reserved for the joint
variant), then MLM with n-gram span masking and random sentence swapping
(common.pretraining) on a small BERT from scratch, or on ``--model`` (a pretrained
BERT, ids mapped onto its vocabulary by frequency rank with ``--counts-file``).
``--max-train-minutes`` bounds the time. The output folder is a HuggingFace model
folder (config, weights, tokenizer over id strings, ``id_vocab.json``) that
``python -m common.commands.train --task xiaobu --model`` loads. Ends with one JSON line.
"""

from __future__ import annotations

import time
from pathlib import Path

from accelerate.utils import set_seed
from transformers import BertForMaskedLM

from common.commands.args import run_cli
from common.commands.pretrain import check_output_owner, record_texts
from common.config import parse_config, save_config_json
from common.encoder import save_pretraining_texts
from common.id_encoder import VOCAB_FILE
from common.io import print_result
from common.pretraining import MLMPairDataset, masking_collator, pretrain_mlm
from common.run import process_state, resolve_run_dir, save_config
from common.task import resolve
from common.training.trainer import build_callbacks
from competitions.xiaobu.config import XiaobuPretrainConfig
from competitions.xiaobu.data import read_pairs
from competitions.xiaobu.model import build_vocab_and_model
from competitions.xiaobu.task import TASK


def pretraining_files(config: XiaobuPretrainConfig) -> list[Path]:
    """The pair files whose text is pretrained on (train, test, extras), resolved under data_dir."""
    names = [config.train_file, config.test_file, *config.extra_files]
    return [resolve(config.data_dir, n) for n in names if n]


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(XiaobuPretrainConfig, argv, description=__doc__)
    set_seed(config.seed)  # the random init below: same seed, same pretrained encoder (the trainer seeds later)
    files = pretraining_files(config)
    pairs = [p for path in files for p in read_pairs(path, labelled=None, limit=config.limit)]
    vocab, model, origin = build_vocab_and_model(config, [s for p in pairs for s in (p.a, p.b)], mlm_head=True,
                                                   mlm_class=BertForMaskedLM)  # MaskedPositionsLM wraps it
    run_dir = resolve_run_dir(config, "xiaobu-pretrain")
    check_output_owner(config.output_dir, run_dir)  # another run's model there is not replaced
    record_texts(run_dir, [(p.a, p.b) for p in pairs], config.resume)  # refused on other text before anything else
    if process_state().is_main_process:
        save_config(config, run_dir)
    tokenizer = vocab.to_tokenizer()
    dataset = MLMPairDataset([(vocab.encode(p.a), vocab.encode(p.b)) for p in pairs], vocab.cls_id, vocab.sep_id,
                             max_length=config.max_length, swap_prob=config.swap_prob, seed=config.seed)
    collator = masking_collator(tokenizer, config)

    def save_extra(folder: Path) -> None:
        vocab.save(folder / VOCAB_FILE)
        save_config_json(config, folder / "pretrain_config.json")
        # a fine-tuning run on text it lacks is warned about
        save_pretraining_texts(folder, TASK.text_pairs(pairs), config.model)

    summary = pretrain_mlm(model, tokenizer, dataset, collator, config, run_dir, config.output_dir,
                           callbacks=build_callbacks(config), save_extra=save_extra)
    history = summary["history"]
    result = {"output_dir": str(config.output_dir), "run_dir": str(run_dir), "start": origin,
              "files": [str(f) for f in files], "pairs": len(pairs), "vocab_size": len(vocab),
              "epochs_run": len(history), "steps": summary["global_step"],
              "first_epoch_loss": history[0]["train_loss"] if history else None,
              "best_loss": summary["best_metric"], "best_epoch": summary["best_epoch"],
              "train_seconds": round(summary["train_seconds"], 1), "wall_seconds": round(time.time() - start, 1),
              "stopped_by_budget": bool(summary.get("stopped_by_budget"))}
    if process_state().is_main_process:
        print_result(result)
    return result


if __name__ == "__main__":
    run_cli(main)
