"""Fixed-seed smoke runs of Sohu, Xiaobu and NER give the metrics recorded before the task-interface refactor."""

import json

import pytest

from tests.conftest import DATA, SHARED_VOCAB
from tests.smoke_reference import RECORD, run_all


@pytest.mark.skipif(not ((DATA / "sohu2021" / "sohu2021_open_data_clean").is_dir()
                         and (DATA / "ner" / "cluener" / "train.json").is_file() and SHARED_VOCAB.is_dir()),
                    reason="needs the real Sohu and CLUENER data and the shared vocab")
def test_smoke_metrics_equal_the_record():
    assert run_all() == json.loads(RECORD.read_text(encoding="utf-8"))
