"""Optuna search over NER's training options, on dev micro-F1.

    python -m competitions.ner.tune --dataset resume --data-dir data/ner/resume --trials 20 --run-name resume-tune
    make ner-tune DATASET=resume TRIALS=20

The same study as every other task's (``common.commands.tune``, ``common.hpo``): TPE
with pruning on each epoch's dev F1, trials in ``runs/ner/<run>/trial<N>/``, the study in
``study.db`` or ``--storage`` (several workers, on GPUs or machines, share one), a rerun
adds the missing trials, ``accelerate launch`` trains each trial on N processes. The
search space (:func:`search_space`) is the shared one (learning rate, epochs, dropout,
FGM, EMA) around this run's own learning rate and epochs; a flag fixes an option for
every trial and takes it out of the search. Every NER training flag is accepted: the
data (a preset or your own files), ``--head``, ``--encoder-type``, ``--model``.
``best_params.toml`` holds the best trial's values and the study's own flags, so that
``python -m competitions.ner.train --config best_params.toml`` trains it on the whole
train set (``--limit`` left out) and predicts the test file. Ends with one JSON line.
"""

from __future__ import annotations

from pathlib import Path

from common.commands.args import compound_config, run_cli
from common.commands.tune import tune
from common.config import explicit_values, parse_config
from common.hpo import TuneConfig
from common.task import training_search_space
from common.training.trainer import selection_metric
from competitions.ner.config import NerConfig
from competitions.ner.data import load_splits
from competitions.ner.train import fit, resolve_options

NerTuneConfig = compound_config("NerTuneConfig", TuneConfig, NerConfig)


def search_space(config: NerConfig) -> dict:
    """The study's search space for ``config``: the shared training options (:func:`common.task.training_search_space`,
    no logit adjustment: NER's loss has no class prior to adjust), the learning rate within a factor of 3 of
    ``config``'s (the BiLSTM's 2e-3 or a pretrained encoder's rate, as resolved) on a log scale, and the epochs from
    half to one and a half times ``config.epochs``."""
    rate, epochs = config.learning_rate, config.epochs
    return training_search_space(learning_rate=(rate / 3, rate * 3),
                                 epochs=(max(1, epochs // 2), max(2, epochs + epochs // 2)), logit_adjustment=False)


def main(argv: list[str] | None = None) -> dict:
    """``python -m competitions.ner.tune``: see the module docstring; returns the study's summary (a non-main
    process of a launch: only ``trials_run_now``).

    Raises:
        ValueError: bad data or options (before a run folder exists), every searched option fixed by a flag, a
            study folder rerun with other options.
    """
    config = resolve_options(parse_config(NerTuneConfig, argv, description=__doc__))
    given = explicit_values(NerTuneConfig, argv)  # flags and --config files alike

    def fit_trial(trial_config: NerConfig, data: dict, trial_dir: Path, callbacks: list) -> float:
        return fit(trial_config, data, trial_dir, callbacks)[0]["best_metric"]

    metric, greater = selection_metric(config.metric_for_best_model, "f1", True)
    return tune(config, given, "ner", NerConfig, search_space(config), load_splits, fit_trial, metric, greater,
                "python -m competitions.ner.train")


if __name__ == "__main__":
    run_cli(main)
