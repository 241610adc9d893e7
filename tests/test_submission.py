import pytest

from common.submission import SubmissionError, validate_submission_file, write_id_label_submission


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample_submission.csv"
    path.write_text("id,label\nss0_a,1\nss1_a,0\nsl0_b,0\n", encoding="utf-8")
    return path


def test_writes_every_id_once_in_sample_order_and_fills_absent(tmp_path, sample):
    out = tmp_path / "sub" / "s.csv"
    result = write_id_label_submission(out, {"ss1_a": 1, "ss0_a": 0}, sample, fill_value=0)
    assert out.read_text(encoding="utf-8") == "id,label\nss0_a,0\nss1_a,1\nsl0_b,0\n"
    assert result["filled"] == ["sl0_b"]
    assert validate_submission_file(out, sample) == 3


def test_refuses_missing_id_without_fill(tmp_path, sample):
    out = tmp_path / "s.csv"
    with pytest.raises(SubmissionError, match="no prediction"):
        write_id_label_submission(out, {"ss0_a": 1}, sample)
    assert not out.exists()  # nothing half-written


def test_refuses_bad_label_and_unknown_id(tmp_path, sample):
    with pytest.raises(SubmissionError, match="label '2'"):
        write_id_label_submission(tmp_path / "s.csv", {"ss0_a": 2, "ss1_a": 0, "sl0_b": 0}, sample)
    with pytest.raises(SubmissionError, match="not in"):
        write_id_label_submission(tmp_path / "s.csv", {"zz9_a": 1}, sample, fill_value=0)


@pytest.mark.parametrize("body, message", [
    ("id,label\nss0_a,1\nss1_a,0\n", "missing"),
    ("id,label\nss0_a,1\nss0_a,1\nss1_a,0\nsl0_b,0\n", "duplicate id 'ss0_a'"),
    ("id,label\nss0_a,1\nss1_a,yes\nsl0_b,0\n", "label 'yes'"),
    ("id,pred\nss0_a,1\nss1_a,0\nsl0_b,0\n", "header"),
])
def test_validator_refuses_broken_files(tmp_path, sample, body, message):
    path = tmp_path / "broken.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SubmissionError, match=message):
        validate_submission_file(path, sample)
