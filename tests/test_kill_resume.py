"""kill -9 at random moments of the Xiaobu smoke run, resumed, ends where the uninterrupted run ends (slow).

The full bench (three tasks, ten kills each) is ``python -m bench.kill_resume``; this
runs two of its Xiaobu trials through the same functions.
"""

import pytest

from bench.kill_resume import run_task


@pytest.mark.slow
def test_two_random_kills_of_the_xiaobu_smoke_run_resume_to_the_uninterrupted_result(tmp_path):
    report = run_task("xiaobu", kills=2, seed=0, work=tmp_path, log=lambda _: None)
    assert len(report["kills"]) == 2
    for trial in report["kills"]:
        assert trial["finished"], trial
        assert trial["diffs"] == [], trial
