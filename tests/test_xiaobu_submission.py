"""The one-probability-per-line submission writer and validator, and the AUC metric against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from common.submission import SubmissionError, validate_probability_file, write_probability_submission
from competitions.xiaobu.metrics import pair_auc


def test_write_then_validate(tmp_path):
    path = tmp_path / "sub.txt"
    written = write_probability_submission(path, np.array([0.1, 1.0, 0.0, 0.123456789]), expected_rows=4)
    assert written == {"path": str(path), "rows": 4}
    assert path.read_text().splitlines() == ["0.100000", "1.000000", "0.000000", "0.123457"]
    assert validate_probability_file(path, 4) == 4
    with pytest.raises(SubmissionError, match="4 probabilities, expected 5"):
        validate_probability_file(path, 5)


@pytest.mark.parametrize("values, message", [([0.5, 1.2], r":2: 1.2 is not a probability"),
                                             ([float("nan"), 0.1], r":1: nan"),
                                             ([0.5], r"1 probabilities, expected 2")])
def test_bad_values_write_nothing(tmp_path, values, message):
    path = tmp_path / "sub.txt"
    path.write_text("keep\n")
    with pytest.raises(SubmissionError, match=message):
        write_probability_submission(path, values, expected_rows=2)
    assert path.read_text() == "keep\n"  # the previous file is untouched


def test_validator_rejects_non_numbers(tmp_path):
    path = tmp_path / "sub.txt"
    path.write_text("0.5\n\n")
    with pytest.raises(SubmissionError, match="sub.txt:2: '' is not a number"):
        validate_probability_file(path, 2)
    with pytest.raises(FileNotFoundError):
        validate_probability_file(tmp_path / "none.txt", 1)


def test_auc_matches_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probs = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    assert pair_auc(labels, probs) == pytest.approx(roc_auc_score(labels, probs))
    assert pair_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="both classes"):
        pair_auc(np.array([1, 1]), np.array([0.2, 0.3]))
