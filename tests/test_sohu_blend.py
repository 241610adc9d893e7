import numpy as np
import pytest

from common.commands.blend import blend


def _run(valid_probs, test_ids=("ss0_a", "ss0_b")):
    return {"valid_keys": np.array(["0:0", "0:1", "1:0"]), "valid_probs": np.array(valid_probs),
            "valid_labels": np.array([1, 0, 1]), "valid_tasks": np.array([0, 0, 1]),
            "test_ids": np.array(test_ids), "test_probs": np.array([0.2, 0.8]), "test_tasks": np.array([0, 1])}


def test_weighted_mean_of_aligned_runs():
    mixed = blend([_run([0.9, 0.1, 0.6]), _run([0.3, 0.5, 0.0])], [3, 1], ["a", "b"])
    np.testing.assert_allclose(mixed["valid_probs"], [0.75, 0.2, 0.45])
    np.testing.assert_allclose(mixed["test_probs"], [0.2, 0.8])


def test_misaligned_ids_are_refused():
    with pytest.raises(ValueError, match="test_ids differ"):
        blend([_run([0.9, 0.1, 0.6]), _run([0.3, 0.5, 0.0], test_ids=("ss0_b", "ss0_a"))], [1, 1], ["a", "b"])


@pytest.mark.parametrize("weights, runs, message", [
    ([1, -1], ["a", "b"], r"--weights 1 -1: expected numbers >= 0 with a positive sum"),
    ([0, 0], ["a", "b"], r"--weights 0 0: expected numbers >= 0"),
    ([1], ["a", "b"], r"--weights: 1 weights for 2 runs"),
    (None, ["a", "a"], r"--runs: .*/a given more than once"),
])
def test_bad_weights_and_a_run_given_twice_are_refused_before_reading(tmp_path, weights, runs, message):
    """A negative or all-zero weight made NaN or probabilities outside [0, 1]; one run twice was accepted."""
    from common.commands.blend import blend_runs
    from common.task import get_task

    with pytest.raises(ValueError, match=message):
        blend_runs(get_task("xiaobu"), [str(tmp_path / r) for r in runs], weights)


def test_a_kfold_run_points_to_the_ensemble(tmp_path):
    from common.commands.blend import load_probabilities

    (tmp_path / "folds.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"is a k-fold run: .*the ensemble command"):
        load_probabilities(tmp_path)


def test_a_reference_of_other_data_is_not_blended_and_training_is_not_failed_for_it(tmp_path, caplog):
    """Sohu's default --blend-with is one fixed folder: made on another data folder, its blend failed after training
    (exit 2, the run and its submission fine). It is now checked before training: a warning, no blend."""
    from types import SimpleNamespace

    from common.commands.predict import save_probabilities
    from common.commands.train import blend_partner
    from common.task import get_task
    from tests.conftest import ROOT

    task = get_task("xiaobu")
    config = task.config_class(data_dir=str(ROOT / "tests" / "fixtures" / "xiaobu"), train_file="train.tsv",
                               test_file="test.tsv", valid_fraction=0.25)
    data = task.load_data(config)
    run = SimpleNamespace(blend_with=str(tmp_path / "reference"), data_dir=config.data_dir)
    assert blend_partner(task, run, data) == "" and "not blending" in caplog.text  # none made yet
    (tmp_path / "reference").mkdir()
    probs = np.full(len(data.valid), 0.5), np.full(len(data.test), 0.5)
    save_probabilities(tmp_path / "reference" / "probabilities.npz", task, data.valid, probs[0], data.test, probs[1])
    assert blend_partner(task, run, data) == str(tmp_path / "reference")
    save_probabilities(tmp_path / "reference" / "probabilities.npz", task, data.valid, probs[0], data.test[:-1],
                       probs[1][:-1])  # made on another test set
    caplog.clear()
    assert blend_partner(task, run, data) == "" and "was made on other validation or test rows" in caplog.text
    caplog.clear()  # the same folder cut by --limit: named too (probe W: "other data" where only --limit differed)
    assert blend_partner(task, SimpleNamespace(**vars(run), limit=20), data) == ""
    assert f"than this run's ({config.data_dir} or --limit): not blending" in caplog.text
    assert blend_partner(task, SimpleNamespace(blend_with="", data_dir="x"), data) == ""
    # the same ids of other texts (the test file edited since the reference predicted it): blend would refuse it,
    # so training does not end in that refusal (probe AP); not blended, said before training
    import dataclasses

    swapped = [dataclasses.replace(ex, a=ex.b, b=ex.a) for ex in data.test]
    save_probabilities(tmp_path / "reference" / "probabilities.npz", task, data.valid, probs[0], swapped, probs[1])
    full = SimpleNamespace(**vars(config), blend_with=str(tmp_path / "reference"))
    caplog.clear()
    assert blend_partner(task, full, data) == "" and "predicted another test set than" in caplog.text
    assert "make xiaobu-baseline" in caplog.text
