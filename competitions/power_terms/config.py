"""Configuration of the power-term mining run (``make power-mine``).

Every field is a ``--flag`` (``common.config.parse_config``); the resolved config is
saved as ``runs/power_terms/<run>/config.json``. Defaults were chosen on the *tuning half*
of the power gold list only (``common.mining.term_metrics.split_gold``) and are used
unchanged on the second domain and on a user's own corpus (``make terms-mine``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common import run


def check_run_name(name: str) -> None:
    """Refuse a ``--run`` that is empty or not one folder name (``../x``, ``a/b``): it named a folder outside
    ``runs/power_terms`` or the submissions folder, or files without a name, and ``make report`` then refused
    every run.

    Raises:
        ValueError: one line.
    """
    if not name.strip():
        raise ValueError("--run is empty: give a name (make: POWER_RUN= / TERMS_RUN=; TERMS_RUN defaults to the "
                         "corpus file's name without its extension)")
    run.check_run_name(name, "--run", hint="")


@dataclass
class PowerMineConfig:
    """Unsupervised power-domain term mining (kexue.fm/archives/6540)."""

    run: str = "default"  # name of the run folder and submission files
    data_dir: str = ""  # data root holding power_terms/ and corpus/; "" = $DATA_DIR or <repo>/data
    domain: str = "power"  # power | cmeee: the corpus (and seed file) of a known domain
    corpus: str = "lionztt_power/data/五通一措去重语料.csv"  # power only: under <data_dir>/power_terms
    corpus_file: str = ""  # any UTF-8 text file, one text unit per line: mines it instead of the domain
    use_baike: bool = False  # add the Baidu-Baike pages of ac-code/ to the domain corpus (crawled for
    # the gold entity base, so off by default: it would leak the gold terms into the input)
    max_chars: int = 0  # use only the first max_chars characters of the corpus (0 = all; smoke tests)
    # 1. discovery
    stream_above_chars: int = 20_000_000  # larger corpora are counted in chunks on disk (same result)
    chunk_chars: int = 10_000_000  # chars per chunk / block: sets the peak memory of a large corpus
    progress: bool = True  # chars/s lines on stderr
    min_count: int = 3  # n-gram frequency threshold
    max_n: int = 8  # longest n-gram counted
    min_cohesion: float = 1.0  # min-split PMI, nats
    min_entropy: float = 1.0  # min(left, right) neighbour entropy, nats
    min_len: int = 2
    max_len: int = 10
    # 2. domain contrast
    general_texts: list[str] = field(default_factory=lambda: [
        "uer_py/CLUECorpusSmall_sampled.txt", "uer_py/chnsenticorp.txt"])  # under <data_dir>/corpus
    general_files: list[str] = field(default_factory=list)  # general text files; replace general_texts
    use_jieba_dict: bool = True  # jieba's dict.txt word counts as a second general source
    contrast_alpha: float = 1.0  # pseudo-count added to general counts
    min_log_ratio: float = 0.0  # admit when log(p_domain / p_general) >= this
    entropy_weight: float = 2.0  # ranking score = log_ratio + entropy_weight * min(H, entropy_cap)
    entropy_cap: float = 3.0
    head_weight: float = 1.0  # + head_weight * noun-head log-odds of the last char, learned from the
    # POS tags of jieba's dictionary (common.mining.ranking); chosen on the tuning half (0 = off)
    pu_weight: float = 0.0  # + pu_weight * PU word-likeness logit (dictionary words as positives);
    # measured to lower tuning-half precision@500 at every weight tried, so off
    # 3. embedding expansion
    seeds_file: str = ""  # "" = the domain's (seeds.txt, seeds_medical.txt); none for --corpus-file
    auto_seeds: int = 10  # without any seed, the top-ranked contrast terms seed the expansion
    seeds: list[str] = field(default_factory=list)  # extra seeds, comma-separated on the command line
    w2v_dim: int = 100
    w2v_window: int = 5
    w2v_min_count: int = 5  # rarer words get unreliable (and spuriously high) similarities
    w2v_epochs: int = 10
    w2v_max_chars: int = 10_000_000  # word2vec / segmentation see only the first chars (time bound)
    w2v_workers: int = 1  # 1 = deterministic (gensim is only reproducible single-threaded)
    seed: int = 42
    expand_topn: int = 20  # neighbours looked at per frontier word
    expand_threshold: float = 0.65  # similarity needed at depth 1
    expand_step: float = 0.05  # added per extra depth
    expand_max_threshold: float = 0.9
    expand_max_depth: int = 3
    expand_min_log_ratio: float = 0.0  # expansion words must also be domain-leaning
    expansion_bonus: float = 1.0  # added to the score of contrast words that expansion also reaches
    # 4. recall tail, appended after every other stage (cannot change precision@k above it)
    tail_min_count: int = 2  # segmentation tokens seen this often, domain-leaning, not junk (0 = off)
    piece_tail: bool = True  # then the pieces of cutting weak character pairs (common.mining.pmi_cut,
    # nlp-zero's candidates: no minimum count), domain-leaning, not junk, by log ratio + head score
    piece_min_pmi: float = 1.0  # cut where adjacent-pair PMI <= this (nats); nlp-zero's default,
    # tuning-half recall 0.570 / 0.570 / 0.548 at 0.5 / 1 / 2
    # outputs (relative to the repo root)
    submissions_dir: str = "submissions/power_terms"
    runs_dir: str = "runs/power_terms"


@dataclass
class PowerEvalConfig:
    """Score a mined term list against the gold entity base (``make power-eval``)."""

    run: str = "default"  # reads submissions/power_terms/<run>.tsv
    domain: str = ""  # power | cmeee: whose gold list; "" = the domain in the run's config.json
    data_dir: str = ""  # as in PowerMineConfig
    submission: str = ""  # explicit .tsv/.txt path instead of the run's
    output: str = ""  # eval.json's path; "" = runs/power_terms/<run>/eval.json for the run's own list, <list>.eval.json beside a --submission
    ks: list[int] = field(default_factory=lambda: [100, 500, 1000, 2000])
    submissions_dir: str = "submissions/power_terms"
    runs_dir: str = "runs/power_terms"
