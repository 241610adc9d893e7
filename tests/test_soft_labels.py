"""Soft targets in [0, 1] for the classical models (common.soft_labels.fit_soft): the weighted-duplication fit against
a direct minimisation of the soft cross-entropy, 0/1 targets bit-equal to the plain fit, and the stack, the TF-IDF
reference and the tfidf / gbm members on graded targets."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from common.ensemble import FeatureOptions, apply_stack, feature_member, fit_stack
from common.soft_labels import fit_soft
from common.tfidf_reference import PairFeatures, fit_predict


def _soft_problem(n=80, seed=0):
    """(n, 3) features, (n,) soft targets from a logistic model (a tenth exactly 0 or 1), (n,) row weights."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 1 / (1 + np.exp(-(X @ np.array([1.5, -1.0, 0.5]) + 0.3 + rng.normal(0, 0.5, n))))
    y[: n // 20], y[n // 20: n // 10] = 0.0, 1.0
    return X, y, rng.uniform(0.5, 2.0, n)


def test_logistic_regression_on_soft_targets_minimises_the_weighted_soft_cross_entropy():
    """The reference: scipy's minimiser of 0.5 ||beta||^2 + C sum_i w_i CE([1 - y_i, y_i], sigmoid(x_i beta + b))
    (scikit-learn's objective; the intercept unpenalised). Sparse X gives the same fit."""
    X, y, w = _soft_problem()
    C = 0.5

    def objective(theta):
        beta, b = theta[:-1], theta[-1]
        z = X @ beta + b
        # CE = y * softplus(-z) + (1 - y) * softplus(z); d/dz = sigmoid(z) - y
        loss = C * np.sum(w * (y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z))) + 0.5 * beta @ beta
        r = C * w * (1 / (1 + np.exp(-z)) - y)
        return loss, np.concatenate([X.T @ r + beta, [r.sum()]])

    best = minimize(objective, np.zeros(4), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15,
                                                                                    "maxiter": 10000}).x
    model = fit_soft(LogisticRegression(C=C, tol=1e-12, max_iter=10000), X, y, sample_weight=w)
    np.testing.assert_allclose(model.coef_[0], best[:-1], atol=1e-5)
    np.testing.assert_allclose(model.intercept_[0], best[-1], atol=1e-5)
    assert model.classes_.tolist() == [0, 1]
    z = X @ best[:-1] + best[-1]
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], 1 / (1 + np.exp(-z)), atol=1e-5)
    sparse = fit_soft(LogisticRegression(C=C, tol=1e-12, max_iter=10000), sp.csr_matrix(X), y, sample_weight=w)
    np.testing.assert_allclose(sparse.coef_, model.coef_, atol=1e-5)


def test_gradient_boosting_on_soft_targets_predicts_each_groups_mean_target():
    """With one feature naming 4 groups, the soft log loss is minimised by each group's mean target (not by a
    thresholded class): the boosted model's P reaches those means."""
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(4), 50)
    means = np.array([0.1, 0.35, 0.6, 0.85])
    y = np.clip(means[group] + rng.uniform(-0.1, 0.1, 200), 0, 1)
    y[0] = 0.0  # an exact 0 among graded targets: a single (label 0) copy
    X = group[:, None].astype(float)
    model = fit_soft(HistGradientBoostingClassifier(max_iter=300, learning_rate=0.3, early_stopping=False,
                                                    random_state=0), X, y)
    P = model.predict_proba(np.arange(4.0)[:, None])[:, 1]
    np.testing.assert_allclose(P, [y[group == g].mean() for g in range(4)], atol=2e-3)


@pytest.mark.parametrize("make", [lambda: LogisticRegression(C=2.0, max_iter=1000),
                                  lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0)])
def test_zero_one_targets_give_exactly_the_plain_fit(make):
    X, y, w = _soft_problem(seed=2)
    labels = (y > 0.5).astype(int)
    for weights in (None, w):
        plain = make().fit(X, labels) if weights is None else make().fit(X, labels, sample_weight=weights)
        for targets in (labels, labels.astype(float), labels.tolist()):
            soft = fit_soft(make(), X, targets, sample_weight=weights)
            np.testing.assert_array_equal(soft.predict_proba(X), plain.predict_proba(X))
            assert soft.classes_.tolist() == [0, 1]
    balanced = LogisticRegression(class_weight="balanced").fit(X, labels)
    np.testing.assert_array_equal(fit_soft(LogisticRegression(class_weight="balanced"), X, labels * 1.0).coef_,
                                  balanced.coef_)


@pytest.mark.parametrize("targets, message", [
    ([0.2, -0.1, 1.0], r"targets must be in \[0, 1\] \(Task.targets\); got 0 NaN, min -0.1, max 1$"),
    ([0.2, 4.5, 3.0], r"got 0 NaN, min 0.2, max 4.5$"),
    ([0, 2, 1], r"max 2; class indices of 3\+ classes\? Task.num_classes returns C and Task.targets gives \(N, C\)"),
    ([0.2, np.nan, 1.0], r"got 1 NaN, min 0.2, max 1"),
    ([0.2, 0.3], r"targets of shape \(2,\) for 3 rows"),
])
def test_invalid_targets_are_refused_in_one_line(targets, message):
    with pytest.raises(ValueError, match=message) as err:
        fit_soft(LogisticRegression(), np.eye(3), targets)
    assert "\n" not in str(err.value) and str(err.value).startswith("fit_soft: ")


def test_class_weights_and_negative_sample_weights_are_refused_with_graded_targets():
    X, y, w = _soft_problem()
    with pytest.raises(ValueError, match=r"class_weight='balanced' needs 0/1 labels"):
        fit_soft(LogisticRegression(class_weight="balanced"), X, y)
    with pytest.raises(ValueError, match=r"sample_weight must be \(N,\)"):
        fit_soft(LogisticRegression(), X, y, sample_weight=-w)


def test_fit_stack_fits_graded_targets_and_a_group_of_one_target_value_predicts_it():
    rng = np.random.default_rng(3)
    y = rng.uniform(0, 1, 400)
    good = 1 / (1 + np.exp(-(4 * (y - 0.5) + rng.normal(0, 0.5, 400))))
    noise = rng.uniform(0.05, 0.95, 400)
    P = np.stack([noise, good])
    groups = np.arange(400) % 2
    y[groups == 1] = 0.4  # one target value in group 1
    stack = fit_stack(P, y, groups)
    out = apply_stack(stack, P, groups)
    assert ((out >= 0) & (out <= 1)).all()
    assert spearmanr(out[groups == 0], y[groups == 0]).statistic > 0.8
    assert stack.models[1] == 0.4 and np.all(out[groups == 1] == 0.4)
    coef = stack.models[0].coef_[0]
    assert coef[1] > 5 * abs(coef[0])  # the informative member carries the stack
    with pytest.raises(ValueError, match=r"targets must be in \[0, 1\]"):
        fit_stack(P, 5 * y)


def graded_pairs(n: int, seed: int):
    """(pairs, targets) of n char pairs: the second text keeps 4 - k of the first's 4 words; target (4 - k) / 4."""
    rng = np.random.default_rng(seed)
    words = ["天气", "很好", "公园", "散步", "北京", "地区", "风险", "调整", "银行", "还款", "额度", "手机"]
    pairs, targets = [], []
    for _ in range(n):
        first = list(rng.choice(words, 4, replace=False))
        k = int(rng.integers(0, 5))
        second = first.copy()
        for i in rng.choice(4, k, replace=False):
            second[i] = str(rng.choice([w for w in words if w not in first]))
        pairs.append(("".join(first), "".join(second)))
        targets.append((4 - k) / 4)
    return pairs, np.array(targets)


@pytest.mark.parametrize("spec", ["tfidf", "gbm"])
def test_feature_members_fit_graded_targets(spec):
    """OOF predictions in [0, 1] that rank the pairs as the targets do; a group whose training targets are all one
    value (here 0.5) predicts that value (tfidf: one regression per group); raw graded labels are refused."""
    pairs, y = graded_pairs(120, seed=4)
    fold, groups = np.arange(120) % 3, (np.arange(120) % 4 == 3).astype(int)
    if spec == "tfidf":
        y[groups == 1] = 0.5
    options = FeatureOptions(gbm_iterations=40, gbm_features="statistics")
    oof, per_fold = feature_member(spec, pairs, y, fold, pairs[:6], groups, groups[:6], options)
    assert oof.shape == (120,) and per_fold.shape == (3, 6)
    assert ((oof >= 0) & (oof <= 1)).all() and ((per_fold >= 0) & (per_fold <= 1)).all()
    assert spearmanr(oof[groups == 0], y[groups == 0]).statistic > 0.6
    if spec == "tfidf":
        assert np.all(oof[groups == 1] == 0.5) and np.all(per_fold[:, groups[:6] == 1] == 0.5)
    with pytest.raises(ValueError, match=rf"member {spec}: targets must be in \[0, 1\]"):
        feature_member(spec, pairs, 5 * y, fold, pairs[:6], options=options)


def test_tfidf_reference_fits_graded_targets_and_refuses_class_weights_on_them():
    pairs, y = graded_pairs(120, seed=5)
    first, second = [p[0] for p in pairs], [p[1] for p in pairs]
    features = PairFeatures("char", 2).fit(first[:90] + second[:90])
    held = (first[90:], second[90:])
    probs, = fit_predict(features, (first[:90], second[:90]), y[:90], [held])
    assert probs.shape == (30,) and ((probs > 0) & (probs < 1)).all()
    assert spearmanr(probs, y[90:]).statistic > 0.6
    hard = (y[:90] >= 0.5).astype(int)  # 0/1 labels: the plain regression, as before fit_soft
    plain = LogisticRegression(C=4.0, max_iter=3000).fit(features.transform(first[:90], second[:90]), list(hard))
    np.testing.assert_array_equal(fit_predict(features, (first[:90], second[:90]), hard, [held])[0],
                                  plain.predict_proba(features.transform(*held))[:, 1])
    with pytest.raises(ValueError, match="class_weight='balanced' needs 0/1 labels"):
        fit_predict(features, (first[:90], second[:90]), y[:90], [held], class_weight="balanced")


def test_the_ensemble_command_stacks_on_the_targets_it_is_given():
    """``common.commands.ensemble.ensemble``: 0/1 targets as floats give bit for bit the fit on the members' labels;
    graded targets are what the stack then fits (the members' saved labels stay the raw ones)."""
    from types import SimpleNamespace

    from common.commands.ensemble import ensemble
    from common.ensemble import Member

    rng = np.random.default_rng(6)
    y = rng.uniform(0, 1, 300)
    labels = (y >= 0.5).astype(int)
    fold = np.arange(300) % 3
    P = [1 / (1 + np.exp(-(4 * (y - 0.5) + rng.normal(0, s, 300)))) for s in (0.5, 2.0)]
    members = [Member(None, np.arange(300).astype(str), labels, fold, p, np.arange(4).astype(str), p[:4],
                      np.stack([p[:4]] * 3), name=n) for p, n in zip(P, ("good", "weak"))]
    task = SimpleNamespace(name="toy", metric_name="spearman", greater_is_better=True)

    def scorer(rows):
        return lambda probs: {"spearman": float(spearmanr(y[rows], probs).statistic)}

    args = SimpleNamespace(method="stack", iterations=10, init_max=0, patience=5, stack_C=1.0, metric_for_best_model="")
    plain = ensemble(task, members, scorer, None, None, args)
    same = ensemble(task, members, scorer, None, None, args, labels.astype(float))
    np.testing.assert_array_equal(same["chosen"]["oof"], plain["chosen"]["oof"])
    graded = ensemble(task, members, scorer, None, None, args, y)
    assert not np.allclose(graded["chosen"]["oof"], plain["chosen"]["oof"])
    assert ((graded["chosen"]["oof"] > 0) & (graded["chosen"]["oof"] < 1)).all()
    # the 0/1 stack is steeper than the graded one: its coefficients fit hard labels
    assert graded["report"]["stack"]["coefficients"]["good"] < plain["report"]["stack"]["coefficients"]["good"]
