"""kill -9 at random moments of the Sohu, NER and Xiaobu smoke runs, resume, compare with the uninterrupted run.

    .venv/bin/python -m bench.kill_resume [--kills 10] [--tasks sohu,ner,xiaobu] [--seed 0] [--window run|wall]
                                          [--work DIR] [--keep]

Issue 12's last "Done when" item. For each task, its smoke run (the flags of
tests/smoke_reference.py, plus ``--checkpoint-every-steps 1`` so a kill can land
between two checkpoint writes) runs once uninterrupted: the reference. Then, N times,
the same command starts in a fresh run folder, its process group gets SIGKILL at a
random moment, and the run is finished the documented way: ``--resume true`` when the
kill left a run folder (a checkpoint is resumed; a folder without one trains from the
start; a finished run only predicts again), the plain command when it left none. The
finished run's ``metrics.json`` (``best_metric``, ``best_epoch``, ``global_step`` and
every history record without its timing fields, and without ``train_loss`` for an epoch
resumed mid-way, which covers only the batches after the resume and says so with
``train_loss_from_batch``) and its submission bytes must equal the reference's.

Data: Sohu on a tiny official-layout tree built in the work folder from data/sohu2021
(short-short A and B, 64 train / 32 valid / 20 test lines each, a sample_submission.csv
of exactly those test ids, so prediction is quick); Xiaobu on tests/fixtures/xiaobu;
NER on the first 32 CLUENER texts of each split (``--limit 32``). Every run folder is
``<work>/<task>/<k>/run`` (submission beside it in ``sub``), so run names, and with them
submission file names, agree with the reference.

Kill moments are drawn from ``random.Random(seed)``. ``--window run`` (default) draws
them uniformly over the reference's time from the moment its run folder appeared to
the moment its submission was written (plus 10 %), and counts them in the killed run
from the moment its own run folder appears. With the tiny smoke models the work that
writes files (model build, training with a checkpoint per step, evaluation,
prediction) takes a few seconds, against ~15 s of imports and ~4 s of interpreter
shutdown: a window over the whole wall time puts most kills where nothing is written,
and counting from a landmark keeps the phases aligned when the machine's load changes
between runs. ``--window wall`` draws uniformly over the reference's whole wall time
(a moment before the folder appeared counts from the process start, a later one from
the folder's appearance). Where each kill landed is reported from what it left: the
checkpoint's position, the files of the run folder, the last line of train.log.

Prints a table (kills and matches per task, where the kills landed), writes
``bench/results/kill_resume.json`` and ends with one JSON line. The slow test
tests/test_kill_resume.py runs two kills of Xiaobu through :func:`run_task`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from common.io import write_json_atomic  # noqa: E402
from tests import smoke_reference  # noqa: E402
from tests.distributed import environment, kill_group, start  # noqa: E402
from tests.test_distributed import TIMING, tiny_sohu_tree  # noqa: E402

TASKS = ("sohu", "ner", "xiaobu")
RESULTS = REPO_ROOT / "bench" / "results" / "kill_resume.json"
SOHU_ROWS = {"train": 64, "valid": 32, "test_with_id": 20}
POLL_S = 0.005
RUN_TIMEOUT_S = 900


def _with(args: list[str], flag: str, value: str | None) -> list[str]:
    """``args`` with ``flag``'s value replaced (``None``: the flag removed; absent: appended)."""
    out, i, found = [], 0, False
    while i < len(args):
        if args[i] == flag:
            found = True
            if value is not None:
                out += [flag, value]
            i += 2
            continue
        out.append(args[i])
        i += 1
    if not found and value is not None:
        out += [flag, value]
    return out


def module_args(task: str, base: Path, data: Path | None = None) -> list[str]:
    """``[module, *flags]`` of ``task``'s smoke run writing into ``base/run`` and ``base/sub``.

    Args:
        data: Sohu's tiny data tree (see :func:`tiny_sohu_tree`); unused by the others.
    """
    run, sub = str(base / "run"), str(base / "sub")
    if task == "sohu":
        args = _with(_with(smoke_reference.sohu_args(base), "--data-dir", str(data)), "--limit", None)
        module = ["common.commands.train", "--task", "sohu"]
    elif task == "xiaobu":
        args = smoke_reference.xiaobu_args(base)
        module = ["common.commands.train", "--task", "xiaobu"]
    elif task == "ner":
        args = smoke_reference.ner_args(base) + ["--data-dir", str(smoke_reference.DATA / "ner" / "cluener")]
        module = ["competitions.ner.train"]
    else:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    args = _with(_with(_with(args, "--run-dir", run), "--submission-dir", sub), "--checkpoint-every-steps", "1")
    return module + args


# ---------------------------------------------------------------- one run
def _start(args: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return start(args, 1, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(path: Path, proc: subprocess.Popen, t_start: float) -> float | None:
    """Seconds from ``t_start`` until ``path`` exists; None if the process exits first."""
    while not path.exists():
        if proc.poll() is not None:
            return None
        if time.time() - t_start > RUN_TIMEOUT_S:
            raise TimeoutError(f"{path} did not appear within {RUN_TIMEOUT_S} s")
        time.sleep(POLL_S)
    return time.time() - t_start


LANDMARKS = ("run", "run/config.json", "run/train.log", "run/checkpoint", "run/model.pt", "run/metrics.json")


def _submission_written(base: Path) -> bool:
    return (base / "sub").exists() and any(p.is_file() for p in (base / "sub").rglob("*"))


def run_reference(task: str, base: Path, data: Path | None) -> dict[str, Any]:
    """The uninterrupted run: exit code, wall time, and when its files first appeared (s from the start)."""
    args = module_args(task, base, data)
    t0 = time.time()
    proc = _start(args, base / "output.txt")
    seen: dict[str, float] = {}
    while proc.poll() is None:
        now = time.time() - t0
        for name in LANDMARKS:
            if name not in seen and (base / name).exists():
                seen[name] = round(now, 3)
        if "sub" not in seen and _submission_written(base):
            seen["sub"] = round(now, 3)
        if now > RUN_TIMEOUT_S:
            kill_group(proc)
            raise TimeoutError(f"{task} reference run took over {RUN_TIMEOUT_S} s")
        time.sleep(POLL_S)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{task} reference run failed (exit {proc.returncode}): see {base / 'output.txt'}")
    if "run" not in seen or "sub" not in seen:
        raise RuntimeError(f"{task} reference run: its run folder or submission appeared too briefly to see ({seen})")
    return {"wall_s": round(wall, 3), "run_dir_s": seen["run"], "submission_s": seen["sub"], "landmarks_s": seen}


def landing(base: Path, exit_code: int | None) -> dict[str, Any]:
    """Where a kill landed, judged from what the run left behind."""
    run = base / "run"
    out: dict[str, Any] = {"exit_before_kill": exit_code}
    if exit_code is not None:
        out["phase"] = f"after the run exited ({exit_code})"
        return out
    if not run.exists():
        out["phase"] = "before the run folder (imports, data loading)"
        return out
    files = sorted(p.name for p in run.iterdir())
    out["files"] = files
    log = run / "train.log"
    if log.is_file():
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip() and " accelerate." not in line]  # accelerate's per-file checkpoint lines
        if lines:
            out["last_log"] = lines[-1].split(" ", 1)[-1][:160]  # without the clock
    state_file = run / "checkpoint" / "trainer_state.json"
    state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else None
    if state is not None:
        out["checkpoint"] = {k: state[k] for k in ("epoch", "batch_in_epoch", "global_step")}
    epochs = json.loads((run / "config.json").read_text(encoding="utf-8"))["epochs"] \
        if (run / "config.json").is_file() else None
    subs = sorted(p.name for p in (base / "sub").rglob("*") if p.is_file()) if (base / "sub").exists() else []
    if "checkpoint.old" in files and "checkpoint" not in files:
        out["checkpoint_aside"] = True  # killed between the two renames of a checkpoint swap
    if subs:
        phase = "after the submission was written"
    elif "checkpoint.tmp" in files or "checkpoint.old" in files:
        phase = "writing or swapping a checkpoint"
    elif "train.log" not in files:
        phase = "setup (config, vocabulary, model build)"
    elif state is None:
        phase = "training, before the first checkpoint"
    elif epochs is not None and state["epoch"] < epochs:
        phase = f"training, epoch {state['epoch'] + 1} (after step {state['global_step']})"
    else:
        phase = "evaluation / prediction after the last epoch"
    out["phase"] = phase
    return out


def finish(task: str, base: Path, data: Path | None, attempts: int = 2) -> dict[str, Any]:
    """Rerun a killed run the documented way until it exits 0 (at most ``attempts`` times)."""
    args = module_args(task, base, data)
    tries = []
    for _ in range(attempts):
        resume = (base / "run").exists()
        cmd = args + ["--resume", "true"] if resume else args
        proc = subprocess.run(_command(cmd), cwd=REPO_ROOT, env=environment(), capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
        with (base / "output.txt").open("a", encoding="utf-8") as out:
            out.write(f"\n===== rerun ({'--resume true' if resume else 'plain'}): exit {proc.returncode}\n"
                      + proc.stdout + proc.stderr)
        tries.append({"resume": resume, "exit": proc.returncode,
                      "from_scratch": resume and "training from the start" in proc.stderr,
                      "error": proc.stderr.strip().splitlines()[-1][:300] if proc.returncode else None})
        if proc.returncode == 0:
            break
    return {"reruns": tries, "finished": tries[-1]["exit"] == 0}


def _command(args: list[str]) -> list[str]:
    from tests.distributed import command

    return command(args, 1)


# ------------------------------------------------------------ comparison
def comparable_metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json without what a resume may legitimately change (timings, a mid-epoch resume's train_loss)."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))

    def record(r: dict) -> dict:
        r = {k: v for k, v in r.items() if k not in TIMING and k != "train_loss_from_batch"}
        return r

    return {"best_metric": metrics["best_metric"], "best_epoch": metrics["best_epoch"],
            "metric_name": metrics.get("metric_name"), "global_step": metrics.get("global_step"),
            "history": [record(r) for r in metrics["history"]], "best": record(metrics.get("best") or {}),
            "partial": sorted(r["epoch"] for r in metrics["history"] if "train_loss_from_batch" in r)}


def submissions(base: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``base/sub``."""
    sub = base / "sub"
    return {str(p.relative_to(sub)): p.read_bytes() for p in sorted(sub.rglob("*")) if p.is_file()}


def compare(reference: Path, base: Path) -> list[str]:
    """What differs between two finished runs (empty: identical results)."""
    diffs = []
    ref, got = comparable_metrics(reference / "run"), comparable_metrics(base / "run")
    partial = set(got.pop("partial")) | set(ref.pop("partial"))
    for side in (ref, got):  # an epoch resumed mid-way averages only its later batches (marked)
        for r in side["history"] + [side["best"]]:
            if r.get("epoch") in partial:
                r.pop("train_loss", None)
    for key in ref:
        if key == "history":
            if len(ref[key]) != len(got[key]):
                diffs.append(f"history: {len(got[key])} epochs, reference {len(ref[key])}")
            for a, b in zip(ref[key], got[key]):
                for k in sorted(set(a) | set(b)):
                    if a.get(k) != b.get(k):
                        diffs.append(f"epoch {a.get('epoch')} {k}: {b.get(k)!r} != reference {a.get(k)!r}")
        elif key != "best" and ref[key] != got[key]:
            diffs.append(f"{key}: {got[key]!r} != reference {ref[key]!r}")
    ref_subs, got_subs = submissions(reference), submissions(base)
    if sorted(ref_subs) != sorted(got_subs):
        diffs.append(f"submission files {sorted(got_subs)} != reference {sorted(ref_subs)}")
    for name in sorted(set(ref_subs) & set(got_subs)):
        if ref_subs[name] != got_subs[name]:
            diffs.append(f"submission {name}: bytes differ")
    return diffs


# -------------------------------------------------------------- the bench
def kill_moment(rng: random.Random, reference: dict[str, Any], window: str) -> tuple[str, float]:
    """``(anchor, seconds after it)``: anchor ``start`` (the process start) or ``run_dir`` (its appearance).

    ``run``: uniform from the reference's run folder appearing to its submission being
    written, plus 10 % (after that the process only shuts down). ``wall``: uniform over
    the reference's whole wall time.
    """
    wall, dir_s, sub_s = reference["wall_s"], reference["run_dir_s"], reference["submission_s"]
    if window == "run":
        return "run_dir", rng.uniform(0.0, 1.1 * (sub_s - dir_s))
    if window != "wall":
        raise ValueError(f"window must be run or wall, got {window!r}")
    u = rng.uniform(0.0, wall)
    return ("start", u) if u < dir_s else ("run_dir", u - dir_s)


def kill_and_resume(task: str, base: Path, data: Path | None, anchor: str, offset: float,
                    reference: Path) -> dict[str, Any]:
    """One trial: start, SIGKILL at ``offset`` s after ``anchor``, finish the run, compare with ``reference``."""
    t0 = time.time()
    proc = _start(module_args(task, base, data), base / "output.txt")
    t_anchor = t0
    if anchor == "run_dir":
        seen = _wait_for(base / "run", proc, t0)
        t_anchor = t0 + seen if seen is not None else time.time()
    while proc.poll() is None and time.time() < t_anchor + offset:
        time.sleep(POLL_S)
    exit_code = proc.poll()
    killed_at = time.time() - t0
    kill_group(proc)
    out = {"anchor": anchor, "offset_s": round(offset, 3), "killed_at_s": round(killed_at, 3),
           **landing(base, exit_code)}
    out.update(finish(task, base, data))
    out["diffs"] = compare(reference, base) if out["finished"] else ["the rerun did not finish"]
    out["match"] = not out["diffs"]
    return out


def run_task(task: str, kills: int, seed: int, work: Path, window: str = "run",
             keep: bool = False, log=print) -> dict[str, Any]:
    """Reference run plus ``kills`` kill-and-resume trials of ``task`` under ``work/task``."""
    root = work / task
    data = tiny_sohu_tree(root / "data", SOHU_ROWS) if task == "sohu" else None
    ref_base = root / "reference"
    reference = run_reference(task, ref_base, data)
    log(f"{task}: reference {reference['wall_s']:.1f} s, files first seen at (s) {reference['landmarks_s']}")
    rng = random.Random(f"{seed}-{task}")
    trials = []
    for k in range(kills):
        anchor, offset = kill_moment(rng, reference, window)
        base = root / f"kill{k:02d}"
        trial = {"kill": k, **kill_and_resume(task, base, data, anchor, offset, ref_base)}
        trials.append(trial)
        log(f"{task} kill {k}: +{offset:.2f} s after {anchor} -> {trial['phase']}"
            f"{' | ' + trial['last_log'][:70] if trial.get('last_log') else ''} -> "
            f"{'match' if trial['match'] else 'DIFFERS: ' + '; '.join(trial['diffs'][:3])}")
        if trial["match"] and not keep:
            shutil.rmtree(base)
    return {"reference": reference, "kills": trials, "matches": sum(t["match"] for t in trials)}


def table(results: dict[str, dict]) -> str:
    """A markdown table per task: kills, resumed runs equal to the uninterrupted reference, where the kills landed."""
    rows = ["| task | kills | matches | where the kills landed |", "|---|---|---|---|"]
    for task, res in results.items():
        phases: dict[str, int] = {}
        for t in res["kills"]:
            phases[t["phase"]] = phases.get(t["phase"], 0) + 1
        where = "; ".join(f"{n} {p}" for p, n in sorted(phases.items(), key=lambda x: -x[1]))
        rows.append(f"| {task} | {len(res['kills'])} | {res['matches']} | {where} |")
    total = sum(len(r["kills"]) for r in results.values())
    rows.append(f"| all | {total} | {sum(r['matches'] for r in results.values())} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=10, help="kills per task")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", choices=("run", "wall"), default="run")
    parser.add_argument("--work", default="", help="work folder (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep matching trials' folders too")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="kill_resume_") as tmp:
        work = Path(args.work or tmp)
        results = {task: run_task(task, args.kills, args.seed, work, args.window, args.keep) for task in tasks}
        kept = [str(work / t / f"kill{r['kill']:02d}") for t in tasks for r in results[t]["kills"] if not r["match"]]
        if kept and not args.work:  # mismatches are evidence: move them out of the temporary folder
            dest = Path(tempfile.mkdtemp(prefix="kill_resume_mismatch_"))
            for path in kept:
                shutil.copytree(path, dest / Path(path).parent.name / Path(path).name)
            print(f"mismatching trials copied to {dest}")
    print(table(results))
    summary = {t: {"kills": len(r["kills"]), "matches": r["matches"]} for t, r in results.items()}
    write_json_atomic(args.out, {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m bench.kill_resume " + " ".join(argv if argv is not None else sys.argv[1:]),
        "seed": args.seed, "window": args.window, "machine": platform.platform(),
        "wall_minutes": round((time.time() - started) / 60, 1), "summary": summary, "tasks": results})
    print(json.dumps({"summary": summary, "results": str(args.out)}, ensure_ascii=False))
    return 0 if all(s["kills"] == s["matches"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
