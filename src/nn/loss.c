/* Losses with PyTorch's "mean" reduction. Values are computed and summed in
 * double; gradients are written (not accumulated) in float, each rounded
 * once from a double expression.
 *
 * Softmax cross-entropy per sample: l_i = logsumexp(x_i) - x_i[y_i], with
 * the maximum subtracted before exp (finite for any finite logits). With
 * class weights the reduction is torch's weighted mean
 *     L = sum_i w[y_i] l_i / sum_i w[y_i]
 * so dL/dx_ij = w[y_i] / sum_i w[y_i] * (softmax_ij - [j == y_i]).
 * Where torch would return NaN (N = 0, or every sample of zero weight) these
 * return 0 with a zero gradient, so that an empty batch cannot poison a
 * training run. */
#include "fesf/loss.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

/* The weighted mean (sum = 0) or the weighted sum (sum = 1, each sample's
 * gradient that of its own weighted loss) */
static double xent(int n, int k, const float *logits, const int32_t *labels, const float *weights, float *dlogits,
                   float *probs, int sum)
{
    double wsum = 0.0;
    if (sum)
        wsum = 1.0;
    else if (weights)
        for (int i = 0; i < n; i++) {
            assert(labels[i] >= 0 && labels[i] < k);
            wsum += weights[labels[i]];
        }
    else
        wsum = n > 0 ? (double)n : 0.0;

    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *x = logits + (size_t)i * k;
        int y = labels[i];
        assert(y >= 0 && y < k);
        double m = x[0];
        for (int j = 1; j < k; j++)
            if (x[j] > m) m = x[j];
        double s = 0.0;
        for (int j = 0; j < k; j++) s += exp((double)x[j] - m);
        double lse = m + log(s);
        double w = weights ? (double)weights[y] : 1.0;
        total += w * (lse - (double)x[y]);

        if (probs || dlogits) {
            double inv_s = 1.0 / s;
            double scale = sum ? w : wsum != 0.0 ? w / wsum : 0.0;
            for (int j = 0; j < k; j++) {
                double pj = exp((double)x[j] - m) * inv_s;
                if (probs) probs[(size_t)i * k + j] = (float)pj;
                if (dlogits) dlogits[(size_t)i * k + j] = (float)(scale * (pj - (j == y ? 1.0 : 0.0)));
            }
        }
    }
    return wsum != 0.0 ? total / wsum : 0.0;
}

double fesf_softmax_xent(int n, int k, const float *logits, const int32_t *labels, const float *weights,
                         float *dlogits, float *probs)
{
    return xent(n, k, logits, labels, weights, dlogits, probs, 0);
}

double fesf_softmax_xent_sum(int n, int k, const float *logits, const int32_t *labels, const float *weights,
                             float *dlogits)
{
    return xent(n, k, logits, labels, weights, dlogits, NULL, 1);
}

double fesf_l1_loss(int64_t len, const float *p, const float *t, float *dp)
{
    if (len <= 0) return 0.0;
    double sum = 0.0, inv = 1.0 / (double)len;
    for (int64_t i = 0; i < len; i++) {
        double d = (double)p[i] - (double)t[i];
        sum += fabs(d);
        /* torch.sign: +1, -1, 0 at ties (NaN stays NaN) */
        if (dp) dp[i] = (float)(d > 0 ? inv : d < 0 ? -inv : d * inv);
    }
    return sum * inv;
}

double fesf_mse_loss(int64_t len, const float *p, const float *t, float *dp)
{
    if (len <= 0) return 0.0;
    double sum = 0.0, g = 2.0 / (double)len;
    for (int64_t i = 0; i < len; i++) {
        double d = (double)p[i] - (double)t[i];
        sum += d * d;
        if (dp) dp[i] = (float)(g * d);
    }
    return sum / (double)len;
}

double fesf_mse_const_loss(int64_t len, const float *p, float target, float *dp)
{
    if (len <= 0) return 0.0;
    double sum = 0.0, g = 2.0 / (double)len, tt = target;
    for (int64_t i = 0; i < len; i++) {
        double d = (double)p[i] - tt;
        sum += d * d;
        if (dp) dp[i] = (float)(g * d);
    }
    return sum / (double)len;
}
