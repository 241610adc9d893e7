"""Score a mined term list against the gold entity base (``make power-eval``).

Reads ``submissions/power_terms/<run>.tsv`` (or ``--submission``: a ``.tsv`` written
by ``mine`` or a ``.txt`` with one term per line), and the gold set (unique terms of
``bupt_electric_power/entities-base/*.txt``). Reports precision@k, precision,
recall and F1 of the full ranked list, and the same for the sub-list of the terms
each stage admitted (``stages`` column; order kept) and of the terms admitted by
that stage alone (``<stage>_only``). Prints a table, saves
``runs/power_terms/<run>/eval.json`` and ends with one JSON line.

Usage: ``python -m competitions.power_terms.evaluate --run default``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common.config import parse_config
from common.io import write_json_atomic
from common.mining.term_metrics import list_scores
from common.mining.text_files import read_utf8
from competitions.power_terms import data
from competitions.power_terms.config import PowerEvalConfig


def read_ranked(path: str | Path) -> list[tuple[str, list[str]]]:
    """``[(term, stages), ...]`` in rank order from a mine ``.tsv`` or a plain ``.txt``.

    ``stages`` comes from the ``stages`` column (``contrast+expansion``) when present,
    else from ``stage``; a ``.txt`` gives ``["all"]``.

    Raises:
        FileNotFoundError / ValueError: missing file, invalid UTF-8, or a ``.tsv`` row
            without the ``term``/``stage`` columns (names file and line).
    """
    path = Path(path)
    lines = read_utf8(path).splitlines()
    if path.suffix != ".tsv":
        return [(ln.strip(), ["all"]) for ln in lines if ln.strip()]
    if not lines:
        raise ValueError(f"{path}:1: empty TSV, expected a header")
    header = lines[0].split("\t")
    if "term" not in header or "stage" not in header:
        raise ValueError(f"{path}:1: header lacks 'term'/'stage' columns: {header}")
    ti = header.index("term")
    si = header.index("stages") if "stages" in header else header.index("stage")
    out = []
    for i, ln in enumerate(lines[1:], 2):
        if not ln.strip():
            continue
        cols = ln.split("\t")
        if len(cols) <= max(ti, si):
            raise ValueError(f"{path}:{i}: {len(cols)} columns, header has {len(header)}")
        out.append((cols[ti], cols[si].split("+")))
    return out


def evaluate(ranked: list[tuple[str, list[str]]], gold: set[str], ks: list[int]) -> dict[str, dict]:
    """``{"all": ..., "<stage>": ..., "<stage>_only": ...}`` (see ``term_metrics.list_scores``)."""
    out = {"all": list_scores([t for t, _ in ranked], gold, ks)}
    stages = list(dict.fromkeys(s for _, ss in ranked for s in ss))
    if stages == ["all"]:
        return out
    for stage in stages:
        out[stage] = list_scores([t for t, ss in ranked if stage in ss], gold, ks)
    for stage in stages:
        only = [t for t, ss in ranked if ss == [stage]]
        if only and len(only) < len(ranked):
            out[f"{stage}_only"] = list_scores(only, gold, ks)
    return out


def format_table(results: dict[str, dict], ks: list[int]) -> str:
    """Markdown table, one row per stage."""
    cols = ["n", "hits"] + [f"p@{k}" for k in ks] + ["precision", "recall", "f1"]
    lines = ["| stage | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for stage, r in results.items():
        cells = [str(int(r[c])) if c in ("n", "hits") else f"{r[c]:.3f}" for c in cols]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_config(PowerEvalConfig, argv, __doc__.splitlines()[0])
    try:
        sub = data.resolve(cfg.submission) if cfg.submission else \
            data.resolve(cfg.submissions_dir) / f"{cfg.run}.tsv"
        if not sub.is_file():
            raise FileNotFoundError(f"submission not found: {sub} (run `make power-mine RUN={cfg.run}` first)")
        gold = data.load_gold(data.data_root(cfg.data_dir) / "power_terms")
        results = evaluate(read_ranked(sub), gold, cfg.ks)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(format_table(results, cfg.ks))
    out = data.resolve(cfg.runs_dir) / cfg.run / "eval.json"
    write_json_atomic(out, {"submission": str(sub), "gold_terms": len(gold), "results": results})
    rel = out.relative_to(data.REPO_ROOT) if out.is_relative_to(data.REPO_ROOT) else out
    print(json.dumps({"run": cfg.run, "gold_terms": len(gold), **{f"all_{k}": v for k, v in results["all"].items()},
                      "paths": {"eval": str(rel)}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
