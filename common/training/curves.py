"""The learning curve of a run: training loss and the validation metric per epoch, as one PNG.

Drawn from the trainer's summary (``metrics.json``: ``history`` of per-epoch records
with ``train_loss`` and the task's metrics, ``metric_name``, ``best_epoch``), so a run
folder explains itself at a glance and ``make report`` can show every run's curve.
Written by the trainer after every epoch (main process only, atomically), so a run
stopped early still has the curve of the epochs it finished.

Drawn on a bare ``matplotlib.figure.Figure`` (the Agg canvas), not through ``pyplot``:
no global backend switch and no figure registry, so training inside a notebook or
another plotting program leaves its figures and backend alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.io import atomic_path

CURVE_FILE = "learning_curve.png"


def plot_learning_curve(summary: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Draw ``summary``'s per-epoch training loss (left axis) and validation metric (right axis).

    Args:
        summary: the trainer's summary / ``metrics.json``: ``history`` (list of records
            with ``epoch``, ``train_loss`` and, with validation, ``metric_name``'s value),
            ``metric_name`` and ``best_epoch`` (marked on the curve).
        path: the PNG to write (atomically).
        title: the figure title (e.g. the run folder).

    Returns:
        ``path``.

    Raises:
        ValueError: the summary has no epoch to draw.
    """
    from matplotlib.figure import Figure

    history = [h for h in summary.get("history", []) if "epoch" in h]
    if not history:
        raise ValueError(f"{path}: no epoch in the run's history to draw")
    epochs = [h["epoch"] for h in history]
    metric = summary.get("metric_name", "loss")
    fig = Figure(figsize=(6, 3.8), dpi=100, layout="constrained")
    left = fig.add_subplot()
    losses = [(e, h["train_loss"]) for e, h in zip(epochs, history) if h.get("train_loss") is not None]
    if losses:
        left.plot(*zip(*losses), "o-", color="tab:blue", label="train loss")
    left.set_xlabel("epoch")
    left.set_ylabel("train loss", color="tab:blue")
    left.set_xticks([e for e in epochs if float(e).is_integer()] or epochs)  # --eval-every-steps: fractional ones
    values = [(e, h[metric]) for e, h in zip(epochs, history) if metric != "loss" and h.get(metric) is not None]
    if values:
        right = left.twinx()
        right.plot(*zip(*values), "s-", color="tab:orange", label=f"valid {metric}")
        right.set_ylabel(f"valid {metric}", color="tab:orange")
        best = summary.get("best_epoch")
        marked = [v for e, v in values if e == best]
        if marked:
            right.plot([best], marked, "*", color="tab:red", markersize=14, label=f"best epoch {best}")
    handles = [h for axis in fig.axes for h in axis.get_legend_handles_labels()[0]]
    if handles:  # one legend for both axes, under the plot (never over a curve)
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    if title:
        left.set_title(title, fontsize=9)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def plot_run(run_dir: str | Path) -> Path:
    """Draw ``run_dir/metrics.json`` into ``run_dir/learning_curve.png``; returns the PNG's path.

    Raises:
        FileNotFoundError: no ``metrics.json`` in ``run_dir``.
        ValueError: as :func:`plot_learning_curve`.
    """
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return plot_learning_curve(summary, run_dir / CURVE_FILE, title=str(run_dir))
