#!/usr/bin/python3
"""Exact NumPy reference for src/fed/metrics.c (run by tests/unit/test_metrics.c).

Input (binary, native byte order), written by the C test:
    int32 n, int32 k, float32 probs[n][k], int32 labels[n]

Output: one line on stdout, "accuracy balanced_accuracy macro_f1 auc loss"
(repr of float64, so strtod reads them back exactly; nan where undefined).

Definitions, independent of the C code (no histograms, no sklearn):
  accuracy           mean of argmax(probs) == label (first maximum on ties)
  balanced accuracy  mean recall over classes present in the labels
  macro-F1           mean F1 = 2tp / (2tp + fp + fn) over classes present in
                     labels or predictions (sklearn f1_score(average='macro')
                     on the union of labels)
  AUC                exact Mann-Whitney AUC with average ranks for ties; K = 2:
                     class 1's score; K > 2: mean of one-vs-rest AUCs over
                     classes with both positives and negatives
  loss               mean of -log(max(p_true, 1e-12))

Usage: metrics_ref.py FILE
Exit status 0 on success, 77 when numpy cannot be imported (the C test then
skips). Run with Debian's /usr/bin/python3.
"""
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)


def read_input(path):
    raw = open(path, "rb").read()
    n, k = (int(v) for v in np.frombuffer(raw, dtype="=i4", count=2))
    probs = np.frombuffer(raw, dtype="=f4", count=n * k, offset=8).reshape(n, k)
    labels = np.frombuffer(raw, dtype="=i4", count=n, offset=8 + 4 * n * k)
    return probs.astype(np.float64), labels.astype(np.int64), k


def average_ranks(x):
    """1-based ranks of x, ties sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]  # exclusive
    mean_rank = (starts + 1 + ends) / 2.0  # mean of starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def exact_auc(scores, positive):
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = average_ranks(scores)
    return (r[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def macro_auc(probs, labels, k):
    if k == 2:
        return exact_auc(probs[:, 1], labels == 1)
    aucs = [exact_auc(probs[:, c], labels == c) for c in range(k)]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def confusion_figures(pred, labels, k):
    recalls, f1s = [], []
    for c in range(k):
        t, p = labels == c, pred == c
        tp = float(np.sum(t & p))
        fp, fn = float(np.sum(~t & p)), float(np.sum(t & ~p))
        if t.any():
            recalls.append(tp / t.sum())
        if t.any() or p.any():
            f1s.append(2 * tp / (2 * tp + fp + fn))
    acc = float(np.mean(pred == labels))
    bal = float(np.mean(recalls)) if recalls else float("nan")
    f1 = float(np.mean(f1s)) if f1s else float("nan")
    return acc, bal, f1


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    probs, labels, k = read_input(sys.argv[1])
    pred = np.argmax(probs, axis=1)
    acc, bal, f1 = confusion_figures(pred, labels, k)
    auc = macro_auc(probs, labels, k)
    p_true = probs[np.arange(len(labels)), labels]
    loss = float(np.mean(-np.log(np.maximum(p_true, 1e-12))))
    print(" ".join(repr(float(v)) for v in (acc, bal, f1, auc, loss)))


if __name__ == "__main__":
    main()
