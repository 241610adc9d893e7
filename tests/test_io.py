"""Atomic writes (common.io): the final file gets the mode a plain open() would give it; a full disk is one line."""

import errno
import os
import stat

import pytest
import torch

from common.io import torch_save_atomic, write_text_atomic


def test_atomic_file_mode_follows_umask(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_text_atomic(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE(os.stat(atomic).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path, monkeypatch, capsys):
    """On a full tmpfs, training ended in torch's "RuntimeError: [enforce fail at inline_container.cc:672] .
    unexpected pos 2710400 vs 2710288" and a traceback (probe Q); now an ENOSPC naming the file, which run_cli
    prints in one line. Other errors of torch.save are not renamed."""
    from common.commands.args import run_cli

    path = tmp_path / "model.pt"
    torch_save_atomic({"w": 1}, path)
    before = path.read_bytes()

    def full(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2710400 vs 2710288")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError) as err:
        torch_save_atomic({"w": 2}, path)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: torch_save_atomic({"w": 2}, path))
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 1 and len(lines) == 1
    assert lines[0].startswith(f"error: {path}: No space left on device? writing failed (") and "--resume true" in lines[0]
    monkeypatch.setattr(torch, "save", lambda obj, f: (_ for _ in ()).throw(RuntimeError("an unrelated failure")))
    with pytest.raises(RuntimeError, match="an unrelated failure"):
        torch_save_atomic({"w": 2}, path)


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_work(tmp_path, monkeypatch):
    """An unwritable --submission-dir was found after all the training, when the submission was written (probe Q)."""
    import tempfile

    from common.commands import train
    from common.io import check_output_dir

    check_output_dir(tmp_path / "new" / "deeper", "--submission-dir")  # made later by the writer: fine
    assert not any(tmp_path.iterdir())  # and nothing made now
    (tmp_path / "afile").write_text("x")
    for path in (tmp_path / "afile", tmp_path / "afile" / "below"):
        with pytest.raises(ValueError, match=r"--submission-dir .*: .*afile is a file, not a folder"):
            check_output_dir(path, "--submission-dir")
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="afile is a file, not a folder"):
        train.main(["--task", "xiaobu", "--data-dir", str(tmp_path / "no-data"), "--run-dir", str(run),
                    "--submission-dir", str(tmp_path / "afile")])
    assert not run.exists()

    def refused(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refused)  # as under chattr +i, which root cannot bypass
    (tmp_path / "imm").mkdir()
    with pytest.raises(PermissionError, match=r"--submission-dir .*imm: no file can be written in .*imm \(Operation"):
        check_output_dir(tmp_path / "imm", "--submission-dir")


def test_a_folder_build_killed_before_is_swept_by_the_next(tmp_path):
    """A kill -9 during ``make export`` left ``exports/<task>/.<run>.xxxx.tmp/`` for good (probe R). The next
    build of the same folder deletes what dead processes left for it, and nothing of a live process or of
    another folder; its own folder has the mode ``mkdir`` gives."""
    import subprocess
    import sys

    from common.io import replace_dir_atomic, temp_dir_beside

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f".run.{dead_pid}-abc.tmp"
    left.mkdir()
    (left / "model.onnx").write_bytes(b"x")
    live = tmp_path / f".run.{os.getpid()}-def.tmp"  # another build of this process (or one running now)
    other = tmp_path / f".run-b.{dead_pid}-abc.tmp"  # another output's
    live.mkdir()
    other.mkdir()
    tmp = temp_dir_beside(tmp_path / "run")
    assert not left.exists() and live.is_dir() and other.is_dir() and tmp.parent == tmp_path
    plain = tmp_path / "plain"
    plain.mkdir()
    assert stat.S_IMODE(os.stat(tmp).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
    replace_dir_atomic(tmp, tmp_path / "run")
    assert (tmp_path / "run").is_dir() and not tmp.exists()
