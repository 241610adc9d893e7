"""One Optuna study, one worker against two, on a real PostgreSQL server: wall clock and distinct trials.

    python -m bench.tune_workers [--trials 6] [--limit 1500]

Starts a throwaway PostgreSQL server (``tests/pg_server.py``: Debian's ``postgresql``
binaries, loopback, deleted afterwards), then for 1 and for 2 workers: a fresh
database, that many ``python -m common.commands.tune`` processes on it at once (each
with its own run folder, a small model on the first ``--limit`` lines of the Xiaobu data
so that a trial takes tens of seconds), and reads the study back: finished trials,
distinct parameter sets, wall seconds. With trials of a second or two the workers'
coordination (a worker whose last trial is running waits, polling every 10 s, in case
it must be retried) dominates and two workers are slower than one. Prints a table and
writes ``bench/results/tune_workers.json``. On 2 cores the speed-up of 2 workers stays
below 2x (each trial's training already uses the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "tune_workers.json"
SMALL = ["--hidden-size", "64", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "128",
         "--data-dir", str(ROOT / "data" / "xiaobu"), "--max-train-minutes", "0", "--pruner", "none"]


def run_study(url: str, workers: int, trials: int, limit: int) -> dict:
    """``workers`` tune processes on the study at ``url``; returns the counts and the wall time."""
    import optuna
    from optuna.trial import TrialState

    base = Path(tempfile.mkdtemp(prefix="tune-workers-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.time()
    procs = []
    for w in range(workers):  # output to files: a full pipe would block a worker the others wait for
        out, err = (base / f"w{w}.out").open("w"), (base / f"w{w}.err").open("w")
        procs.append(subprocess.Popen([sys.executable, "-m", "common.commands.tune", "--task", "xiaobu", *SMALL,
                                       "--limit", str(limit), "--trials", str(trials), "--storage", url,
                                       "--study-name", "bench", "--run-dir", str(base / f"w{w}"),
                                       "--run-name", f"w{w}"], cwd=ROOT, env=env, stdout=out, stderr=err))
    for p in procs:
        p.wait()
    wall = time.time() - start
    outs = [("", (base / f"w{w}.err").read_text()) for w in range(workers)]
    study = optuna.load_study(study_name="bench", storage=url)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    return {"workers": workers, "wall_s": round(wall, 1), "exit_codes": [p.returncode for p in procs],
            "errors": [e.strip().splitlines()[-1] for p, (_, e) in zip(procs, outs) if p.returncode and e.strip()],
            "complete": len(done), "distinct": len({json.dumps(t.params, sort_keys=True) for t in done})}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--limit", type=int, default=1500, help="first lines of the Xiaobu train and test files")
    args = parser.parse_args(argv)
    import sqlalchemy

    sys.path.insert(0, str(ROOT))
    from tests.pg_server import pg_server

    rows = []
    with pg_server() as url:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        for workers in (1, 2):
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text(f"CREATE DATABASE bench{workers}"))
            rows.append(run_study(url.rsplit("/", 1)[0] + f"/bench{workers}", workers, args.trials, args.limit))
        engine.dispose()
    speedup = rows[0]["wall_s"] / rows[1]["wall_s"]
    print(f"{'workers':>8}{'wall s':>9}{'complete':>10}{'distinct':>10}")
    for r in rows:
        print(f"{r['workers']:>8}{r['wall_s']:>9.1f}{r['complete']:>10}{r['distinct']:>10}")
    print(f"speed-up of 2 workers: {speedup:.2f}x")
    record = {"date": time.strftime("%Y-%m-%d"), "task": "xiaobu", "limit": args.limit, "trials": args.trials, "runs": rows,
              "speedup": round(speedup, 2)}
    from common.io import write_json_atomic

    write_json_atomic(RESULTS, record)
    return record


if __name__ == "__main__":
    main()
