"""Inference speed of a distilled student (one model) against its teacher (every fold model, every member).

    python -m bench.distill_speed --task afqmc --student runs/afqmc/<run>[/fold0] [runs/afqmc/<run2> ...] \\
        --teacher runs/afqmc/ensemble-cv5-limit8000-1ep [--rounds 3] [--threads 0] [--test-rows 0] [--name TAG]

Times the prediction of the teacher's test set (tokenising included, through
:func:`common.commands.predict.probabilities`, the path ``predict`` takes):

- the student: one run folder holding ``model.pt`` (a ``train`` run or one fold of a k-fold run);
  several students are timed in the same rounds, each against the same teacher;
- the teacher: a k-fold run predicts with all its fold models (``fold<k>/model.pt``), then
  averages; an ensemble run with every member's: a neural member's fold models as above,
  a ``tfidf`` / ``gbm`` member's K fold models (their features and model; the ensemble
  cache keeps no fitted model, so fold 0's is fitted here on fold 0's training rows,
  untimed, and its test-set time counted K times).

Each predictor runs once untimed (warm-up), then the rounds are interleaved, their order
rotating; the median time over rounds is reported, as pairs/s of the whole test set, and
the speed-up as the median of the per-round ratios teacher / student (paired, so machine
load drifting between rounds cancels). ``--test-rows N`` times the first N test rows only
(pairs/s stay comparable; the rounds get shorter). Prints a table and writes
``bench/results/distill_speed_<task>.json`` (``distill_speed_<task>_<name>.json`` with ``--name``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from accelerate import Accelerator

from bench import check_result_name
from common.commands.args import run_cli
from common.io import write_json_atomic

if TYPE_CHECKING:
    from common.ensemble import FeatureOptions

RESULTS = Path(__file__).resolve().parent / "results"  # distill_speed_<task>.json


def neural_predictor(task, run_dirs: list[Path], test: list) -> Callable[[], np.ndarray]:
    """A function predicting ``test`` with each of ``run_dirs``' models (loaded once) and averaging."""
    from common.commands.predict import load_run, probabilities

    runs = [load_run(task, d) for d in run_dirs]
    accelerator = Accelerator(cpu=True)
    return lambda: np.mean([probabilities(task, cfg, model, test, accelerator) for cfg, model in runs], axis=0)


def feature_predictor(spec: str, pool: list, test: list, task, fold: np.ndarray, labels: np.ndarray,
                      folds: int, options: "FeatureOptions | None" = None) -> Callable[[], np.ndarray]:
    """``tfidf`` / ``gbm`` as :func:`common.ensemble.feature_member` fits it for fold 0 (its tokens; the gbm's
    columns through the member's own :func:`~common.ensemble.gbm_row_columns` and
    :class:`~common.ensemble.GbmFoldColumns`, the group column included; the tfidf without per-group fits); its
    test-set prediction, features included, run ``folds`` times. The gbm's word2vec is fitted without labels
    on the texts it is given (the member fits it on the pool and test texts together). ``options``: the member's
    (default :class:`~common.ensemble.FeatureOptions`). Fit and prediction run in
    :func:`~common.ensemble.member_threads`, as the member's do."""
    from sklearn.linear_model import LogisticRegression

    from common.ensemble import FeatureOptions, GbmFoldColumns, condition_groups, gbm_classifier, gbm_row_columns, \
        member_threads, member_tokens
    from common.tfidf_reference import PairFeatures

    options = options or FeatureOptions()
    pairs, test_pairs = task.text_pairs(pool), task.text_pairs(test)
    train = np.flatnonzero(fold != 0)
    first, second = [pairs[i][0] for i in train], [pairs[i][1] for i in train]
    tf, ts = [p[0] for p in test_pairs], [p[1] for p in test_pairs]
    kind, ngram_max, with_sum = member_tokens(spec, pairs, options)
    with member_threads():  # as the member computes: one BLAS / OpenMP thread
        if spec != "gbm":
            features = PairFeatures(kind, ngram_max, with_sum).fit([t for pair in zip(first, second) for t in pair])
            model = LogisticRegression(C=options.C, max_iter=3000).fit(features.transform(first, second),
                                                                       labels[train])
        else:
            groups, test_groups = condition_groups(task, pool, test)
            columns = GbmFoldColumns.fit(first, second, kind, ngram_max, with_sum, options)
            model = gbm_classifier(options, grouped=groups is not None).fit(
                np.hstack([gbm_row_columns(first, second, None if groups is None else groups[train], options),
                           columns.transform(first, second)]), labels[train])

    def predict() -> np.ndarray:
        with member_threads():
            if spec != "gbm":
                return np.mean([model.predict_proba(features.transform(tf, ts))[:, 1] for _ in range(folds)], axis=0)
            rows = gbm_row_columns(tf, ts, test_groups, options)  # label-free: computed once for the K fold models
            return np.mean([model.predict_proba(np.hstack([rows, columns.transform(tf, ts)]))[:, 1]
                            for _ in range(folds)], axis=0)

    return predict


def teacher_parts(task, run_dir: Path, pool: list, test: list) -> list[tuple[str, int, Callable[[], np.ndarray]]]:
    """``[(name, models, predict)]``: the fold models of a k-fold run, or of every member of an ensemble."""
    report_path = run_dir / "ensemble.json"
    if not report_path.is_file():
        folds = sorted(run_dir.glob("fold[0-9]*"))
        return [(run_dir.name, len(folds), neural_predictor(task, folds, test))]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    with np.load(run_dir / "oof.npz") as oof:
        fold, labels = oof["fold"], oof["labels"]
    K = len(np.unique(fold))
    parts = []
    for member in report["members"]:
        spec = json.loads((Path(member["run_dir"]) / "member.json").read_text())["spec"] \
            if (Path(member["run_dir"]) / "member.json").is_file() else None
        if spec:
            parts.append((spec, K, feature_predictor(spec, pool, test, task, fold, labels, K)))
        else:
            parts += teacher_parts(task, Path(member["run_dir"]), pool, test)
    return parts


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    parser.add_argument("--student", required=True, nargs="+", help="run folders holding model.pt, each one student")
    parser.add_argument("--teacher", required=True, help="a k-fold or ensemble run folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--test-rows", type=int, default=0, help="time the first N test rows (0: all of them)")
    parser.add_argument("--name", default="", help="results file suffix: distill_speed_<task>_<name>.json")
    args = parser.parse_args(argv)
    if args.test_rows < 0:  # these checked before any data or model is loaded
        raise ValueError(f"--test-rows {args.test_rows}: expected 0 (all) or a positive number of rows")
    check_result_name(args.name)
    if len({Path(s).name for s in args.student}) < len(args.student):
        raise ValueError(f"--student {' '.join(args.student)}: two students share a folder name")
    if args.threads:
        torch.set_num_threads(args.threads)
    from common.commands.ensemble import run_config
    from common.task import get_task

    task = get_task(args.task)
    teacher_dir = Path(args.teacher)
    first = teacher_dir
    while (first / "ensemble.json").is_file():  # the first member's config gives the data
        first = Path(json.loads((first / "ensemble.json").read_text())["members"][0]["run_dir"])
    config = run_config(task, first, None, None)
    data = task.load_data(config)
    pool, test = task.cv_pool(config, data), data.test
    test = test[:args.test_rows or len(test)]
    students = {f"student: {Path(s).name}": neural_predictor(task, [Path(s)], test) for s in args.student}
    parts = teacher_parts(task, teacher_dir, pool, test)
    timed = list(students.items()) + [(n, f) for n, _, f in parts]
    for _, fn in timed:
        fn()  # warm-up, untimed
    times: dict[str, list[float]] = {name: [] for name, _ in timed}
    for r in range(args.rounds):
        for name, fn in timed[r % len(timed):] + timed[:r % len(timed)]:  # the order rotates
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    # paired: the teacher's time in a round over the student's in the same round (load drifts between rounds)
    ratios = {who: [sum(times[name][r] for name, _, _ in parts) / times[who][r] for r in range(args.rounds)]
              for who in students}
    teacher_seconds = sum(median[name] for name, _, _ in parts)
    rows = [{"what": who, "models": 1, "seconds": median[who]} for who in students]
    rows += [{"what": f"teacher: {name}", "models": n, "seconds": median[name]} for name, n, _ in parts]
    rows.append({"what": "teacher, all", "models": sum(n for _, n, _ in parts), "seconds": teacher_seconds})
    for row in rows:
        row["pairs_per_second"] = round(len(test) / row["seconds"], 1)
        row["seconds"] = round(row["seconds"], 2)
    print(f"{'what':<32} {'models':>6} {'seconds':>8} {'pairs/s':>9}")
    for row in rows:
        print(f"{row['what']:<32} {row['models']:>6} {row['seconds']:>8} {row['pairs_per_second']:>9}")
    first = next(iter(students))  # "speedup": the first student's, as before several could be timed
    result = {"task": task.name, "student": args.student[0], "students": args.student, "teacher": args.teacher,
              "test_pairs": len(test), "rounds": args.rounds, "threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "load_average": os.getloadavg(),
              "machine": platform.processor() or platform.machine(), "rows": rows,
              "speedup": round(statistics.median(ratios[first]), 2),
              "speedup_per_round": [round(x, 2) for x in ratios[first]],
              "speedups": {who: round(statistics.median(r), 2) for who, r in ratios.items()},
              "seconds_per_round": {name: [round(t, 2) for t in ts] for name, ts in times.items()}}
    path = RESULTS / f"distill_speed_{task.name}{'_' + args.name if args.name else ''}.json"
    write_json_atomic(path, result)
    for who, speedup in result["speedups"].items():
        print(f"{who}: {speedup}x faster than the teacher (median of per-round ratios)")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    run_cli(main)  # a bad flag or run folder: one "error:" line, exit 2
