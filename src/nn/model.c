/* Models as fixed op sequences over numbered activations (see model.h). */
#include "model_internal.h"

#include "fesf/error.h"
#include "fesf/layers.h"
#include "fesf/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int alloc_buffers(fesf_model *m)
{
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->buffers = calloc(m->n_buffers ? m->n_buffers : 1, sizeof(float));
    m->act = malloc(sizeof(float) * m->n_act);
    m->dact = malloc(sizeof(float) * m->n_act);
    m->col = malloc(sizeof(float) * (m->n_col ? m->n_col : 1));
    m->save = malloc(sizeof(float) * (m->n_save ? m->n_save : 1));
    m->idx = malloc(sizeof(int32_t) * (m->n_idx ? m->n_idx : 1));
    if (!m->params || !m->grads || !m->buffers || !m->act || !m->dact || !m->col || !m->save || !m->idx)
        return fesf_error("out of memory for a %s model (%.1f MB of activations)", m->arch,
                          (double)m->n_act * 8 / 1e6);
    return 0;
}

int fesf_model_create(fesf_model **out, const char *arch, int width, int c, int h, int w, int classes, int batch)
{
    return fesf_model_create_flags(out, arch, width, c, h, w, classes, batch, 0);
}

/* The model's ops that mix samples (batch norm): none is allowed under DP. */
static int mixes_samples(const fesf_model *m)
{
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN) return 1;
    return 0;
}

/* A ReLU that is the only reader of a batch norm's output runs inside it
 * (fesf_batchnorm_relu_*: the same bits, one pass less each way); the
 * batch norm's own output is then never written. Ops are in order, so
 * last_use == i + 1 means no other reader. */
static void fuse_bn_relu(fesf_model *m)
{
    for (int i = 0; i + 1 < m->n_ops; i++) {
        op_desc *b = &m->ops[i], *r = &m->ops[i + 1];
        if (b->kind == OP_BN && r->kind == OP_RELU && r->in == b->out && m->acts[b->out].last_use == i + 1)
            b->fused = r->fused = 1;
    }
}

int fesf_model_create_flags(fesf_model **out, const char *arch, int width, int c, int h, int w, int classes,
                            int batch, int flags)
{
    return fesf_model_create_vol(out, arch, width, c, 1, h, w, classes, batch, flags);
}

int fesf_model_create_vol(fesf_model **out, const char *arch, int width, int c, int d, int h, int w, int classes,
                          int batch, int flags)
{
    *out = NULL;
    int gan = fesf_model_image_output(arch); /* output size set by the architecture */
    if (width < 1 || c < 1 || d < 1 || h < 1 || w < 1 || (classes < 2 && !gan) || batch < 1)
        return fesf_error("model %s: bad shape (width %d, input %dx%dx%d, %d classes, batch %d)", arch, width, c, h,
                          w, classes, batch);
    fesf_model *m = calloc(1, sizeof *m);
    if (!m) return fesf_error("out of memory");
    m->batch = batch, m->c = c, m->d = d, m->h = h, m->w = w, m->classes = classes, m->flags = flags;
    if (d > 1) /* a volume's input C x D x H x W; images keep the strings their files hold */
        snprintf(m->arch, sizeof m->arch, "%s width=%d input=%dx%dx%dx%d classes=%d", arch, width, c, d, h, w, classes);
    else
        snprintf(m->arch, sizeof m->arch, "%s width=%d input=%dx%dx%d classes=%d", arch, width, c, h, w, classes);
    if (fesf_model_build(m, arch, width)) {
        free(m);
        return -1;
    }
    if (gan) { /* output size per sample, not classes */
        const act_desc *o = &m->acts[m->n_acts - 1];
        m->classes = o->c * o->h * o->w;
        if (d > 1) snprintf(m->arch, sizeof m->arch, "%s width=%d input=%dx%dx%dx%d", arch, width, c, d, h, w);
        else snprintf(m->arch, sizeof m->arch, "%s width=%d input=%dx%dx%d", arch, width, c, h, w);
    }
    if (!gan && (flags & FESF_MODEL_INSTANCE_NORM)) /* another model: its files must not load into batch norm */
        snprintf(m->arch + strlen(m->arch), sizeof m->arch - strlen(m->arch), " norm=instance");
    if (!m->failed && (flags & FESF_MODEL_DP) && m->d > 1) { /* model_dp.c has no per-example 3-D convolution */
        m->failed = 1;
        fesf_error("DP-SGD takes 2-D models: per-example gradients of 3-D convolutions are not built");
    }
    if (!m->failed && (flags & FESF_MODEL_DP) && mixes_samples(m)) {
        m->failed = 1;
        fesf_error("batch norm mixes the examples of a batch: DP-SGD needs instance norm (FESF_MODEL_INSTANCE_NORM)");
    }
    fuse_bn_relu(m);
    if (m->failed || alloc_buffers(m) || ((flags & FESF_MODEL_DP) && fesf_model_dp_alloc(m))) {
        fesf_error("model %s: %s", m->arch, fesf_errmsg());
        fesf_model_destroy(m);
        return -1;
    }
    *out = m;
    return 0;
}

void fesf_model_destroy(fesf_model *m)
{
    if (!m) return;
    free(m->params), free(m->grads), free(m->buffers), free(m->act), free(m->dact);
    free(m->col), free(m->save), free(m->idx), free(m->dp_scratch), free(m->dp_norm2);
    free(m);
}

/* ---- initialisation --------------------------------------------------- */

void fesf_model_init(fesf_model *m, uint64_t seed)
{
    fesf_rng r;
    for (int i = 0; i < m->n_ops; i++) {
        const op_desc *o = &m->ops[i];
        fesf_rng_init(&r, seed, (uint32_t)i, 5 /* FESF_STREAM_INIT */);
        if (o->kind == OP_CONV || o->kind == OP_CONV3D || o->kind == OP_LINEAR) {
            const fesf_tensor_info *tw = &m->tensors[o->tw];
            size_t fan_in = tw->len / (size_t)tw->dims[0];
            float bound = 1.0f / sqrtf((float)fan_in); /* kaiming_uniform(a = sqrt(5)) */
            for (size_t k = 0; k < tw->len; k++)
                m->params[tw->off + k] = (float)((2 * fesf_rng_uniform(&r) - 1) * bound);
            if (o->tb >= 0)
                for (size_t k = 0; k < m->tensors[o->tb].len; k++)
                    m->params[m->tensors[o->tb].off + k] = (float)((2 * fesf_rng_uniform(&r) - 1) * bound);
        } else if (o->kind == OP_IN) {
            const fesf_tensor_info *g = &m->tensors[o->tw];
            for (size_t k = 0; k < g->len; k++) m->params[g->off + k] = 1.0f, m->params[m->tensors[o->tb].off + k] = 0.0f;
        } else if (o->kind == OP_BN) {
            const fesf_tensor_info *g = &m->tensors[o->tw];
            for (size_t k = 0; k < g->len; k++) {
                m->params[g->off + k] = 1.0f;
                m->params[m->tensors[o->tb].off + k] = 0.0f;
                m->buffers[m->tensors[o->trm].off + k] = 0.0f;
                m->buffers[m->tensors[o->trv].off + k] = 1.0f;
            }
        }
    }
}

/* ---- forward / backward ------------------------------------------------ */

static float *A(fesf_model *m, int i) { return fesf_m_act(m, i); }
static float *D(fesf_model *m, int i) { return fesf_m_dact(m, i); }
static size_t per_sample(const fesf_model *m, int i) { return fesf_m_per_sample(m, i); }
static float *P(fesf_model *m, int t) { return fesf_m_param(m, t); }
static float *G(fesf_model *m, int t) { return fesf_m_grad(m, t); }
static float *B(fesf_model *m, int t) { return m->buffers + m->tensors[t].off; }

static void op_forward(fesf_model *m, op_desc *o, int n, int training)
{
    const act_desc *a = &m->acts[o->in];
    int hw = a->h * a->w;
    size_t len = (size_t)n * per_sample(m, o->in);
    switch (o->kind) {
    case OP_CONV:
        o->conv.n = n;
        fesf_conv2d_forward(&o->conv, A(m, o->in), P(m, o->tw), P(m, o->tb), A(m, o->out), m->col);
        break;
    case OP_IN:
        fesf_instancenorm_forward(n, a->c, hw, A(m, o->in), P(m, o->tw), P(m, o->tb), A(m, o->out), m->save + o->save_off,
                                  m->save + o->save_off + (size_t)m->batch * a->c, IN_EPS);
        break;
    case OP_LRELU: fesf_leaky_relu_forward(len, LRELU_SLOPE, A(m, o->in), A(m, o->out)); break;
    case OP_TANH: fesf_tanh_forward(len, A(m, o->in), A(m, o->out)); break;
    case OP_UP: fesf_upsample_forward(n, a->c, a->h, a->w, 2, A(m, o->in), A(m, o->out)); break;
    case OP_BN:
        (o->fused ? fesf_batchnorm_relu_forward : fesf_batchnorm_forward)(
            n, a->c, hw, A(m, o->in), P(m, o->tw), P(m, o->tb), A(m, o->fused ? o[1].out : o->out),
            m->save + o->save_off, m->save + o->save_off + a->c, B(m, o->trm), B(m, o->trv), BN_MOMENTUM, BN_EPS,
            training);
        break;
    case OP_RELU:
        if (!o->fused) fesf_relu_forward(len, A(m, o->in), A(m, o->out));
        break;
    case OP_MAXPOOL:
        o->pool.n = n;
        fesf_maxpool_forward(&o->pool, A(m, o->in), A(m, o->out), m->idx + o->save_off);
        break;
    case OP_CONV3D:
        o->conv3.n = n;
        fesf_conv3d_forward(&o->conv3, A(m, o->in), P(m, o->tw), P(m, o->tb), A(m, o->out), m->col);
        break;
    case OP_UP3D:
        fesf_upsample3d_forward(n, a->c, a->d, a->h / a->d, a->w, A(m, o->in), A(m, o->out));
        break;
    case OP_MAXPOOL3D:
        o->pool3.n = n;
        fesf_maxpool3d_forward(&o->pool3, A(m, o->in), A(m, o->out), m->idx + o->save_off);
        break;
    case OP_GAP: fesf_gap_forward(n, a->c, hw, A(m, o->in), A(m, o->out)); break;
    case OP_LINEAR:
        fesf_linear_forward(n, (int)per_sample(m, o->in), m->acts[o->out].c, A(m, o->in), P(m, o->tw), P(m, o->tb),
                            A(m, o->out));
        break;
    case OP_ADD: fesf_add_forward(len, A(m, o->in), A(m, o->in2), A(m, o->out)); break;
    }
}

const float *fesf_model_forward(fesf_model *m, const float *x, int n, int training)
{
    memcpy(m->act, x, sizeof(float) * (size_t)n * per_sample(m, 0));
    for (int i = 0; i < m->n_ops; i++) op_forward(m, &m->ops[i], n, training);
    return A(m, m->n_acts - 1);
}

/* d = src (memcpy), or d = 0 when src is NULL (memset), over the engine's
 * threads in blocks of 16384 floats */
static void fill_par(float *d, const float *src, size_t len)
{
    const size_t blk = 16384, nb = (len + blk - 1) / blk;
#pragma omp parallel for schedule(static) if (len > 4 * blk)
    for (size_t b = 0; b < nb; b++) {
        size_t n = sizeof(float) * (len - b * blk < blk ? len - b * blk : blk);
        if (src) memcpy(d + b * blk, src + b * blk, n);
        else memset(d + b * blk, 0, n);
    }
}

/* The gradient of activation `a` as op `op` writes it, or NULL (the input
 * needs none). In reverse order its first writer is its last reader: that
 * op overwrites it when its kernel can (*set = 1) and zeroes it first when
 * it cannot; later ones accumulate. */
static float *grad_of(fesf_model *m, int a, int op, int n, int can_set, int *set)
{
    *set = 0;
    if (a == 0 && !m->input_grad) return NULL;
    if (m->acts[a].last_use == op) {
        if (can_set) *set = 1;
        else fill_par(D(m, a), NULL, (size_t)n * per_sample(m, a));
    }
    return D(m, a);
}

static int writes_first(op_kind k)
{
    return k == OP_CONV || k == OP_BN || k == OP_RELU || k == OP_MAXPOOL || k == OP_ADD || k == OP_CONV3D || k == OP_MAXPOOL3D;
}

/* dst = src or dst += src over len floats (an add's gradient) */
static void pass_grad(size_t len, const float *src, float *dst, int set)
{
    if (!dst) return;
    if (set) fill_par(dst, src, len);
    else fesf_add_backward(len, src, dst, NULL);
}

static void op_backward(fesf_model *m, op_desc *o, int i, int n)
{
    if (o->kind == OP_RELU && o->fused) return; /* in the batch norm before it */
    const act_desc *a = &m->acts[o->in];
    int hw = a->h * a->w, set;
    size_t len = (size_t)n * per_sample(m, o->in);
    float *dy = D(m, o->out), *dx = grad_of(m, o->in, i, n, writes_first(o->kind), &set);
    switch (o->kind) {
    case OP_CONV:
        o->conv.n = n;
        (set ? fesf_conv2d_backward_set : fesf_conv2d_backward)(&o->conv, A(m, o->in), P(m, o->tw), dy, dx,
                                                                  G(m, o->tw), G(m, o->tb), m->col);
        break;
    case OP_IN:
        fesf_instancenorm_backward(n, a->c, hw, A(m, o->in), P(m, o->tw), m->save + o->save_off,
                                   m->save + o->save_off + (size_t)m->batch * a->c, dy, dx, G(m, o->tw), G(m, o->tb));
        break;
    case OP_LRELU: fesf_leaky_relu_backward(len, LRELU_SLOPE, A(m, o->in), dy, dx); break;
    case OP_TANH: fesf_tanh_backward(len, A(m, o->out), dy, dx); break;
    case OP_UP: fesf_upsample_backward(n, a->c, a->h, a->w, 2, dy, dx); break;
    case OP_BN: /* fused: the relu's output and gradient */
        fesf_batchnorm_relu_backward(n, a->c, hw, A(m, o->in), o->fused ? A(m, o[1].out) : NULL, P(m, o->tw),
                                     m->save + o->save_off, m->save + o->save_off + a->c,
                                     o->fused ? D(m, o[1].out) : dy, dx, set, G(m, o->tw), G(m, o->tb));
        break;
    case OP_RELU:
        if (dx) (set ? fesf_relu_backward_set : fesf_relu_backward)(len, A(m, o->in), dy, dx);
        break;
    case OP_MAXPOOL:
        o->pool.n = n;
        if (dx) (set ? fesf_maxpool_backward_set : fesf_maxpool_backward)(&o->pool, m->idx + o->save_off, dy, dx);
        break;
    case OP_CONV3D:
        o->conv3.n = n;
        fesf_conv3d_backward(&o->conv3, A(m, o->in), P(m, o->tw), dy, dx, set, G(m, o->tw), G(m, o->tb), m->col);
        break;
    case OP_UP3D: fesf_upsample3d_backward(n, a->c, a->d, a->h / a->d, a->w, dy, dx); break;
    case OP_MAXPOOL3D:
        o->pool3.n = n;
        if (dx) fesf_maxpool3d_backward(&o->pool3, m->idx + o->save_off, dy, dx, set);
        break;
    case OP_GAP: fesf_gap_backward(n, a->c, hw, dy, dx); break;
    case OP_LINEAR:
        fesf_linear_backward(n, (int)per_sample(m, o->in), m->acts[o->out].c, A(m, o->in), P(m, o->tw), dy, dx,
                             G(m, o->tw), G(m, o->tb));
        break;
    case OP_ADD: {
        int set2;
        float *dx2 = grad_of(m, o->in2, i, n, 1, &set2);
        pass_grad(len, dy, dx, set);
        pass_grad(len, dy, dx2, set2);
        break;
    }
    }
}

void fesf_model_backward(fesf_model *m, const float *dlogits, int n)
{
    int last = m->n_acts - 1;
    if (dlogits != D(m, last)) memcpy(D(m, last), dlogits, sizeof(float) * (size_t)n * per_sample(m, last));
    for (int i = m->n_ops - 1; i >= 0; i--) op_backward(m, &m->ops[i], i, n);
}

float *fesf_model_dlogits(fesf_model *m) { return D(m, m->n_acts - 1); }

void fesf_model_set_input_grad(fesf_model *m, int on) { m->input_grad = on; }

const float *fesf_model_input_grad(const fesf_model *m) { return m->input_grad ? m->dact : NULL; }

void fesf_model_zero_grad(fesf_model *m) { fill_par(m->grads, NULL, m->n_params); }

/* ---- accessors ------------------------------------------------------------ */

const char *fesf_model_arch(const fesf_model *m) { return m->arch; }
float *fesf_model_params(fesf_model *m) { return m->params; }
float *fesf_model_grads(fesf_model *m) { return m->grads; }
float *fesf_model_buffers(fesf_model *m) { return m->buffers; }
size_t fesf_model_n_params(const fesf_model *m) { return m->n_params; }
size_t fesf_model_n_buffers(const fesf_model *m) { return m->n_buffers; }
int fesf_model_classes(const fesf_model *m) { return m->classes; }
int fesf_model_batch(const fesf_model *m) { return m->batch; }
int fesf_model_n_tensors(const fesf_model *m) { return m->n_tensors; }
const fesf_tensor_info *fesf_model_tensor(const fesf_model *m, int i) { return &m->tensors[i]; }

const fesf_tensor_list *fesf_model_tensors(const fesf_model *m)
{
    fesf_model *w = (fesf_model *)m; /* the list is a view; loads write through it */
    w->list = (fesf_tensor_list){fesf_model_arch(m), m->n_tensors, m->tensors, w->params, w->buffers};
    return &w->list;
}

size_t fesf_model_bytes(const fesf_model *m)
{
    return sizeof(float) * (2 * m->n_params + m->n_buffers + 2 * m->n_act + m->n_col + m->n_save) +
           sizeof(int32_t) * m->n_idx;
}

double fesf_model_train_flops(const fesf_model *m)
{
    double total = 0.0;
    for (int i = 0; i < m->n_ops; i++) {
        const op_desc *o = &m->ops[i];
        double fwd;
        if (o->kind == OP_CONV)
            fwd = 2.0 * o->conv.cout * o->conv.cin * o->conv.k * o->conv.k * o->conv.ho * o->conv.wo;
        else if (o->kind == OP_CONV3D)
            fwd = 2.0 * o->conv3.cout * o->conv3.cin * o->conv3.k * o->conv3.k * o->conv3.k * o->conv3.do_ * o->conv3.ho *
                  o->conv3.wo;
        else if (o->kind == OP_LINEAR)
            fwd = 2.0 * (double)per_sample(m, o->in) * m->acts[o->out].c;
        else
            continue;
        int dx = o->in != 0 || m->input_grad; /* no gradient of the input unless asked */
        total += fwd * (dx ? 3 : 2);
    }
    return total;
}
