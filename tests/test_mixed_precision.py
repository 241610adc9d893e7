"""bf16 runs: the score that picks the best epoch is the score the submission is named after."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "xiaobu"


def test_bf16_metrics_json_equals_the_submission_score(tmp_path):
    """Training evaluation and the final prediction both run under the run's autocast (CPU bf16 here)."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "common.commands.train", "--task", "xiaobu", "--mixed-precision", "bf16",
            "--hidden-size", "32", "--num-layers", "1", "--num-heads", "2", "--intermediate-size", "64",
            "--batch-size", "16", "--data-dir", str(FIXTURES), "--train-file", "train.tsv", "--test-file", "test.tsv",
            "--run-dir", str(run), "--submission-dir", str(tmp_path / "sub"), "--epochs", "2",
            "--valid-fraction", "0.25", "--max-train-minutes", "0"]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    best = json.loads((run / "metrics.json").read_text())["best_metric"]
    assert result["valid"]["auc"] == best
    assert f"auc{best:.4f}" in result["submission"]
