"""NER run configuration (flags generated from the fields; see common.config)."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import check_ranges
from common.encoder import EncoderConfig
from common.training.trainer import TrainConfig


NER_METRICS = ("f1", "precision", "recall")  # what dev is scored by (competitions.ner.train.compute_metrics)


@dataclass
class NerConfig(TrainConfig, EncoderConfig):
    """Span NER (GlobalPointer / Efficient GlobalPointer / CRF) on a preset dataset or any files in a supported format."""

    # Data (competitions/ner/data.py): a preset gives defaults for the options below; flags override them.
    dataset: str = ""  # a preset of competitions.ner.data.PRESETS (cluener, people_daily, weibo, resume, power, cmeee); empty: none, or the one whose files --data-dir holds
    data_dir: str = ""  # the folder holding the files
    train_file: str = ""  # relative to data_dir unless absolute
    dev_file: str = ""  # relative to data_dir unless absolute
    test_file: str = ""  # optional; relative to data_dir unless absolute
    format: str = ""  # bio | bmes | bme | cluener | uer-tsv | cmeee (competitions.ner.data.FORMATS)
    train_format: str = ""  # the train file's format when it differs from --format
    strict_tags: bool | None = None  # bio/bmes: raise on an invalid tag sequence (default); false: repair and log
    strip_segment_digit: bool | None = None  # bio/bmes: drop the word-position digits after each character (Weibo 2nd)
    dev_holdout: int | None = None  # > 0: no dev file; the first N records of the train file are the dev set
    submission_dir: str = "submissions/ner"  # prediction files go to <submission_dir>/<dataset>/<run_name>-...
    head: str = "egp"  # egp (Efficient GlobalPointer; best dev F1 and fastest here, README) | gp (GlobalPointer) | crf (pytorch-crf)
    head_size: int = 0  # q/k size of the span heads; 0: 8 for gp (measured, see the README), 64 for egp (kexue.fm/archives/8877)
    max_span_width: int = 0  # > 0: GP/EGP score only spans of at most this many characters
    # GP/EGP: flat (no two predicted spans share a character: the best-scored kept) | nested (every span > 0) |
    # auto: flat unless the training data's gold spans nest or overlap (CMeEE); saved resolved in config.json
    decoding: str = "auto"
    encoder_type: str = "bilstm"  # bilstm (character BiLSTM, the CPU default) | bert (small BERT or --model)
    lstm_layers: int = 2  # BiLSTM encoder only
    w2v_init: bool = True  # initialise character embeddings with word2vec on the training text
    w2v_epochs: int = 5
    max_length: int = 256  # characters per piece; longer texts are cut into pieces
    limit: int = 0  # > 0: keep only the first N train and dev examples (smoke tests); the test file stays whole
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.02
    eval_batch_size: int = 128
    group_by_length: bool = True  # batches of similar lengths: less padding, and GP's cost is quadratic in it

    def __post_init__(self) -> None:
        """Raises ValueError (naming the flag): a piece under 1 character (probe AE: ``--max-length 0`` stopped in
        ``range()`` with a run folder made), a negative span width, head size or limit, fewer than 1 BiLSTM layer
        or word2vec epoch, a ``--metric-for-best-model`` dev does not score (probe AP: found after an epoch of
        training, and a study folder then kept it); and :class:`common.training.trainer.TrainConfig`'s ranges."""
        super().__post_init__()
        if self.metric_for_best_model not in ("",) + NER_METRICS:
            raise ValueError(f"--metric-for-best-model {self.metric_for_best_model!r}: expected one of "
                             f"{list(NER_METRICS)} (the dev set's entity-level micro scores)")
        check_ranges(self, (("max_length", self.max_length >= 1, ">= 1 (characters per piece)"),
                            ("max_span_width", self.max_span_width >= 0, ">= 0 (0: any width)"),
                            ("head_size", self.head_size >= 0, ">= 0 (0: the head's default)"),
                            ("lstm_layers", self.lstm_layers >= 1, ">= 1"),
                            ("w2v_epochs", self.w2v_epochs >= 1, ">= 1"),
                            ("limit", self.limit >= 0, ">= 0 (0: every example)")))

    def resolve_defaults(self, explicit: set[str]) -> None:
        """``--model`` names the encoder's weights: it implies ``--encoder-type bert`` (the BiLSTM default would
        train from scratch and ignore them), then the shared rule's learning rate for outside weights.

        Raises:
            ValueError: ``--model`` with an explicit ``--encoder-type bilstm``.
        """
        if self.model and self.encoder_type != "bert":
            if "encoder_type" in explicit:
                raise ValueError(f"--model {self.model} with --encoder-type {self.encoder_type}: the BiLSTM has no "
                                 "pretrained weights to load; drop one of them")
            self.encoder_type = "bert"
        super().resolve_defaults(explicit)
