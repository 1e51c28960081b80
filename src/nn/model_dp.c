/* DP-SGD's per-example clipped gradients on the model's kernels (see
 * model.h fesf_model_dp_backward). Every example's squared norm is summed
 * over the layers in op order by one thread, so the result does not depend
 * on the thread count; the batch's weight gradients go through the same
 * kernels (and the same fixed chunking) as a non-private backward. */
#include "model_internal.h"

#include "fesf/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* a parameter op, whose weight gradients are per-example */
static int has_params(const op_desc *o) { return o->tw >= 0; }

int fesf_model_dp_alloc(fesf_model *m)
{
    size_t col = 0, par = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const op_desc *o = &m->ops[i];
        if (o->kind == OP_CONV) {
            fesf_conv_shape one = o->conv;
            one.n = 1;
            size_t c = fesf_conv_col_floats(&one);
            col = c > col ? c : col;
        }
        size_t p = fesf_m_len(m, o->tw) + fesf_m_len(m, o->tb);
        par = p > par ? p : par;
    }
#ifdef _OPENMP
    m->dp_slots = omp_get_max_threads();
#else
    m->dp_slots = 1;
#endif
    m->dp_col = col, m->dp_par = par;
    m->dp_scratch = malloc(sizeof(float) * (size_t)m->dp_slots * (col + par) + sizeof(float));
    m->dp_norm2 = malloc(sizeof(double) * (size_t)m->batch);
    if (!m->dp_scratch || !m->dp_norm2) return fesf_error("out of memory for DP-SGD's scratch");
    return 0;
}

static double sum_sq(const float *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return s;
}

/* Squared norm of example i's gradient of op o's parameters. gr: scratch of
 * the op's weight and bias gradients, col: one sample's im2col. */
static double op_norm2(fesf_model *m, const op_desc *o, int i, float *gr, float *col)
{
    const act_desc *a = &m->acts[o->in];
    const size_t xs = fesf_m_per_sample(m, o->in), ys = fesf_m_per_sample(m, o->out);
    const float *x = fesf_m_act(m, o->in) + (size_t)i * xs, *dy = fesf_m_dact(m, o->out) + (size_t)i * ys;
    size_t nw = fesf_m_len(m, o->tw), nb = fesf_m_len(m, o->tb);
    if (o->kind == OP_LINEAR) { /* dW_i = dy_i x_i^T: |dW_i|^2 = |dy_i|^2 |x_i|^2 */
        double d = sum_sq(dy, ys);
        return d * sum_sq(x, xs) + (o->tb >= 0 ? d : 0.0);
    }
    memset(gr, 0, sizeof(float) * (nw + nb));
    if (o->kind == OP_CONV) {
        fesf_conv_shape one = o->conv;
        one.n = 1;
        fesf_conv2d_backward(&one, x, fesf_m_param(m, o->tw), dy, NULL, gr, o->tb >= 0 ? gr + nw : NULL, col);
    } else { /* OP_IN: saved statistics per (sample, channel) */
        const float *mean = m->save + o->save_off, *invstd = mean + (size_t)m->batch * a->c;
        fesf_instancenorm_backward(1, a->c, a->h * a->w, x, fesf_m_param(m, o->tw), mean + (size_t)i * a->c,
                                   invstd + (size_t)i * a->c, dy, NULL, gr, gr + nw);
    }
    return sum_sq(gr, nw + nb);
}

/* m->dp_norm2[i] for the n examples of the last backward's output gradients */
static void example_norms(fesf_model *m, int n)
{
    const size_t slot = m->dp_col + m->dp_par;
#pragma omp parallel for schedule(static) num_threads(m->dp_slots) if (n > 1)
    for (int i = 0; i < n; i++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *gr = m->dp_scratch + (size_t)t * slot, *col = gr + m->dp_par;
        double s = 0.0;
        for (int k = 0; k < m->n_ops; k++)
            if (has_params(&m->ops[k])) s += op_norm2(m, &m->ops[k], i, gr, col);
        m->dp_norm2[i] = s;
    }
}

/* The batch's weight gradients of op o from its output gradient */
static void op_weight_grads(fesf_model *m, op_desc *o, int n)
{
    const act_desc *a = &m->acts[o->in];
    float *x = fesf_m_act(m, o->in), *dy = fesf_m_dact(m, o->out), *w = fesf_m_param(m, o->tw);
    float *gw = fesf_m_grad(m, o->tw), *gb = fesf_m_grad(m, o->tb);
    if (o->kind == OP_CONV) {
        o->conv.n = n;
        fesf_conv2d_backward(&o->conv, x, w, dy, NULL, gw, gb, m->col);
    } else if (o->kind == OP_LINEAR) {
        fesf_linear_backward(n, (int)fesf_m_per_sample(m, o->in), m->acts[o->out].c, x, w, dy, NULL, gw, gb);
    } else {
        const float *mean = m->save + o->save_off, *invstd = mean + (size_t)m->batch * a->c;
        fesf_instancenorm_backward(n, a->c, a->h * a->w, x, w, mean, invstd, dy, NULL, gw, gb);
    }
}

/* dy_i *= f[i] over an activation's n examples */
static void scale_examples(float *dy, size_t per, int n, const double *f)
{
#pragma omp parallel for schedule(static) if ((size_t)n * per > 65536)
    for (int i = 0; i < n; i++) {
        if (f[i] == 1.0) continue;
        float *d = dy + (size_t)i * per, v = (float)f[i];
        for (size_t q = 0; q < per; q++) d[q] *= v;
    }
}

void fesf_model_dp_backward(fesf_model *m, const float *dlogits, int n, float clip, const float *weights, float *norms)
{
    double *factor = m->dp_norm2; /* each norm becomes its clipping factor */
    m->no_wgrad = 1; /* pass 1: every op's output gradient, no weight gradient */
    fesf_model_backward(m, dlogits, n);
    m->no_wgrad = 0;
    example_norms(m, n);
    for (int i = 0; i < n; i++) {
        double g = sqrt(m->dp_norm2[i]);
        factor[i] = (g > clip ? clip / g : 1.0) * (weights ? weights[i] : 1.0f);
        if (norms) norms[i] = (float)g;
    }
    for (int k = 0; k < m->n_ops; k++) { /* pass 2: the clipped sum, layer by layer */
        op_desc *o = &m->ops[k];
        if (!has_params(o)) continue;
        scale_examples(fesf_m_dact(m, o->out), fesf_m_per_sample(m, o->out), n, factor);
        op_weight_grads(m, o, n);
    }
}
