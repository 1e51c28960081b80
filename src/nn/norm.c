/* Batch norm and instance norm (see layers.h), PyTorch semantics.
 *
 * Statistics: each plane (HW values) is reduced in 8 float lanes and the
 * plane sums are added in double; variance is the two-pass mean of squared
 * deviations. Normalisation uses the biased variance; BatchNorm's running
 * variance is updated with the unbiased one, M / (M - 1) var, M = N*HW.
 *
 * Backward (training mode), per channel over its M values, xhat = (x - mean)
 * invstd:
 *   dbeta  += sum dy
 *   dgamma += sum dy xhat
 *   dx     += gamma invstd (dy - sum dy / M - xhat sum(dy xhat) / M)
 * Instance norm is the same with M = HW per (n, c), dgamma/dbeta summed over n. */
#include "fesf/layers.h"
#include "vec.h"

#include <math.h>
#include <stddef.h>


/* Threads: channels (instance norm: planes) are independent and each is
 * reduced in the same order by one thread, whatever the thread count. */
#define PAR_MIN 32768

static inline float hsum(v4f v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* sum (a - mu)^2 */
static double sumsq_dev(const float *a, size_t len, float mu)
{
    v4f s0 = {0}, s1 = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        v4f d0 = *(const v4f *)(a + i) - mu, d1 = *(const v4f *)(a + i + 4) - mu;
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    double acc = (double)hsum(s0) + hsum(s1);
    for (; i < len; i++) {
        double d = (double)a[i] - mu;
        acc += d * d;
    }
    return acc;
}

/* ReLU's gradient fused into batch norm's backward: dy where the ReLU's
 * output r > 0, else 0, the very operations of fesf_relu_backward_set (so
 * the fused backward gives the bits of the two apart); r NULL: dy */
static inline v4f dy4(const float *dy, const float *r, size_t i)
{
    v4f d = *(const v4f *)(dy + i);
    return r ? (v4f)((v4i)d & (*(const v4f *)(r + i) > 0.0f)) : d;
}

static inline float dy1(const float *dy, const float *r, size_t i) { return !r || r[i] > 0.0f ? dy[i] : 0.0f; }

static double sum_f(const float *a, size_t len)
{
    v4f s0 = {0}, s1 = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        s0 += *(const v4f *)(a + i);
        s1 += *(const v4f *)(a + i + 4);
    }
    double acc = (double)hsum(s0) + hsum(s1);
    for (; i < len; i++) acc += a[i];
    return acc;
}

/* *sdy += sum dy, *sdyx += sum dy (x - mu), dy masked by r, in one pass
 * (each accumulator sees the operations of a pass of its own) */
static inline void sums_span(const float *dy, const float *r, const float *x, size_t len, float mu, double *sdy,
                             double *sdyx)
{
    v4f s0 = {0}, s1 = {0}, t0 = {0}, t1 = {0};
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        v4f d0 = dy4(dy, r, i), d1 = dy4(dy, r, i + 4);
        s0 += d0;
        s1 += d1;
        t0 += d0 * (*(const v4f *)(x + i) - mu);
        t1 += d1 * (*(const v4f *)(x + i + 4) - mu);
    }
    double a = (double)hsum(s0) + hsum(s1), b = (double)hsum(t0) + hsum(t1);
    for (; i < len; i++) {
        float d = dy1(dy, r, i);
        a += d;
        b += (double)d * ((double)x[i] - mu);
    }
    *sdy += a;
    *sdyx += b;
}

/* sums_span with the mask test out of the loop */
static void sums(const float *dy, const float *r, const float *x, size_t len, float mu, double *sdy, double *sdyx)
{
    if (r) sums_span(dy, r, x, len, mu, sdy, sdyx);
    else sums_span(dy, NULL, x, len, mu, sdy, sdyx);
}

/* y = (x - mu) scale + shift */
static void affine(float *y, const float *x, size_t len, float mu, float scale, float shift)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4) *(v4f *)(y + i) = (*(const v4f *)(x + i) - mu) * scale + shift;
    for (; i < len; i++) y[i] = (x[i] - mu) * scale + shift;
}

/* y = relu((x - mu) scale + shift), as fesf_relu_forward (NaN passes) */
static void affine_relu(float *y, const float *x, size_t len, float mu, float scale, float shift)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        v4f v = (*(const v4f *)(x + i) - mu) * scale + shift;
        *(v4f *)(y + i) = (v4f)((v4i)v & ~(v < 0.0f));
    }
    for (; i < len; i++) {
        float v = (x[i] - mu) * scale + shift;
        y[i] = v < 0.0f ? 0.0f : v;
    }
}

/* dx = dy k + (x - mu) a + b (write-first), dy masked by r */
static inline void norm_dx_set(float *dx, const float *dy, const float *r, const float *x, size_t len, float k, float mu,
                        float a, float b)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4) *(v4f *)(dx + i) = dy4(dy, r, i) * k + (*(const v4f *)(x + i) - mu) * a + b;
    for (; i < len; i++) dx[i] = dy1(dy, r, i) * k + (x[i] - mu) * a + b;
}

/* dx += dy k + (x - mu) a + b, dy masked by r */
static inline void norm_dx(float *dx, const float *dy, const float *r, const float *x, size_t len, float k, float mu, float a,
                    float b)
{
    size_t i = 0;
    for (; i + 4 <= len; i += 4) *(v4f *)(dx + i) += dy4(dy, r, i) * k + (*(const v4f *)(x + i) - mu) * a + b;
    for (; i < len; i++) dx[i] += dy1(dy, r, i) * k + (x[i] - mu) * a + b;
}

/* norm_dx(_set) with the mask and set tests out of the loop */
static void dx_pass(float *dx, const float *dy, const float *r, const float *x, size_t len, float k, float mu, float a,
                    float b, int set)
{
    if (r && set) norm_dx_set(dx, dy, r, x, len, k, mu, a, b);
    else if (r) norm_dx(dx, dy, r, x, len, k, mu, a, b);
    else if (set) norm_dx_set(dx, dy, NULL, x, len, k, mu, a, b);
    else norm_dx(dx, dy, NULL, x, len, k, mu, a, b);
}

/* batch norm forward, then ReLU when relu */
static void bn_forward(int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
                       float *save_mean, float *save_invstd, float *running_mean, float *running_var, float momentum,
                       float eps, int training, int relu)
{
    const size_t plane = (size_t)hw, cs = (size_t)c * hw;
    const double m = (double)n * hw;
    const int batch_stats = training || !running_mean || !running_var;
#pragma omp parallel for schedule(static) if ((size_t)n * c * hw > PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        float mean, invstd;
        if (batch_stats) {
            double s = 0.0, ss = 0.0;
            for (int i = 0; i < n; i++) s += sum_f(x + i * cs + ch * plane, plane);
            double mu = s / m;
            for (int i = 0; i < n; i++) ss += sumsq_dev(x + i * cs + ch * plane, plane, (float)mu);
            double var = ss / m;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + eps));
            if (save_mean) save_mean[ch] = mean;
            if (save_invstd) save_invstd[ch] = invstd;
            if (training && running_mean && running_var) {
                double unbiased = m > 1 ? var * m / (m - 1) : var;
                running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
                running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
            }
        } else {
            mean = running_mean[ch];
            invstd = (float)(1.0 / sqrt((double)running_var[ch] + eps));
        }
        float scale = gamma ? gamma[ch] * invstd : invstd, shift = beta ? beta[ch] : 0.0f;
        for (int i = 0; i < n; i++)
            (relu ? affine_relu : affine)(y + i * cs + ch * plane, x + i * cs + ch * plane, plane, mean, scale, shift);
    }
}

void fesf_batchnorm_forward(int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
                            float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                            float momentum, float eps, int training)
{
    bn_forward(n, c, hw, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var, momentum, eps, training,
               0);
}

void fesf_batchnorm_relu_forward(int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                                 float momentum, float eps, int training)
{
    bn_forward(n, c, hw, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var, momentum, eps, training,
               1);
}

/* r: the fused ReLU's output (its gradient masks dy), or NULL */
static void bn_backward(int n, int c, int hw, const float *x, const float *r, const float *gamma,
                        const float *save_mean, const float *save_invstd, const float *dy, float *dx, int set,
                        float *dgamma, float *dbeta)
{
    const size_t plane = (size_t)hw, cs = (size_t)c * hw;
    const double m = (double)n * hw;
#pragma omp parallel for schedule(static) if ((size_t)n * c * hw > PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        const float mean = save_mean[ch], invstd = save_invstd[ch];
        double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy (x - mean) */
        for (int i = 0; i < n; i++) {
            const float *d = dy + i * cs + ch * plane, *ri = r ? r + i * cs + ch * plane : NULL;
            sums(d, ri, x + i * cs + ch * plane, plane, mean, &sdy, &sdyx);
        }
        if (dbeta) dbeta[ch] += (float)sdy;
        if (dgamma) dgamma[ch] += (float)(sdyx * invstd);
        if (!dx) continue;
        double k = (gamma ? gamma[ch] : 1.0) * invstd;
        float a = (float)(-k * invstd * invstd * sdyx / m), b = (float)(-k * sdy / m);
        for (int i = 0; i < n; i++) {
            const size_t o = i * cs + ch * plane;
            dx_pass(dx + o, dy + o, r ? r + o : NULL, x + o, plane, (float)k, mean, a, b, set);
        }
    }
}

void fesf_batchnorm_backward(int n, int c, int hw, const float *x, const float *gamma, const float *save_mean,
                             const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta)
{
    bn_backward(n, c, hw, x, NULL, gamma, save_mean, save_invstd, dy, dx, 0, dgamma, dbeta);
}

void fesf_batchnorm_backward_set(int n, int c, int hw, const float *x, const float *gamma, const float *save_mean,
                                 const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta)
{
    bn_backward(n, c, hw, x, NULL, gamma, save_mean, save_invstd, dy, dx, 1, dgamma, dbeta);
}

void fesf_batchnorm_relu_backward(int n, int c, int hw, const float *x, const float *r, const float *gamma,
                                  const float *save_mean, const float *save_invstd, const float *dy, float *dx, int set,
                                  float *dgamma, float *dbeta)
{
    bn_backward(n, c, hw, x, r, gamma, save_mean, save_invstd, dy, dx, set, dgamma, dbeta);
}

void fesf_instancenorm_forward(int n, int c, int hw, const float *x, const float *gamma, const float *beta, float *y,
                               float *save_mean, float *save_invstd, float eps)
{
    const size_t plane = (size_t)hw;
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)n * c * hw > PAR_MIN)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            const size_t o = ((size_t)i * c + ch) * plane;
            double mu = sum_f(x + o, plane) / hw;
            double var = sumsq_dev(x + o, plane, (float)mu) / hw;
            float mean = (float)mu, invstd = (float)(1.0 / sqrt(var + eps));
            if (save_mean) save_mean[(size_t)i * c + ch] = mean;
            if (save_invstd) save_invstd[(size_t)i * c + ch] = invstd;
            float scale = gamma ? gamma[ch] * invstd : invstd, shift = beta ? beta[ch] : 0.0f;
            affine(y + o, x + o, plane, mean, scale, shift);
        }
}

void fesf_instancenorm_backward(int n, int c, int hw, const float *x, const float *gamma, const float *save_mean,
                                const float *save_invstd, const float *dy, float *dx, float *dgamma, float *dbeta)
{
    const size_t plane = (size_t)hw;
#pragma omp parallel for schedule(static) if ((size_t)n * c * hw > PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        double dg = 0.0, dbsum = 0.0;
        for (int i = 0; i < n; i++) {
            const size_t o = ((size_t)i * c + ch) * plane;
            const float mean = save_mean[(size_t)i * c + ch], invstd = save_invstd[(size_t)i * c + ch];
            double sdy = 0.0, sdyx = 0.0;
            sums(dy + o, NULL, x + o, plane, mean, &sdy, &sdyx);
            dbsum += sdy;
            dg += sdyx * invstd;
            if (!dx) continue;
            double k = (gamma ? gamma[ch] : 1.0) * invstd;
            float a = (float)(-k * invstd * invstd * sdyx / hw), b = (float)(-k * sdy / hw);
            dx_pass(dx + o, dy + o, NULL, x + o, plane, (float)k, mean, a, b, 0);
        }
        if (dbeta) dbeta[ch] += (float)dbsum;
        if (dgamma) dgamma[ch] += (float)dg;
    }
}

/* ---- the classifier's input normalisation (train.normalise) ---------------- */

void fesf_input_normalise_pooled(int64_t n, int c, size_t hw, const float *ms, float *x)
{
    for (int64_t j = 0; j < n; j++)
        for (int ch = 0; ch < c; ch++) {
            float *p = x + ((size_t)j * (size_t)c + (size_t)ch) * hw;
            for (size_t q = 0; q < hw; q++) p[q] = (p[q] - ms[ch]) / ms[c + ch];
        }
}

void fesf_input_normalise_image(int64_t n, int c, size_t hw, float *x)
{
    for (int64_t j = 0; j < n * c; j++) {
        float *p = x + (size_t)j * hw;
        double m = 0, v = 0;
        for (size_t q = 0; q < hw; q++) m += p[q];
        m /= (double)hw;
        for (size_t q = 0; q < hw; q++) v += (p[q] - m) * (p[q] - m);
        float sd = (float)sqrt(v / (double)hw > 1e-12 ? v / (double)hw : 1e-12), mf = (float)m;
        for (size_t q = 0; q < hw; q++) p[q] = (p[q] - mf) / sd;
    }
}
