"""Knowledge distillation: one student trained on a teacher run's soft targets (Hinton, Vinyals and Dean 2015).

"Distilling the Knowledge in a Neural Network" (arXiv:1503.02531): a small model learns
from a large model's (or an ensemble's) class probabilities, which carry more than the
0/1 label (how sure, how close to the boundary), on the labelled rows and on an
unlabelled transfer set. Here the teacher is a finished k-fold or ensemble run
(:mod:`common.teacher`):

* a labelled pool row's soft target is the teacher's OOF probability, which came from
  a model that did not see that row, so the student does not learn the teacher's fit to
  the row's own label;
* the test rows (unlabelled) join training with the soft target only: the teacher's
  fold mean for a single run (``train``); for a k-fold CV of the student, fold k's test
  targets are the teacher's fold-k slice (models that never saw fold k), and fold k's
  training rows are only those of the other folds, on the teacher's folds.

One caveat remains in a CV of the student: a training row of fold j got its OOF target
from the teacher's fold-j model, which trained on fold k's rows too; the student's fold-k
score is therefore slightly optimistic, the way any OOF-on-OOF level-2 model is.

A student's decisions (Sohu's per-group F1 thresholds) are tuned on its own validation
rows by default. ``--distill-thresholds teacher`` takes instead the teacher's, tuned on
the teacher's OOF probabilities of the whole pool: a soft-target student approximates
those probabilities, and the pool has several times the validation split's rows.

The loss (:func:`distillation_loss`) is ``(1 - alpha) * CE(hard) + alpha * T^2 * CE(soft_T)``
with the soft targets ``[1 - p, p]`` softened to temperature T.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common.losses import process_mean_count

IGNORE_INDEX = -100  # a hard label that is not there (an unlabelled row trained on its soft target)


@dataclass
class DistillConfig:
    """Options of the train and k-fold commands' student."""

    distill_from: str = ""  # a finished k-fold or ensemble run whose OOF and test probabilities are the soft targets
    distill_alpha: float = 0.5  # weight of the soft loss: (1 - alpha) * CE(hard) + alpha * CE(soft); 1.0 = soft only
    distill_temperature: float = 1.0  # T: teacher and student logits divided by T, the soft loss times T^2
    # share of the test rows trained on their soft targets (a subset fixed by --seed; 0: the pool rows only)
    distill_test_fraction: float = 1.0
    # where the student's decision thresholds (Sohu's per group; AUC tasks have none) are tuned: "valid" on its
    # own validation rows (a k-fold student: its OOF), "teacher" on the teacher's OOF rows, all of the pool
    distill_thresholds: str = "valid"
    # the student's starting weights: a finished run of the same architecture (its model.pt; a k-fold student
    # starts fold k from a k-fold run's fold k, on the same folds); empty: the --model initialisation
    init_from: str = ""


THRESHOLD_SOURCES = ("valid", "teacher")
TEACHER_THRESHOLDS_FILE = "teacher_thresholds.json"  # a student's fixed decision state (--distill-thresholds teacher)


def saved_teacher_thresholds(run_dir: str | Path) -> dict | None:
    """The decision state a student run (single or k-fold) keeps for every prediction (``--distill-thresholds
    teacher``: its ``teacher_thresholds.json``), or None (the run tunes its own)."""
    path = Path(run_dir) / TEACHER_THRESHOLDS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def check_options(config: DistillConfig) -> None:
    """Raises ValueError: ``distill_alpha`` or ``distill_test_fraction`` outside [0, 1], temperature <= 0,
    ``distill_thresholds`` not one of :data:`THRESHOLD_SOURCES`, or ``init_from`` without ``distill_from``."""
    if config.init_from and not config.distill_from:
        raise ValueError("--init-from starts a student from a trained run: it needs --distill-from")
    if not 0 <= config.distill_alpha <= 1:
        raise ValueError(f"--distill-alpha must be in [0, 1] (1.0: soft targets only), got {config.distill_alpha}")
    if config.distill_temperature <= 0:
        raise ValueError(f"--distill-temperature must be > 0, got {config.distill_temperature}")
    if not 0 <= config.distill_test_fraction <= 1:
        raise ValueError(f"--distill-test-fraction must be in [0, 1], got {config.distill_test_fraction}")
    if config.distill_thresholds not in THRESHOLD_SOURCES:
        raise ValueError(f"--distill-thresholds must be one of {', '.join(THRESHOLD_SOURCES)}, "
                         f"got {config.distill_thresholds!r}")


def init_weights_file(run: str | Path, fold: int | None = None) -> Path:
    """The ``model.pt`` a student starts from (``--init-from``): a run folder's, or the file itself.

    A student that starts from a model trained with hard labels on the same rows continues its
    training on the teacher's soft targets instead of starting again from the pretrained encoder
    (a warm start). The weights are only a starting point: the run saves its own ``model.pt``, and
    the architecture options (``--model``, heads) must be the run's (else RuntimeError on loading).

    Args:
        run: a single run's folder, a ``model.pt`` file, or (with ``fold``) a k-fold run's folder.
        fold: k of a k-fold student's fold: ``run/fold<k>/model.pt``.

    Raises:
        FileNotFoundError: no such ``model.pt`` (a k-fold run given to a single student names its folds).
    """
    path = Path(run)
    if fold is not None:
        path = path / f"fold{fold}"
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        hint = ("; a k-fold run starts a k-fold student (cv --distill-from ... --init-from RUN), fold k's model "
                "its fold k") if (Path(run) / "fold0").is_dir() else ""
        raise FileNotFoundError(f"--init-from {run}: no {path}{hint}")
    return path


def check_init_split(run: str | Path, valid_ids: np.ndarray, valid_digest: str) -> None:
    """Refuse a single student's ``--init-from`` run that was not validated on the student's validation rows: it
    trained on some of them (another ``--split-seed``, training file or ``--limit``, or a fold model of a k-fold
    run, which trained on every other fold), so the student would start knowing their labels and its validation
    score, which picks its epoch and thresholds, would count them (probe X: 40 of 46 rows).

    Args:
        run: the run folder or its ``model.pt``; its ``probabilities.npz`` names its validation rows.
        valid_ids: (N,) the student's validation ids, in order; valid_digest: their
            :meth:`common.task.Task.examples_digest` (checked where the run recorded its own).

    Raises:
        ValueError: no ``probabilities.npz`` beside the weights, or other validation rows (one line).
    """
    if not len(valid_ids):  # a student of every row (--valid-fraction 0, no dev file) validates on nothing
        return
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    path = folder / "probabilities.npz"
    if not path.is_file():
        raise ValueError(f"--init-from {run}: a single student starts from a single run validated on its rows, and "
                         f"{path} (that run's validation ids) is missing; a k-fold run starts a k-fold student")
    with np.load(path, allow_pickle=False) as saved:
        keys = [str(k) for k in saved["valid_keys"]]
        digest = str(saved["valid_digest"]) if "valid_digest" in saved.files else None
    ids = [str(k) for k in valid_ids]
    if keys != ids or (digest is not None and digest != valid_digest):
        shared = len(set(keys) & set(ids))
        what = (f"{len(keys)} validation rows, the student's {len(ids)}, {shared} ids shared" if keys != ids else
                "its validation rows have the student's ids but other content")
        raise ValueError(f"--init-from {run}: it was validated on other rows ({what}), so it trained on rows the "
                         "student validates on; start from a run of the student's data, --split-seed and --limit")


def check_init_folds(run: str | Path, ids: np.ndarray, fold: np.ndarray) -> None:
    """Refuse a k-fold ``--init-from`` run whose folds differ from the student's: its fold-k model would have
    trained on the student's fold-k rows, and the student's OOF score would count them.

    Args:
        run: the k-fold run (its ``folds.json``).
        ids: (N,) the student's pool ids, in order; fold: (N,) their folds.

    Raises:
        FileNotFoundError: no ``folds.json`` in ``run``. ValueError: other ids or folds (one line).
    """
    path = Path(run) / "folds.json"
    if not path.is_file():
        raise FileNotFoundError(f"--init-from {run}: a k-fold student starts from a k-fold run, and {path} is missing")
    saved = json.loads(path.read_text(encoding="utf-8"))
    if list(map(str, saved["ids"])) != list(map(str, ids)) or saved["fold"] != [int(k) for k in fold]:
        raise ValueError(f"--init-from {run}: its folds ({path}) are not the student's; use its --folds, --fold-seed "
                         "and --group-by-text on the same data")


def transfer_rows(n_test: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the ``round(fraction * n_test)`` test rows a student trains on (the transfer set).

    A large unlabelled test set multiplies a student's epoch (Xiaobu: 50,000 test pairs
    beside 8,500 labelled); a fixed random share keeps its cost bounded. The subset
    depends on ``seed`` only, so every fold and every process count trains on the same rows.
    """
    k = round(fraction * n_test)
    if k >= n_test:
        return np.arange(n_test)
    return np.sort(np.random.default_rng(seed).choice(n_test, size=k, replace=False))


@dataclass
class SoftTargets:
    """What a student trains on besides the hard labels of its training rows.

    Attributes:
        probs: (N,) teacher P(label 1) of the N labelled training rows, in their order ((N, C) class
            probabilities of a task of C > 2 classes; so is ``extra_probs``).
        extra: M unlabelled examples (the test rows), trained on their soft target alone.
        extra_probs: (M,) teacher P(label 1) of ``extra``.
    """

    probs: np.ndarray
    extra: list = field(default_factory=list)
    extra_probs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        if len(self.extra) != len(self.extra_probs):
            raise ValueError(f"{len(self.extra)} extra examples, {len(self.extra_probs)} soft targets")

    def all_probs(self) -> np.ndarray:
        """(N + M,) (or (N + M, C)) the soft targets of the training rows then of ``extra``, float32."""
        probs = np.asarray(self.probs)
        if not len(self.extra_probs):
            return probs.astype(np.float32)
        return np.concatenate([probs, np.asarray(self.extra_probs)]).astype(np.float32)


def soft_cross_entropy(logits: torch.Tensor, soft: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-row ``-T^2 * sum_c q_c log softmax(z / T)_c`` with ``q = [1 - p_T, p_T]``.

    ``p_T = sigmoid(logit(p) / T)`` is the teacher's probability at temperature T (at
    T = 1, p itself); the T^2 keeps the soft gradients' scale as T changes (Hinton et
    al. 2015, section 2). (B, C) class probabilities q of a C-class model: ``q_T = softmax(log q / T)``.

    Args:
        logits: (B, 2) student logits ((B, C) with (B, C) ``soft``).
        soft: (B,) teacher P(label 1) in [0, 1]; or (B, C) teacher class probabilities.
        temperature: T > 0.

    Returns:
        (B,) losses.

    Raises:
        ValueError: (B,) soft targets for a model of C != 2 classes, or (B, C') ones for C' != C.
    """
    C = logits.shape[1]
    if soft.dim() == 1:  # P(label 1): the 2-class probabilities [1 - p, p]
        if C != 2:
            raise ValueError(f"soft targets are P(label 1) of a 2-class model; got {C} classes")
        soft = torch.stack([1 - soft.float(), soft.float()], dim=-1)
    if soft.shape[1] != C:
        raise ValueError(f"soft targets of {soft.shape[1]} classes for a model of {C}")
    q = soft.float()  # (B, C)
    if temperature != 1.0:  # softmax(log q / T); for 2 classes sigmoid(logit(p) / T)
        q = torch.softmax(torch.log(q.clamp_min(1e-6)) / temperature, dim=-1)
    return -(q * F.log_softmax(logits.float() / temperature, dim=-1)).sum(dim=-1) * temperature ** 2  # (B,)


def distillation_loss(logits: torch.Tensor, labels: torch.Tensor | None, soft_labels: torch.Tensor,
                      alpha: float, temperature: float = 1.0,
                      hard_logits: torch.Tensor | None = None) -> torch.Tensor:
    """``(1 - alpha) * mean CE(hard) + alpha * mean soft CE``, each mean over the rows that have that target.

    At ``alpha = 0`` it is the plain cross-entropy of the labelled rows; at ``alpha = 1``
    the soft cross-entropy (:func:`soft_cross_entropy`) of the rows with a soft target.
    A term whose rows are absent from the batch is 0 (the loss keeps its graph). Under several
    processes each mean is over the rows of every process's batch together (:func:`process_mean_count`):
    a mean per process weighted a row by how many rows of its kind its process drew, so 2 processes
    trained another model than 1.

    Args:
        logits: (B, 2) student logits.
        labels: (B,) int labels, ``IGNORE_INDEX`` for none; or None.
        soft_labels: (B,) float teacher P(label 1); NaN or < 0 for none. (B, C) class probabilities of a
            C-class model: a row with a NaN or a value < 0 is none.
        alpha: weight of the soft term in [0, 1].
        temperature: of the soft term.
        hard_logits: (B, 2) logits of the hard term (e.g. logit-adjusted); default ``logits``.

    Returns:
        scalar loss.
    """
    loss = logits.float().sum() * 0.0  # a zero that keeps the graph
    if labels is not None and alpha < 1:  # the same on every process: each reaches the count's all-reduce
        has = labels != IGNORE_INDEX  # (B,)
        hard = logits if hard_logits is None else hard_logits
        total = F.cross_entropy(hard[has].float(), labels[has], reduction="sum")  # 0 without such rows
        loss = loss + (1 - alpha) * total / process_mean_count(has)
    if alpha > 0:
        has = torch.isfinite(soft_labels) & (soft_labels >= 0)  # (B,) or (B, C)
        if has.dim() == 2:
            has = has.all(dim=-1)  # (B,)
        total = soft_cross_entropy(logits[has], soft_labels[has], temperature).sum()
        loss = loss + alpha * total / process_mean_count(has)
    return loss

