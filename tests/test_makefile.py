"""The make targets pass what they are given (``make -n``: the command lines, nothing run); found by probe W."""

import os
import subprocess

from tests.conftest import ROOT


def _make(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, check=check, capture_output=True,
                          text=True, env={**os.environ, "MAKEFLAGS": ""})


def _line(target: str, *variables: str, command: str) -> list[str]:
    """The words of the one line of ``make -n target`` running ``-m command``."""
    (line,) = [x for x in _make(target, *variables).stdout.splitlines() if f"-m {command} " in x + " "]
    return line.split()


def test_predict_passes_data_when_given_and_ner_predict_finds_the_runs_dataset_there(tmp_path):
    """``make afqmc-predict RUN=... DATA=root`` predicted on the run's own data folder; ``make ner-predict DATA=root``
    looked for CLUENER under it whatever the run's dataset."""
    given = _line("afqmc-predict", "RUN=runs/afqmc/x", "DATA=/root", command="common.commands.predict")
    assert given[given.index("--data-dir") + 1] == "/root/xiaobu/pairs/csts_afqmc"
    assert "--data-dir" not in _line("afqmc-predict", "RUN=runs/afqmc/x", command="common.commands.predict")
    assert "--data-dir" not in _line("pair-predict", "RUN=runs/pair/x", "DATA=/root", command="common.commands.predict")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"dataset": "resume"}')
    ner = _line("ner-predict", f"RUN={run}", "DATA=/root", command="competitions.ner.predict")
    assert ner[ner.index("--data-dir") + 1] == "/root/ner/resume"
    chosen = _line("ner-predict", f"RUN={run}", "DATA=/root", "DATASET=weibo", command="competitions.ner.predict")
    assert chosen[chosen.index("--data-dir") + 1] == "/root/ner/weibo"
    (run / "config.json").write_text('{"dataset": ""}')  # one's own files: their own folder
    assert "--data-dir" not in _line("ner-predict", f"RUN={run}", "DATA=/root", command="competitions.ner.predict")


def test_the_recipe_names_every_step_after_its_k_fold_run_and_refuses_run_names_in_args():
    """``ARGS="--run-name myrec"`` trained the k-fold run ``myrec`` and ensembled the default-named one."""
    out = _make("afqmc-recipe", "FOLDS=2", "RECIPE_RUN=myrec").stdout
    cv = [x for x in out.splitlines() if "-m common.commands.cv " in x][0].split()
    assert cv[cv.index("--run-name") + 1] == "myrec"
    assert "--runs runs/afqmc/myrec tfidf gbm" in out
    assert "--run-name myrec-student" in out and "--distill-from runs/afqmc/ensemble-myrec" in out
    for variable in ("ARGS=--seed 3 --run-name myrec", "CV_ARGS=--run-dir runs/afqmc/x"):
        refused = _make("afqmc-recipe", variable, check=False)
        assert refused.returncode == 2 and "the recipe names its runs: RECIPE_RUN=<name>" in refused.stderr
        assert "common.commands" not in refused.stdout  # before any step or prerequisite


def test_a_cache_target_asked_for_by_name_says_it_is_built_once():
    """``make afqmc-mlm PRETRAIN_ARGS="--epochs 5"`` with the cache there printed nothing and changed nothing."""
    assert "PRETRAIN_ARGS and DATA apply only when it is built" in _make("afqmc-mlm").stdout
    assert "apply only when it is built" not in _make("afqmc-train").stdout  # a prerequisite: quiet


def test_every_pretraining_cache_target_passes_pretrain_args():
    """Probe AF: ``make sohu-pretrain PRETRAIN_ARGS=...`` built the full default pretraining, its flags dropped."""
    for target in ("sohu-pretrain", "sohu-mlm", "sohu-mlm-long", "xiaobu-pretrain", "xiaobu-pretrain-large",
                   "afqmc-mlm"):
        out = _make("-B", target, "PRETRAIN_ARGS=--probe-marker 1").stdout.replace("\\\n", " ")
        commands = [x for x in out.splitlines() if "pretrain" in x and " -m " in x]
        assert commands and all("--probe-marker 1" in x for x in commands), (target, commands)


def test_terms_mine_refuses_a_path_with_a_space_before_anything_runs():
    """Probe AF: a corpus path with a space reached the miner as two arguments ("unrecognized arguments")."""
    refused = _make("terms-mine", "CORPUS=/tmp/my corpus.txt", check=False)
    assert refused.returncode == 2 and "CORPUS / GENERAL hold a space" in refused.stderr
    assert "competitions.power_terms.mine --data-dir" not in refused.stdout
    assert "CORPUS / GENERAL hold a space" in _make("terms-mine", "CORPUS=a.txt", "GENERAL=b.txt c.txt",
                                                     check=False).stderr
    escaped = _make("terms-mine", "CORPUS=my\\ corpus.txt").stdout  # probe AI: the shell reads it as one word
    assert "--corpus-file my\\ corpus.txt" in escaped
    out = _make("terms-mine", "CORPUS=/tmp/语料.txt", "GENERAL=a.txt,b.txt").stdout.replace("\\\n", " ").split()
    assert out[out.index("--general-files") + 1] == "a.txt,b.txt" and out[out.index("--run") + 1] == "语料"
