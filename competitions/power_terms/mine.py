"""Mine power-domain terms from the State Grid corpus (``make power-mine``).

Stages (kexue.fm/archives/6540):

1. discovery: every n-gram (2..max_n chars, count >= min_count) scored by cohesion
   and left/right neighbour entropy (``common.mining.new_words``); junk rules.
2. contrast: keep words far more frequent in the domain than in general text
   (jieba's dictionary and general raw text); rank by
   ``log_ratio + entropy_weight * min(H_left, H_right, entropy_cap) + head_weight * head``,
   ``head`` the noun-head log-odds of the last character learned from the POS tags
   of jieba's dictionary (``common.mining.ranking``; distant supervision, no gold).
3. expansion: segment the corpus with jieba + the contrast words, train word2vec,
   grow from the seed terms with a similarity threshold rising with depth.

The ranked list puts contrast words first (by score, plus ``expansion_bonus`` when
expansion reaches them too: such words are about 1.5x as often gold at every rank),
then the seeds and the words only expansion admitted (by depth, then similarity), then
two recall tails that cannot move p@k above them: jieba segmentation tokens seen
``tail_min_count`` times, and the pieces of cutting the text between weakly bound
characters (``common.mining.pmi_cut``, nlp-zero's candidates), both under the junk
rules and ``log_ratio >= min_log_ratio``. Writes
``submissions/power_terms/<run>.txt`` (one term per line), ``<run>.tsv`` (scores
and admitting stage) and ``runs/power_terms/<run>/{config,metrics}.json``; ends by
printing one JSON line. A run name already mined is mined again only with the same
options and the same corpus text (``check_remine``; else a one-line error, nothing
written), and then its ``eval.json`` (made from the earlier list) is removed.

Any corpus: ``--corpus-file PATH`` (one text unit per line, UTF-8) with optional
``--general-files PATH`` and ``--seeds a,b`` (also ``a，b`` / ``a、b``); without seeds,
or when no given seed is in word2vec's vocabulary (a warning names them), the top
``auto_seeds`` contrast terms seed the expansion. Corpora above ``stream_above_chars`` are counted
in chunks on disk (``common.mining.new_words_stream``, same result), general text
and the corpus are read in blocks, and word2vec sees the first ``w2v_max_chars``.

Usage: ``python -m competitions.power_terms.mine --run default [--seeds 变压器,断路器]``
       ``python -m competitions.power_terms.mine --corpus-file my.txt --run mine``
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jieba
import numpy as np

from common.config import config_to_dict, parse_config
from common.io import write_json_atomic, write_text_atomic
from common.mining import contrast, pmi_cut, ranking
from common.mining.char_codes import encode
from common.mining.corpus_stream import check_corpus, file_digest, han_share, iter_blocks
from common.mining.expansion import expand, threshold_schedule, train_word2vec
from common.mining.new_words import discover, select_words
from common.mining.new_words_stream import discover_file
from common.mining.ngram_hash import count_strings
from common.mining.segmentation import build_tokenizer, segment
from common.mining.term_filters import junk_reason
from common.run import changed_values
from competitions.power_terms import data
from competitions.power_terms.config import PowerMineConfig, check_run_name

# Options a run may be mined again with: where outputs go, the data root (the corpus is fingerprinted instead),
# progress lines and block sizes (same term list by design). Any other changed option, or another corpus text, is
# refused (common.run's rule for reruns: check_rerun_config): the run's name, metrics and evaluation would then
# describe two term lists.
REMINE_FREE = frozenset({"run", "data_dir", "progress", "chunk_chars", "stream_above_chars", "submissions_dir",
                         "runs_dir"})
# Files of the run folder made from its term list by other commands (evaluate): removed when the run is mined
# again, so that no evaluation of an earlier list stays beside the new one.
DERIVED_FILES = ("eval.json",)

TSV_HEADER = ["rank", "term", "stage", "stages", "score", "count", "log_ratio", "cohesion",
              "left_entropy", "right_entropy", "depth", "similarity", "parent", "head"]


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
    head: float = float("nan")
    stages: list[str] = field(default_factory=list)  # every stage that admitted it

    def __post_init__(self) -> None:
        if not self.stages:
            self.stages = [self.stage]


def general_sources(words: list[str], general_paths: list, jieba_table: dict[str, int] | None,
                    block_chars: int) -> list[contrast.GeneralCounts]:
    """Counts of ``words`` in each general-domain source (text files read in blocks)."""
    sources = []
    if jieba_table is not None:
        sources.append(contrast.dict_counts(words, jieba_table))
    if general_paths:
        counts, total = np.zeros(len(words), dtype=np.int64), 0
        for path in general_paths:
            for block in iter_blocks(path, block_chars):
                g = contrast.text_counts(words, "\n".join(block))
                counts += g.counts
                total += g.total
        sources.append(contrast.GeneralCounts("general_text", counts, total))
    return sources


def corpus_counts(words: list[str], path, block_chars: int) -> tuple[np.ndarray, int]:
    """Substring counts of ``words`` in a corpus file read in blocks, and its token chars."""
    counts, total = np.zeros(len(words), dtype=np.int64), 0
    for block in iter_blocks(path, block_chars):
        cps = encode("\n".join(block))
        counts += count_strings(cps, words)
        total += int((cps != 0).sum())
    return counts, total


def first_chars(blocks, max_chars: int) -> list[str]:
    """The first lines of a stream of line blocks, cut after ``max_chars`` characters (0 = all)."""
    out, n = [], 0
    for block in blocks:
        for ln in block:
            if max_chars > 0 and n >= max_chars:
                return out
            out.append(ln[: max_chars - n] if max_chars > 0 else ln)
            n += len(out[-1])
    return out


def _shown(path) -> str:
    """Path relative to the repo root when inside it (no absolute paths in outputs)."""
    return str(path.relative_to(data.REPO_ROOT)) if path.is_relative_to(data.REPO_ROOT) else str(path)


MIN_HAN_SHARE = 0.3  # a corpus with fewer Chinese characters is warned about (a heuristic)


def corpus_path(cfg: PowerMineConfig, root) -> Path:
    """The file to mine: ``--corpus-file``, else the domain's corpus."""
    if cfg.corpus_file:
        return data.resolve_input(cfg.corpus_file)
    if cfg.domain == "power":
        return root / "power_terms" / cfg.corpus
    if cfg.domain == "cmeee":
        return root / data.CMEEE_FILE
    raise ValueError(f"unknown domain {cfg.domain!r}; known: power, cmeee (or give --corpus-file)")


def check_remine(cfg: PowerMineConfig, run_dir: Path, corpus_sha256: str | None,
                 general_sha256: list[str | None] | None = None) -> None:
    """Refuse to mine an existing run again with other options, another corpus text or another general text.

    Mining the same run with the same options and corpus again is allowed (it rewrites the
    same list, or the list of newer code); :data:`DERIVED_FILES` are removed then. The same
    text under another ``--corpus-file`` path or line ending (equal :func:`file_digest`) is
    the same corpus.

    Args:
        run_dir: ``runs/power_terms/<run>``; nothing to check without its ``config.json``.
        corpus_sha256: :func:`file_digest` of the corpus about to be mined (None: unknown,
            e.g. a missing file that a later check reports); compared with the
            ``corpus_sha256`` of the run's ``metrics.json`` when it has one.
        general_sha256: the same of each general text (:func:`general_paths_of`), compared with the run's
            ``general_sha256`` when it has one (runs mined before 2026-12-07 do not).
    Raises:
        ValueError: one line naming ``config.json`` (or ``metrics.json``) and every changed
            option (old -> new) except :data:`REMINE_FREE`, the two corpus (or general text) digests, or an
            unreadable ``config.json`` / ``metrics.json``.
    """
    path = run_dir / "config.json"
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{_shown(path)}: unreadable ({err}); remove {_shown(run_dir)} to mine this run "
                         "again") from None
    hint = (f"give another --run (make: POWER_RUN= / TERMS_RUN=), or remove {_shown(run_dir)} "
            "to mine this name again")
    metrics_path = run_dir / "metrics.json"
    try:
        saved_metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
        if not isinstance(saved_metrics, dict):
            raise ValueError(f"a JSON {type(saved_metrics).__name__}, not an object")
    except (OSError, ValueError) as err:  # its corpus digest cannot be read: the text cannot be compared
        raise ValueError(f"{_shown(metrics_path)}: unreadable ({err}); remove {_shown(run_dir)} to mine this run "
                         "again") from None
    old = saved_metrics.get("corpus_sha256")
    same_text = bool(old and corpus_sha256 and old == corpus_sha256)  # a moved or re-saved copy of the corpus
    changed = changed_values(saved, config_to_dict(cfg), REMINE_FREE | ({"corpus_file"} if same_text else set()))
    if changed:
        raise ValueError(f"{_shown(path)}: run {cfg.run!r} was mined with other options ({'; '.join(changed)}); {hint}")
    if old and corpus_sha256 and old != corpus_sha256:
        raise ValueError(f"{_shown(run_dir / 'metrics.json')}: run {cfg.run!r} was mined from another text "
                         f"under the same corpus path (sha256 {old} -> {corpus_sha256}); {hint}")
    old_general = saved_metrics.get("general_sha256")
    if old_general is not None and general_sha256 is not None and old_general != general_sha256:
        raise ValueError(f"{_shown(metrics_path)}: run {cfg.run!r} was contrasted with another general text "
                         f"under the same path (sha256 {old_general} -> {general_sha256}); {hint}")


def general_paths_of(cfg: PowerMineConfig, root: Path) -> list[Path]:
    """The general texts of the contrast: ``--general-files`` (relative ones from the repository root), else
    those of ``--general-texts`` found under ``<data root>/corpus``."""
    if cfg.general_files:
        return [data.resolve_input(p) for p in cfg.general_files]
    return [root / "corpus" / p for p in cfg.general_texts if (root / "corpus" / p).is_file()]


def usable_seeds(seeds: list[str], vocab: set[str], auto: list[str]) -> tuple[list[str], list[str], str]:
    """The seeds the expansion grows from, the given ones it cannot use, and a warning ("" = none).

    A seed is usable when it is a word of the word2vec vocabulary (a token of the segmented
    corpus seen ``w2v_min_count`` times). With no usable seed at all, ``auto`` (the top
    contrast terms, ``auto_seeds`` of them) replaces the given seeds, as when none are given.

    Args:
        seeds: the given seeds (seed file and ``--seeds``), possibly empty.
        vocab: the word2vec vocabulary.
        auto: the automatic seeds.
    Returns:
        ``(seeds to expand from, missing given seeds, warning line)``.
    """
    if not seeds:
        return auto, [], ""
    missing = [s for s in seeds if s not in vocab]
    if not missing:
        return seeds, [], ""
    what = (f"seed{'s' * (len(missing) > 1)} {'、'.join(missing)} not in the corpus's word2vec vocabulary "
            "(never seen, or seen fewer than --w2v-min-count times as a segmented word)")
    if len(missing) < len(seeds):
        return seeds, missing, f"warning: {what}: the expansion grows from the other {len(seeds) - len(missing)}"
    if auto:
        return auto, missing, (f"warning: {what}: no given seed is usable, so the top {len(auto)} contrast terms "
                               f"seed the expansion instead ({'、'.join(auto)})")
    return seeds, missing, f"warning: {what}: no given seed is usable and --auto-seeds is 0: no expansion"


def mine(cfg: PowerMineConfig) -> dict:
    """Run the three stages; returns the metrics dict (also written to the run folder).

    ``cfg.seeds`` is split at full-width commas and 、 too (``data.split_terms``). Given
    seeds that word2vec never saw are named on stderr (``usable_seeds``: with none left,
    the automatic seeds are used). A run mined before is mined again only with the same
    options and corpus (``check_remine``); its ``eval.json`` is removed then.

    Raises:
        FileNotFoundError: missing corpus, general text or seed file (named).
        ValueError: empty or non-UTF-8 corpus (file and line), no general source,
            unknown domain, an existing run mined with other options or another corpus.
    """
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    cfg.seeds = data.split_terms(cfg.seeds)  # saved split: 开关柜，套管 and 开关柜,套管 are the same options
    root = data.data_root(cfg.data_dir, need="" if cfg.corpus_file else
                          ("power_terms" if cfg.domain == "power" else "ner"))
    check_run_name(cfg.run)
    path = corpus_path(cfg, root)
    run_dir = data.resolve(cfg.runs_dir) / cfg.run
    corpus_sha256 = file_digest(path) if path.is_file() else None
    general_paths = general_paths_of(cfg, root)
    general_sha256 = [file_digest(p) if p.is_file() else None for p in general_paths]
    check_remine(cfg, run_dir, corpus_sha256, general_sha256)  # before anything is written
    tmp_corpus = None
    if cfg.domain == "cmeee" and not cfg.corpus_file:  # JSON records -> a line file in the run folder
        tmp_corpus = run_dir / "corpus.txt"
        write_text_atomic(tmp_corpus, "\n".join(data.load_cmeee(path)[0]) + "\n")
        path = tmp_corpus
    size = check_corpus(path)
    share = han_share(path)
    if share < MIN_HAN_SHARE:  # probe AF: an English corpus gave word fragments (re, nt) without a word
        print(f"warning: {_shown(path)}: {share:.0%} of its letters (first MB) are Chinese characters; the miner "
              "finds Chinese words, so its list will be fragments", file=sys.stderr, flush=True)
    big = size > 3 * cfg.stream_above_chars  # UTF-8 CJK: ~3 bytes per char
    if cfg.max_chars > 0 or cfg.use_baike or not big:
        lines = first_chars(iter_blocks(path, cfg.chunk_chars), cfg.max_chars)
        if cfg.use_baike:
            lines += data.load_baike_texts(root / "power_terms" / "bupt_electric_power" / "ac-code")
        big = sum(map(len, lines)) > cfg.stream_above_chars
    else:
        lines = None
    for gp in general_paths:
        check_corpus(gp, "--general-files file")
    jieba_dict = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    jieba_table = contrast.load_frequency_dict(jieba_dict) if cfg.use_jieba_dict else None
    if not general_paths and jieba_table is None:
        raise ValueError("no general-domain source: give --general-files or --use-jieba-dict true")
    seeds_file = cfg.seeds_file or ("" if cfg.corpus_file else data.DOMAIN_SEEDS.get(cfg.domain, ""))
    if seeds_file and not data.resolve_input(seeds_file).is_file():
        raise FileNotFoundError(f"--seeds-file not found: {data.resolve(seeds_file)}")
    seeds = (data.load_seeds(data.resolve_input(seeds_file) if seeds_file else None, cfg.seeds)
             if seeds_file or cfg.seeds else [])
    timings["load_s"] = time.perf_counter() - t_start

    # 1. discovery
    t0 = time.perf_counter()
    if lines is not None and not big:
        cands = discover("\n".join(lines), cfg.min_count, cfg.max_n)
    else:
        blocks = iter_blocks(path, cfg.chunk_chars) if lines is None else \
            (lines[i:i + 100_000] for i in range(0, len(lines), 100_000))
        cands = discover_file(blocks, cfg.min_count, cfg.max_n, cfg.chunk_chars,
                              progress=cfg.progress, total_chars=size // 3)
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
                            general_sources(sel.words, general_paths, jieba_table, cfg.chunk_chars),
                            cfg.contrast_alpha)
    keep = lr >= cfg.min_log_ratio
    h = np.minimum(sel.left_entropy, sel.right_entropy)
    head_table = ranking.head_noun_table(ranking.load_pos_dictionary(jieba_dict))
    head = ranking.head_noun_scores(sel.words, head_table)
    score = lr + cfg.entropy_weight * np.minimum(h, cfg.entropy_cap) + cfg.head_weight * head
    if cfg.pu_weight:
        s_tab, e_tab = ranking.edge_char_tables(jieba_table or contrast.load_frequency_dict(jieba_dict))
        labelled = np.array([w in (jieba_table or {}) for w in sel.words])
        score = score + cfg.pu_weight * ranking.pu_word_logits(
            ranking.candidate_features(sel, s_tab, e_tab), labelled, seed=cfg.seed)
    terms: dict[str, Term] = {}
    for i in np.flatnonzero(keep)[np.argsort(-score[keep], kind="stable")]:
        w = sel.words[i]
        terms[w] = Term(w, "contrast", float(score[i]), int(sel.count[i]), float(lr[i]),
                        float(sel.cohesion[i]), float(sel.left_entropy[i]), float(sel.right_entropy[i]),
                        head=float(head[i]))
    timings["contrast_s"] = time.perf_counter() - t0

    # 3. expansion
    t0 = time.perf_counter()
    tokenizer = build_tokenizer(terms)
    w2v_lines = first_chars([lines] if lines is not None else iter_blocks(path, cfg.chunk_chars),
                            cfg.w2v_max_chars)
    sentences = segment(w2v_lines, tokenizer)
    timings["segment_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        model = train_word2vec(sentences, cfg.w2v_dim, cfg.w2v_window, cfg.w2v_min_count,
                               cfg.w2v_epochs, True, cfg.seed, cfg.w2v_workers)
    except ValueError as err:  # e.g. a corpus of punctuation: name the file
        raise ValueError(f"{_shown(path)}: {err}") from None
    timings["word2vec_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vocab = list(model.wv.index_to_key)
    given_seeds = seeds
    seeds, missing_seeds, warning = usable_seeds(seeds, set(vocab), list(terms)[: cfg.auto_seeds])  # terms: by score
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if lines is not None:
        cps = encode("\n".join(lines))
        dom_counts, dom_total = count_strings(cps, vocab), int((cps != 0).sum())
        del cps
    else:
        dom_counts, dom_total = corpus_counts(vocab, path, cfg.chunk_chars)
    vocab_lr = contrast.log_ratio(np.maximum(dom_counts, 1), dom_total,
                                  general_sources(vocab, general_paths, jieba_table, cfg.chunk_chars),
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

    # the word2vec text the two tails read, and its token characters: their per-character unit against text
    w2v_text = "\n".join(w2v_lines) if cfg.tail_min_count > 0 or cfg.piece_tail else ""
    w2v_chars = max(int((encode(w2v_text) != 0).sum()), 1)

    # 4. recall tail: tokens of the segmentation (jieba's dictionary + the admitted terms) seen
    # >= tail_min_count times that pass the junk rules and lean to the domain, by ratio
    n_tail = 0
    if cfg.tail_min_count > 0:
        t0 = time.perf_counter()
        tok_counts = Counter(t for sent in sentences for t in sent)
        tail = [w for w, k in tok_counts.items() if k >= cfg.tail_min_count and w not in terms
                and not junk_reason(w, cfg.min_len, cfg.max_len)]
        if tail:
            tail_counts = np.array([tok_counts[w] for w in tail], dtype=np.int64)
            # each general source in its own unit: per token against the dictionary, per character against text
            tail_lr = contrast.log_ratio(tail_counts, {"tokens": max(sum(tok_counts.values()), 1),
                                                       "chars": w2v_chars},
                                         general_sources(tail, general_paths, jieba_table, cfg.chunk_chars),
                                         cfg.contrast_alpha)
            for i in np.argsort(-tail_lr, kind="stable"):
                if tail_lr[i] >= cfg.min_log_ratio:
                    terms[tail[i]] = Term(tail[i], "segmentation", float(tail_lr[i]), int(tail_counts[i]),
                                          float(tail_lr[i]))
                    n_tail += 1
        timings["tail_s"] = time.perf_counter() - t0

    # 5. piece tail: pieces of the text cut between weakly bound characters (any count), same rules
    n_pieces = 0
    if cfg.piece_tail:
        t0 = time.perf_counter()
        pw, pc = pmi_cut.mine_pieces(w2v_text, cfg.piece_min_pmi, cfg.min_len, cfg.max_len)
        keep_p = [i for i, w in enumerate(pw) if w not in terms and not junk_reason(w, cfg.min_len, cfg.max_len)]
        if keep_p:
            pw, pc = [pw[i] for i in keep_p], pc[keep_p]
            p_lr = contrast.log_ratio(pc, w2v_chars,
                                      general_sources(pw, general_paths, jieba_table, cfg.chunk_chars),
                                      cfg.contrast_alpha)
            p_score = p_lr + cfg.head_weight * ranking.head_noun_scores(pw, head_table)
            for i in np.argsort(-p_score, kind="stable"):
                if p_lr[i] >= cfg.min_log_ratio:
                    terms[pw[i]] = Term(pw[i], "pieces", float(p_score[i]), int(pc[i]), float(p_lr[i]))
                    n_pieces += 1
        timings["pieces_s"] = time.perf_counter() - t0
    del w2v_text

    # 6. outputs: contrast words by score (with the agreement bonus), seeds, expansion-only, tails
    by_stage = {st: [t for t in terms.values() if t.stage == st]
                for st in ("contrast", "seed", "expansion", "segmentation", "pieces")}
    ranked = (sorted(by_stage["contrast"], key=lambda t: -t.score) + by_stage["seed"] + by_stage["expansion"]
              + by_stage["segmentation"] + by_stage["pieces"])
    sub_txt = data.resolve(cfg.submissions_dir) / f"{cfg.run}.txt"
    sub_tsv = data.resolve(cfg.submissions_dir) / f"{cfg.run}.tsv"
    for name in DERIVED_FILES:  # an evaluation of the list this run held before
        (run_dir / name).unlink(missing_ok=True)
    write_text_atomic(sub_txt, "".join(t.term + "\n" for t in ranked))
    rows = ["\t".join(TSV_HEADER)]
    for rank, t in enumerate(ranked, 1):
        rows.append("\t".join([str(rank), t.term, t.stage, "+".join(t.stages), f"{t.score:.4f}", str(t.count),
                               f"{t.log_ratio:.4f}", f"{t.cohesion:.4f}", f"{t.left_entropy:.4f}",
                               f"{t.right_entropy:.4f}", str(t.depth), f"{t.similarity:.4f}", t.parent,
                               f"{t.head:.4f}"]))
    write_text_atomic(sub_tsv, "\n".join(rows) + "\n")
    write_json_atomic(run_dir / "config.json", config_to_dict(cfg))
    timings["total_s"] = time.perf_counter() - t_start
    metrics = {
        "run": cfg.run,
        "domain": "" if cfg.corpus_file else cfg.domain,
        "corpus": _shown(path),
        "corpus_sha256": corpus_sha256,
        "general_sha256": general_sha256,
        "corpus_chars": cands.total_chars,  # its token characters (punctuation and line ends not counted),
        # in memory and streamed alike
        "corpus_lines": len(lines) if lines is not None else None,
        "discovery_chars_per_s": cands.total_chars / timings["discovery_s"],
        "ngram_candidates": len(cands),
        "after_thresholds": len(reasons),
        "junk_removed": junk_counts,
        "contrast_terms": int(keep.sum()),
        "seeds": seeds,
        "seeds_given": given_seeds,
        "seeds_missing": missing_seeds,
        "seeds_in_corpus": len(seeds_in_corpus),
        "expansion_admitted": len(admitted),
        "expansion_only_terms": n_expansion_only,
        "segmentation_tail_terms": n_tail,
        "piece_tail_terms": n_pieces,
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
    from common.commands.args import run_cli

    run_cli(main)
