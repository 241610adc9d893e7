"""One-time pretraining of the Sohu encoder on unlabelled text, cached for ``sohu-train``.

    python -m competitions.sohu.pretrain [--output-dir cache/sohu-pretrain] [--flag value ...]

Text: source and target of every split of every subtask present (labels unused),
plus the general Chinese text under ``--corpus-dir``. Step: word2vec over the
tokenizer's tokens initialises the small BERT's token embeddings
(common.embedding_init). The result is a HuggingFace model folder (config, weights,
tokenizer) that ``--model`` loads. Ends with one JSON line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from accelerate.utils import set_seed

from common.config import parse_config, save_config_json
from common.data_files import read_corpus_lines
from common.embedding_init import init_embeddings_from_word2vec, train_token_word2vec
from common.encoder import EncoderConfig, build_encoder, load_tokenizer
from common.io import print_result, replace_dir_atomic
from competitions.sohu.data import SPLITS, load_split


@dataclass
class SohuPretrainConfig(EncoderConfig):
    """Pretraining of the Sohu encoder (its architecture fields are saved in the output)."""

    data_dir: str = "data/sohu2021"
    corpus_dir: str = "data/corpus"  # general text (*.txt, one text per line); absent: skipped
    output_dir: str = "cache/sohu-pretrain"
    num_layers: int = 2  # the encoder sohu-train fine-tunes (see SohuConfig)
    w2v_epochs: int = 5
    w2v_window: int = 5
    seed: int = 42


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    config = parse_config(SohuPretrainConfig, argv, description=__doc__)
    set_seed(config.seed)  # the random init below: same seed, same pretrained encoder (the trainer seeds later)
    texts = []
    for split in SPLITS:
        examples, _ = load_split(config.data_dir, split)
        texts.extend(t for e in examples for t in (e.source, e.target))
    n_task = len(texts)
    texts.extend(read_corpus_lines(config.corpus_dir))
    out = Path(config.output_dir)
    tokenizer = load_tokenizer(config, texts=texts, build_dir=out.with_name(out.name + ".vocab"))
    encoder = build_encoder(config, tokenizer)
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in
              tokenizer(texts, add_special_tokens=False)["input_ids"]]
    w2v = train_token_word2vec(tokens, encoder.config.hidden_size, epochs=config.w2v_epochs,
                               window=config.w2v_window, seed=config.seed)
    rows = init_embeddings_from_word2vec(encoder.get_input_embeddings(), tokenizer.get_vocab(), w2v)
    tmp = out.with_name(out.name + ".tmp")  # the cache appears whole or not at all
    encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    save_config_json(config, tmp / "pretrain_config.json")
    replace_dir_atomic(tmp, out)
    result = {"output_dir": str(out), "task_texts": n_task, "corpus_texts": len(texts) - n_task,
              "chars": sum(map(len, texts)), "w2v_rows": rows, "wall_seconds": round(time.time() - start, 1)}
    print_result(result)
    return result


if __name__ == "__main__":
    from common.commands.args import run_cli

    run_cli(main)
