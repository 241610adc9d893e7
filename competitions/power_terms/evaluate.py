"""Score a mined term list against the gold entity base (``make power-eval``).

Reads ``submissions/power_terms/<run>.tsv`` (or ``--submission``: a ``.tsv`` written
by ``mine`` or a ``.txt`` with one term per line), and the gold set (unique terms of
``bupt_electric_power/entities-base/*.txt``). Reports precision@k, precision,
recall and F1 of the full ranked list, and the same for the sub-list of the terms
each stage admitted (``stages`` column; order kept) and of the terms admitted by
that stage alone (``<stage>_only``), first against the whole gold list, then against
each fixed-hash half (``term_metrics.split_gold``: every default was chosen on the
*tuning* half, so the *test* half is the honest number; ``term_metrics.half_scores``
explains est_p@k / filt_p@k / raw_p@k). ``--domain cmeee`` scores against the CMeEE
entity mentions (default: the domain in the run's config.json). Prints the tables, saves
``runs/power_terms/<run>/eval.json`` (a ``--submission`` list: ``<list>.eval.json`` beside it, so that scoring
another list never alters a run's folder; ``--output`` names the path) and ends with one JSON line.

Usage: ``python -m competitions.power_terms.evaluate --run default``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common.config import parse_config
from common.io import write_json_atomic
from common.mining.term_metrics import HALVES, half_scores, list_scores, split_gold
from common.mining.text_files import read_utf8
from competitions.power_terms import data
from competitions.power_terms.config import PowerEvalConfig, check_run_name


def read_ranked(path: str | Path) -> list[tuple[str, list[str]]]:
    """``[(term, stages), ...]`` in rank order from a mine ``.tsv`` or a plain ``.txt``.

    ``stages`` comes from the ``stages`` column (``contrast+expansion``) when present,
    else from ``stage``; a ``.txt`` gives ``["all"]``.

    Raises:
        FileNotFoundError / ValueError: missing file, invalid UTF-8, a ``.tsv`` row
            without the ``term``/``stage`` columns, or a ``.txt`` line holding a tab (``term<TAB>score``
            was scored as the term ``"term\tscore"``, a silent miss; names file and line).
    """
    path = Path(path)
    lines = read_utf8(path).splitlines()
    if path.suffix != ".tsv":
        for i, ln in enumerate(lines, 1):
            if "\t" in ln.strip():
                raise ValueError(f"{path}:{i}: a tab in {ln.strip()[:40]!r}; expected one term a line (a table: "
                                 "name it .tsv with 'term' and 'stage' columns)")
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


def evaluate_halves(ranked: list[tuple[str, list[str]]], gold: set[str],
                    ks: list[int]) -> dict[str, dict[str, dict]]:
    """``{"tuning"|"test": {"all"|"<stage>": half_scores}}`` (each half scored with the
    other held aside)."""
    halves = split_gold(gold)
    stages = ["all"] + [s for s in dict.fromkeys(s for _, ss in ranked for s in ss) if s != "all"]
    out: dict[str, dict[str, dict]] = {}
    for h in HALVES:
        other = halves[HALVES[1 - HALVES.index(h)]]
        out[h] = {st: half_scores([t for t, ss in ranked if st == "all" or st in ss], halves[h], other, ks)
                  for st in stages}
    return out


def format_half_table(results: dict[str, dict[str, dict]], ks: list[int]) -> str:
    """Markdown table: one row per (half, stage)."""
    cols = [f"est_p@{k}" for k in ks] + [f"filt_p@{k}" for k in ks if k == 500] + \
        [f"raw_p@{k}" for k in ks if k == 500] + ["recall"]
    lines = ["| half | stage | " + " | ".join(cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for h, by_stage in results.items():
        for stage, r in by_stage.items():
            lines.append(f"| {h} | {stage} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


def format_table(results: dict[str, dict], ks: list[int]) -> str:
    """Markdown table, one row per stage."""
    cols = ["n", "hits"] + [f"p@{k}" for k in ks] + ["precision", "recall", "f1"]
    lines = ["| stage | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for stage, r in results.items():
        cells = [str(int(r[c])) if c in ("n", "hits") else f"{r[c]:.3f}" for c in cols]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def is_own_list(cfg: PowerEvalConfig, sub: Path) -> bool:
    """Whether ``sub`` is the run's own list (``<submissions_dir>/<run>.tsv``, or no ``--submission`` given)."""
    return not cfg.submission or sub.resolve() == (data.resolve(cfg.submissions_dir) / f"{cfg.run}.tsv").resolve()


def eval_path(cfg: PowerEvalConfig, sub: Path) -> Path:
    """Where ``eval.json`` goes: ``--output``; else the run's folder when ``sub`` is the run's own list, else
    ``<sub without suffix>.eval.json`` beside the list scored (another list's scores never land in a run's folder,
    where ``mine``'s rerun check and ``make report`` read them as that run's)."""
    if cfg.output:
        return data.resolve(cfg.output)
    if is_own_list(cfg, sub):
        return data.resolve(cfg.runs_dir) / cfg.run / "eval.json"
    return sub.with_name(f"{sub.stem}.eval.json")


def main(argv: list[str] | None = None) -> None:
    cfg = parse_config(PowerEvalConfig, argv, __doc__.splitlines()[0])
    try:
        check_run_name(cfg.run)
        sub = data.resolve(cfg.submission) if cfg.submission else \
            data.resolve(cfg.submissions_dir) / f"{cfg.run}.tsv"
        if not sub.is_file():
            raise FileNotFoundError(f"submission not found: {sub} (run `make power-mine POWER_RUN={cfg.run}` first)")
        domain = cfg.domain
        run_cfg = data.resolve(cfg.runs_dir) / cfg.run / "config.json"
        if not domain and run_cfg.is_file() and not cfg.submission:
            saved = json.loads(run_cfg.read_text(encoding="utf-8"))
            if saved.get("corpus_file"):
                raise ValueError(f"run {cfg.run!r} mined {saved['corpus_file']}, which has no gold list; "
                                 f"pass --domain power|cmeee to score it against one anyway")
            domain = saved.get("domain", "power")
        domain = domain or "power"
        gold = data.domain_gold(domain, data.data_root(cfg.data_dir, need=""))
        if cfg.output and data.resolve(cfg.output).resolve() == sub.resolve():
            raise ValueError(f"--output {cfg.output} is the list scored: the scores would replace it")
        ranked = read_ranked(sub)
        if not ranked:
            print(f"warning: {sub} lists no term: every score is 0", file=sys.stderr)
        results = evaluate(ranked, gold, cfg.ks)
        halves = evaluate_halves(ranked, gold, cfg.ks)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    tuned = " (optimistic: the defaults were chosen on its tuning half)" if domain == "power" else ""
    print(f"domain {domain}: {len(gold):,} gold terms\n\nwhole gold list{tuned}")
    print(format_table(results, cfg.ks))
    print("\nfixed-hash halves (est_p@k: hits on the half / (k x its share of gold); "
          "filt_p@k: the other half removed from the list)")
    print(format_half_table(halves, cfg.ks))
    out = eval_path(cfg, sub)
    write_json_atomic(out, {"submission": str(sub), "domain": domain, "gold_terms": len(gold),
                            "results": results, "halves": halves})
    rel = out.relative_to(data.REPO_ROOT) if out.is_relative_to(data.REPO_ROOT) else out
    scored = {"run": cfg.run} if is_own_list(cfg, sub) else {"submission": str(sub)}  # another list: not the run's
    print(json.dumps({**scored, "domain": domain, "gold_terms": len(gold),
                      **{f"all_{k}": v for k, v in results["all"].items()},
                      **{f"{h}_{k}": v for h in HALVES for k, v in halves[h]["all"].items()
                         if k.startswith("est_p@") or k in ("recall", "filt_p@500")},
                      "paths": {"eval": str(rel)}}, ensure_ascii=False))


if __name__ == "__main__":
    from common.commands.args import run_cli

    run_cli(main)
