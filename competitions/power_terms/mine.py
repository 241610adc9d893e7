"""Mine power-domain terms from the State Grid corpus (``make power-mine``).

Stages (kexue.fm/archives/6540):

1. discovery: every n-gram (2..max_n chars, count >= min_count) scored by cohesion
   and left/right neighbour entropy (``common.mining.new_words``); junk rules.
2. contrast: keep words far more frequent in the domain than in general text
   (jieba's dictionary and general raw text); rank by
   ``log_ratio + entropy_weight * min(H_left, H_right, entropy_cap)``.
3. expansion: segment the corpus with jieba + the contrast words, train word2vec,
   grow from the seed terms with a similarity threshold rising with depth.

The ranked list puts contrast words first (by score, plus ``expansion_bonus`` when
expansion reaches them too: such words are about 1.5x as often gold at every rank),
then the seeds and the words only expansion admitted (by depth, then similarity). Writes
``submissions/power_terms/<run>.txt`` (one term per line), ``<run>.tsv`` (scores
and admitting stage) and ``runs/power_terms/<run>/{config,metrics}.json``; ends by
printing one JSON line.

Usage: ``python -m competitions.power_terms.mine --run default [--seeds 变压器,断路器]``
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial

import jieba
import numpy as np

from common.config import config_to_dict, parse_config
from common.mining import contrast
from common.io import write_json_atomic, write_text_atomic
from common.mining.expansion import expand, threshold_schedule, train_word2vec
from common.mining.new_words import discover, select_words
from common.mining.ngram_hash import count_strings
from common.mining.char_codes import encode
from common.mining.segmentation import build_tokenizer, segment
from common.mining.term_filters import junk_reason
from competitions.power_terms import data
from competitions.power_terms.config import PowerMineConfig

TSV_HEADER = ["rank", "term", "stage", "stages", "score", "count", "log_ratio", "cohesion",
              "left_entropy", "right_entropy", "depth", "similarity", "parent"]


@dataclass
class Term:
    """One output row; ``stage`` is the first stage that admitted the term."""

    term: str
    stage: str
    score: float
    count: int = 0
    log_ratio: float = float("nan")
    cohesion: float = float("nan")
    left_entropy: float = float("nan")
    right_entropy: float = float("nan")
    depth: int = 0
    similarity: float = float("nan")
    parent: str = ""
    stages: list[str] = field(default_factory=list)  # every stage that admitted it

    def __post_init__(self) -> None:
        if not self.stages:
            self.stages = [self.stage]


def general_sources(words: list[str], texts: list[str],
                    jieba_table: dict[str, int] | None) -> list[contrast.GeneralCounts]:
    """Counts of ``words`` in each configured general-domain source."""
    sources = []
    if jieba_table is not None:
        sources.append(contrast.dict_counts(words, jieba_table))
    if texts:
        sources.append(contrast.text_counts(words, "\n".join(texts)))
    return sources


def _shown(path) -> str:
    """Path relative to the repo root when inside it (no absolute paths in outputs)."""
    return str(path.relative_to(data.REPO_ROOT)) if path.is_relative_to(data.REPO_ROOT) else str(path)


def mine(cfg: PowerMineConfig) -> dict:
    """Run the three stages; returns the metrics dict (also written to the run folder)."""
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    root = data.data_root(cfg.data_dir)
    power_dir = root / "power_terms"
    corpus_path = power_dir / cfg.corpus
    lines = data.load_corpus(corpus_path, cfg.max_chars)
    if cfg.use_baike:
        lines += data.load_baike_texts(power_dir / "bupt_electric_power" / "ac-code")
    if not lines:
        raise ValueError(f"{corpus_path}: no text")
    text = "\n".join(lines)
    general_texts = [line for p in cfg.general_texts
                     for line in data.load_corpus(root / "corpus" / p)]
    jieba_table = (contrast.load_frequency_dict(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"))
                   if cfg.use_jieba_dict else None)
    if not general_texts and jieba_table is None:
        raise ValueError("no general-domain source: give --general-texts or --use-jieba-dict true")
    seeds = data.load_seeds(data.resolve(cfg.seeds_file) if cfg.seeds_file else None, cfg.seeds)
    timings["load_s"] = time.perf_counter() - t_start

    # 1. discovery
    t0 = time.perf_counter()
    cands = discover(text, cfg.min_count, cfg.max_n)
    timings["discovery_s"] = time.perf_counter() - t0
    sel = select_words(cands, cfg.min_count, cfg.min_cohesion, cfg.min_entropy)
    reasons = [junk_reason(w, cfg.min_len, cfg.max_len) for w in sel.words]
    junk_counts: dict[str, int] = {}
    for r in reasons:
        if r:
            junk_counts[r] = junk_counts.get(r, 0) + 1
    sel = sel.select(np.array([not r for r in reasons], dtype=bool))

    # 2. contrast
    t0 = time.perf_counter()
    lr = contrast.log_ratio(sel.count, sel.total_chars,
                            general_sources(sel.words, general_texts, jieba_table),
                            cfg.contrast_alpha)
    keep = lr >= cfg.min_log_ratio
    h = np.minimum(sel.left_entropy, sel.right_entropy)
    score = lr + cfg.entropy_weight * np.minimum(h, cfg.entropy_cap)
    terms: dict[str, Term] = {}
    for i in np.flatnonzero(keep)[np.argsort(-score[keep], kind="stable")]:
        w = sel.words[i]
        terms[w] = Term(w, "contrast", float(score[i]), int(sel.count[i]), float(lr[i]),
                        float(sel.cohesion[i]), float(sel.left_entropy[i]), float(sel.right_entropy[i]))
    timings["contrast_s"] = time.perf_counter() - t0

    # 3. expansion
    t0 = time.perf_counter()
    tokenizer = build_tokenizer(terms)
    sentences = segment(lines, tokenizer)
    timings["segment_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = train_word2vec(sentences, cfg.w2v_dim, cfg.w2v_window, cfg.w2v_min_count,
                           cfg.w2v_epochs, True, cfg.seed, cfg.w2v_workers)
    timings["word2vec_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vocab = list(model.wv.index_to_key)
    cps = encode(text)
    dom_counts = count_strings(cps, vocab)
    vocab_lr = contrast.log_ratio(np.maximum(dom_counts, 1), int((cps != 0).sum()),
                                  general_sources(vocab, general_texts, jieba_table),
                                  cfg.contrast_alpha)
    ratio_of = dict(zip(vocab, vocab_lr.tolist()))
    count_of = dict(zip(vocab, dom_counts.tolist()))

    def accept(w: str) -> bool:
        return not junk_reason(w, cfg.min_len, cfg.max_len) and ratio_of[w] >= cfg.expand_min_log_ratio

    admitted = expand(seeds, vocab, model.wv.vectors,
                      partial(threshold_schedule, start=cfg.expand_threshold, step=cfg.expand_step,
                              maximum=cfg.expand_max_threshold),
                      cfg.expand_max_depth, cfg.expand_topn, accept)
    timings["expansion_s"] = time.perf_counter() - t0
    seeds_in_corpus = [s for s in seeds if s in ratio_of or s in terms]
    for s in seeds_in_corpus:
        if s not in terms:
            terms[s] = Term(s, "seed", 0.0, count_of.get(s, 0), ratio_of.get(s, float("nan")))
    n_expansion_only = 0
    for a in admitted:
        if a.word in terms:
            t = terms[a.word]
            t.depth, t.similarity, t.parent = a.depth, a.similarity, a.parent
            t.stages.append("expansion")
            t.score += cfg.expansion_bonus if t.stage == "contrast" else 0.0
            continue
        terms[a.word] = Term(a.word, "expansion", a.similarity - a.depth, count_of.get(a.word, 0),
                             ratio_of.get(a.word, float("nan")), depth=a.depth,
                             similarity=a.similarity, parent=a.parent)
        n_expansion_only += 1

    # 4. outputs: contrast words by score (with the agreement bonus), then seeds, then expansion-only
    by_stage = {st: [t for t in terms.values() if t.stage == st] for st in ("contrast", "seed", "expansion")}
    ranked = sorted(by_stage["contrast"], key=lambda t: -t.score) + by_stage["seed"] + by_stage["expansion"]
    sub_txt = data.resolve(cfg.submissions_dir) / f"{cfg.run}.txt"
    sub_tsv = data.resolve(cfg.submissions_dir) / f"{cfg.run}.tsv"
    run_dir = data.resolve(cfg.runs_dir) / cfg.run
    write_text_atomic(sub_txt, "".join(t.term + "\n" for t in ranked))
    rows = ["\t".join(TSV_HEADER)]
    for rank, t in enumerate(ranked, 1):
        rows.append("\t".join([str(rank), t.term, t.stage, "+".join(t.stages), f"{t.score:.4f}", str(t.count),
                               f"{t.log_ratio:.4f}", f"{t.cohesion:.4f}", f"{t.left_entropy:.4f}",
                               f"{t.right_entropy:.4f}", str(t.depth), f"{t.similarity:.4f}", t.parent]))
    write_text_atomic(sub_tsv, "\n".join(rows) + "\n")
    write_json_atomic(run_dir / "config.json", config_to_dict(cfg))
    timings["total_s"] = time.perf_counter() - t_start
    metrics = {
        "run": cfg.run,
        "corpus_chars": len(text),
        "corpus_lines": len(lines),
        "discovery_chars_per_s": len(text) / timings["discovery_s"],
        "ngram_candidates": len(cands),
        "after_thresholds": len(reasons),
        "junk_removed": junk_counts,
        "contrast_terms": int(keep.sum()),
        "seeds": seeds,
        "seeds_in_corpus": len(seeds_in_corpus),
        "expansion_admitted": len(admitted),
        "expansion_only_terms": n_expansion_only,
        "w2v_vocab": len(vocab),
        "w2v_tokens": sum(len(s) for s in sentences),
        "terms": len(ranked),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "paths": {"terms": _shown(sub_txt), "tsv": _shown(sub_tsv), "run_dir": _shown(run_dir)},
    }
    write_json_atomic(run_dir / "metrics.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> None:
    cfg = parse_config(PowerMineConfig, argv, __doc__.splitlines()[0])
    try:
        metrics = mine(cfg)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(metrics, ensure_ascii=False))


if __name__ == "__main__":
    main()
