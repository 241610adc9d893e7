"""What the shared Trainer costs beyond the model: samples/s against a bare loop and HF Trainer, and MFU.

    python -m bench.trainer_overhead [--rounds 5] [--steps 12] [--size default|base] [--threads 0]

The default Sohu model (``competitions/sohu/config.py``: the shared pair classifier
conditioned on the 6 subtask ids, a 2-layer hidden-256 BERT on the 21128-token vocab,
random-init since no pretrained weights exist here; ``--size base`` swaps in a
12-layer hidden-768 BERT) trains on the first Sohu training pairs (``data/sohu2021``),
batch ``--batch-size``, three ways:

- ``bare``: a plain PyTorch loop (DataLoader, forward, backward, clipping, AdamW step,
  linear schedule), the floor;
- ``trainer``: the shared :class:`common.training.trainer.Trainer` with its defaults
  (accelerate, scheduler, clipping, tqdm, tracking as ``--report-to auto`` decides);
- ``hf``: ``transformers.Trainer`` on the same model, data and collate function.

Every batch is padded to ``max_length`` so the three do identical work whatever order
their samplers draw. The loops run *interleaved*: each round runs all three (their
order rotating), ``--steps`` optimizer steps each from a freshly built model with the
same seed; a loop's samples/s is timed from the end of its first step (warm-up) to the
end of its last. Reported: per loop the median samples/s over rounds, and the median of
the per-round ratios against ``bare`` (paired, so machine load drifting between rounds
cancels).

MFU (model FLOPs utilisation, as in PaLM, Chowdhery et al. 2022, appendix B): a
training step's FLOPs are 3x the forward's, and the forward's per sequence of T tokens
``2 * P_matmul * T + 4 * L * T^2 * H`` (P_matmul: the weights of every ``nn.Linear``;
the attention scores and their weighted sum), divided by the *measured* ceiling: the
best fp32 ``torch.mm`` rate of this CPU over square sizes 512-2048 and the model's own
feed-forward shape. Prints a table and writes ``bench/results/trainer_overhead.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from common.io import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "trainer_overhead.json"
LOOPS = ("bare", "trainer", "hf")


def sohu_setup(size: str, limit: int, data_dir: str):
    """The Sohu task, its default config (random-init encoder of ``size``), training examples and a builder.

    Returns:
        ``(config, examples, build, collate)``: ``build(seed)`` gives a fresh
        ``common.task.Model``; ``collate(items)`` pads every batch to ``max_length``.
    """
    from competitions.sohu.config import SohuConfig
    from competitions.sohu.task import TASK

    config = SohuConfig(model="", data_dir=data_dir, limit=limit, blend_with="")
    if size == "base":
        config.hidden_size, config.num_layers, config.num_heads, config.intermediate_size = 768, 12, 12, 3072
    data = TASK.load_data(config)
    scratch = Path(tempfile.mkdtemp(prefix="bench-overhead-"))

    def build(seed: int):
        torch.manual_seed(seed)
        return TASK.build(config, scratch, data.train, data)

    model = build(0)
    base_collate = TASK.collate_fn(config, model, training=True)

    def collate(items: list) -> dict[str, torch.Tensor]:
        batch = base_collate(items)
        out = {}
        for key, value in batch.items():
            if value.ndim == 2 and value.shape[1] < config.max_length:  # (B, T) -> (B, max_length)
                value = nn.functional.pad(value, (0, config.max_length - value.shape[1]))
            out[key] = value
        out["attention_mask"] = torch.ones_like(out["attention_mask"])  # the padding counts as work
        return out

    return config, data.train, build, collate, TASK


def time_bare(module: nn.Module, dataset, collate: Callable, config, steps: int) -> float:
    """Samples/s of a plain loop over steps 2..``steps``."""
    from transformers import get_scheduler

    from common.training.trainer import parameter_groups

    module.train()
    optimizer = torch.optim.AdamW(parameter_groups(module, config.learning_rate, config.weight_decay),
                                  lr=config.learning_rate)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=int(0.1 * steps), num_training_steps=steps)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(config.seed))
    start = None
    for step, batch in enumerate(loader, 1):
        loss = module(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        if step == 1:
            start = time.perf_counter()
        if step == steps:
            break
    return (steps - 1) * config.batch_size / (time.perf_counter() - start)


def time_trainer(module: nn.Module, dataset, collate: Callable, config, steps: int) -> float:
    """Samples/s of the shared Trainer (defaults; one epoch of ``steps`` batches) over steps 2..``steps``."""
    import dataclasses

    from common.training.callbacks import Callback
    from common.training.trainer import TrainConfig, Trainer

    marks: list[float] = []

    class Timer(Callback):
        def on_step_end(self, _trainer):
            marks.append(time.perf_counter())

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    with tempfile.TemporaryDirectory() as run:
        train_config = TrainConfig(**{k: v for k, v in dataclasses.asdict(config).items() if k in fields})
        train_config.epochs, train_config.log_every_steps = 1, 0
        subset = torch.utils.data.Subset(dataset, range(steps * config.batch_size))
        trainer = Trainer(module, train_config, run, subset, None, collate_fn=collate, callbacks=[Timer()])
        trainer.train()
    return (len(marks) - 1) * config.batch_size / (marks[-1] - marks[0])


def time_hf(module: nn.Module, dataset, collate: Callable, config, steps: int) -> float:
    """Samples/s of ``transformers.Trainer`` (no logging, no saving) over steps 2..``steps``."""
    from transformers import Trainer as HFTrainer
    from transformers import TrainerCallback, TrainingArguments

    marks: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=config.batch_size, max_steps=steps,
                                 learning_rate=config.learning_rate, weight_decay=config.weight_decay,
                                 warmup_steps=int(0.1 * steps), max_grad_norm=config.max_grad_norm,
                                 lr_scheduler_type="linear", save_strategy="no", report_to=[],
                                 logging_strategy="no", use_cpu=True, dataloader_num_workers=0,
                                 remove_unused_columns=False, seed=config.seed, disable_tqdm=False)
        HFTrainer(model=module, args=args, train_dataset=dataset, data_collator=collate,
                  callbacks=[Timer()]).train()
    return (len(marks) - 1) * config.batch_size / (marks[-1] - marks[0])


def train_flops_per_sequence(module: nn.Module, length: int, layers: int, hidden: int) -> float:
    """FLOPs of one training step per sequence of ``length`` tokens (3x forward; PaLM appendix B)."""
    matmul_params = sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))
    forward = 2 * matmul_params * length + 4 * layers * length ** 2 * hidden
    return 3.0 * forward


def matmul_ceiling(shapes: list[tuple[int, int, int]], repeats: int = 5) -> dict[str, float]:
    """Best measured fp32 ``torch.mm`` FLOP/s of each (m, k, n) shape: ``2*m*k*n`` / median time."""
    rates = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - t0)
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n / statistics.median(times)
    return rates


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per loop per round (first is warm-up)")
    parser.add_argument("--size", choices=("default", "base"), default="default")
    parser.add_argument("--batch-size", type=int, default=0, help="0: the Sohu default (32)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--data-dir", default="data/sohu2021")
    parser.add_argument("--loops", default=",".join(LOOPS), help="comma list of " + ",".join(LOOPS))
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loops = [name for name in args.loops.split(",") if name]
    if "bare" not in loops:
        parser.error("--loops must include bare (the ratios are against it)")
    load_start = os.getloadavg()
    config, examples, build, collate, task = sohu_setup(args.size, 0, args.data_dir)
    if args.batch_size:
        config.batch_size = args.batch_size
    need = args.steps * config.batch_size
    if len(examples) < need:
        raise SystemExit(f"error: {args.data_dir}: {len(examples)} training pairs, {need} needed")
    model0 = build(0)
    dataset = task.dataset(config, model0, examples[:need], training=True)
    runners = {"bare": time_bare, "trainer": time_trainer, "hf": time_hf}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(args.rounds):
        order = loops[r % len(loops):] + loops[:r % len(loops)]
        for name in order:
            rate = runners[name](build(0).module, dataset, collate, config, args.steps)
            rates[name].append(rate)
            print(f"round {r + 1}/{args.rounds} {name:<8} {rate:8.1f} samples/s", flush=True)
    median = {name: statistics.median(v) for name, v in rates.items()}
    ratio = {name: statistics.median([a / b for a, b in zip(rates[name], rates["bare"])]) for name in loops}

    module = model0.module
    flops = train_flops_per_sequence(module, config.max_length, config.num_layers, config.hidden_size)
    tokens = config.batch_size * config.max_length
    ceiling = matmul_ceiling([(512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048),
                              (tokens, config.hidden_size, config.intermediate_size)])
    peak = max(ceiling.values())
    mfu = {name: median[name] * flops / peak for name in loops}
    record = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads", "torch": torch.__version__,
        "model": f"Sohu pair classifier, {config.num_layers}-layer hidden-{config.hidden_size} BERT "
                 f"(random init), {sum(p.numel() for p in module.parameters()) / 1e6:.1f} M parameters",
        "batch_size": config.batch_size, "length": config.max_length, "steps_per_round": args.steps,
        "rounds": args.rounds, "samples_per_s": rates, "median_samples_per_s": median,
        "median_ratio_to_bare": ratio, "train_gflop_per_sample": flops / 1e9,
        "matmul_ceiling_gflops": {k: v / 1e9 for k, v in ceiling.items()}, "mfu": mfu,
        "loadavg_start": load_start, "loadavg_end": os.getloadavg()}
    print(f"\n{'loop':<10}{'samples/s':>12}{'vs bare':>10}{'MFU':>8}")
    for name in loops:
        print(f"{name:<10}{median[name]:>12.1f}{ratio[name]:>10.3f}{mfu[name]:>8.1%}")
    print(f"training step: {flops / 1e9:.3f} GFLOP/sample; matmul ceiling {peak / 1e9:.1f} GFLOP/s "
          f"(best of {', '.join(ceiling)}); load average {load_start[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    write_json_atomic(args.output, record)
    return record


if __name__ == "__main__":
    main()
