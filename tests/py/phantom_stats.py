#!/usr/bin/python3
"""Check that no trivial global statistic gives away the phantom's label.

Input: a raw dump, FILE holding N uint8 labels followed by N*S*S uint8 pixels
(row-major, one channel), e.g. written by a tiny program that calls
read_labels/read_images of the phantom source.

For each per-image statistic (mean, std, 10th/50th/90th percentile) it computes
the ROC AUC of that statistic alone (Mann-Whitney U, ties counted half) and
reports the separation max(AUC, 1 - AUC), since a statistic that is low for
class 1 gives the label away as well as one that is high. It then fits a
logistic regression on the five statistics together (standardised features,
gradient descent, 5-fold cross-validation) and scores the out-of-fold
predictions.

Exit status 1 if a single statistic separates the classes with AUC above
--max-auc (default 0.65) or the regression above --max-lr-auc (default 0.7);
2 on bad input. Needs only numpy.

    /usr/bin/python3 tests/py/phantom_stats.py --raw dump.raw 4000 64
"""
import argparse
import sys

import numpy as np

STATS = ("mean", "std", "p10", "p50", "p90")


def auc(score, label):
    """ROC AUC of `score` for label 1 against label 0 (Mann-Whitney)."""
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label).astype(bool)
    n1, n0 = int(label.sum()), int((~label).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("both classes are needed for an AUC")
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ranks = np.empty(len(s), dtype=np.float64)
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i:j + 1] = 0.5 * (i + j) + 1.0
        i = j + 1
    r = np.empty_like(ranks)
    r[order] = ranks
    return (r[label].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def features(images):
    """Per-image [mean, std, p10, p50, p90] of uint8 images (N, S, S)."""
    x = images.reshape(len(images), -1).astype(np.float64)
    p = np.percentile(x, [10, 50, 90], axis=1)
    return np.column_stack([x.mean(1), x.std(1), p[0], p[1], p[2]])


def fit_logistic(x, y, steps=3000, lr=0.5, l2=1e-4):
    """Weights (with bias last) of a logistic regression by gradient descent."""
    xb = np.column_stack([x, np.ones(len(x))])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        g = xb.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0]
        w -= lr * g
    return w


def cv_logistic_auc(x, y, folds=5, seed=0):
    """AUC of out-of-fold logistic-regression scores, k-fold CV."""
    idx = np.random.default_rng(seed).permutation(len(y))
    score = np.empty(len(y))
    for k in range(folds):
        test = idx[k::folds]
        train = np.setdiff1d(idx, test)
        mu, sd = x[train].mean(0), x[train].std(0) + 1e-12
        w = fit_logistic((x[train] - mu) / sd, y[train])
        xt = (x[test] - mu) / sd
        score[test] = np.column_stack([xt, np.ones(len(test))]) @ w
    return auc(score, y)


def load_raw(path, n, size):
    data = np.fromfile(path, dtype=np.uint8)
    want = n + n * size * size
    if data.size != want:
        raise ValueError("%s: %d bytes, expected %d for N=%d S=%d" % (path, data.size, want, n, size))
    labels = data[:n].astype(np.int64)
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("%s: labels must be 0 or 1" % path)
    return labels, data[n:].reshape(n, size, size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", nargs=3, metavar=("FILE", "N", "S"), required=True,
                    help="FILE with N uint8 labels then N*S*S uint8 pixels")
    ap.add_argument("--max-auc", type=float, default=0.65)
    ap.add_argument("--max-lr-auc", type=float, default=0.70)
    a = ap.parse_args()
    try:
        labels, images = load_raw(a.raw[0], int(a.raw[1]), int(a.raw[2]))
        x = features(images)
        per_stat = [auc(x[:, k], labels) for k in range(len(STATS))]
        lr_auc = cv_logistic_auc(x, labels.astype(np.float64))
    except (OSError, ValueError) as e:
        print("phantom_stats: %s" % e, file=sys.stderr)
        return 2

    print("images %d, size %d, class 1 fraction %.3f" % (len(labels), images.shape[1], labels.mean()))
    failed = False
    for name, v in zip(STATS, per_stat):
        sep = max(v, 1.0 - v)
        bad = sep > a.max_auc
        failed |= bad
        print("auc %-4s %.3f (separation %.3f)%s" % (name, v, sep, "  FAIL" if bad else ""))
    sep = max(lr_auc, 1.0 - lr_auc)
    bad = sep > a.max_lr_auc
    failed |= bad
    print("auc logistic(mean,std,p10,p50,p90) 5-fold %.3f%s" % (lr_auc, "  FAIL" if bad else ""))
    print("limits: single statistic %.2f, logistic %.2f: %s"
          % (a.max_auc, a.max_lr_auc, "FAIL" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
