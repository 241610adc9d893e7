"""Run folders: ``runs/<task>/<run name>/`` holding config, log, metrics and checkpoint; the process state."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

from common.config import save_config_json


def process_state():
    """accelerate's ``PartialState`` (this process's rank, the process group), CPU launches included.

    A bare ``PartialState()`` ignores ``ACCELERATE_USE_CPU``: on a machine without GPU,
    under ``ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2``, it
    sets up a one-process state in each process (both "main", both writing every file),
    and since the state is shared, every later ``Accelerator`` inherits it. Whichever
    of the two is created first decides, so the commands ask here.
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def broadcast_from_main(value: Any) -> Any:
    """The main process's ``value`` on every process (pickled); one process: ``value`` itself.

    A collective under several processes: every process must call it, in the same order.
    """
    if process_state().num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


LOCK_FILE = "training.lock"  # {"pid", "host", "since", "started", "boot"} of the process training in a run folder


class RunLocked(FileExistsError):
    """Another live process is training in the run folder (:func:`training_lock`)."""


_HELD: set[Path] = set()  # the lock files this process holds (on every process of a launch alike)


@contextlib.contextmanager
def training_lock(folder: str | Path) -> Iterator[None]:
    """Hold ``folder``'s :data:`LOCK_FILE` while training there: a second command on the same run folder (a resume
    started while the first still trains, or a launcher killed while its workers train on) is refused at once, not
    left to race the first on its checkpoint. The main process takes the lock (created exclusively) and removes it
    on exit; a lock whose process is gone (killed: SIGKILL leaves it) is taken over, so a crashed run resumes: also
    when its pid now names another process (the lock records the holder's start time and the host's boot id, and a
    process of another start time, or any process after a reboot, is not the holder; containers reuse small pids). A
    collective under several processes (every process learns the main process's answer). Re-entrant: inside a
    hold of the same folder (a command's, then its trainer's) it does nothing.

    Raises:
        RunLocked: (every process) a live process on this host holds it, or a process on another host does
            (shared storage: its liveness cannot be checked here; the message says to remove the file if it is gone).
    """
    import socket

    path = (Path(folder) / LOCK_FILE).resolve()
    if path in _HELD:
        yield
        return
    mine = {**this_process(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    error, held = None, False
    if process_state().is_main_process:
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                with open(path, "x", encoding="utf-8") as f:
                    json.dump(mine, f)
                held = True
                break
            except FileExistsError:
                try:
                    other = json.loads(path.read_text(encoding="utf-8"))
                    if not isinstance(other, dict) or not isinstance(other.get("pid", 0), int):
                        raise ValueError("not a lock's content")
                except (OSError, ValueError):  # being written this instant, gone again, left empty by a kill, garbled
                    try:
                        if time.time() - path.stat().st_mtime > 10:  # not being written: a killed writer's
                            path.unlink(missing_ok=True)
                    except OSError:
                        pass
                    time.sleep(0.1)
                    continue
                if other.get("host") == mine["host"] and (other.get("pid") == mine["pid"] or not process_alive(
                        int(other.get("pid", 0)), other.get("started"), other.get("boot"))):
                    path.unlink(missing_ok=True)  # a killed run's (or this process's own leftover): taken over
                    continue
                where = "" if other.get("host") == mine["host"] else f" on {other.get('host')}"
                error = (f"{folder} is being trained by process {other.get('pid')}{where} since {other.get('since')}: "
                         f"wait for it or stop it (if it is gone, remove {path})")
                break
        else:
            error = f"{path}: could not take the training lock; remove it if no process trains there"
    error = broadcast_from_main(error)
    if error:
        raise RunLocked(error)
    _HELD.add(path)
    try:
        yield
    finally:
        _HELD.discard(path)
        if held:
            path.unlink(missing_ok=True)


def _start_time(pid: int) -> int | None:
    """Process ``pid``'s start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), None where unknown."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _boot_id() -> str | None:
    """This boot's id (Linux ``/proc/sys/kernel/random/boot_id``), None where unknown."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def this_process() -> dict[str, Any]:
    """This process's ``pid``, ``started`` (:func:`_start_time`) and ``boot`` (:func:`_boot_id`): what
    :func:`process_alive` needs to tell it from a later process given the same pid."""
    return {"pid": os.getpid(), "started": _start_time(os.getpid()), "boot": _boot_id()}


def process_alive(pid: int, started: int | None = None, boot: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (a zombie counts as gone) and is the one that recorded ``started``
    (its start time, :func:`_start_time`) in the boot ``boot``: a pid reused by another process, or any pid after a
    reboot, is gone. A lock without them (written before they were recorded) is judged by the pid alone."""
    if pid <= 0:
        return False
    if boot is not None and _boot_id() not in (None, boot):
        return False
    if started is not None and _start_time(pid) not in (None, started):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def write_text_once(path: str | Path, text: str, timeout: float = 600.0) -> Path:
    """Write ``text`` to ``path`` (atomically) from the main process; every process returns once it is there.

    For files every process computes alike and then reads (a vocabulary built from
    the data): one writer, and no process reads a file that is not complete. The other
    processes wait until ``path`` holds ``text`` (polling, no collective, so callers
    may also run it on the main process alone). One process: a plain atomic write.

    Raises:
        TimeoutError: a non-main process waited ``timeout`` seconds.
    """
    from common.io import write_text_atomic

    path = Path(path)
    if process_state().is_main_process:
        return write_text_atomic(path, text)
    deadline = time.time() + timeout
    while not (path.is_file() and path.read_text(encoding="utf-8") == text):
        if time.time() > deadline:
            raise TimeoutError(f"{path}: the main process had not written it after {timeout:.0f} s")
        time.sleep(0.05)
    return path


def _timestamp_name() -> str:
    """``YYYYmmdd-HHMMSS`` decided by the main process and broadcast, so every rank names the same folder."""
    return broadcast_from_main(time.strftime("%Y%m%d-%H%M%S"))


# Options that may change when a run is resumed: where things go and how often it logs.
RESUME_FREE = {"resume", "run_dir", "run_name", "log_every_steps", "eval_batch_size", "checkpoint_every_steps",
               "max_train_minutes", "submission_dir", "blend_with", "report_to"}


def changed_values(saved: dict[str, Any], now: dict[str, Any],
                   free: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """``"name old -> new"`` for every key of ``now`` whose value differs from ``saved``'s, in key order, except
    ``free`` and keys ``saved`` does not hold (options added since it was written). Two spellings of one path
    (``models/bert`` and ``./models/bert/``, or a relative and an absolute path to one existing file or folder)
    are the same value."""
    return [f"{k} {saved[k]!r} -> {now[k]!r}" for k in sorted(now)
            if k in saved and k not in free and saved[k] != now[k] and not same_path(saved[k], now[k])]


def same_path(a: Any, b: Any) -> bool:
    """Whether the strings ``a`` and ``b`` spell one path: equal once normalised (``./x/`` is ``x``), or both
    existing and resolving to one place. Anything else (an empty string, a number) is not a path here."""
    if not (isinstance(a, str) and isinstance(b, str) and a and b):
        return False
    if os.path.normpath(a) == os.path.normpath(b):
        return True
    return Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve()


def changed_options(config: Any, path: Path, free: frozenset[str] | set[str] = RESUME_FREE) -> list[str]:
    """:func:`changed_values` of ``config`` against the saved ``path`` (a config.json), where an option the file does
    not hold has the value :data:`common.config.VALUE_WHEN_ABSENT` names, if any."""
    import dataclasses

    from common.config import VALUE_WHEN_ABSENT

    saved = VALUE_WHEN_ABSENT | json.loads(path.read_text(encoding="utf-8"))
    return changed_values(saved, dataclasses.asdict(config), free)


def check_resume_config(config: Any, run_dir: Path) -> None:
    """Refuse ``--resume true`` with options other than those the run was started with.

    Raises:
        ValueError: naming every changed option (old -> new), except :data:`RESUME_FREE`.
    """
    path = Path(run_dir) / "config.json"
    if not getattr(config, "resume", False) or not path.is_file():
        return
    changed = changed_options(config, path)
    if changed:
        raise ValueError(f"--resume true: {path} was started with other options ({'; '.join(changed)}); resume "
                         "with the same options, or start another --run-name")
    check_checkpoint_processes(Path(run_dir) / "checkpoint")
    starts = recorded_starts(run_dir)
    started = starts[0].get("model_weights") if starts else None
    if started and model_weights(config) != started:
        raise ValueError(f"--resume true: --model {config.model} holds other weights than when {run_dir} started "
                         "(it was rebuilt since): the run would go on from a start its checkpoint did not have; "
                         "start another --run-name")


def recorded_starts(run_dir: Path) -> list[dict]:
    """The entries of ``run_dir/environment.json`` (:func:`record_environment`), oldest first; [] where there is
    none or it is unreadable."""
    try:
        starts = json.loads((Path(run_dir) / ENVIRONMENT_FILE).read_text(encoding="utf-8"))["starts"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [s for s in starts if isinstance(s, dict)] if isinstance(starts, list) else []


def effective_batch(batch_size: Any, grad_accum_steps: Any, processes: Any) -> int | None:
    """Examples per optimizer step: ``batch_size`` (per process) x ``grad_accum_steps`` x ``processes``; None where
    one is not a positive whole number (a config without them, an environment.json without ``processes``)."""
    values = (batch_size, grad_accum_steps, processes)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        return None
    return batch_size * grad_accum_steps * processes


def check_checkpoint_processes(checkpoint: Path) -> None:
    """Refuse to resume ``checkpoint`` under another process count than wrote it (one ``random_states_<rank>.pkl``
    per process), before anything is written; the trainer checks it again when it loads the checkpoint.

    Raises:
        ValueError: naming both counts.
    """
    saved = len(list(Path(checkpoint).glob("random_states_*.pkl")))
    now = process_state().num_processes
    if saved and saved != now:
        raise ValueError(f"--resume: {checkpoint} was written by {saved} process{'es' * (saved > 1)}, this run has "
                         f"{now}: its batch position and learning-rate schedule belong to {saved}; resume with "
                         f"{saved} (or start a new run)")


def model_weights(config: Any) -> dict[str, str] | None:
    """``{file name: SHA-256 (16 hex digits)}`` of the weights files of a local ``--model`` folder (a run folder:
    its ``encoder/``), recorded at each start (:func:`save_config`) so that a resume notices a rebuilt start (a
    cache made again under a chained MLM run); None without ``--model`` or for a Hub name."""
    import hashlib

    model = getattr(config, "model", "") or ""
    if not model or not Path(model).is_dir():
        return None
    from common.encoder import model_folders

    folder = Path(model_folders(model)[0])
    out = {}
    for path in sorted([*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")]):
        with path.open("rb") as f:
            out[path.name] = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    return out or None


# A k-fold rerun may also run other folds now, and keep or drop the finished folds' checkpoints.
RERUN_FREE = RESUME_FREE | {"only_folds", "keep_fold_checkpoints"}


# how make names a k-fold run (probe AC: within the recipe, CV_RUN named in the hint changed nothing)
MAKE_RUN_NAMES = "make: CV_RUN=<name>; in <task>-recipe: RECIPE_RUN=<name>"


def same_product_advice(examples: int, processes: int, accumulation: int) -> str:
    """How to train ``examples`` a step at ``processes`` processes: ``--batch-size B`` at ``accumulation`` (or with
    accumulation 1), else the process counts that divide it (16 over 3 processes cannot be)."""
    if examples % (processes * accumulation) == 0:
        return f"--batch-size {examples // (processes * accumulation)} trains as many"
    if examples % processes == 0:
        return f"--batch-size {examples // processes} --grad-accum-steps 1 trains as many"
    counts = [n for n in range(1, examples + 1) if examples % n == 0 and n <= 64]
    return (f"no --batch-size trains {examples} a step over {processes} processes: run these folds at "
            f"{', '.join(map(str, counts))} process(es)")


def check_rerun_config(config: Any, run_dir: Path, done_file: str = "") -> None:
    """Refuse to continue a k-fold run folder with other options than it was started with.

    A k-fold rerun always resumes: finished folds are skipped, whatever options trained
    them. With other options the OOF and test predictions would mix models of two
    settings under a ``config.json`` that names only the new one. ``--data-dir`` may
    change in a run whose ``folds.json`` records its rows' digest (a moved or remounted data
    folder; another machine's ``--only-folds``): the digest then checks the content.

    Raises:
        ValueError: naming ``run_dir/config.json`` and every changed option (old -> new),
            except :data:`RERUN_FREE`.

    ``done_file``: the file that marks a fold finished (default :data:`common.cv.FOLD_PREDICTIONS`; NER's k-fold
    writes ``oof_spans.json``).
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return
    from common.cv import FOLD_PREDICTIONS, parse_only_folds

    done_file = done_file or FOLD_PREDICTIONS

    # an unfinished fold this invocation runs resumes from its checkpoint (another machine's folds are its own)
    folds = parse_only_folds(getattr(config, "only_folds", ""), getattr(config, "folds", 0))
    for k in folds:
        checkpoint = Path(run_dir) / f"fold{k}" / "checkpoint"
        if checkpoint.is_dir() and not (checkpoint.parent / done_file).is_file():
            check_checkpoint_processes(checkpoint)
    try:  # a run that records its rows' digest may read them from another folder: the digest checks the content
        moved = {"data_dir"} if json.loads((Path(run_dir) / "folds.json").read_text(encoding="utf-8")).get(
            "pool_digest") else set()
    except (OSError, ValueError, AttributeError):
        moved = set()
    free = RERUN_FREE | moved
    trains = not all((Path(run_dir) / f"fold{k}" / done_file).is_file() for k in folds)  # else it assembles
    starts, saved = recorded_starts(run_dir), json.loads(path.read_text(encoding="utf-8"))
    then = effective_batch(saved.get("batch_size"), saved.get("grad_accum_steps", 1),
                           starts[-1].get("processes") if starts else None)  # config.json is the last start's
    now = effective_batch(getattr(config, "batch_size", None), getattr(config, "grad_accum_steps", 1),
                          process_state().num_processes)
    if trains and then and now and then != now:  # n processes at batch b train as 1 at n*b; another: other models
        raise ValueError(f"{path}: this k-fold run's folds trained on {then} examples per optimizer step "
                         f"({starts[-1]['processes']} process(es) x --batch-size {saved['batch_size']} x "
                         f"--grad-accum-steps {saved.get('grad_accum_steps', 1)}), this run's would be {now} "
                         f"({process_state().num_processes} x {config.batch_size} x {config.grad_accum_steps}): "
                         f"{same_product_advice(then, process_state().num_processes, config.grad_accum_steps)}, "
                         "or start another --run-name")
    if not trains or (then and now):  # the same product (or nothing to train): --batch-size may follow the
        free = free | {"batch_size", "grad_accum_steps"}  # process count (another machine's folds)
    changed = changed_options(config, path, free)
    if changed:
        raise ValueError(f"{path}: this k-fold run was started with other options ({'; '.join(changed)}); rerun "
                         f"it with the same options to finish it, or start another --run-name ({MAKE_RUN_NAMES})")
    started = starts[0].get("model_weights") if starts else None
    if trains and started and model_weights(config) != started:
        raise ValueError(f"{path}: --model {config.model} holds other weights than when this k-fold run started "
                         "(it was rebuilt since): its finished folds were trained from another start; rebuild it "
                         f"as it was, or start another --run-name ({MAKE_RUN_NAMES})")


# metrics.json key of a folder holding a run's predictions under another inference setting
# (common.commands.predict.predict_run)
PREDICTED_FROM = "predicted_from"


def predicted_from(folder: Path) -> str | None:
    """The run a folder's predictions were made with, when it is an inference-setting folder of
    :func:`common.commands.predict.predict_run` (``metrics.json`` with :data:`PREDICTED_FROM`); None for any
    other folder."""
    try:
        metrics = json.loads((Path(folder) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(metrics[PREDICTED_FROM]) if isinstance(metrics, dict) and PREDICTED_FROM in metrics else None


# Files that only one kind of run folder holds (the kinds of common.report.run_kind), so a command never writes
# into another kind's folder. A single run's model.pt is refused by resolve_run_dir unless resumed.
KIND_MARKERS = {"k-fold": ("folds.json", "oof.npz", "cv_metrics.json", "fold0"),
                "ensemble": ("ensemble.json", "member.json"),
                "tune": ("study.db", "tune_summary.json", "best_params.toml", "trial0"),
                "shift": ("shift.json",),
                "single run": ("model.pt", "checkpoint")}
METRICS_KINDS = {"runs": "blend", PREDICTED_FROM: "inference setting", "args": "baseline", "history": "single run"}


def folder_kinds(run_dir: Path) -> set[str]:
    """The kinds of run whose own files ``run_dir`` holds (:data:`KIND_MARKERS`, and ``metrics.json``'s keys of a
    blend, an inference setting, a TF-IDF reference or a trained run); ``part of a k-fold`` / ``part of a tune`` for a
    folder inside one (a fold, a trial); empty for a new or half-written folder."""
    run_dir = Path(run_dir)
    found = {kind for kind, names in KIND_MARKERS.items() if any((run_dir / n).exists() for n in names)}
    for kind in ("k-fold", "tune"):  # its folds' and trials' folders belong to it, whatever they still hold
        if any((run_dir.parent / n).exists() for n in KIND_MARKERS[kind] if n not in ("fold0", "trial0")):
            found.add(f"part of a {kind} run")
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = None
    if isinstance(metrics, dict):
        found |= {kind for key, kind in METRICS_KINDS.items() if key in metrics}
    return found


def check_resume_named(config: Any) -> None:
    """Raises ValueError: ``--resume true`` without ``--run-name`` or ``--run-dir`` (a new timestamped run would
    start from scratch instead)."""
    if getattr(config, "resume", False) and not config.run_dir and not config.run_name:
        raise ValueError("--resume true continues a run: give its --run-name (or --run-dir); without one a new "
                         "timestamped run would start from scratch")


def check_folder_kind(run_dir: Path, kind: str) -> None:
    """Refuse to write a run of ``kind`` into a folder that holds another kind of run, or belongs to one.

    Raises:
        FileExistsError: naming what the folder holds (:func:`folder_kinds`).
    """
    other = sorted(folder_kinds(run_dir) - {kind})
    if other:
        raise FileExistsError(f"{run_dir} holds another kind of run ({', '.join(other)}), not a {kind}: give another "
                              "--run-name (or --run-dir)")


def check_run_name(name: str, flag: str = "--run-name", hint: str = " (--run-dir takes a path)") -> None:
    """Refuse a ``--run-name`` (or the run-name option ``flag``) that is not one folder name (``a/b``, ``..``): it
    named nested folders under ``runs/`` and the submission folder, or a folder outside them. An empty name passes
    (the commands then name the run). ``hint`` ends the message.

    Raises:
        ValueError: one line.
    """
    if name and ({"/", "\\"} & set(name) or name in (".", "..")):
        raise ValueError(f"{flag} {name!r}: one folder name, not a path{hint}")


def resolve_run_dir(config: Any, task: str, root: str | Path = "runs", kind: str = "single run") -> Path:
    """The run folder of ``config``: ``config.run_dir`` if set, else ``root/task/<run_name>``.

    ``run_name`` defaults to a timestamp (``YYYYmmdd-HHMMSS``); the resolved name is
    written back into the config so that config.json records it. ``kind`` is what the
    command makes (``single run``, ``k-fold``, ``tune``, ``shift``).

    Raises:
        FileExistsError: the folder holds another kind of run (:func:`folder_kinds`: a train
            run named like a k-fold run or an ensemble would overwrite its config.json), or a
            new (non-resumed) run would overwrite a folder holding a model.
        ValueError: a run name that is a path (:func:`check_run_name`); ``--resume true`` without a run name
            or folder to continue, or with other
            options than the run was started with (:func:`check_resume_config`), before anything
            in the folder is written.
    """
    check_resume_named(config)
    check_run_name(config.run_name)
    if not config.run_dir:
        config.run_name = config.run_name or _timestamp_name()
        config.run_dir = str(Path(root) / task / config.run_name)
    run_dir = Path(config.run_dir)
    config.run_name = config.run_name or run_dir.name
    check_folder_kind(run_dir, kind)
    check_resume_config(config, run_dir)
    if (run_dir / "model.pt").exists() and not getattr(config, "resume", False):
        raise FileExistsError(f"{run_dir} already holds a trained model: pass --resume true to continue "
                              "it, or another --run-name")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def save_config(config: Any, run_dir: Path) -> Path:
    """Write the resolved config as ``run_dir/config.json`` (atomically) and add this start's
    :func:`environment` to ``run_dir/environment.json`` (:func:`record_environment`)."""
    path = save_config_json(config, Path(run_dir) / "config.json")
    record_environment(run_dir, model_weights(config))
    return path


ENVIRONMENT_FILE = "environment.json"


def name_after_folder(config: Any, run_dir: str | Path) -> None:
    """Set ``config.run_name`` (what a run's submissions are named after) to ``run_dir``'s own name where the
    folder was copied or moved from where it trained (its ``config.run_dir`` is another folder), so that a copy
    never names, or overwrites, the original's submissions. A folder where it trained keeps its name (a fold
    ``fold0``: ``<run>-fold0``)."""
    saved = getattr(config, "run_dir", "") or ""
    if saved and Path(saved).resolve() != Path(run_dir).resolve():
        config.run_name, config.run_dir = Path(run_dir).name, str(run_dir)


def completed_epochs(history: list) -> int:
    """Whole epochs a trainer's ``metrics.json`` ``history`` records as finished: records marked complete (older
    ones lack the mark) at whole epochs (``--eval-every-steps`` adds records inside epochs)."""
    return sum(1 for h in history if isinstance(h, dict) and h.get("complete", True)
               and float(h.get("epoch", 0)).is_integer())


def training_state(run_dir: str | Path) -> dict[str, Any]:
    """How far the run trained: ``{"epochs_done", "epochs", "finished"}`` from its ``metrics.json`` and
    ``config.json`` (``{}`` when either is missing or unreadable). A run stopped early or by its time budget
    is finished; one killed or interrupted before its last epoch is not (its ``model.pt`` is its best epoch
    so far, and ``--resume true`` would train on)."""
    try:
        run_dir = Path(run_dir)
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        epochs = int(json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["epochs"])
        done = completed_epochs(metrics.get("history") or [])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    stopped = bool(metrics.get("stopped_early") or metrics.get("stopped_by_budget"))
    return {"epochs_done": done, "epochs": epochs, "finished": done >= epochs or stopped}


def trained_task(run_dir: str | Path) -> str | None:
    """The ``--task`` value of the command that last started ``run_dir`` (its ``environment.json``), if recorded."""
    from common.commands.args import given_task

    try:
        starts = json.loads((Path(run_dir) / ENVIRONMENT_FILE).read_text(encoding="utf-8"))["starts"]
        command = [str(arg) for arg in starts[-1].get("command") or []]
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    return given_task(command[1:]) or None


def setting_source(folder: str | Path) -> Path | None:
    """The trained run an inference-setting folder's predictions come from: a single run's (``metrics.json``'s
    :data:`PREDICTED_FROM`), or a k-fold run's (the folder of the model its ``fold0/fold_metrics.json`` names);
    None for any other folder."""
    source = predicted_from(Path(folder))
    if source is not None:
        return Path(source)
    try:
        model = json.loads((Path(folder) / "fold0" / "fold_metrics.json").read_text(encoding="utf-8")).get("model")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(model).parent if model and Path(model).parent.resolve() != Path(folder).resolve() else None


def check_run_task(run_dir: str | Path, task: Any) -> None:
    """Refuse a run folder made by another task's command than ``task`` (a :class:`common.task.Task`), as its
    ``environment.json`` records it; a folder that records none passes.

    Raises:
        ValueError: one line naming the run's task, before anything is read with the wrong task's readers
            (they failed on some file of the run's data, e.g. "tiny/xb/dev.txt not found").
    """
    from common.task import get_task

    recorded = trained_task(run_dir) or trained_task(setting_source(run_dir) or run_dir)
    if not recorded or recorded == task.name:
        return
    try:
        name = get_task(recorded).name
    except (ValueError, ImportError):  # a module that is gone: nothing to compare with
        return
    if name != task.name:
        raise ValueError(f"{run_dir} is a run of --task {recorded}, not {task.name}: give --task {recorded}")
# Installed distributions whose numerics reach a run's numbers (None where not installed).
NUMERIC_PACKAGES = ("torch", "transformers", "accelerate", "numpy", "scipy", "scikit-learn", "threadpoolctl",
                    "gensim", "jieba", "pytorch-crf", "onnxruntime")


def _git_state() -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the project's git checkout, or None outside one (or without git)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0 or status.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def environment() -> dict[str, Any]:
    """What a run's numbers depend on besides its config, seed and data: the code and where it ran.

    Keys: ``time`` (UTC, ISO 8601), ``command`` (the command line: the script's file name, then its flags, so
    ``--task`` names a task given as a module path), ``python``, ``platform``, ``cpu`` (the CPU's model name),
    ``cpu_count``,
    ``packages`` (installed version of each of :data:`NUMERIC_PACKAGES`, None when absent), ``git``
    (:func:`_git_state`), ``torch_threads`` (intra-op threads), ``torch_cpu_capability`` (the vector
    instruction set torch's own CPU kernels dispatch to: ``AVX512``, ``AVX2``, ``DEFAULT``...; set by the CPU
    or ``ATEN_CPU_CAPABILITY``), ``threadpools`` (each BLAS /
    OpenMP library threadpoolctl finds: ``internal_api``, ``version``, ``num_threads``, and OpenBLAS's kernel set
    ``architecture``, pinned by :mod:`common.blas`), ``openblas_coretype`` (that variable, None when unset),
    ``processes`` (accelerate's process count) and ``cuda`` (torch's CUDA version and each visible
    device's name; None and empty on a CPU build). Two runs of one config and seed that score
    differently differ here or in their code: the Sohu gbm member moved with the BLAS thread count
    and again with a new venv (``competitions/sohu/RESULTS.md``, "The gbm member and the thread count"), and
    with OpenBLAS's kernel set (:mod:`common.blas`).
    """
    import datetime
    import os
    import platform
    import sys
    from importlib.metadata import PackageNotFoundError, version

    import torch
    from threadpoolctl import threadpool_info

    from common.blas import cpu_model

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else [],
            "python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "packages": {name: installed(name) for name in NUMERIC_PACKAGES}, "git": _git_state(),
            "torch_threads": torch.get_num_threads(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threadpools": [{**{k: lib.get(k) for k in ("internal_api", "version", "num_threads")},
                             **({"architecture": lib["architecture"]} if "architecture" in lib else {})}
                            for lib in threadpool_info()],
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            "processes": process_state().num_processes,
            "cuda": {"version": torch.version.cuda,
                     "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                     if torch.cuda.is_available() else []}}


def record_environment(run_dir: str | Path, weights: dict[str, str] | None = None) -> Path:
    """Append :func:`environment` to ``run_dir/environment.json`` (``{"starts": [...]}``, one entry per start, so a
    run resumed elsewhere keeps both), atomically. Main process only. ``weights``: the ``--model`` folder's
    (:func:`model_weights`), kept as ``model_weights``.

    An unreadable file (not JSON, or no ``starts`` list) is renamed aside to ``environment.json.bad-YYYYmmdd-HHMMSS``
    (``-1``, ``-2``... if taken) and the list starts again, so nothing it held is lost.
    """
    import json

    from common.io import write_json_atomic

    path = Path(run_dir) / ENVIRONMENT_FILE
    starts = []
    if path.is_file():
        try:
            starts = json.loads(path.read_text(encoding="utf-8"))["starts"]
            if not isinstance(starts, list):
                raise TypeError("starts is not a list")
        except (ValueError, KeyError, TypeError):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside, n = path.with_name(f"{path.name}.bad-{stamp}"), 0
            while aside.exists():
                n += 1
                aside = path.with_name(f"{path.name}.bad-{stamp}-{n}")
            path.rename(aside)
            starts = []
    start = environment()
    if weights:
        start["model_weights"] = weights
    return write_json_atomic(path, {"starts": starts + [start]})
