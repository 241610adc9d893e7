"""Ensemble k-fold runs of any task on their out-of-fold predictions: Caruana selection and a logistic stack.

    python -m common.commands.ensemble --task afqmc [--data-dir DIR] --runs runs/afqmc/cv5 runs/afqmc/cv5-seed2 tfidf gbm
    make afqmc-ensemble RUNS="runs/afqmc/cv5 runs/afqmc/cv5-seed2 tfidf gbm" [ARGS="--method stack"]

Members (``--runs``): k-fold run folders (``oof.npz``, ``test_predictions.npz``; neural
configs, seeds, earlier ensembles) and non-neural members fitted on the first run's
folds: ``tfidf`` (the TF-IDF pair features + logistic regression of
:mod:`common.tfidf_reference`), ``tfidf-word`` (the same over jieba's words; string texts)
and ``gbm`` (gradient boosting on pair statistics), cached as k-fold-like folders
``<first run>-tfidf/``, ``<first run>-gbm/``, ... beside it (``-<digest>`` added for
member options other than the defaults: :func:`feature_cache_dir`; a rerun reuses them;
``--refresh`` refits). When the first run's config makes the task imply
training rows (``Task.implied_rows``, e.g. Sohu's ``--implied-labels``), fold k's feature
models train on the rows implied by the other folds' rows too, as its neural fold model did. The task's data come from the first run's
``config.json`` (its ``--limit`` included; ``--data-dir`` overrides the folder), and its
pool's ids, every member's ids, labels, folds and test ids are asserted equal first. The feature
members and the stack are fitted to the task's targets (``Task.targets``: the 0/1 labels, or graded
labels mapped to [0, 1]); the saved ``labels`` stay the raw labels.

Two combiners (:mod:`common.ensemble`), both scored by the task's metric: Caruana et al.'s
(2004) greedy selection with replacement, and Wolpert's (1992) stacking with a logistic
regression on the members' logits. Each is reported twice: fitted and scored on all OOF
rows (optimistic), and cross-fitted over the same folds (fold k combined by weights fitted
on the other folds): the honest number. ``--method auto`` keeps the combiner with the
better honest score. Writes ``<run-dir>/`` (default ``<first run's folder>/../ensemble-<first
run>``): ``ensemble.json``, ``oof.npz`` (the cross-fitted OOF), ``test_predictions.npz``
(the combiner refitted on all OOF rows; ``per_fold[k]``: fold k's combiner on the members'
own fold-k test predictions, so no model behind it saw fold k) in a k-fold run's format,
``config.json``, ``folds.json``; and the submission ``<run name>[-<test>]-cv<honest score>``. Ends with one JSON line.

Another test file (a contest's phase-B set): ``python -m common.commands.predict --task T --run <ensemble folder>
--test-file F`` has every member predict ``F`` and joins them as above (:func:`predict_ensemble_run`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from accelerate import Accelerator

from common.blas import openblas_kernels
from common.commands.args import run_cli, split_task
from common.commands.predict import (kfold_test_probabilities, other_data_dir, read_test_file,
                                     save_probabilities, saved_kfold_submission, submission_name)
from common.config import ArgumentParser, config_from_dict, load_overrides
from common.cv import assert_same_ids, check_pool_digest, digest_arrays
from common.ensemble import (FEATURE_MEMBERS, GBM_FEATURES, OOF_FILE, TEST_FILE, ExtraRows, FeatureOptions, Member,
                             apply_stack, better, caruana_select, check_members, condition_groups, cross_fit,
                             feature_member, fit_stack, implied_extra_rows, load_member, member_options,
                             stack_coefficients, weighted)
from common.io import atomic_path, print_result, write_json_atomic
from common.run import (broadcast_from_main, changed_values, check_run_name, check_run_task, name_after_folder,
                        process_state, record_environment, save_config)
from common.task import Task
from common.training.trainer import selection_metric

METHODS = ("auto", "caruana", "stack")


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, **arrays)


def run_config(task: Task, run_dir: Path, data_dir: str | None, submission_dir: str | None,
               config_files: Sequence[str] = ()) -> Any:
    """The task config a k-fold run was made with (its data and ``limit``), with the given overrides.

    ``config_files``: the task's override files (``--config``, e.g. a ``--task pair`` contest file) the
    run was made with, checked against it: a command line that names the contest file as every other
    command's does is accepted, one naming another contest's is refused. A file's ``data_dir`` /
    ``submission_dir`` is not checked when ``data_dir`` / ``submission_dir`` is given: the flag overrides
    the file here as it did in the run's command. A file's ``submission_*`` options (its format, values,
    column names: how the submission is written, never what the members predict) are taken, not checked.

    Raises:
        FileNotFoundError: the run folder has no ``config.json``, or an override file is missing.
        ValueError: an override file sets an option to another value than the run's.
    """
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: the first --runs folder must be a k-fold run of {task.name} "
                                "(its config says which data its folds split)")
    config = config_from_dict(task.config_class, json.loads(path.read_text(encoding="utf-8")))
    for file in config_files:
        for name, value in load_overrides(task.config_class, file).items():
            flagged = {"data_dir": data_dir, "submission_dir": submission_dir}.get(name)
            if name.startswith("submission_") and not flagged:
                config = dataclasses.replace(config, **{name: value})  # re-checked by the config's own rules
                continue
            if not flagged and getattr(config, name) != value:
                raise ValueError(f"{file}: {name} = {value!r}, but {run_dir} was made with {getattr(config, name)!r} "
                                 "(the members' data come from the first run's config.json)")
    if data_dir:
        config.data_dir = data_dir
    if submission_dir:
        config.submission_dir = submission_dir
    return config


def feature_cache_dir(first_run: Path, spec: str, options: FeatureOptions) -> Path:
    """The folder of member ``spec`` on ``first_run``'s folds: ``<first run>-<spec>`` at the default options, else
    ``<first run>-<spec>-<digest of the options it is fitted with that differ>``. Two ensembles of one first run
    with other member options (``--tfidf-C``, ``--gbm-features``) refitted one folder in turn, and the ensemble
    built first then no longer found the member it had weighed."""
    default = member_options(spec, FeatureOptions())
    changed = {k: v for k, v in member_options(spec, options).items() if v != default[k]}
    name = f"{first_run.name}-{spec}"
    if changed:
        name += "-" + hashlib.sha256(json.dumps(changed, sort_keys=True).encode("utf-8")).hexdigest()[:8]
    return first_run.parent / name


def cached_feature_member(spec: str, cache_dir: Path, ref: Member, pairs: list, test_pairs: list,
                          groups: np.ndarray | None, test_groups: np.ndarray | None, options: FeatureOptions,
                          score: Callable[[np.ndarray], dict], refresh: bool, extra: ExtraRows | None = None,
                          targets: np.ndarray | None = None) -> Member:
    """The ``tfidf`` / ``gbm`` member on ``ref``'s folds, read from ``cache_dir`` when it was made the same way.

    The cache is reused when its ``member.json`` (spec, options, fold source, and a digest of the
    targets when they are not the labels) matches and its ids, labels, folds and test ids equal
    ``ref``'s; otherwise the member is fitted (:func:`common.ensemble.feature_member`) and the folder
    rewritten as a k-fold-like run (``oof.npz`` with ``ref``'s raw labels, ``test_predictions.npz``,
    ``cv_metrics.json``, ``member.json``).

    Args:
        targets: (N,) what the models fit (``Task.targets`` of the pool, in [0, 1]); None: ``ref.labels``.
    """
    # "threads": fitted in member_threads (one BLAS / OpenMP thread); a cache fitted before, at the machine's thread
    # count, is refitted, since its floats (and the gbm's bins) depended on that count
    # "blas": OpenBLAS's kernel set (common.blas pins one on x86-64); a cache fitted with another set is refitted,
    # since the gbm's bins moved with it (Sohu OOF 0.6762 with SkylakeX kernels, 0.6749 with Haswell's)
    meta = {"spec": spec, "options": asdict(options), "folds_from": str(ref.run_dir), "threads": 1,
            "blas": openblas_kernels()}
    targets = ref.labels if targets is None else np.asarray(targets)
    if not np.array_equal(targets, ref.labels):  # graded labels: a cache fitted to other targets (or before
        # Task.targets, to the raw labels) is refitted; 0/1 tasks keep their caches (targets == labels)
        meta["targets"] = hashlib.sha256(np.ascontiguousarray(targets, dtype=np.float64).tobytes()).hexdigest()[:16]
    if extra is not None:  # trained on the task's implied rows too (a cache made without them is refitted)
        meta["implied_rows"] = len(extra.pairs)
        meta["vocabulary"] = "pool rows"  # since the IDF and SVD stopped counting the implied rows' texts again
    if not refresh and (cache_dir / "member.json").is_file() and (cache_dir / TEST_FILE).is_file():
        saved = json.loads((cache_dir / "member.json").read_text(encoding="utf-8"))

        def fitted_with(m: dict) -> dict:  # the options the member is fitted with, not those of the other members
            return {**m, "options": member_options(spec, m.get("options", {}))}
        if fitted_with(saved) == fitted_with(meta):
            cached = load_member(cache_dir, spec)
            if (np.array_equal(cached.ids, ref.ids) and np.array_equal(cached.labels, ref.labels)
                    and np.array_equal(cached.fold, ref.fold) and np.array_equal(cached.test_ids, ref.test_ids)
                    and cached.test_digest == ref.test_digest):
                return cached
    start = time.time()
    oof, per_fold = feature_member(spec, pairs, targets, ref.fold, test_pairs, groups, test_groups, options, extra)
    member = Member(cache_dir, ref.ids, ref.labels, ref.fold, oof, ref.test_ids, per_fold.mean(axis=0), per_fold, spec,
                    ref.test_digest)
    if process_state().is_main_process:
        _save_npz(cache_dir / OOF_FILE, ids=ref.ids, labels=ref.labels, fold=ref.fold, oof=oof)
        _save_npz(cache_dir / TEST_FILE, test_ids=ref.test_ids, test=member.test, per_fold=per_fold,
                  **digest_arrays(ref.test_digest))
        write_json_atomic(cache_dir / "cv_metrics.json", {"cv": score(oof), "fit_seconds": round(time.time() - start, 1),
                                                          "n_folds": len(per_fold)})
        record_environment(cache_dir)  # the versions and threads the member was fitted with
        write_json_atomic(cache_dir / "member.json", meta)  # last: marks the cache complete
    return member


def check_pool_labels(task: Task, pool: list, ref: Member, data_dir: str, runs: Sequence[Path] = ()) -> str:
    """Refuse a pool whose labels differ from those the first run's OOF predictions were scored on: ids count rows
    by position (``train:0:k``), so a training file reordered or edited since keeps the ids and moves the labels;
    the combiner and thresholds would be tuned on labels of other rows. The k-fold run folders ``runs`` (and
    ``ref``'s) are also checked for the pool's texts (:func:`common.cv.check_pool_digest`).

    Returns:
        The pool's digest (:meth:`common.task.Task.examples_digest`).

    Raises:
        ValueError: one line with the count of differing rows, or naming the run made on other texts.
    """
    labels = task.labels(pool)
    differ = ref.other_labels(labels)
    if differ:
        raise ValueError(f"{data_dir}: {differ} of {len(labels)} rows have other labels than {ref.run_dir}/{OOF_FILE} "
                         "was scored on (a training file reordered or edited since?); rebuild the runs on this data")
    digest = task.examples_digest(pool)
    for run in dict.fromkeys([ref.run_dir, *runs]):
        check_pool_digest(run, digest, data_dir)
    return digest


def _parser() -> argparse.ArgumentParser:
    defaults = FeatureOptions()
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True,
                        help=f"k-fold run folders (the first gives data and folds) and/or {' '.join(FEATURE_MEMBERS)}")
    parser.add_argument("--config", action="append", default=[],
                        help="the task's override file(s) the first run was made with, checked against its "
                             "config.json (as make pair-ensemble PAIR=... passes it)")
    parser.add_argument("--data-dir", default=None, help="default: the first run's")
    parser.add_argument("--submission-dir", default=None, help="default: the first run's")
    parser.add_argument("--run-name", default="", help="default: ensemble-<first run's name>")
    parser.add_argument("--run-dir", default="", help="default: <first run's parent>/<run name>")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="the combiner written; auto: the better cross-fitted (honest) OOF score")
    parser.add_argument("--iterations", type=int, default=50, help="Caruana: greedy steps at most")
    parser.add_argument("--patience", type=int, default=10, help="Caruana: stop after this many steps without gain")
    parser.add_argument("--init-max", type=int, default=0, help="Caruana: most best members to start from (0: all)")
    parser.add_argument("--stack-C", type=float, default=1.0, help="stack: the regression's inverse L2 strength")
    parser.add_argument("--metric-for-best-model", default="",
                        help="the score Caruana climbs and --method auto compares (e.g. auc); default: the task's "
                             "metric, whatever picked the members' epochs (AFQMC: climbing AUC cost the ensemble "
                             "0.0017 of accuracy, RESULTS.md). Reports and the submission's name stay in the "
                             "task's metric")
    parser.add_argument("--refresh", action="store_true", help="refit the cached non-neural members")
    for name, value in asdict(defaults).items():
        if name == "with_sum":
            continue
        flag = "--" + ("tfidf-" + name if name in ("ngram_max", "C") else name).replace("_", "-")
        parser.add_argument(flag, type=type(value), default=value, dest=name,
                            choices=GBM_FEATURES if name == "gbm_features" else None,
                            help=f"common.ensemble.FeatureOptions.{name} (default {value})")
    return parser


# ensemble options that only say where things go or refresh a cache: a rerun may change them
RERUN_FREE = {"config", "data_dir", "submission_dir", "run_name", "run_dir", "refresh"}


def check_rerun(run_dir: Path, args: argparse.Namespace) -> None:
    """Refuse to overwrite ``run_dir``'s ensemble with one of other members or options: a student distilled from
    it (``--distill-from``, finishing folds later) or a pseudo-labelled run would take another teacher under the
    same name. The same members and options rebuild the same ensemble and may overwrite it.

    Raises:
        ValueError: naming ``run_dir/ensemble.json`` and every differing option (old -> new).
    """
    path = run_dir / "ensemble.json"
    if not path.is_file():
        return
    saved = json.loads(path.read_text(encoding="utf-8")).get("args", {})
    if "runs" not in saved:  # written before ensemble.json recorded its options: nothing to compare
        return
    def resolved(runs: list[str]) -> list[str]:  # a rerun from another folder names the same runs
        return [r if r in FEATURE_MEMBERS else str(Path(r).resolve()) for r in runs]
    changed = changed_values({**saved, "runs": resolved(saved["runs"])}, {**vars(args), "runs": resolved(args.runs)},
                             RERUN_FREE)
    if changed:
        raise ValueError(f"{path}: an ensemble of other members or options ({'; '.join(changed)}) is there, and runs "
                         "may learn from it (--distill-from, --pseudo-from): give another --run-name")


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    task, rest = split_task(argv, __doc__)
    args = _parser().parse_args(rest)
    folders = [s for s in args.runs if s not in FEATURE_MEMBERS]
    if not folders:
        raise ValueError("--runs needs at least one k-fold run folder: its folds are the other members' folds")
    if len(set(args.runs)) != len(args.runs):
        raise ValueError(f"--runs names a member twice: {args.runs} (the selection repeats members itself)")
    for folder in folders:  # another task's run: named as such, not by the first file it cannot read
        check_run_task(folder, task)
    ref = load_member(folders[0])
    runs = {folders[0]: ref, **{f: load_member(f) for f in folders[1:]}}
    check_members(list(runs.values()))  # other rows or folds: said before the data is read and its digest compared
    check_run_name(args.run_name)
    run_name = args.run_name or f"ensemble-{ref.run_dir.name}"
    run_dir = Path(args.run_dir) if args.run_dir else ref.run_dir.parent / run_name
    check_rerun(run_dir, args)  # before any member is fitted
    config = run_config(task, ref.run_dir, args.data_dir, args.submission_dir, args.config)
    data = task.load_data(config)
    pool = task.cv_pool(config, data)
    assert_same_ids(np.asarray(task.ids(pool), dtype=str), ref.ids,
                    f"{ref.run_dir}/{OOF_FILE} against the task's pool (the run's data and --limit)")
    pool_digest = check_pool_labels(task, pool, ref, config.data_dir, [Path(f) for f in folders])
    assert_same_ids(np.asarray(task.ids(data.test), dtype=str), ref.test_ids,
                    f"{ref.run_dir}/{TEST_FILE} against the task's test set")
    ref.check_test_digest(task.examples_digest(data.test), "the task's test set read now")
    groups, test_groups = condition_groups(task, pool, data.test)  # e.g. Sohu's subtask: per-group fits
    # (N,) in [0, 1] ((N, C) one-hot of C > 2 classes): what the feature members and stack fit
    targets = np.asarray(task.targets(pool), dtype=np.float64)

    def scorer(rows: np.ndarray) -> Callable[[np.ndarray], dict]:
        examples = [pool[i] for i in rows]
        return lambda probs: task.score(examples, probs)[0]

    everything = scorer(np.arange(len(pool)))
    options = FeatureOptions(**{k: getattr(args, k) for k in asdict(FeatureOptions()) if hasattr(args, k)})
    # the rows the first run's fold models trained on besides the pool's (its config's e.g. --implied-labels)
    extra = implied_extra_rows(task, config, pool, ref.fold, data)
    members = []
    for spec in args.runs:
        if spec in FEATURE_MEMBERS:
            pairs = task.text_pairs(pool)
            if pairs is None:
                raise ValueError(f"{spec}: task {task.name} gives no text pairs (Task.text_pairs) to fit it on")
            cache = feature_cache_dir(ref.run_dir, spec, options)
            members.append(cached_feature_member(spec, cache, ref, pairs, task.text_pairs(data.test), groups,
                                                 test_groups, options, everything, args.refresh, extra, targets))
        else:
            members.append(runs[spec])
    check_members(members)
    names = [m.name for m in members]
    for m in members:
        if names.count(m.name) > 1:  # runs of one name in different folders: name them by path
            m.name = str(m.run_dir)
    result = ensemble(task, members, scorer, groups, test_groups, args, targets)

    config.run_name, config.run_dir = run_name, str(run_dir)
    chosen = result["chosen"]
    _, state = task.score(pool, chosen["oof"])  # decisions (e.g. thresholds) tuned on the honest OOF
    metric = task.metric_name
    out = {"run_dir": str(run_dir), "method": result["method"], "metric": metric,
           "selected_on": result["report"]["selected_on"],
           "members": {m["name"]: m["oof"][metric] for m in result["report"]["members"]},
           "caruana": {k: result["report"]["caruana"][k][metric] for k in ("oof_in_sample", "oof_cross_fitted")},
           "stack": {k: result["report"]["stack"][k][metric] for k in ("oof_in_sample", "oof_cross_fitted")},
           "cv": chosen["metrics"], "thresholds": state}
    if process_state().is_main_process:
        save_config(config, run_dir)  # and environment.json
        folds = ref.run_dir / "folds.json"
        if folds.is_file():  # with the digest of the rows the members were checked against, which a teacher
            # compares (a first member from before digests has none; another member may have had one)
            saved = json.loads(folds.read_text(encoding="utf-8"))
            write_json_atomic(run_dir / "folds.json", {**saved, "pool_digest": pool_digest})
        _save_npz(run_dir / OOF_FILE, ids=ref.ids, labels=ref.labels, fold=ref.fold, oof=chosen["oof"])
        _save_npz(run_dir / TEST_FILE, test_ids=ref.test_ids, test=chosen["test"], per_fold=chosen["per_fold"],
                  **digest_arrays(ref.test_digest))
        name = submission_name(task, config, "", f"cv{chosen['metrics'][metric]:.4f}", None)
        out.update(task.write_submission(config, data.test, chosen["test"], state, name))
        write_json_atomic(run_dir / "ensemble.json", {**result["report"], "thresholds": state,
                                                      "submission": out.get("submission"),
                                                      "args": {"task": task.name, **vars(args)}})
        out["wall_seconds"] = round(time.time() - start, 1)
        print_result(out)
    return out


def ensemble(task: Task, members: list[Member], scorer: Callable[[np.ndarray], Callable[[np.ndarray], dict]],
             groups: np.ndarray | None, test_groups: np.ndarray | None, args: argparse.Namespace,
             targets: np.ndarray | None = None) -> dict:
    """Fit both combiners on all OOF rows and cross-fitted over the folds; pick one.

    Args:
        members: K aligned members (:func:`common.ensemble.check_members` passed).
        scorer: ``rows -> (probabilities of those rows -> the task's metrics)``.
        groups, test_groups: (N,) and (M,) optional group ids for the stack.
        args: ``method``, ``iterations``, ``patience``, ``init_max``, ``stack_C``, ``metric_for_best_model``
            (the score Caruana climbs and ``auto`` compares; empty: the task's metric).
        targets: (N,) what the stack fits, in [0, 1] (``Task.targets`` of the pool; (N, C) one-hot rows of C > 2
            classes); None: the members' labels (0/1 tasks).

    Raises:
        ValueError: ``metric_for_best_model`` names a score the task does not compute; targets outside [0, 1].

    Returns:
        ``{"report": what ensemble.json holds, "method", "chosen": {"oof" (N,), "test" (M,),
        "per_fold" (K, M) from models that never saw fold k (unless ``report["per_fold_leak_free"]``
        is false: a member without per-fold test predictions), "metrics"}}``.
    """
    metric, up = selection_metric(getattr(args, "metric_for_best_model", ""), task.metric_name,
                                  task.greater_is_better)  # what Caruana climbs and auto compares
    names = [m.name for m in members]
    P = np.stack([m.oof for m in members])  # (K members, N rows) or (K, N, C classes)
    T = np.stack([m.test for m in members])  # (K members, M test rows) or (K, M, C)
    fold = members[0].fold
    targets = members[0].labels if targets is None else np.asarray(targets)  # (N,) what the stack fits
    n_folds = len(np.unique(fold))
    # Fold k's combiner on the members' fold-k test predictions, from models that never saw fold k:
    # what a second round (pseudo-labels, distillation) scored on these folds may learn from.
    # A member without per-fold test predictions gives its fold mean, which has seen fold k.
    leak_free = all(len(m.per_fold) == n_folds for m in members)
    T_fold = [np.stack([m.per_fold[k] if len(m.per_fold) == n_folds else m.test for m in members])
              for k in range(n_folds)]
    everything = scorer(np.arange(P.shape[1]))
    scores = everything(P[0])
    if metric not in scores:
        raise ValueError(f"--metric-for-best-model {metric}: the task's scores are {', '.join(sorted(scores))}")

    def select(rows: np.ndarray):
        score = scorer(rows)
        return caruana_select(P[:, rows], lambda p: score(p)[metric], up, args.iterations, args.init_max,
                              args.patience)

    caruana_folds, stack_folds = {}, {}

    def caruana_fold(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        caruana_folds[int(fold[held[0]])] = weights = select(train).weights
        return weighted(weights, P[:, held])

    def stack_fold(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        g = (lambda rows: None) if groups is None else (lambda rows: groups[rows])
        stack_folds[int(fold[held[0]])] = model = fit_stack(P[:, train], targets[train], g(train), args.stack_C)
        return apply_stack(model, P[:, held], g(held))

    selection = select(np.arange(P.shape[1]))
    caruana_oof = cross_fit(fold, caruana_fold)
    stack = fit_stack(P, targets, groups, args.stack_C)
    stack_oof = cross_fit(fold, stack_fold)
    candidates = {
        "caruana": {"oof": caruana_oof, "test": weighted(selection.weights, T),
                    "per_fold": np.stack([weighted(caruana_folds[k], T_fold[k]) for k in range(n_folds)]),
                    "metrics": everything(caruana_oof)},
        "stack": {"oof": stack_oof, "test": apply_stack(stack, T, test_groups),
                  "per_fold": np.stack([apply_stack(stack_folds[k], T_fold[k], test_groups) for k in range(n_folds)]),
                  "metrics": everything(stack_oof)},
    }
    method = args.method
    if method == "auto":
        method = "stack" if better(candidates["stack"]["metrics"][metric], candidates["caruana"]["metrics"][metric],
                                   up) else "caruana"
    report = {
        "task": task.name, "metric": task.metric_name, "greater_is_better": task.greater_is_better,
        "selected_on": metric, "n_folds": n_folds,
        "per_fold_leak_free": leak_free,
        "rows": int(P.shape[1]), "test_rows": int(T.shape[1]), "method": method,
        "members": [{"name": m.name, "run_dir": str(m.run_dir), "oof": everything(m.oof),
                     "caruana_weight": round(float(w), 4)} for m, w in zip(members, selection.weights)],
        "caruana": {"oof_in_sample": everything(weighted(selection.weights, P)), "oof_cross_fitted": candidates["caruana"]["metrics"],
                    "weights": dict(zip(names, selection.weights.round(4).tolist())),
                    "counts": dict(zip(names, selection.counts.tolist())), "init": selection.init,
                    "history": [round(h, 6) for h in selection.history],
                    "fold_weights": {k: dict(zip(names, w.round(4).tolist())) for k, w in sorted(caruana_folds.items())}},
        "stack": {"oof_in_sample": everything(apply_stack(stack, P, groups)),
                  "oof_cross_fitted": candidates["stack"]["metrics"], "coefficients": stack_coefficients(stack, names),
                  "per_group": groups is not None},
        "oof": candidates[method]["metrics"],
    }
    return {"report": report, "method": method, "chosen": candidates[method]}


# how far a member's saved predictions, and the ensemble's own test predictions, may be from what predicting
# them again gives before the ensemble is refused as built from other members (float64 sums: ~1e-15 apart)
REPRODUCED_TOLERANCE = 1e-6


def _member_folder(path: str, ensemble_dir: Path) -> Path:
    """A member's folder as ensemble.json names it (relative to where the ensemble was built); a folder beside
    ``ensemble_dir`` of the same name when that path is not there (the ensemble predicted from elsewhere)."""
    folder = Path(path)
    if not folder.exists() and (ensemble_dir.parent / folder.name).exists():
        return ensemble_dir.parent / folder.name
    return folder


def read_ensemble(ensemble_dir: Path) -> dict:
    """An ensemble folder's ``ensemble.json``, with the options it was built with (``args``).

    Raises:
        ValueError: one written before it recorded them (its members cannot be predicted again).
    """
    saved = json.loads((ensemble_dir / "ensemble.json").read_text(encoding="utf-8"))
    if "runs" not in saved.get("args", {}) or "members" not in saved:
        raise ValueError(f"{ensemble_dir / 'ensemble.json'} predates the record of its members and options: rebuild "
                         "it with the ensemble command (the same --runs) to predict a new test file with it")
    return saved


def test_changed_refusal(test_path: Path, ensemble_dir: Path, fitted: list[str]) -> ValueError:
    """The error for an ensemble whose own test file changed since it was built while feature members (``fitted``:
    tfidf, gbm) must be fitted again to predict: their fit read the old file's texts, which are gone."""
    return ValueError(f"{test_path} changed since {ensemble_dir} was built, and its {', '.join(fitted)} member was "
                      "fitted with that file's texts, so it cannot be fitted again: restore the file, then predict "
                      f"the new one with `predict --run {ensemble_dir} --test-file <file>`")


def ensemble_test_probabilities(task: Task, ensemble_dir: Path, test: list,
                                accelerator: Callable[[], Accelerator]) -> tuple[np.ndarray, dict]:
    """(M,) a saved OOF ensemble's probabilities of new test rows: every member it weighs predicts ``test`` and the
    ensemble's combiner joins them, as it joined their predictions of its own test set.

    Members: a k-fold run folder predicts with its fold models (the fold mean, under its own inference setting:
    :func:`common.commands.predict.kfold_test_probabilities`); a ``tfidf`` / ``tfidf-word`` / ``gbm`` member is fitted
    again on the first run's folds (:func:`common.ensemble.feature_member`: the same rows, options and one thread,
    so the same models) and its fold models predict ``test``; an earlier ensemble is predicted the same way.
    Caruana's combiner is its saved selection counts (a member of weight 0 is not predicted); the stack is
    refitted on the members' saved OOF predictions. Before ``test`` is predicted, the ensemble must come back
    from its members' saved predictions: the combiner applied to their predictions of the ensemble's own test
    set gives its ``test_predictions.npz`` again, and a refitted feature member gives its saved OOF
    predictions again (both within :data:`REPRODUCED_TOLERANCE`).

    Args:
        ensemble_dir: a folder written by this command (``ensemble.json`` with its ``args``).
        test: M test examples of the task (read in the layout they are submitted in).
        accelerator: gives the accelerator the neural members predict through (made once, when first needed).

    Returns:
        ``(probabilities (M,), {"members": {name: weight or "stack"}, "refitted": [feature members]})``.

    Raises:
        ValueError: an ensemble.json without the options it was built with (older than them); a member that no
            longer gives the predictions the ensemble was built from (rerun, refitted with other library versions).
        FileNotFoundError: a member's folder or feature cache missing.
    """
    saved = read_ensemble(ensemble_dir)
    args = saved["args"]
    config = config_from_dict(task.config_class,
                              json.loads((ensemble_dir / "config.json").read_text(encoding="utf-8")))
    data = task.load_data(config)
    pool = task.cv_pool(config, data)
    members = []
    for spec, info in zip(args["runs"], saved["members"]):
        folder = _member_folder(info["run_dir"], ensemble_dir)
        if spec in FEATURE_MEMBERS and not (folder / TEST_FILE).is_file():
            raise FileNotFoundError(f"{folder}: the {spec} member {ensemble_dir} weighed is gone; rebuild the "
                                    "ensemble (the same command fits it again)")
        members.append(load_member(folder, info["name"]))
    ref = members[0]
    assert_same_ids(np.asarray(task.ids(pool), dtype=str), ref.ids,
                    f"{ref.run_dir}/{OOF_FILE} against {ensemble_dir}'s data ({config.data_dir})")
    check_pool_labels(task, pool, ref, config.data_dir,
                      [m.run_dir for spec, m in zip(args["runs"], members) if spec not in FEATURE_MEMBERS])
    check_members(members)
    fitted = [spec for spec in args["runs"] if spec in FEATURE_MEMBERS]
    if fitted and ref.test_digest not in (None, task.examples_digest(data.test)):  # probe AN: "--refresh" advised
        raise test_changed_refusal(task.test_path(config), ensemble_dir, fitted)
    groups, own_test_groups = condition_groups(task, pool, data.test)
    test_groups = condition_groups(task, pool, test)[1]
    targets = np.asarray(task.targets(pool), dtype=np.float64)
    P = np.stack([m.oof for m in members])  # (K, N) the members' saved OOF predictions
    if saved["method"] == "caruana":
        counts = np.asarray(list(saved["caruana"]["counts"].values()), dtype=np.float64)  # members' order
        combine = lambda T, _groups: weighted(counts / counts.sum(), T)  # noqa: E731  (K, M) -> (M,)
        weights = {m.name: float(c / counts.sum()) for m, c in zip(members, counts)}
    else:
        stack = fit_stack(P, targets, groups, args.get("stack_C", 1.0))
        combine = lambda T, g: apply_stack(stack, T, g)  # noqa: E731
        weights = {m.name: "stack" for m in members}
        counts = np.ones(len(members))
    with np.load(ensemble_dir / TEST_FILE) as own:
        own_test = own["test"]
    gap = np.abs(combine(np.stack([m.test for m in members]), own_test_groups) - own_test).max(initial=0.0)
    if gap > REPRODUCED_TOLERANCE:
        raise ValueError(f"{ensemble_dir}: its members' saved test predictions, combined, are {gap:.2g} away from "
                         f"its {TEST_FILE}: a member was rerun or refitted since; rebuild the ensemble")
    options = FeatureOptions(**{k: args[k] for k in asdict(FeatureOptions()) if k in args})
    if any(spec in FEATURE_MEMBERS and c for spec, c in zip(args["runs"], counts)):  # what their refits share
        extra = implied_extra_rows(task, config, pool, ref.fold, data)
        pool_pairs, own_pairs = task.text_pairs(pool), list(task.text_pairs(data.test))
        # its own test set first, counted as fitted on: the word2vec of the gbm's alignment columns learns from
        # the texts it was fitted with, so the refit is the member the ensemble weighed
        both_pairs = own_pairs + list(task.text_pairs(test))
        both_groups = None if groups is None else np.concatenate([own_test_groups, test_groups])
    T = np.zeros((len(members), len(test)) + ref.test.shape[1:])  # (K, M) or (K, M, C)
    refitted = []
    for i, (spec, member) in enumerate(zip(args["runs"], members)):
        if counts[i] == 0:
            continue  # weight 0: its predictions would not count
        if spec in FEATURE_MEMBERS:
            oof, per_fold = feature_member(spec, pool_pairs, targets, ref.fold, both_pairs, groups, both_groups,
                                           options, extra, fit_test_rows=len(own_pairs))
            gap = max(np.abs(oof - member.oof).max(initial=0.0),
                      np.abs(per_fold[:, :len(own_pairs)].mean(axis=0) - member.test).max(initial=0.0))
            if gap > REPRODUCED_TOLERANCE:
                raise ValueError(f"{member.run_dir}: fitted again, the {spec} member's predictions are {gap:.2g} "
                                 "away from those the ensemble weighed: the texts of its test file changed since "
                                 "(the fit reads them), or other library versions or BLAS kernels (its "
                                 "environment.json); rebuild the ensemble (--refresh)")
            T[i] = per_fold[:, len(own_pairs):].mean(axis=0)
            refitted.append(member.name)
        elif (member.run_dir / "ensemble.json").is_file():
            T[i], inner = ensemble_test_probabilities(task, member.run_dir, test, accelerator)
            refitted += [f"{member.name}/{name}" for name in inner["refitted"]]
        else:
            T[i] = kfold_test_probabilities(task, member.run_dir, test, accelerator()).mean(axis=0)
    return combine(T, test_groups), {"members": weights, "refitted": refitted}


def predict_ensemble_run(task: Task, run_dir: str | Path, data_dir: str | None = None, test_file: str | None = None,
                         submission_dir: str | None = None, test_config: dict | None = None) -> dict:
    """A saved OOF ensemble's submission: of its own test set again (from its ``test_predictions.npz``), or of
    another test set (``test_file``, or the test set of another ``data_dir``) predicted by its members
    (:func:`ensemble_test_probabilities`), decided by the thresholds it tuned on its OOF rows and named with its
    OOF score. The ensemble's folder is never written; another test set's ``<submission>.probabilities.npz`` goes
    beside its submission. The command ``predict --run <ensemble folder>`` calls this.

    Args:
        data_dir / test_file / submission_dir / test_config: as :func:`common.commands.predict.predict_run`.

    Returns:
        ``{"cv": the ensemble's OOF metrics, "thresholds", "submission", "rows", "run_dir", "members": weights,
        "refitted", ...}`` (the same on every process).

    Raises:
        As :func:`ensemble_test_probabilities`.
    """
    start = time.time()
    run_dir = Path(run_dir)
    config = config_from_dict(task.config_class, json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    name_after_folder(config, run_dir)
    if submission_dir:
        config.submission_dir = submission_dir
    edited = test_file is None and not other_data_dir(config, data_dir)
    if edited:
        saved = saved_kfold_submission(task, run_dir, config, start)
        if saved is not None:
            return saved  # else its own test file, edited since: predicted by the members, named as its own
    saved = read_ensemble(run_dir)  # before anything is read or predicted
    fitted = [spec for spec in saved["args"]["runs"] if spec in FEATURE_MEMBERS]
    if edited and fitted:  # their refit reads the test texts they were fitted with, which are gone
        raise test_changed_refusal(task.test_path(config), run_dir, fitted)
    own_test = task.test_path(config)
    other = dataclasses.replace(config, data_dir=data_dir) if data_dir else config
    test = read_test_file(task, config, test_file, test_config) if test_file else task.load_data(other).test
    made: list[Accelerator] = []

    def accelerator() -> Accelerator:  # one, at the first run's precision, made when a neural member needs it
        if not made:
            made.append(Accelerator(mixed_precision=config.mixed_precision))
        return made[0]

    probs, used = ensemble_test_probabilities(task, run_dir, test, accelerator)
    metric = task.metric_name
    foreign = None if edited else task.test_file_path(config, test_file) if test_file else task.test_path(other)
    name = submission_name(task, other, "", f"cv{saved['oof'][metric]:.4f}", foreign, own_test, test_config)
    written: dict[str, Any] = {}
    if process_state().is_main_process:  # checked against the file predicted: another folder's test file
        written = task.write_submission(task.test_layout(other, test_config), test, probs, saved["thresholds"], name,
                                        test_file)
        save_probabilities(Path(written["submission"]).with_suffix(".probabilities.npz"), task, [], np.zeros(0),
                           test, probs)
    return {"cv": saved["oof"], "thresholds": saved["thresholds"], "run_dir": str(run_dir), **used,
            **broadcast_from_main(written), "predict_seconds": round(time.time() - start, 1)}


if __name__ == "__main__":
    run_cli(main)
