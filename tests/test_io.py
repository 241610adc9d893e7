"""Atomic writes (common.io): the final file gets the mode a plain open() would give it."""

import os
import stat

from common.io import write_text_atomic


def test_atomic_file_mode_follows_umask(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_text_atomic(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE(os.stat(atomic).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
