"""Loading the ``model.pt`` a run folder holds (see common.training.trainer)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

# Parameters a HF encoder may carry without using them here (BERT's pooler).
OPTIONAL_PREFIXES = ("pooler.",)


def load_model_weights(model: nn.Module, path: str | Path) -> dict:
    """Load ``path``'s ``state_dict`` into ``model``; returns the payload (config, metrics...).

    Keys may differ only by unused optional parts (BERT's pooler).

    Raises:
        FileNotFoundError: no file.
        ValueError: a file torch cannot read as a checkpoint (truncated, or not one), naming it.
        RuntimeError: any other missing or unexpected key, naming them and the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:  # zip reader / pickle errors
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path}: unreadable as a checkpoint ({reason}); a truncated or partly copied file? Copy "
                         "it again or retrain") from None
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path}: not a checkpoint of this project (expected a dict with 'state_dict')")
    result = model.load_state_dict(payload["state_dict"], strict=False)

    def serious(keys: list[str]) -> list[str]:
        return [k for k in keys if not any(p in k for p in OPTIONAL_PREFIXES)]

    missing, unexpected = serious(result.missing_keys), serious(result.unexpected_keys)
    if missing or unexpected:
        raise RuntimeError(f"{path}: weights do not fit the model: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    return payload
