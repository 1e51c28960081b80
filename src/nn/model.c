/* Models as fixed op sequences over numbered activations (see model.h). */
#include "model_internal.h"

#include "fesf/error.h"
#include "fesf/layers.h"
#include "fesf/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building -------------------------------------------------------- */

static int add_tensor(fesf_model *m, const char *layer, const char *name, int buffer, int rank, const int *dims)
{
    if (m->n_tensors == FESF_MODEL_MAX_TENSORS) {
        m->failed = 1;
        fesf_error("model has more than %d tensors", FESF_MODEL_MAX_TENSORS);
        return -1;
    }
    fesf_tensor_info *t = &m->tensors[m->n_tensors];
    snprintf(t->name, sizeof t->name, "%s.%s", layer, name);
    t->buffer = buffer, t->rank = rank, t->len = 1;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i], t->len *= (size_t)dims[i];
    size_t *count = buffer ? &m->n_buffers : &m->n_params;
    t->off = *count;
    *count += t->len;
    return m->n_tensors++;
}

static int new_act(fesf_model *m, int c, int h, int w)
{
    if (m->n_acts == MAX_ACTS) {
        m->failed = 1;
        fesf_error("model has more than %d activations", MAX_ACTS);
        return 0;
    }
    act_desc *a = &m->acts[m->n_acts];
    a->c = c, a->h = h, a->w = w, a->off = m->n_act, a->last_use = -1;
    m->n_act += (size_t)m->batch * (size_t)c * (size_t)h * (size_t)w;
    return m->n_acts++;
}

static op_desc *new_op(fesf_model *m, op_kind kind, int in)
{
    if (m->n_ops == FESF_MODEL_MAX_OPS) {
        m->failed = 1;
        fesf_error("model has more than %d ops", FESF_MODEL_MAX_OPS);
        return NULL;
    }
    op_desc *o = &m->ops[m->n_ops];
    memset(o, 0, sizeof *o);
    o->kind = kind, o->in = in, o->in2 = -1, o->tw = o->tb = o->trm = o->trv = -1;
    m->acts[in].last_use = m->n_ops++;
    return o;
}

static int conv_b(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad, int bias);

static int conv(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad)
{
    return conv_b(m, name, in, cout, k, stride, pad, 0);
}

static int conv_b(fesf_model *m, const char *name, int in, int cout, int k, int stride, int pad, int bias)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_CONV, in);
    if (!o) return 0;
    o->conv = (fesf_conv_shape){m->batch, a->c, a->h, a->w, cout, k, stride, pad, 0, 0};
    if (fesf_conv_shape_init(&o->conv)) {
        m->failed = 1;
        return 0;
    }
    int dims[4] = {cout, a->c, k, k};
    o->tw = add_tensor(m, name, "weight", 0, 4, dims);
    if (bias) o->tb = add_tensor(m, name, "bias", 0, 1, dims);
    size_t col = fesf_conv_col_floats(&o->conv);
    if (col > m->n_col) m->n_col = col;
    return o->out = new_act(m, cout, o->conv.ho, o->conv.wo);
}

static int inorm(fesf_model *m, const char *name, int in);

/* Batch norm, or instance norm under FESF_MODEL_INSTANCE_NORM (same tensor
 * names, no running statistics): per-example normalisation for DP-SGD. */
static int bn(fesf_model *m, const char *name, int in)
{
    if (m->failed) return 0;
    if (m->flags & FESF_MODEL_INSTANCE_NORM) return inorm(m, name, in);
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_BN, in);
    if (!o) return 0;
    int dims[1] = {a->c};
    o->tw = add_tensor(m, name, "weight", 0, 1, dims);
    o->tb = add_tensor(m, name, "bias", 0, 1, dims);
    o->trm = add_tensor(m, name, "running_mean", 1, 1, dims);
    o->trv = add_tensor(m, name, "running_var", 1, 1, dims);
    o->save_off = m->n_save;
    m->n_save += 2 * (size_t)a->c;
    return o->out = new_act(m, a->c, a->h, a->w);
}

static int relu(fesf_model *m, int in)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_RELU, in);
    return o ? (o->out = new_act(m, a->c, a->h, a->w)) : 0;
}

/* Instance norm with affine weight and bias; saved statistics per (n, c). */
static int inorm(fesf_model *m, const char *name, int in)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_IN, in);
    if (!o) return 0;
    int dims[1] = {a->c};
    o->tw = add_tensor(m, name, "weight", 0, 1, dims);
    o->tb = add_tensor(m, name, "bias", 0, 1, dims);
    o->save_off = m->n_save;
    m->n_save += 2 * (size_t)m->batch * (size_t)a->c;
    return o->out = new_act(m, a->c, a->h, a->w);
}

/* Element-wise op of the same shape (leaky ReLU, tanh). */
static int pointwise(fesf_model *m, op_kind kind, int in)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, kind, in);
    return o ? (o->out = new_act(m, a->c, a->h, a->w)) : 0;
}

static int upsample2(fesf_model *m, int in)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_UP, in);
    return o ? (o->out = new_act(m, a->c, 2 * a->h, 2 * a->w)) : 0;
}

static int maxpool(fesf_model *m, int in, int k, int stride)
{
    if (m->failed) return 0;
    const act_desc *a = &m->acts[in];
    op_desc *o = new_op(m, OP_MAXPOOL, in);
    if (!o) return 0;
    o->pool = (fesf_pool_shape){m->batch, a->c, a->h, a->w, k, stride, 0, 0, 0};
    if (fesf_pool_shape_init(&o->pool)) {
        m->failed = 1;
        return 0;
    }
    o->save_off = m->n_idx;
    m->n_idx += (size_t)m->batch * (size_t)a->c * (size_t)o->pool.ho * (size_t)o->pool.wo;
    return o->out = new_act(m, a->c, o->pool.ho, o->pool.wo);
}

static int gap(fesf_model *m, int in)
{
    if (m->failed) return 0;
    op_desc *o = new_op(m, OP_GAP, in);
    return o ? (o->out = new_act(m, m->acts[in].c, 1, 1)) : 0;
}

static int linear(fesf_model *m, const char *name, int in, int out)
{
    if (m->failed) return 0;
    int fan_in = m->acts[in].c * m->acts[in].h * m->acts[in].w;
    op_desc *o = new_op(m, OP_LINEAR, in);
    if (!o) return 0;
    int wd[2] = {out, fan_in}, bd[1] = {out};
    o->tw = add_tensor(m, name, "weight", 0, 2, wd);
    o->tb = add_tensor(m, name, "bias", 0, 1, bd);
    return o->out = new_act(m, out, 1, 1);
}

static int add(fesf_model *m, int a, int b)
{
    if (m->failed) return 0;
    op_desc *o = new_op(m, OP_ADD, a);
    if (!o) return 0;
    o->in2 = b;
    m->acts[b].last_use = m->n_ops - 1;
    return o->out = new_act(m, m->acts[a].c, m->acts[a].h, m->acts[a].w);
}

static void build_cnn_small(fesf_model *m, int w)
{
    int x = 0;
    x = maxpool(m, relu(m, bn(m, "bn1", conv(m, "conv1", x, w, 3, 1, 1))), 2, 2);
    x = maxpool(m, relu(m, bn(m, "bn2", conv(m, "conv2", x, 2 * w, 3, 1, 1))), 2, 2);
    x = relu(m, bn(m, "bn3", conv(m, "conv3", x, 4 * w, 3, 1, 1)));
    linear(m, "fc", gap(m, x), m->classes);
}

/* BasicBlock: conv-bn-relu-conv-bn + shortcut, relu. */
static int basic_block(fesf_model *m, const char *name, int in, int cout, int stride)
{
    char n1[64], n2[64], n3[64], n4[64], s0[64], s1[64];
    snprintf(n1, sizeof n1, "%s.conv1", name), snprintf(n2, sizeof n2, "%s.bn1", name);
    snprintf(n3, sizeof n3, "%s.conv2", name), snprintf(n4, sizeof n4, "%s.bn2", name);
    snprintf(s0, sizeof s0, "%s.shortcut.0", name), snprintf(s1, sizeof s1, "%s.shortcut.1", name);
    int y = relu(m, bn(m, n2, conv(m, n1, in, cout, 3, stride, 1)));
    y = bn(m, n4, conv(m, n3, y, cout, 3, 1, 1));
    int sc = in;
    if (stride != 1 || m->acts[in].c != cout) sc = bn(m, s1, conv(m, s0, in, cout, 1, stride, 0));
    return relu(m, add(m, y, sc));
}

static void build_resnet18(fesf_model *m, int w)
{
    int x = relu(m, bn(m, "bn1", conv(m, "conv1", 0, w, 3, 1, 1)));
    for (int l = 0; l < 4; l++)
        for (int b = 0; b < 2; b++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", l + 1, b);
            x = basic_block(m, name, x, w << l, l > 0 && b == 0 ? 2 : 1);
        }
    linear(m, "fc", gap(m, x), m->classes);
}

/* IQEM generator: G(s) = s + g(s), g an encoder (3x3 conv, stride-2 conv),
 * two residual blocks and a decoder (nearest upsampling, 3x3 conv), instance
 * norm and ReLU, tanh output. Needs even H and W. */
static void build_iqem_g(fesf_model *m, int w)
{
    int c = m->acts[0].c;
    int x = relu(m, inorm(m, "enc1.norm", conv_b(m, "enc1.conv", 0, w, 3, 1, 1, 1)));
    x = relu(m, inorm(m, "enc2.norm", conv_b(m, "enc2.conv", x, 2 * w, 3, 2, 1, 1)));
    for (int b = 0; b < 2; b++) {
        char n1[32], n2[32], n3[32], n4[32];
        snprintf(n1, sizeof n1, "res%d.conv1", b), snprintf(n2, sizeof n2, "res%d.norm1", b);
        snprintf(n3, sizeof n3, "res%d.conv2", b), snprintf(n4, sizeof n4, "res%d.norm2", b);
        int y = relu(m, inorm(m, n2, conv_b(m, n1, x, 2 * w, 3, 1, 1, 1)));
        x = add(m, x, inorm(m, n4, conv_b(m, n3, y, 2 * w, 3, 1, 1, 1)));
    }
    x = relu(m, inorm(m, "dec.norm", conv_b(m, "dec.conv", upsample2(m, x), w, 3, 1, 1, 1)));
    x = pointwise(m, OP_TANH, conv_b(m, "out.conv", x, c, 3, 1, 1, 1));
    add(m, 0, x);
}

/* IQEM discriminator (PatchGAN): two stride-2 3x3 convs with leaky ReLU
 * (instance norm on the second), a 3x3 conv to one logit per patch. */
static void build_iqem_d(fesf_model *m, int w)
{
    int x = pointwise(m, OP_LRELU, conv_b(m, "c1", 0, w, 3, 2, 1, 1));
    x = pointwise(m, OP_LRELU, inorm(m, "n2", conv_b(m, "c2", x, 2 * w, 3, 2, 1, 1)));
    conv_b(m, "out", x, 1, 3, 1, 1, 1);
}

/* Inversion attacker of the privacy audit: seven 3x3 conv-BN-ReLU layers of
 * w channels, then a 3x3 conv with bias back to the input's channels. */
static void build_attack_cnn(fesf_model *m, int w)
{
    int x = 0;
    for (int l = 1; l <= 7; l++) {
        char cn[16], bn_name[16];
        snprintf(cn, sizeof cn, "conv%d", l), snprintf(bn_name, sizeof bn_name, "bn%d", l);
        x = relu(m, bn(m, bn_name, conv(m, cn, x, w, 3, 1, 1)));
    }
    conv_b(m, "out", x, m->acts[0].c, 3, 1, 1, 1);
}

/* Architectures whose output is an image or a map, not class logits. */
static int image_output(const char *arch) { return !strncmp(arch, "iqem-", 5) || !strcmp(arch, "attack-cnn"); }

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
    *out = NULL;
    int gan = image_output(arch); /* output size set by the architecture */
    if (width < 1 || c < 1 || h < 1 || w < 1 || (classes < 2 && !gan) || batch < 1)
        return fesf_error("model %s: bad shape (width %d, input %dx%dx%d, %d classes, batch %d)", arch, width, c, h,
                          w, classes, batch);
    fesf_model *m = calloc(1, sizeof *m);
    if (!m) return fesf_error("out of memory");
    m->batch = batch, m->c = c, m->h = h, m->w = w, m->classes = classes, m->flags = flags;
    snprintf(m->arch, sizeof m->arch, "%s width=%d input=%dx%dx%d classes=%d", arch, width, c, h, w, classes);
    new_act(m, c, h, w); /* activation 0: the input */
    if (!strcmp(arch, "cnn-small")) build_cnn_small(m, width);
    else if (!strcmp(arch, "resnet18")) build_resnet18(m, width);
    else if (!strcmp(arch, "iqem-g") && h % 2 == 0 && w % 2 == 0) build_iqem_g(m, width);
    else if (!strcmp(arch, "iqem-d")) build_iqem_d(m, width);
    else if (!strcmp(arch, "attack-cnn")) build_attack_cnn(m, width);
    else if (!strcmp(arch, "iqem-g")) {
        free(m);
        return fesf_error("model iqem-g needs even image sizes, not %dx%d", h, w);
    } else {
        free(m);
        return fesf_error("unknown model.arch '%s' (cnn-small | resnet18)", arch);
    }
    if (gan) { /* output size per sample, not classes */
        const act_desc *o = &m->acts[m->n_acts - 1];
        m->classes = o->c * o->h * o->w;
        snprintf(m->arch, sizeof m->arch, "%s width=%d input=%dx%dx%d", arch, width, c, h, w);
    }
    if (!gan && (flags & FESF_MODEL_INSTANCE_NORM)) /* another model: its files must not load into batch norm */
        snprintf(m->arch + strlen(m->arch), sizeof m->arch - strlen(m->arch), " norm=instance");
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
        if (o->kind == OP_CONV || o->kind == OP_LINEAR) {
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

static int writes_first(op_kind k) { return k == OP_CONV || k == OP_BN || k == OP_RELU || k == OP_MAXPOOL || k == OP_ADD; }

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
        else if (o->kind == OP_LINEAR)
            fwd = 2.0 * (double)per_sample(m, o->in) * m->acts[o->out].c;
        else
            continue;
        int dx = o->in != 0 || m->input_grad; /* no gradient of the input unless asked */
        total += fwd * (dx ? 3 : 2);
    }
    return total;
}
