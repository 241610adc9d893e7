"""bench.feature_members: non-neural members on the k-fold command's folds, without a neural run."""

import json

import numpy as np
import pytest

import bench.feature_members as bench
from common.cv import make_folds, text_groups
from common.ensemble import FeatureOptions, feature_member
from common.task import get_task
from competitions.sohu.data import ROOT, SUBTASKS


def _sohu_data(root, n=60):
    rng = np.random.default_rng(0)
    words = ["北京", "上海", "下雨", "晴天", "比赛", "球队", "股票", "上涨", "电影", "上映"]
    for task in (SUBTASKS[0], SUBTASKS[1]):
        folder = root / ROOT / task.folder
        folder.mkdir(parents=True)
        for split, count in (("train", n), ("valid", n // 3), ("test_with_id", 5)):
            rows = []
            for i in range(count):
                a = "".join(rng.choice(words, 3)) + f"{split}{i}"
                label = int(rng.integers(0, 2))
                b = (a[:6] if label else "".join(rng.choice(words, 3))) + f"的{i}"
                key = {"id": f"{task.prefix}{i}_{task.group.lower()}"} if split == "test_with_id" else \
                    {f"label{task.group}": str(label)}
                rows.append({"source": a, "target": b, **key})
            (folder / f"{split}.txt").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                 encoding="utf-8")
    return root


def test_members_scored_on_the_cv_commands_folds(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    data = _sohu_data(tmp_path / "data")
    result = bench.main(["--task", "sohu", "--data-dir", str(data), "--folds", "3", "--rounds", "20",
                         "--members", "tfidf", "gbm:statistics"])
    assert json.loads((tmp_path / "results" / "feature_members_sohu.json").read_text()) == \
        json.loads(json.dumps(result))
    task = get_task("sohu")
    config = task.config_class()
    config.data_dir = str(data)
    splits = task.load_data(config)
    pool = task.cv_pool(config, splits)
    pairs = task.text_pairs(pool)
    fold = make_folds(task.strata(pool), 3, 42, text_groups(pairs))  # what `cv --folds 3` draws
    oof, _ = feature_member("gbm", pairs, np.asarray(task.labels(pool)), fold, task.text_pairs(splits.test),
                            np.asarray(task.conditions(pool)), np.asarray(task.conditions(splits.test)),
                            FeatureOptions(gbm_features="statistics"))
    gbm = result["members"]["gbm:statistics"]
    assert gbm["oof"] == pytest.approx(task.score(pool, oof)[0]["score"])
    assert sorted(gbm["per_fold"]) == [0, 1, 2] and "vs_first" in gbm and "vs_first" not in result["members"]["tfidf"]
    assert result["rows"] == len(pool) == 2 * (60 + 20)
