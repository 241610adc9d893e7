"""Initialise an encoder's token embeddings from word2vec trained on the task's own text.

A cheap pretraining step for CPU budgets: skip-gram word2vec (Mikolov et al., 2013,
"Distributed Representations of Words and Phrases"; gensim's implementation) over
the tokenizer's tokens of all unlabelled text takes a minute or two here, and gives
a from-scratch encoder token vectors in which co-occurring characters lie close,
which a 20k-pair fine-tuning set cannot teach it. Rows of tokens word2vec never saw
keep their random init.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:  # gensim is imported where word2vec is trained: a run that never trains one does not need it
    from gensim.models import Word2Vec

logger = logging.getLogger("common.embedding_init")


def train_token_word2vec(token_lists: Iterable[list[str]], vector_size: int, epochs: int = 5,
                         window: int = 5, min_count: int = 2, seed: int = 42, workers: int = 1) -> Word2Vec:
    """Skip-gram word2vec over pre-tokenised texts (lists of token strings).

    ``workers=1`` keeps the result identical for the same seed and data (gensim's
    multi-threaded training is not deterministic).
    """
    from gensim.models import Word2Vec

    sentences = [t for t in token_lists if t]
    if not sentences:
        raise ValueError("word2vec needs at least one non-empty text")
    return Word2Vec(sentences=sentences, vector_size=vector_size, window=window, min_count=min_count,
                    sg=1, negative=5, epochs=epochs, seed=seed, workers=workers)


@torch.no_grad()
def init_embeddings_from_word2vec(embedding: nn.Embedding, vocab: dict[str, int], w2v: Word2Vec,
                                  target_std: float | None = None) -> int:
    """Copy word2vec vectors into the rows of ``embedding`` (V, H) for the tokens it knows.

    Args:
        embedding: the encoder's input embedding, H must equal ``w2v.vector_size``.
        vocab: token string -> row index (``tokenizer.get_vocab()``).
        target_std: rescale the copied vectors to this standard deviation (default:
            the current std of ``embedding``, so the scale against position and
            type embeddings is kept).

    Returns:
        Number of rows initialised.

    Raises:
        ValueError: the vector sizes differ.
    """
    V, H = embedding.weight.shape
    if w2v.vector_size != H:
        raise ValueError(f"word2vec vectors have size {w2v.vector_size}, embedding rows {H}")
    std = float(embedding.weight.std()) if target_std is None else target_std
    rows, vectors = [], []
    for token, index in vocab.items():
        if token in w2v.wv.key_to_index and index < V:
            rows.append(index)
            vectors.append(w2v.wv[token])
    if not rows:
        return 0
    matrix = np.stack(vectors)  # (n, H)
    matrix = (matrix - matrix.mean()) / (matrix.std() + 1e-12) * std
    embedding.weight[torch.tensor(rows)] = torch.from_numpy(matrix).to(embedding.weight.dtype)
    logger.info("word2vec init: %d of %d embedding rows", len(rows), V)
    return len(rows)
