"""The task interface: what a contest hands the shared commands (train, predict, cv, tune, blend).

The split follows Lightning's ``LightningDataModule`` / ``LightningModule`` and HF's
``run_glue_no_trainer.py``: a task says how its files become examples (with ids), how
a model is built or loaded, how examples become batches, how batches become
probabilities, how probabilities are scored and how they become a submission. The
commands in :mod:`common.commands` own everything else (run folders, the training
loop, k-fold, Optuna, blending, the accelerator, writing from the main process).

A task lives in ``competitions/<name>/task.py`` as one object ``TASK``; the registry
below maps ``--task NAME`` to it, and ``--task package.module`` loads any module that
defines ``TASK`` (a contest outside this repository needs no edit here).

Examples are the task's own objects; the commands only need, per example list,
``task.ids``, ``task.labels`` and what the task's own methods read.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from common.training.inference import PredictStep


@dataclass
class SymmetricPairConfig:
    """Test-time augmentation of a task whose label does not depend on the order of its two texts.

    ``tta_swap``: every probability (validation, test, out-of-fold) is the mean of the
    model's P(label 1) for ``(a, b)`` and for ``(b, a)`` (:meth:`Task.swapped`), the flip
    augmentation of image models carried to pairs. The best epoch is chosen on the same mean
    (since 2026-12-05; before, on one order), so the score that picks it is the one the run reports.
    """

    tta_swap: bool = False


# --task NAME -> module defining TASK. Plain dict; "pkg.module" also works for tasks elsewhere.
TASKS = {
    "sohu": "competitions.sohu.task",
    "xiaobu": "competitions.xiaobu.task",
    "afqmc": "competitions.afqmc.task",
    "pair": "competitions.pair.task",  # any 0/1 sentence-pair contest, from flags
}


@dataclass
class Splits:
    """A task's examples: labelled ``train`` and ``valid`` (valid may be empty) and unlabelled ``test``.

    ``missing`` lists parts of the data that were absent (e.g. Sohu subtasks).
    """

    train: list
    valid: list
    test: list
    missing: list[str] = field(default_factory=list)


@dataclass
class Model:
    """A built or loaded model with its input processor (tokenizer or id vocabulary)."""

    module: nn.Module
    processor: Any
    origin: str = ""  # how it was initialised, for the result line (e.g. "scratch", "id-pretrained")
    # Writes what Task.load needs (tokenizer, encoder config, priors) into a run folder; the
    # commands call it on the main process only.
    save: Callable[[Path], None] = lambda run_dir: None
    # (module, batch) -> training loss in place of module(**batch).loss (the trainer's loss_fn); None: the module's
    loss_fn: Callable[[nn.Module, dict], Any] | None = None


def repeated_test_id(task: "Task", test: Sequence) -> str:
    """A one-line description of the first test id that ``test`` repeats (rows counted from 1), or "" (also where
    the task's ``ids`` cannot be read of these examples: a command that needs them fails there, naming it)."""
    try:
        ids = task.ids(test)
    except (AttributeError, TypeError, KeyError):
        return ""
    first: dict[str, int] = {}
    for row, key in enumerate(map(str, ids), 1):
        if key in first:
            return f"test id {key!r} on rows {first[key]} and {row}"
        first[key] = row
    return ""


def _checking_test_ids(method: Callable) -> Callable:
    """``load_data`` / ``load_test`` of a subclass, refusing a test set that repeats an id (see ``Task``)."""

    @functools.wraps(method)
    def checked(self: "Task", config: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, config, *args, **kwargs)
        repeated = repeated_test_id(self, result.test if isinstance(result, Splits) else result)
        if repeated:
            try:
                where = str(args[0] if args else kwargs.get("path") or self.test_path(config))
            except (NotImplementedError, AttributeError, TypeError, ValueError):
                where = "the test set"
            raise ValueError(f"{where}: {repeated}; expected one id per test row (a submission holds each once)")
        return result

    checked._checks_test_ids = True  # type: ignore[attr-defined]
    return checked


class Task:
    """Base class of a contest; subclasses override the methods below.

    Every subclass's ``load_data`` and ``load_test`` refuse a test set that repeats an id (one line naming the
    file, the id and its two rows): a submission holds each test id once, and a task's own reader need not check
    it (a probe's own task wrote a repeated id into its submission).

    Attributes:
        name: the task's name (runs go to ``runs/<name>/``).
        config_class: its dataclass config (inherits ``common.training.trainer.TrainConfig``).
        metric_name / greater_is_better: the validation metric that picks the best epoch,
            names submissions and is the CV score.
        search_space: Optuna search space (see :func:`common.hpo.suggest`).
    """

    name: str = ""
    config_class: type = object
    metric_name: str = "score"
    greater_is_better: bool = True
    search_space: dict = {}
    test_in_name: bool = False  # submissions name the test file (tasks with several official test files)
    fold_overrides: dict = {}  # options a k-fold fold's config sets (e.g. no hold-out of its own)
    soft_targets: bool = False  # dataset() takes soft_labels and the model trains on them (--distill-from)
    # config fields a test file of another layout may set (predict --test-config): how that file is read and its
    # submission written, never the model (e.g. a pair contest's columns); empty: none
    test_file_options: tuple[str, ...] = ()
    # write_submission reads the labelled rows (Sohu: label implication, the subtasks trained): predict needs the
    # run's data for a --test-file too; else a run folder without its data decides as it recorded
    submission_reads_labels: bool = False
    # the module whose main() pretrains this task's encoder (python -m common.commands.pretrain --task runs it);
    # empty: MLM on the task's text pairs (common.commands.pretrain)
    pretrain_module: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("load_data", "load_test"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_checks_test_ids", False):
                setattr(cls, name, _checking_test_ids(method))

    # ------------------------------------------------------------------ data
    def load_data(self, config: Any) -> Splits:
        """Read train / valid / test per ``config`` (a ``limit`` cuts the labelled files only: the test set is read
        whole, so every submission holds every test id). Raises on bad files."""
        raise NotImplementedError

    def load_test(self, config: Any, path: str) -> list:
        """Unlabelled examples of any file in the task's test format (``predict --test-file``)."""
        raise NotImplementedError

    def test_file_path(self, config: Any, path: str) -> Path:
        """The file ``predict --test-file path`` reads (:meth:`load_test` is given it): ``path`` as given when it
        exists or is absolute, else under the run's data folder (``config.data_dir``), where the run's own
        ``--test-file`` name is read: a path that tab-completes and a bare name both work, for every task."""
        given = Path(path)
        if given.exists() or given.is_absolute() or not getattr(config, "data_dir", ""):
            return given
        return Path(config.data_dir) / given

    def test_path(self, config: Any) -> Path:
        """The run's test file (for submission names)."""
        raise NotImplementedError

    def cv_pool(self, config: Any, data: Splits) -> list:
        """The labelled examples k-fold splits (default: train + valid), with unique ids."""
        return data.train + data.valid

    def implied_rows(self, config: Any, train: list, data: Splits) -> list:
        """Labelled rows the task's definition derives from ``train``'s labels: trained on, never scored.

        :func:`common.commands.train.fit` adds them to every run's training rows (a k-fold
        run's fold k: from its training folds only). Default: none. Sohu: a pair labelled 1
        in group B is an A positive (``--implied-labels``).
        """
        return []

    def ids(self, examples: Sequence) -> list[str]:
        """(N,) unique string id of each example (test ids are the submission's)."""
        return [e.id for e in examples]

    def submission_ids(self, examples: Sequence) -> list[str]:
        """(N,) the id each test example has in the submission (default: :meth:`ids`)."""
        return self.ids(examples)

    def examples_digest(self, examples: Sequence) -> str:
        """First 16 hex digits of the SHA-256 of ``examples``' ``repr``, in order: what a test set is as the
        models predict it (ids and inputs). A k-fold run records it with its test predictions, so that a test
        file edited since (same ids, other texts) is never averaged with or served from the old file's
        predictions. Override where an example's ``repr`` is not its content."""
        digest = hashlib.sha256()
        for example in examples:
            digest.update(repr(example).encode("utf-8") + b"\0")
        return digest.hexdigest()[:16]

    def labels(self, examples: Sequence) -> np.ndarray:
        """(N,) int labels of labelled examples."""
        return np.array([e.label for e in examples])

    def targets(self, examples: Sequence) -> np.ndarray:
        """(N,) float target in [0, 1] of the P(label 1) a model predicts, for labelled ``examples``.

        A 0/1 task's labels as floats (the default); a task with graded labels (a similarity
        score, ``--task pair --label-range``) maps each to [0, 1], and a model of P is fitted to
        it as a soft target (cross-entropy against ``[1 - y, y]``, as sentence-transformers'
        cross-encoder is trained on STS-B scores / 5). Classical members fit it the same way
        (:func:`common.soft_labels.fit_soft`). A task of C > 2 classes (``--task pair`` with three or more
        ``--label-values``) returns (N, C) one-hot rows, and its probabilities are (N, C).
        """
        return np.asarray(self.labels(examples), dtype=float)

    def with_labels(self, examples: Sequence, labels: Sequence[int]) -> list:
        """Copies of ``examples`` labelled with (N,) int ``labels`` (pseudo-labelled test rows; the originals unchanged).

        Default: ``dataclasses.replace(example, label=...)``, for dataclass examples with a
        ``label`` field (what :meth:`labels` reads).

        Raises:
            ValueError: ``examples`` and ``labels`` of other lengths.
        """
        if len(examples) != len(labels):
            raise ValueError(f"{len(examples)} examples, {len(labels)} labels")
        return [dataclasses.replace(e, label=int(y)) for e, y in zip(examples, labels)]

    def test_layout(self, config: Any, options: dict | None) -> Any:
        """The run's ``config`` for reading a test file of another layout and writing its submission
        (``predict --test-config``): a copy with ``options`` (keys of :attr:`test_file_options`) set; the run's
        own config, and the reading of its own files, unchanged. Default: ``dataclasses.replace``.

        Raises:
            ValueError: the config's own, when ``options`` with the run's other values make an invalid config; it
                names the options the test config left at the run's values (those not at their defaults).
        """
        if not options:
            return config
        try:
            return dataclasses.replace(config, **options)
        except ValueError as err:
            defaults = {f.name: f.default for f in dataclasses.fields(config)}
            flag = str(err).split(" ", 1)[0]
            own = flag.startswith("--") and flag[2:].replace("-", "_") in options  # the test config's own value
            kept = "" if own else ", ".join(f"{name} = {getattr(config, name)!r}" for name in self.test_file_options
                                            if name not in options and getattr(config, name, None) != defaults.get(name))
            raise ValueError(f"--test-config: {err}" + (f" (the run's own, kept as the test config does not set "
                                                          f"them: {kept})" if kept else "")) from None

    def swapped(self, examples: Sequence) -> list | None:
        """Copies of ``examples`` with their two texts exchanged, or None: the task is not a symmetric pair task.

        Used by ``--tta-swap`` (:class:`SymmetricPairConfig`). Default: None.
        """
        return None

    def tta_swapped(self, config: Any, examples: Sequence) -> list | None:
        """The other text order of ``examples`` (:meth:`swapped`) when ``config.tta_swap`` is on, else None.

        Raises:
            ValueError: ``tta_swap`` on for a task without symmetric pairs.
        """
        if not getattr(config, "tta_swap", False):
            return None
        swapped = self.swapped(examples)
        if swapped is None:
            raise ValueError(f"--tta-swap: task {self.name} has no symmetric text pairs (Task.swapped)")
        return swapped

    def num_classes(self, config: Any) -> int:
        """C, the classes the task's model tells apart: 2 (0/1 labels, probabilities (N,) of label 1; graded labels
        too). A task of C > 2 classes (``--task pair --label-values a,b,c``) returns C: its probabilities are (N, C)."""
        return 2

    def strata(self, examples: Sequence) -> list:
        """(N,) keys the k-fold split balances (default: the label)."""
        return self.labels(examples).tolist()

    def text_pairs(self, examples: Sequence) -> list[tuple] | None:
        """(N,) hashable (text_a, text_b) for text-grouped folds, or None (no grouping)."""
        return None

    # ----------------------------------------------------------------- model
    def build(self, config: Any, run_dir: Path, train: list, data: Splits) -> Model:
        """A new model for ``train`` (weights from ``config.seed``) and its processor.

        ``data`` holds every example known (a vocabulary may be built from it). The
        returned ``Model.save`` writes whatever :meth:`load` needs besides
        ``config.json`` and ``model.pt``; ``run_dir`` is only for scratch files.
        """
        raise NotImplementedError

    def load(self, config: Any, run_dir: Path) -> Model:
        """The model of a finished run (architecture only; the commands load ``model.pt``)."""
        raise NotImplementedError

    def dataset(self, config: Any, model: Model, examples: list, training: bool,
                unlabelled: Sequence = ()) -> Dataset:
        """Examples as model inputs; ``training`` turns augmentation on (``unlabelled``: extra text it may use).

        A task with ``soft_targets`` also takes ``soft_labels``: (N,) float teacher P(label 1)
        per example (NaN: none), and then ``examples`` may mix labelled and unlabelled ones
        (:mod:`common.distillation`).
        """
        raise NotImplementedError

    def collate_fn(self, config: Any, model: Model, training: bool) -> Callable[[list], dict]:
        """Items -> dict of (B, ...) tensors."""
        raise NotImplementedError

    def predict_step(self, config: Any, model: Model, log_prior: Any = None, posthoc_tau: float = 0.0) -> PredictStep:
        """``(module, batch) -> {"prob": (B,) or (B, C) tensor}`` (post-hoc logit adjustment when tau > 0)."""
        raise NotImplementedError

    # --------------------------------------------------- metric, submission
    def score(self, examples: list, probs: np.ndarray, state: dict | None = None) -> tuple[dict[str, float], dict]:
        """(metrics including ``metric_name``, decision state e.g. tuned thresholds) of ``probs``.

        ``state``: decisions fixed beforehand (what an earlier ``score`` returned, e.g. the
        thresholds tuned on OOF or validation rows), for scoring held-out rows as the
        submission would decide them; None tunes them on these labels.
        """
        raise NotImplementedError

    def write_submission(self, config: Any, test: list, probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        """Write and validate the submission for ``test`` as ``<submission_dir>/<name>.<ext>``.

        Returns at least ``{"submission": path, "rows": n}``.
        """
        raise NotImplementedError

    def check_submission_inputs(self, config: Any, data: Splits) -> None:
        """Called by train and cv after :meth:`load_data`, before any training: raise where the official
        submission could not be written from ``data`` (a sample submission missing, or listing ids no test file
        holds), so a run does not find it out after hours. The default checks nothing (the submission is written
        from the test rows alone).

        Raises:
            common.submission.SubmissionError, FileNotFoundError: the submission could not be written.
        """

    def search_space_for(self, config: Any) -> dict:
        """The Optuna search space of a study of ``config`` (:mod:`common.commands.tune`): :attr:`search_space`,
        less what this setting cannot train (a variant without logit adjustment: Xiaobu's ``--joint``)."""
        return self.search_space


def training_search_space(learning_rate: tuple[float, float], epochs: tuple[int, int],
                          fgm_epsilon: Sequence[float] = (0.0, 0.1, 0.5), logit_adjustment: bool = True) -> dict:
    """The Optuna search space (:func:`common.hpo.suggest`) over the shared training options.

    ``learning_rate`` (log scale) and ``epochs`` ranges, dropout in [0, 0.3], FGM's
    epsilon and EMA's decay (0 = off) from short lists, and the loss form's logit
    adjustment tau in [0, 1.5] when ``logit_adjustment``. Every key is a field of
    ``TrainConfig`` (and ``LogitAdjustmentConfig``); the order is the draw order.
    """
    space = {
        "learning_rate": ("float", *learning_rate, True),
        "epochs": ("int", *epochs),
        "dropout": ("float", 0.0, 0.3),
        "fgm_epsilon": ("categorical", list(fgm_epsilon)),
        "ema_decay": ("categorical", [0.0, 0.99, 0.995]),
    }
    if logit_adjustment:
        space["logit_adjust_tau"] = ("float", 0.0, 1.5)
    return space


def get_task(name: str) -> Task:
    """The ``TASK`` object of ``name``: a registry key, a contest folder's name (``competitions/<name>/task.py``: a
    new contest is its folder alone, ``make <name>-train`` included), or an importable module path.

    Raises:
        ValueError: unknown name, or a module without ``TASK``.
    """
    module_name = TASKS.get(name, name)
    if name not in TASKS and name.isidentifier() and (Path(__file__).resolve().parent.parent / "competitions" / name
                                                      / "task.py").is_file():
        module_name = f"competitions.{name}.task"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            dots = f" (a module path has dots: --task {name.removesuffix('.py').replace('/', '.')})" \
                if "/" in name or name.endswith(".py") else ""
            raise ValueError(f"unknown task {name!r}: known {sorted(TASKS)}, a folder competitions/<name>/ with a "
                             f"task.py, or a module path defining TASK{dots}") from None
        raise
    task = getattr(module, "TASK", None)
    if not isinstance(task, Task):
        raise ValueError(f"{module_name} defines no TASK (a common.task.Task)")
    return task


def resolve(data_dir: str | Path, name: str) -> Path:
    """``name`` under ``data_dir``, or ``name`` itself when absolute."""
    path = Path(name)
    return path if path.is_absolute() else Path(data_dir) / name
