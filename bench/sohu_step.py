"""What one Sohu training step costs with a BERT-base encoder, beyond the model itself.

    python -m bench.sohu_step [--steps 8] [--batch-size 16] [--length 64] [--threads 0]

A random-init bert-base (12 layers, hidden 768, the 21128-token vocab) wrapped as
the Sohu matcher (Conditional LayerNorms, match embedding) trains on random pairs of
``--length`` tokens, batch ``--batch-size``, two ways, one after the other (so a
loaded machine can favour either: rerun on a quiet one before reading the ratio):

- ``trainer``: the shared ``common.training.trainer.Trainer`` (accelerate, clipping,
  scheduler, logging), one epoch of ``--steps`` steps;
- ``bare``: a plain PyTorch loop (forward, backward, AdamW step) on the same model
  class and batches.

Reported: median seconds per step of each (the trainer's from its logged samples/s),
their ratio, and the process's peak resident memory (``ru_maxrss``) after each part.
On a GPU the same script shows the cost beyond the model there: both loops run on the
device accelerate picks (CUDA when there is one), at ``--mixed-precision`` (the bare loop
under ``torch.autocast`` of that dtype), each step timed after a device synchronize.
Prints a table and writes ``--out`` (default ``bench/results/sohu_step.json``).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertModel

from common.io import write_json_atomic
from common.training.callbacks import Callback
from common.training.trainer import TrainConfig, Trainer
from common.pair_classifier import PairClassifier

RESULTS = Path(__file__).resolve().parent / "results" / "sohu_step.json"


def peak_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_model(seed: int = 0) -> PairClassifier:
    """Sohu's model: the shared pair classifier conditioned on the 6 subtask ids."""
    torch.manual_seed(seed)
    return PairClassifier(BertModel(BertConfig(vocab_size=21128), add_pooling_layer=False), num_conditions=6)


def make_batches(n: int, batch: int, length: int) -> list[dict]:
    """``n * batch`` random Sohu items (seeded), each with (length,) token, match and mask tensors and 0-d labels."""
    g = torch.Generator().manual_seed(1)
    items = []
    for _ in range(n * batch):
        items.append({"input_ids": torch.randint(106, 21128, (length,), generator=g),
                      "token_type_ids": torch.zeros(length, dtype=torch.long),
                      "match_ids": torch.randint(0, 2, (length,), generator=g),
                      "attention_mask": torch.ones(length, dtype=torch.long),
                      "condition_ids": torch.randint(0, 6, (), generator=g),
                      "labels": torch.randint(0, 2, (), generator=g)})
    return items


def collate(items: list[dict]) -> dict:
    """Stacks equal-length items into (B, ...) tensors."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def synchronize() -> None:
    """Wait for the GPU's queued work (a no-op on the CPU), so a step's time is its whole time."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bare_steps(items: list[dict], batch: int, precision: str = "no") -> list[float]:
    """Seconds per optimizer step of a plain PyTorch loop (forward, backward, AdamW) over ``items``, on the
    device the trainer would use, under ``torch.autocast`` for ``precision`` bf16 / fp16 (fp16 with a grad scaler)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = make_model().to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    times = []
    for i in range(0, len(items), batch):
        synchronize()
        t0 = time.perf_counter()
        inputs = {k: v.to(device) for k, v in collate(items[i:i + batch]).items()}
        with torch.autocast(device.type, dtype=DTYPES.get(precision, torch.float32), enabled=precision in DTYPES):
            loss = model(**inputs).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
        synchronize()
        times.append(time.perf_counter() - t0)
    return times


def trainer_steps(items: list[dict], batch: int, precision: str = "no") -> list[float]:
    """Seconds per optimizer step of the shared Trainer over the same items (its overhead against ``bare_steps``)."""
    with tempfile.TemporaryDirectory() as run:
        config = TrainConfig(epochs=1, batch_size=batch, learning_rate=2e-5, log_every_steps=0,
                             mixed_precision=precision)
        trainer = Trainer(make_model(), config, run, items, None, collate_fn=collate)
        times, last = [], [time.perf_counter()]

        class Timer(Callback):  # records the wall time of each optimizer step
            def on_step_end(self, _trainer):
                synchronize()
                now = time.perf_counter()
                times.append(now - last[0])
                last[0] = now

        trainer.callbacks.append(Timer())
        last[0] = time.perf_counter()
        trainer.train()
        return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--mixed-precision", default="no", choices=("no", "bf16", "fp16"))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    items = make_batches(args.steps, args.batch_size, args.length)
    start_mib = peak_mib()
    bare = bare_steps(items, args.batch_size, args.mixed_precision)
    bare_mib = peak_mib()
    ours = trainer_steps(items, args.batch_size, args.mixed_precision)
    ours_mib = peak_mib()
    # the first step of each warms up allocators and kernels: medians of the rest
    b, t = statistics.median(bare[1:] or bare), statistics.median(ours[1:] or ours)
    record = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
              "mixed_precision": args.mixed_precision,
              "torch": torch.__version__, "batch_size": args.batch_size, "length": args.length, "steps": args.steps,
              "bare_s_per_step": round(b, 3), "trainer_s_per_step": round(t, 3), "ratio": round(t / b, 3),
              "peak_rss_mib_before": round(start_mib), "peak_rss_mib_after_bare": round(bare_mib),
              "peak_rss_mib_after_trainer": round(ours_mib)}
    print(f"{'loop':<10}{'s/step (median)':>18}{'peak RSS MiB':>15}")
    print(f"{'bare':<10}{b:>18.3f}{bare_mib:>15.0f}")
    print(f"{'trainer':<10}{t:>18.3f}{ours_mib:>15.0f}")
    print(f"trainer / bare = {t / b:.3f}")
    write_json_atomic(Path(args.out), record)
    return record


if __name__ == "__main__":
    main()
