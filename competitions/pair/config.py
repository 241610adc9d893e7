"""Configuration of a sentence-pair contest given by flags (files, columns, labels, metric, submission format)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from common.encoder import EncoderConfig
from common.losses import LogitAdjustmentConfig
from common.pair_classifier import PairClassifierConfig
from common.pair_task import SmallPairModelDefaults
from common.task import SymmetricPairConfig
from common.training.trainer import TrainConfig

FORMATS = ("auto", "tsv", "csv", "jsonl")
METRICS = ("accuracy", "f1", "auc")
CLASS_METRICS = ("accuracy", "macro_f1")  # of three or more label values (NLI, KUAKE-QQR)
GRADED_METRICS = ("spearman", "pearson")  # of graded labels (--label-range)
SUBMISSION_FORMATS = ("csv", "tsv", "jsonl", "json", "lines")
SUBMISSION_VALUES = ("auto", "label", "probability")


def same_label(cell: str, value: str) -> bool:
    """Whether a label cell spells ``value`` another way: the same number (``1.0`` / ``1``) or the same word in
    another case (``True`` / ``true``)."""
    if cell.lower() == value.lower():
        return True
    try:
        return float(cell) == float(value)
    except ValueError:
        return False


@dataclass
class PairFiles:
    """Where the pairs are and how to read them (a contest's own files, any layout of these three formats).

    Columns are names (a CSV/TSV header's, a JSON-lines object's keys) or, for a CSV/TSV file
    without a header, 0-based positions: when every column given is a number the file has
    no header. ``id_column`` empty: a row's id is its 0-based position among the file's data
    rows (CLUE's test ids). ``label_values``: the negative and the positive label as the files
    write them; the submission writes them back. Three or more values: one class each (an NLI
    contest's ``entailment,neutral,contradiction``), class i the i-th. A class may be spelled several ways,
    ``|`` between them (``0|NA,1,2``: KUAKE-QQR's training file labels some pairs ``NA``, which CBLUE's baseline reads
    as class 0); the first is the one the submission writes. ``label_range`` ``"lo,hi"``
    instead: graded labels, each a number in ``[lo, hi]`` (a similarity score, as in STS-B).
    """

    data_dir: str = ""
    train_file: str = "train.tsv"  # labelled pairs, relative to data_dir (or absolute)
    dev_file: str = ""  # labelled validation pairs; empty: a stratified valid_fraction of the train file
    test_file: str = "test.tsv"  # the submission's pairs (a label column, if present, is ignored)
    # auto (by extension: .csv, .json/.jsonl, else tsv) | tsv | csv | jsonl (JSON lines, or one JSON array of objects)
    file_format: str = "auto"
    text_a_column: str = "sentence1"
    text_b_column: str = "sentence2"
    label_column: str = "label"
    positional_header: bool = False  # columns by position in files whose first row is a header: it is skipped
    id_column: str = ""  # the test file's id column (training files need none); empty: the row's 0-based position
    # the test file's text columns where it is laid out unlike the training files (headerless "id, a, b" beside
    # "a, b, label": --id-column 0 --test-text-a-column 1 --test-text-b-column 2); empty: text_a/b_column's
    test_text_a_column: str = ""
    test_text_b_column: str = ""
    # negative,positive as written in the files; three or more: the classes (e.g. "entailment,neutral,contradiction");
    # a class spelled several ways: "0|NA,1,2" (the first is written to the submission)
    label_values: str = "0,1"
    # graded labels: "lo,hi", a label is a number in [lo, hi] (a similarity score: Chinese STS-B's 0,5), predicted as
    # (label - lo) / (hi - lo) in [0, 1]; empty: 0/1 labels (label_values)
    label_range: str = ""
    valid_fraction: float = 0.1  # without dev_file: this stratified share of the train file validates
    # that split keeps pairs sharing a text (transitively) on one side, as k-fold's folds do: on BQ Corpus, where 98%
    # of pairs share a text with another, a split that did not validated TF-IDF at 0.834 against 0.716 out of fold
    # and 0.729 on the held-out test file (RESULTS.md)
    group_by_text: bool = True
    split_seed: int = 42  # seed of that split (independent of the training seed)
    # a finished `make pair-shift` run: that split is instead the train file's most test-like text groups (the
    # highest mean out-of-fold P(test) in its shift.npz), so validation resembles the test file (adversarial validation)
    valid_from_shift: str = ""
    limit: int = 0  # > 0: keep only the first N pairs of train and of dev (smoke tests, quick runs)

    def test_files(self) -> "PairFiles":
        """How a test file is read: a copy with ``test_text_a_column`` / ``test_text_b_column`` as its text columns
        where given, and no label column (a test file is read unlabelled; probe AQ: the training files' label
        column, of another kind than the test file's positions, made the copy invalid), or itself when neither is
        given."""
        if not (self.test_text_a_column or self.test_text_b_column):
            return self
        return dataclasses.replace(self, text_a_column=self.test_text_a_column or self.text_a_column,
                                   text_b_column=self.test_text_b_column or self.text_b_column, label_column="",
                                   test_text_a_column="", test_text_b_column="")

    def label_names(self) -> list[str]:
        """The label values as the files write them, class i the i-th (two: negative, positive), each class's first
        spelling (what a submission writes); unchecked (the config's ``__post_init__`` refuses fewer than two, an
        empty one and repeats)."""
        return [spellings[0] for spellings in self.label_spellings()]

    def label_spellings(self) -> list[list[str]]:
        """Every spelling of each class, class i the i-th: ``"0|NA,1,2"`` -> ``[["0", "NA"], ["1"], ["2"]]``."""
        return [[s.strip() for s in v.split("|")] for v in self.label_values.split(",")]

    def num_classes(self) -> int:
        """C, the classes a model predicts: 2 for 0/1 and for graded labels (P of the scaled grade), else the
        number of ``label_values``."""
        return 2 if self.label_range.strip() else len(self.label_names())

    def graded_range(self) -> tuple[float, float] | None:
        """``(lo, hi)`` of ``label_range``, or None for 0/1 labels. Raises ValueError: not two numbers lo < hi."""
        if not self.label_range.strip():
            return None
        try:
            lo, hi = (float(v) for v in self.label_range.split(","))
        except ValueError:
            lo = hi = float("nan")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):  # also NaN, inf and a wrong count
            raise ValueError(f"--label-range {self.label_range!r}: expected 'lo,hi', two finite numbers lo < hi, e.g. "
                             "'0,5' (a negative one: --label-range=-1,1)")
        return lo, hi


@dataclass
class PairFilesConfig(SmallPairModelDefaults, TrainConfig, LogitAdjustmentConfig, SymmetricPairConfig, EncoderConfig,
                      PairClassifierConfig, PairFiles):
    """A 0/1 sentence-pair contest from its files: data and decisions as flags, the shared pair classifier as model.

    ``metric``: what picks the best epoch, the k-fold score and the submission's name (the
    task reports it as ``score``, beside all three): ``accuracy`` or ``f1`` (of the positive class) of
    ``P(1) >= t`` with ``t`` tuned on the rows scored (validation, OOF) and kept for the
    submission, or ``auc`` (ROC AUC of P(1)). With graded labels (``label_range``): ``spearman`` or
    ``pearson``, the rank or linear correlation of P with the labels (CoSENT's and SBERT's STS-B
    measure is Spearman's). With three or more ``label_values`` (a multi-class contest, e.g. NLI):
    ``accuracy`` of the most probable class, or ``macro_f1`` of per-class shifted log-probabilities (the shifts tuned
    on the rows scored, as a threshold is). Model defaults: :class:`common.pair_task.SmallPairModelDefaults`
    (AFQMC's), from scratch unless ``--model``.
    """

    # accuracy | f1 | auc; graded labels (--label-range): spearman | pearson; 3+ label values: accuracy | macro_f1
    metric: str = "accuracy"
    submission_dir: str = "submissions/pair"
    submission_format: str = "csv"  # csv | tsv (a header, then id and value) | jsonl ({id, value}) | json ([{id, value}, ...], CBLUE's) | lines (value only)
    # label | probability | auto (probability for auc, else the label); graded labels: auto writes the predicted score
    # lo + P * (hi - lo), label that score rounded to a whole number, probability P itself; 3+ label values: label
    submission_value: str = "auto"
    submission_id_column: str = "id"  # header / key names of the submission's two columns
    submission_label_column: str = "label"

    def __post_init__(self) -> None:
        """Raises ValueError: an unknown metric, file or submission format, columns that mix names and positions,
        label values that are not two, one name for both submission columns, a test-like split beside a dev file,
        a header to skip with columns by name, a ``--metric-for-best-model`` the validation does not score;
        a label range that is not two finite numbers lo < hi, a metric of the other kind of labels, or graded labels
        with what needs 0/1 labels (logit adjustment in training or post hoc, pseudo-labels), with a distillation
        temperature other than 1, or with whole-grade submissions of a range holding no whole number; three or
        more label values with a metric or submission of P(1) (``f1``, ``auc``, probabilities); and
        :class:`common.training.trainer.TrainConfig`'s ranges."""
        super().__post_init__()
        graded = bool(self.label_range.strip())
        values, spellings = self.label_names(), [s for v in self.label_spellings() for s in v]
        if len(values) < 2 or not all(spellings) or len(set(spellings)) < len(spellings):
            repeated = next((s for s in spellings if s and spellings.count(s) > 1), None)
            raise ValueError(f"--label-values {self.label_values!r}: "
                             + (f"{repeated!r} is given twice; " if repeated else "")
                             + "expected 'negative,positive', e.g. '0,1', or "
                             "three or more distinct classes, e.g. 'entailment,neutral,contradiction' (a class "
                             "spelled several ways: '0|NA,1,2')")
        clash = [(a, b) for i, these in enumerate(self.label_spellings()) for j, those in enumerate(
            self.label_spellings()) if i < j for a in these for b in those if same_label(a, b)]
        if clash:  # a cell is read as a label another way spelled (case, 1.0 for 1): it would name two classes
            raise ValueError(f"--label-values {self.label_values!r}: {clash[0][0]!r} and {clash[0][1]!r} are the "
                             "same label read another way (case, or the same number) but name two classes")
        classes = not graded and len(values) > 2
        if self.valid_from_shift and self.dev_file:
            raise ValueError(f"--valid-from-shift {self.valid_from_shift}: the dev file {self.dev_file!r} validates; "
                             "a test-like split is drawn from the train file without one (--dev-file '')")
        metrics = GRADED_METRICS if graded else CLASS_METRICS if classes else METRICS
        chosen = getattr(self, "metric_for_best_model", "")
        if chosen and not chosen.endswith("loss") and chosen not in ("score", *metrics):
            raise ValueError(f"--metric-for-best-model {chosen!r}: expected one of {['score', *metrics]} or a loss "
                             f"(the validation scores of --metric {self.metric})")
        for name, allowed in (("metric", metrics), ("file_format", FORMATS),
                              ("submission_format", SUBMISSION_FORMATS), ("submission_value", SUBMISSION_VALUES)):
            if getattr(self, name) not in allowed:
                kind = (" of graded labels (--label-range)" if graded else f" of {len(values)} classes "
                        "(--label-values)" if classes else "") if name == "metric" else ""
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)!r}: expected one of "
                                 f"{list(allowed)}{kind}")
        given = [c for c in (self.text_a_column, self.text_b_column, self.label_column, self.id_column,
                             self.test_text_a_column, self.test_text_b_column) if c]
        for columns in ([self.text_a_column, self.text_b_column, self.label_column],  # the training files' columns,
                        [self.test_text_a_column or self.text_a_column,  # and the test file's: each of one kind
                         self.test_text_b_column or self.text_b_column, self.id_column]):
            columns = [c for c in columns if c]
            if len({c.isdigit() for c in columns}) > 1:
                raise ValueError(f"columns {columns}: give every column of a file by header name, or every one by "
                                 "0-based position")
        if self.positional_header and not all(c.isdigit() for c in given):
            raise ValueError(f"--positional-header: it skips a header the columns are not read by; columns {given} "
                             "are header names (give 0-based positions, or leave it off)")
        if self.submission_id_column == self.submission_label_column:
            raise ValueError(f"--submission-id-column and --submission-label-column are both "
                             f"{self.submission_id_column!r}: the submission's two columns need two names")
        if classes:
            if self.submission_value == "probability":
                raise ValueError(f"--submission-value probability: {len(values)} classes (--label-values) have no "
                                 "one probability to write; the submission writes each row's class")
        if graded:
            for name in ("logit_adjust_tau", "posthoc_tau"):
                if getattr(self, name, 0.0) > 0:
                    raise ValueError(f"--{name.replace('_', '-')}: logit adjustment corrects a 0/1 label prior; "
                                     "graded labels (--label-range) have none")
            lo, hi = self.graded_range()
            if self.submission_value == "label" and math.floor(hi) < math.ceil(lo):
                raise ValueError(f"--submission-value label: no whole grade in --label-range {self.label_range} to "
                                 "round to (auto writes the score)")
            if getattr(self, "pseudo_from", ""):
                raise ValueError("--pseudo-from: pseudo-labels are 0/1 labels a teacher is sure of; graded labels "
                                 "(--label-range) learn from a teacher by --distill-from")
            if getattr(self, "distill_from", "") and getattr(self, "distill_temperature", 1.0) != 1.0:
                raise ValueError("--distill-temperature: with graded labels (--label-range) a student's target is "
                                 "the mix (1 - alpha) * label + alpha * teacher, at temperature 1")
            if getattr(self, "distill_from", "") and getattr(self, "distill_thresholds", "valid") == "teacher":
                raise ValueError("--distill-thresholds teacher: graded labels (--label-range) have no thresholds "
                                 "to take from a teacher (the submission writes the predicted score)")
