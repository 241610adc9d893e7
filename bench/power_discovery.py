"""Benchmark new-word discovery on the power corpus against nlp-zero's Word_Finder.

Measures, side by side in one run (same machine, same load):

- throughput (corpus chars / s) and peak memory (peak RSS of a child process above
  its RSS after loading the corpus) of ``common.mining.new_words.discover`` and of
  nlp-zero's ``Word_Finder`` (train + find), each in its own child process.
  Interleaved: ``--rounds`` rounds, each runs both children (the order alternates),
  each child times ``--repeat`` runs and reports their median; the speed-up is the
  median over rounds of the per-round ratio, so a load change hits both sides of a
  ratio alike. The 1-minute load average is recorded before and after every round;
- the same for ``discover`` on a corpus scaled to tens of millions of characters
  (``--scale``: domain corpus + Baike pages + general text, repeated);
- quality: precision@k / recall against the gold entity base of each method's words
  ranked by the same smoothed frequency ratio against jieba's dictionary
  (``common.mining.contrast``), raw and after the same junk rules.

nlp-zero (bench/requirements.txt) is installed with pip if missing; on Python 3.11 it
needs ``collections.Iterable`` patched to ``collections.abc.Iterable`` before import.
Prints a table, saves ``bench/results/power_discovery.json`` and ends with one JSON line.

Usage: ``python bench/power_discovery.py [--rounds 5] [--repeat 3] [--scale 20000000]``
(run it under ``nice``; the numbers in README were taken with other jobs running).
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from common.mining import contrast  # noqa: E402
from common.io import write_json_atomic  # noqa: E402
from common.mining.new_words import discover, select_words  # noqa: E402
from common.mining.term_filters import junk_reason  # noqa: E402
from common.mining.term_metrics import list_scores  # noqa: E402
from competitions.power_terms import data  # noqa: E402
from competitions.power_terms.config import PowerMineConfig  # noqa: E402

KS = (100, 500, 1000, 2000)


def rss_kib() -> int:
    """Current resident set size of this process, KiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def import_nlp_zero():
    """``nlp_zero.Word_Finder``, installing bench/requirements.txt first if needed."""
    collections.Iterable = collections.abc.Iterable  # nlp-zero predates Python 3.10
    try:
        from nlp_zero import Word_Finder
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                        str(REPO_ROOT / "bench" / "requirements.txt")], check=True)
        from nlp_zero import Word_Finder
    return Word_Finder


def load_lines(data_dir: str, scale: int) -> tuple[list[str], int]:
    """Domain corpus lines and the number of copies.

    With ``scale > 0`` the corpus is extended with the Baike pages and the general
    text (8.4 M distinct chars in all) and that pool is repeated up to ``scale``
    chars; the caller multiplies ``min_count`` by the number of copies, so the same
    n-grams count as frequent as in one copy (repeating alone would make every
    n-gram "frequent").
    """
    cfg = PowerMineConfig()
    root = data.data_root(data_dir)
    lines = data.load_corpus(root / "power_terms" / cfg.corpus)
    copies = 1
    if scale > 0:
        pool = lines + data.load_baike_texts(root / "power_terms" / "bupt_electric_power" / "ac-code")
        for p in cfg.general_texts:
            pool += data.load_corpus(root / "corpus" / p)
        lines, n, copies = [], 0, 0
        while n < scale:
            lines += pool
            n += sum(map(len, pool))
            copies += 1
    return lines, copies


def worker(method: str, data_dir: str, repeat: int, scale: int, min_count: int, max_n: int) -> dict:
    """Time one method in this (child) process; returns chars/s and peak memory."""
    lines, copies = load_lines(data_dir, scale)
    min_count *= copies
    chars = sum(map(len, lines))
    if method == "nlp-zero":
        Word_Finder = import_nlp_zero()
    base = rss_kib()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        if method == "ours":
            n_words = len(discover("\n".join(lines), min_count, max_n))
        else:
            finder = Word_Finder(min_proba=1e-6, min_pmi=1)
            finder.train(lines)
            finder.find(lines)
            n_words = len(finder.words)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"method": method, "chars": chars, "times_s": [round(t, 3) for t in times],
            "median_s": round(statistics.median(times), 3),
            "chars_per_s": chars / statistics.median(times),
            "peak_mem_mib": round(max(peak - base, 0) / 1024, 1), "n_items": n_words,
            "copies": copies, "min_count": min_count}


def run_child(method: str, args, scale: int, repeat: int) -> dict:
    """Runs one discovery ``method`` in a fresh process (``--worker``) and returns the JSON line it prints last."""
    cmd = [sys.executable, __file__, "--worker", method, "--repeat", str(repeat), "--scale", str(scale),
           "--min-count", str(args.min_count), "--max-n", str(args.max_n)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO_ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ranked_by_jieba_ratio(words: list[str], counts: np.ndarray, total: int,
                          jieba_table: dict[str, int]) -> list[str]:
    """Words sorted by the smoothed log frequency ratio against jieba's dictionary."""
    lr = contrast.log_ratio(counts, total, [contrast.dict_counts(words, jieba_table)], 1.0)
    return [words[i] for i in np.argsort(-lr, kind="stable")]


def quality(args) -> dict[str, dict]:
    """Precision@k / recall of nlp-zero's and our words under the same ranking."""
    import jieba

    cfg = PowerMineConfig()
    lines, _ = load_lines(args.data_dir, 0)
    gold = data.load_gold(data.data_root(args.data_dir) / "power_terms")
    table = contrast.load_frequency_dict(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"))
    Word_Finder = import_nlp_zero()
    finder = Word_Finder(min_proba=1e-6, min_pmi=1)
    finder.train(lines)
    finder.find(lines)
    nz = [w for w in finder.words if len(w) >= 2]
    nz_counts = np.array([finder.words[w] for w in nz])
    nz_total = sum(finder.words.values())
    nz_rank = ranked_by_jieba_ratio(nz, nz_counts, nz_total, table)
    c = select_words(discover("\n".join(lines), args.min_count, args.max_n),
                     cfg.min_count, cfg.min_cohesion, cfg.min_entropy)
    ours_rank = ranked_by_jieba_ratio(c.words, c.count, c.total_chars, table)
    keep = lambda w: not junk_reason(w, cfg.min_len, cfg.max_len)  # noqa: E731
    # the mine ranking (stage 2 only): ratio against jieba + general text, plus entropy
    root = data.data_root(args.data_dir)
    general = "\n".join(ln for p in cfg.general_texts for ln in data.load_corpus(root / "corpus" / p))
    nzk = [w for w in nz_rank if keep(w)]
    nzk_lr = contrast.log_ratio(np.array([finder.words[w] for w in nzk]), nz_total,
                                [contrast.dict_counts(nzk, table), contrast.text_counts(nzk, general)], 1.0)
    ck = c.select(np.array([keep(w) for w in c.words], dtype=bool))
    ck_lr = contrast.log_ratio(ck.count, ck.total_chars,
                               [contrast.dict_counts(ck.words, table), contrast.text_counts(ck.words, general)], 1.0)
    ck_score = ck_lr + cfg.entropy_weight * np.minimum(np.minimum(ck.left_entropy, ck.right_entropy), cfg.entropy_cap)
    nz_mine = [nzk[i] for i in np.argsort(-nzk_lr, kind="stable") if nzk_lr[i] >= cfg.min_log_ratio]
    ours_mine = [ck.words[i] for i in np.argsort(-ck_score, kind="stable") if ck_lr[i] >= cfg.min_log_ratio]
    return {
        "nlp-zero, jieba ratio": list_scores(nz_rank, gold, KS),
        "nlp-zero + junk rules, jieba ratio": list_scores([w for w in nz_rank if keep(w)], gold, KS),
        "ours (thresholds), jieba ratio": list_scores(ours_rank, gold, KS),
        "ours (thresholds) + junk rules, jieba ratio": list_scores([w for w in ours_rank if keep(w)], gold, KS),
        "nlp-zero + junk rules, jieba+text ratio >= 0": list_scores(nz_mine, gold, KS),
        "ours + junk rules, jieba+text ratio >= 0, + entropy score (mine stage 2)": list_scores(ours_mine, gold, KS),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of both methods")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per child (median)")
    p.add_argument("--scale", type=int, default=20_000_000, help="chars for the scale run (0: skip)")
    p.add_argument("--min-count", type=int, default=PowerMineConfig.min_count)
    p.add_argument("--max-n", type=int, default=PowerMineConfig.max_n)
    p.add_argument("--out", default="bench/results/power_discovery.json")
    p.add_argument("--worker", choices=["ours", "nlp-zero"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data_dir, args.repeat, args.scale,
                                args.min_count, args.max_n)))
        return
    t_start = time.perf_counter()
    rounds, loads = [], []
    for r in range(args.rounds):
        order = ("nlp-zero", "ours") if r % 2 == 0 else ("ours", "nlp-zero")
        load_before = os.getloadavg()[0]
        res = {m: run_child(m, args, 0, args.repeat) for m in order}
        loads.append([round(load_before, 2), round(os.getloadavg()[0], 2)])
        rounds.append({"order": list(order), "nlp_zero_s": res["nlp-zero"]["median_s"],
                       "ours_s": res["ours"]["median_s"],
                       "ratio": res["nlp-zero"]["median_s"] / res["ours"]["median_s"], "children": res})
    speed = []
    for m, key in (("nlp-zero", "nlp_zero_s"), ("ours", "ours_s")):
        first = rounds[0]["children"][m]
        med = statistics.median(rd[key] for rd in rounds)
        speed.append({**first, "times_s": [rd[key] for rd in rounds], "median_s": med,
                      "chars_per_s": first["chars"] / med,
                      "peak_mem_mib": max(rd["children"][m]["peak_mem_mib"] for rd in rounds)})
    ratio = statistics.median(rd["ratio"] for rd in rounds)
    if args.scale > 0:
        speed.append(run_child("ours", args, args.scale, 1))
    qual = quality(args)
    print("| method | chars | min_count | median s | chars/s | peak MiB | items |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in speed:
        print(f"| {s['method']} | {s['chars']:,} | {s['min_count']} | {s['median_s']} | "
              f"{s['chars_per_s'] / 1e6:.2f} M | {s['peak_mem_mib']} | {s['n_items']:,} |")
    per_round = ", ".join(f"{rd['ratio']:.2f}" for rd in rounds)
    print(f"\nspeed-up of ours over nlp-zero on the same corpus: {ratio:.2f}x (median over {args.rounds} "
          f"interleaved rounds: {per_round}; 1-min load before/after: {loads})\n")
    cols = ["n", "hits"] + [f"p@{k}" for k in KS] + ["precision", "recall", "f1"]
    print("| words, ranking | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in qual.items():
        print(f"| {name} | " + " | ".join(str(int(r[c])) if c in ("n", "hits") else f"{r[c]:.3f}" for c in cols) + " |")
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "note": "2 CPU cores, shared with other jobs", "load_avg_1min_before_after": loads},
        "settings": {"min_count": args.min_count, "max_n": args.max_n, "repeat": args.repeat,
                     "rounds": args.rounds,
                     "nlp_zero": "Word_Finder(min_proba=1e-6, min_pmi=1), train + find"},
        "speed": speed, "speedup_vs_nlp_zero": ratio,
        "rounds": [{k: v for k, v in rd.items() if k != "children"} for rd in rounds], "quality": qual,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    out = write_json_atomic(REPO_ROOT / args.out, result)
    print(json.dumps({"speedup_vs_nlp_zero": round(ratio, 2), "load_avg_1min": loads,
                      "ours_chars_per_s": round(speed[1]["chars_per_s"]),
                      "nlp_zero_chars_per_s": round(speed[0]["chars_per_s"]),
                      "p@500_jieba_ratio": {"ours+junk": qual["ours (thresholds) + junk rules, jieba ratio"]["p@500"],
                                            "nlp_zero": qual["nlp-zero, jieba ratio"]["p@500"],
                                            "nlp_zero+junk": qual["nlp-zero + junk rules, jieba ratio"]["p@500"]},
                      "paths": {"result": str(out.relative_to(REPO_ROOT))}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
