"""Term mining on two domains, ours beside nlp-zero on the same corpus, with the same defaults.

For each domain (power: State Grid corpus vs the BUPT entity base; cmeee: CMeEE-V2 dev
texts vs their annotated entity mentions) this runs, in one process and one load:

- ours: ``competitions.power_terms.mine`` with its defaults (chosen on power's tuning
  half; nothing is retuned for cmeee), scored on the whole gold list and on each
  fixed-hash half;
- nlp-zero's ``Word_Finder(min_proba=1e-6, min_pmi=1)`` (train + find) on the same
  lines, its words ranked two ways: by the smoothed frequency ratio against jieba's
  dictionary (its plain use), and by our stage-2 ranking (junk rules, ratio against
  jieba + general text >= 0, + entropy weight + noun-head score; entropies from our
  counts, as nlp-zero gives none), so the comparison isolates discovery.

Discovery throughput (chars/s) of both is timed on each corpus. Prints a table,
saves ``bench/results/power_domains.json`` and ends with one JSON line.

Usage: ``python bench/power_domains.py [--domains power,cmeee]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from bench.power_discovery import import_nlp_zero  # noqa: E402
from common.io import write_json_atomic  # noqa: E402
from common.mining import contrast, ranking  # noqa: E402
from common.mining.new_words import discover  # noqa: E402
from common.mining.term_filters import junk_reason  # noqa: E402
from common.mining.term_metrics import HALVES, half_scores, list_scores, split_gold  # noqa: E402
from competitions.power_terms import data, mine  # noqa: E402
from competitions.power_terms.config import PowerMineConfig  # noqa: E402

KS = (100, 500, 1000, 2000)


def score(ranked: list[str], gold: set[str]) -> dict:
    """Whole-list scores plus est. precision@k / recall on each gold half."""
    halves = split_gold(gold)
    out = list_scores(ranked, gold, KS)
    for i, h in enumerate(HALVES):
        hs = half_scores(ranked, halves[h], halves[HALVES[1 - i]], KS)
        out.update({f"{h}_{k}": v for k, v in hs.items() if k.startswith(("est_p@", "filt_p@500", "recall"))})
    return out


def nlp_zero_rankings(lines: list[str], cfg: PowerMineConfig, root: Path) -> tuple[dict, float]:
    """nlp-zero's words under the two rankings, and its discovery seconds."""
    import jieba

    Word_Finder = import_nlp_zero()
    t0 = time.perf_counter()
    finder = Word_Finder(min_proba=1e-6, min_pmi=1)
    finder.train(lines)
    finder.find(lines)
    secs = time.perf_counter() - t0
    words = [w for w in finder.words if len(w) >= 2]
    counts = np.array([finder.words[w] for w in words])
    total = sum(finder.words.values())
    jieba_dict = os.path.join(os.path.dirname(jieba.__file__), "dict.txt")
    table = contrast.load_frequency_dict(jieba_dict)
    lr = contrast.log_ratio(counts, total, [contrast.dict_counts(words, table)], 1.0)
    plain = [words[i] for i in np.argsort(-lr, kind="stable")]
    # our stage 2 on nlp-zero's words
    keep = [i for i, w in enumerate(words) if not junk_reason(w, cfg.min_len, cfg.max_len)]
    kw = [words[i] for i in keep]
    general = [root / "corpus" / p for p in cfg.general_texts]
    lr2 = contrast.log_ratio(counts[keep], total, mine.general_sources(kw, general, table, cfg.chunk_chars), 1.0)
    ours = discover("\n".join(lines), 2, max(map(len, kw)) if kw else 2)  # entropies of every n-gram seen twice
    idx = {w: i for i, w in enumerate(ours.words)}
    h = np.array([min(ours.left_entropy[idx[w]], ours.right_entropy[idx[w]]) if w in idx else 0.0 for w in kw])
    head = ranking.head_noun_scores(kw, ranking.head_noun_table(ranking.load_pos_dictionary(jieba_dict)))
    s = lr2 + cfg.entropy_weight * np.minimum(h, cfg.entropy_cap) + cfg.head_weight * head
    staged = [kw[i] for i in np.argsort(-s, kind="stable") if lr2[i] >= cfg.min_log_ratio]
    return {"nlp-zero, jieba ratio": plain, "nlp-zero + our stage 2": staged}, secs


def run_domain(domain: str, data_dir: str, tmp: Path) -> dict:
    """Times and scores our discovery and mining on one domain's corpus against NLP Zero's, outputs under ``tmp``."""
    cfg = PowerMineConfig(domain=domain, run=f"bench-{domain}", data_dir=data_dir, progress=False,
                          submissions_dir=str(tmp / "subs"), runs_dir=str(tmp / "runs"))
    root = data.data_root(data_dir, need="")
    _, lines = data.domain_corpus(domain, root)
    gold = data.domain_gold(domain, root)
    chars = len("\n".join(lines))
    t0 = time.perf_counter()
    discover("\n".join(lines), cfg.min_count, cfg.max_n)
    ours_disc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = mine.mine(cfg)
    mine_s = time.perf_counter() - t0
    ours = (tmp / "subs" / f"bench-{domain}.txt").read_text(encoding="utf-8").split("\n")[:-1]
    nz, nz_s = nlp_zero_rankings(lines, cfg, root)
    rows = {"ours (make power-mine defaults)": score(ours, gold)}
    rows.update({k: score(v, gold) for k, v in nz.items()})
    return {"domain": domain, "chars": chars, "gold_terms": len(gold),
            "discovery_chars_per_s": {"ours": chars / ours_disc_s, "nlp-zero": chars / nz_s},
            "speedup": nz_s / ours_disc_s, "mine_wall_s": round(mine_s, 1),
            "mine_timings": metrics["timings"], "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="")
    p.add_argument("--domains", default="power,cmeee")
    p.add_argument("--out", default="bench/results/power_domains.json")
    args = p.parse_args()
    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for d in args.domains.split(","):
            results.append(run_domain(d, args.data_dir, Path(tmp)))
    cols = ["n", "p@500", "test_est_p@500", "test_filt_p@500", "recall", "test_recall"]
    print("| domain | list | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for r in results:
        for name, s in r["rows"].items():
            print(f"| {r['domain']} | {name} | " + " | ".join(
                str(int(s[c])) if c == "n" else f"{s[c]:.3f}" for c in cols) + " |")
    print()
    for r in results:
        cps = r["discovery_chars_per_s"]
        print(f"{r['domain']}: {r['chars']:,} chars; discovery ours {cps['ours'] / 1e6:.2f} M chars/s, "
              f"nlp-zero {cps['nlp-zero'] / 1e6:.2f} M chars/s ({r['speedup']:.1f}x)")
    out = write_json_atomic(REPO_ROOT / args.out, {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "note": "2 CPU cores shared with other jobs",
                    "load_avg_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
        "results": results, "wall_s": round(time.perf_counter() - t_start, 1)})
    summary = {r["domain"]: {"ours_p@500": r["rows"]["ours (make power-mine defaults)"]["p@500"],
                             "nlp_zero_p@500": r["rows"]["nlp-zero, jieba ratio"]["p@500"],
                             "ours_recall": r["rows"]["ours (make power-mine defaults)"]["recall"],
                             "nlp_zero_recall": r["rows"]["nlp-zero, jieba ratio"]["recall"],
                             "speedup": round(r["speedup"], 2)} for r in results}
    print(json.dumps({**summary, "paths": {"result": str(out.relative_to(REPO_ROOT))}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
