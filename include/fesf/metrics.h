/* Evaluation statistics that every site computes on its own split and the
 * coordinator sums (a fixed-size buffer of doubles, so one MPI_Reduce with
 * MPI_SUM pools them), and the figures derived from them.
 *
 * Layout of a stats buffer for K classes (fesf_eval_stats_len(K) doubles):
 *   conf[K][K]            confusion counts, row = true class, column = argmax
 *   hist[K][2][BINS]      per class c, histograms of the softmax score p_c
 *                         for samples of class c ([c][0]) and of other
 *                         classes ([c][1]); bin b holds p in [b/BINS, (b+1)/BINS)
 *                         (p = 1 in the last bin)
 *   loss_sum, count       summed cross-entropy (-log p_true) and sample count
 * Figures: accuracy, balanced accuracy (mean recall over classes present),
 * macro-F1 (over classes present in truth or prediction), AUC: for K = 2 the
 * AUC of class 1's score; for K > 2 the macro mean of one-vs-rest AUCs over
 * classes with both positives and negatives. AUCs come from the histograms
 * (ties within a bin count one half), within 1/BINS-level error of the exact
 * rank AUC. */
#ifndef FESF_METRICS_H
#define FESF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define FESF_METRIC_BINS 1000

size_t fesf_eval_stats_len(int k);

/* Add n samples: probs [n, k] softmax outputs, labels [n] in [0, k). */
void fesf_eval_stats_add(double *stats, int k, const float *probs, const int32_t *labels, int n);

typedef struct {
    double accuracy, balanced_accuracy, macro_f1, auc, loss;
    int64_t count;
} fesf_metrics;

/* Figures from a (pooled or per-site) stats buffer; NaN where undefined
 * (no samples; AUC without both positives and negatives). */
void fesf_metrics_compute(const double *stats, int k, fesf_metrics *out);

/* Balanced class weights from summed label counts [k]: w_c = N / (k n_c),
 * N the total (sklearn's "balanced"; the mean weight over samples is 1); a
 * class without samples gets 0. Returns the number of such classes. */
int fesf_balanced_weights(const double *counts, int k, float *w);

#endif
