"""Adversarial validation of any pair task: do its test pairs look like its training pairs?

    python -m common.commands.shift --task pair --config contest.toml [--shift-ngram-max 2] [--shift-folds 5]
    make <task>-shift [PAIR=contest.toml]         # runs/<task>/shift (a pair contest: shift-<contest file>)

Reads the task's data as training does (its flags and ``--config``), takes the labelled pool
(``Task.cv_pool``: what k-fold splits) against the test file, and scores a classifier of "test pair"
out of fold (:func:`common.shift.adversarial_validation`). An AUC near 0.5: the test pairs look like
the training pairs, and a validation or k-fold score should carry over; well above it: they differ,
and the listed n-grams say how. Writes, from the main process, ``<run>/shift.json`` (the report and
the options) and ``<run>/shift.npz`` (``ids``, ``test_ids``, ``p_test``: each pool pair's out-of-fold
P(test), its most test-like pairs first when sorted; ``test_p_test``; ``pairs_digest``, which pairs were scored).
Ends with one JSON line.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from common.commands.args import compound_config, run_cli, split_task
from common.config import narrow_config, parse_config
from common.io import atomic_path, print_result, write_json_atomic
from common.run import process_state, resolve_run_dir
from common.shift import ShiftConfig, adversarial_validation, pairs_digest


def main(argv: list[str] | None = None) -> dict:
    start = time.time()
    task, rest = split_task(argv, __doc__)
    config = parse_config(compound_config(f"{task.name}Shift", ShiftConfig, task.config_class), rest,
                          description=__doc__)
    data = task.load_data(narrow_config(config, task.config_class))  # bad data fails before anything is written
    pool = task.cv_pool(config, data)
    pairs, test_pairs = task.text_pairs(pool), task.text_pairs(data.test)
    if pairs is None:
        raise ValueError(f"task {task.name} gives no text pairs (Task.text_pairs) to compare")
    report = adversarial_validation(pairs, test_pairs, config.shift_ngram_max, config.shift_folds, config.shift_C,
                                    config.seed, config.shift_rounds, config.shift_top, config.shift_group_by_text)
    oof = report.pop("oof")
    report.pop("fold")
    config.run_name = config.run_name or "shift"
    run_dir = resolve_run_dir(config, task.name, kind="shift")
    options = {k: v for k, v in asdict(config).items() if k in ShiftConfig.__dataclass_fields__}
    result = {"run_dir": str(run_dir), **report, "options": {"task": task.name, **options, "seed": config.seed}}
    if process_state().is_main_process:
        write_json_atomic(run_dir / "shift.json", result)
        with atomic_path(run_dir / "shift.npz") as tmp:
            with tmp.open("wb") as f:
                np.savez(f, ids=np.array(task.ids(pool), dtype=str), p_test=oof[:len(pool)],
                         test_ids=np.array(task.ids(data.test), dtype=str), test_p_test=oof[len(pool):],
                         pairs_digest=np.array(pairs_digest(pairs)))
        result["wall_seconds"] = round(time.time() - start, 1)
        print_result({k: v for k, v in result.items() if k not in ("test_like", "train_like")}
                     | {"test_like": [g for g, _ in report["test_like"][:8]],
                        "train_like": [g for g, _ in report["train_like"][:8]]})
    return result


if __name__ == "__main__":
    run_cli(main)
