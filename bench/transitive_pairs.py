"""How many labelled pairs does transitivity imply? The data-side check before the GAIIC 2021 augmentation.

    python -m bench.transitive_pairs --task xiaobu --data-dir data/xiaobu
    python -m bench.transitive_pairs --task sohu --data-dir data/sohu2021

Several GAIIC 2021 track-3 solutions add pairs implied by the labelled ones: if a~b and b~c are
matches, a~c is a match; if a~b matches and b~c does not, a~c does not. That is worth building only
when the labelled pool shares texts. This counts, over a pair task's labelled pool
(``Task.cv_pool``: train and validation rows), the texts seen in more than one pair, the groups of
texts joined by matching pairs (union-find over the label-1 pairs, within one condition for a
conditioned task such as Sohu's subtasks), and the distinct pairs, not already labelled, that these
imply: positives (two texts of one matching group) and negatives (a text of one group against a text
of a group some pair says does not match it). Writes ``bench/results/transitive_pairs_<task>.json``;
prints a table. No model is trained.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Hashable, Sequence

from common.commands.args import run_cli
from common.config import parse_config
from common.io import write_json_atomic
from common.task import get_task

RESULTS = Path(__file__).resolve().parent / "results"


def implied_pairs(pairs: Sequence[tuple[Hashable, Hashable]], labels: Sequence[int],
                  conditions: Sequence[Hashable] | None = None) -> dict[str, int]:
    """Counts of what transitivity implies over labelled ``pairs``.

    Args:
        pairs: (N,) ``(text_a, text_b)``.
        labels: (N,) 0/1.
        conditions: (N,) a key pairs must share to be linked (a subtask), or None.

    Returns:
        ``{"pairs", "positives", "texts", "texts_in_several_pairs", "largest_group", "implied_positives",
        "implied_negatives"}``: implied pairs are distinct unordered pairs of distinct texts, not among ``pairs``.
    """
    keys = list(conditions) if conditions is not None else [0] * len(pairs)
    nodes = [((k, a), (k, b)) for k, (a, b) in zip(keys, pairs)]
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (a, b), y in zip(nodes, labels):
        find(a), find(b)
        if y == 1:
            parent[find(a)] = find(b)
    members: dict = defaultdict(set)
    for x in parent:
        members[find(x)].add(x)
    known = {frozenset(p) for p in nodes}
    positives = sum(len(g) * (len(g) - 1) // 2 for g in members.values())  # pairs inside a group, less the
    positives -= sum(1 for p in known if len(p) == 2 and len({find(x) for x in p}) == 1)  # labelled ones
    negatives = set()
    for (a, b), y in zip(nodes, labels):
        if y == 0:
            for x in members[find(a)]:
                for z in members[find(b)]:
                    if x != z and frozenset((x, z)) not in known:
                        negatives.add(frozenset((x, z)))
    texts = Counter(t for p in nodes for t in p)
    return {"pairs": len(pairs), "positives": int(sum(labels)), "texts": len(texts),
            "texts_in_several_pairs": sum(1 for c in texts.values() if c > 1),
            "largest_group": max((len(g) for g in members.values()), default=0),
            "implied_positives": positives, "implied_negatives": len(negatives)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True)
    args, rest = parser.parse_known_args(argv)
    task = get_task(args.task)
    config = parse_config(task.config_class, rest, description=__doc__)
    start = time.time()
    data = task.load_data(config)
    pool = task.cv_pool(config, data)
    pairs = task.text_pairs(pool)
    if pairs is None:
        raise ValueError(f"task {task.name} gives no text pairs (Task.text_pairs)")
    conditions = task.conditions(pool) if hasattr(task, "conditions") else None
    counts = implied_pairs(pairs, task.labels(pool).tolist(), conditions)
    result = {"task": task.name, "data_dir": getattr(config, "data_dir", ""), **counts,
              "seconds": round(time.time() - start, 1)}
    write_json_atomic(RESULTS / f"transitive_pairs_{task.name}.json", result)
    print(f"{'task':8} {'pairs':>7} {'pos':>6} {'texts':>7} {'repeated':>9} {'largest':>8} {'new pos':>8} {'new neg':>8}")
    print(f"{task.name:8} {counts['pairs']:7d} {counts['positives']:6d} {counts['texts']:7d} "
          f"{counts['texts_in_several_pairs']:9d} {counts['largest_group']:8d} {counts['implied_positives']:8d} "
          f"{counts['implied_negatives']:8d}")
    return result


if __name__ == "__main__":
    run_cli(main)
