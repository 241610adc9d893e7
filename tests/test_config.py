from dataclasses import dataclass

import pytest

from common.config import config_from_dict, config_to_dict, parse_config
from tests.conftest import ROOT


@dataclass
class Demo:
    lr: float = 1e-3
    epochs: int = 2
    use_match: bool = True
    name: str = "x"


def test_defaults_then_file_then_flags(tmp_path):
    override = tmp_path / "exp.toml"
    override.write_text("# why: a longer run\nepochs = 5\nlr = 3e-4\n", encoding="utf-8")
    config = parse_config(Demo, ["--config", str(override), "--lr", "1e-2", "--use-match", "false"])
    assert config == Demo(lr=1e-2, epochs=5, use_match=False, name="x")
    assert config_from_dict(Demo, config_to_dict(config) | {"gone": 1}) == config


def test_a_flag_is_never_taken_for_a_longer_one(capsys, monkeypatch):
    """argparse's prefix matching read ``--lr 1e-3`` as ``--lr-scheduler 1e-3`` (refused only later, after the run
    folder was written): an unknown flag is an error at once, in one line naming the nearest flags (argparse
    printed 40 lines of usage), once under a launch (another rank goes through ``exit_with``: waits, then names
    itself)."""
    from common.training.trainer import TrainConfig

    with pytest.raises(SystemExit) as exit_:
        parse_config(TrainConfig, ["--lr", "1e-3", "--epoch", "2"])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert ("unrecognized arguments: --lr 1e-3 --epoch 2 (did you mean --learning-rate, --lr-scheduler, --epochs?); "
            "--help lists the options") in line
    waited = []
    monkeypatch.setattr("time.sleep", waited.append)
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, ["--epochs", "two"])
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("[process 1] ") and "--epochs: invalid int value: 'two'" in line and len(waited) == 1


def test_override_files_stack_in_order(tmp_path):
    """``--config a --config b``: b's keys over a's, a's other keys kept, flags over both (the Makefile's
    ``--config quick.toml`` with a user's ``ARGS="--config fgm.toml"`` keeps quick's epochs)."""
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text("epochs = 1\nlr = 3e-4\n", encoding="utf-8")
    second.write_text("lr = 1e-4\nname = 'b'\n", encoding="utf-8")
    config = parse_config(Demo, ["--config", str(first), "--config", str(second), "--name", "flag"])
    assert config == Demo(lr=1e-4, epochs=1, use_match=True, name="flag")
    assert parse_config(Demo, ["--config", str(second), "--config", str(first)]).lr == 3e-4


def test_unknown_key_in_override_names_the_file(tmp_path):
    override = tmp_path / "bad.toml"
    override.write_text("epochz = 5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.toml: unknown config keys \['epochz'\] \(epochz: did you mean epochs\?\)"):
        parse_config(Demo, ["--config", str(override)])  # the hint a mistyped flag gets (probe S)


def test_help_without_a_task_and_a_task_given_as_a_file_path(capsys):
    """`train --help` said "the following arguments are required: --task" and exited 2; `--task pkg/mod.py` got
    no hint that a module path has dots (probe S)."""
    from common.commands import args, train

    with pytest.raises(SystemExit) as done:
        args.split_task(["--help"], train.__doc__)
    assert done.value.code == 0 and "give it with --help to list them, e.g. --task sohu --help" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        args.split_task(["--task", "mycontest/news_task.py"], train.__doc__)
    assert done.value.code == 2
    assert "(a module path has dots: --task mycontest.news_task)" in capsys.readouterr().err


def test_wrong_type_is_refused(tmp_path):
    override = tmp_path / "bad.toml"
    override.write_text('epochs = "many"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="epochs"):
        parse_config(Demo, ["--config", str(override)])
    with pytest.raises(SystemExit):
        parse_config(Demo, ["--epochs", "two"])


@pytest.mark.parametrize("flag, value, expected", [
    ("--epochs", "0", ">= 1"), ("--batch-size", "0", ">= 1"), ("--grad-accum-steps", "0", ">= 1"),
    ("--learning-rate", "-0.5", ">= 0"), ("--warmup-ratio", "1.5", r"in \[0, 1\]"), ("--ema-decay", "1", r"in \[0, 1\)"),
    ("--layer-lr-decay", "0", r"in \(0, 1\]"), ("--fgm-epsilon", "-1", ">= 0"), ("--max-train-minutes", "-5", ">= 0"),
])
def test_training_options_out_of_range_are_refused_at_start(tmp_path, flag, value, expected):
    """A training option no run could use (``--epochs 0`` trained nothing and failed only at prediction) is refused
    when the config is made, before the run folder exists, by every task's config (pair's own checks too)."""
    from common.commands import train

    for task in ("xiaobu", "pair"):
        run = tmp_path / task
        with pytest.raises(ValueError, match=rf"^{flag} {value}\S*: expected {expected}"):
            train.main(["--task", task, f"{flag}={value}", "--run-dir", str(run)])  # = : a value may start with -
        assert not run.exists()


def test_narrow_config_keeps_the_shared_fields_and_refuses_unknown_overrides():
    import dataclasses

    import pytest

    from common.config import narrow_config

    @dataclasses.dataclass
    class Single:
        lr: float = 0.1
        name: str = ""

    @dataclasses.dataclass
    class Compound(Single):
        folds: int = 5

    single = narrow_config(Compound(lr=0.3, name="a", folds=3), Single, name="a-fold0")
    assert type(single) is Single and single == Single(lr=0.3, name="a-fold0")
    with pytest.raises(KeyError, match="folds"):
        narrow_config(Compound(), Single, folds=2)


@pytest.mark.parametrize("path", sorted((ROOT / "competitions").glob("*/configs/*.toml")), ids=lambda p: p.stem)
def test_every_shipped_config_parses_and_sets_no_wall_clock_budget(path):
    """Each ``competitions/<task>/configs/*.toml`` is read into its task's config (an unknown key or a bad value
    raises), and none sets ``max_train_minutes``: a budget cuts a run wherever the machine's speed puts it, so
    the same command gives other numbers on another machine (the guide: opt-in flag, never a default)."""
    from common.task import get_task
    from competitions.ner.config import NerConfig

    task = path.parent.parent.name
    config_class = NerConfig if task == "ner" else get_task(task).config_class  # NER is not a pair Task
    config = parse_config(config_class, ["--config", str(path)])
    assert config.max_train_minutes == 0


def test_a_contest_folder_is_a_task_by_its_name(tmp_path, monkeypatch):
    """Probe Z1: a new folder competitions/<name>/ with a task.py was "unknown task" to --task <name> (and so to
    make <name>-train) until its name was added to common/task.py's TASKS: the folder alone is the contest now."""
    import sys

    import common.task
    from common.task import Task, get_task

    root = tmp_path / "repo"  # a checkout holding the new folder: common/task.py finds it beside itself
    folder = root / "competitions" / "newcontest"
    folder.mkdir(parents=True)
    (folder / "task.py").write_text("", encoding="utf-8")
    monkeypatch.setattr(common.task, "__file__", str(root / "common" / "task.py"))
    module = type(sys)("competitions.newcontest.task")
    module.TASK = Task()
    monkeypatch.setitem(sys.modules, "competitions.newcontest.task", module)
    assert get_task("newcontest") is module.TASK
    with pytest.raises(ValueError, match=r"unknown task 'othercontest': known \[.*\], a folder competitions/<name>/ "
                                         r"with a task.py, or a module path"):
        get_task("othercontest")
