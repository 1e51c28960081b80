/* torch.optim's SGD, Adam and AdamW (PyTorch 1.13, single-tensor path) over
 * one flat float buffer.
 *
 * Arithmetic follows torch for float32 parameters: the per-parameter update
 * is done in float, in torch's order of operations, while the scalars torch
 * computes in Python (1 - beta, bias corrections, lr / bias_correction1,
 * 1 - lr * wd) are computed in double from the config's float fields and
 * rounded to float once, as torch does when it passes a Python float to a
 * float32 kernel. Results agree with torch to a few float ulps (torch's
 * kernels may fuse multiply-adds; plain C here does not). */
#include "fesf/optim.h"

#include <math.h>
#include <string.h>

#include "fesf/config.h"

/* element-wise updates: split over the engine's threads above this many */
#define PAR_MIN 32768

void fesf_optim_defaults(fesf_optim_config *c, int kind, float lr)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->lr = lr;
    c->momentum = 0.0f;
    c->weight_decay = 0.0f; /* note: torch.optim.AdamW defaults to 1e-2 */
    c->nesterov = 0;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->sched = FESF_SCHED_CONSTANT;
    c->step_size = 30;
    c->gamma = 0.1f;
    c->total_steps = 0;
    c->lr_min = 0.0f;
}

int fesf_optim_state_per_param(const fesf_optim_config *c)
{
    switch (c->kind) {
    case FESF_OPT_SGD: return c->momentum != 0.0f ? 1 : 0;
    case FESF_OPT_ADAM:
    case FESF_OPT_ADAMW: return 2;
    default: return 0;
    }
}

/* step:   lr * gamma^floor(t / step_size)          (StepLR)
 * cosine: lr_min + (lr - lr_min) (1 + cos(pi t / total)) / 2 for t < total,
 *         lr_min from t = total on (CosineAnnealingLR restarts instead). */
float fesf_optim_lr(const fesf_optim_config *c, int64_t t)
{
    if (t < 0) t = 0;
    switch (c->sched) {
    case FESF_SCHED_STEP:
        if (c->step_size <= 0) return c->lr;
        return (float)((double)c->lr * pow((double)c->gamma, (double)(t / c->step_size)));
    case FESF_SCHED_COSINE: {
        if (t >= c->total_steps) return c->lr_min;
        double lo = c->lr_min, hi = c->lr;
        return (float)(lo + (hi - lo) * (1.0 + cos(M_PI * (double)t / (double)c->total_steps)) / 2.0);
    }
    case FESF_SCHED_CONSTANT:
    default: return c->lr;
    }
}

static void sgd_step(const fesf_optim_config *c, int64_t t, float lr, size_t n, float *restrict p,
                     const float *restrict g, float *restrict buf)
{
    const float wd = c->weight_decay, mom = c->momentum, neg_lr = -lr;
    const int nesterov = c->nesterov;
    if (mom == 0.0f) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
            p[i] = p[i] + neg_lr * d;
        }
        return;
    }
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        float b;
        if (t == 0) {
            b = d;
        } else {
            b = buf[i] * mom; /* buf.mul_(momentum).add_(d_p): two roundings */
            b = b + d;
        }
        buf[i] = b;
        d = nesterov ? d + mom * b : b;
        p[i] = p[i] + neg_lr * d;
    }
}

static void adam_step(const fesf_optim_config *c, int64_t t, float lr, int decoupled, size_t n,
                      float *restrict p, const float *restrict g, float *restrict m, float *restrict v)
{
    const double b1 = c->beta1, b2 = c->beta2, step = (double)(t + 1);
    const float beta1 = c->beta1, beta2 = c->beta2, eps = c->eps;
    const float one_m_b1 = (float)(1.0 - b1), one_m_b2 = (float)(1.0 - b2);
    const double bc1 = 1.0 - pow(b1, step), bc2 = 1.0 - pow(b2, step);
    const float neg_step_size = (float)-((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float wd = decoupled ? 0.0f : c->weight_decay;
    const float decay = (float)(1.0 - (double)lr * (double)c->weight_decay);
    const int do_decay = decoupled && c->weight_decay != 0.0f;

#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float pi = p[i], gi = g[i];
        if (do_decay) pi = pi * decay;
        if (wd != 0.0f) gi = gi + wd * pi;
        float mi = m[i] * beta1;
        mi = mi + one_m_b1 * gi;
        float vi = v[i] * beta2;
        vi = vi + one_m_b2 * gi * gi; /* addcmul: self + (value * t1) * t2 */
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi + neg_step_size * (mi / denom);
    }
}

void fesf_optim_step(const fesf_optim_config *c, int64_t t, size_t n, float *p, const float *g, float *state)
{
    float lr = fesf_optim_lr(c, t);
    switch (c->kind) {
    case FESF_OPT_SGD: sgd_step(c, t, lr, n, p, g, state); break;
    case FESF_OPT_ADAM: adam_step(c, t, lr, 0, n, p, g, state, state + n); break;
    case FESF_OPT_ADAMW: adam_step(c, t, lr, 1, n, p, g, state, state + n); break;
    default: break;
    }
}

void fesf_optim_prox(size_t n, float *g, const float *p, const float *anchor, float mu)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) g[i] += mu * (p[i] - anchor[i]);
}

void fesf_optim_server_adaptive(size_t n, float *p, const float *avg, float *m, float *v, float lr, float tau,
                                int yogi)
{
    const float b1 = 0.9f, b2 = 0.99f;
    for (size_t q = 0; q < n; q++) {
        float d = p[q] - avg[q], d2 = d * d;
        m[q] = b1 * m[q] + (1 - b1) * d;
        v[q] = yogi ? v[q] - (1 - b2) * d2 * (v[q] > d2 ? 1.0f : v[q] < d2 ? -1.0f : 0.0f) : b2 * v[q] + (1 - b2) * d2;
        p[q] -= lr * m[q] / (sqrtf(v[q]) + tau);
    }
}
