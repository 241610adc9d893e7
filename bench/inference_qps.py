"""Queries per second of eager PyTorch against ONNX Runtime for the default Sohu (and Xiaobu) model, on this CPU.

    python -m bench.inference_qps [--rounds 7] [--threads 0] [--tasks sohu,xiaobu] [--rows 64]

Each task's default model (``competitions/<task>/config.py`` unchanged: Sohu is the
shared pair classifier conditioned on the 6 subtask ids over a 2-layer BERT, hidden 256,
4 heads, FFN 1024, the 21128-token Chinese vocab, pairs cut at 96 tokens; Xiaobu is
``BertForSequenceClassification`` with the exact-match bit over a 2-layer BERT, hidden
128, 2 heads, FFN 512, pairs cut at 64) is built by the task's own ``build`` with random
weights (no pretrained weights exist here; the cost does not depend on them), saved as a
run folder in a temporary directory and exported by ``common.export`` (whose parity check
on these default-size models is reported too).

Queries: real validation pairs (``--rows`` rows spread over the set), collated as
``predict`` collates them: at batch 1 each pair alone (its own length, no padding), at batch 32
consecutive pairs padded to the longest of the batch (a query stream's batches; ``predict``
itself batches a whole set shortest first, which pads less: ``bench.sorted_inference``). Contenders, all at ``n`` threads for
each ``n`` of ``--threads`` (default 1 and torch's default, the core count;
``torch.set_num_threads(n)``; ONNX Runtime ``intra_op_num_threads = n``, sequential
execution, pool threads not spinning between runs so they leave the cores to the next
contender):

- ``eager``: the model's forward under ``torch.inference_mode()``;
- ``ort``: the exported file, graph optimisations at ORT_ENABLE_ALL (ONNX Runtime's default);
- ``ort-fused``: the file after ``onnxruntime.transformers.optimizer`` (model type
  ``bert``: attention, LayerNorm, GELU fusions; the fused operator counts are saved);
- ``ort-iobind``: ``ort`` through IO binding (inputs bound once, outputs preallocated by ORT).

One interleaved run: after a warm-up pass of each contender (not timed), every round
times one pass of each over the same queries, in an order that rotates between rounds,
and the reported QPS is the median over rounds (queries / seconds of the pass). The load
average at the start and end is saved with the results: rerun on a quiet machine before
reading the ratios (on a machine with more runnable threads than cores, torch at n > 1
loses most of its speed waiting for its own threads at every operator, which ORT's pool
does not, so the n > 1 ratios mean little there). Prints a table and writes
``bench/results/inference_qps.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from common.io import torch_save_atomic, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "inference_qps.json"
# Sohu: 100 of each present subtask's rows -> 200 validation pairs; Xiaobu: 2000 train lines -> 300 held out.
LIMITS = {"sohu": 100, "xiaobu": 2000}
BATCH_SIZES = (1, 32)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def default_run(task_name: str, run_dir: Path) -> tuple[Any, Any, list]:
    """The task's default model, random init (seed 0), saved as a run folder; returns (config, Model, valid rows).

    Only ``limit`` differs from the defaults (fewer rows read); the model does not depend on it
    beyond Xiaobu's id vocabulary size (an embedding table: no compute).
    """
    from common.run import save_config
    from common.task import get_task

    task = get_task(task_name)
    config = task.config_class(limit=LIMITS[task_name], run_dir=str(run_dir), run_name=run_dir.name)
    data = task.load_data(config)
    torch.manual_seed(config.seed)
    model = task.build(config, run_dir, data.train, data)
    save_config(config, run_dir)
    model.save(run_dir)
    torch_save_atomic({"state_dict": model.module.state_dict()}, run_dir / "model.pt")
    return config, model, data.valid


def query_sets(task_name: str, config: Any, model: Any, valid: list, rows: int) -> dict[int, list[dict]]:
    """Per batch size, the batches of ``rows`` spread validation pairs (batch 32: at least 4 batches)."""
    from common.export import LABEL_KEYS, spread
    from common.task import get_task

    task = get_task(task_name)
    collate = task.collate_fn(config, model, training=False)
    out = {}
    for size in BATCH_SIZES:
        n = max(rows, 4 * size) if size > 1 else rows
        dataset = task.dataset(config, model, spread(valid, n), training=False)
        items = [dataset[i] for i in range(len(dataset))]
        out[size] = [{k: v for k, v in collate(items[i:i + size]).items() if k not in LABEL_KEYS}
                     for i in range(0, len(items), size)]
    return out


def contenders(module: torch.nn.Module, onnx_path: Path, fused_path: Path, threads: int
               ) -> dict[str, Callable[[list[dict]], Callable[[], None]]]:
    """name -> (batches -> a pass over them); preparing the inputs (numpy, bindings) is not timed."""
    import onnxruntime as ort

    def session(path: Path):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # no busy-waiting pool threads left running into the next contender's pass
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    plain = session(onnx_path)
    names = [i.name for i in plain.get_inputs()]

    def eager(batches):
        def run():
            with torch.inference_mode():
                for batch in batches:
                    _ = module(**batch).logits
        return run

    def ort_run(sess):
        def prepare(batches):
            feeds = [{n: b[n].numpy() for n in names} for b in batches]

            def run():
                for feed in feeds:
                    sess.run(["logits"], feed)
            return run
        return prepare

    def iobind(batches):
        bindings = []
        for b in batches:
            binding = plain.io_binding()
            for n in names:
                binding.bind_cpu_input(n, np.ascontiguousarray(b[n].numpy()))
            binding.bind_output("logits")
            bindings.append(binding)

        def run():
            for binding in bindings:
                plain.run_with_iobinding(binding)
        return run

    makers = {"eager": eager, "ort": ort_run(plain), "ort-iobind": iobind}
    if fused_path.is_file():
        makers["ort-fused"] = ort_run(session(fused_path))
    return makers


def fuse(onnx_path: Path, out: Path, num_heads: int, hidden: int) -> dict[str, Any]:
    """``onnxruntime.transformers.optimizer`` BERT fusions of ``onnx_path`` into ``out``.

    Returns the fused operator counts, or ``{"error": ...}`` when the optimizer fails on
    the graph (then ``out`` is not written and the contender is left out).
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    notes = {}
    for skip_layer_norm in (True, False):  # its SkipLayerNorm matcher fails on a LayerNorm without bias input
        options = FusionOptions("bert")
        options.enable_skip_layer_norm = skip_layer_norm
        try:  # opt_level 0: fusions only; the session applies its own graph optimisations
            optimized = optimize_model(str(onnx_path), model_type="bert", num_heads=num_heads, hidden_size=hidden,
                                       opt_level=0, optimization_options=options)
        except Exception as err:  # noqa: BLE001 - its pattern matchers assume TorchScript-style graphs
            notes[f"error_with_skip_layer_norm_{skip_layer_norm}".lower()] = f"{type(err).__name__}: {err}"[:300]
            continue
        optimized.save_model_to_file(str(out))
        return {**notes, **{k: v for k, v in optimized.get_fused_operator_statistics().items() if v}}
    return notes


def interleaved(passes: dict[str, Callable[[], None]], queries: int, rounds: int) -> dict[str, dict]:
    """Median QPS per contender over ``rounds`` rounds, the order rotating each round; one warm-up pass each."""
    names = list(passes)
    for name in names:
        passes[name]()  # warm-up: first-call allocations, ORT's lazy initialisation
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            passes[name]()
            seconds[name].append(time.perf_counter() - start)
    return {name: {"qps": round(queries / statistics.median(s), 1),
                   "qps_per_round": [round(queries / x, 1) for x in s]} for name, s in seconds.items()}


def bench_task(task_name: str, rows: int, rounds: int, threads: list[int], work: Path) -> dict:
    """Build, export (with its parity check) and time one task's default model at each thread count."""
    from common.export import export_run

    run_dir = work / task_name / "default-random"
    run_dir.mkdir(parents=True)
    config, model, valid = default_run(task_name, run_dir)
    exported = export_run(run_dir, work / "exports" / task_name, task=task_name, rows=64)
    onnx_path = work / "exports" / task_name / "model.onnx"
    module = model.module.eval()
    bert_config = next(m.config for m in module.modules() if hasattr(getattr(m, "config", None), "num_attention_heads"))
    fused_ops = fuse(onnx_path, work / f"{task_name}-fused.onnx", bert_config.num_attention_heads,
                     bert_config.hidden_size)
    sets = query_sets(task_name, config, model, valid, rows)
    result: dict[str, Any] = {
        "model": f"{type(module).__name__}, {bert_config.num_hidden_layers} layers, hidden {bert_config.hidden_size}, "
                 f"{bert_config.num_attention_heads} heads, FFN {bert_config.intermediate_size}, "
                 f"vocab {bert_config.vocab_size}, max_length {config.max_length}, random init",
        "parameters": sum(p.numel() for p in module.parameters()),
        "exporter": exported["exporter"], "opset": exported["opset"],
        "parity_max_abs_diff": exported["parity"]["max_abs_diff"], "fused_ops": fused_ops,
        "queries": {str(size): {"per_round": sum(len(b["input_ids"]) for b in batches),
                                "mean_padded_length": round(float(np.mean([b["input_ids"].shape[1] for b in batches])), 1)}
                    for size, batches in sets.items()},
        "threads": {}}
    for n in threads:
        torch.set_num_threads(n)
        makers = contenders(module, onnx_path, work / f"{task_name}-fused.onnx", n)
        result["threads"][str(n)] = {}
        for size, batches in sets.items():
            timings = interleaved({name: make(batches) for name, make in makers.items()},
                                  result["queries"][str(size)]["per_round"], rounds)
            for t in timings.values():
                t["speedup_vs_eager"] = round(t["qps"] / timings["eager"]["qps"], 2)
            result["threads"][str(n)][str(size)] = timings
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (the median is reported)")
    parser.add_argument("--threads", default="", help="comma-separated thread counts, each used by both "
                                                       "(default: 1 and torch's default)")
    parser.add_argument("--tasks", default="sohu,xiaobu", help="comma-separated: sohu, xiaobu")
    parser.add_argument("--rows", type=int, default=64, help="queries per pass at batch 1 (batch 32: at least 128)")
    args = parser.parse_args(argv)
    threads = [int(n) for n in args.threads.split(",") if n] or sorted({1, torch.get_num_threads()})
    import onnxruntime

    record: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"cpu": cpu_name(), "cpu_count": os.cpu_count(), "threads": threads,
                    "load_average_start": [round(x, 2) for x in os.getloadavg()]},
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "rounds": args.rounds,
        "command": "python -m bench.inference_qps " + " ".join(argv if argv is not None else sys.argv[1:]),
        "tasks": {}}
    start = time.time()
    with tempfile.TemporaryDirectory() as work:
        for task_name in [t for t in args.tasks.split(",") if t]:
            if task_name not in LIMITS:
                raise SystemExit(f"--tasks: {task_name!r} is not one of {sorted(LIMITS)}")
            record["tasks"][task_name] = bench_task(task_name, args.rows, args.rounds, threads, Path(work))
    record["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    record["seconds"] = round(time.time() - start, 1)
    print(f"load average {record['machine']['load_average_start']} -> {record['machine']['load_average_end']}, "
          f"{args.rounds} rounds, {record['seconds']} s")
    print(f"{'task':<8}{'threads':>8}{'batch':>6}  {'contender':<12}{'QPS':>10}{'x eager':>9}")
    for task_name, result in record["tasks"].items():
        for n, per_size in result["threads"].items():
            for size, timings in per_size.items():
                for name, t in timings.items():
                    print(f"{task_name:<8}{n:>8}{size:>6}  {name:<12}{t['qps']:>10.1f}{t['speedup_vs_eager']:>9.2f}")
    write_json_atomic(RESULTS, record)
    return record


if __name__ == "__main__":
    main()
