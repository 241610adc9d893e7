"""Held-out check of a pair task's ensemble recipe: are the k-fold scores of its student (and pseudo-labels) honest?

    python -m bench.student_holdout --task sohu [--source RUN] [--holdout-fold 0] [--pseudo true]

A distilled student scored by k-fold CV on its teacher's folds is optimistic: a training
row of fold j carries a soft target from the teacher's fold-j models, which trained on
fold k's labels, so fold k's student has seen them second-hand (docs/cv-tuning.md). This
bench measures the whole recipe where nothing saw the scored rows' labels: one fold of
``--source`` (the task's finished recipe k-fold run) is set aside with its labels hidden
and written, beside the task's own test rows, as the test set of a copy of the data
(``--real-test true``, the default: the student's transfer set and the pseudo-labels then
draw on as many unlabelled rows as in the recipe; only the held rows are scored); on the
other rows it runs the recipe's steps with the Makefile's flags (a (K-1)-fold neural run,
``tfidf`` and ``gbm`` on its folds, their ensemble, one distilled student, and one plainly
trained model as the control; with ``--pseudo true`` also a (K-1)-fold run with the ensemble's pseudo-labels;
with ``--student-init true`` also a student started from the control's weights, ``--init-from``)
and scores every model's predictions of the held-out rows.

Each model is scored as its submission would decide: with the decision state (Sohu's
per-group thresholds) tuned on its own OOF rows (k-fold models) or validation split
(single models; the recipe's student, ``--distill-thresholds teacher``, with its teacher's:
the ensemble's, tuned on its OOF rows), the student also both ways; ``tuned on held-out`` re-tunes them on the
scored rows (an upper bound, equal to the first for AUC). Differences from the ensemble come with a 95% paired
bootstrap interval over the held-out rows (:func:`bench.oof_compare.paired_bootstrap`).

Resumable: rerun the same command after a kill and the k-fold runs skip their finished folds, the
single models continue from their checkpoints (``--resume true``; a finished one only predicts again).

Writes ``runs/<task>/holdout-fold<k>/`` (the data copy, the runs) and
``bench/results/student_holdout_<task>.json`` (``student_holdout_<task>_fold<k>.json`` for k > 0); prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.oof_compare import paired_bootstrap
from common.ensemble import load_member
from common.io import write_json_atomic, write_text_atomic
from common.task import Task, get_task
from common.config import parse_bool

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Recipe:
    """A task's recipe as ``make <task>-recipe`` runs it (tests/test_student_holdout.py checks it against the
    Makefile's ``<task>_RECIPE``, ``<task>_RECIPE_RUN``, ``<task>_STUDENT_BASE`` and ``<task>_STUDENT``)."""

    source: str  # the recipe's finished k-fold run: its pool, folds and data_dir
    neural: tuple[str, ...]  # <task>_RECIPE
    student: tuple[str, ...]  # --distill-alpha 1 and <task>_STUDENT, less `single`
    single: tuple[str, ...] = ()  # train-command flags of the single models (student, plain); in <task>_STUDENT
    base: tuple[str, ...] = ()  # <task>_STUDENT_BASE: the single models' model flags in place of `neural`, if set

    @property
    def single_base(self) -> tuple[str, ...]:
        """The model flags the single models (student, plain control) start from."""
        return self.base or self.neural


SOHU_MODEL = ("--model", "cache/sohu-mlm-8ep", "--config", "competitions/sohu/configs/quick.toml",
              "--pair-statistics", "true", "--max-length", "160")  # the Makefile's sohu_MODEL

RECIPES = {
    "xiaobu": Recipe("runs/xiaobu/cv5-large-esim-tta-ngram2",
                     ("--model", "cache/xiaobu-pretrain-large", "--learning-rate", "2e-4"),  # the Makefile's xiaobu_MODEL
                     ("--distill-alpha", "1", "--epochs", "6"),
                     base=("--model", "cache/xiaobu-pretrain")),  # the student and the plain control: the
                                                                   # default small encoder
    "sohu": Recipe("runs/sohu/cv5-quick-mlm8-stats-impliedA-len160",
                   SOHU_MODEL + ("--implied-labels", "A"),
                   ("--distill-alpha", "1", "--distill-thresholds", "teacher"),
                   # the student alone, not blended with TF-IDF (whose probabilities are of the real test set)
                   ("--blend-with", ""),
                   # the student and the plain control: the recipe's model flags without the implied rows
                   base=SOHU_MODEL),
}


def write_xiaobu(source_dir: Path, kept: list[str], held: list[str], data: Path,
                 real_test: bool = True) -> dict[str, int]:
    """The kept ``train:<line>`` rows as ``data``'s train file; the held ones (labels cut) as its test file, then
    (``real_test``) the source's own test rows, the unlabelled rows the recipe's student and pseudo-labels draw on.

    Returns: {test id: label} of the held rows (``test:<line>``, the test file's numbering: the first lines).
    """
    from competitions.xiaobu.config import XiaobuData

    lines = (source_dir / XiaobuData.train_file).read_text(encoding="utf-8").splitlines()
    line = [int(i.split(":")[1]) for i in kept], [int(i.split(":")[1]) for i in held]
    test = ["\t".join(lines[i].split("\t")[:2]) for i in line[1]]
    if real_test:
        test += (source_dir / XiaobuData.test_file).read_text(encoding="utf-8").splitlines()
    write_text_atomic(data / XiaobuData.train_file, "".join(lines[i] + "\n" for i in line[0]))
    write_text_atomic(data / XiaobuData.test_file, "".join(row + "\n" for row in test))
    return {f"test:{n}": int(lines[i].split("\t")[2]) for n, i in enumerate(line[1])}


def write_sohu(source_dir: Path, kept: list[str], held: list[str], data: Path,
               real_test: bool = True) -> dict[str, int]:
    """The kept ``<split>:<subtask>:<n>`` rows in their own split files, the held ones as test files with new ids.

    With ``real_test`` each subtask's test file starts with the source's own test rows (the unlabelled rows the
    recipe's student and pseudo-labels draw on) and the held rows follow, numbered after them. Every test id is
    listed in a ``sample_submission.csv`` so that the official submission path validates them.

    Returns: {test id: label} of the held rows.
    """
    from competitions.sohu.data import ROOT, SUBTASKS, load_split, read_file

    examples = {e.id: e for split in ("train", "valid") for e in load_split(source_dir, split)[0]}
    files: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i in kept:
        e, task = examples[i], SUBTASKS[examples[i].subtask]
        files[(task.folder, i.split(":")[0])].append(json.dumps(
            {"source": e.source, "target": e.target, f"label{task.group}": str(e.label)}, ensure_ascii=False))
    test_ids: list[str] = []
    if real_test:
        for task in SUBTASKS:
            path = source_dir / ROOT / task.folder / "test_with_id.txt"
            if path.is_file() and any(task.folder == folder for folder, _ in files):
                for e in read_file(path, task, labelled=False):
                    files[(task.folder, "test_with_id")].append(json.dumps(
                        {"source": e.source, "target": e.target, "id": e.id}, ensure_ascii=False))
                    test_ids.append(e.id)
    labels: dict[str, int] = {}
    taken = set(test_ids)
    for i in held:
        e, task = examples[i], SUBTASKS[examples[i].subtask]
        n = len(files[(task.folder, "test_with_id")])
        while f"{task.prefix}{n}_{task.group.lower()}" in taken:
            n += 1
        test_id = f"{task.prefix}{n}_{task.group.lower()}"
        files[(task.folder, "test_with_id")].append(json.dumps(
            {"source": e.source, "target": e.target, "id": test_id}, ensure_ascii=False))
        labels[test_id] = e.label
        taken.add(test_id)
        test_ids.append(test_id)
    for (folder, split), rows in files.items():
        write_text_atomic(data / ROOT / folder / f"{split}.txt", "".join(r + "\n" for r in rows))
    write_text_atomic(data / ROOT / "sample_submission.csv", "id,label\n" + "".join(f"{i},0\n" for i in test_ids))
    return labels


WRITERS = {"xiaobu": write_xiaobu, "sohu": write_sohu}


class Scorer:
    """Held-out scores of saved runs, each with the decision state its submission would use."""

    def __init__(self, task: Task, data: Path, labels: dict[str, int]):
        config = task.config_class()
        config.data_dir = str(data)
        splits = task.load_data(config)
        self.task = task
        self.test_ids = set(task.ids(splits.test))
        held = [e for e, i in zip(splits.test, task.ids(splits.test)) if i in labels]
        if len(held) != len(labels):
            raise ValueError(f"{data}: {len(held)} of the {len(labels)} held-out ids are in its test set")
        self.held = task.with_labels(held, [labels[i] for i in task.ids(held)])
        self.held_ids = task.ids(self.held)
        pool = task.cv_pool(config, splits)
        self.pool = dict(zip(task.ids(pool), pool))
        self.valid = splits.valid

    def _aligned(self, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
        where = {str(i): n for n, i in enumerate(ids)}
        if set(where) != self.test_ids:
            raise ValueError(f"predictions of {len(where)} rows, the data copy's test set has {len(self.test_ids)}")
        return np.asarray(probs)[[where[i] for i in self.held_ids]]

    def kfold(self, run: Path, fold: int | None = None) -> tuple[np.ndarray, dict, float]:
        """(held-out P, state tuned on the run's OOF rows, that OOF score); ``fold``: that fold's model and rows."""
        run = load_member(run)
        rows = np.arange(len(run.ids)) if fold is None else np.flatnonzero(run.fold == fold)
        metrics, state = self.task.score([self.pool[run.ids[r]] for r in rows], run.oof[rows])
        probs = run.test if fold is None else run.per_fold[fold]
        return self._aligned(run.test_ids, probs), state, metrics[self.task.metric_name]

    def single(self, run: Path, state: dict | str | None = None) -> tuple[np.ndarray, dict, float]:
        """(held-out P, state, validation score with it) of a trained run.

        state: None: its ``thresholds.json`` (what its submission decided with: tuned on its
        validation rows, or its teacher's with ``--distill-thresholds teacher``); ``"valid"``:
        tuned on its validation rows now; a dict: that state.
        """
        saved = np.load(run / "probabilities.npz")
        if saved["valid_keys"].astype(str).tolist() != self.task.ids(self.valid):
            raise ValueError(f"{run}/probabilities.npz: not the validation rows of the held-out data copy")
        if state == "valid":
            state = self.task.score(self.valid, saved["valid_probs"])[1]
        elif state is None:
            state = json.loads((run / "thresholds.json").read_text()) if (run / "thresholds.json").exists() else {}
        inner = self.task.score(self.valid, saved["valid_probs"], state)[0][self.task.metric_name]
        return self._aligned(saved["test_ids"], saved["test_probs"]), state, inner

    def score(self, probs: np.ndarray, state: dict | None, rows: np.ndarray | None = None) -> float:
        rows = np.arange(len(self.held)) if rows is None else rows
        return self.task.score([self.held[r] for r in rows], probs[rows], state)[0][self.task.metric_name]


def score_table(scorer: Scorer, ensemble: tuple, models: list[tuple[str, tuple]], rounds: int) -> list[dict]:
    """One row per ``(name, (held-out P, state, inner score))``: its held-out score with its own state and
    re-tuned, and (but the ensemble's) its paired bootstrap difference from ``ensemble``."""
    reference, reference_state = ensemble[:2]
    table = []
    for name, (probs, state, inner) in models:
        row = {"model": name, "inner": round(float(inner), 4), "holdout": round(scorer.score(probs, state), 4),
               "holdout_tuned": round(scorer.score(probs, None), 4)}
        if name != "ensemble":
            states = {id(reference): reference_state, id(probs): state}  # each scored with its own decisions
            pair = paired_bootstrap(lambda rows, p: scorer.score(p, states[id(p)], rows), reference, probs, rounds)
            row["vs_ensemble"] = {k: round(v, 4) for k, v in pair.items()}
        table.append(row)
    return table


def print_table(table: list[dict], metric: str) -> None:
    """Prints each model's inner, held-out and held-out-tuned scores and its gap to the ensemble with the interval."""
    print(f"{'model':<44} {'inner ' + metric:>12} {'held-out':>9} {'tuned on held-out':>18} {'vs ensemble [95%]':>26}")
    for row in table:
        gap = row.get("vs_ensemble")
        interval = f"{gap['diff']:+.4f} [{gap['low']:+.4f}, {gap['high']:+.4f}]" if gap else ""
        print(f"{row['model']:<44} {row['inner']:>12} {row['holdout']:>9} {row['holdout_tuned']:>18} {interval:>26}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=sorted(RECIPES), default="xiaobu")
    parser.add_argument("--source", default=None, help="a finished k-fold run of the task (default: its recipe's)")
    parser.add_argument("--holdout-fold", type=int, default=0)
    parser.add_argument("--pseudo", type=parse_bool, default=False,
                        help="also a k-fold run with the ensemble's pseudo-labels (--pseudo-from), true/false")
    parser.add_argument("--real-test", type=parse_bool, default=True,
                        help="true: the copy's test set is the held rows and then the task's own test rows, so the "
                             "student's transfer set (--distill-test-fraction of the test rows) and the pseudo-labels "
                             "are drawn from as many rows as in the recipe; false: the held rows only "
                             "(as before 2026-12-01)")
    parser.add_argument("--student-init", type=parse_bool, default=False,
                        help="also a student started from the plain model's weights (--init-from), true/false")
    parser.add_argument("--rounds", type=int, default=1000, help="paired bootstrap resamples")
    parser.add_argument("--score", nargs="+", default=None, metavar="RUN",
                        help="train nothing: score these single runs, trained on an earlier call's data copy (e.g. a "
                             "student with other flags), against its ensemble; prints the table, writes no JSON")
    args = parser.parse_args(argv)
    from common.commands import cv, ensemble, train

    task, recipe = get_task(args.task), RECIPES[args.task]
    source = Path(args.source or recipe.source)
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if config.get("limit"):
        raise ValueError(f"{source} was run with --limit {config['limit']}: hold out of a full run")
    oof = np.load(source / "oof.npz")
    held = [str(i) for i in oof["ids"][oof["fold"] == args.holdout_fold]]
    kept = [str(i) for i in oof["ids"][oof["fold"] != args.holdout_fold]]
    if not held:
        raise ValueError(f"{source} has no fold {args.holdout_fold}")
    root = source.parent / f"holdout-fold{args.holdout_fold}"
    data = root / "data"
    if args.score:  # the held rows' labels, from a scratch copy: the existing one stays as its runs saw it
        with tempfile.TemporaryDirectory() as scratch:
            labels = WRITERS[args.task](Path(config["data_dir"]), kept, held, Path(scratch), args.real_test)
        scorer = Scorer(task, data, labels)
        reference = scorer.kfold(root / "ensemble")  # not `ensemble`: that name is the command module here
        print_table(score_table(scorer, reference, [("ensemble", reference)] +
                                [(run, scorer.single(Path(run))) for run in args.score], args.rounds),
                    task.metric_name)
        return {}
    labels = WRITERS[args.task](Path(config["data_dir"]), kept, held, data, args.real_test)
    folds = len(np.unique(oof["fold"])) - 1
    place = ["--task", args.task, "--data-dir", str(data), "--submission-dir", str(root / "submissions")]
    shared = place + list(recipe.neural)  # the neural k-fold run's
    singles = place + [*recipe.single_base, *recipe.single]  # the student's and the plain control's
    singles += ["--resume", "true"]  # a rerun after a kill continues each single model (or starts it)
    start, seconds = time.time(), {}

    def timed(name, fn, argv):
        t = time.time()
        fn(argv)
        seconds[name] = round(time.time() - t, 1)

    timed("neural k-fold", cv.main, shared + ["--folds", str(folds), "--run-dir", str(root / "cv")])
    timed("ensemble (tfidf, gbm fitted)", ensemble.main,
          ["--task", args.task, "--data-dir", str(data), "--runs", str(root / "cv"), "tfidf", "gbm",
           "--run-dir", str(root / "ensemble")])
    student = singles + ["--distill-from", str(root / "ensemble"), *recipe.student]
    timed("student", train.main, student + ["--run-dir", str(root / "student")])
    timed("plain model", train.main, singles + ["--run-dir", str(root / "plain")])
    if args.student_init:  # the plain model trained on the student's labelled rows: no label it should not see
        timed("student from the plain model", train.main,
              student + ["--run-dir", str(root / "student-init"), "--init-from", str(root / "plain")])
    if args.pseudo:
        timed("neural k-fold + pseudo-labels", cv.main, shared + [
            "--folds", str(folds), "--run-dir", str(root / "pseudo"), "--pseudo-from", str(root / "ensemble")])

    scorer = Scorer(task, data, labels)
    ensemble = scorer.kfold(root / "ensemble")
    models = [("neural, fold-model mean", scorer.kfold(root / "cv")),
              ("neural, one fold model", scorer.kfold(root / "cv", 0)),
              ("tfidf", scorer.kfold(root / "cv-tfidf")), ("gbm", scorer.kfold(root / "cv-gbm")),
              ("ensemble", ensemble), ("student (one model), as it decides", scorer.single(root / "student")),
              ("student, thresholds of its validation rows", scorer.single(root / "student", "valid")),
              # what --distill-thresholds teacher decides: the teacher's thresholds, tuned on its OOF rows
              ("student, the ensemble's thresholds", scorer.single(root / "student", ensemble[1])),
              ("plain model (one, same budget as a fold)", scorer.single(root / "plain"))]
    if args.student_init:
        models += [("student from the plain model, as it decides", scorer.single(root / "student-init")),
                   ("student from the plain model, own thresholds", scorer.single(root / "student-init", "valid"))]
    if args.pseudo:
        models += [("neural + pseudo-labels, fold-model mean", scorer.kfold(root / "pseudo")),
                   ("neural + pseudo-labels, one fold model", scorer.kfold(root / "pseudo", 0))]
    table = score_table(scorer, ensemble, models, args.rounds)
    metric = task.metric_name
    print_table(table, metric)
    values = np.array(list(labels.values()))
    result = {"task": args.task, "source": str(source), "holdout_fold": args.holdout_fold, "holdout_rows": len(held),
              "holdout_positives": int(values.sum()), "training_rows": len(kept), "inner_folds": folds,
              "real_test": args.real_test, "test_rows": len(scorer.test_ids), "student_init": args.student_init,
              "neural_flags": list(recipe.neural), "student_flags": list(recipe.student), "metric": metric,
              "inner": "k-fold models: their OOF score; single models: validation score with the row's thresholds",
              "bootstrap_rounds": args.rounds, "rows": table, "seconds": seconds,
              "wall_seconds": round(time.time() - start, 1), "load_average": os.getloadavg()}
    suffix = f"_fold{args.holdout_fold}" if args.holdout_fold else ""  # fold 0 keeps the name RESULTS.md cites
    write_json_atomic(RESULTS / f"student_holdout_{args.task}{suffix}.json", result)
    return result


if __name__ == "__main__":
    main()
