/* Evaluation statistics and the figures derived from them (see metrics.h).
 * Everything is a sum of per-sample contributions, so buffers from
 * different sites add element-wise (MPI_SUM) into the pooled statistics. */
#include "fesf/metrics.h"

#include <math.h>

#define BINS FESF_METRIC_BINS
#define LOSS_FLOOR 1e-12

/* Offsets into the stats buffer. */
static size_t conf_off(int k, int t, int p) { return (size_t)t * k + p; }
static size_t hist_off(int k, int c, int neg) { return (size_t)k * k + ((size_t)c * 2 + neg) * BINS; }
static size_t loss_off(int k) { return (size_t)k * k + (size_t)2 * k * BINS; }

size_t fesf_eval_stats_len(int k)
{
    return k > 0 ? loss_off(k) + 2 : 0;
}

/* Bin of a score: [b/BINS, (b+1)/BINS); below 0 and NaN go to bin 0, 1 and
 * above to the last bin. For a float p, p * BINS is exact in double. */
static int score_bin(float p)
{
    double x = (double)p * BINS;
    if (!(x >= 1.0)) return 0;
    if (x >= BINS - 1) return BINS - 1;
    return (int)x;
}

/* Index of the largest score, the first one on ties; NaN never wins
 * unless every score is NaN (then class 0). */
static int argmax(const float *p, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (p[j] > p[best] || (isnan(p[best]) && !isnan(p[j]))) best = j;
    return best;
}

void fesf_eval_stats_add(double *stats, int k, const float *probs, const int32_t *labels, int n)
{
    double *loss = stats + loss_off(k);
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * k;
        int y = labels[i];
        if (y < 0 || y >= k) continue; /* out of contract: ignored, not counted */
        stats[conf_off(k, y, argmax(p, k))] += 1.0;
        for (int c = 0; c < k; c++) stats[hist_off(k, c, c != y) + score_bin(p[c])] += 1.0;
        double pt = p[y];
        if (!(pt >= LOSS_FLOOR)) pt = LOSS_FLOOR; /* also catches NaN */
        loss[0] -= log(pt);
        loss[1] += 1.0;
    }
}

/* AUC of class c's score from its histograms: each (positive, negative)
 * pair counts 1 when the positive is in a higher bin, 1/2 in the same bin.
 * NaN without both positives and negatives. */
static double hist_auc(const double *stats, int k, int c)
{
    const double *pos = stats + hist_off(k, c, 0), *neg = stats + hist_off(k, c, 1);
    double below = 0, wins = 0, npos = 0;
    for (int b = 0; b < BINS; b++) {
        wins += pos[b] * (below + 0.5 * neg[b]);
        below += neg[b];
        npos += pos[b];
    }
    return npos > 0 && below > 0 ? wins / (npos * below) : NAN;
}

/* K = 2: class 1's AUC; otherwise the mean of the defined one-vs-rest AUCs. */
static double macro_auc(const double *stats, int k)
{
    if (k == 2) return hist_auc(stats, k, 1);
    double sum = 0;
    int m = 0;
    for (int c = 0; c < k; c++) {
        double a = hist_auc(stats, k, c);
        if (isnan(a)) continue;
        sum += a;
        m++;
    }
    return m ? sum / m : NAN;
}

static double row_sum(const double *stats, int k, int c)
{
    double s = 0;
    for (int j = 0; j < k; j++) s += stats[conf_off(k, c, j)];
    return s;
}

static double col_sum(const double *stats, int k, int c)
{
    double s = 0;
    for (int j = 0; j < k; j++) s += stats[conf_off(k, j, c)];
    return s;
}

/* Accuracy, balanced accuracy and macro-F1 from the confusion matrix.
 * F1 = 2 tp / (2 tp + fp + fn) = 2 tp / (row + col), 0 when tp = 0. */
static void confusion_figures(const double *stats, int k, double count, fesf_metrics *out)
{
    double hits = 0, recall = 0, f1 = 0;
    int n_true = 0, n_any = 0;
    for (int c = 0; c < k; c++) {
        double tp = stats[conf_off(k, c, c)], row = row_sum(stats, k, c), col = col_sum(stats, k, c);
        hits += tp;
        if (row > 0) {
            recall += tp / row;
            n_true++;
        }
        if (row + col > 0) {
            f1 += 2 * tp / (row + col);
            n_any++;
        }
    }
    out->accuracy = hits / count;
    out->balanced_accuracy = n_true ? recall / n_true : NAN;
    out->macro_f1 = n_any ? f1 / n_any : NAN;
}

void fesf_metrics_compute(const double *stats, int k, fesf_metrics *out)
{
    double count = k > 0 ? stats[loss_off(k) + 1] : 0;
    out->count = (int64_t)count;
    if (!(count > 0)) {
        out->accuracy = out->balanced_accuracy = out->macro_f1 = out->auc = out->loss = NAN;
        out->count = 0;
        return;
    }
    confusion_figures(stats, k, count, out);
    out->auc = macro_auc(stats, k);
    out->loss = stats[loss_off(k)] / count;
}

int fesf_balanced_weights(const double *counts, int k, float *w)
{
    double total = 0;
    int empty = 0;
    for (int c = 0; c < k; c++) total += counts[c];
    for (int c = 0; c < k; c++) {
        w[c] = counts[c] > 0 ? (float)(total / ((double)k * counts[c])) : 0.0f;
        empty += !(counts[c] > 0);
    }
    return empty;
}
