"""A single-sentence 0/1 contest as a plain :class:`common.task.Task`: the worked example of docs/adding-a-task.md.

    python -m common.commands.train --task examples.sentence_task --data-dir DIR --run-name first
    python -m common.commands.cv --task examples.sentence_task --data-dir DIR --folds 5

Files (``--data-dir``): ``train.tsv`` and ``dev.tsv`` hold ``text<TAB>0|1``, ``test.tsv`` holds
``text`` (a label column, if any, is ignored); a line's id is ``<split>-<line number>``. The
submission is ``id,label`` CSV, each label decided at the threshold tuned for accuracy on the
validation rows (on the OOF rows for a k-fold run). The model is any encoder of
:mod:`common.encoder` (``--model NAME_OR_PATH``, or a small BERT from config on the shipped vocab)
with a linear head on the [CLS] state.

What a plain ``Task`` writes, and ``PairTask`` would have written for a text pair: ``build`` and
``load`` (model, tokenizer, what the run folder keeps), ``dataset``, ``collate_fn`` and
``predict_step``. Copy this file into your own package, change ``read_split``, the metric and the
submission, and give its module path to ``--task``. The config leaves out ``LogitAdjustmentConfig``:
the commands need only ``TrainConfig`` (and what the task's own methods read).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.modeling_outputs import SequenceClassifierOutput

from common.data_files import DataFileError, iter_record_lines
from common.encoder import EncoderConfig, build_encoder, check_max_length, load_tokenizer
from common.io import atomic_path
from common.task import Model, Splits, Task, resolve, training_search_space
from common.thresholds import accuracy_threshold, binary_scores
from common.training.trainer import TrainConfig


@dataclass
class SentenceConfig(TrainConfig, EncoderConfig):
    data_dir: str = "data/sentence"
    submission_dir: str = "submissions/sentence"
    train_file: str = "train.tsv"
    dev_file: str = "dev.tsv"
    test_file: str = "test.tsv"
    max_length: int = 64  # tokens of [CLS] text [SEP]
    limit: int = 0  # > 0: the first N training and validation lines (the test file stays whole)
    learning_rate: float = 5e-4


@dataclass
class Sentence:
    id: str
    text: str
    label: int | None  # None: unlabelled (test)


def read_split(path: Path, split: str, labelled: bool, limit: int = 0) -> list[Sentence]:
    """``text<TAB>0|1`` lines (``labelled``) or ``text[<TAB>anything]`` lines.

    Raises:
        DataFileError: naming ``path:line`` and what was expected.
    """
    out = []
    for line_no, line in iter_record_lines(path):
        text, _, label = line.partition("\t")
        if not text.strip():
            raise DataFileError(f"{path}:{line_no}: empty text, expected text<TAB>0|1")
        if labelled and label not in ("0", "1"):
            raise DataFileError(f"{path}:{line_no}: label {label!r}, expected text<TAB>0|1")
        out.append(Sentence(f"{split}-{line_no}", text, int(label) if labelled else None))
        if limit and len(out) == limit:
            break
    return out


class SentenceClassifier(nn.Module):
    """An encoder and a linear head on its [CLS] state; returns HF outputs (``loss``, ``logits``)."""

    def __init__(self, encoder: nn.Module, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        """input_ids, attention_mask: (B, T); labels: (B,) 0/1. Returns logits (B, 2) and the mean cross-entropy."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        logits = self.classifier(self.dropout(hidden[:, 0]))  # (B, 2)
        loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class SentenceDataset(Dataset):
    """Tokenised sentences (``[CLS] text [SEP]``, cut to ``max_length``) with their labels, if any."""

    def __init__(self, examples: list[Sentence], tokenizer: Any, max_length: int) -> None:
        encoded = tokenizer([e.text for e in examples], truncation=True, max_length=max_length)["input_ids"]
        self.items = [{"input_ids": ids, "label": e.label} for ids, e in zip(encoded, examples)]
        self.lengths = [len(ids) for ids in encoded]  # for --group-by-length

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def collate(items: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Items -> ``input_ids``, ``attention_mask`` (B, T_max), right-padded; ``labels`` (B,) when labelled."""
    T = max(len(it["input_ids"]) for it in items)
    input_ids = torch.full((len(items), T), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(items), T), dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it["input_ids"])
        input_ids[row, :n] = torch.tensor(it["input_ids"])
        attention_mask[row, :n] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if items[0]["label"] is not None:
        batch["labels"] = torch.tensor([it["label"] for it in items])
    return batch


class SentenceTask(Task):
    name = "sentence"  # runs go to runs/sentence/
    config_class = SentenceConfig
    metric_name = "accuracy"
    search_space = training_search_space(learning_rate=(1e-4, 1e-3), epochs=(2, 5), logit_adjustment=False)

    # ------------------------------------------------------------ data
    def load_data(self, config: SentenceConfig) -> Splits:
        train = read_split(resolve(config.data_dir, config.train_file), "train", True, config.limit)
        dev = read_split(resolve(config.data_dir, config.dev_file), "dev", True, config.limit)
        return Splits(train, dev, self.load_test(config, str(self.test_path(config))))

    def load_test(self, config: SentenceConfig, path: str) -> list[Sentence]:
        return read_split(Path(path), "test", labelled=False)

    def test_path(self, config: SentenceConfig) -> Path:
        return resolve(config.data_dir, config.test_file)

    # ------------------------------------------------------------ model
    def build(self, config: SentenceConfig, run_dir: Path, train: list, data: Splits) -> Model:
        texts = [e.text for e in train]
        tokenizer = load_tokenizer(config, texts=texts, build_dir=run_dir / "tokenizer")
        encoder = build_encoder(config, tokenizer)
        check_max_length(encoder.config, config.max_length)

        def save(folder: Path) -> None:  # what load() reads back; the trainer adds model.pt
            tokenizer.save_pretrained(folder / "tokenizer")
            encoder.config.save_pretrained(folder / "encoder")

        return Model(SentenceClassifier(encoder, config.dropout), tokenizer,
                     "pretrained" if config.model else "scratch", save)

    def load(self, config: SentenceConfig, run_dir: Path) -> Model:
        tokenizer = AutoTokenizer.from_pretrained(Path(run_dir) / "tokenizer")
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(Path(run_dir) / "encoder"))
        return Model(SentenceClassifier(encoder, config.dropout), tokenizer)

    def dataset(self, config: SentenceConfig, model: Model, examples: list, training: bool,
                unlabelled: Any = ()) -> Dataset:
        return SentenceDataset(examples, model.processor, config.max_length)

    def collate_fn(self, config: SentenceConfig, model: Model, training: bool) -> Callable[[list], dict]:
        pad_id = model.processor.pad_token_id
        return lambda items: collate(items, pad_id)

    def predict_step(self, config: SentenceConfig, model: Model, log_prior: Any = None,
                     posthoc_tau: float = 0.0) -> Callable:
        def step(module: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
            logits = module(batch["input_ids"], batch["attention_mask"]).logits.float()  # (B, 2)
            return {"prob": torch.softmax(logits, dim=-1)[:, 1]}  # (B,)
        return step

    # ------------------------------------------------------------ metric, submission
    def score(self, examples: list, probs: np.ndarray, state: dict | None = None) -> tuple[dict[str, float], dict]:
        labels = self.labels(examples)
        threshold = state["threshold"] if state else accuracy_threshold(labels, probs)[0]
        return binary_scores(labels, np.asarray(probs), threshold), {"threshold": threshold}

    def write_submission(self, config: SentenceConfig, test: list, probs: np.ndarray, state: dict, name: str,
                         test_file: str | None = None) -> dict:
        if len(probs) != len(test):
            raise ValueError(f"{len(probs)} probabilities for {len(test)} test sentences")
        path = Path(config.submission_dir) / f"{name}.csv"
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "label"])
            writer.writerows([e.id, int(p >= state.get("threshold", 0.5))] for e, p in zip(test, probs))
        return {"submission": str(path), "rows": len(test)}


TASK = SentenceTask()
