"""bench.gpu_check's checks pass where they can run here (the CPU), so the script is ready for a GPU (slow)."""

import json

import pytest

from tests.conftest import ROOT

SOHU = ROOT / "data" / "sohu2021"


@pytest.mark.slow
def test_gpu_check_runs_every_check_on_the_cpu(tmp_path):
    from bench import gpu_check

    flags = ["--bert-base-steps", "0", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "check.json")]
    report = gpu_check.main(flags)
    names = [row["check"] for row in report["checks"]]
    assert names[:5] == ["xiaobu-no", "xiaobu-bf16", "cpu-parity", "export", "sigint-resume"], names
    assert "ner-bf16" in names and ("sohu-bf16" in names) == SOHU.is_dir()
    assert report["ok"], [row for row in report["checks"] if not row["ok"]]
    assert all(row["device"].startswith("cpu") for row in report["checks"] if "device" in row)
    assert json.loads((tmp_path / "check.json").read_text())["checks"] == report["checks"]


def test_the_work_folder_is_emptied_only_when_an_earlier_check_made_it(tmp_path):
    """A second run on the same --work was refused as already trained, then crashed on the existing Sohu tree."""
    from bench.gpu_check import prepare_work

    work = prepare_work(tmp_path / "work")
    (work / "xiaobu-no").mkdir()
    assert list(prepare_work(work).iterdir()) == [work / ".gpu_check"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not empty and not an earlier gpu_check's"):
        prepare_work(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
