"""bench.student_holdout's data copies and held-out scoring: the held rows keep their texts and labels, nothing leaks."""

import json
import re
import shlex
import shutil
import subprocess

import numpy as np
import pytest

from bench.student_holdout import RECIPES, Scorer, write_sohu, write_xiaobu
from common.task import get_task
from competitions.sohu.data import ROOT, SUBTASKS
from competitions.sohu.metrics import sohu_scores
from competitions.xiaobu.config import XiaobuData
from tests.conftest import ROOT as REPO


def _sohu_source(tmp_path, n=12):
    """Two subtasks (短短A, 短长B) with train, valid and test files of distinct texts."""
    for task in (SUBTASKS[0], SUBTASKS[3]):
        folder = tmp_path / ROOT / task.folder
        folder.mkdir(parents=True)
        for split, count in (("train", n), ("valid", n // 3)):
            rows = [{"source": f"{task.prefix}{split}源{i}", "target": f"目标{i}", f"label{task.group}": str(i % 2)}
                    for i in range(count)]
            (folder / f"{split}.txt").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                 encoding="utf-8")
        (folder / "test_with_id.txt").write_text(json.dumps(
            {"source": "测", "target": "试", "id": f"{task.prefix}0_{task.group.lower()}"}, ensure_ascii=False) + "\n",
            encoding="utf-8")
    return tmp_path


def _pool(task, data_dir):
    config = task.config_class()
    config.data_dir = str(data_dir)
    splits = task.load_data(config)
    return task.cv_pool(config, splits), splits


def test_sohu_copy_holds_out_rows_with_their_texts_and_labels(tmp_path):
    task = get_task("sohu")
    source = _sohu_source(tmp_path / "source")
    pool, _ = _pool(task, source)
    ids = task.ids(pool)
    held = ids[1::4]  # from train and valid, both subtasks
    kept = [i for i in ids if i not in held]
    labels = write_sohu(source, kept, held, tmp_path / "copy")
    copy_pool, copy = _pool(task, tmp_path / "copy")
    by_id = {e.id: e for e in pool}
    assert [(e.source, e.target, e.subtask, e.label) for e in copy_pool] == \
        [(by_id[i].source, by_id[i].target, by_id[i].subtask, by_id[i].label) for i in kept]
    assert [e.id.split(":")[0] for e in copy_pool] == [i.split(":")[0] for i in kept]  # each row stays in its split
    # the test set: the source's own test rows (ids kept), then the held rows under new ids
    _, source_splits = _pool(task, source)
    real = {e.id: (e.source, e.target) for e in source_splits.test}
    assert {e.id: (e.source, e.target) for e in copy.test if e.id in real} == real
    assert not set(real) & set(labels) and len(copy.test) == len(real) + len(held)
    assert sorted((e.source, e.target, e.subtask, labels[e.id]) for e in copy.test if e.id in labels) == \
        sorted((by_id[i].source, by_id[i].target, by_id[i].subtask, by_id[i].label) for i in held)
    sample = (tmp_path / "copy" / ROOT / "sample_submission.csv").read_text().splitlines()
    assert sample[0] == "id,label" and sorted(r.split(",")[0] for r in sample[1:]) == sorted(e.id for e in copy.test)
    held_only = write_sohu(source, kept, held, tmp_path / "held-only", real_test=False)
    assert sorted(e.id for e in _pool(task, tmp_path / "held-only")[1].test) == sorted(held_only)
    assert sorted(held_only.values()) == sorted(labels.values()) and len(held_only) == len(held)


def test_xiaobu_copy_holds_out_lines(tmp_path):
    source = tmp_path / "source"
    (source / XiaobuData.train_file).parent.mkdir(parents=True)
    shutil.copy("tests/fixtures/xiaobu/train.tsv", source / XiaobuData.train_file)
    lines = (source / XiaobuData.train_file).read_text().splitlines()
    kept, held = [f"train:{i}" for i in range(0, len(lines), 2)], [f"train:{i}" for i in range(1, len(lines), 2)]
    real = ["7 8 9\t7 8", "1 2\t3 4 5"]
    (source / XiaobuData.test_file).write_text("".join(r + "\n" for r in real))
    held_rows = ["\t".join(lines[i].split("\t")[:2]) for i in range(1, len(lines), 2)]
    for real_test, test in ((True, held_rows + real), (False, held_rows)):
        copy = tmp_path / f"copy-{real_test}"
        labels = write_xiaobu(source, kept, held, copy, real_test)
        assert (copy / XiaobuData.test_file).read_text().splitlines() == test  # held rows first, then the real ones
        assert labels == {f"test:{n}": int(lines[i].split("\t")[2]) for n, i in enumerate(range(1, len(lines), 2))}


def _sohu_scorer(tmp_path):
    """(task, held-out labels by test id, Scorer) of a copy holding out every other row of a 40-row source."""
    task = get_task("sohu")
    source = _sohu_source(tmp_path / "source", n=40)
    ids = task.ids(_pool(task, source)[0])
    labels = write_sohu(source, ids[::2], ids[1::2], tmp_path / "copy")
    return task, labels, Scorer(task, tmp_path / "copy", labels)


def test_held_out_score_uses_the_given_thresholds_and_tunes_without_them(tmp_path):
    task, labels, scorer = _sohu_scorer(tmp_path)
    y = np.array([labels[i] for i in scorer.held_ids])
    groups = np.array([e.subtask for e in scorer.held])
    probs = np.random.default_rng(0).random(len(y)) * 0.5 + 0.3 * y
    fixed = {"A": 0.35, "B": 0.6}
    assert scorer.score(probs, fixed) == pytest.approx(sohu_scores(y, probs, groups, fixed)[0]["score"])
    assert scorer.score(probs, None) == pytest.approx(sohu_scores(y, probs, groups)[0]["score"])
    assert scorer.score(probs, None) >= scorer.score(probs, fixed)
    assert scorer.score(y.astype(float), None) == 1.0


def test_single_run_scored_with_its_saved_its_valid_or_a_given_state(tmp_path):
    task, _, scorer = _sohu_scorer(tmp_path)
    rng = np.random.default_rng(1)
    run = tmp_path / "run"
    run.mkdir()
    valid_probs, test_probs = rng.random(len(scorer.valid)), rng.random(len(scorer.held))
    real = sorted(scorer.test_ids - set(scorer.held_ids))  # the source's own test rows: predicted, not scored
    assert len(real) == 2
    np.savez(run / "probabilities.npz", valid_keys=np.array(task.ids(scorer.valid)), valid_probs=valid_probs,
             test_ids=np.array(scorer.held_ids[::-1] + real), test_probs=np.r_[test_probs[::-1], 0.5, 0.5])
    own, given = {"A": 0.3, "B": 0.7}, {"A": 0.6, "B": 0.2}
    (run / "thresholds.json").write_text(json.dumps(own))
    y = task.labels(scorer.valid)
    groups = np.array([e.subtask for e in scorer.valid])
    tuned = sohu_scores(y, valid_probs, groups)[1]  # "valid": tuned on the run's validation rows
    assert tuned not in (own, given)
    for state, expected in ((None, own), (given, given), ("valid", tuned)):
        probs, used, inner = scorer.single(run, state)
        assert np.array_equal(probs, test_probs) and used == expected  # aligned to the held rows' order
        assert inner == pytest.approx(sohu_scores(y, valid_probs, groups, expected)[0]["score"])


def test_score_table_rows_match_the_scorer_and_leave_the_ensemble_without_a_gap(tmp_path):
    from bench.student_holdout import score_table

    task, labels, scorer = _sohu_scorer(tmp_path)
    y = np.array([labels[i] for i in scorer.held_ids])
    rng = np.random.default_rng(2)
    ensemble = (y * 0.5 + rng.random(len(y)) * 0.5, {"A": 0.5, "B": 0.5}, 0.7)
    other = (rng.random(len(y)), {"A": 0.4, "B": 0.6}, 0.6)
    table = score_table(scorer, ensemble, [("ensemble", ensemble), ("other", other)], rounds=20)
    assert "vs_ensemble" not in table[0] and table[1]["inner"] == 0.6
    assert table[1]["holdout"] == round(scorer.score(other[0], other[1]), 4)
    assert table[1]["vs_ensemble"]["diff"] == round(scorer.score(other[0], other[1]) - scorer.score(*ensemble[:2]), 4)


# ------------------------------------------------------------- the bench runs the Makefile's recipe
def _recipe_commands(name, *variables):
    """The module and argv of each Python command ``make -n <name>-recipe`` prints (Make expands the variables;
    ``variables``: extra ``NAME=value`` arguments or options to make)."""
    out = subprocess.run(["make", "-n", "--no-print-directory", f"{name}-recipe", *variables], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.replace("\\\n", " ")
    commands = [shlex.split(re.split(r"\s\|\|\s", line)[0]) for line in out.splitlines() if " -m common.commands." in line]
    return [(argv[argv.index("-m") + 1], argv[argv.index("-m") + 2:]) for argv in commands]


def _flag(argv, name):
    return argv[argv.index(name) + 1]


def _pairs(tokens):
    assert len(tokens) % 2 == 0 and all(t.startswith("--") for t in tokens[::2]), tokens
    return sorted(zip(tokens[::2], tokens[1::2]))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_bench_recipe_is_the_makefiles(name):
    """What bench.student_holdout reruns held out is what `make <task>-recipe` runs: same source run, same flags."""
    recipe = RECIPES[name]
    (cv_module, cv_argv), _, (student_module, student_argv) = _recipe_commands(name)[-3:]
    # the neural k-fold run: the bench's source and flags
    assert cv_module == "common.commands.cv"
    assert recipe.source == f"runs/{name}/{_flag(cv_argv, '--run-name')}"
    data_dir = cv_argv.index("--data-dir")
    assert cv_argv[data_dir + 2:cv_argv.index("--folds")] == list(recipe.neural)
    # the student: one `train` run, as the bench's (not a k-fold `cv` of students), with the bench's flags
    assert student_module == "common.commands.train"
    after = student_argv.index("--distill-from") + 2
    base = recipe.single_base  # <task>_STUDENT_BASE, else the neural run's flags
    assert student_argv[data_dir + 2:data_dir + 2 + len(base)] == list(base)
    assert student_argv[data_dir + 2 + len(base)] == "--run-name"
    assert _pairs(student_argv[after:]) == _pairs([*recipe.student, *recipe.single])


def test_recipe_student_base_replaces_the_neural_flags_only_for_the_student():
    """<task>_STUDENT_BASE set: the student starts from those model flags, not the k-fold run's; emptied, the
    student takes <task>_RECIPE."""
    sohu = RECIPES["sohu"]
    assert sohu.base and "--implied-labels" in sohu.neural and "--implied-labels" not in sohu.base
    (_, cv_argv), _, (_, student_argv) = _recipe_commands("sohu", "sohu_STUDENT_BASE=--model cache/other")[-3:]
    assert _flag(cv_argv, "--model") == _flag(sohu.neural, "--model") and _flag(cv_argv, "--implied-labels") == "A"
    assert _flag(student_argv, "--model") == "cache/other" and "--pair-statistics" not in student_argv
    (_, cv_argv), _, (_, student_argv) = _recipe_commands("sohu", "sohu_STUDENT_BASE=")[-3:]
    data_dir = student_argv.index("--data-dir")
    assert student_argv[data_dir + 2:data_dir + 2 + len(sohu.neural)] == list(sohu.neural)


def test_recipe_student_run_names_the_student_only():
    """STUDENT_RUN renames the student's run folder; the k-fold run and the ensemble it distils from keep theirs."""
    (_, cv_argv), _, (_, student_argv) = _recipe_commands("xiaobu")[-3:]
    default_cv, default_student = _flag(cv_argv, "--run-name"), _flag(student_argv, "--run-name")
    assert default_student == f"{default_cv}-student"
    (_, cv_argv), (_, ensemble_argv), (_, student_argv) = _recipe_commands("xiaobu", "STUDENT_RUN=student-b")[-3:]
    assert _flag(student_argv, "--run-name") == "student-b" and _flag(cv_argv, "--run-name") == default_cv
    assert _flag(ensemble_argv, "--runs") == f"runs/xiaobu/{default_cv}"
    assert _flag(student_argv, "--distill-from") == f"runs/xiaobu/ensemble-{default_cv}"


def test_recipe_of_a_task_without_recipe_variables_runs_its_defaults():
    """A task that sets only <task>_DATA/_ARGS (AFQMC, a newly added one) still gets a whole recipe: its
    defaults under cv<FOLDS>-recipe. Before, `make afqmc-recipe` ran `cv ... --run-name` with no name. `-B` makes
    Make print every step, so the test does not depend on whether cache/afqmc-mlm was already built here."""
    (mlm_module, mlm_argv), (cv_module, cv_argv), (ens_module, ens_argv), (student_module, student_argv) = \
        _recipe_commands("afqmc", "FOLDS=3", "-B")
    assert (mlm_module, cv_module, ens_module, student_module) == (
        "common.commands.pretrain", "common.commands.cv", "common.commands.ensemble", "common.commands.train")
    data = ["--data-dir", "data/xiaobu/pairs/csts_afqmc"]
    # afqmc_NEEDS: the MLM encoder the k-fold run starts from, built (resumably) before it
    assert mlm_argv == ["--task", "afqmc", *data, "--output-dir", "cache/afqmc-mlm", "--run-name", "afqmc-mlm",
                        "--resume", "true"]
    args = [*data, "--model", "cache/afqmc-mlm"]  # afqmc_ARGS: its data and its MLM encoder (afqmc_NEEDS builds it)
    assert cv_argv == ["--task", "afqmc", *args, "--folds", "3", "--run-name", "cv3-recipe"]
    assert ens_argv == ["--task", "afqmc", *data, "--runs", "runs/afqmc/cv3-recipe", "tfidf", "gbm"]
    assert student_argv == ["--task", "afqmc", *args, "--run-name", "cv3-recipe-student", "--resume", "true",
                            "--distill-from", "runs/afqmc/ensemble-cv3-recipe", "--distill-alpha", "1"]


def test_recipe_names_student_run_when_the_student_step_fails(tmp_path):
    """A refused student step (e.g. its folder was started with other flags) fails make and names STUDENT_RUN;
    the steps before it ran. PY is a stand-in that fails only the `train` command; prerequisites are not made."""
    fake = tmp_path / "py"
    fake.write_text("#!/bin/sh\necho \"$*\" >> \"$0.log\"\n"
                    "case \"$*\" in *common.commands.train*) echo refused >&2; exit 3;; esac\n")
    fake.chmod(0o755)
    done = subprocess.run(["make", "--no-print-directory", "-o", "venv", "-o", "xiaobu-pretrain", "-o",
                           "xiaobu-pretrain-large", "xiaobu-recipe", f"PY={fake}"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode != 0
    assert "refused" in done.stderr and "STUDENT_RUN=<new name>" in done.stderr
    ran = (tmp_path / "py.log").read_text().splitlines()
    assert [line.split()[1] for line in ran] == ["common.commands.cv", "common.commands.ensemble",
                                                 "common.commands.train"]


def test_recipe_cv_args_reach_the_k_fold_step_only():
    """A k-fold-only flag (CV_ARGS) is not handed to the student's `train`, which would refuse it; ARGS reach both."""
    commands = _recipe_commands("sohu", "CV_ARGS=--fold-seed 3", "ARGS=--seed 7")
    (cv_module, cv_argv), (student_module, student_argv) = commands[-3], commands[-1]
    assert cv_module == "common.commands.cv" and _flag(cv_argv, "--fold-seed") == "3"
    assert student_module == "common.commands.train" and "--fold-seed" not in student_argv
    assert _flag(cv_argv, "--seed") == _flag(student_argv, "--seed") == "7"


def test_bench_rerun_resumes_its_single_models(tmp_path, monkeypatch):
    """A rerun after a kill issues the same commands, and every single model's (student, plain control, student
    from the plain model) carries ``--resume true``, so it continues from its checkpoint instead of being refused
    for an existing run folder. The commands are recorded, not run; the bench stops where scoring starts."""
    import bench.student_holdout as bench
    from common.commands import cv, ensemble, train

    source = tmp_path / "source"
    (source / XiaobuData.train_file).parent.mkdir(parents=True)
    shutil.copy("tests/fixtures/xiaobu/train.tsv", source / XiaobuData.train_file)
    shutil.copy("tests/fixtures/xiaobu/test.tsv", source / XiaobuData.test_file)
    run = tmp_path / "runs" / "cv3"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_dir": str(source)}))
    rows = len((source / XiaobuData.train_file).read_text().splitlines())
    np.savez(run / "oof.npz", ids=np.array([f"train:{i}" for i in range(rows)]), fold=np.arange(rows) % 3)
    calls = []
    for module in (cv, ensemble, train):
        monkeypatch.setattr(module, "main", lambda argv, name=module.__name__: calls.append((name, argv)))

    class Stop(Exception):
        pass

    def stop(*args):
        raise Stop

    monkeypatch.setattr(bench, "Scorer", stop)
    argv = ["--task", "xiaobu", "--source", str(run), "--holdout-fold", "1", "--student-init", "true",
            "--pseudo", "true"]
    for _ in range(2):  # the first call, then the rerun after a kill
        with pytest.raises(Stop):
            bench.main(argv)
    first, rerun = calls[:len(calls) // 2], calls[len(calls) // 2:]
    assert first == rerun
    singles = [a for name, a in first if name.endswith(".train")]
    assert sorted(_flag(a, "--run-dir").rsplit("/", 1)[1] for a in singles) == ["plain", "student", "student-init"]
    assert all(_flag(a, "--resume") == "true" for a in singles)
    kfold = [a for name, a in first if name.endswith(".cv")]  # k-fold runs resume by default (finished folds kept)
    assert len(kfold) == 2 and all("--resume" not in a for a in kfold)
    assert all(_flag(a, "--data-dir") == str(tmp_path / "runs" / "holdout-fold1" / "data") for _, a in first)
