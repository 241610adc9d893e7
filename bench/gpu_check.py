"""What to check on a CUDA machine before trusting it with a long run: each path a competitor takes there, tiny.

    make gpu-check [ARGS="--bert-base-steps 0"]
    python -m bench.gpu_check [--sohu-data DIR] [--work DIR] [--bert-base-steps 8] [--out FILE]
    python -m bench.gpu_check --make-sohu-data cache/gpu_check/sohu     # the tiny Sohu tree, to carry elsewhere

Every check runs a shared command as a user does (a subprocess, ``python -m ...``), with the
device accelerate picks (CUDA when there is one; nothing forces the CPU), on tiny data
(``tests/fixtures``), so the whole script takes a few minutes on one GPU:

- ``xiaobu-<precision>``: train and predict at ``--mixed-precision no``, ``bf16`` and (CUDA only)
  ``fp16``; the run's log must name the device, its best score be finite, its submission whole.
- ``cpu-parity``: the fp32 run's test rows predicted again on the CPU (``ACCELERATE_USE_CPU``):
  the largest difference from the device's probabilities (at most ``PARITY_ATOL``).
- ``sigint-resume``: Ctrl-C once the first checkpoint is written, then ``--resume true``: the
  checkpoint (device RNG states included) loads on the device and the run finishes.
- ``export``: ONNX export of the fp32 run, with the exporter's own parity check against PyTorch.
- ``ner-bf16``: NER (a small BERT + Efficient GlobalPointer) on the BIO fixtures, under bf16.
- ``sohu-bf16``: Sohu's Conditional LayerNorm model, under bf16, on ``--sohu-data`` (a tiny tree
  made by ``--make-sohu-data``; by default made in the work folder from ``data/sohu2021`` when that
  is there, else the check is left out).
- ``two-processes`` (two or more GPUs): the Xiaobu run under ``accelerate launch --multi_gpu
  --num_processes 2`` at half the per-process batch, against the 1-process fp32 run.
- ``bert-base-step`` (``--bert-base-steps`` > 0): :mod:`bench.sohu_step` on a random-init
  bert-base (bf16 where the GPU has it), the shared trainer's seconds per step against a bare
  PyTorch loop's.

On a machine without CUDA the same checks run on the CPU (no fp16, no two-process check), which
is how the script itself is tested. Prints a table, writes ``--out`` (default
``bench/results/gpu_check.json``) and exits 1 when a check failed.

On the lent GPU machine of this workplace, whose image lacks gensim and pytorch-crf, carry their
wheels (``/work/.library/device/README.md``) and the tiny Sohu tree:
``--sohu-data cache/gpu_check/sohu`` with ``carry`` naming ``cache/gpu_check`` and ``.whl``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from common.io import write_json_atomic  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "gpu_check.json"
XIAOBU = REPO_ROOT / "tests" / "fixtures" / "xiaobu"
NER_BIO = REPO_ROOT / "tests" / "fixtures" / "ner_bio"
PARITY_ATOL = 1e-3  # fp32 on a GPU (TF32 off by default for matmuls) against the CPU, probabilities
TINY_ENCODER = ["--hidden-size", "32", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64"]
XIAOBU_FLAGS = [*TINY_ENCODER, "--batch-size", "16", "--epochs", "2", "--data-dir", str(XIAOBU),
                "--train-file", "train.tsv", "--test-file", "test.tsv", "--valid-fraction", "0.25",
                "--max-train-minutes", "0", "--seed", "1"]
TIMEOUT_S = 600
SOHU_ROWS = {"train": 96, "valid": 64, "test_with_id": 20}


def environment(cpu: bool = False) -> dict[str, str]:
    """The commands' environment: the repo importable, the device accelerate picks (``cpu``: the CPU)."""
    env = {k: v for k, v in os.environ.items() if k != "ACCELERATE_USE_CPU"}
    env.update({"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])),
                "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"})
    if cpu:
        env["ACCELERATE_USE_CPU"] = "true"
    return env


def run_module(args: list[str], cpu: bool = False, launcher: list[str] | None = None) -> dict[str, Any]:
    """``python -m <args>`` (or ``launcher + args``): exit code, seconds, the last JSON line, the output's tail."""
    t0 = time.time()
    cmd = (launcher or [sys.executable, "-m"]) + args
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=environment(cpu), capture_output=True, text=True, timeout=TIMEOUT_S)
    result = None
    for line in reversed(out.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
    return {"rc": out.returncode, "seconds": round(time.time() - t0, 1), "result": result,
            "tail": (out.stderr or out.stdout)[-1500:] if out.returncode else ""}


def logged_device(run_dir: Path) -> str:
    """The device and precision the trainer logged (``device cuda:0, mixed precision bf16``), or ''."""
    log = run_dir / "train.log"
    if not log.is_file():
        return ""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if "| device " in line:
            return line.rsplit("| device ", 1)[1].strip()
    return ""


def check_run(name: str, run_dir: Path, ran: dict[str, Any], device: str, rows: int | None = None) -> dict[str, Any]:
    """A train command's row: it exited 0, logged ``device``, scored a finite best metric, wrote ``rows`` lines."""
    row = {"check": name, "seconds": ran["seconds"], "ok": ran["rc"] == 0}
    if not row["ok"]:
        return {**row, "detail": f"exit {ran['rc']}: {ran['tail']}"}
    logged = logged_device(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    best = metrics.get("best_metric")
    submission = Path((ran["result"] or {}).get("submission", ""))
    problems = []
    if not logged.startswith(device):
        problems.append(f"trained on {logged or '?'}, not {device}")
    if not (isinstance(best, (int, float)) and math.isfinite(best)):
        problems.append(f"best metric {best!r}")
    lines = len(submission.read_text(encoding="utf-8").splitlines()) if submission.is_file() else None
    if rows is not None and lines != rows:
        problems.append(f"submission {submission} does not hold {rows} lines")
    return {**row, "ok": not problems, "metric": best, "device": logged,
            "detail": "; ".join(problems) or f"best {metrics.get('metric_name', 'metric')} {best:.4f}"}


def xiaobu_run(work: Path, name: str, precision: str, extra: list[str] = (), launcher: list[str] | None = None,
               ) -> tuple[Path, dict[str, Any]]:
    """``(run folder, :func:`run_module`'s result)`` of the tiny Xiaobu train command at ``precision``
    (``no`` / ``bf16`` / ``fp16``) into ``work/<name>``, with ``extra`` flags, under ``launcher`` if given."""
    run = work / name
    args = ["common.commands.train", "--task", "xiaobu", *XIAOBU_FLAGS, "--mixed-precision", precision,
            "--run-dir", str(run), "--submission-dir", str(work / f"{name}-sub"), *extra]
    return run, run_module(args, launcher=launcher)


def test_rows() -> int:
    """Lines of the Xiaobu fixture's test file: the rows every submission must hold."""
    return len([line for line in (XIAOBU / "test.tsv").read_text(encoding="utf-8").splitlines() if line.strip()])


def probabilities(path: Path) -> Any:
    """(T,) float64 test probabilities of a ``probabilities.npz``
    (:func:`common.commands.predict.save_probabilities`)."""
    import numpy as np

    with np.load(path) as saved:
        return np.asarray(saved["test_probs"], dtype=np.float64)


def cpu_parity(work: Path, run: Path) -> dict[str, Any]:
    """The fp32 run's test rows predicted on the CPU against the device's (the run's probabilities.npz)."""
    import numpy as np

    ran = run_module(["common.commands.predict", "--task", "xiaobu", "--run", str(run), "--test-file",
                      str(XIAOBU / "test.tsv"), "--submission-dir", str(work / "cpu-parity")], cpu=True)
    row = {"check": "cpu-parity", "seconds": ran["seconds"], "ok": ran["rc"] == 0}
    if not row["ok"]:
        return {**row, "detail": f"exit {ran['rc']}: {ran['tail']}"}
    cpu = probabilities(Path(ran["result"]["submission"]).with_suffix(".probabilities.npz"))
    device = probabilities(run / "probabilities.npz")
    diff = float(np.max(np.abs(cpu - device)))
    return {**row, "ok": diff <= PARITY_ATOL, "max_abs_diff": diff,
            "detail": f"max |P_device - P_cpu| {diff:.2e} (at most {PARITY_ATOL:g})"}


def sigint_resume(work: Path, device: str) -> dict[str, Any]:
    """Ctrl-C after the first checkpoint, then ``--resume true`` with a spent budget (loads, trains nothing more)."""
    run = work / "sigint"
    args = [sys.executable, "-m", "common.commands.train", "--task", "xiaobu", *XIAOBU_FLAGS, "--run-dir", str(run),
            "--submission-dir", str(work / "sigint-sub")]
    args[args.index("--epochs") + 1] = "400"
    t0 = time.time()
    proc = subprocess.Popen(args, cwd=REPO_ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a
    # terminal: a check started in the background (nohup ... &) would hand its run SIGINT ignored
    try:
        while not (run / "checkpoint").is_dir() and proc.poll() is None and time.time() - t0 < TIMEOUT_S:
            time.sleep(0.1)
        if proc.poll() is not None:
            return {"check": "sigint-resume", "ok": False, "seconds": round(time.time() - t0, 1),
                    "detail": f"exited {proc.returncode} before its first checkpoint: {proc.communicate()[1][-1500:]}"}
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    if proc.returncode != 130:
        return {"check": "sigint-resume", "ok": False, "seconds": round(time.time() - t0, 1),
                "detail": f"Ctrl-C: exit {proc.returncode}, expected 130: {err[-1500:]}"}
    args[args.index("--max-train-minutes") + 1] = "0.001"
    ran = run_module(args[2:] + ["--resume", "true"])
    row = check_run("sigint-resume", run, ran, device, rows=test_rows())
    return {**row, "seconds": round(time.time() - t0, 1)}


def export(run: Path, work: Path) -> dict[str, Any]:
    """ONNX export of ``run`` into ``work/export``; the exporter checks ONNX Runtime against PyTorch itself."""
    ran = run_module(["common.export", "--run", str(run), "--output", str(work / "export")])
    detail = json.dumps(ran["result"])[:300] if ran["rc"] == 0 else f"exit {ran['rc']}: {ran['tail']}"
    return {"check": "export", "seconds": ran["seconds"], "ok": ran["rc"] == 0, "detail": detail}


def ner(work: Path, device: str) -> dict[str, Any]:
    """NER (small BERT + Efficient GlobalPointer) on the BIO fixtures under bf16: :func:`check_run`'s row."""
    run = work / "ner"
    args = ["competitions.ner.train", "--format", "bio", "--data-dir", str(NER_BIO), "--train-file", "train.txt",
            "--dev-file", "dev.txt", "--test-file", "test.txt", "--run-dir", str(run), "--submission-dir",
            str(work / "ner-sub"), "--encoder-type", "bert", *TINY_ENCODER, "--epochs", "2", "--batch-size", "4",
            "--w2v-init", "false",
            "--max-train-minutes", "0", "--mixed-precision", "bf16", "--seed", "1"]
    return check_run("ner-bf16", run, run_module(args), device)


def sohu(work: Path, data: Path, device: str) -> dict[str, Any]:
    """Sohu's Conditional LayerNorm model on the tiny tree ``data`` under bf16: :func:`check_run`'s row."""
    run = work / "sohu"
    args = ["common.commands.train", "--task", "sohu", "--data-dir", str(data), "--max-length", "48",
            "--blend-with", "", *TINY_ENCODER, "--batch-size", "16", "--epochs", "1", "--mixed-precision", "bf16",
            "--run-dir", str(run), "--submission-dir", str(work / "sohu-sub"), "--seed", "1"]
    return check_run("sohu-bf16", run, run_module(args), device)


def two_processes(work: Path, single: Path, device: str) -> dict[str, Any]:
    """2 GPUs at per-process batch 8 against 1 at 16: the same effective batch, so near-equal probabilities."""
    import numpy as np

    launcher = [str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m"]
    run, ran = xiaobu_run(work, "two-processes", "no", ["--batch-size", "8"], launcher=launcher)
    row = check_run("two-processes", run, ran, device, rows=test_rows())
    if not row["ok"]:
        return row
    diff = float(np.max(np.abs(probabilities(run / "probabilities.npz") - probabilities(single / "probabilities.npz"))))
    return {**row, "ok": diff <= PARITY_ATOL, "max_abs_diff": diff,
            "detail": f"{row['detail']}; max |P_2 - P_1| {diff:.2e} (at most {PARITY_ATOL:g})"}


def bert_base_step(work: Path, steps: int, precision: str) -> dict[str, Any]:
    """:mod:`bench.sohu_step` at ``precision`` (its record copied into this check's row)."""
    out = work / "sohu_step.json"
    ran = run_module(["bench.sohu_step", "--steps", str(steps), "--mixed-precision", precision, "--out", str(out)])
    row = {"check": "bert-base-step", "seconds": ran["seconds"], "ok": ran["rc"] == 0}
    if not row["ok"]:
        return {**row, "detail": f"exit {ran['rc']}: {ran['tail']}"}
    result = json.loads(out.read_text(encoding="utf-8"))
    return {**row, "result": result, "detail": json.dumps(result)[:200]}


def make_sohu_data(out: Path) -> Path:
    """The tiny Sohu tree (short-short A and B, :data:`SOHU_ROWS`) from ``data/sohu2021``, to carry to a GPU machine."""
    from tests.test_distributed import tiny_sohu_tree

    return tiny_sohu_tree(out, SOHU_ROWS)


WORK_MARK = ".gpu_check"


def prepare_work(work: Path) -> Path:
    """An empty ``work`` folder: made, or emptied when an earlier check made it (its runs would be refused as
    trained, its Sohu tree exist).

    Raises:
        FileExistsError: ``work`` holds anything else.
    """
    if work.is_dir() and any(work.iterdir()):
        if not (work / WORK_MARK).is_file():
            raise FileExistsError(f"--work {work} is not empty and not an earlier gpu_check's: give a new folder")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / WORK_MARK).write_text("made by bench.gpu_check; emptied by its next run\n", encoding="utf-8")
    return work


def device_info() -> dict[str, Any]:
    """The device the checks run on: torch and CUDA versions, GPU names, bf16 support, Python, host name."""
    import torch

    cuda = torch.cuda.is_available()
    return {"device": "cuda:0" if cuda else "cpu", "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
            "bf16": bool(cuda and torch.cuda.is_bf16_supported()), "python": platform.python_version(),
            "machine": platform.node()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sohu-data", default="", help="a tiny Sohu tree (--make-sohu-data); default: made from "
                                                        "data/sohu2021 when there, else no Sohu check")
    parser.add_argument("--make-sohu-data", default="",
                        help="write the tiny Sohu tree here from data/sohu2021 and stop")
    parser.add_argument("--work", default="", help="where the runs go (default: a temporary folder, removed)")
    parser.add_argument("--bert-base-steps", type=int, default=8, help="bench.sohu_step's steps; 0: skip it")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.make_sohu_data:
        print(json.dumps({"sohu_data": str(make_sohu_data(Path(args.make_sohu_data)))}))
        return {}
    info = device_info()
    device = "cuda" if info["gpus"] else "cpu"
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        work = prepare_work(Path(args.work or tmp))
        rows: list[dict[str, Any]] = []
        skipped = {name: why for name, why in (
            ("xiaobu-fp16", "no CUDA device" if device != "cuda" else ""),
            ("two-processes", "fewer than 2 GPUs" if len(info["gpus"]) < 2 else ""),
            ("bert-base-step", "--bert-base-steps 0" if args.bert_base_steps <= 0 else "")) if why}

        def add(row: dict[str, Any]) -> None:
            rows.append(row)
            print(f"{row['check']:<16} {'ok' if row['ok'] else 'FAILED':<7} {row['seconds']:>7.1f} s  "
                  f"{row.get('detail', '')[:200]}", flush=True)

        single = None
        for precision in ["no", "bf16"] + (["fp16"] if device == "cuda" else []):
            run, ran = xiaobu_run(work, f"xiaobu-{precision}", precision)
            add(check_run(f"xiaobu-{precision}", run, ran, device, rows=test_rows()))
            if precision == "no" and rows[-1]["ok"]:
                single = run
        checks: list[tuple[str, Callable[[], dict[str, Any]]]] = []
        if single is not None:
            checks += [("cpu-parity", lambda: cpu_parity(work, single)), ("export", lambda: export(single, work))]
            if len(info["gpus"]) >= 2:
                checks.append(("two-processes", lambda: two_processes(work, single, device)))
        checks += [("sigint-resume", lambda: sigint_resume(work, device)), ("ner-bf16", lambda: ner(work, device))]
        sohu_data = Path(args.sohu_data) if args.sohu_data else None
        if sohu_data is None and (REPO_ROOT / "data" / "sohu2021").is_dir():
            sohu_data = make_sohu_data(work / "sohu-data")
        if sohu_data is not None:
            checks.append(("sohu-bf16", lambda: sohu(work, sohu_data, device)))
        if args.bert_base_steps > 0:
            precision = "bf16" if info["bf16"] else "no"
            checks.append(("bert-base-step", lambda: bert_base_step(work, args.bert_base_steps, precision)))
        for name, check in checks:
            t0 = time.time()
            try:
                add(check())
            except Exception as err:  # one broken check does not hide the others' results
                add({"check": name, "ok": False, "seconds": round(time.time() - t0, 1),
                     "detail": f"{type(err).__name__}: {err}"})
    for name, why in skipped.items():
        print(f"{name:<16} skipped  ({why})")
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **info,
              "checks": rows, "skipped": skipped, "ok": all(r["ok"] for r in rows)}
    write_json_atomic(Path(args.out), report)
    print(json.dumps({"ok": report["ok"], "failed": [r["check"] for r in rows if not r["ok"]], "out": args.out}))
    return report


if __name__ == "__main__":
    sys.exit(0 if main().get("ok", True) else 1)
