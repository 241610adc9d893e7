"""Sohu 2021 for the shared commands: data, model, metric and submission (see common.task).

    make sohu-train | sohu-predict RUN=... | sohu-cv FOLDS=5 | sohu-tune TRIALS=20 | sohu-blend RUNS="..."
    python -m common.commands.train --task sohu [--flag value ...]

One encoder for every subtask present, Conditional LayerNorm on the subtask id
(kexue.fm/archives/8337); F1 per group (A, B) with thresholds tuned on the validation
set, the score their mean; the submission is ``id,label`` in the sample's order.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from common.pair_task import PairTask
from common.submission import (SubmissionError, read_sample_ids, validate_rows, validate_submission_file,
                               write_id_label_submission)
from common.task import Splits, training_search_space
from competitions.sohu.config import SohuConfig
from competitions.sohu.data import ROOT, SUBTASKS, Example, limit_per_subtask, load_split, read_pairs_file, subtask_of_id
from competitions.sohu.implication import apply_label_implication, implied_groups, implied_rows
from competitions.sohu.metrics import group_of, sohu_scores

logger = logging.getLogger("sohu.task")


class SohuTask(PairTask):
    """Sohu 2021 multi-task text matching: one encoder for the six subtasks, conditioned on the subtask id.

    Metric ``score``: the mean of the A and B groups' F1, each at its own threshold tuned on the validation rows
    (competitions/sohu/metrics.py). Source: kexue.fm/archives/8337 (Conditional LayerNorm on the subtask id).
    """

    name = "sohu"
    config_class = SohuConfig
    pretrain_module = "competitions.sohu.pretrain_mlm"  # common.commands.pretrain --task sohu runs it
    metric_name = "score"
    search_space = training_search_space(learning_rate=(1e-4, 1e-3), epochs=(1, 3), fgm_epsilon=(0.0, 0.1, 0.3))
    # the shared pair classifier, its LayerNorms conditioned on the subtask id (kexue.fm/archives/8337)
    text_fields, condition_field, num_conditions = ("source", "target"), "subtask", len(SUBTASKS)
    truncation = "trim_longer"
    submission_reads_labels = True  # label implication and the trained subtasks (probe AI: silently lost without)

    def load_data(self, config: SohuConfig) -> Splits:
        subtasks = config.subtasks or None
        bad = [i for i in subtasks or [] if not 0 <= i < len(SUBTASKS)]
        if bad:
            raise ValueError(f"--subtasks: ids must be 0-{len(SUBTASKS) - 1}, got {bad}")
        train, missing = load_split(config.data_dir, "train", subtasks)
        valid, _ = load_split(config.data_dir, "valid", subtasks)
        test, _ = load_split(config.data_dir, "test_with_id", subtasks)
        if config.limit:
            train, valid = limit_per_subtask(train, config.limit), limit_per_subtask(valid, config.limit)
        return Splits(train, valid, test, missing)

    def load_test(self, config: SohuConfig, path: str) -> list[Example]:
        return read_pairs_file(path)

    def test_path(self, config: SohuConfig) -> Path:
        return Path(config.data_dir) / ROOT

    def implied_rows(self, config: SohuConfig, train: list[Example], data: Splits) -> list[Example]:
        """:func:`competitions.sohu.implication.implied_rows` of ``train`` for the groups ``implied_labels`` names
        (:func:`~competitions.sohu.implication.implied_groups`), every split asked.

        Raises:
            ValueError: an unknown ``implied_labels``.
        """
        groups = implied_groups(config.implied_labels)
        if not groups:
            return []
        return implied_rows(train, data.train + data.valid + data.test, groups)

    def strata(self, examples: Sequence[Example]) -> list[str]:
        return [f"{e.subtask}:{e.label}" for e in examples]

    def score(self, examples: list[Example], probs: np.ndarray,
              state: dict | None = None) -> tuple[dict[str, float], dict]:
        return sohu_scores(self.labels(examples), probs, np.array([e.subtask for e in examples]), state or None)

    def write_submission(self, config: SohuConfig, test: list[Example], probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        """``id,label`` rows; a group without tuned threshold (not trained) falls back to 0.5.

        Official test set: the sample's ids, in its order; only ids of subtasks the run did not train on
        (no training rows under ``data_dir``) are filled with 0. ``test_file``: that file's ids, in its order. Test rows of a
        subtask the run did not train on get 0 on both (its condition was never learnt), with a warning.

        With ``label_implication`` (the default), rows whose twin in the other group is labelled
        in the train or valid files are decided by it first (:meth:`implied`).

        Raises:
            SubmissionError: an official id of a present subtask without a prediction, or of a trained subtask
                whose test file is missing (it would be filled with 0).
        """
        labelled = self.labelled_rows(config)
        implied = {}
        if config.label_implication:
            probs, counts = self.implied(test, probs, [e for rows in labelled.values() for e in rows or []])
            implied = {"label_implication": counts}
        groups = group_of(np.array([e.subtask for e in test]))
        predictions = {e.id: int(p >= state.get(g, 0.5)) for e, p, g in zip(test, probs, groups)}
        # the subtasks the run's model learnt: those with training rows; unknown where no train file can be read
        # (a run folder moved without its data), and then nothing is decided by them, as before this was checked
        trained = None if labelled["train"] is None else {e.subtask for e in labelled["train"]}
        untrained = [e for e in test if trained is not None and e.subtask not in trained]
        if untrained:  # their condition's LayerNorm shift and prior were never trained: 0, as absent subtasks get
            predictions.update({e.id: 0 for e in untrained})
            logger.warning("%d test rows of subtasks the run did not train on (%s) get label 0", len(untrained),
                           ", ".join(sorted({SUBTASKS[e.subtask].folder for e in untrained})))
        path = Path(config.submission_dir) / f"{name}.csv"
        if test_file is not None:
            header, rows = ["id", "label"], [[e.id, str(predictions[e.id])] for e in test]
            validate_rows(header, rows, header, [e.id for e in test], ["0", "1"], str(path))
            from common.io import write_text_atomic

            write_text_atomic(path, "id,label\n" + "".join(f"{i},{y}\n" for i, y in rows))
            return {"submission": str(path), "rows": len(rows), "filled_ids": 0, **implied}
        sample = self.check_sample(config, test, trained, after_training=True)
        written = write_id_label_submission(path, predictions, sample, fill_value=0)
        if written["filled"]:
            logger.warning("subtasks the run did not train on (no train.txt, or left out by --subtasks): their %d "
                           "test ids are filled with label 0", len(written["filled"]))
        return {"submission": str(path), "rows": validate_submission_file(path, sample),
                "filled_ids": len(written["filled"]), **implied}

    def check_submission_inputs(self, config: SohuConfig, data: Splits) -> None:
        """:meth:`check_sample` before training, the trained subtasks those of ``data.train``."""
        self.check_sample(config, data.test, {e.subtask for e in data.train})

    def check_sample(self, config: SohuConfig, test: list[Example], trained: set[int] | None,
                     after_training: bool = False) -> Path:
        """The sample submission under ``config.data_dir`` can be filled from ``test``: returns its path.

        Raises:
            FileNotFoundError: no sample submission.
            SubmissionError: the sample repeats an id (naming its line); lists ids of a subtask with test rows that
                its test file lacks; or lists ids of a subtask in ``trained`` without a test file (they would all
                be 0).
        """
        sample = Path(config.data_dir) / ROOT / "sample_submission.csv"
        ids = {e.id for e in test}
        present = {e.subtask for e in test}
        sample_ids = read_sample_ids(sample)[1]
        unpredicted = [i for i in sample_ids if i not in ids and subtask_of_id(i) in present]
        if unpredicted:
            raise SubmissionError(f"{len(unpredicted)} ids of {sample} are missing from the test files of their "
                                  f"subtasks, e.g. {unpredicted[:5]}")
        untested = sorted({subtask_of_id(i) for i in sample_ids if i not in ids} & (trained or set()))
        if untested:  # probe Z2: a renamed test file filled a trained subtask's every id with 0, silently
            folders = ", ".join(SUBTASKS[k].folder for k in untested)
            did, then = ("trained", "predict again (predict --run RUN)") if after_training else ("trains", "start again")
            raise SubmissionError(f"{sample} lists ids of {folders}, which the run {did} on, but "
                                  f"{Path(config.data_dir) / ROOT}/<subtask>/test_with_id.txt is missing for it: put "
                                  f"the test file there and {then}; they would all be 0")
        return sample

    def labelled_rows(self, config: SohuConfig) -> dict[str, list[Example] | None]:
        """``{"train": rows, "valid": rows}``: every labelled row under ``config.data_dir`` of the subtasks in use,
        read whole (``--limit`` does not cut them), read once for a submission; None for a split absent there."""
        rows: dict[str, list[Example] | None] = {}
        for split in ("train", "valid"):
            try:
                rows[split] = load_split(config.data_dir, split, config.subtasks or None)[0]
            except FileNotFoundError:
                rows[split] = None
        return rows

    def implied(self, test: list[Example], probs: np.ndarray,
                evidence: list[Example]) -> tuple[np.ndarray, dict[str, int]]:
        """``probs`` (N,) with :func:`apply_label_implication` applied, the evidence every labelled row under
        ``data_dir`` (:meth:`labelled_rows`). Returns a new (N,) array and the counts of rows set
        (``{"A": set to 1, "B": set to 0}``, also in the submission's result).
        """
        probs, counts = apply_label_implication(test, probs, evidence)
        logger.info("label implication: %d A rows set to 1 (their pair is labelled 1 in B), %d B rows set to 0 "
                    "(labelled 0 in A), from %d labelled rows", counts["A"], counts["B"], len(evidence))
        return probs, counts


TASK = SohuTask()
