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
