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
