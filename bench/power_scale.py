"""Peak memory and chars/s of streamed (chunked, on-disk) discovery at 10 M and 100 M characters.

The corpus is synthetic repetition (allowed for a size test): the power corpus, the
Baidu-Baike power pages and the general text (8.4 M distinct chars) repeated up to the
size and written to a temporary UTF-8 file. ``min_count`` is multiplied by the number of
copies so the same n-grams count as frequent as in one copy. Each size runs in its own
child process that reads the file through ``corpus_stream.iter_blocks`` and counts with
``new_words_stream.discover_file`` (what ``make terms-mine`` does above
``stream_above_chars``); peak memory is the child's peak RSS (``ru_maxrss``), whole
process, Python and numpy included.

Usage: ``python bench/power_scale.py [--sizes 10000000,100000000] [--chunk-chars 10000000]``
Prints a table, saves ``bench/results/power_scale.json``, ends with one JSON line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.power_discovery import load_lines  # noqa: E402
from common.io import write_json_atomic  # noqa: E402


def write_corpus(path: Path, data_dir: str, size: int) -> tuple[int, int]:
    """Write the repeated pool to ``path`` until ``size`` chars; returns (chars, copies)."""
    pool, _ = load_lines(data_dir, 1)  # corpus + Baike + general text, one copy
    n, copies = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while n < size:
            for ln in pool:
                f.write(ln + "\n")
                n += len(ln)
            copies += 1
    return n, copies


def worker(path: str, min_count: int, chunk_chars: int) -> dict:
    """Streams the corpus at ``path`` through new-word discovery: seconds, candidates, characters, peak RSS (MiB)."""
    from common.mining.corpus_stream import iter_blocks
    from common.mining.new_words_stream import discover_file

    t0 = time.perf_counter()
    c = discover_file(iter_blocks(path, chunk_chars), min_count, 8, chunk_chars, progress=True)
    secs = time.perf_counter() - t0
    return {"seconds": round(secs, 1), "candidates": len(c), "token_chars": c.total_chars,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="")
    p.add_argument("--sizes", default="10000000,100000000")
    p.add_argument("--chunk-chars", type=int, default=10_000_000)
    p.add_argument("--min-count", type=int, default=3)
    p.add_argument("--out", default="bench/results/power_scale.json")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.chunk_chars)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="power-scale-") as tmp:
        for size in map(int, args.sizes.split(",")):
            path = Path(tmp) / f"corpus{size}.txt"
            chars, copies = write_corpus(path, args.data_dir, size)
            out = subprocess.run([sys.executable, __file__, "--worker", str(path), str(args.min_count * copies),
                                  "--chunk-chars", str(args.chunk_chars)],
                                 check=True, capture_output=True, text=True, cwd=REPO_ROOT)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r.update(chars=chars, copies=copies, min_count=args.min_count * copies,
                     chars_per_s=chars / r["seconds"], chunk_chars=args.chunk_chars)
            rows.append(r)
            path.unlink()
    print("| chars | copies | min_count | chunk | seconds | chars/s | peak RSS MiB | candidates |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['chars'] / 1e6:.1f} M | {r['copies']} | {r['min_count']} | {r['chunk_chars'] / 1e6:.0f} M | "
              f"{r['seconds']} | {r['chars_per_s'] / 1e6:.2f} M | {r['peak_rss_mib']:,} | {r['candidates']:,} |")
    out = write_json_atomic(REPO_ROOT / args.out, {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "note": "2 CPU cores shared with other jobs"}, "rows": rows})
    print(json.dumps({"rows": [{k: r[k] for k in ("chars", "seconds", "peak_rss_mib")} for r in rows],
                      "paths": {"result": str(out.relative_to(REPO_ROOT))}}))


if __name__ == "__main__":
    main()
