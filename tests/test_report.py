"""``make report``: the config diff against the dataclass defaults, and the page over a runs tree seen in Chromium.

The tree holds one real tiny training run (the Xiaobu hand-made slice, seconds) and
synthetic folders of every other kind: k-fold, Optuna tune, blend, TF-IDF baseline,
ensemble, a run killed at its start, a truncated metrics.json, power-term mining, an
unknown task. The page is rendered by headless Chromium (skipped without a binary):
the screenshot must not be blank and the DOM must hold every run and the OOF score.
"""

import dataclasses
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from common import report
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "xiaobu"
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
OOF = 0.7123


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


def _png(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0.5, 0.6, 0.55], "o-")
    fig.savefig(path, format="png")
    plt.close(fig)


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_config_diff_against_the_dataclass_defaults():
    from common.distillation import DistillConfig
    from competitions.afqmc.config import AfqmcConfig

    defaults = json.loads(json.dumps(dataclasses.asdict(AfqmcConfig())))
    config = dict(defaults, epochs=1, learning_rate=1e-3, run_name="x", run_dir="runs/afqmc/x", gone=5)
    del config["dropout"]  # a field added after the run: not a difference
    assert report.config_diff(config, defaults) == [
        ("epochs", 3, 1), ("gone", report.MISSING_DEFAULT, 5), ("learning_rate", defaults["learning_rate"], 1e-3)]
    assert report.config_diff(defaults, defaults) == []
    info = report.task_info("afqmc")
    student = json.loads(json.dumps(dataclasses.asdict(DistillConfig())))  # train's student options
    assert info.metric_name == "accuracy" and info.defaults["single run"] == {**student, **defaults}
    assert info.defaults["k-fold"]["pseudo_from"] == ""  # cv's pseudo-label options too
    assert info.defaults["k-fold"]["folds"] == 5 and info.defaults["tune"]["trials"] == 20  # CVConfig, TuneConfig
    assert report.task_info("ner").defaults["single run"]["head"] == "egp"  # NER's own config class
    assert report.task_info("no-such-task").defaults == {}  # unknown: configs shown whole


def test_a_task_given_by_module_path_is_found_in_its_runs_environment(tmp_path):
    """``--task mypackage.mytask`` runs go to ``runs/<its name>/``, which the registry does not know: the page said
    "no config class known" although each run's environment.json records the --task (probe I)."""
    run = tmp_path / "sentence" / "first"
    run.mkdir(parents=True)
    (run / "environment.json").write_text(json.dumps({"starts": [
        {"command": ["train.py", "--task", "examples.sentence_task", "--epochs", "1"]}]}))
    info = report.task_info("sentence", [run])
    assert info.config_class == "examples.sentence_task.SentenceConfig" and info.metric_name == "accuracy"
    assert info.defaults["single run"]["max_length"] == 64
    assert report.task_info("other-name", [run]).defaults == {}  # a module of another task name: not this one


def test_bad_folders_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder of runs"):
        report.main(["--runs-dir", str(tmp_path / "none"), "--output-dir", str(tmp_path / "out")])
    (tmp_path / "runs").mkdir()
    with pytest.raises(ValueError, match="lies inside --runs-dir"):
        report.main(["--runs-dir", str(tmp_path / "runs"), "--output-dir", str(tmp_path / "runs" / "report")])
    assert not (tmp_path / "runs" / "report").exists()
    (tmp_path / "runs" / "xiaobu" / "tiny").mkdir(parents=True)  # runs/<task>/ given: its runs are no tasks
    (tmp_path / "runs" / "xiaobu" / "tiny" / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"xiaobu: tiny/ is a run folder, expected the folder of <task>/<run>/"):
        report.main(["--runs-dir", str(tmp_path / "runs" / "xiaobu"), "--output-dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def _runs_tree(root):
    """A runs/ tree with one real tiny run and a synthetic folder of every other kind."""
    from common.commands import train

    runs, subs = root / "runs", root / "submissions"
    train.main(["--task", "xiaobu", "--hidden-size", "32", "--num-layers", "1", "--num-heads", "2",
                "--intermediate-size", "64", "--batch-size", "16", "--data-dir", str(FIXTURES),
                "--train-file", "train.tsv", "--test-file", "test.tsv", "--valid-fraction", "0.25", "--epochs", "2",
                "--run-dir", str(runs / "xiaobu" / "tiny"), "--submission-dir", str(subs / "xiaobu")])
    x = runs / "xiaobu"
    config = json.loads((x / "tiny" / "config.json").read_text())
    # a trainer run without learning_curve.png: the report draws it into its own folder
    history = [{"epoch": e, "train_loss": 0.7 - 0.1 * e, "auc": 0.5 + 0.05 * e, "complete": True} for e in (1, 2, 3)]
    _write(x / "drawn" / "metrics.json", {"best_epoch": 3, "best_metric": 0.65, "metric_name": "auc",
                                          "history": history, "train_seconds": 12.5})
    _write(x / "drawn" / "config.json", dict(config, run_name="drawn", epochs=3))
    _write(x / "drawn" / "environment.json", '{"starts": [{"time": ')
    # stopped by --early-stopping-patience after 2 of 5 epochs: complete, not a killed run
    _write(x / "early" / "metrics.json", {"best_epoch": 1, "best_metric": 0.55, "metric_name": "auc",
                                          "history": history[:2], "train_seconds": 8.0, "stopped_early": True})
    _write(x / "early" / "config.json", dict(config, run_name="early", epochs=5, early_stopping_patience=1))
    # killed inside epoch 2 of 3 after four evaluations inside epochs (--eval-every-steps): incomplete, 1 of 3
    steps = [{"epoch": e, "train_loss": 0.6, "auc": 0.6, "complete": float(e).is_integer()}
             for e in (0.5, 1, 1.5, 1.75)]
    _write(x / "steps" / "metrics.json", {"best_epoch": 1, "best_metric": 0.6, "metric_name": "auc",
                                          "history": steps, "train_seconds": 5.0})
    _write(x / "steps" / "config.json", dict(config, run_name="steps", epochs=3, eval_every_steps=2))
    _write(x / "cv3" / "environment.json", {"starts": [{"git": "?", "cuda": [], "threadpools": [{"num_threads": None}]}]})
    # k-fold (common/cv.py layout)
    cv = x / "cv3"
    _write(cv / "config.json", dict(config, run_name="cv3", folds=3, fold_seed=42, group_by_text=True,
                                    only_folds="", keep_fold_checkpoints=False))
    _write(cv / "folds.json", {"folds": 3, "fold_seed": 42, "grouped": True, "ids": ["a", "b", "c"], "fold": [0, 1, 2]})
    _write(cv / "cv_metrics.json", {"cv": {"auc": OOF}, "metric": "auc", "n_folds": 3, "fold_seed": 42, "folds": {
        str(k): {"best_epoch": 1, "train_seconds": 10.0 + k, "fold_seconds": 15.0, "fold_auc": 0.70 + k / 100}
        for k in range(3)}})
    np.savez(cv / "oof.npz", ids=np.array(["a", "b", "c"]), labels=np.array([0, 1, 0]), fold=np.arange(3),
             oof=np.array([0.2, 0.8, 0.4]))
    for k in range(3):
        _write(cv / f"fold{k}" / "fold_metrics.json", {"best_epoch": 1})
    _write(subs / "xiaobu" / f"cv3-test-cv{OOF:.4f}.txt", "0.5\n")
    _write(subs / "xiaobu" / "cv3-fold1-auc0.7100.txt", "0.5\n")  # fold 1's own prediction: not the k-fold run's
    # Optuna tune (common/hpo.py layout)
    tune = x / "tune"
    _write(tune / "config.json", dict(config, run_name="tune", trials=4))
    _write(tune / "tune_summary.json", {"study": "xiaobu-tune", "direction": "maximize", "best_trial": 1,
                                        "best_value": 0.6612, "best_params": {"learning_rate": 0.0012, "epochs": 2},
                                        "trials": {"complete": 3, "pruned": 1}, "files": {}})
    _png(tune / "optimization_history.png")
    _write(tune / "trials.csv", "number,value,datetime_start,datetime_complete\n"
                                "0,0.6,2024-01-01 10:00:00,2024-01-01 10:01:00\n1,0.66,2024-01-01 10:01:00,2024-01-01 10:03:30\n")
    _write(tune / "trial1" / "metrics.json", {"best_epoch": 2, "best_metric": 0.6612, "metric_name": "auc",
                                              "history": history[:2], "train_seconds": 30.0})
    # blend (common/commands/blend.py), baseline (competitions/*/baseline.py), ensemble
    _write(x / "blend-tiny+tfidf-baseline" / "metrics.json", {"valid": {"auc": 0.6001}, "thresholds": {},
                                                              "runs": [str(x / "tiny"), str(x / "tfidf-baseline")],
                                                              "weights": [1.0, 2.0]})
    _write(x / "tfidf-baseline" / "metrics.json", {"valid": {"auc": 0.5512}, "oof": {"auc": 0.5601, "folds": {
        "0": 0.55, "1": 0.57}}, "args": {"data_dir": str(FIXTURES), "submission_dir": str(subs / "xiaobu"),
                                         "ngram_max": 2, "C": 4.0, "folds_from": str(cv)}})
    _write(subs / "xiaobu" / "tfidf-baseline-test-auc0.5512.txt", "0.5\n")
    # a reference as common.tfidf_reference.finish_reference writes it now: the task's config.json beside its metrics
    _write(x / "tfidf-reference" / "metrics.json", {"valid": {"auc": 0.5512}, "thresholds": {},
                                                    "args": {"run_dir": str(x / "tfidf-reference"), "C": 4.0}})
    _write(x / "tfidf-reference" / "config.json", dict(config, run_name="tfidf-reference"))
    # adversarial validation (common/commands/shift.py)
    _write(x / "shift" / "shift.json", {"auc": 0.7837, "low": 0.7772, "high": 0.7901, "train_pairs": 48,
                                        "test_pairs": 20, "grouped": True, "test_pairs_sharing_a_train_text": 0.05,
                                        "test_like": [["如何", 1.21], ["！", 0.9]], "train_like": [["？", -1.1]],
                                        "options": {"task": "xiaobu", "shift_folds": 5}})
    # ensemble (common/commands/ensemble.py) of cv3 and its cached TF-IDF member
    _write(x / "cv3-tfidf" / "cv_metrics.json", {"cv": {"auc": 0.6811}, "fit_seconds": 2.5, "n_folds": 3})
    _write(x / "cv3-tfidf" / "member.json", {"spec": "tfidf", "folds_from": str(cv)})
    _write(x / "ens" / "config.json", dict(config, run_name="ens", folds=3))
    _write(x / "ens" / "ensemble.json", {
        "task": "xiaobu", "metric": "auc", "method": "caruana", "oof": {"auc": 0.7300},
        "members": [{"name": "cv3", "run_dir": str(cv), "oof": {"auc": OOF}, "caruana_weight": 0.75},
                    {"name": "tfidf", "run_dir": str(x / "cv3-tfidf"), "oof": {"auc": 0.6811}, "caruana_weight": 0.25}],
        "caruana": {"oof_in_sample": {"auc": 0.7400}, "oof_cross_fitted": {"auc": 0.7300}, "weights": {"cv3": 0.75}},
        "stack": {"oof_in_sample": {"auc": 0.7350}, "oof_cross_fitted": {"auc": 0.7250},
                  "coefficients": {"cv3": 1.2, "tfidf": 0.4, "intercept": -0.1}}})
    # half-written: killed at its start, truncated metrics
    _write(x / "killed" / "config.json", dict(config, run_name="killed"))
    _write(x / "truncated" / "config.json", dict(config, run_name="truncated"))
    _write(x / "truncated" / "metrics.json", '{"best_epoch": 1, "best_metric": 0.6, "hist')
    # other tasks: power-term mining, NER with an unreadable config, a folder nobody knows
    _write(runs / "power_terms" / "mined" / "config.json", {"run": "mined", "domain": "cmeee"})
    _write(runs / "power_terms" / "mined" / "metrics.json", {"terms": 123, "corpus_chars": 4567})
    _write(runs / "ner" / "broken" / "config.json", "[1, 2")
    _write(runs / "mystery" / "thing" / "notes.bin", "\x00\x01")
    return runs


def _browser():
    for name in BROWSERS:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
        if found:
            return found
    return None


def test_page_over_every_kind_of_run_renders_in_chromium(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # submission folders given relative resolve here, as under `make report`
    runs = _runs_tree(tmp_path)
    capsys.readouterr()
    before = _snapshot(runs)
    out = tmp_path / "reports"
    result = report.main(["--runs-dir", str(runs), "--output-dir", str(out)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == json.loads(json.dumps(result))
    assert _snapshot(runs) == before  # the report never writes into runs/
    assert result["runs"] == {"mystery": 1, "ner": 1, "power_terms": 1, "xiaobu": 14}
    assert report.run_kind(runs / "xiaobu" / "tfidf-reference") == "baseline"  # not a single run missing its epochs
    assert result["incomplete"]["xiaobu"] == 3 and result["incomplete"]["ner"] == 1  # killed, truncated, steps
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "1 of 3 epochs in metrics.json" in page
    assert "stopped early (--early-stopping-patience) after epoch 2" in page
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page  # renders offline
    assert page.count('src="data:image/png;base64,') >= 4  # tiny's and drawn's curves, tune's plot and best trial
    assert (out / "curves" / "xiaobu" / "drawn.png").is_file() and not (runs / "xiaobu" / "drawn" / "learning_curve.png").exists()
    assert "tiny-test-auc" in page and f"cv3-test-cv{OOF:.4f}.txt" in page and "tfidf-baseline-test-auc0.5512.txt" in page
    assert "cv3-fold1-auc0.7100.txt" not in page  # a fold's own prediction is not listed as the k-fold run's
    for kind in ("single run", "k-fold", "tune", "blend", "baseline", "ensemble", "ensemble member", "shift", "other"):
        assert f"<td>{kind}</td>" in page, kind
    assert "0.7837" in page and "如何" in page and "training-like n-gram" in page  # the shift run's AUC and n-grams
    assert "metrics.json: not valid JSON (truncated?)" in page and "config.json: not valid JSON (truncated?)" in page
    # the real run's environment.json: its code, versions and device; a truncated one is a note, not a problem
    import sklearn
    import torch

    assert "environment.json" in page and f"<td>{torch.__version__}</td>" in page
    assert f"<td>{sklearn.__version__}</td>" in page and "<td>CPU</td>" in page  # the other shape: no CPU recorded
    assert f"(kernels: torch {torch.backends.cpu.get_cpu_capability()}, OpenBLAS " in page  # the real run's CPU
    assert "environment.json: not valid JSON (truncated?)" in page
    assert "<td>not a git checkout</td>" in page and "<td>None / ?</td>" in page  # another shape: shown as far as known

    browser = _browser()
    if browser is None:
        pytest.skip(f"no Chromium binary ({', '.join(BROWSERS)}) to render the page")
    url = (out / "index.html").resolve().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1280,2000"]
    shot = tmp_path / "page.png"
    subprocess.run(flags + [f"--screenshot={shot}", url], check=True, capture_output=True, timeout=90)
    dom = subprocess.run(flags + ["--dump-dom", url], check=True, capture_output=True, timeout=90, text=True).stdout
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").resize((320, 500)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20  # not one blank colour: text, tables, a curve
    for name in ("tiny", "drawn", "cv3", "cv3-tfidf", "tune", "blend-tiny+tfidf-baseline", "tfidf-baseline", "ens", "killed",
                 "truncated", "mined", "broken", "thing"):
        assert f">{name}</a>" in dom, name
    assert f"{OOF:.4f}" in dom and "OOF auc" in dom
    assert "0.7300" in dom and "0.6811" in dom and "stack coefficient" in dom  # the ensemble's score and members


def test_a_run_picked_by_another_metric_is_shown_in_the_tasks_and_a_study_in_its_trials(tmp_path):
    """AFQMC picks epochs by AUC; its task metric is accuracy. A single run was shown as "valid auc" beside its own
    inference setting's "valid accuracy" (and its submission's name, accuracy0.6550); a study's best AUC was
    labelled "best trial accuracy"."""
    info = report.task_info("afqmc")
    single = tmp_path / "afqmc" / "single"
    _write(single / "metrics.json", {"best_epoch": 1, "best_metric": 0.5702, "metric_name": "auc", "train_seconds": 3,
                                     "best": {"epoch": 1, "accuracy": 0.655, "auc": 0.5702}, "history": [
                                         {"epoch": 1, "accuracy": 0.655, "auc": 0.5702, "complete": True}]})
    _write(single / "config.json", {"epochs": 1, "metric_for_best_model": "auc"})
    run = report.describe_run(single, info, tmp_path / "curves", {}, tmp_path)
    assert (run.metric_label, run.metric, run.score_suffix) == ("valid accuracy", 0.655, "accuracy0.6550")
    tune = tmp_path / "afqmc" / "tune2"
    _write(tune / "config.json", {"metric_for_best_model": "auc", "trials": 2})
    _write(tune / "study.db", "")
    _write(tune / "tune_summary.json", {"study": "s", "direction": "maximize", "trials": {"complete": 2},
                                        "best_trial": 1, "best_value": 0.5673, "files": {}})
    run = report.describe_run(tune, info, tmp_path / "curves", {}, tmp_path)
    assert (run.kind, run.metric_label, run.metric) == ("tune", "best trial auc", 0.5673)
    (tmp_path / "afqmc" / "empty" / "sub").mkdir(parents=True)  # was listed as "other | complete"
    run = report.describe_run(tmp_path / "afqmc" / "empty", info, tmp_path / "curves", {}, tmp_path)
    assert run.kind == "other" and run.problems == ["empty folder: no file in it"]


def test_a_pretraining_run_shows_its_training_loss_as_such(tmp_path):
    """Probe AC: a pretraining run (no validation; epochs picked by the smoothed training loss) was labelled
    "valid loss"."""
    run_dir = tmp_path / "xiaobu-pretrain" / "20261207-190216"
    _write(run_dir / "metrics.json", {"best_epoch": 1, "best_metric": 6.4194, "metric_name": "loss", "best": {
        "epoch": 1, "train_loss": 6.4194, "complete": True}, "history": [{"epoch": 1, "train_loss": 6.4194}]})
    _write(run_dir / "config.json", {"epochs": 1})
    run = report.describe_run(run_dir, report.task_info("xiaobu-pretrain"), tmp_path / "curves", {}, tmp_path)
    assert (run.metric_label, run.metric, run.score_suffix) == ("train loss", 6.4194, "")


def test_a_finished_run_with_a_nan_metric_is_not_shown_as_plainly_complete(tmp_path):
    """A run that finished with NaN as its metric (a diverged loss) was listed "complete" beside an empty metric cell
    (probe R); it now says the metric is missing or not finite. A kind without a metric (term mining) stays
    "complete"."""
    info = report.task_info("afqmc")
    run_dir = tmp_path / "afqmc" / "diverged"
    _write(run_dir / "metrics.json", '{"best_epoch": 1, "best_metric": NaN, "metric_name": "accuracy", '
                                     '"history": [{"epoch": 1, "accuracy": NaN, "complete": true}]}')
    _write(run_dir / "config.json", {"epochs": 1})
    run = report.describe_run(run_dir, info, tmp_path / "curves", {}, tmp_path)
    assert run.metric is None and not run.problems
    page = report.render({"afqmc": [run]}, {"afqmc": info}, tmp_path, tmp_path / "out")
    assert "complete, <span class=\"bad\">no valid accuracy: missing, NaN or infinite</span>" in page
    other = report.Run("power_terms", "mined", tmp_path)
    page = report.render({"power_terms": [other]}, {"power_terms": report.task_info("power_terms")}, tmp_path,
                         tmp_path / "out")
    assert "<td>complete</td>" in page


def test_the_best_run_is_chosen_among_runs_of_one_contest(tmp_path):
    """``pair`` runs of a Spearman contest and of a macro-F1 one are all "OOF score": the bold best went to the
    highest number across both (probe V); runs of other data or another metric no longer compete."""
    info = report.task_info("pair")

    def run(name, metric, score, data="sts"):
        return report.Run("pair", name, tmp_path / name, "k-fold", metric_label="OOF score", metric=score,
                          config={"metric": metric, "data_dir": data, "train_file": "train.csv"})

    runs = [run("sts-a", "spearman", 0.59), run("sts-b", "spearman", 0.61), run("nli", "macro_f1", 0.36, "nli"),
            run("nli-b", "macro_f1", 0.30, "nli")]
    assert report._best_runs(runs, info) == {"sts-b", "nli"}
    assert report._best_runs(runs[:2] + [run("sts-c", "spearman", 0.7, "other")], info) == {"sts-b", "sts-c"}
