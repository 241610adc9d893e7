"""Configuration of the power-term mining run (``make power-mine``).

Every field is a ``--flag`` (``common.config.parse_config``); the resolved config is
saved as ``runs/power_terms/<run>/config.json``. Defaults are the ones behind the
results table in README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PowerMineConfig:
    """Unsupervised power-domain term mining (kexue.fm/archives/6540)."""

    run: str = "default"  # name of the run folder and submission files
    data_dir: str = ""  # data root holding power_terms/ and corpus/; "" = $DATA_DIR or <repo>/data
    corpus: str = "lionztt_power/data/五通一措去重语料.csv"  # under <data_dir>/power_terms
    use_baike: bool = False  # add the Baidu-Baike pages of ac-code/ to the domain corpus (crawled for
    # the gold entity base, so off by default: it would leak the gold terms into the input)
    max_chars: int = 0  # use only the first max_chars characters of the corpus (0 = all; smoke tests)
    # 1. discovery
    min_count: int = 3  # n-gram frequency threshold
    max_n: int = 8  # longest n-gram counted
    min_cohesion: float = 1.0  # min-split PMI, nats
    min_entropy: float = 1.0  # min(left, right) neighbour entropy, nats
    min_len: int = 2
    max_len: int = 10
    # 2. domain contrast
    general_texts: list[str] = field(default_factory=lambda: [
        "uer_py/CLUECorpusSmall_sampled.txt", "uer_py/chnsenticorp.txt"])  # under <data_dir>/corpus
    use_jieba_dict: bool = True  # jieba's dict.txt word counts as a second general source
    contrast_alpha: float = 1.0  # pseudo-count added to general counts
    min_log_ratio: float = 0.0  # admit when log(p_domain / p_general) >= this
    entropy_weight: float = 2.0  # ranking score = log_ratio + entropy_weight * min(H, entropy_cap)
    entropy_cap: float = 3.0
    # 3. embedding expansion
    seeds_file: str = "competitions/power_terms/seeds.txt"  # relative to the repo root
    seeds: list[str] = field(default_factory=list)  # extra seeds, comma-separated on the command line
    w2v_dim: int = 100
    w2v_window: int = 5
    w2v_min_count: int = 5  # rarer words get unreliable (and spuriously high) similarities
    w2v_epochs: int = 10
    w2v_workers: int = 1  # 1 = deterministic (gensim is only reproducible single-threaded)
    seed: int = 42
    expand_topn: int = 20  # neighbours looked at per frontier word
    expand_threshold: float = 0.65  # similarity needed at depth 1
    expand_step: float = 0.05  # added per extra depth
    expand_max_threshold: float = 0.9
    expand_max_depth: int = 3
    expand_min_log_ratio: float = 0.0  # expansion words must also be domain-leaning
    expansion_bonus: float = 1.0  # added to the score of contrast words that expansion also reaches
    # outputs (relative to the repo root)
    submissions_dir: str = "submissions/power_terms"
    runs_dir: str = "runs/power_terms"


@dataclass
class PowerEvalConfig:
    """Score a mined term list against the gold entity base (``make power-eval``)."""

    run: str = "default"  # reads submissions/power_terms/<run>.tsv
    data_dir: str = ""  # as in PowerMineConfig
    submission: str = ""  # explicit .tsv/.txt path instead of the run's
    ks: list[int] = field(default_factory=lambda: [100, 500, 1000, 2000])
    submissions_dir: str = "submissions/power_terms"
    runs_dir: str = "runs/power_terms"
