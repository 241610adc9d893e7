"""Fixed-seed smoke runs of Sohu, Xiaobu and NER whose metrics must not change under refactoring.

    python -m tests.smoke_reference --write    # record tests/fixtures/smoke_metrics.json (on a known-good tree)
    python -m tests.smoke_reference            # run them and compare with the record

``tests/test_smoke_reference.py`` runs the comparison in the fast suite. The runs use
the real data under ``data/`` (Sohu, CLUENER) and the Xiaobu fixtures; each prints
and returns its validation metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
RECORD = ROOT / "tests" / "fixtures" / "smoke_metrics.json"
TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64"]


def sohu_args(tmp: Path) -> list[str]:
    return TINY + ["--data-dir", str(DATA / "sohu2021"), "--run-dir", str(tmp / "sohu"),
                   "--submission-dir", str(tmp / "sub"), "--limit", "48", "--epochs", "2", "--batch-size", "16",
                   "--max-length", "48", "--fgm-epsilon", "0.5", "--ema-decay", "0.9", "--eval-batch-size", "256",
                   "--blend-with", "", "--vocab", str(ROOT / "common" / "vocab" / "bert-base-chinese")]


def xiaobu_args(tmp: Path) -> list[str]:
    return TINY + ["--batch-size", "16", "--data-dir", str(ROOT / "tests" / "fixtures" / "xiaobu"),
                   "--train-file", "train.tsv", "--test-file", "test.tsv", "--run-dir", str(tmp / "xiaobu"),
                   "--submission-dir", str(tmp / "sub"), "--epochs", "2", "--valid-fraction", "0.25",
                   "--fgm-epsilon", "0.5", "--ema-decay", "0.9", "--max-train-minutes", "0"]


def ner_args(tmp: Path) -> list[str]:
    # the nested reading, as recorded (2 epochs of a tiny model: every span > 0 gives recall 0.43; flat decoding,
    # CLUENER's default since 2026-12-06, leaves none of its spans right, so all its metrics are 0)
    return ["--decoding", "nested", "--config", str(ROOT / "competitions" / "ner" / "configs" / "smoke.toml"),
            "--head", "egp", "--encoder-type", "bilstm", "--run-dir", str(tmp / "ner"), "--epochs", "2",
            "--limit", "32", "--learning-rate", "5e-3",
            "--vocab", str(ROOT / "common" / "vocab" / "bert-base-chinese")]


def run_all() -> dict[str, dict]:
    """{task: validation metrics} of the three smoke runs (through the generic commands when present)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            from common.commands import train as generic
        except ImportError:  # the tree before the task interface
            generic = None
        if generic is not None:
            out["sohu"] = generic.main(["--task", "sohu"] + sohu_args(tmp))["valid"]
            out["xiaobu"] = generic.main(["--task", "xiaobu"] + xiaobu_args(tmp))["valid"]
        else:
            from competitions.sohu import train as sohu
            from competitions.xiaobu import train as xiaobu

            out["sohu"] = sohu.main(sohu_args(tmp))["valid"]
            out["xiaobu"] = xiaobu.main(xiaobu_args(tmp))["valid"]
        from competitions.ner import train as ner

        ner_flags = ner_args(tmp)
        try:
            result = ner.main(ner_flags + ["--data-dir", str(DATA / "ner" / "cluener"), "--submission-dir",
                                           str(tmp / "sub")])
        except SystemExit:  # the tree before the shared option names
            result = ner.main(ner_flags + ["--data-root", str(DATA), "--output-dir", str(tmp / "sub")])
        out["ner"] = result["dev"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the metrics instead of comparing")
    args = parser.parse_args(argv)
    metrics = run_all()
    print(json.dumps(metrics, indent=1, sort_keys=True))
    if args.write:
        RECORD.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return 0
    return 0 if metrics == json.loads(RECORD.read_text(encoding="utf-8")) else 1


if __name__ == "__main__":
    sys.exit(main())
